// Structured logs: one JSON object per line on stdout, with a timestamp, a level and a message,
// plus fields (a request id where there is one). Safe from any thread: each line is written
// whole by one fwrite.
#pragma once

#include <nlohmann/json.hpp>

namespace vecmesh::api {

void Log(const char* level, const char* message, nlohmann::json fields = nlohmann::json::object());

}  // namespace vecmesh::api
