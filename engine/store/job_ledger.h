// JobLedger: the jobs a store applied (API.md "Indexing jobs": a job is applied at most once in
// effect), by id with the time each was applied, kept for a retention (7 days by default).
//
// A job's write is logged with its tag in one record (engine/storage/write_ops.h), and the ledger
// learns the job when that record is durable, or replayed at recovery, so that the write and the
// memory of it never disagree; a checkpoint saves the ledger (JobsOp), as the log segments it
// replaces remembered it.
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/storage/write_ops.h"

namespace vecmesh::engine {

// API.md: a job id is at most 128 bytes.
inline constexpr size_t kMaxJobIdBytes = 128;

class JobLedger {
 public:
  explicit JobLedger(std::chrono::seconds retention) : retention_(retention) {}

  // Claims `id` for one write, tagged with the time now: AlreadyExists if the job was applied
  // (nothing is to change), Unavailable while another write of it runs, InvalidArgument if the
  // id is empty or longer than kMaxJobIdBytes. A claim is ended by Release.
  StatusOr<JobTag> Claim(const std::string& id);
  void Release(const std::string& id);
  // The job's write is durable (or was replayed).
  void Applied(const JobTag& job);
  // The jobs applied within the retention, oldest first; older ones are forgotten.
  std::vector<JobTag> Recent();
  bool Contains(const std::string& id) const;

 private:
  static int64_t NowUnixMs();

  const std::chrono::seconds retention_;
  mutable std::mutex mu_;                   // guards the two below
  std::map<std::string, int64_t> applied_;  // id: unix ms
  std::set<std::string> running_;
};

}  // namespace vecmesh::engine
