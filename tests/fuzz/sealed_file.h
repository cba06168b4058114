// For the fuzzers of the on-disk readers: the fuzz input as a file that nobody can change (a
// memfd sealed against writes and size changes, read through /proc/self/fd: no disk, and a write
// through any path fails), and a check that it still holds exactly the input afterwards.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace vecmesh::fuzz {

// A failed check of a fuzzer: a finding.
[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzzer check failed: %s\n", what);
  std::abort();
}

class SealedFile {
 public:
  explicit SealedFile(std::string_view bytes) : bytes_(bytes) {
    fd_ = ::memfd_create("vecmesh-fuzz-input", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd_ < 0) Fail("memfd_create");
    if (::pwrite(fd_, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()) ||
        ::fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
      Fail("writing the file");
    }
  }
  ~SealedFile() { ::close(fd_); }
  SealedFile(const SealedFile&) = delete;
  SealedFile& operator=(const SealedFile&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

  // Fails unless the file still holds exactly the bytes it was made with.
  void CheckUnchanged() const {
    std::string now(bytes_.size(), '\0');
    if (::pread(fd_, now.data(), now.size(), 0) != static_cast<ssize_t>(now.size())) {
      Fail("reading the file back");
    }
    if (now != bytes_) Fail("the file changed");
  }

 private:
  std::string_view bytes_;
  int fd_ = -1;
};

}  // namespace vecmesh::fuzz
