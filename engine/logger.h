// How the engine reports what no caller is waiting to hear: a background index build that
// failed, a saved index that is unusable on recovery, a GPU failure answered exactly on the CPU.
// The engine never writes to stderr itself; it calls the Logger its owner injects (the daemon's
// writes into its JSON-lines log), and StderrLogger where none is injected.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

namespace vecmesh::engine {

// level: "info"; "warn": something failed and the engine works around it by itself (an index is
// rebuilt, a search answered exactly); "error": something failed that the engine does not
// repair by itself (an index build that failed is retried only after the next write).
// message: what happened, constant text; the particulars go in `fields` (a JSON object, e.g.
// {"collection": ..., "error": ...}).
//
// Called from any thread, concurrently, including the store's background threads and a GPU
// device's worker, which may run queued work of a collection after its store is gone: a Logger
// must stay callable for as long as the process may run engine work, and must not throw.
using Logger = std::function<void(std::string_view level, std::string_view message,
                                  const nlohmann::json& fields)>;

// Writes each message as one JSON object on one line of stderr, in the daemon's log shape:
// {"ts": seconds since the epoch, "level", "msg", ...fields}. Each line is one write.
Logger StderrLogger();

}  // namespace vecmesh::engine
