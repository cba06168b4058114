// vecmeshd: the vecmesh daemon, REST and gRPC. main reads the configuration and runs the daemon
// (daemon.h: its parts start in order and stop in reverse), serving until SIGTERM or SIGINT.
// Logs are JSON lines on stdout.
#include <pthread.h>
#include <signal.h>

#include <cstdio>

#include "api/daemon/config.h"
#include "api/daemon/daemon.h"
#include "api/service/log.h"

int main(int argc, char** argv) {
  using namespace vecmesh;
  // Every thread starts with SIGINT and SIGTERM blocked; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  bool help = false;
  auto config = api::LoadConfig(std::vector<std::string>(argv + 1, argv + argc), &help);
  if (help) {
    std::printf("%s", api::ConfigHelp().c_str());
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "vecmeshd: %s\n", config.status().ToString().c_str());
    return 2;
  }

  api::Daemon daemon(std::move(*config));
  if (!daemon.Start().ok()) return 1;  // the daemon logged why
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  api::Log("info", "stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  daemon.Stop();
  api::Log("info", "stopped");
  return 0;
}
