// The service definition vecmeshd registers in Consul (API.md "Service discovery (Consul)"):
//
//   ID       faiss-ADVERTISED_HOST-REST_PORT (unique per instance on a node)
//   Name     faiss
//   Address  the advertised host; Port the REST port
//   Tags     vecmesh, rest, grpc
//   Meta     grpc_port, version
//   Checks   kAgentChecks: the agent calls GET /health on the REST port every check_interval
//            (timeout check_timeout) and grpc.health.v1 on the gRPC port every check_interval;
//            kTtl (for networks where the agent cannot reach the service): one TTL check of
//            ttl that vecmeshd itself passes or fails.
//            Each with DeregisterCriticalServiceAfter deregister_after (Consul's minimum is 1m).
//
// With TLS on the listeners, the HTTP check calls https:// and the gRPC check uses TLS; the agent
// must then trust the certificate's CA.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vecmesh::adapters {

enum class ConsulCheckMode { kAgentChecks, kTtl };

struct ServiceRegistration {
  std::string name = "faiss";
  std::string advertise_host;  // a DNS name, an IPv4 or an IPv6 address (without brackets)
  uint16_t rest_port = 0;
  uint16_t grpc_port = 0;
  std::string version;
  bool tls = false;
  ConsulCheckMode check_mode = ConsulCheckMode::kAgentChecks;
  std::chrono::milliseconds check_interval{10'000};
  std::chrono::milliseconds check_timeout{2'000};
  std::chrono::milliseconds ttl{30'000};
  std::chrono::milliseconds deregister_after{60'000};

  std::string ServiceId() const;   // faiss-HOST-PORT
  std::string TtlCheckId() const;  // kTtl: the check vecmeshd updates
  // Consul's service definition, as PUT /v1/agent/service/register takes it.
  nlohmann::json ToJson() const;
};

// A duration as Consul reads it (Go's time.ParseDuration): "10s", "1m", "1500ms".
std::string ConsulDuration(std::chrono::milliseconds duration);

}  // namespace vecmesh::adapters
