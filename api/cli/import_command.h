// `vecmesh import FILE --collection NAME`: a vector file written into a collection in batches,
// with a progress report, retries of transient failures, batches that shrink to the server's
// limits, --resume after an interruption, --via-jobs, and --skip-bad N bad .jsonl lines.
#pragma once

#include <ostream>

#include "api/cli/command_line.h"
#include "api/cli/connection.h"

namespace vecmesh::cli {

// The progress goes to `err` (a bar when it is a terminal, `err_is_terminal`), the summary to
// `out`. The exit code (output.h); a bad file or bad line is a usage error (1).
int RunImport(const CommandLine& line, Connection& connection, std::ostream& out, std::ostream& err,
              bool err_is_terminal);

}  // namespace vecmesh::cli
