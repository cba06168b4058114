// API keys and their roles (API.md "Auth"). Keys come from a file or the environment, never
// from the command line (where `ps` would show them), and are never logged.
//
// Thread safety: immutable once built; safe to share.
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

  void Add(Role role, std::string key);
  // No keys: authentication is off and every caller is an admin.
  bool empty() const { return keys_.empty(); }
  // The role of `key`, kNone if it is not one of ours. Every configured key is compared, each
  // in time that depends only on the lengths, so the answer's timing does not reveal a prefix.
  Role RoleOf(std::string_view key) const;

 private:
  std::vector<std::pair<Role, std::string>> keys_;
};

}  // namespace vecmesh::api
