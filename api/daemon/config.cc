#include "api/daemon/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>

#include "adapters/amqp/amqp_url.h"
#include "adapters/consul/consul_client.h"
#include "engine/index/gpu_index.h"

namespace vecmesh::api {
namespace {

using engine::Status;

struct Option {
  std::string name;  // flag without the dashes; file key; env VECMESH_ + upper snake case
  std::string help;
  std::function<std::string(const DaemonConfig&)> show;
  std::function<Status(DaemonConfig&, const std::string&)> set;
};

std::string EnvName(const std::string& name) {
  std::string env = "VECMESH_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

template <typename T>
Status ParseNumber(const std::string& name, const std::string& text, T min, T max, T* out) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size() || v < static_cast<long long>(min) || v > static_cast<long long>(max)) {
      throw std::out_of_range(name);
    }
    *out = static_cast<T>(v);
    return Status::Ok();
  } catch (const std::exception&) {
    return Status::InvalidArgument("--" + name + " must be an integer in [" + std::to_string(min) +
                                   ", " + std::to_string(max) + "], got '" + text + "'");
  }
}

template <typename T>
Option Number(std::string name, std::string help, T DaemonConfig::*field, T min, T max) {
  return {name, std::move(help),
          [field](const DaemonConfig& c) { return std::to_string(c.*field); },
          [name, field, min, max](DaemonConfig& c, const std::string& v) {
            return ParseNumber(name, v, min, max, &(c.*field));
          }};
}
template <typename T>
Option Limit(std::string name, std::string help, T engine::Limits::*field, T min, T max) {
  return {name, std::move(help),
          [field](const DaemonConfig& c) { return std::to_string(c.limits.*field); },
          [name, field, min, max](DaemonConfig& c, const std::string& v) {
            return ParseNumber(name, v, min, max, &(c.limits.*field));
          }};
}
Option Text(std::string name, std::string help, std::string DaemonConfig::*field) {
  return {name, std::move(help), [field](const DaemonConfig& c) { return c.*field; },
          [field](DaemonConfig& c, const std::string& v) {
            c.*field = v;
            return Status::Ok();
          }};
}
Option Flag(std::string name, std::string help, bool DaemonConfig::*field) {
  return {
      name, std::move(help),
      [field](const DaemonConfig& c) { return std::string(c.*field ? "true" : "false"); },
      [name, field](DaemonConfig& c, const std::string& v) {
        if (v != "true" && v != "false") {
          return Status::InvalidArgument("--" + name + " must be true or false, got '" + v + "'");
        }
        c.*field = v == "true";
        return Status::Ok();
      }};
}

