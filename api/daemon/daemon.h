// The composition root of vecmeshd: builds its parts from the configuration, starts them in
// order and stops them in reverse order, each stop within a bound.
//
// Start: first the REST and gRPC listeners open, answering 503 / NOT_SERVING (API.md: /health is
// 503 while recovering). Then the parts start in order:
//   1. store         the local store opens its data directory and replays its log;
//   2. router        the store router over the stores (faiss, and the remote backends with their
//                    deliverers), handed to the service layer;
//   3. job runner    import jobs: in process, or published to RabbitMQ;
//   4. keys          with --consul-keys-prefix, the API keys in Consul KV are followed;
//   5. transports    nothing more to start: the listeners are open;
//   6. registration  with a Consul agent, the service is registered (API.md "Service
//                    discovery") and kept registered;
//   7. serving       the service answers; gRPC health says SERVING;
//   8. job consumer  with a broker, the job queue is consumed.
// Stop (on SIGTERM or SIGINT) runs them backwards: the job consumer finishes the job in hand and
// stops; /health turns 503 and gRPC health NOT_SERVING; the service leaves Consul, so that the
// gateway stops sending before the listeners close; after --shutdown-drain-ms (0) more of
// serving, the transports stop accepting and finish what is in flight within --shutdown-grace-s,
// then the service stops serving (requests still queued answer UNAVAILABLE at once) and they
// close; the keys stop being followed; the running import job stops after the chunk it is
// writing; the service lets go of the router; the store closes with a checkpoint. A part that
// overruns its bound is logged and the process exits at once with status 1: every acknowledged
// write is in the write-ahead log, so nothing is lost.
//
// Thread safety: Start, Stop and the destructor are called from one thread (main).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/daemon/config.h"
#include "engine/status.h"

namespace vecmesh::api {

class Daemon {
 public:
  explicit Daemon(DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Opens the listeners, then starts every part in order. On a failure, stops the parts already
  // started (in reverse), closes the listeners and returns why.
  engine::Status Start();
  // Stops the started parts in reverse order. Idempotent.
  void Stop();
  // Reads the API keys file again (SIGHUP); a malformed one is logged and the last good keys
  // stay in force.
  void ReloadKeys();

 private:
  struct Part {
    std::string name;
    std::function<engine::Status()> start;
    std::function<void()> stop;
    std::chrono::milliseconds stop_bound;
  };
  // The parts, in start order; they use `state_`.
  std::vector<Part> Parts();
  void StopWithin(const Part& part);
  // Stops accepting, lets requests in flight finish within `grace`, stops the service serving,
  // then closes the listeners.
  void CloseListeners(std::chrono::milliseconds grace);

  struct State;
  std::unique_ptr<State> state_;
  std::vector<Part> parts_;
  size_t started_ = 0;  // parts_[0, started_) are running
};

}  // namespace vecmesh::api
