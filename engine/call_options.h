// CallOptions: what every VectorStore call carries besides its arguments (LevelDB's ReadOptions
// style): its deadline, and for a write, the job it belongs to. A plain value: safe to copy and
// share.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace vecmesh::engine {

struct CallOptions {
  using Clock = std::chrono::steady_clock;

  // When the caller stops waiting for the answer; time_point::max() (the default): never.
  Clock::time_point deadline = Clock::time_point::max();

  // A deadline `timeout` from now (a timeout too large to represent means no deadline; one of
  // zero or less, a deadline already passed).
  static CallOptions WithTimeout(Clock::duration timeout) {
    const Clock::time_point now = Clock::now();
    CallOptions options;
    if (timeout <= Clock::duration::zero()) {
      options.deadline = now;
    } else if (timeout < Clock::time_point::max() - now) {
      options.deadline = now + timeout;
    }
    return options;
  }

  // A write's job (API.md "Indexing jobs"), or empty. The local store applies a write of a job at
  // most once in effect: a job whose write it already applied is AlreadyExists and changes
  // nothing (engine/store/job_ledger.h). Stores over the network ignore it: vecmesh delivers
  // them each write once in effect already.
  std::string job_id;

  // Whether the deadline has passed. A call without one never expires (and reads no clock).
  bool Expired() const { return deadline != Clock::time_point::max() && Clock::now() >= deadline; }

  // The check every VectorStore call starts with (engine/vector_store.h): DeadlineExceeded
  // naming `operation` if the deadline passed before it started, else Ok.
  Status CheckStart(std::string_view operation) const {
    if (!Expired()) return Status::Ok();
    return Status::DeadlineExceeded(std::string(operation) +
                                    " was not started: its deadline had passed");
  }
};

}  // namespace vecmesh::engine
