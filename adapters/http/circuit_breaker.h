// CircuitBreaker: the closed / open / half-open state machine of HttpClient's breaker (its rules
// are in http_client.h), apart from any networking so that it can be tested with a made-up clock.
//
// Thread safety: safe for concurrent calls from any number of threads.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  // What a finished call says about the endpoint.
  enum class Verdict { kSuccess, kFailure, kNeutral };

  struct Admission {
    bool admitted = false;
    // The half-open probe: its Finish decides the state, and must come whatever happens.
    bool probe = false;
    std::string refusal;  // why not, when not admitted ("circuit breaker open after ...")
  };

  // failures_to_open <= 0: the breaker never opens.
  CircuitBreaker(int failures_to_open, Clock::duration cooldown);

  // Whether a call may go to the endpoint now.
  Admission Admit(Clock::time_point now);
  // Reports how an admitted call ended; `cause` (a failure's) is quoted by later refusals.
  void Finish(bool probe, Verdict verdict, std::string_view cause, Clock::time_point now);

  BreakerState state() const;
  // Whether Admit would refuse a call now (open before its probe time, or half-open with the
  // probe in flight), without admitting one.
  bool Refuses(Clock::time_point now) const;

 private:
  const int failures_to_open_;
  const Clock::duration cooldown_;

  mutable std::mutex mu_;  // guards the fields below
  BreakerState state_ = BreakerState::kClosed;
  int consecutive_failures_ = 0;
  Clock::time_point probe_at_;    // kOpen: when the next call may go through as the probe
  bool probe_in_flight_ = false;  // kHalfOpen: the probe was let through and has not finished
  std::string last_failure_;      // the cause of the latest failure
};

}  // namespace vecmesh::adapters
