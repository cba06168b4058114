#include "api/service/metrics.h"

#include <sstream>

#include "engine/index/gpu_index.h"

namespace vecmesh::api {
namespace {

void WriteHistogram(std::ostringstream& out, const std::string& name, const std::string& labels,
                    const engine::LatencyHistogram::Counts& counts) {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < engine::LatencyHistogram::kBounds.size(); ++i) {
    cumulative += counts.buckets[i];
    out << name << "_bucket{" << labels << sep << "le=\"" << engine::LatencyHistogram::kBounds[i]
        << "\"} " << cumulative << "\n";
  }
  out << name << "_bucket{" << labels << sep << "le=\"+Inf\"} " << counts.count << "\n";
  out << name << "_sum" << (labels.empty() ? "" : "{" + labels + "}") << " " << counts.sum_seconds
      << "\n";
  out << name << "_count" << (labels.empty() ? "" : "{" + labels + "}") << " " << counts.count
      << "\n";
}

// The indexing jobs on RabbitMQ (API.md), when a broker is configured.
void WriteJobs(std::ostringstream& out, const JobsReport& jobs) {
  const std::pair<const char*, uint64_t> counters[] = {{"consumed", jobs.consumed},
                                                       {"acked", jobs.acked},
                                                       {"already_applied", jobs.already_applied},
                                                       {"retried", jobs.retried},
                                                       {"dead_lettered", jobs.dead_lettered},
                                                       {"published", jobs.published},
                                                       {"publish_failures", jobs.publish_failures}};
  out << "# HELP vecmesh_jobs_total Indexing jobs on RabbitMQ, by event: consumed (taken), acked "
         "(applied, or applied before), already_applied (acked, not applied again), retried "
         "(tries after a passing failure), dead_lettered, published (imports confirmed by the "
         "broker), publish_failures.\n# TYPE vecmesh_jobs_total counter\n";
  for (const auto& [event, n] : counters) {
    out << "vecmesh_jobs_total{event=\"" << event << "\"} " << n << "\n";
  }
  out << "# HELP vecmesh_jobs_consumers Consumers of the job queue consuming now.\n"
         "# TYPE vecmesh_jobs_consumers gauge\nvecmesh_jobs_consumers "
      << jobs.consumers << "\n";
  if (jobs.queue_depth >= 0) {
    out << "# HELP vecmesh_jobs_queue_depth Jobs ready in vector.indexing.tasks, as a consumer "
           "last saw.\n# TYPE vecmesh_jobs_queue_depth gauge\nvecmesh_jobs_queue_depth "
        << jobs.queue_depth << "\n";
  }
  out << "# HELP vecmesh_jobs_publish_confirm_seconds From publishing an import's job to the "
         "broker's ack.\n# TYPE vecmesh_jobs_publish_confirm_seconds histogram\n";
  WriteHistogram(out, "vecmesh_jobs_publish_confirm_seconds", "", jobs.confirm_latency);
}

// The registration in Consul (API.md "Service discovery"), when an agent is configured.
void WriteConsul(std::ostringstream& out, const ConsulReport& consul) {
  out << "# HELP vecmesh_consul_registered 1 while the agent knows this instance's service.\n"
         "# TYPE vecmesh_consul_registered gauge\nvecmesh_consul_registered "
      << (consul.registered ? 1 : 0) << "\n";
  out << "# HELP vecmesh_consul_registrations_total Registrations of the service (the first, "
         "then again after the agent forgot it).\n"
         "# TYPE vecmesh_consul_registrations_total counter\nvecmesh_consul_registrations_total "
      << consul.registrations << "\n";
  out << "# HELP vecmesh_consul_sync_failures_total Syncs with the agent that failed (it could "
         "not be reached, or refused).\n"
         "# TYPE vecmesh_consul_sync_failures_total counter\nvecmesh_consul_sync_failures_total "
      << consul.failed_syncs << "\n";
  if (consul.keys_from_kv) {
    out << "# HELP vecmesh_consul_kv_reloads_total Updates of the API keys in Consul KV: applied, "
           "or refused (malformed; the last good keys stay).\n"
           "# TYPE vecmesh_consul_kv_reloads_total counter\n"
           "vecmesh_consul_kv_reloads_total{result=\"applied\"} "
        << consul.kv_applied << "\nvecmesh_consul_kv_reloads_total{result=\"refused\"} "
        << consul.kv_refused << "\n";
  }
}

}  // namespace

void Metrics::Record(std::string_view transport, std::string_view operation, std::string_view code,
                     double seconds) {
  engine::LatencyHistogram* histogram;
  {
    std::lock_guard lock(mu_);
    ++requests_[{std::string(transport), std::string(operation), std::string(code)}];
    auto& slot = latency_[{std::string(transport), std::string(operation)}];
    if (!slot) slot = std::make_unique<engine::LatencyHistogram>();
    histogram = slot.get();  // never removed: the pointer stays valid
  }
  histogram->Record(seconds);
}

