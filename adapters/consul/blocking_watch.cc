#include "adapters/consul/blocking_watch.h"

#include <algorithm>
#include <optional>

namespace vecmesh::adapters {

using std::chrono::milliseconds;

namespace {
constexpr milliseconds kFirstRetry{500};
constexpr milliseconds kMaxRetry{30'000};
}  // namespace

BlockingWatch::BlockingWatch(std::shared_ptr<ConsulClient> consul, BlockingWatchOptions options,
                             Changed changed)
    : consul_(std::move(consul)), options_(std::move(options)), changed_(std::move(changed)) {}

BlockingWatch::~BlockingWatch() { Stop(); }

void BlockingWatch::Start() {
  thread_ = std::thread([this] { Run(); });
}

void BlockingWatch::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
}

void BlockingWatch::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void BlockingWatch::Run() {
  uint64_t index = 0;              // of the next read; 0: answer at once
  std::optional<uint64_t> handed;  // the index of the last answer handed on
  milliseconds retry = kFirstRetry;
  while (true) {
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = options_.wait + options_.wait / 16 + options_.call_margin;
    auto answer = consul_->BlockingGet(engine::CallOptions::WithTimeout(deadline), options_.target,
                                       index, options_.wait);
    // The next read: min_interval after this one started, or after a failure, the backoff.
    auto next = started + options_.min_interval;
    if (answer.ok()) {
      retry = kFirstRetry;
      const bool changed = handed != answer->index;
      // Consul's rules: an index that went backwards starts over; one of 0 never blocks.
      index = answer->index < index ? 0 : std::max<uint64_t>(answer->index, 1);
      if (changed) {
        handed = answer->index;
        changed_(*answer);
      }
      std::lock_guard lock(mu_);
      stats_.error.clear();
      if (changed) {
        stats_.index = answer->index;
        ++stats_.answers;
      }
    } else {
      next = std::chrono::steady_clock::now() + retry;
      retry = std::min(retry * 2, kMaxRetry);
      bool first_failure;
      {
        std::lock_guard lock(mu_);
        first_failure = stats_.error.empty();
        ++stats_.failures;
        stats_.error = answer.status().ToString();
      }
      if (first_failure && options_.logger) {
        options_.logger("warn", "consul: a watch cannot read; the last answer stays in force",
                        {{"target", options_.target}, {"error", answer.status().ToString()}});
      }
    }
    std::unique_lock lock(mu_);
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
  }
}

BlockingWatch::Stats BlockingWatch::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace vecmesh::adapters
