// libFuzzer target: a log file on arbitrary bytes, read with ReadWal, the read-only reader of
// state files (checkpoints, snapshots). It must never crash, never change the file, and report
// what the file holds: the records it replays, framed again behind the file's header, are the
// file's first valid_bytes, and what it did not read is cut_bytes, named in note.
// The file is a SealedFile (sealed_file.h). Built with clang's
// -fsanitize=fuzzer,address,undefined (make test runs it for a bounded time); any crash, leak,
// sanitizer report, uncaught exception or failed check is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/storage/wal.h"
#include "tests/fuzz/sealed_file.h"

using namespace vecmesh::engine;
using vecmesh::fuzz::Fail;
using vecmesh::fuzz::SealedFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const SealedFile sealed(file);

  std::vector<std::string> records;
  auto read = ReadWal(sealed.path(), [&](std::string_view r) {
    records.emplace_back(r);
    return Status::Ok();
  });
  sealed.CheckUnchanged();
  if (!read.ok()) return 0;  // not a log, or corrupt inside: refused, and that is all

  if (read->records != records.size()) Fail("records counts what was replayed");
  if (read->valid_bytes + read->cut_bytes != size) Fail("valid_bytes + cut_bytes is the size");
  if (read->note.empty() != (read->cut_bytes == 0)) Fail("note names a cut, and only a cut");
  std::string framed;
  if (read->valid_bytes > 0) framed = std::string(file.substr(0, kWalHeaderBytes));
  for (const std::string& r : records) framed += FrameWalRecord(r);
  if (framed != file.substr(0, read->valid_bytes)) Fail("the records are the valid bytes");
  return 0;
}
