// KeySources: the service's API keys (API.md "Auth"), combined from their sources and handed to
// the service whole, each time one of them changes:
//   - the environment (VECMESH_ADMIN_KEYS, ...), read at start;
//   - the keys file (--api-keys-file), read at start and again on SIGHUP;
//   - Consul KV (--consul-keys-prefix): each entry PREFIX/ROLE/NAME holds one key of ROLE
//     (read_only, read_write, admin), followed with blocking queries. Rotating a key: put the
//     new entry, then delete the old one; the old key is refused as soon as the watch sees it.
// A source's new content that is malformed (a line or an entry that is not a key of a role) is
// refused whole, with a log line naming the file line or the KV entry (never a key), and its
// last good keys stay in force. With a keys file or Consul KV configured, authentication stays on
// even while they hold no key (an emptied file does not open the service).
//
// Thread safety: every method is safe for concurrent calls.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/consul/consul_client.h"
#include "api/service/keys.h"
#include "engine/status.h"

namespace vecmesh::api {

class KeySources {
 public:
  // `apply` receives every combined ring, the first one in the constructor.
  KeySources(KeyRing env_keys, std::string file, KeyRing file_keys, std::string kv_prefix,
             std::function<void(KeyRing)> apply);

  // Reads the keys file again (SIGHUP). Ok when applied; else the last good keys stay.
  engine::Status ReloadFile();
  // The KV read of the keys: "/v1/kv/PREFIX/?recurse".
  std::string KvTarget() const;
  // A KV read under the prefix (found false: nothing there). Ok when applied (or the same as the
  // last one handled); else the last good keys stay.
  engine::Status SetKv(bool found, const std::string& body);

  // How often each source's new content was applied or refused, for /metrics.
  struct Reloads {
    uint64_t file_applied = 0, file_refused = 0, kv_applied = 0, kv_refused = 0;
  };
  Reloads reloads() const;

 private:
  void ApplyLocked();  // mu_ held

  const KeyRing env_keys_;
  const std::string file_;
  const std::string kv_prefix_;  // ends with '/'; entries outside it are not keys
  const std::function<void(KeyRing)> apply_;

  mutable std::mutex mu_;  // guards what follows, and orders the applies
  KeyRing file_keys_;
  KeyRing kv_keys_;
  std::optional<std::pair<bool, std::string>> kv_seen_;  // the last KV read handled
  Reloads reloads_;
};

}  // namespace vecmesh::api
