#include "api/jobs/job_consumer.h"

#include <algorithm>
#include <random>

#include "adapters/amqp/topology.h"
#include "api/jobs/job_message.h"
#include "api/json/json_codec.h"

namespace vecmesh::api {

using engine::Status;

namespace {

// How long a consumer waits for a delivery before it looks at whether it should stop.
constexpr std::chrono::milliseconds kPoll{250};
// Each broker call of a consumer (an ack, a dead-letter's publish, a reply).
constexpr std::chrono::seconds kCallTimeout{10};
// How long a consumer waits before it gives back a job it could not dead-letter.
constexpr std::chrono::seconds kDeadLetterPause{2};
// How often a consumer looks at the queue's depth (for /metrics and /health/deep).
constexpr std::chrono::seconds kDepthInterval{5};

bool Passing(const Status& status) {
  return engine::CategoryOf(status.code()) == engine::ErrorCategory::kTransient;
}

size_t CountOf(const JobWrite& write) {
  if (const auto* points = std::get_if<std::vector<engine::Point>>(&write)) return points->size();
  if (const auto* del = std::get_if<DeletePointsRequest>(&write)) {
    return del->ids ? del->ids->size() : 0;
  }
  return std::get<UpdatePayloadRequest>(write).ids.size();
}

}  // namespace

JobConsumer::JobConsumer(Service& service, adapters::AmqpUrl url, JobConsumerOptions options)
    : service_(service), url_(std::move(url)), options_(std::move(options)) {}

JobConsumer::~JobConsumer() { Stop(); }

void JobConsumer::Start() {
  stopping_ = false;
  for (int i = 0; i < std::max(1, options_.consumers); ++i) {
    clients_.push_back(std::make_unique<adapters::AmqpClient>(url_, options_.amqp));
  }
  for (auto& client : clients_) threads_.emplace_back([this, c = client.get()] { Run(*c); });
}

void JobConsumer::Stop() {
  stopping_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  clients_.clear();  // closes the connections: what was received and not begun is redelivered
}

JobConsumer::Stats JobConsumer::stats() const {
  std::lock_guard lock(mu_);
  return {consumed_.load(),
          acked_.load(),
          already_applied_.load(),
          retried_.load(),
          dead_lettered_.load(),
          consuming_.load(),
          error_};
}

void JobConsumer::Failed(const Status& error) {
  std::lock_guard lock(mu_);
  if (error_ != error.ToString()) {
    Log("error", "job consumer: not consuming", {{"error", error.ToString()}});
    error_ = error.ToString();
  }
}

void JobConsumer::Run(adapters::AmqpClient& client) {
  bool consuming = false;
  std::mt19937_64 random(std::random_device{}());
  auto look_at_depth = std::chrono::steady_clock::now();
  for (int failures = 0; !stopping_;) {
    if (!consuming) {
      // Until the broker takes the consumer (it may be down, or refuse the topology: said once).
      Status s = client.Consume(engine::CallOptions::WithTimeout(kCallTimeout),
                                std::string(adapters::kJobQueue), options_.prefetch);
      if (!s.ok()) {
        Failed(s);
        const int cap = std::min(options_.retry_max_ms * 4, 250 << std::min(failures++, 6));
        const auto until =
            std::chrono::steady_clock::now() +
            std::chrono::milliseconds(std::uniform_int_distribution<int>(cap / 2, cap)(random));
        while (!stopping_ && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(kPoll);
        continue;
      }
      consuming = true;
      failures = 0;
      ++consuming_;
      {
        std::lock_guard lock(mu_);
        error_.clear();
      }
    }
    if (std::chrono::steady_clock::now() >= look_at_depth) {
      auto info =
          client.Inspect(engine::CallOptions::WithTimeout(kCallTimeout), adapters::kJobQueue);
      if (info.ok()) queue_depth_ = info->messages;
      look_at_depth = std::chrono::steady_clock::now() + kDepthInterval;
    }
    auto next = client.Next(kPoll);
    if (!next.ok()) {
      // The client reconnects within its calls; one that could not is tried again from Consume.
      Failed(next.status());
      --consuming_;
      consuming = false;
      continue;
    }
    if (!*next) continue;
    ++consumed_;
    Handle(client, **next);
  }
  if (consuming) {
    --consuming_;
    (void)client.Cancel(engine::CallOptions::WithTimeout(kCallTimeout));
  }
}

void JobConsumer::Handle(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery) {
  const std::string& body = delivery.message.body;
  auto job = DecodeJobMessage(body, delivery.message.message_id, service_.options().limits);
  if (!job.ok()) {
    if (!DeadLetter(client, delivery, job.status())) return;  // back in the queue
    const Job failed{JobIdOf(body, delivery.message.message_id), "", JobState::kFailed, 0,
                     job.status().ToString()};
    if (options_.finished && !failed.id.empty()) options_.finished(failed);
    Reply(client, delivery, failed);
    return;
  }
  Job status{job->job_id, job->collection, JobState::kRunning, CountOf(job->write), {}};
  std::mt19937_64 random(std::random_device{}());
  StatusOr<JobResult> result = Status::Internal("not tried");
  for (int attempt = 0;; ++attempt) {
    result = service_.ApplyJob(job->job_id, job->collection, job->write);
    if (result.ok() || !Passing(result.status()) || attempt + 1 >= options_.max_attempts ||
        stopping_) {
      break;
    }
    ++retried_;
    const int cap =
        std::min(options_.retry_max_ms, options_.retry_base_ms << std::min(attempt, 16));
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, std::max(cap, 0))(random)));
  }
  if (!result.ok()) {
    // Stopping while a passing failure lasts: back to the queue, for the next consumer.
    if (stopping_ && Passing(result.status())) {
      (void)client.Reject(delivery.delivery_tag, /*requeue=*/true);
      return;
    }
    status.state = JobState::kFailed;
    status.error = result.status().ToString();
    if (!DeadLetter(client, delivery, result.status())) return;  // back in the queue
  } else {
    if (options_.applied) options_.applied(job->job_id);
    Status acked = client.Ack(delivery.delivery_tag);
    if (!acked.ok()) {
      // The channel is gone: the broker redelivers it, and the ledger knows it was applied.
      Log("warn", "job applied, its ack lost (it will be redelivered and not applied again)",
          {{"job_id", job->job_id}, {"error", acked.ToString()}});
    } else {
      ++acked_;
      if (result->already_applied) ++already_applied_;
    }
    status.state = JobState::kDone;
  }
  if (options_.finished) options_.finished(status);
  Reply(client, delivery, status);
}

