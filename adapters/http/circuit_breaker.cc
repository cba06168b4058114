#include "adapters/http/circuit_breaker.h"

#include <string>

namespace vecmesh::adapters {

CircuitBreaker::CircuitBreaker(int failures_to_open, Clock::duration cooldown)
    : failures_to_open_(failures_to_open), cooldown_(cooldown) {}

CircuitBreaker::Admission CircuitBreaker::Admit(Clock::time_point now) {
  std::lock_guard lock(mu_);
  Admission admission;
  switch (state_) {
    case BreakerState::kClosed:
      admission.admitted = true;
      return admission;
    case BreakerState::kOpen:
      if (now >= probe_at_) {
        state_ = BreakerState::kHalfOpen;
        probe_in_flight_ = true;
        admission.admitted = true;
        admission.probe = true;
        return admission;
      }
      admission.refusal =
          "circuit breaker open after " + std::to_string(consecutive_failures_) +
          " consecutive failures (last: " + last_failure_ + "); next probe in " +
          std::to_string(std::chrono::ceil<std::chrono::milliseconds>(probe_at_ - now).count()) +
          " ms";
      return admission;
    case BreakerState::kHalfOpen:
      if (!probe_in_flight_) {
        probe_in_flight_ = true;
        admission.admitted = true;
        admission.probe = true;
        return admission;
      }
      admission.refusal =
          "circuit breaker half-open after " + std::to_string(consecutive_failures_) +
          " consecutive failures (last: " + last_failure_ + "); a probe call is in flight";
      return admission;
  }
  return admission;
}

void CircuitBreaker::Finish(bool probe, Verdict verdict, std::string_view cause,
                            Clock::time_point now) {
  std::lock_guard lock(mu_);
  // A call let in while closed that ends after the breaker opened says nothing the probe will
  // not say better.
  if (!probe && state_ != BreakerState::kClosed) return;
  switch (verdict) {
    case Verdict::kSuccess:
      state_ = BreakerState::kClosed;
      consecutive_failures_ = 0;
      break;
    case Verdict::kFailure:
      ++consecutive_failures_;
      last_failure_ = cause;
      if (probe || (failures_to_open_ > 0 && consecutive_failures_ >= failures_to_open_)) {
        state_ = BreakerState::kOpen;
        probe_at_ = now + cooldown_;
      }
      break;
    case Verdict::kNeutral:
      break;
  }
  if (probe) probe_in_flight_ = false;
}

bool CircuitBreaker::Refuses(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  return (state_ == BreakerState::kOpen && now < probe_at_) ||
         (state_ == BreakerState::kHalfOpen && probe_in_flight_);
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace vecmesh::adapters
