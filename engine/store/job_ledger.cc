#include "engine/store/job_ledger.h"

#include <algorithm>

namespace vecmesh::engine {

int64_t JobLedger::NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StatusOr<JobTag> JobLedger::Claim(const std::string& id) {
  if (id.empty() || id.size() > kMaxJobIdBytes) {
    return Status::InvalidArgument("job_id must be 1 to " + std::to_string(kMaxJobIdBytes) +
                                   " bytes, got " + std::to_string(id.size()));
  }
  std::lock_guard lock(mu_);
  if (applied_.count(id)) {
    return Status::AlreadyExists("job '" + id + "' was applied already: nothing changes");
  }
  if (!running_.insert(id).second) {
    return Status::Unavailable("job '" + id + "' is being applied by another write");
  }
  return JobTag{id, NowUnixMs()};
}

void JobLedger::Release(const std::string& id) {
  std::lock_guard lock(mu_);
  running_.erase(id);
}

void JobLedger::Applied(const JobTag& job) {
  std::lock_guard lock(mu_);
  applied_[job.id] = job.applied_unix_ms;
}

std::vector<JobTag> JobLedger::Recent() {
  const int64_t oldest =
      NowUnixMs() - std::chrono::duration_cast<std::chrono::milliseconds>(retention_).count();
  std::lock_guard lock(mu_);
  std::vector<JobTag> recent;
  for (auto it = applied_.begin(); it != applied_.end();) {
    if (it->second < oldest) {
      it = applied_.erase(it);
    } else {
      recent.push_back({it->first, it->second});
      ++it;
    }
  }
  std::sort(recent.begin(), recent.end(),
            [](const JobTag& a, const JobTag& b) { return a.applied_unix_ms < b.applied_unix_ms; });
  return recent;
}

bool JobLedger::Contains(const std::string& id) const {
  std::lock_guard lock(mu_);
  return applied_.count(id) > 0;
}

}  // namespace vecmesh::engine
