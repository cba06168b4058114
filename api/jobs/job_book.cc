#include "api/jobs/job_book.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace vecmesh::api {

using engine::Status;
using json = nlohmann::json;

namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<JobState> StateNamed(const std::string& name) {
  for (JobState state :
       {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kFailed}) {
    if (JobStateName(state) == name) return state;
  }
  return std::nullopt;
}

json Line(const Job& job, int64_t at) {
  return {{"job_id", job.id},
          {"collection", job.collection},
          {"state", JobStateName(job.state)},
          {"points", job.points},
          {"error", job.error ? json(*job.error) : json()},
          {"at", at}};
}

}  // namespace

engine::StatusOr<std::unique_ptr<JobBook>> JobBook::Open(const std::string& path,
                                                         std::chrono::seconds retention) {
  std::map<std::string, Entry> jobs;
  {
    std::ifstream in(path);
    std::string text;
    // A line that does not parse (the torn last one of a crash) is skipped.
    while (in && std::getline(in, text)) {
      const json line = json::parse(text, nullptr, false);
      if (!line.is_object() || !line.value("job_id", json()).is_string()) continue;
      auto state = StateNamed(line.value("state", ""));
      if (!state) continue;
      Entry entry;
      entry.job.id = line["job_id"];
      entry.job.collection = line.value("collection", "");
      entry.job.state = *state;
      entry.job.points = line.value("points", size_t{0});
      if (line.value("error", json()).is_string()) entry.job.error = line["error"];
      entry.at_unix_ms = line.value("at", int64_t{0});
      jobs[entry.job.id] = std::move(entry);
    }
  }
  const int64_t oldest =
      NowUnixMs() - std::chrono::duration_cast<std::chrono::milliseconds>(retention).count();
  for (auto it = jobs.begin(); it != jobs.end();) {
    const bool finished =
        it->second.job.state == JobState::kDone || it->second.job.state == JobState::kFailed;
    it = finished && it->second.at_unix_ms < oldest ? jobs.erase(it) : std::next(it);
  }
  // Rewritten whole, then renamed over the old one: a crash leaves one or the other.
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    for (const auto& [id, entry] : jobs) out << Line(entry.job, entry.at_unix_ms).dump() << '\n';
    out.flush();
    if (!out) return Status::Unavailable("cannot write the job statuses to " + temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return Status::Unavailable("cannot rename " + temp + " to " + path);
  }
  std::ofstream out(path, std::ios::app);
  if (!out) return Status::Unavailable("cannot append to the job statuses in " + path);
  return std::unique_ptr<JobBook>(new JobBook(path, std::move(jobs), std::move(out)));
}

JobBook::JobBook(std::string path, std::map<std::string, Entry> jobs, std::ofstream out)
    : path_(std::move(path)), jobs_(std::move(jobs)), out_(std::move(out)) {}

void JobBook::Record(const Job& job) {
  const int64_t at = NowUnixMs();
  std::lock_guard lock(mu_);
  Entry& entry = jobs_[job.id];
  // A consumer may not know what the publisher did (the collection, the number of points).
  Job merged = job;
  if (merged.collection.empty()) merged.collection = entry.job.collection;
  entry = {std::move(merged), at};
  out_ << Line(entry.job, at).dump() << '\n';
  out_.flush();
}

engine::StatusOr<Job> JobBook::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::NotFound("job '" + id + "' is not known here");
  return it->second.job;
}

size_t JobBook::unfinished() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [id, entry] : jobs_) {
    n += entry.job.state == JobState::kQueued || entry.job.state == JobState::kRunning;
  }
  return n;
}

}  // namespace vecmesh::api
