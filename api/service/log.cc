#include "api/service/log.h"

#include <chrono>
#include <cstdio>

namespace vecmesh::api {

void Log(const char* level, const char* message, nlohmann::json fields) {
  if (!fields.is_object()) fields = {{"fields", std::move(fields)}};
  const auto now = std::chrono::system_clock::now();
  fields["ts"] = std::chrono::duration<double>(now.time_since_epoch()).count();
  fields["level"] = level;
  fields["msg"] = message;
  const std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace vecmesh::api
