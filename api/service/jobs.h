// Import jobs (API.md: POST .../points/import, GET /v1/jobs/{id}). The service checks an import
// whole, then queues it here; a worker applies it. JobQueue is the seam where the RabbitMQ-backed
// queue (vector.indexing.tasks) will slot in; InProcessJobQueue is the embedded default.
//
// Thread safety: every method is safe for concurrent use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::api {

enum class JobState { kQueued, kRunning, kDone, kFailed };
std::string_view JobStateName(JobState state);

struct Job {
  std::string id;
  std::string collection;
  JobState state = JobState::kQueued;
  size_t points = 0;
  std::optional<std::string> error;
};

class JobQueue {
 public:
  // Applies one job's points to its collection durably (OK), or fails saying how many points
  // were written before the failure (a job is written in chunks, each durable).
  using Apply =
      std::function<engine::Status(const std::string& collection, std::vector<engine::Point>)>;

  virtual ~JobQueue() = default;
  // Queues the points; returns the job id. RESOURCE_EXHAUSTED when the queue is full.
  virtual engine::StatusOr<std::string> Submit(const std::string& collection,
                                               std::vector<engine::Point> points) = 0;
  virtual engine::StatusOr<Job> Get(const std::string& job_id) const = 0;
  // Jobs queued or running.
  virtual size_t depth() const = 0;
};

// Jobs in memory, applied in order by one worker thread. Queued jobs do not survive a restart
// (a RabbitMQ-backed queue will make them durable); a job's writes are durable once it is done.
class InProcessJobQueue : public JobQueue {
 public:
  // At most `max_queued_points` points wait in the queue (jobs beyond answer RESOURCE_EXHAUSTED).
  InProcessJobQueue(Apply apply, size_t max_queued_points);
  // Finishes the running job; jobs still queued are marked failed ("shutting down").
  ~InProcessJobQueue() override;

  engine::StatusOr<std::string> Submit(const std::string& collection,
                                       std::vector<engine::Point> points) override;
  engine::StatusOr<Job> Get(const std::string& job_id) const override;
  size_t depth() const override;

 private:
  void Run();

  const Apply apply_;
  const size_t max_queued_points_;
  size_t queued_points_ = 0;  // in queue_
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::vector<engine::Point>>> queue_;  // job id, points
  std::map<std::string, Job> jobs_;  // every job, the finished ones up to kKeepFinished
  std::deque<std::string> finished_;  // oldest first
  size_t running_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace vecmesh::api
