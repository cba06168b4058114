#include "engine/storage/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"

namespace vecmesh::engine {

namespace {

constexpr char kEndOfState = '\xFF';  // first byte of a state file's last record
constexpr size_t kStatePointsPerRecord = 1000;
// Jobs per jobs record of a checkpoint (a record of at most about 14 MB with 128-byte ids).
constexpr size_t kJobsPerRecord = 100'000;
constexpr size_t kIndexPartBytes = 64u << 20;

constexpr char kSegmentPrefix[] = "wal-";
constexpr char kSegmentExt[] = ".log";
constexpr char kCheckpointPrefix[] = "checkpoint-";
constexpr char kCheckpointExt[] = ".vmc";
constexpr char kRestorePrefix[] = "restore-";
constexpr char kRestoreExt[] = ".vms";

std::string Numbered(const std::string& dir, const char* prefix, uint64_t n, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof name, "%s%08llu%s", prefix, static_cast<unsigned long long>(n), ext);
  return dir + "/" + name;
}

// The numbers N of the files named PREFIX + 8 digits + EXT in dir, ascending.
std::vector<uint64_t> ListNumbered(const std::string& dir, const std::string& prefix,
                                   const std::string& ext) {
  std::vector<uint64_t> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == prefix.size() + 8 + ext.size() && name.starts_with(prefix) &&
        name.ends_with(ext)) {
      const std::string digits = name.substr(prefix.size(), 8);
      if (std::all_of(digits.begin(), digits.end(), ::isdigit)) out.push_back(std::stoull(digits));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string SegmentPath(const std::string& dir, uint64_t n) {
  return Numbered(dir, kSegmentPrefix, n, kSegmentExt);
}

std::string CheckpointPath(const std::string& dir, uint64_t n) {
  return Numbered(dir, kCheckpointPrefix, n, kCheckpointExt);
}

std::vector<uint64_t> ListSegments(const std::string& dir) {
  return ListNumbered(dir, kSegmentPrefix, kSegmentExt);
}

std::vector<uint64_t> ListCheckpoints(const std::string& dir) {
  return ListNumbered(dir, kCheckpointPrefix, kCheckpointExt);
}

RestoreFile MakeRestoreFile(uint64_t segment, uint64_t seq) {
  char name[80];
  std::snprintf(name, sizeof name, "%s/%s%08llu-%llu%s", kRestoresDir, kRestorePrefix,
                static_cast<unsigned long long>(segment), static_cast<unsigned long long>(seq),
                kRestoreExt);
  return {segment, seq, name};
}

std::optional<RestoreFile> ParseRestoreFile(std::string_view name) {
  const std::string prefix = std::string(kRestoresDir) + "/" + kRestorePrefix;
  if (!name.starts_with(prefix) || !name.ends_with(kRestoreExt)) return std::nullopt;
  // SSSSSSSS-Q, each all digits (Q of at most 19, which a u64 holds).
  const std::string_view numbers =
      name.substr(prefix.size(), name.size() - prefix.size() - std::strlen(kRestoreExt));
  auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 19 && std::all_of(d.begin(), d.end(), ::isdigit);
  };
  if (numbers.size() < 10 || numbers[8] != '-' || !digits(numbers.substr(0, 8)) ||
      !digits(numbers.substr(9))) {
    return std::nullopt;
  }
  RestoreFile file = MakeRestoreFile(std::stoull(std::string(numbers.substr(0, 8))),
                                     std::stoull(std::string(numbers.substr(9))));
  // One spelling per file (no leading zeros in Q), so that equal files have equal names.
  if (file.name != name) return std::nullopt;
  return file;
}

std::vector<RestoreFile> ListRestoreFiles(const std::string& dir) {
  std::vector<RestoreFile> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/" + kRestoresDir, ec)) {
    const std::string name = std::string(kRestoresDir) + "/" + entry.path().filename().string();
    if (auto file = ParseRestoreFile(name)) out.push_back(std::move(*file));
  }
  std::sort(out.begin(), out.end(), [](const RestoreFile& a, const RestoreFile& b) {
    return std::tie(a.segment, a.seq) < std::tie(b.segment, b.seq);
  });
  return out;
}

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open of " + path + " failed: " + std::strerror(errno));
  const int synced = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (synced != 0)
    return Status::Unavailable("fsync of " + path + " failed: " + std::strerror(err));
  return Status::Ok();
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open of data directory " + dir + " failed");
  const int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return Status::Unavailable("fsync of data directory " + dir + " failed");
  return Status::Ok();
}

