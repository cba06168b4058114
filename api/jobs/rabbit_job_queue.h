// RabbitJobQueue: the JobQueue of a vecmeshd with a broker (API.md "Indexing jobs on RabbitMQ").
// Submit publishes the import as one upsert job to vector.indexing.tasks, persistent, mandatory
// and under publisher confirms, and returns its id only once the broker acknowledged it; a nack,
// a return, or a broker that cannot be reached is Unavailable (503) naming why, and nothing is
// queued anywhere else. Statuses come from the JobBook, which the consumer updates too.
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adapters/amqp/amqp_publisher_pool.h"
#include "api/jobs/job_book.h"
#include "api/service/jobs.h"

namespace vecmesh::api {

class RabbitJobQueue : public JobQueue {
 public:
  // A job holds at most `max_points` points (API.md: a job obeys the limits of the call it
  // mirrors, an upsert). `book` outlives the queue. Without a publisher (a vecmeshd that only
  // consumes), Submit is Unavailable.
  RabbitJobQueue(std::unique_ptr<adapters::AmqpPublisherPool> publisher, JobBook* book,
                 size_t max_points, std::chrono::milliseconds publish_timeout);

  engine::StatusOr<std::string> Submit(const std::string& collection,
                                       std::vector<engine::Point> points) override;
  engine::StatusOr<Job> Get(const std::string& job_id) const override;
  size_t depth() const override;

  // The publisher's counters (none without one).
  adapters::AmqpClient::Stats stats() const {
    return publisher_ ? publisher_->stats() : adapters::AmqpClient::Stats{};
  }

 private:
  const std::unique_ptr<adapters::AmqpPublisherPool> publisher_;
  JobBook* const book_;
  const size_t max_points_;
  const std::chrono::milliseconds publish_timeout_;
};

}  // namespace vecmesh::api
