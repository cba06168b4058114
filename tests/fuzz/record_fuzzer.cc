// libFuzzer target: a log record as recovery and snapshot restore decode it (DecodeWriteOp), on
// arbitrary bytes. A record that decodes must survive a round trip: encoded again, it decodes to
// the same operation, and encoding that gives the same bytes (a version 1 create record comes
// back as kind 8, so the bytes are compared from the first re-encoding on).
// Built with clang's -fsanitize=fuzzer,address,undefined (make test runs it for a bounded time);
// any crash, leak, sanitizer report, uncaught exception or failed round trip is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "engine/storage/write_ops.h"

using namespace vecmesh::engine;

namespace {

[[noreturn]] void Fail(const char* what, const std::string& collection) {
  std::fprintf(stderr, "record round trip failed (collection '%s'): %s\n", collection.c_str(),
               what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  std::string collection;
  WriteOp op;
  std::optional<JobTag> job;
  if (!DecodeWriteOp(record, &collection, &op, &job).ok()) return 0;

  const std::string encoded = EncodeWriteOp(collection, op, job ? &*job : nullptr);
  std::string collection_again;
  WriteOp again;
  std::optional<JobTag> job_again;
  if (!DecodeWriteOp(encoded, &collection_again, &again, &job_again).ok()) {
    Fail("the re-encoded record does not decode", collection);
  }
  if (collection_again != collection) Fail("the collection changed", collection);
  if (job_again != job) Fail("the job changed", collection);
  if (again.index() != op.index()) Fail("the kind changed", collection);
  // Payloads and vectors are compared through their encoding: bytes for floats, so that NaNs
  // compare, and JSON text for payloads.
  if (EncodeWriteOp(collection_again, again, job_again ? &*job_again : nullptr) != encoded) {
    Fail("the encoding changed", collection);
  }
  if (const auto* create = std::get_if<CreateCollectionOp>(&op);
      create && std::get<CreateCollectionOp>(again).config != create->config) {
    Fail("the configuration changed", collection);
  }
  return 0;
}
