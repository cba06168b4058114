// vecmeshd: the vecmesh daemon, REST and gRPC. main reads the configuration and runs the daemon
// (daemon.h: its parts start in order and stop in reverse), serving until SIGTERM or SIGINT;
// SIGHUP reloads the API keys file.
// Logs are JSON lines on stdout.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "api/daemon/config.h"
#include "api/daemon/daemon.h"
#include "api/service/log.h"

namespace {

// SIGTERM, SIGINT and SIGHUP write their number here; main waits on the other end. A handler, not a
// blocked signal and sigwait: threads that libraries start before main (OpenBLAS's pool) do not
// block the signal, and one of them may be the thread that receives it.
int signal_pipe[2] = {-1, -1};

extern "C" void OnSignal(int signal_number) {
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  const int saved = errno;
  [[maybe_unused]] ssize_t written = write(signal_pipe[1], &byte, 1);
  errno = saved;
}

// Blocks until SIGTERM, SIGINT or SIGHUP arrives; returns which.
int WaitForSignal() {
  unsigned char byte = 0;
  while (read(signal_pipe[0], &byte, 1) != 1) {
    if (errno != EINTR) return SIGTERM;
  }
  return byte;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vecmesh;
  // The write end does not block: a handler never waits (a full pipe already says "stop").
  if (pipe2(signal_pipe, O_CLOEXEC) != 0 || fcntl(signal_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
    std::perror("vecmeshd: pipe2");
    return 1;
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
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
  int signal_number;
  // SIGHUP reloads the API keys file; SIGTERM and SIGINT stop.
  while ((signal_number = WaitForSignal()) == SIGHUP) {
    api::Log("info", "reloading", {{"signal", "SIGHUP"}});
    daemon.ReloadKeys();
  }
  api::Log("info", "stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  daemon.Stop();
  api::Log("info", "stopped");
  return 0;
}
