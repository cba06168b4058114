// BlockingWatch: follows one read of the Consul agent with blocking queries (Consul's "Blocking
// Queries"), and hands each new answer to a callback, on the watch's own thread.
//
// - The first read answers at once; each later one waits, up to `wait`, for the agent's index to
//   pass the last one seen. An answer whose index did not change is not handed on.
// - The index is kept as Consul asks: reset to 0 when it goes backwards (a restarted agent, a
//   snapshot restored) and never 0 or less once an answer came (1 instead), so that no query
//   spins; consecutive reads are at least min_interval apart.
// - A failure (the agent unreachable, a refusal) is retried with backoff (from 500 ms, doubling,
//   at most 30 s); nothing is handed on meanwhile, so the callback's last answer stays in force.
//
// Thread safety: every method is safe for concurrent calls; Start and Stop once each. The
// callback runs on the watch's thread, one answer at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "adapters/consul/consul_client.h"
#include "engine/logger.h"

namespace vecmesh::adapters {

struct BlockingWatchOptions {
  std::string target;  // the read: "/v1/kv/PREFIX?recurse", "/v1/health/service/NAME?passing"
  // Each read waits this long at most: also how long Stop may wait for the read in flight.
  std::chrono::milliseconds wait{5'000};
  std::chrono::milliseconds min_interval{50};
  std::chrono::milliseconds call_margin{2'000};  // a read's deadline: wait + wait/16 + this
  engine::Logger logger;
};

class BlockingWatch {
 public:
  using Changed = std::function<void(const BlockingAnswer& answer)>;

  BlockingWatch(std::shared_ptr<ConsulClient> consul, BlockingWatchOptions options,
                Changed changed);
  ~BlockingWatch();  // Stop

  void Start();
  // Asks the watch to stop, without waiting: several watches stop side by side.
  void RequestStop();
  // RequestStop, then waits for the read in flight (within wait + wait/16 + call_margin).
  void Stop();

  struct Stats {
    uint64_t index = 0;     // of the last answer handed on
    uint64_t answers = 0;   // handed on
    uint64_t failures = 0;  // reads that failed
    std::string error;      // of the last read; "" when it succeeded
  };
  Stats stats() const;

 private:
  void Run();

  const std::shared_ptr<ConsulClient> consul_;
  const BlockingWatchOptions options_;
  const Changed changed_;

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace vecmesh::adapters