bool JobConsumer::DeadLetter(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery,
                             const Status& why) {
  adapters::AmqpMessage copy = delivery.message;
  copy.headers.emplace_back("x-vecmesh-error",
                            std::string(engine::CodeName(why.code())) + ": " + why.message());
  Status s = client.Publish(engine::CallOptions::WithTimeout(kCallTimeout),
                            adapters::kDeadLetterExchange, adapters::kDeadLetterRoutingKey, copy);
  if (!s.ok()) {
    // Not dead-lettered: back to the queue after a pause (the dead-letter queue may be gone, the
    // broker in alarm), to be judged again.
    Log("error", "job consumer: a hopeless job could not be dead-lettered",
        {{"message_id", delivery.message.message_id}, {"error", s.ToString()}});
    const auto until = std::chrono::steady_clock::now() + kDeadLetterPause;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(kPoll);
    (void)client.Reject(delivery.delivery_tag, /*requeue=*/true);
    return false;
  }
  ++dead_lettered_;
  Log("warn", "job dead-lettered",
      {{"message_id", delivery.message.message_id}, {"error", why.ToString()}});
  Status acked = client.Ack(delivery.delivery_tag);
  if (!acked.ok()) {
    Log("warn", "job dead-lettered, its ack lost (its copy may be dead-lettered twice)",
        {{"message_id", delivery.message.message_id}, {"error", acked.ToString()}});
  }
  return true;
}

void JobConsumer::Reply(adapters::AmqpClient& client, const adapters::AmqpDelivery& delivery,
                        const Job& job) {
  if (delivery.message.reply_to.empty()) return;
  adapters::AmqpMessage reply;
  reply.body = EncodeJob(job).dump(-1, ' ', false, json::error_handler_t::replace);
  reply.message_id = job.id;
  reply.correlation_id = delivery.message.correlation_id;
  Status s = client.Publish(engine::CallOptions::WithTimeout(kCallTimeout), "",
                            delivery.message.reply_to, reply);
  if (!s.ok()) {
    Log("warn", "job consumer: the reply was not published",
        {{"job_id", job.id}, {"reply_to", delivery.message.reply_to}, {"error", s.ToString()}});
  }
}

void JobConsumer::Log(const char* level, const std::string& message,
                      const nlohmann::json& fields) const {
  if (options_.logger) options_.logger(level, message, fields);
}

}  // namespace vecmesh::api