const std::vector<Option>& Options() {
  static const std::vector<Option> options = {
      Text("host", "address to listen on", &DaemonConfig::host),
      Number("rest-port", "REST port (0: any free port; the bound port is printed)",
             &DaemonConfig::rest_port, 0, 65535),
      Number("grpc-port", "gRPC port (0: any free port; the bound port is printed)",
             &DaemonConfig::grpc_port, 0, 65535),
      Text("data-dir", "data directory (write-ahead log, checkpoints, snapshots)",
           &DaemonConfig::data_dir),
      Text("config", "config file of 'name = value' lines, names as these flags",
           &DaemonConfig::config_file),
      Text("api-keys-file",
           "file of 'ROLE KEY' lines (read_only, read_write, admin); keys may also come from "
           "VECMESH_ADMIN_KEYS, VECMESH_READ_WRITE_KEYS, VECMESH_READ_ONLY_KEYS (comma-separated). "
           "No keys: authentication is off",
           &DaemonConfig::api_keys_file),
      Text("tls-cert-file",
           "PEM certificate chain: with --tls-key-file, REST is HTTPS and gRPC is TLS only",
           &DaemonConfig::tls_cert_file),
      Text("tls-key-file", "PEM private key of --tls-cert-file", &DaemonConfig::tls_key_file),
      Number("max-body-bytes",
             "largest request body (REST: 413 beyond) or gRPC message (RESOURCE_EXHAUSTED)",
             &DaemonConfig::max_body_bytes, size_t{1024}, size_t{1} << 34),
      Number("max-upload-bytes", "largest snapshot upload", &DaemonConfig::max_upload_bytes,
             size_t{1024}, size_t{1} << 40),
      Number("io-threads", "REST I/O threads (they never search)", &DaemonConfig::io_threads, 1,
             64),
      Number("workers", "request worker threads (0: one per core)", &DaemonConfig::workers, 0,
             1024),
      Number("max-queued-requests", "requests waiting for a worker before 429",
             &DaemonConfig::max_queued_requests, size_t{1}, size_t{1} << 20),
      Number("max-connections", "open REST connections; more are closed as they arrive",
             &DaemonConfig::max_connections, size_t{1}, size_t{1} << 20),
      Number("search-threads", "OpenMP threads per search batch (0: one per core)",
             &DaemonConfig::search_threads, 0, 1024),
      Number("read-timeout-s", "deadline to read a request once it starts",
             &DaemonConfig::read_timeout_s, 1, 3600),
      Number("idle-timeout-s", "idle keep-alive connections close after this",
             &DaemonConfig::idle_timeout_s, 1, 3600),
      Number("shutdown-grace-s", "on SIGTERM/SIGINT, how long requests in flight may finish",
             &DaemonConfig::shutdown_grace_s, 0, 3600),
      Number("shutdown-drain-ms",
             "on SIGTERM/SIGINT, once /health answers 503 and the service left Consul, how long "
             "the listeners still take requests (a gateway or a client that resolved this instance "
             "stops sending meanwhile) before they close",
             &DaemonConfig::shutdown_drain_ms, 0, 600'000),
      Number("wal-sync-interval-ms",
             "0: fsync every write before answering (default); N: fsync every N ms "
             "(a power loss can take the last N ms of writes)",
             &DaemonConfig::wal_sync_interval_ms, 0, 60'000),
      Number("checkpoint-interval-s", "a background checkpoint this long after the last one",
             &DaemonConfig::checkpoint_interval_s, 1, 86'400),
      Flag("truncate-corrupt-log",
           "true: cut a corrupt log at the corruption and start (what followed is lost); "
           "false: refuse to start, naming the file and offset",
           &DaemonConfig::truncate_corrupt_log),
      Text("legacy-index", "index type of collections made by POST /create_index",
           &DaemonConfig::legacy_index),
      Flag("access-log",
           "true: one JSON line per request on the log (request id, route or RPC, status, "
           "latency, bytes); false: none",
           &DaemonConfig::access_log),
      Text("chroma-url",
           "Chroma server (http://HOST:PORT, or consul://SERVICE / consul+https://SERVICE: its "
           "passing instances in Consul) for the backend chroma; empty: chroma is not configured",
           &DaemonConfig::chroma_url),
      Text("chroma-tenant", "Chroma tenant", &DaemonConfig::chroma_tenant),
      Text("chroma-database", "Chroma database", &DaemonConfig::chroma_database),
      Text("qdrant-url",
           "Qdrant server (http://HOST:6333, https://..., or consul://SERVICE / "
           "consul+https://SERVICE: its passing instances in Consul) for the backend qdrant; "
           "empty: qdrant is not configured",
           &DaemonConfig::qdrant_url),
      Text("qdrant-api-key", "API key sent to Qdrant (header api-key); never logged",
           &DaemonConfig::qdrant_api_key),
      Text("qdrant-api-key-file",
           "file holding the Qdrant API key (its first line), when --qdrant-api-key is empty",
           &DaemonConfig::qdrant_api_key_file),
      Text("amqp-url",
           "RabbitMQ broker for indexing jobs, amqp[s]://USER:PASSWORD@HOST:5672/VHOST (the "
           "virtual host escaped: /%2Fsutazai); empty: imports run in process; never logged",
           &DaemonConfig::amqp_url),
      Text("amqp-ca-file",
           "PEM file of the CAs that sign the broker's certificate, for an amqps:// --amqp-url "
           "(the certificate must also name the URL's host); empty: the system's bundle",
           &DaemonConfig::amqp_ca_file),
      Text("amqp-role",
           "both: publish the imports and consume the queue; publish: publish only; consume: "
           "consume only (imports answer 503)",
           &DaemonConfig::amqp_role),
      Number("job-consumers", "threads consuming the job queue, each with a connection",
             &DaemonConfig::job_consumers, 1, 64),
      Number("job-prefetch", "unacknowledged jobs per consumer", &DaemonConfig::job_prefetch, 1,
             1000),
      Number("job-max-attempts",
             "tries of a job whose failures pass (broker or store unavailable) before it is "
             "dead-lettered",
             &DaemonConfig::job_max_attempts, 1, 10),
      Number("backend-timeout-ms", "deadline of one call to a remote backend",
             &DaemonConfig::backend_timeout_ms, 100, 600'000),
      Number("backend-connect-timeout-ms", "deadline to connect to a remote backend",
             &DaemonConfig::backend_connect_timeout_ms, 10, 60'000),
      Number("backend-attempts",
             "attempts of an idempotent call to a remote backend on transient failures "
             "(refused, reset, 5xx, 429), with jittered backoff",
             &DaemonConfig::backend_attempts, 1, 10),
      Number("breaker-failures",
             "consecutive failed calls that open a remote backend's circuit breaker (0: never)",
             &DaemonConfig::breaker_failures, 0, 1000),
      Number("breaker-cooldown-ms", "how long an open breaker refuses calls before one probe",
             &DaemonConfig::breaker_cooldown_ms, 10, 600'000),
      Number("delivery-wait-ms",
             "how long a write to a collection with remote backends waits for them before "
             "answering with each store's status",
             &DaemonConfig::delivery_wait_ms, 0, 600'000),
      Number("delivery-max-pending-bytes",
             "writes kept for a remote backend that does not take them; past this its "
             "collections are marked failed (too far behind)",
             &DaemonConfig::delivery_max_pending_bytes, size_t{1} << 20, size_t{1} << 40),
      Text("consul-addr",
           "Consul agent to register in (HOST:PORT, http://... or https://...); empty: "
           "CONSUL_HTTP_ADDR, and without it no Consul",
           &DaemonConfig::consul_addr),
      Text("consul-token", "ACL token for the agent (else CONSUL_HTTP_TOKEN); never logged",
           &DaemonConfig::consul_token),
      Text("consul-token-file",
           "file holding the agent's ACL token (its first line), when --consul-token is empty "
           "(else CONSUL_HTTP_TOKEN_FILE)",
           &DaemonConfig::consul_token_file),
      Text("advertise-host",
           "address registered in Consul, which the agent's checks and the clients reach "
           "(behind NAT, in containers); empty: --host, or when that listens everywhere the "
           "local address toward the agent",
           &DaemonConfig::advertise_host),
      Text("consul-checks",
           "agent: the agent checks GET /health and gRPC health; ttl: vecmeshd passes or fails "
           "a TTL check itself (where the agent cannot reach it)",
           &DaemonConfig::consul_checks),
      Number("consul-check-interval-ms",
             "interval of the agent's checks (ttl: the TTL is three times it)",
             &DaemonConfig::consul_check_interval_ms, 100, 3'600'000),
      Number("consul-deregister-after-s",
             "DeregisterCriticalServiceAfter: the agent removes the service once its checks "
             "are critical this long (Consul raises less than 60 to 60)",
             &DaemonConfig::consul_deregister_after_s, 1, 86'400),
      Text("consul-keys-prefix",
           "API keys from Consul KV: each entry PREFIX/ROLE/NAME holds one key of that role "
           "(read_only, read_write, admin), followed as it changes; empty: none",
           &DaemonConfig::consul_keys_prefix),
      Number("consul-sync-interval-ms",
             "how often vecmeshd checks that the agent still knows it (and registers again)",
             &DaemonConfig::consul_sync_interval_ms, 100, 3'600'000),
      Limit("max-points-per-upsert", "points per upsert", &engine::Limits::max_points_per_upsert,
            size_t{1}, size_t{1'000'000}),
      Limit("max-searches-per-batch", "searches per batch", &engine::Limits::max_searches_per_batch,
            size_t{1}, size_t{100'000}),
      Limit("max-k", "k per search", &engine::Limits::max_k, int64_t{1}, int64_t{1'000'000}),
      Limit("max-dimension", "vector dimension", &engine::Limits::max_dimension, uint32_t{1},
            uint32_t{1} << 20),
      Limit("max-payload-bytes", "payload per point, serialized",
            &engine::Limits::max_payload_bytes, size_t{16}, size_t{64} << 20),
      Limit("max-collections", "collections", &engine::Limits::max_collections, size_t{1},
            size_t{1'000'000}),
  };
  return options;
}

const Option* FindOption(const std::string& name) {
  for (const Option& o : Options()) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

// --amqp-ca-file goes with TLS to the broker, and names a file of PEM certificates: refused here,
// at start, rather than at every connection attempt.
Status CheckAmqpCaFile(const DaemonConfig& config) {
  if (config.amqp_ca_file.empty()) return Status::Ok();
  const std::string needs =
      "--amqp-ca-file is for TLS to the broker: it needs an amqps:// --amqp-url";
  if (config.amqp_url.empty()) return Status::InvalidArgument(needs + ", and there is none");
  auto url = adapters::ParseAmqpUrl(config.amqp_url);
  if (!url.ok()) return url.status().WithContext("--amqp-url");
  if (!url->tls) return Status::InvalidArgument(needs + ", not " + url->ToString());
  std::ifstream in(config.amqp_ca_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.is_open() || in.bad()) {
    return Status::InvalidArgument("--amqp-ca-file " + config.amqp_ca_file + " cannot be read");
  }
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Status::InvalidArgument("--amqp-ca-file " + config.amqp_ca_file +
                                   " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  return Status::Ok();
}

void AddKeys(KeyRing* keys, Role role, const char* env) {
  const char* value = std::getenv(env);
  if (!value) return;
  std::stringstream list(value);
  std::string key;
  while (std::getline(list, key, ',')) {
    if (!key.empty()) keys->Add(role, key);
  }
}

// The first line of `path`, trimmed; InvalidArgument naming `flag` when there is none.
engine::StatusOr<std::string> SecretFromFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  std::string secret;
  if (in) std::getline(in, secret);
  secret.erase(secret.find_last_not_of(" \t\r") + 1);
  if (secret.empty()) {
    return Status::InvalidArgument(flag + " " + path + " cannot be read or holds nothing");
  }
  return secret;
}

// Consul's own variables where no option set the address or the token; the checks' mode.
Status ResolveConsul(DaemonConfig* config) {
  const auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value ? value : "");
  };
  if (config->consul_addr.empty()) config->consul_addr = env("CONSUL_HTTP_ADDR");
  if (!config->consul_token.empty() && !config->consul_token_file.empty()) {
    return Status::InvalidArgument("--consul-token and --consul-token-file: give one, not both");
  }
  if (config->consul_token.empty() && config->consul_token_file.empty()) {
    // As Consul's own tools: the token file first.
    config->consul_token_file = env("CONSUL_HTTP_TOKEN_FILE");
    if (config->consul_token_file.empty()) config->consul_token = env("CONSUL_HTTP_TOKEN");
  }
  if (config->consul_token.empty() && !config->consul_token_file.empty()) {
    auto token = SecretFromFile("--consul-token-file", config->consul_token_file);
    if (!token.ok()) return token.status();
    config->consul_token = std::move(*token);
  }
  if (config->consul_checks != "agent" && config->consul_checks != "ttl") {
    return Status::InvalidArgument("--consul-checks must be agent or ttl, got '" +
                                   config->consul_checks + "'");
  }
  if (!config->consul_addr.empty()) {
    auto agent = adapters::ParseConsulAddress(config->consul_addr);
    if (!agent.ok()) return agent.status().WithContext("--consul-addr");
  }
  for (const char c : config->consul_keys_prefix) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '-' && c != '_' &&
        c != '.') {
      return Status::InvalidArgument("--consul-keys-prefix '" + config->consul_keys_prefix +
                                     "' may hold letters, digits, '/', '-', '_' and '.' only");
    }
  }
  if (config->consul_keys_prefix.starts_with("/")) {
    return Status::InvalidArgument("--consul-keys-prefix starts without '/' (vecmesh/api-keys)");
  }
  for (const auto& [flag, url] : {std::pair{"--chroma-url", config->chroma_url},
                                  std::pair{"--qdrant-url", config->qdrant_url}}) {
    const size_t scheme = url.starts_with("consul://")         ? 9
                          : url.starts_with("consul+https://") ? 15
                                                               : 0;
    if (scheme == 0) continue;
    const std::string service = url.substr(scheme);
    const bool named =
        !service.empty() && std::isalnum(static_cast<unsigned char>(service[0])) &&
        std::all_of(service.begin(), service.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        });
    if (!named) {
      return Status::InvalidArgument(std::string(flag) + " '" + url +
                                     "': consul://SERVICE names a service of letters, digits, "
                                     "'-', '_' and '.', starting with a letter or digit");
    }
    if (config->consul_addr.empty()) {
      return Status::InvalidArgument(std::string(flag) + " " + url +
                                     " needs a Consul agent: --consul-addr or CONSUL_HTTP_ADDR");
    }
  }
  if (!config->consul_keys_prefix.empty() && config->consul_addr.empty()) {
    return Status::InvalidArgument(
        "--consul-keys-prefix needs a Consul agent: --consul-addr or CONSUL_HTTP_ADDR");
  }
  return Status::Ok();
}

}  // namespace

std::string ConfigHelp() {
  std::ostringstream out;
  const DaemonConfig defaults;
  out << "Usage: vecmeshd [--OPTION VALUE | --OPTION=VALUE]...\n\n"
         "Each option can also be set by its environment variable or in the --config file;\n"
         "flags override the environment, which overrides the file.\n\n";
  for (const Option& o : Options()) {
    out << "  --" << o.name << " (" << EnvName(o.name) << ", default '" << o.show(defaults)
        << "')\n      " << o.help << "\n";
  }
  out << "  --help\n      this text\n";
  return out.str();
}

engine::StatusOr<DaemonConfig> LoadConfig(const std::vector<std::string>& args, bool* help) {
  *help = false;
  // Flags first into a list, so that the file (named by a flag or the environment) can be read
  // before them.
  std::vector<std::pair<const Option*, std::string>> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return DaemonConfig{};
    }
    if (!arg.starts_with("--")) return Status::InvalidArgument("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::InvalidArgument("--" + name + " needs a value");
    }
    const Option* option = FindOption(name);
    if (!option) return Status::InvalidArgument("unknown option --" + name + " (see --help)");
    flags.emplace_back(option, value);
  }

  DaemonConfig config;
  std::string file = std::getenv("VECMESH_CONFIG") ? std::getenv("VECMESH_CONFIG") : "";
  for (const auto& [option, value] : flags) {
    if (option->name == "config") file = value;
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::InvalidArgument("config file " + file + " cannot be read");
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      const auto eq = line.find('=');
      auto trim = [](std::string s) {
        s.erase(0, s.find_first_not_of(" \t"));
        s.erase(s.find_last_not_of(" \t\r") + 1);
        return s;
      };
      const std::string where = file + " line " + std::to_string(number);
      if (eq == std::string::npos)
        return Status::InvalidArgument(where + " must be 'name = value'");
      const std::string name = trim(line.substr(0, eq));
      const Option* option = FindOption(name);
      if (!option) return Status::InvalidArgument(where + ": unknown option '" + name + "'");
      Status s = option->set(config, trim(line.substr(eq + 1)));
      if (!s.ok()) return Status::InvalidArgument(where + ": " + s.message());
    }
  }
  for (const Option& option : Options()) {
    if (const char* value = std::getenv(EnvName(option.name).c_str())) {
      Status s = option.set(config, value);
      if (!s.ok()) return Status::InvalidArgument(EnvName(option.name) + ": " + s.message());
    }
  }
  for (const auto& [option, value] : flags) {
    Status s = option->set(config, value);
    if (!s.ok()) return s;
  }

  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return Status::InvalidArgument("--tls-cert-file and --tls-key-file go together");
  }
  auto legacy_index = engine::ParseIndexType(config.legacy_index);
  if (!legacy_index) {
    return Status::InvalidArgument("--legacy-index '" + config.legacy_index +
                                   "' is not an index type");
  }
  if (Status s = engine::CheckIndexTypeAvailable(*legacy_index); !s.ok()) {
    return Status::InvalidArgument("--legacy-index: " + s.message());
  }
  if (!config.amqp_url.empty()) {
    // Checked here, before the store recovers; the message never shows the password.
    auto url = adapters::ParseAmqpUrl(config.amqp_url);
    if (!url.ok()) return url.status().WithContext("--amqp-url");
  }
  if (Status s = CheckAmqpCaFile(config); !s.ok()) return s;
  if (config.amqp_role != "both" && config.amqp_role != "publish" &&
      config.amqp_role != "consume") {
    return Status::InvalidArgument("--amqp-role must be both, publish or consume, got '" +
                                   config.amqp_role + "'");
  }
  if (config.qdrant_api_key.empty() && !config.qdrant_api_key_file.empty()) {
    auto key = SecretFromFile("--qdrant-api-key-file", config.qdrant_api_key_file);
    if (!key.ok()) return key.status();
    config.qdrant_api_key = std::move(*key);
  }
  if (Status s = ResolveConsul(&config); !s.ok()) return s;
  if (!config.api_keys_file.empty()) {
    auto keys = KeyRing::FromFile(config.api_keys_file);
    if (!keys.ok()) return keys.status();
    config.file_keys = std::move(*keys);
  }
  AddKeys(&config.env_keys, Role::kAdmin, "VECMESH_ADMIN_KEYS");
  AddKeys(&config.env_keys, Role::kReadWrite, "VECMESH_READ_WRITE_KEYS");
  AddKeys(&config.env_keys, Role::kReadOnly, "VECMESH_READ_ONLY_KEYS");
  return config;
}

}  // namespace vecmesh::api
