#include "api/service/keys.h"

#include <fstream>
#include <sstream>

namespace vecmesh::api {
namespace {

// Equal in time that depends on the lengths only: no early exit on the first difference.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNone:
      return "none";
    case Role::kReadOnly:
      return "read_only";
    case Role::kReadWrite:
      return "read_write";
    case Role::kAdmin:
      return "admin";
  }
  return "none";
}

engine::StatusOr<KeyRing> KeyRing::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return engine::Status::InvalidArgument("api keys file " + path + " cannot be read");
  KeyRing ring;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::string role, key, extra;
    fields >> role >> key >> extra;
    if (role.empty() || role[0] == '#') continue;
    const std::string where = path + " line " + std::to_string(number);
    if (key.empty() || !extra.empty()) {
      return engine::Status::InvalidArgument(where + " must be 'ROLE KEY'");
    }
    const Role parsed = ParseRole(role);
    if (parsed == Role::kNone) {
      return engine::Status::InvalidArgument(where +
                                             ": role must be read_only, read_write or admin");
    }
    ring.Add(parsed, key);
  }
  return ring;
}

Role KeyRing::ParseRole(std::string_view name) {
  for (const Role role : {Role::kReadOnly, Role::kReadWrite, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return Role::kNone;
}

void KeyRing::Add(Role role, std::string key) { keys_.emplace_back(role, std::move(key)); }

void KeyRing::AddAll(const KeyRing& other) {
  keys_.insert(keys_.end(), other.keys_.begin(), other.keys_.end());
  required_ = required_ || other.required_;
}

Role KeyRing::RoleOf(std::string_view key) const {
  Role found = Role::kNone;
  for (const auto& [role, candidate] : keys_) {
    if (ConstantTimeEquals(candidate, key) && role > found) found = role;
  }
  return found;
}

}  // namespace vecmesh::api
