// vecmeshd's configuration: defaults, then an optional config file, then VECMESH_* environment
// variables, then command-line flags, each overriding the one before. `vecmeshd --help` lists
// every option with its environment variable and default (API.md's "Running" names are fixed).
#pragma once

#include <string>
#include <vector>

#include "api/service/keys.h"
#include "engine/status.h"
#include "engine/types.h"

namespace vecmesh::api {

struct DaemonConfig {
  std::string host = "127.0.0.1";
  int rest_port = 8000;
  int grpc_port = 50051;
  std::string data_dir = "./data";
  std::string config_file;
  std::string api_keys_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_body_bytes = 32u << 20;
  size_t max_upload_bytes = 1u << 30;
  int io_threads = 1;
  int workers = 0;  // 0: the number of cores
  size_t max_queued_requests = 256;
  size_t max_connections = 1024;
  int search_threads = 0;  // 0: the number of cores
  int read_timeout_s = 30;
  int idle_timeout_s = 60;
  int shutdown_grace_s = 10;
  int shutdown_drain_ms = 0;  // after /health turns 503 (and Consul is left), still listening
  int wal_sync_interval_ms = 0;
  int checkpoint_interval_s = 300;
  bool truncate_corrupt_log = false;
  std::string legacy_index = "flat";
  bool access_log = true;  // one JSON line per request
  // Chroma as a backend (API.md "Backends"): off while chroma_url is empty.
  std::string chroma_url;
  std::string chroma_tenant = "default_tenant";
  std::string chroma_database = "default_database";
  // Qdrant as a backend: off while qdrant_url is empty. The key is never logged; a key file
  // (a secret mounted as a file) gives it when qdrant_api_key is empty.
  std::string qdrant_url;
  std::string qdrant_api_key;
  std::string qdrant_api_key_file;
  // Indexing jobs on RabbitMQ (API.md): off while amqp_url is empty (imports run in process).
  // The URL may hold a password: it is never logged.
  std::string amqp_url;
  // amqps only: the PEM file of the CAs the broker's certificate is verified against; empty: the
  // system's bundle. Checked readable at start.
  std::string amqp_ca_file;
  std::string amqp_role = "both";  // both | publish (imports) | consume (the queue)
  int job_consumers = 1;
  int job_prefetch = 8;
  int job_max_attempts = 5;
  // Outbound calls to remote backends.
  int backend_timeout_ms = 30'000;
  int backend_connect_timeout_ms = 2'000;
  int backend_attempts = 3;
  int breaker_failures = 5;
  int breaker_cooldown_ms = 5'000;
  // Delivery of writes to remote backends.
  int delivery_wait_ms = 1'000;
  size_t delivery_max_pending_bytes = size_t{1} << 30;
  // Consul (API.md "Service discovery (Consul)"): off while consul_addr is empty. The agent's
  // address and token also come from Consul's own CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN (or
  // CONSUL_HTTP_TOKEN_FILE) when no option sets them. The token is never logged.
  std::string consul_addr;
  std::string consul_token;
  std::string consul_token_file;
  std::string advertise_host;             // empty: --host, or the address toward the agent
  std::string consul_checks = "agent";    // agent (HTTP and gRPC checks) | ttl
  int consul_check_interval_ms = 10'000;  // the agent's checks (ttl: 3x this is the TTL)
  int consul_deregister_after_s = 60;     // DeregisterCriticalServiceAfter
  int consul_sync_interval_ms = 10'000;   // anti-entropy, and TTL updates
  // API keys from Consul KV under this prefix (PREFIX/ROLE/NAME = key), followed as they change;
  // empty: none.
  std::string consul_keys_prefix;
  engine::Limits limits;
  // The API keys, from VECMESH_ADMIN_KEYS, VECMESH_READ_WRITE_KEYS, VECMESH_READ_ONLY_KEYS
  // (comma-separated), and from api_keys_file as it was at start (read again on SIGHUP).
  KeyRing env_keys;
  KeyRing file_keys;
};

// `args` without the program name. Sets *help (and returns defaults) for --help.
engine::StatusOr<DaemonConfig> LoadConfig(const std::vector<std::string>& args, bool* help);
std::string ConfigHelp();

}  // namespace vecmesh::api
