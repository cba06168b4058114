#include "adapters/consul/consul_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

namespace vecmesh::adapters {

using engine::Status;
using engine::StatusOr;

StatusOr<HttpEndpoint> ParseConsulAddress(const std::string& address) {
  const bool has_scheme = address.find("://") != std::string::npos;
  auto endpoint = ParseHttpUrl(has_scheme ? address : "http://" + address);
  if (!endpoint.ok() || !endpoint->base_path.empty()) {
    return Status::InvalidArgument(
        "the Consul agent's address '" + address +
        "' is not host:port, http://host:port or https://host:port (as CONSUL_HTTP_ADDR takes "
        "it; unix sockets are not supported)");
  }
  return endpoint;
}

namespace {

// `text` decoded from base64 (RFC 4648, padded, as Consul writes KV values); nullopt if it is not.
std::optional<std::string> DecodeBase64(std::string_view text) {
  const auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    uint32_t bits = 0;
    for (size_t j = 0; j < 4; ++j) {
      const int v = j >= 4 - static_cast<size_t>(pad) ? 0 : sextet(text[i + j]);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<uint32_t>(v);
    }
    out += static_cast<char>(bits >> 16);
    if (pad < 2) out += static_cast<char>((bits >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(bits & 0xff);
  }
  return out;
}

}  // namespace

StatusOr<std::vector<KvEntry>> ParseKvEntries(const std::string& body) {
  const auto refuse = [](const std::string& why) {
    return Status::Internal("consul's KV answer is not an array of entries: " + why);
  };
  const nlohmann::json entries = nlohmann::json::parse(body, nullptr, false);
  if (!entries.is_array()) return refuse("not a JSON array");
  std::vector<KvEntry> out;
  for (const nlohmann::json& e : entries) {
    if (!e.is_object() || !e.contains("Key") || !e["Key"].is_string()) return refuse("no Key");
    KvEntry entry;
    entry.key = e["Key"].get<std::string>();
    if (e.contains("ModifyIndex") && e["ModifyIndex"].is_number_unsigned()) {
      entry.modify_index = e["ModifyIndex"].get<uint64_t>();
    }
    // A null Value: an entry without one (a "folder" the UI made).
    if (e.contains("Value") && e["Value"].is_string()) {
      auto value = DecodeBase64(e["Value"].get<std::string>());
      if (!value) return refuse("the Value of " + entry.key + " is not base64");
      entry.value = std::move(*value);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

StatusOr<std::vector<HttpEndpoint>> ParseServiceInstances(const std::string& body, bool tls) {
  const auto refuse = [](const std::string& why) {
    return Status::Internal("consul's health answer is not an array of service entries: " + why);
  };
  const nlohmann::json entries = nlohmann::json::parse(body, nullptr, false);
  if (!entries.is_array()) return refuse("not a JSON array");
  std::vector<HttpEndpoint> out;
  for (const nlohmann::json& e : entries) {
    if (!e.is_object() || !e.contains("Service") || !e["Service"].is_object()) {
      return refuse("an entry without Service");
    }
    const nlohmann::json& service = e["Service"];
    std::string address = service.value("Address", "");
    if (address.empty() && e.contains("Node") && e["Node"].is_object()) {
      address = e["Node"].value("Address", "");
    }
    const int port = service.contains("Port") && service["Port"].is_number_integer()
                         ? service["Port"].get<int>()
                         : 0;
    if (address.empty() || port <= 0 || port > 65535) {
      return refuse("an entry without an address and a port");
    }
    const bool ipv6 = address.find(':') != std::string::npos;
    auto endpoint =
        ParseHttpUrl(std::string(tls ? "https://" : "http://") +
                     (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port));
    if (!endpoint.ok()) return refuse(endpoint.status().message());
    out.push_back(std::move(*endpoint));
  }
  return out;
}

StatusOr<std::string> LocalAddressToward(const HttpEndpoint& agent) {
  const auto fail = [&agent](const std::string& why) {
    return Status::Unavailable("finding the local address toward the Consul agent " +
                               agent.ToString() + " failed: " + why + " (give --advertise-host)");
  };
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int resolved =
      getaddrinfo(agent.host.c_str(), std::to_string(agent.port).c_str(), &hints, &found);
  if (resolved != 0) return fail(gai_strerror(resolved));
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t size = sizeof(local);
    char text[INET6_ADDRSTRLEN] = {};
    const bool ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
                    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0 &&
                    getnameinfo(reinterpret_cast<sockaddr*>(&local), size, text, sizeof(text),
                                nullptr, 0, NI_NUMERICHOST) == 0;
    if (!ok) why = std::strerror(errno);
    close(fd);
    if (ok) {
      freeaddrinfo(found);
      return std::string(text);
    }
  }
  freeaddrinfo(found);
  return fail(why);
}

StatusOr<std::unique_ptr<ConsulClient>> ConsulClient::Create(ConsulOptions options) {
  auto endpoint = ParseConsulAddress(options.address);
  if (!endpoint.ok()) return endpoint.status();
  return std::unique_ptr<ConsulClient>(new ConsulClient(std::move(*endpoint), std::move(options)));
}

ConsulClient::ConsulClient(HttpEndpoint endpoint, ConsulOptions options)
    : token_(std::move(options.token)), http_(std::move(endpoint), std::move(options.http)) {}

StatusOr<HttpResponse> ConsulClient::Send(const engine::CallOptions& options, HttpMethod method,
                                          const std::string& target, std::string body,
                                          bool idempotent) {
  HttpRequest request;
  request.method = method;
  request.target = target;
  request.body = std::move(body);
  request.idempotent = idempotent;
  if (!token_.empty()) request.headers.emplace_back("X-Consul-Token", token_);
  auto response = http_.Send(options, request);
  if (!response.ok()) return response.status().WithContext("consul");
  return response;
}

Status ConsulClient::ErrorOf(const HttpResponse& response, const std::string& target) const {
  const int status = response.status;
  if (status >= 200 && status < 300) return Status::Ok();
  std::string message = "consul at " + endpoint().ToString() + " answered " + target +
                        " with HTTP " + std::to_string(status);
  if (!response.body.empty()) message += ": " + response.body.substr(0, 512);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  if (status == 400) return Status::InvalidArgument(message);
  if (status == 401 || status == 403) {
    return Status::PermissionDenied(message + " (check the token: CONSUL_HTTP_TOKEN)");
  }
  if (status == 404) return Status::NotFound(message);
  if (status >= 500 || status == 429) return Status::Unavailable(message);
  return Status::Internal(message);
}

StatusOr<HttpResponse> ConsulClient::Call(const engine::CallOptions& options, HttpMethod method,
                                          const std::string& target, std::string body,
                                          bool idempotent) {
  auto response = Send(options, method, target, std::move(body), idempotent);
  if (!response.ok()) return response.status();
  if (Status error = ErrorOf(*response, target); !error.ok()) return error;
  return response;
}

Status ConsulClient::RegisterService(const engine::CallOptions& options,
                                     const nlohmann::json& registration) {
  auto answer =
      Call(options, HttpMethod::kPut, "/v1/agent/service/register", registration.dump(), true);
  return answer.ok() ? Status::Ok() : answer.status();
}

Status ConsulClient::DeregisterService(const engine::CallOptions& options, const std::string& id) {
  auto answer = Call(options, HttpMethod::kPut, "/v1/agent/service/deregister/" + PercentEncode(id),
                     "", true);
  return answer.ok() ? Status::Ok() : answer.status();
}

StatusOr<bool> ConsulClient::KnowsService(const engine::CallOptions& options,
                                          const std::string& id) {
  auto answer = Call(options, HttpMethod::kGet, "/v1/agent/service/" + PercentEncode(id), "", true);
  if (answer.ok()) return true;
  if (answer.status().code() == engine::StatusCode::kNotFound) return false;
  return answer.status();
}

StatusOr<BlockingAnswer> ConsulClient::BlockingGet(const engine::CallOptions& options,
                                                   const std::string& target, uint64_t index,
                                                   std::chrono::milliseconds wait) {
  std::string query = target;
  if (index > 0) {
    query += (query.find('?') == std::string::npos ? "?" : "&");
    query += "index=" + std::to_string(index) + "&wait=" + std::to_string(wait.count()) + "ms";
  }
  auto answer = Send(options, HttpMethod::kGet, query, "", true);
  if (!answer.ok()) return answer.status();
  BlockingAnswer out;
  // 404 is an answer too: nothing there (yet), with the index to wait from.
  out.found = answer->status != 404;
  if (out.found) {
    if (Status error = ErrorOf(*answer, target); !error.ok()) return error;
    out.body = std::move(answer->body);
  }
  if (const std::string* header = answer->Header("X-Consul-Index")) {
    try {
      out.index = std::stoull(*header);
    } catch (const std::exception&) {
      return Status::Internal("consul answered " + target + " with X-Consul-Index '" + *header +
                              "'");
    }
  }
  return out;
}

Status ConsulClient::UpdateTtl(const engine::CallOptions& options, const std::string& check_id,
                               TtlState state, const std::string& note) {
  const char* verb = state == TtlState::kPass ? "pass" : state == TtlState::kWarn ? "warn" : "fail";
  std::string target = "/v1/agent/check/" + std::string(verb) + "/" + PercentEncode(check_id);
  if (!note.empty()) target += "?note=" + PercentEncode(note);
  auto answer = Call(options, HttpMethod::kPut, std::move(target), "", true);
  return answer.ok() ? Status::Ok() : answer.status();
}

}  // namespace vecmesh::adapters
