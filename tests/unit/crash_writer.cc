// The crash test's writer: crash_writer DATA_DIR JOURNAL EPOCH. Two threads, each owning the
// ids of its parity, upsert (a new version) or delete at random in collection "c", appending
// "T id version kind" to the journal before each call and "A id version kind" after its
// acknowledgement. Runs until killed.
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "engine/store/local_store.h"
#include "tests/unit/crash_protocol.h"

using namespace vecmesh;
using namespace vecmesh::engine;

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const uint64_t epoch = std::stoull(argv[3]);
  LocalStoreOptions options;
  options.data_dir = argv[1];
  auto store = LocalStore::Open(options);
  if (!store.ok()) return 3;
  IndexConfig ivf;  // trains while the writers go, so index work is part of what gets killed
  ivf.type = IndexType::kIvfFlat;
  ivf.nlist = 4;
  ivf.nprobe = 2;
  if (!(*store)->CreateCollection({}, {"c", testing::kCrashDim, Metric::kL2, ivf}).ok()) return 4;
  const int fd = ::open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 5;
  auto note = [fd](const std::string& line) {
    // One write per line: whole lines, and the kernel keeps them through a SIGKILL.
    if (::write(fd, line.data(), line.size()) != ssize_t(line.size())) _exit(6);
  };
  std::vector<std::thread> writers;
  for (uint64_t w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(epoch * 2 + w);
      for (uint64_t version = epoch * 1'000'000 + 1;; ++version) {
        const uint64_t id = (rng() % (testing::kCrashIds / 2)) * 2 + w;
        const bool del = rng() % 4 == 0;
        const std::string op =
            std::to_string(id) + " " + std::to_string(version) + (del ? " D\n" : " U\n");
        note("T " + op);
        Status s =
            del ? (*store)->Delete({}, "c", {id}).status()
                : (*store)
                      ->Upsert({}, "c",
                               {{id, testing::CrashVector(id, version), {{"version", version}}}})
                      .status();
        if (!s.ok()) _exit(7);
        note("A " + op);
      }
    });
  }
  for (auto& t : writers) t.join();
  return 0;
}
