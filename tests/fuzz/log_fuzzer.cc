// libFuzzer target: a log file on arbitrary bytes, read with ReadWal, the read-only reader of
// state files (checkpoints, snapshots). It must never crash, never change the file, and report
// what the file holds: the records it replays, framed again behind the file's header, are the
// file's first valid_bytes, and what it did not read is cut_bytes, named in note.
// The file is a memfd, sealed against writes and size changes, read through /proc/self/fd: no
// disk, and a write through any path would fail. Built with clang's
// -fsanitize=fuzzer,address,undefined (make test runs it for a bounded time); any crash, leak,
// sanitizer report, uncaught exception or failed check is a finding.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/storage/wal.h"

using namespace vecmesh::engine;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "log reader check failed: %s\n", what);
  std::abort();
}

// The file's bytes now.
std::string Contents(int fd, size_t size) {
  std::string bytes(size, '\0');
  if (::pread(fd, bytes.data(), size, 0) != static_cast<ssize_t>(size)) Fail("reading back");
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const int fd = ::memfd_create("vecmesh-log-fuzzer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) Fail("memfd_create");
  if (::pwrite(fd, file.data(), size, 0) != static_cast<ssize_t>(size) ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    Fail("writing the file");
  }

  std::vector<std::string> records;
  auto read = ReadWal("/proc/self/fd/" + std::to_string(fd), [&](std::string_view r) {
    records.emplace_back(r);
    return Status::Ok();
  });
  if (Contents(fd, size) != file) Fail("the file changed");
  ::close(fd);
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
