#include "api/daemon/key_sources.h"

#include "api/service/log.h"

namespace vecmesh::api {

using engine::Status;

namespace {

// Whether `key` can be a key: printable, no whitespace.
bool IsKeyText(const std::string& key) {
  if (key.empty()) return false;
  for (const char c : key) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

KeySources::KeySources(KeyRing env_keys, std::string file, KeyRing file_keys, std::string kv_prefix,
                       std::function<void(KeyRing)> apply)
    : env_keys_(std::move(env_keys)),
      file_(std::move(file)),
      kv_prefix_(kv_prefix.empty() || kv_prefix.back() == '/' ? kv_prefix : kv_prefix + "/"),
      apply_(std::move(apply)),
      file_keys_(std::move(file_keys)) {
  std::lock_guard lock(mu_);
  ApplyLocked();
}

void KeySources::ApplyLocked() {
  KeyRing all = env_keys_;
  all.AddAll(file_keys_);
  all.AddAll(kv_keys_);
  if (!kv_prefix_.empty() || !file_.empty()) all.Require();
  apply_(std::move(all));
}

Status KeySources::ReloadFile() {
  if (file_.empty()) return Status::Ok();
  auto keys = KeyRing::FromFile(file_);
  std::lock_guard lock(mu_);
  if (!keys.ok()) {
    ++reloads_.file_refused;
    Log("error", "the keys file was not reloaded; the last good keys stay in force",
        {{"file", file_}, {"error", keys.status().ToString()}});
    return keys.status();
  }
  ++reloads_.file_applied;
  file_keys_ = std::move(*keys);
  ApplyLocked();
  Log("info", "keys file reloaded", {{"file", file_}, {"keys", file_keys_.size()}});
  return Status::Ok();
}

std::string KeySources::KvTarget() const { return "/v1/kv/" + kv_prefix_ + "?recurse"; }

Status KeySources::SetKv(bool found, const std::string& body) {
  {
    // The agent answers again when anything in its KV store changed (a 404's index is the
    // store's): the same read is not handled again.
    std::lock_guard lock(mu_);
    if (kv_seen_ && *kv_seen_ == std::make_pair(found, body)) return Status::Ok();
  }
  KeyRing keys;
  Status refused;
  if (found) {
    auto entries = adapters::ParseKvEntries(body);
    if (!entries.ok()) refused = entries.status();
    for (const adapters::KvEntry& e : entries.ok() ? *entries : std::vector<adapters::KvEntry>{}) {
      // The read matches keys by their start: PREFIX/ only, and folders are no keys.
      if (!e.key.starts_with(kv_prefix_) || e.key.back() == '/') continue;
      const std::string path = e.key.substr(kv_prefix_.size());
      const size_t slash = path.find('/');
      const Role role = KeyRing::ParseRole(path.substr(0, slash));
      std::string key = e.value;
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
      if (slash == std::string::npos || path.find('/', slash + 1) != std::string::npos ||
          role == Role::kNone) {
        refused = Status::InvalidArgument("KV entry " + e.key + " is not " + kv_prefix_ +
                                          "ROLE/NAME with ROLE read_only, read_write or admin");
        break;
      }
      if (!IsKeyText(key)) {
        refused = Status::InvalidArgument("KV entry " + e.key +
                                          " does not hold a key (empty, or with whitespace)");
        break;
      }
      keys.Add(role, std::move(key));
    }
  }
  std::lock_guard lock(mu_);
  kv_seen_ = std::make_pair(found, body);
  if (!refused.ok()) {
    ++reloads_.kv_refused;
    Log("error", "keys from consul refused; the last good keys stay in force",
        {{"prefix", kv_prefix_}, {"error", refused.ToString()}});
    return refused;
  }
  ++reloads_.kv_applied;
  kv_keys_ = std::move(keys);
  ApplyLocked();
  Log("info", "keys from consul applied", {{"prefix", kv_prefix_}, {"keys", kv_keys_.size()}});
  return Status::Ok();
}

KeySources::Reloads KeySources::reloads() const {
  std::lock_guard lock(mu_);
  return reloads_;
}

}  // namespace vecmesh::api
