#include "api/jobs/job_book.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

namespace vecmesh::api {

using engine::Status;
using json = nlohmann::json;

namespace {

// Lines beyond twice the jobs' before the file is compacted.
constexpr size_t kCompactSlack = 10'000;

// Writes `text` to `path` and fsyncs it.
Status WriteFileDurably(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Unavailable("cannot write " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : Status::Unavailable("cannot write " + path);
}

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

bool Finished(JobState state) { return state == JobState::kDone || state == JobState::kFailed; }

// One line of the file (bytes that are not UTF-8, in an id from a message, are replaced).
std::string Line(const Job& job, int64_t at) {
  const json line = {{"job_id", job.id},
                     {"collection", job.collection},
                     {"state", JobStateName(job.state)},
                     {"points", job.points},
                     {"error", job.error ? json(*job.error) : json()},
                     {"at", at}};
  return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
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
  auto book = std::unique_ptr<JobBook>(new JobBook(path, retention, std::move(jobs)));
  std::lock_guard lock(book->mu_);
  Status s = book->CompactLocked();
  if (!s.ok()) return s;
  return book;
}

Status JobBook::CompactLocked() {
  const int64_t oldest =
      NowUnixMs() - std::chrono::duration_cast<std::chrono::milliseconds>(retention_).count();
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const bool expired = Finished(it->second.job.state) && it->second.at_unix_ms < oldest;
    it = expired ? jobs_.erase(it) : std::next(it);
  }
  // Written whole beside it, synced, and renamed over it: a crash leaves one or the other.
  out_.close();
  const std::string temp = path_ + ".tmp";
  std::string text;
  for (const auto& [id, entry] : jobs_) text += Line(entry.job, entry.at_unix_ms);
  Status s = WriteFileDurably(temp, text);
  if (s.ok() && std::rename(temp.c_str(), path_.c_str()) != 0) {
    s = Status::Unavailable("cannot rename " + temp + " to " + path_);
  }
  out_.open(path_, std::ios::app);
  if (s.ok() && !out_) s = Status::Unavailable("cannot append to the job statuses in " + path_);
  lines_ = jobs_.size();
  return s;
}

JobBook::JobBook(std::string path, std::chrono::seconds retention,
                 std::map<std::string, Entry> jobs)
    : path_(std::move(path)), retention_(retention), jobs_(std::move(jobs)) {}

void JobBook::Record(const Job& job) {
  const int64_t at = NowUnixMs();
  std::lock_guard lock(mu_);
  Entry& entry = jobs_[job.id];
  // A finished job stays so: a late "queued" from its publisher, or a poison message that reuses
  // the id of a job applied, changes nothing.
  if (Finished(entry.job.state) && !entry.job.id.empty()) return;
  // A consumer may not know what the publisher did (the collection).
  Job merged = job;
  if (merged.collection.empty()) merged.collection = entry.job.collection;
  entry = {std::move(merged), at};
  out_ << Line(entry.job, at);
  out_.flush();
  // The file keeps a line per change: rewritten when it holds twice the jobs it describes.
  if (++lines_ > 2 * jobs_.size() + kCompactSlack) (void)CompactLocked();
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
