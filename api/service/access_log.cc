#include "api/service/access_log.h"

#include <cstdio>
#include <random>
#include <string>

#include "api/service/log.h"

namespace vecmesh::api {

namespace {

std::string NewRequestId() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random()));
  return id;
}

}  // namespace

std::string RequestIdOf(std::string_view given) {
  if (given.empty() || given.size() > 128) return NewRequestId();
  for (char c : given) {
    if (c < 0x21 || c > 0x7e) return NewRequestId();
  }
  return std::string(given);
}

void AccessLog::Write(const AccessEntry& entry) const {
  if (!enabled_) return;
  Log("info", "access",
      {{"request_id", std::string(entry.request_id)},
       {"transport", std::string(entry.transport)},
       {"route", std::string(entry.route)},
       {"status", entry.status},
       {"code", std::string(entry.code)},
       {"latency_ms", entry.seconds * 1e3},
       {"bytes_in", entry.bytes_in},
       {"bytes_out", entry.bytes_out}});
}

}  // namespace vecmesh::api
