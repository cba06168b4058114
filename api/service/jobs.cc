#include "api/service/jobs.h"

#include <random>

namespace vecmesh::api {
namespace {

constexpr size_t kKeepFinished = 10'000;  // finished jobs remembered for GET /v1/jobs/{id}

std::string NewJobId() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char id[24];
  std::snprintf(id, sizeof id, "job-%016llx", static_cast<unsigned long long>(random()));
  return id;
}

}  // namespace

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
  }
  return "failed";
}

InProcessJobQueue::InProcessJobQueue(Apply apply, size_t max_queued_points)
    : apply_(std::move(apply)), max_queued_points_(max_queued_points), worker_([this] { Run(); }) {}

InProcessJobQueue::~InProcessJobQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

engine::StatusOr<std::string> InProcessJobQueue::Submit(const std::string& collection,
                                                        std::vector<engine::Point> points) {
  std::lock_guard lock(mu_);
  if (stopping_) return engine::Status::Unavailable("the server is shutting down");
  if (queued_points_ + points.size() > max_queued_points_) {
    return engine::Status::ResourceExhausted(
        "the import queue holds " + std::to_string(queued_points_) + " points in " +
        std::to_string(queue_.size()) + " jobs; with " + std::to_string(points.size()) +
        " more it would pass its limit of " + std::to_string(max_queued_points_) +
        ": retry later");
  }
  queued_points_ += points.size();
  std::string id = NewJobId();
  while (jobs_.count(id)) id = NewJobId();
  jobs_[id] = Job{id, collection, JobState::kQueued, points.size(), std::nullopt};
  queue_.emplace_back(id, std::move(points));
  cv_.notify_one();
  return id;
}

engine::StatusOr<Job> InProcessJobQueue::Get(const std::string& job_id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return engine::Status::NotFound("job '" + job_id + "' not found");
  return it->second;
}

size_t InProcessJobQueue::depth() const {
  std::lock_guard lock(mu_);
  return queue_.size() + running_;
}

void InProcessJobQueue::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    auto [id, points] = std::move(queue_.front());
    queue_.pop_front();
    queued_points_ -= points.size();
    Job& job = jobs_[id];
    job.state = JobState::kRunning;
    const std::string collection = job.collection;
    ++running_;
    lock.unlock();
    engine::Status s = apply_(collection, std::move(points));
    lock.lock();
    --running_;
    Job& done = jobs_[id];
    done.state = s.ok() ? JobState::kDone : JobState::kFailed;
    if (!s.ok()) done.error = s.ToString();
    finished_.push_back(id);
    while (finished_.size() > kKeepFinished) {
      jobs_.erase(finished_.front());
      finished_.pop_front();
    }
  }
  for (auto& [id, points] : queue_) {
    Job& job = jobs_[id];
    job.state = JobState::kFailed;
    job.error = "UNAVAILABLE: the server shut down before the job ran; submit it again";
  }
  queue_.clear();
}

}  // namespace vecmesh::api
