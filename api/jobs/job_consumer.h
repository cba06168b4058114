// JobConsumer: consumes the queue vector.indexing.tasks (API.md "Indexing jobs on RabbitMQ") and
// applies each job through the service, with the validation, limits and backends of the REST
// call it mirrors.
//
// Each delivery, on the consumer thread that received it:
// - is decoded (api/jobs/job_message.h) and applied with Service::ApplyJob, which returns once
//   the job's writes are durable, and applies a job at most once in effect (a job applied before,
//   a redelivery or another copy, is acknowledged without being applied again);
// - is acknowledged only then;
// - when it can never succeed (not a job, invalid input, an unknown collection: an input error),
//   is dead-lettered at once: a copy of it (its body and properties as they came, plus the
//   header x-vecmesh-error = "CODE: message") is published under confirms to the dead-letter
//   exchange with the dead-letter routing key, then the original is acknowledged (a nack could
//   not add the header);
// - when it failed for a passing reason (Unavailable, ResourceExhausted, DeadlineExceeded), is
//   tried again with backoff, up to max_attempts in all, then dead-lettered with its last error;
// - with reply_to, gets its final status (GET /v1/jobs/{id}'s body) published to that queue, with
//   its correlation_id; a reply that cannot be published is logged, not retried.
// A job is tried on one thread within one delivery: the backoff is bounded (the connection's
// heartbeats are serviced only inside the client's calls: max_attempts times retry_max_ms stays
// well below the heartbeat), and a job still failing after max_attempts goes to the dead-letter
// queue rather than back to the queue. A copy that cannot be dead-lettered (the dead-letter
// queue gone, an alarm) sends the delivery back to the queue after a pause, its status unchanged.
//
// Stop: each thread stops consuming, finishes the job in hand (acknowledged or dead-lettered),
// and closes; deliveries received and not begun go back to the queue with the connection.
//
// Thread safety: Start and Stop from one thread; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/amqp/amqp_client.h"
#include "api/service/service.h"
#include "engine/logger.h"

namespace vecmesh::api {

struct JobConsumerOptions {
  adapters::AmqpClientOptions amqp;
  int consumers = 1;      // threads, each with a connection of its own
  uint16_t prefetch = 8;  // unacknowledged deliveries per consumer
  // Tries of one job whose failures pass (1 = no retry), with full-jitter backoff between them.
  int max_attempts = 5;
  int retry_base_ms = 200;
  int retry_max_ms = 2000;
  engine::Logger logger;
  // Told of every job consumed, once it is done or failed (its final status).
  std::function<void(const Job&)> finished;
  // Called with a job's id once its writes are durable, before its ack: the seam where a crash
  // test kills the process (vecmeshd: VECMESH_TEST_CRASH_AFTER_JOB). Null: nothing.
  std::function<void(const std::string& job_id)> applied;
};

class JobConsumer {
 public:
  struct Stats {
    uint64_t consumed = 0;         // deliveries taken
    uint64_t acked = 0;            // applied (or applied before) and acknowledged
    uint64_t already_applied = 0;  // among acked: applied before, not applied again
    uint64_t retried = 0;          // tries after a passing failure
    uint64_t dead_lettered = 0;
    int consumers = 0;         // consuming now
    std::string error;         // why a consumer is not consuming; "" when none
    int64_t queue_depth = -1;  // jobs ready in the queue when last looked at (-1: not yet)
  };

  JobConsumer(Service& service, adapters::AmqpUrl url, JobConsumerOptions options);
  ~JobConsumer();  // Stop
  JobConsumer(const JobConsumer&) = delete;
  JobConsumer& operator=(const JobConsumer&) = delete;

  // Starts the consumer threads. Each connects and consumes, and keeps trying with backoff while
  // the broker cannot be reached or refuses the topology (a queue declared elsewhere with other
  // arguments: logged once, naming the argument, and reported by stats().error).
  void Start();
  void Stop();

  Stats stats() const;

 private:
  void Run(adapters::AmqpClient& client);
  // Why consuming failed, logged when it changes.
  void Failed(const engine::Status& error);
  // Applies one delivery and settles it (ack, or dead-letter then ack).
  void Handle(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery);
  // true once the copy is confirmed (and the original acked); false: the delivery went back to
  // the queue after a pause.
  bool DeadLetter(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery,
                  const engine::Status& why);
  void Reply(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery, const Job& job);
  void Log(const char* level, const std::string& message, const nlohmann::json& fields) const;

  Service& service_;
  const adapters::AmqpUrl url_;
  const JobConsumerOptions options_;
  std::vector<std::unique_ptr<adapters::AmqpClient>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};

  std::atomic<uint64_t> consumed_{0};
  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> already_applied_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<uint64_t> dead_lettered_{0};
  std::atomic<int> consuming_{0};
  std::atomic<int64_t> queue_depth_{-1};
  mutable std::mutex mu_;  // guards error_
  std::string error_;
};

}  // namespace vecmesh::api
