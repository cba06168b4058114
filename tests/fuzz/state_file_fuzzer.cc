// libFuzzer target: a state file (a checkpoint, or a snapshot to restore) on arbitrary bytes,
// read with ReadStateFile as recovery and restores read one, and each record it returns decoded
// with DecodeWriteOp. It must never crash and never change the file; a file it accepts must be
// exactly what it reports: the file's header, the records in order, and last the end record that
// counts them, nothing missing and nothing after. A record that decodes must encode again to one
// that decodes.
// The file is a SealedFile (sealed_file.h). Built with clang's
// -fsanitize=fuzzer,address,undefined (make test runs it for a bounded time); any crash, leak,
// sanitizer report, uncaught exception or failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/storage/state_file.h"
#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"
#include "tests/fuzz/sealed_file.h"

using namespace vecmesh::engine;
using vecmesh::fuzz::Fail;
using vecmesh::fuzz::SealedFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const SealedFile sealed(file);

  auto records = ReadStateFile(sealed.path());
  sealed.CheckUnchanged();
  if (!records.ok()) return 0;  // not a whole state file: refused, and that is all

  std::string framed(file.substr(0, kWalHeaderBytes));
  for (const std::string& r : *records) framed += FrameWalRecord(r);
  const uint64_t count = records->size();
  std::string end(1, '\xFF');
  for (int i = 0; i < 8; ++i) end.push_back(static_cast<char>(count >> (8 * i)));
  framed += FrameWalRecord(end);
  if (framed != file) Fail("the records and the end record counting them are the whole file");

  for (const std::string& r : *records) {
    std::string collection;
    WriteOp op;
    if (!DecodeWriteOp(r, &collection, &op).ok()) continue;  // refused by whoever replays it
    std::string again_collection;
    WriteOp again;
    if (!DecodeWriteOp(EncodeWriteOp(collection, op), &again_collection, &again).ok() ||
        again_collection != collection || again.index() != op.index()) {
      Fail("a decoded record does not round-trip");
    }
  }
  return 0;
}
