// `vecmesh search`: one search, its results as a table or API.md's JSON.
#pragma once

#include <ostream>

#include "api/cli/command_line.h"
#include "api/cli/connection.h"

namespace vecmesh::cli {

int RunSearch(const CommandLine& line, Connection& connection, std::ostream& out,
              std::ostream& err);

}  // namespace vecmesh::cli
