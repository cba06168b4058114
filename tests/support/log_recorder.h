// Records what the engine logs, for tests that check a message reached the injected Logger.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/logger.h"

namespace vecmesh::testing {

// Thread-safe: the engine logs from its background threads.
class LogRecorder : public std::enable_shared_from_this<LogRecorder> {
 public:
  struct Line {
    std::string level;
    std::string message;
    nlohmann::json fields;
  };

  // The Logger to inject. It shares ownership of the recorder, so engine work that runs after
  // the test let go of it (a GPU worker's queued operations) still finds it alive.
  engine::Logger logger() {
    return [self = shared_from_this()](std::string_view level, std::string_view message,
                                       const nlohmann::json& fields) {
      std::lock_guard lock(self->mu_);
      self->lines_.push_back({std::string(level), std::string(message), fields});
    };
  }

  std::vector<Line> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;  // guards lines_
  std::vector<Line> lines_;
};

}  // namespace vecmesh::testing
