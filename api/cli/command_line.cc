#include "api/cli/command_line.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

namespace vecmesh::cli {
namespace {

constexpr char kDefaultGrpcUrl[] = "grpc://127.0.0.1:50051";
constexpr char kDefaultRestUrl[] = "http://127.0.0.1:8000";

bool IsRestUrl(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

// The key given as `key`, else the first line of `key_file` ("" when neither is given), its
// surrounding white space trimmed (a file written on Windows ends its line with \r).
// InvalidArgument when the file cannot be read or the key holds control characters, which no
// header or metadata can carry.
engine::StatusOr<std::string> ApiKey(std::string key, const std::string& key_file) {
  std::string from = "--api-key";
  if (key.empty() && !key_file.empty()) {
    std::ifstream in(key_file);
    if (!in || !std::getline(in, key)) {
      return engine::Status::InvalidArgument("--api-key-file '" + key_file + "' cannot be read");
    }
    if (key.find_first_not_of(" \t\r") == std::string::npos) {
      return engine::Status::InvalidArgument("--api-key-file '" + key_file +
                                             "': its first line is empty");
    }
    from = "--api-key-file '" + key_file + "'";
  }
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!key.empty() && space(key.back())) key.pop_back();
  key.erase(key.begin(), std::find_if_not(key.begin(), key.end(), space));
  if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return engine::Status::InvalidArgument(from + ": the key holds a control character");
  }
  return key;
}

}  // namespace

const char kUsage[] = R"(usage: vecmesh [OPTIONS] COMMAND [ARGS]

Talks to a vecmeshd over gRPC (the default) or REST (--rest, or an http(s):// URL).

Commands:
  health                              the server's health (REST: /health/deep's report)
  collections list                    every collection
  collections info NAME               one collection
  collections create NAME --dimension N [--metric l2|ip|cosine] [--index TYPE]
        [--m N] [--ef-construction N] [--ef-search N] [--nlist N] [--nprobe N] [--nbits N]
        [--backends faiss,chroma,qdrant]
  collections drop NAME
  import FILE --collection NAME [--ids FILE.ivecs] [--batch N] [--resume] [--via-jobs]
        [--skip-bad N]     FILE: .fvecs, .bvecs, .npy (float32 or float16), .jsonl
  search --collection NAME (--vector JSON | --from FILE --row N) [-k N] [--filter JSON]
        [--store STORE] [--ef-search N] [--nprobe N]
        --from: a file import reads (.fvecs .bvecs .npy .jsonl); --row 0 is its first record
  jobs status JOB_ID
  snapshots create --collection NAME
  snapshots list --collection NAME
  snapshots download --collection NAME SNAPSHOT [--output FILE]   (REST only)
  snapshots restore --collection NAME SNAPSHOT
  snapshots upload --collection NAME FILE

Options (each also from its environment variable):
  --url URL            (VECMESH_URL) grpc://HOST:PORT, grpcs://HOST:PORT (TLS), http://HOST:PORT
                       or https://HOST:PORT; default grpc://127.0.0.1:50051, or
                       http://127.0.0.1:8000 with --rest
  --rest               talk REST
  --api-key KEY        (VECMESH_API_KEY) the key for a server that has keys
  --api-key-file FILE  (VECMESH_API_KEY_FILE) a file whose first line is the key
  --tls-ca-file FILE   (VECMESH_TLS_CA_FILE) PEM CAs that sign the server's certificate, for
                       grpcs:// and https://; default: the system's
  --timeout-ms N       (VECMESH_TIMEOUT_MS) the deadline of each call, default 30000
  --json               print API.md's JSON instead of tables (errors too, as {"error": ...})
  --help               this text

Exit codes: 0 ok; 1 usage; 2 the server refused (its code and message printed); 3 the server
could not be reached.
)";

std::optional<std::string> CommandLine::Flag(const std::string& name) const {
  auto it = flags.find(name);
  if (it == flags.end()) return std::nullopt;
  return it->second;
}

engine::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                               const char* (*env)(const char*)) {
  CommandLine line;
  auto from_env = [&](const char* name) -> std::string {
    const char* value = env(name);
    return value == nullptr ? "" : value;
  };
  std::string url = from_env("VECMESH_URL");
  std::string env_key = from_env("VECMESH_API_KEY");
  std::string env_key_file = from_env("VECMESH_API_KEY_FILE");
  std::string flag_key, flag_key_file;
  std::string timeout = from_env("VECMESH_TIMEOUT_MS");
  line.connection.ca_file = from_env("VECMESH_TLS_CA_FILE");
  bool rest = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--rest") {
      rest = true;
    } else if (arg == "--json") {
      line.json_output = true;
    } else if (arg == "--help" || arg == "-h") {
      line.help = true;
    } else if (arg == "--resume" || arg == "--via-jobs") {
      line.flags[arg.substr(2)] = "true";  // a command's switches: no value
    } else if (arg.rfind("--", 0) == 0 || arg == "-k") {
      if (i + 1 == args.size()) {
        return engine::Status::InvalidArgument(arg + " needs a value");
      }
      const std::string& value = args[++i];
      if (arg == "--url") {
        url = value;
      } else if (arg == "--api-key") {
        flag_key = value;
      } else if (arg == "--api-key-file") {
        flag_key_file = value;
      } else if (arg == "--tls-ca-file") {
        line.connection.ca_file = value;
      } else if (arg == "--timeout-ms") {
        timeout = value;
      } else {
        line.flags[arg == "-k" ? "k" : arg.substr(2)] = value;
      }
    } else {
      line.words.push_back(arg);
    }
  }
  if (url.empty()) url = rest ? kDefaultRestUrl : kDefaultGrpcUrl;
  if (rest && !IsRestUrl(url)) {
    return engine::Status::InvalidArgument("--rest needs an http:// or https:// URL, not '" + url +
                                           "'");
  }
  line.connection.url = url;
  // The command line before the environment; a key before a key file.
  auto key = ApiKey(flag_key, flag_key_file);
  if (key.ok() && key->empty()) key = ApiKey(env_key, env_key_file);
  if (!key.ok()) return key.status();
  line.connection.api_key = std::move(*key);
  if (const std::string& ca = line.connection.ca_file;
      !ca.empty() && (!std::filesystem::is_regular_file(ca) || !std::ifstream(ca))) {
    return engine::Status::InvalidArgument("the CA file '" + ca +
                                           "' (--tls-ca-file, VECMESH_TLS_CA_FILE) cannot be read");
  }
  if (!timeout.empty()) {
    auto ms = PositiveNumber("timeout-ms", timeout);
    if (!ms.ok()) return ms.status();
    line.connection.timeout_ms = *ms;
  }
  return line;
}

engine::StatusOr<int> PositiveNumber(const std::string& name, const std::string& value) {
  const bool digits =
      !value.empty() && value.size() <= 10 &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoll(value) < 1 || std::stoll(value) > 2147483647) {
    return engine::Status::InvalidArgument("--" + name + " is '" + value +
                                           "': a whole number from 1 to 2147483647");
  }
  return static_cast<int>(std::stoll(value));
}

engine::Status CheckFlags(const CommandLine& line, const std::string& command,
                          const std::vector<std::string>& allowed) {
  for (const auto& [name, value] : line.flags) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return engine::Status::InvalidArgument("--" + name + " is not an option of '" + command +
                                             "'");
    }
  }
  return engine::Status::Ok();
}

}  // namespace vecmesh::cli
