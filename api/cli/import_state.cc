#include "api/cli/import_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

namespace vecmesh::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// FNV-1a: a stable name for the identity's file (std::hash may differ between builds).
uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

engine::StatusOr<ImportState> ImportState::For(const json& identity,
                                               const char* (*env)(const char*)) {
  fs::path dir;
  if (const char* state = env("VECMESH_STATE_DIR"); state != nullptr && *state != '\0') {
    dir = state;
  } else if (const char* xdg = env("XDG_STATE_HOME"); xdg != nullptr && *xdg != '\0') {
    dir = fs::path(xdg) / "vecmesh";
  } else if (const char* home = env("HOME"); home != nullptr && *home != '\0') {
    dir = fs::path(home) / ".local" / "state" / "vecmesh";
  } else {
    return engine::Status::InvalidArgument(
        "no directory for the import's state: set VECMESH_STATE_DIR (or HOME)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return engine::Status::InvalidArgument("cannot create the state directory '" + dir.string() +
                                           "': " + ec.message());
  }
  char name[40];
  const std::string key = identity.dump(-1, ' ', false, json::error_handler_t::replace);
  std::snprintf(name, sizeof name, "import-%016llx.json",
                static_cast<unsigned long long>(Fnv1a(key)));
  // Kept as it reads back from the file, so that a saved identity compares equal.
  return ImportState(json::parse(key), (dir / name).string());
}

engine::StatusOr<std::optional<ImportProgress>> ImportState::Load() const {
  std::ifstream in(path_);
  if (!in) return std::optional<ImportProgress>();
  const json saved = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!saved.is_object() || saved.value("identity", json()) != identity_) {
    return std::optional<ImportProgress>();  // another import's, or torn: start afresh
  }
  ImportProgress progress;
  progress.records = saved.value("records", uint64_t{0});
  progress.points = saved.value("points", uint64_t{0});
  progress.skipped = saved.value("skipped", uint64_t{0});
  for (const json& job : saved.value("jobs", json::array())) {
    progress.jobs.push_back({job.value("id", ""), job.value("first_record", uint64_t{0}),
                             job.value("skipped_before", uint64_t{0}),
                             job.value("points", uint64_t{0})});
  }
  return std::optional<ImportProgress>(std::move(progress));
}

engine::Status ImportState::Save(const ImportProgress& progress) const {
  json jobs = json::array();
  for (const SubmittedJob& job : progress.jobs) {
    jobs.push_back({{"id", job.id},
                    {"first_record", job.first_record},
                    {"skipped_before", job.skipped_before},
                    {"points", job.points}});
  }
  // A path that is not UTF-8 is written with U+FFFD in its place: the size and the time still
  // tell files apart.
  const std::string text = json{
      {"identity", identity_},
      {"records", progress.records},
      {"points", progress.points},
      {"skipped", progress.skipped},
      {"jobs",
       std::move(jobs)}}.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::string temporary = path_ + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(temporary.c_str(), path_.c_str()) != 0) {
    return engine::Status::Unavailable("cannot save the import's state to '" + path_ + "'");
  }
  return engine::Status::Ok();
}

void ImportState::Remove() const {
  std::error_code ignored;
  fs::remove(path_, ignored);
}

}  // namespace vecmesh::cli
