#include "adapters/amqp/amqp_url.h"

#include <amqp.h>

#include <cctype>
#include <vector>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

namespace {

// The URL with its credentials (everything from the scheme to the last '@') masked, for a message
// about a URL that did not parse: a password may hold '/' or '@'.
std::string WithoutCredentials(const std::string& url) {
  const size_t at = url.rfind('@');
  if (at == std::string::npos) return url;
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos || scheme > at ? 0 : scheme + 3;
  return url.substr(0, start) + "****" + url.substr(at);
}

}  // namespace

std::string AmqpUrl::ToString() const {
  return std::string(tls ? "amqps://" : "amqp://") + user + "@" + host + ":" +
         std::to_string(port) + "/" + PercentEncode(vhost);
}

engine::StatusOr<AmqpUrl> ParseAmqpUrl(const std::string& url) {
  // amqp_parse_url decodes in place and points into the buffer it is given.
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK || info.host == nullptr ||
      info.host[0] == '\0' || info.port <= 0 || info.port > 65535) {
    std::string message = WithoutCredentials(url);
    message +=
        " is not an AMQP URL (amqp://user:password@host:port/vhost or amqps://...; the "
        "vhost \"/\" is %2F)";
    return engine::Status::InvalidArgument(std::move(message));
  }
  AmqpUrl out;
  out.tls = info.ssl != 0;
  out.host = info.host;
  out.port = static_cast<uint16_t>(info.port);
  out.user = info.user != nullptr ? info.user : "";
  out.password = info.password != nullptr ? info.password : "";
  out.vhost = info.vhost != nullptr ? info.vhost : "";
  return out;
}

}  // namespace vecmesh::adapters
