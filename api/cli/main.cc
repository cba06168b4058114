// vecmesh: the command line of vecmeshd (README "The vecmesh command line").
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "api/cli/command_line.h"
#include "api/cli/commands.h"
#include "api/cli/output.h"

int main(int argc, char** argv) {
  using namespace vecmesh::cli;
  auto line = ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc),
                               [](const char* name) -> const char* { return std::getenv(name); });
  if (!line.ok()) {
    std::cerr << "vecmesh: " << line.status().message() << " (vecmesh --help)\n";
    return kExitUsage;
  }
  if (line->help) {
    std::cout << kUsage;
    return kExitOk;
  }
  auto connection = Connection::Open(line->connection);
  if (!connection.ok()) {
    std::cerr << "vecmesh: " << connection.status().message() << " (vecmesh --help)\n";
    return kExitUsage;
  }
  try {
    return RunCommand(*line, **connection, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
  } catch (const nlohmann::json::exception& e) {
    // An answer of another shape than API.md's (a server of another version, a proxy's page):
    // the server's fault, said as such rather than a crash.
    std::cerr << "vecmesh: the server's answer is not what API.md says: " << e.what() << '\n';
    return kExitRefused;
  } catch (const std::exception& e) {
    // A number in an answer beyond what it can be (a limit in a refusal, say): the same.
    std::cerr << "vecmesh: the server's answer could not be read: " << e.what() << '\n';
    return kExitRefused;
  }
}
