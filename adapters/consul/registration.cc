#include "adapters/consul/registration.h"

namespace vecmesh::adapters {

using json = nlohmann::json;

std::string ConsulDuration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

std::string ServiceRegistration::ServiceId() const {
  return name + "-" + advertise_host + "-" + std::to_string(rest_port);
}

std::string ServiceRegistration::TtlCheckId() const { return ServiceId() + ":ttl"; }

json ServiceRegistration::ToJson() const {
  // An IPv6 address goes in brackets in a URL and before a port.
  const bool ipv6 = advertise_host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + advertise_host + "]" : advertise_host;
  const std::string id = ServiceId();
  json checks = json::array();
  if (check_mode == ConsulCheckMode::kTtl) {
    checks.push_back({{"CheckID", TtlCheckId()},
                      {"Name", "vecmeshd reports its /health"},
                      {"TTL", ConsulDuration(ttl)},
                      {"DeregisterCriticalServiceAfter", ConsulDuration(deregister_after)}});
  } else {
    checks.push_back({{"CheckID", id + ":http"},
                      {"Name", "vecmeshd REST /health"},
                      {"HTTP", std::string(tls ? "https://" : "http://") + host + ":" +
                                   std::to_string(rest_port) + "/health"},
                      {"Method", "GET"},
                      {"Interval", ConsulDuration(check_interval)},
                      {"Timeout", ConsulDuration(check_timeout)},
                      {"DeregisterCriticalServiceAfter", ConsulDuration(deregister_after)}});
    checks.push_back({{"CheckID", id + ":grpc"},
                      {"Name", "vecmeshd gRPC health"},
                      {"GRPC", host + ":" + std::to_string(grpc_port)},
                      {"GRPCUseTLS", tls},
                      {"Interval", ConsulDuration(check_interval)},
                      {"Timeout", ConsulDuration(check_timeout)},
                      {"DeregisterCriticalServiceAfter", ConsulDuration(deregister_after)}});
  }
  return {{"ID", id},
          {"Name", name},
          {"Address", advertise_host},
          {"Port", rest_port},
          {"Tags", {"vecmesh", "rest", "grpc"}},
          {"Meta", {{"grpc_port", std::to_string(grpc_port)}, {"version", version}}},
          {"Checks", checks}};
}

}  // namespace vecmesh::adapters
