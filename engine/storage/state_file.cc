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

StateFileWriter::StateFileWriter(std::string dir, std::string path, std::unique_ptr<WalFile> file)
    : dir_(std::move(dir)), path_(std::move(path)), file_(std::move(file)) {}

StatusOr<std::unique_ptr<StateFileWriter>> StateFileWriter::Create(std::string dir,
                                                                   std::string path,
                                                                   uint32_t version) {
  const std::string temp = path + ".tmp";
  std::filesystem::remove(temp);
  auto file = OpenPosixWalFile(temp);
  if (!file.ok()) return file.status();
  std::unique_ptr<StateFileWriter> writer(
      new StateFileWriter(std::move(dir), std::move(path), std::move(*file)));
  Status s = writer->file_->Append(WalHeader(version));
  if (!s.ok()) return s;
  return writer;
}

StateFileWriter::~StateFileWriter() {
  if (!file_) return;
  file_.reset();
  std::error_code ec;
  std::filesystem::remove(path_ + ".tmp", ec);
}

Status StateFileWriter::Append(const std::string& collection, const WriteOp& op) {
  return Append(EncodeWriteOp(collection, op));
}

Status StateFileWriter::Append(std::string_view record) {
  ++records_;
  const std::string framed = FrameWalRecord(record);
  Status s = file_->Append(framed);
  unsynced_bytes_ += framed.size();
  // Synced as it grows, so that the disk takes a large file in steps rather than in one burst
  // at Commit that would hold up every other writer of the disk (the log) meanwhile.
  if (s.ok() && unsynced_bytes_ >= kSyncEveryBytes) {
    s = file_->Sync();
    unsynced_bytes_ = 0;
  }
  return s;
}

Status StateFileWriter::AppendJobs(const std::vector<JobTag>& jobs) {
  // In records of kJobsPerRecord jobs, as points are chunked: a record stays far below the log's
  // record limit whatever the retention holds.
  for (size_t begin = 0; begin < jobs.size(); begin += kJobsPerRecord) {
    const size_t end = std::min(jobs.size(), begin + kJobsPerRecord);
    Status s = Append("", JobsOp{{jobs.begin() + begin, jobs.begin() + end}});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status StateFileWriter::Commit() {
  std::string end(1, kEndOfState);
  end.append(reinterpret_cast<const char*>(&records_), sizeof records_);
  Status s = file_->Append(FrameWalRecord(end));
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) return s;
  file_.reset();
  const std::string temp = path_ + ".tmp";
  if (std::rename(temp.c_str(), path_.c_str()) != 0) {
    s = Status::Unavailable("rename of " + temp + " failed: " + std::strerror(errno));
    std::filesystem::remove(temp);
    return s;
  }
  return SyncDir(dir_);
}

Status WriteStateFile(const std::string& dir, const std::string& path,
                      std::vector<CollectionState>* state) {
  auto writer = StateFileWriter::Create(dir, path, kStateFileVersion);
  if (!writer.ok()) return writer.status();
  for (auto& [config, points] : *state) {
    Status s = (*writer)->Append(config.name, CreateCollectionOp{config});
    for (size_t begin = 0; s.ok() && begin < points.size(); begin += kStatePointsPerRecord) {
      UpsertOp chunk;
      const size_t end = std::min(points.size(), begin + kStatePointsPerRecord);
      chunk.points.assign(std::make_move_iterator(points.begin() + begin),
                          std::make_move_iterator(points.begin() + end));
      s = (*writer)->Append(config.name, chunk);
    }
    if (!s.ok()) return s;
  }
  return (*writer)->Commit();
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
