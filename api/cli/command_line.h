// The vecmesh command line's arguments: the options every command shares (the server, the key,
// TLS, output), the command's words, and its own --flags, with the environment's defaults.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/cli/connection.h"
#include "engine/status.h"

namespace vecmesh::cli {

struct CommandLine {
  ConnectionOptions connection;
  bool json_output = false;
  bool help = false;
  std::vector<std::string> words;            // the command and its positional arguments
  std::map<std::string, std::string> flags;  // the command's own --name value, by name

  // The value of the command's --`name`, if given.
  std::optional<std::string> Flag(const std::string& name) const;
};

// Parses `args` (argv without the program's name). `env` looks up an environment variable
// (nullptr when unset). InvalidArgument naming the argument when the line cannot be read: a
// --flag without its value, a --rest with a grpc:// URL, an unreadable --api-key-file.
engine::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                               const char* (*env)(const char*));

// The flags `command` takes: InvalidArgument naming the first of `line.flags` not in `allowed`.
engine::Status CheckFlags(const CommandLine& line, const std::string& command,
                          const std::vector<std::string>& allowed);

// The whole number from 1 to 2^31 - 1 given to --`name` as `value`; InvalidArgument naming the
// flag and the range otherwise.
engine::StatusOr<int> PositiveNumber(const std::string& name, const std::string& value);

// `vecmesh --help`.
extern const char kUsage[];

}  // namespace vecmesh::cli
