// The vecmesh command line's commands, over one Connection.
#pragma once

#include <iosfwd>

#include "api/cli/command_line.h"
#include "api/cli/connection.h"

namespace vecmesh::cli {

// Runs `line`'s command: its answer on `out`, failures and progress on `err` (a progress bar
// when `err_is_terminal`). The exit code (output.h).
int RunCommand(const CommandLine& line, Connection& connection, std::ostream& out,
               std::ostream& err, bool err_is_terminal);

}  // namespace vecmesh::cli
