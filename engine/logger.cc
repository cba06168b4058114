#include "engine/logger.h"

#include <chrono>
#include <cstdio>
#include <string>

namespace vecmesh::engine {

Logger StderrLogger() {
  return [](std::string_view level, std::string_view message, const nlohmann::json& fields) {
    nlohmann::json line = fields.is_object() ? fields : nlohmann::json::object();
    const auto now = std::chrono::system_clock::now();
    line["ts"] = std::chrono::duration<double>(now.time_since_epoch()).count();
    line["level"] = std::string(level);
    line["msg"] = std::string(message);
    // Invalid UTF-8 in a field (an id, an exception's text) is replaced, never thrown over.
    const std::string text =
        line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
  };
}

}  // namespace vecmesh::engine
