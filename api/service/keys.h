// API keys and their roles (API.md "Auth"). Keys come from a file or the environment, never
// from the command line (where `ps` would show them), and are never logged.
//
// Thread safety: a KeyRing is a value; the service swaps whole rings (Service::SetKeys).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace vecmesh::api {

enum class Role { kNone, kReadOnly, kReadWrite, kAdmin };
std::string_view RoleName(Role role);

class KeyRing {
 public:
  // One key per line: "ROLE KEY", ROLE one of read_only, read_write, admin; blank lines and
  // lines starting with # are skipped. Errors name the file and line, never the key.
  static engine::StatusOr<KeyRing> FromFile(const std::string& path);

  // "ROLE" as a file or a KV path names it (read_only, read_write, admin); kNone otherwise.
  static Role ParseRole(std::string_view name);

  void Add(Role role, std::string key);
  void AddAll(const KeyRing& other);
  // Authentication stays on even without keys (a source of keys is configured, and its keys
  // may be on their way): every call is then refused.
  void Require() { required_ = true; }
  // No keys and none required: authentication is off and every caller is an admin.
  bool open() const { return keys_.empty() && !required_; }
  size_t size() const { return keys_.size(); }
  // The role of `key`, kNone if it is not one of ours. Every configured key is compared, each
  // in time that depends only on the lengths, so the answer's timing does not reveal a prefix.
  Role RoleOf(std::string_view key) const;

 private:
  std::vector<std::pair<Role, std::string>> keys_;
  bool required_ = false;
};

}  // namespace vecmesh::api
