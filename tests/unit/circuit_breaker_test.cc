#include "adapters/http/circuit_breaker.h"

#include <gtest/gtest.h>

#include <chrono>

namespace vecmesh::adapters {
namespace {

using std::chrono::milliseconds;
using Verdict = CircuitBreaker::Verdict;

// A made-up clock: the breaker reads no time of its own.
const CircuitBreaker::Clock::time_point kStart{std::chrono::hours(1)};

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  CircuitBreaker breaker(3, milliseconds(1000));
  for (int i = 0; i < 2; ++i) breaker.Finish(false, Verdict::kFailure, "HTTP 503", kStart);
  breaker.Finish(false, Verdict::kSuccess, "", kStart);  // the count starts again
  for (int i = 0; i < 2; ++i) breaker.Finish(false, Verdict::kFailure, "HTTP 503", kStart);
  breaker.Finish(false, Verdict::kNeutral, "", kStart);  // neither counts nor resets
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker.Admit(kStart).admitted);

  breaker.Finish(false, Verdict::kFailure, "connect: Connection refused", kStart);
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  const CircuitBreaker::Admission refused = breaker.Admit(kStart + milliseconds(400));
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.refusal,
            "circuit breaker open after 3 consecutive failures (last: connect: Connection "
            "refused); next probe in 600 ms");
}

TEST(CircuitBreakerTest, LetsOneProbeThroughAfterTheCooldown) {
  CircuitBreaker breaker(1, milliseconds(100));
  breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  EXPECT_FALSE(breaker.Admit(kStart + milliseconds(99)).admitted);

  const CircuitBreaker::Admission probe = breaker.Admit(kStart + milliseconds(100));
  EXPECT_TRUE(probe.admitted);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  const CircuitBreaker::Admission other = breaker.Admit(kStart + milliseconds(101));
  EXPECT_FALSE(other.admitted);
  EXPECT_NE(other.refusal.find("a probe call is in flight"), std::string::npos) << other.refusal;

  breaker.Finish(true, Verdict::kSuccess, "", kStart + milliseconds(102));
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  const CircuitBreaker::Admission after = breaker.Admit(kStart + milliseconds(103));
  EXPECT_TRUE(after.admitted);
  EXPECT_FALSE(after.probe);
}

TEST(CircuitBreakerTest, AFailedProbeOpensItForAnotherCooldown) {
  CircuitBreaker breaker(2, milliseconds(100));
  breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  ASSERT_TRUE(breaker.Admit(kStart + milliseconds(100)).probe);
  breaker.Finish(true, Verdict::kFailure, "HTTP 502", kStart + milliseconds(150));
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  const CircuitBreaker::Admission refused = breaker.Admit(kStart + milliseconds(249));
  EXPECT_FALSE(refused.admitted);
  EXPECT_NE(refused.refusal.find("after 3 consecutive failures (last: HTTP 502)"),
            std::string::npos)
      << refused.refusal;
  EXPECT_TRUE(breaker.Admit(kStart + milliseconds(250)).probe);
}

TEST(CircuitBreakerTest, ANeutralProbeHandsTheProbeOn) {
  CircuitBreaker breaker(1, milliseconds(100));
  breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  ASSERT_TRUE(breaker.Admit(kStart + milliseconds(100)).probe);
  breaker.Finish(true, Verdict::kNeutral, "", kStart + milliseconds(101));
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(breaker.Admit(kStart + milliseconds(102)).probe);
}

TEST(CircuitBreakerTest, CallsLetInBeforeItOpenedDoNotDecide) {
  CircuitBreaker breaker(1, milliseconds(100));
  ASSERT_TRUE(breaker.Admit(kStart).admitted);  // a slow call, still running
  breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  breaker.Finish(false, Verdict::kSuccess, "", kStart + milliseconds(1));  // the slow one ends
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, NeverOpensWithoutAThreshold) {
  CircuitBreaker breaker(0, milliseconds(100));
  for (int i = 0; i < 100; ++i) breaker.Finish(false, Verdict::kFailure, "HTTP 500", kStart);
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker.Admit(kStart).admitted);
}

TEST(CircuitBreakerTest, StatesHaveNames) {
  EXPECT_STREQ(BreakerStateName(BreakerState::kClosed), "closed");
  EXPECT_STREQ(BreakerStateName(BreakerState::kOpen), "open");
  EXPECT_STREQ(BreakerStateName(BreakerState::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace vecmesh::adapters
