// `make bench` (durability): ingest throughput with fsync=always at batches of 1, 100 and 1000
// points, and with 8 concurrent batch-1 writers to one collection (the writer queue shares
// fsyncs), as a ratio to fsync every second in the same run; restart time and log replay
// throughput for --points (1M) x 128-d flat and --hnsw-points (200k) hnsw; and the write latency
// while checkpoints of a --stall-points (1M) x 128-d flat collection run, against the same writes
// without them, both to that collection and to another one of the store.
//
// Usage: vecmesh_durability_bench [--points N] [--hnsw-points N] [--stall-points N] [--dir PATH]
//                                 [--stall-only]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/store/local_store.h"
#include "tests/support/synthetic.h"

using namespace vecmesh;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr size_t kDim = 128;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::unique_ptr<engine::LocalStore> Open(const std::string& dir, uint32_t sync_interval_ms = 0) {
  engine::LocalStoreOptions options;
  options.data_dir = dir;
  options.wal_sync_interval_ms = sync_interval_ms;
  options.checkpoint_bytes = uint64_t{1} << 40;  // only the shutdown checkpoint
  auto store = engine::LocalStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*store);
}

// Points per second writing `n` points of `data` in batches of `batch`.
double Ingest(engine::LocalStore& store, const testing::Dataset& data, size_t n, size_t batch) {
  auto t = Clock::now();
  for (size_t begin = 0; begin < n; begin += batch) {
    if (!store.Upsert({}, "c", testing::MakePoints(data, begin, std::min(n, begin + batch))).ok()) {
      std::exit(2);
    }
  }
  return n / Since(t);
}

// Points per second with `writers` threads each writing `n` / `writers` points of `data` one
// per call, all to one collection: thread t writes the points t, t + writers, ...
double IngestConcurrently(engine::LocalStore& store, const testing::Dataset& data, size_t n,
                          size_t writers) {
  auto t = Clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = w; i < n; i += writers) {
        if (!store.Upsert({}, "c", testing::MakePoints(data, i, i + 1)).ok()) std::exit(2);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return n / Since(t);
}

void Restart(const std::string& dir, const testing::Dataset& data, engine::IndexType type) {
  const std::string name(engine::IndexTypeName(type));
  const size_t n = data.num_base();
  fs::remove_all(dir);
  const std::string log_only = dir + "-log-only";
  fs::remove_all(log_only);
  {
    auto store = Open(dir);
    engine::IndexConfig index;
    index.type = type;
    (void)store->CreateCollection({}, {"c", kDim, engine::Metric::kL2, index});
    double rate = Ingest(*store, data, n, 1000);
    std::printf("%-5s %8zu points ingested at %.0f points/s (batch 1000, fsync=always)\n",
                name.c_str(), n, rate);
    fs::copy(dir, log_only, fs::copy_options::recursive);  // as a crash would leave it
    if (type != engine::IndexType::kFlat) {
      auto t = Clock::now();
      testing::WaitUntilIndexed(*store, "c", 3600);
      std::printf("%-5s index built in %.1f s; the shutdown checkpoint saves it\n", name.c_str(),
                  Since(t));
    }
  }
  auto t = Clock::now();
  auto replayed = Open(log_only);
  const double replay_s = Since(t);
  std::printf("%-5s restart from the log alone:  %6.2f s (%.0f points/s, %llu records)\n",
              name.c_str(), replay_s, n / replay_s,
              static_cast<unsigned long long>(replayed->recovery().records));
  replayed.reset();
  t = Clock::now();
  auto loaded = Open(dir);
  const double load_s = Since(t);
  testing::WaitUntilIndexed(*loaded, "c", 3600);
  std::printf(
      "%-5s restart from a checkpoint:   %6.2f s (%.0f points/s); index ready after "
      "%.1f s\n",
      name.c_str(), load_s, n / load_s, Since(t));
  loaded.reset();
  fs::remove_all(dir);
  fs::remove_all(log_only);
}

// Write latencies in seconds, sorted: `rate` batch-1 upserts a second to `collection` for
// `seconds`, scheduled at fixed times (open loop), each timed from its scheduled start, so that
// writes held up behind a stall all count its wait (not only the one that was in flight). Point
// ids start at `first_id`. With `checkpoints`, the store takes checkpoints back to back
// meanwhile (at least one, awaited before it returns).
std::vector<double> TimedWrites(engine::LocalStore& store, const std::string& collection,
                                const testing::Dataset& data, uint64_t first_id, double rate,
                                double seconds, bool checkpoints, size_t* checkpoints_taken) {
  std::atomic<bool> writing{true};
  std::thread checkpointer;
  std::atomic<size_t> taken{0};
  if (checkpoints) {
    checkpointer = std::thread([&] {
      do {
        if (!store.Checkpoint().ok()) std::exit(3);
        ++taken;
      } while (writing);
    });
  }
  const size_t n = static_cast<size_t>(rate * seconds);
  std::vector<double> latencies;
  latencies.reserve(n);
  const auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    const auto scheduled = start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(i / rate));
    std::this_thread::sleep_until(scheduled);
    engine::Point p{
        first_id + i, {data.Base(i % data.num_base()), data.Base(i % data.num_base()) + kDim}, {}};
    if (!store.Upsert({}, collection, {std::move(p)}).ok()) std::exit(2);
    latencies.push_back(std::chrono::duration<double>(Clock::now() - scheduled).count());
  }
  writing = false;
  if (checkpointer.joinable()) checkpointer.join();
  if (checkpoints_taken) *checkpoints_taken = taken;
  std::sort(latencies.begin(), latencies.end());
  return latencies;
}

