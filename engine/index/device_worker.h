// The owner thread of one accelerator device. GPU indexes are not safe for concurrent use, so
// every operation on the indexes of a device runs on its worker, one at a time, in the order it
// was submitted. Searches that wait together for the same index, k and parameters are coalesced:
// the worker runs them as one batch (one GEMM instead of many), which is what makes a GPU pay off
// for the many small searches of concurrent clients.
//
// The worker knows nothing of CUDA: callers hand it functions. It is built in every build, so its
// ordering and coalescing are tested on machines without a GPU.
//
// Thread safety: every member may be called from any number of threads at once, except from
// the functions the worker runs (they would wait for themselves).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/logger.h"
#include "engine/status.h"

namespace vecmesh::engine {

class DeviceWorker {
 public:
  // Searches one batch: nq queries (nq * dim floats) into distances and labels (nq * k each).
  using BatchSearch =
      std::function<Status(size_t nq, const float* queries, float* distances, int64_t* labels)>;

  // Which searches may share a batch: the same index (its address) with the same k and
  // parameter. Their BatchSearch functions must then be interchangeable.
  struct SearchKey {
    const void* index = nullptr;
    size_t k = 0;
    int param = 0;
    bool operator==(const SearchKey&) const = default;
  };

  // A batch takes at most max_batch_queries queries (one caller's larger search runs alone).
  explicit DeviceWorker(size_t max_batch_queries = 4096);
  // Finishes everything submitted, then stops the thread.
  ~DeviceWorker();
  DeviceWorker(const DeviceWorker&) = delete;
  DeviceWorker& operator=(const DeviceWorker&) = delete;

  // Runs `op` on the worker after everything submitted before it, and returns its status.
  Status Run(const std::function<Status()>& op);

  // Runs `op` on the worker after everything submitted before it, without waiting for it: what
  // is submitted later sees its effects. `op` reports its own failures; an exception escaping it
  // goes to `logger`, the poster's (a worker serves every store in the process, so it has no
  // logger of its own).
  void Post(std::function<void()> op, Logger logger);

  // nq queries of `dim` floats; waits until they are answered. Runs `search` once for this
  // caller's queries together with those of every other caller waiting with the same key,
  // up to the next operation submitted after them (a search never moves ahead of a Run or Post
  // submitted before it). Every caller of a batch gets the batch's status.
  Status Search(const SearchKey& key, size_t dim, size_t nq, const float* queries,
                const BatchSearch& search, float* distances, int64_t* labels);

  // Batches run and queries answered so far, and the jobs waiting now (for tests and metrics).
  uint64_t batches() const;
  uint64_t queries() const;
  size_t waiting() const;

 private:
  struct Job;
  void Loop();
  void RunSearches(Job* first, std::unique_lock<std::mutex>& lock);

  const size_t max_batch_queries_;
  mutable std::mutex mu_;         // guards queue_, stopping_ and the counters
  std::condition_variable wake_;  // the worker: a job arrived, or stopping_
  std::condition_variable done_;  // callers: some job finished
  std::deque<Job*> queue_;        // on their callers' stacks until done; posted ones on the heap
  bool stopping_ = false;
  uint64_t batches_ = 0;
  uint64_t queries_ = 0;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace vecmesh::engine
