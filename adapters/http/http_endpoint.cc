// HttpEndpoint and the small names of http_client.h: no networking here.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "adapters/http/http_client.h"

namespace vecmesh::adapters {

namespace {

// Whether `host` is one of RFC 3986's reg-names or IPv4 addresses, as far as this client cares:
// letters, digits, '-', '.', '_' (no percent-encoding: nothing we call needs it).
bool IsHostName(std::string_view host) {
  if (host.empty()) return false;
  for (const char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

bool IsIpv6Literal(std::string_view host) {
  if (host.empty()) return false;
  for (const char c : host) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  }
  return host.find(':') != std::string_view::npos;
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

std::string HttpEndpoint::ToString() const {
  const bool bracket = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (bracket ? "[" + host + "]" : host) + ":" +
         std::to_string(port) + base_path;
}

engine::StatusOr<HttpEndpoint> ParseHttpUrl(const std::string& url) {
  const auto refuse = [&url](std::string_view why) {
    return engine::Status::InvalidArgument("URL '" + url + "': " + std::string(why));
  };
  HttpEndpoint endpoint;
  std::string_view rest = url;
  const auto has_scheme = [&rest](std::string_view scheme) {
    return rest.size() >= scheme.size() &&
           std::equal(scheme.begin(), scheme.end(), rest.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  };
  if (has_scheme("https://")) {
    endpoint.tls = true;
    rest.remove_prefix(8);
  } else if (has_scheme("http://")) {
    rest.remove_prefix(7);
  } else {
    return refuse("not an http:// or https:// URL");
  }
  for (const char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return refuse("has a space or a control character");
    }
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return refuse("a base URL has no query or fragment");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return refuse("user info is not supported");

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return refuse("an IPv6 address lacks its ']'");
    endpoint.host = std::string(authority.substr(1, close - 1));
    if (!IsIpv6Literal(endpoint.host)) return refuse("not an IPv6 address in brackets");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refuse("unexpected characters after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return refuse("an empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return refuse("an empty port");
    }
    if (endpoint.host.empty()) return refuse("no host");
    if (!IsHostName(endpoint.host)) return refuse("not a host name or address");
  }

  if (port.empty()) {
    endpoint.port = endpoint.tls ? 443 : 80;
  } else {
    unsigned value = 0;
    for (const char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port.size() > 5) {
        return refuse("the port is not a number from 1 to 65535");
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return refuse("the port is not a number from 1 to 65535");
    endpoint.port = static_cast<uint16_t>(value);
  }

  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  endpoint.base_path = std::string(path);
  return endpoint;
}

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

}  // namespace vecmesh::adapters
