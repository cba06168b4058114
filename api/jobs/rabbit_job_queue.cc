#include "api/jobs/rabbit_job_queue.h"

#include <random>

#include "api/jobs/job_message.h"

namespace vecmesh::api {

using engine::Status;
using engine::StatusOr;

namespace {

// "import-" and 16 random hex digits: unique enough for ids kept 7 days.
std::string NewJobId() {
  static thread_local std::mt19937_64 random(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string id = "import-";
  uint64_t bits = random();
  for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 15];
  return id;
}

}  // namespace

RabbitJobQueue::RabbitJobQueue(std::unique_ptr<adapters::AmqpPublisherPool> publisher,
                               JobBook* book, size_t max_points,
                               std::chrono::milliseconds publish_timeout)
    : publisher_(std::move(publisher)),
      book_(book),
      max_points_(max_points),
      publish_timeout_(publish_timeout) {}

StatusOr<std::string> RabbitJobQueue::Submit(const std::string& collection,
                                             std::vector<engine::Point> points) {
  if (points.size() > max_points_) {
    return Status::InvalidArgument("points has " + std::to_string(points.size()) +
                                   " entries; a job on RabbitMQ takes at most " +
                                   std::to_string(max_points_) +
                                   " (an upsert's limit): import them in parts");
  }
  if (!publisher_) {
    return Status::Unavailable(
        "this vecmeshd consumes indexing jobs but publishes none (--amqp-role consume)");
  }
  adapters::AmqpMessage message;
  message.message_id = NewJobId();
  message.body = EncodeUpsertJob(message.message_id, collection, points);
  Status s = publisher_->Publish(engine::CallOptions::WithTimeout(publish_timeout_), message);
  if (!s.ok()) return Status::Unavailable("the job was not queued: " + s.message());
  book_->Record({message.message_id, collection, JobState::kQueued, points.size(), {}});
  return message.message_id;
}

StatusOr<Job> RabbitJobQueue::Get(const std::string& job_id) const { return book_->Get(job_id); }

size_t RabbitJobQueue::depth() const { return book_->unfinished(); }

}  // namespace vecmesh::api
