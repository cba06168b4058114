// What the vecmesh command line prints: readable tables by default, API.md's JSON with --json,
// and one way to report a call that did not succeed, with the exit codes scripts rely on.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "api/cli/connection.h"

namespace vecmesh::cli {

// The command line's exit codes.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,        // the command line is not one vecmesh understands
  kExitRefused = 2,      // the server answered with an error (its code and message printed)
  kExitUnreachable = 3,  // no answer: the server could not be reached, or did not answer in time
};

// Columns padded to their widest cell, two spaces apart; the first row is the header.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// A JSON value as a table cell: strings without their quotes, null as "-".
std::string Cell(const nlohmann::json& value);

// A JSON value on one line; bytes that are not UTF-8 become U+FFFD rather than an exception.
std::string Dump(const nlohmann::json& value);

// Reports a reply that is not kOk: "vecmesh: CODE: message" (refused) or "vecmesh: unreachable:
// why" on `err`, and with --json its error object on `out` too. The exit code for it.
int ReportFailure(const Reply& reply, bool json_output, std::ostream& out, std::ostream& err);

// A usage error: "vecmesh: `message` (vecmesh --help)" on `err`. kExitUsage.
int ReportUsage(std::ostream& err, const std::string& message);

// A command's answer: with --json the reply's body as one line of JSON, else `print(body)`; a
// reply that is not kOk reported (ReportFailure). The exit code.
template <typename Print>
int Answer(const Reply& reply, bool json_output, std::ostream& out, std::ostream& err,
           Print print) {
  if (reply.outcome != Reply::Outcome::kOk) return ReportFailure(reply, json_output, out, err);
  if (json_output) {
    out << Dump(reply.body) << '\n';
  } else {
    print(reply.body);
  }
  return kExitOk;
}

}  // namespace vecmesh::cli