std::string Metrics::Render(const Service& service) const {
  std::ostringstream out;
  out << "# HELP vecmesh_up Whether vecmeshd is serving (0 while recovering or shutting down).\n"
         "# TYPE vecmesh_up gauge\n"
      << "vecmesh_up " << (service.State() == "healthy" ? 1 : 0) << "\n";
  {
    std::lock_guard lock(mu_);
    out << "# HELP vecmesh_requests_total Requests by transport, operation and status code.\n"
           "# TYPE vecmesh_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      const auto& [transport, operation, code] = key;
      out << "vecmesh_requests_total{transport=\"" << transport << "\",operation=\"" << operation
          << "\",code=\"" << code << "\"} " << count << "\n";
    }
    out << "# HELP vecmesh_request_duration_seconds Request latency by transport and operation.\n"
           "# TYPE vecmesh_request_duration_seconds histogram\n";
    for (const auto& [key, histogram] : latency_) {
      WriteHistogram(out, "vecmesh_request_duration_seconds",
                     "transport=\"" + key.first + "\",operation=\"" + key.second + "\"",
                     histogram->Read());
    }
  }
  const auto collections = service.CollectionsForMetrics();
  out << "# HELP vecmesh_collections Collections held.\n# TYPE vecmesh_collections gauge\n"
      << "vecmesh_collections " << collections.size() << "\n";
  out << "# HELP vecmesh_collection_points Live points per collection.\n"
         "# TYPE vecmesh_collection_points gauge\n";
  for (const auto& c : collections) {
    out << "vecmesh_collection_points{collection=\"" << c.config.name << "\"} " << c.points << "\n";
  }
  out << "# HELP vecmesh_collection_indexed_points Points in each collection's approximate "
         "index.\n# TYPE vecmesh_collection_indexed_points gauge\n";
  for (const auto& c : collections) {
    out << "vecmesh_collection_indexed_points{collection=\"" << c.config.name << "\"} "
        << c.indexed_points << "\n";
  }
  out << "# HELP vecmesh_collection_index_state Index state per collection: 1 for the current "
         "state.\n# TYPE vecmesh_collection_index_state gauge\n";
  for (const auto& c : collections) {
    for (const char* state : {"ready", "indexing", "training", "read_only"}) {
      out << "vecmesh_collection_index_state{collection=\"" << c.config.name << "\",state=\""
          << state << "\"} " << (c.status == state ? 1 : 0) << "\n";
    }
  }
  out << "# HELP vecmesh_log_append_seconds Durable write-ahead log appends (write, fsync and "
         "group commit wait); the writes queued together for one collection share one.\n"
         "# TYPE vecmesh_log_append_seconds histogram\n";
  WriteHistogram(out, "vecmesh_log_append_seconds", "",
                 service.LogLatency().value_or(engine::LatencyHistogram::Counts{}));
  out << "# HELP vecmesh_import_jobs_pending Import jobs queued or running.\n"
         "# TYPE vecmesh_import_jobs_pending gauge\n"
      << "vecmesh_import_jobs_pending " << service.JobQueueDepth() << "\n";
  if (std::optional<JobsReport> jobs = service.Jobs()) WriteJobs(out, *jobs);
  if (std::optional<ConsulReport> consul = service.Consul()) WriteConsul(out, *consul);
  // Per remote backend: its calls (the adapter's HTTP client) and its deliveries.
  const auto backends = service.BackendsForMetrics();
  out << "# HELP vecmesh_backend_requests_total Calls to each remote backend (attempts).\n"
         "# TYPE vecmesh_backend_requests_total counter\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_requests_total{backend=\"" << b.name << "\"} " << b.calls.requests
        << "\n";
  }
  out << "# HELP vecmesh_backend_errors_total Failed calls to each remote backend, by kind "
         "(transport: no answer; http: 5xx or 429; breaker: refused while open).\n"
         "# TYPE vecmesh_backend_errors_total counter\n";
  for (const auto& b : backends) {
    const std::string l = "vecmesh_backend_errors_total{backend=\"" + b.name + "\",kind=\"";
    out << l << "transport\"} " << b.calls.transport_errors << "\n"
        << l << "http\"} " << b.calls.http_errors << "\n"
        << l << "breaker\"} " << b.calls.breaker_rejections << "\n";
  }
  out << "# HELP vecmesh_backend_retries_total Retried calls to each remote backend.\n"
         "# TYPE vecmesh_backend_retries_total counter\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_retries_total{backend=\"" << b.name << "\"} " << b.calls.retries
        << "\n";
  }
  out << "# HELP vecmesh_backend_request_duration_seconds Latency of calls to each remote "
         "backend.\n# TYPE vecmesh_backend_request_duration_seconds histogram\n";
  for (const auto& b : backends) {
    WriteHistogram(out, "vecmesh_backend_request_duration_seconds", "backend=\"" + b.name + "\"",
                   b.calls.latency);
  }
  out << "# HELP vecmesh_backend_breaker_state Each remote backend's circuit breaker: 1 for its "
         "current state.\n# TYPE vecmesh_backend_breaker_state gauge\n";
  for (const auto& b : backends) {
    for (const char* state : {"closed", "open", "half_open"}) {
      out << "vecmesh_backend_breaker_state{backend=\"" << b.name << "\",state=\"" << state
          << "\"} " << (b.calls.breaker == state ? 1 : 0) << "\n";
    }
  }
  out << "# HELP vecmesh_consul_discovered_instances Passing instances of a backend's Consul "
         "service (consul://SERVICE) that requests are spread over.\n"
         "# TYPE vecmesh_consul_discovered_instances gauge\n";
  for (const auto& b : backends) {
    if (b.calls.discovered_service.empty()) continue;
    out << "vecmesh_consul_discovered_instances{backend=\"" << b.name << "\",service=\""
        << b.calls.discovered_service << "\"} " << b.calls.instances.size() << "\n";
  }
  out << "# HELP vecmesh_backend_instance_requests_total Requests to each instance of a backend "
         "found in Consul.\n# TYPE vecmesh_backend_instance_requests_total counter\n";
  for (const auto& b : backends) {
    for (const auto& i : b.calls.instances) {
      out << "vecmesh_backend_instance_requests_total{backend=\"" << b.name << "\",instance=\""
          << i.address << "\"} " << i.requests << "\n";
    }
  }
  out << "# HELP vecmesh_backend_pending_deliveries Writes durable here and not yet applied to "
         "each remote backend.\n# TYPE vecmesh_backend_pending_deliveries gauge\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_pending_deliveries{backend=\"" << b.name << "\"} " << b.delivery.pending
        << "\n";
  }
  out << "# HELP vecmesh_backend_delivered_total Operations applied to each remote backend.\n"
         "# TYPE vecmesh_backend_delivered_total counter\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_delivered_total{backend=\"" << b.name << "\"} " << b.delivery.delivered
        << "\n";
  }
  out << "# HELP vecmesh_backend_delivery_failures_total Deliveries to each remote backend that "
         "failed (then retried, or failing their collection).\n"
         "# TYPE vecmesh_backend_delivery_failures_total counter\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_delivery_failures_total{backend=\"" << b.name << "\"} "
        << b.delivery.failed_calls << "\n";
  }
  out << "# HELP vecmesh_backend_delivery_points_per_call Points in one upsert call to each "
         "remote backend now (halved after a call times out, grown back after calls succeed).\n"
         "# TYPE vecmesh_backend_delivery_points_per_call gauge\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_delivery_points_per_call{backend=\"" << b.name << "\"} "
        << b.delivery.points_per_call << "\n";
  }
  out << "# HELP vecmesh_backend_failed_collections Collections whose delivery to each remote "
         "backend stopped on a refusal.\n# TYPE vecmesh_backend_failed_collections gauge\n";
  for (const auto& b : backends) {
    out << "vecmesh_backend_failed_collections{backend=\"" << b.name << "\"} "
        << b.delivery.failed_collections << "\n";
  }
  // One series per CUDA device in use; none without one.
  const auto devices = engine::GpuDevices();
  out << "# HELP vecmesh_gpu_search_batches_total Search batches run on each GPU (concurrent "
         "searches of one index coalesce into one batch).\n"
         "# TYPE vecmesh_gpu_search_batches_total counter\n";
  for (const auto& d : devices) {
    out << "vecmesh_gpu_search_batches_total{device=\"" << d.device << "\"} " << d.search_batches
        << "\n";
  }
  out << "# HELP vecmesh_gpu_search_queries_total Queries searched on each GPU.\n"
         "# TYPE vecmesh_gpu_search_queries_total counter\n";
  for (const auto& d : devices) {
    out << "vecmesh_gpu_search_queries_total{device=\"" << d.device << "\"} " << d.queries << "\n";
  }
  out << "# HELP vecmesh_gpu_queue_depth Operations and searches waiting for each GPU.\n"
         "# TYPE vecmesh_gpu_queue_depth gauge\n";
  for (const auto& d : devices) {
    out << "vecmesh_gpu_queue_depth{device=\"" << d.device << "\"} " << d.waiting << "\n";
  }
  return out.str();
}

}  // namespace vecmesh::api