double Percentile(const std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

// Issue 16, item 2: a checkpoint must not stall the store's writers. A `points` x 128-d flat
// collection "big" and a small one, "other", fsync every second; batch-1 writes to each without
// and with checkpoints running, side by side.
void CheckpointStall(const std::string& dir, size_t points) {
  fs::remove_all(dir);
  auto store = Open(dir, 1000);
  (void)store->CreateCollection({}, {"c", kDim, engine::Metric::kL2, {}});
  (void)store->CreateCollection({}, {"other", kDim, engine::Metric::kL2, {}});
  {
    const auto data = testing::MakeClustered(points, 1, kDim, 1000, 8);
    const double rate = Ingest(*store, data, points, 1000);
    std::printf(
        "checkpoint stall: %zu points loaded into 'c' at %.0f points/s (batch 1000, "
        "fsync every 1 s)\n",
        points, rate);
  }
  const auto writes = testing::MakeClustered(10'000, 1, kDim, 100, 9);
  constexpr double kRate = 1000, kBaseSeconds = 8, kCheckpointSeconds = 8;
  std::printf("%-42s %8s %8s %8s %6s %s\n", "batch-1 writes (1000/s, fsync every 1 s) to", "p50 us",
              "p99 us", "max ms", "ckpts", "p99 ratio (target <= 3x)");
  uint64_t next_id = points;
  for (const char* target : {"other", "c"}) {
    const auto without =
        TimedWrites(*store, target, writes, next_id, kRate, kBaseSeconds, false, nullptr);
    next_id += without.size();
    size_t taken = 0;
    const auto with =
        TimedWrites(*store, target, writes, next_id, kRate, kCheckpointSeconds, true, &taken);
    next_id += with.size();
    const double ratio = Percentile(with, 0.99) / Percentile(without, 0.99);
    const std::string label =
        std::string("'") + target + "'" +
        (std::string(target) == "c" ? " (being checkpointed)" : " (another collection)");
    std::printf("%-42s %8.0f %8.0f %8.2f\n", (label + ", no checkpoint").c_str(),
                Percentile(without, 0.5) * 1e6, Percentile(without, 0.99) * 1e6,
                without.back() * 1e3);
    std::printf("%-42s %8.0f %8.0f %8.2f %6zu %.2fx %s\n", (label + ", checkpoints").c_str(),
                Percentile(with, 0.5) * 1e6, Percentile(with, 0.99) * 1e6, with.back() * 1e3, taken,
                ratio, ratio <= 3 ? "MET" : "MISSED");
  }
  store.reset();
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t points = 1'000'000, hnsw_points = 200'000, stall_points = 1'000'000;
  std::string dir = "build/bench-data";
  bool stall_only = false;
  for (int i = 1; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--stall-only")) {
      stall_only = true;
      --i;  // takes no value
    } else if (i + 1 == argc) {
      std::fprintf(stderr, "option %s needs a value\n", argv[i]);
      return 2;
    } else if (!std::strcmp(argv[i], "--points")) {
      points = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--hnsw-points")) {
      hnsw_points = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--stall-points")) {
      stall_points = std::stoul(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--dir")) {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::printf("durability bench: %zu-d points, data in %s\n\n", kDim, dir.c_str());
  if (stall_only) {
    CheckpointStall(dir, stall_points);
    return 0;
  }
  const auto ingest_data = testing::MakeClustered(50'000, 1, kDim, 100, 3);
  std::printf("%-7s %8s %16s %20s %8s\n", "batch", "points", "fsync=always p/s",
              "fsync every 1 s p/s", "ratio");
  for (size_t batch : {1, 100, 1000}) {
    const size_t n = batch == 1 ? 2'000 : 50'000;
    double rate[2];
    for (int mode = 0; mode < 2; ++mode) {
      fs::remove_all(dir);
      auto store = Open(dir, mode == 0 ? 0 : 1000);
      (void)store->CreateCollection({}, {"c", kDim, engine::Metric::kL2, {}});
      rate[mode] = Ingest(*store, ingest_data, n, batch);
    }
    std::printf("%-7zu %8zu %16.0f %20.0f %7.2fx\n", batch, n, rate[0], rate[1], rate[0] / rate[1]);
  }
  {
    constexpr size_t kWriters = 8, n = 16'000;
    double rate[2];
    for (int mode = 0; mode < 2; ++mode) {
      fs::remove_all(dir);
      auto store = Open(dir, mode == 0 ? 0 : 1000);
      (void)store->CreateCollection({}, {"c", kDim, engine::Metric::kL2, {}});
      rate[mode] = IngestConcurrently(*store, ingest_data, n, kWriters);
    }
    const double ratio = rate[0] / rate[1];
    std::printf("%zu x 1   %8zu %16.0f %20.0f %7.2fx  (8 writers of batch 1; target >= 0.5x: %s)\n",
                kWriters, n, rate[0], rate[1], ratio, ratio >= 0.5 ? "MET" : "MISSED");
  }
  fs::remove_all(dir);
  std::printf("\n");
  Restart(dir, testing::MakeClustered(points, 1, kDim, 1000, 5), engine::IndexType::kFlat);
  Restart(dir, testing::MakeClustered(hnsw_points, 1, kDim, 1000, 6), engine::IndexType::kHnsw);
  std::printf("\n");
  CheckpointStall(dir, stall_points);
  return 0;
}