Status WriteStateFile(const std::string& dir, const std::string& path,
                      std::vector<CollectionState>* state, const std::vector<JobTag>& jobs) {
  const std::string temp = path + ".tmp";
  std::filesystem::remove(temp);
  auto file = OpenPosixWalFile(temp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(WalHeader(jobs.empty() ? kStateFileVersion : kWalVersion));
  uint64_t records = 0;
  auto append = [&](const std::string& collection, const WriteOp& op) {
    if (s.ok()) s = (*file)->Append(FrameWalRecord(EncodeWriteOp(collection, op)));
    ++records;
  };
  // In records of kJobsPerRecord jobs, as points are chunked: a record stays far below the log's
  // record limit whatever the retention holds.
  for (size_t begin = 0; s.ok() && begin < jobs.size(); begin += kJobsPerRecord) {
    const size_t end = std::min(jobs.size(), begin + kJobsPerRecord);
    append("", JobsOp{{jobs.begin() + begin, jobs.begin() + end}});
  }
  for (auto& [config, content] : *state) {
    append(config.name, CreateCollectionOp{config});
    if (auto* points = std::get_if<std::vector<Point>>(&content)) {
      for (size_t begin = 0; s.ok() && begin < points->size(); begin += kStatePointsPerRecord) {
        UpsertOp chunk;
        const size_t end = std::min(points->size(), begin + kStatePointsPerRecord);
        chunk.points.assign(std::make_move_iterator(points->begin() + begin),
                            std::make_move_iterator(points->begin() + end));
        append(config.name, chunk);
      }
      continue;
    }
    auto& image = std::get<CollectionImage>(content);
    for (size_t begin = 0; s.ok() && begin < image.slots.size(); begin += kStatePointsPerRecord) {
      SlotsOp chunk;
      const size_t end = std::min(image.slots.size(), begin + kStatePointsPerRecord);
      chunk.slots.assign(std::make_move_iterator(image.slots.begin() + begin),
                         std::make_move_iterator(image.slots.begin() + end));
      append(config.name, chunk);
    }
    for (size_t begin = 0; s.ok() && begin < image.index.size(); begin += kIndexPartBytes) {
      append(config.name, IndexPartOp{image.indexed_slots, image.index.size(),
                                      image.index.substr(begin, kIndexPartBytes)});
    }
  }
  std::string end(1, kEndOfState);
  end.append(reinterpret_cast<const char*>(&records), sizeof records);
  if (s.ok()) s = (*file)->Append(FrameWalRecord(end));
  if (s.ok()) s = (*file)->Sync();
  file->reset();
  if (s.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    s = Status::Unavailable("rename of " + temp + " failed: " + std::strerror(errno));
  }
  if (s.ok()) s = SyncDir(dir);
  if (!s.ok()) std::filesystem::remove(temp);
  return s;
}

StatusOr<std::vector<std::string>> ReadStateFile(const std::string& path) {
  std::vector<std::string> records;
  // Read-only: a snapshot is the user's file and a checkpoint is the recovery's fallback, so a
  // torn tail is reported, never cut (it still leaves the file unusable: no end record).
  auto read = ReadWal(path, [&](std::string_view r) {
    records.emplace_back(r);
    return Status::Ok();
  });
  if (!read.ok()) return read.status();
  if (!read->note.empty()) {
    return Status::Internal(read->note + "; without its end record the file is unusable");
  }
  if (records.empty() || records.back().size() != 9 || records.back()[0] != kEndOfState) {
    return Status::Internal(path + " ends before its end record");
  }
  uint64_t count = 0;
  for (int i = 8; i >= 1; --i) count = count << 8 | static_cast<unsigned char>(records.back()[i]);
  records.pop_back();
  // Every record is checksummed, but only the count tells that none is missing before the end.
  if (count != records.size()) {
    return Status::Internal(path + " is not whole: its end record counts " + std::to_string(count) +
                            " records, " + std::to_string(records.size()) + " precede it");
  }
  return records;
}

}  // namespace vecmesh::engine
