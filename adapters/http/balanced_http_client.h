// BalancedHttpClient: spreads requests over the instances of one service (found in Consul:
// adapters/consul's BlockingWatch feeds SetInstances), each instance an HttpClient of its own,
// with its own connection pool and circuit breaker.
//
// - A request goes to the instance with the fewest requests outstanding (ties: the one used
//   least recently), among those not yet tried for it.
// - An instance whose calls fail is ejected by its own breaker: while it is open, the instance
//   refuses at once and the request goes on to the next; after the breaker's cooldown one probe
//   call goes through, as HttpClient's breaker rules say.
// - An idempotent request that got no answer from an instance (refused, reset, a timeout, its
//   breaker open) goes on to the next, kMaxInstancesPerRequest instances at most; with a
//   deadline, each try but the last gets half of the time left, so that a hung instance does not
//   use it all. A request that is not idempotent (it may have been processed) goes to one
//   instance only. An HTTP answer, whatever its status, is the answer.
// - SetInstances replaces the set: an instance that stays keeps its client (pool, breaker,
//   counters); one that goes is dropped once its requests in flight end, its counters kept in the
//   totals. With no instance, a request is Unavailable, naming the service.
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

class BalancedHttpClient : public HttpSender {
 public:
  // `name` names the service in messages ("consul://chromadb"); `options` are each instance's
  // (their max_attempts: the attempts on one instance).
  BalancedHttpClient(std::string name, HttpClientOptions options);

  void SetInstances(const std::vector<HttpEndpoint>& instances);

  engine::StatusOr<HttpResponse> Send(const engine::CallOptions& options,
                                      const HttpRequest& request) override;
  // The instances' counters summed, of those known now; `breaker` closed while any instance's
  // is, half_open while any is, else open (no instance: open); `instances` one by one.
  HttpStats stats() const override;

 private:
  struct Instance {
    explicit Instance(const HttpEndpoint& endpoint, const HttpClientOptions& options)
        : client(endpoint, options), name(endpoint.ToString()) {}
    HttpClient client;
    const std::string name;
    int outstanding = 0;     // guarded by mu_
    uint64_t last_used = 0;  // guarded by mu_: the pick's sequence number
  };

  // The instance for the next attempt, not one of `tried`; null when none is left.
  std::shared_ptr<Instance> Pick(const std::vector<std::shared_ptr<Instance>>& tried);

  static constexpr size_t kMaxInstancesPerRequest = 3;

  const std::string name_;
  const HttpClientOptions options_;

  mutable std::mutex mu_;  // guards what follows and the instances' outstanding, last_used
  std::map<std::string, std::shared_ptr<Instance>> instances_;  // by name
  HttpStats retired_;  // the counters of the instances that went
  uint64_t picks_ = 0;
};

}  // namespace vecmesh::adapters
