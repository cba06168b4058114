#include "engine/storage/wal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "engine/storage/crc32c.h"

namespace vecmesh::engine {
namespace {

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

Status IoError(const std::string& what, const std::string& path, int err) {
  return Status::Unavailable(what + " " + path + " failed: " + std::strerror(err));
}

class PosixWalFile : public WalFile {
 public:
  PosixWalFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWalFile() override { ::close(fd_); }

  Status Append(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("write to", path_, errno);
      }
      bytes.remove_prefix(n);
    }
    return Status::Ok();
  }
  // EINTR (a signal arrived; vecmeshd's threads take SIGTERM) is not a failure: the call did
  // not happen, and is made again.
  Status Sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return IoError("fsync of", path_, errno);
    }
    return Status::Ok();
  }
  Status Truncate(uint64_t size) override {
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return IoError("truncate of", path_, errno);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  std::string path_;
};

// The whole of the file open as `fd`.
StatusOr<std::string> ReadAll(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("stat of", path, errno);
  std::string data(st.st_size, '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("read of", path, n < 0 ? errno : EIO);
    done += n;
  }
  return data;
}

// Where a log ends early: its valid part is [0, at).
struct Cut {
  uint64_t at = 0;
  std::string why;
};

// Replays the records of `data`, the bytes of the log at `path`, counting them in `report`.
// Where the log has to be cut (a torn tail, or corruption under kTruncate) it says so in *cut
// and report's byte counts, and changes nothing: what to do with the file is the caller's.
Status ScanLog(std::string_view data, const std::string& path, CorruptionPolicy policy,
               const std::function<Status(std::string_view, uint64_t)>& replay, WalRecovery* report,
               std::optional<Cut>* where) {
  auto cut = [&](uint64_t at, std::string why) {
    *where = Cut{at, std::move(why)};
    report->cut_bytes = data.size() - at;
    report->valid_bytes = at;
    return Status::Ok();
  };
  if (data.size() < kWalHeaderBytes) {
    // A crash while writing the header of a new log.
    return data.empty() ? Status::Ok() : cut(0, "incomplete header");
  }
  if (const uint32_t version = GetU32(data.data() + sizeof kWalMagic);
      version < 1 || version > kWalVersion ||
      data.compare(0, kWalHeaderBytes, WalHeader(version)) != 0) {
    return Status::Internal(path + " is not a vecmesh write-ahead log of versions 1 to " +
                            std::to_string(kWalVersion) + " (bad header at offset 0)");
  }
  uint64_t at = kWalHeaderBytes;
  while (at < data.size()) {
    const uint64_t left = data.size() - at;
    std::string problem;
    uint32_t length = 0;
    if (left < kWalRecordHeaderBytes) {
      problem = "incomplete record header";
    } else {
      length = GetU32(data.data() + at);
      const uint32_t crc = GetU32(data.data() + at + 4);
      if (length == 0 || length > kWalMaxRecordBytes) {
        problem = "invalid record length " + std::to_string(length);
      } else if (length > left - kWalRecordHeaderBytes) {
        problem = "incomplete record";
      } else if (Crc32c(data.data() + at + kWalRecordHeaderBytes, length) != crc) {
        problem = "checksum mismatch";
      }
    }
    if (problem.empty()) {
      Status s = replay(data.substr(at + kWalRecordHeaderBytes, length),
                        at + kWalRecordHeaderBytes + length);
      // A whole record that cannot be replayed (Internal: it names what it lacks, such as a
      // restore's file) is corruption too; any other error (the disk) stops the read.
      if (!s.ok() && s.code() == StatusCode::kInternal && policy == CorruptionPolicy::kTruncate) {
        return cut(at, "corruption: " + s.message() + "; truncated as the operator asked");
      }
      if (!s.ok()) return s.WithContext(path + " at offset " + std::to_string(at));
      ++report->records;
      at += kWalRecordHeaderBytes + length;
      continue;
    }
    // A bad record is a torn tail when nothing valid could follow it: it runs to the end of
    // the file, or all that follows is zeros (space the file system allocated but the crash
    // left unwritten). Anything else is corruption inside the log.
    const bool reaches_end =
        problem == "incomplete record header" || problem == "incomplete record" ||
        (problem == "checksum mismatch" && at + kWalRecordHeaderBytes + length == data.size()) ||
        data.find_first_not_of('\0', at) == std::string_view::npos;
    if (reaches_end) return cut(at, "torn tail: " + problem);
    if (policy == CorruptionPolicy::kTruncate) {
      return cut(at, "corruption: " + problem + "; truncated as the operator asked");
    }
    return Status::Internal(path + " is corrupt at offset " + std::to_string(at) + ": " + problem +
                            ". Restore from a snapshot, or start with "
                            "--wal-truncate-corrupt to drop the log from this offset on");
  }
  report->valid_bytes = data.size();
  return Status::Ok();
}

}  // namespace

std::string WalHeader(uint32_t version) {
  std::string h(kWalMagic, sizeof kWalMagic);
  PutU32(&h, version);
  PutU32(&h, Crc32c(h.data(), h.size()));
  return h;
}

std::string FrameWalRecord(std::string_view payload) {
  std::string out;
  PutU32(&out, static_cast<uint32_t>(payload.size()));
  PutU32(&out, Crc32c(payload.data(), payload.size()));
  out.append(payload);
  return out;
}

StatusOr<std::unique_ptr<WalFile>> OpenPosixWalFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("open of", path, errno);
  return std::unique_ptr<WalFile>(std::make_unique<PosixWalFile>(fd, path));
}

StatusOr<WalRecovery> RecoverWal(
    const std::string& path, CorruptionPolicy policy,
    const std::function<Status(std::string_view payload, uint64_t end)>& replay) {
  WalRecovery report;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return report;
    return IoError("open of", path, errno);
  }
  auto data = ReadAll(fd, path);
  std::optional<Cut> cut;
  Status s = data.ok() ? ScanLog(*data, path, policy, replay, &report, &cut) : data.status();
  if (s.ok() && cut) {
    report.note = path + ": cut " + std::to_string(report.cut_bytes) + " bytes at offset " +
                  std::to_string(cut->at) + " (" + cut->why + ")";
    if (::ftruncate(fd, static_cast<off_t>(cut->at)) != 0 || ::fdatasync(fd) != 0) {
      s = IoError("truncate of", path, errno);
    }
  }
  ::close(fd);
  if (!s.ok()) return s;
  return report;
}

StatusOr<WalRecovery> ReadWal(const std::string& path,
                              const std::function<Status(std::string_view)>& replay) {
  WalRecovery report;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return report;
    return IoError("open of", path, errno);
  }
  auto data = ReadAll(fd, path);
  ::close(fd);
  if (!data.ok()) return data.status();
  std::optional<Cut> cut;
  Status s = ScanLog(
      *data, path, CorruptionPolicy::kFail,
      [&](std::string_view payload, uint64_t) { return replay(payload); }, &report, &cut);
  if (!s.ok()) return s;
  if (cut) {
    report.note = path + ": the last " + std::to_string(report.cut_bytes) + " bytes, from offset " +
                  std::to_string(cut->at) + ", are not read (" + cut->why +
                  "); the file is left as it is";
  }
  return report;
}

Status ReadWalRange(const std::string& path, uint64_t from, uint64_t end, uint64_t max_bytes,
                    const std::function<void(std::string_view payload, uint64_t end)>& record) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path + " does not exist");
    return IoError("open of", path, err);
  }
  // Reads exactly n bytes at `at`; false at the end of the file.
  std::string buffer;
  auto read_at = [&](uint64_t at, size_t n, Status* error) {
    buffer.resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd, buffer.data() + done, n - done, static_cast<off_t>(at + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) *error = IoError("read of", path, errno);
      if (got <= 0) return false;
      done += got;
    }
    return true;
  };
  auto corrupt = [&](uint64_t at, const std::string& why) {
    return Status::Internal(path + " is corrupt at offset " + std::to_string(at) + ": " + why);
  };
  Status s;
  uint64_t at = from;
  if (at < kWalHeaderBytes) {
    at = kWalHeaderBytes;
    if (!read_at(0, kWalHeaderBytes, &s) || GetU32(buffer.data() + sizeof kWalMagic) < 1 ||
        GetU32(buffer.data() + sizeof kWalMagic) > kWalVersion ||
        buffer != WalHeader(GetU32(buffer.data() + sizeof kWalMagic))) {
      if (s.ok()) s = corrupt(0, "bad header");
    }
  }
  uint64_t read_bytes = 0;
  while (s.ok() && at < end && read_bytes < max_bytes) {
    if (!read_at(at, kWalRecordHeaderBytes, &s)) {
      if (s.ok() && end != UINT64_MAX) s = corrupt(at, "the file ends before the range does");
      break;
    }
    const uint32_t length = GetU32(buffer.data());
    const uint32_t crc = GetU32(buffer.data() + 4);
    if (length == 0 || length > kWalMaxRecordBytes) {
      s = corrupt(at, "invalid record length " + std::to_string(length));
    } else if (!read_at(at + kWalRecordHeaderBytes, length, &s)) {
      if (s.ok()) s = corrupt(at, "incomplete record");
    } else if (Crc32c(buffer.data(), length) != crc) {
      s = corrupt(at, "checksum mismatch");
    } else {
      at += kWalRecordHeaderBytes + length;
      read_bytes += length;
      record(buffer, at);
    }
  }
  ::close(fd);
  return s;
}

Wal::Wal(std::unique_ptr<WalFile> file, uint64_t size, std::string name, uint32_t sync_interval_ms)
    : name_(std::move(name)),
      file_(std::move(file)),
      appended_bytes_(size),
      durable_bytes_(size),
      sync_interval_ms_(sync_interval_ms),
      synced_bytes_(size) {
  if (sync_interval_ms_ > 0) syncer_ = std::thread([this] { RunSyncer(); });
}

Wal::~Wal() {
  if (!syncer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  syncer_.join();
}

void Wal::RunSyncer() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(sync_interval_ms_));
    (void)SyncLocked(lock);
  }
  (void)SyncLocked(lock);  // what was written is synced before the log closes
}

Status Wal::SyncLocked(std::unique_lock<std::mutex>& lock) {
  if (!failed_.ok() || synced_bytes_ == durable_bytes_) return failed_;
  const uint64_t target = durable_bytes_;
  lock.unlock();  // writers go on while the disk syncs
  Status s = file_->Sync();
  lock.lock();
  if (s.ok()) {
    synced_bytes_ = std::max(synced_bytes_, target);
  } else if (failed_.ok()) {
    failed_ = Status::Unavailable(s.message() + "; the write-ahead log " + name_ +
                                  " accepts no more writes until the store restarts");
  }
  return failed_;
}

StatusOr<std::unique_ptr<Wal>> Wal::Create(std::unique_ptr<WalFile> file, uint64_t size,
                                           std::string name, uint32_t sync_interval_ms) {
  if (size == 0) {
    Status s = file->Append(WalHeader());
    if (s.ok()) s = file->Sync();
    if (!s.ok()) return s;
    size = kWalHeaderBytes;
  }
  return std::unique_ptr<Wal>(new Wal(std::move(file), size, std::move(name), sync_interval_ms));
}

uint64_t Wal::durable_bytes() const {
  std::lock_guard lock(mu_);
  return durable_bytes_;
}

Status Wal::health() const {
  std::lock_guard lock(mu_);
  return failed_;
}

Status Wal::SyncWritten() {
  std::unique_lock lock(mu_);
  if (sync_interval_ms_ == 0) return failed_;  // every append was synced before it returned
  return SyncLocked(lock);
}

Status Wal::Append(const std::vector<std::string_view>& payloads, uint64_t* end) {
  if (payloads.empty()) return Status::InvalidArgument("an append needs at least one record");
  std::string framed;
  for (std::string_view payload : payloads) {
    if (payload.empty() || payload.size() > kWalMaxRecordBytes) {
      return Status::InvalidArgument("a log record must be 1 to " +
                                     std::to_string(kWalMaxRecordBytes) + " bytes, got " +
                                     std::to_string(payload.size()));
    }
    framed += FrameWalRecord(payload);
  }
  std::unique_lock lock(mu_);
  if (!failed_.ok()) return failed_;
  pending_ += framed;
  appended_bytes_ += framed.size();
  if (end != nullptr) *end = appended_bytes_;
  const uint64_t mine = ++appended_seq_;  // the call's records become durable together
  // Group commit: one thread at a time writes and syncs everything pending; the others wait
  // and find their record covered when it is done.
  while (durable_seq_ < mine && failed_.ok()) {
    if (leader_active_) {
      durable_cv_.wait(lock);
      continue;
    }
    leader_active_ = true;
    std::string batch;
    batch.swap(pending_);
    const uint64_t batch_end = appended_seq_;
    lock.unlock();  // no lock is held across the disk wait
    Status s = file_->Append(batch);
    if (s.ok() && sync_interval_ms_ == 0) s = file_->Sync();
    lock.lock();
    leader_active_ = false;
    if (s.ok()) {
      durable_seq_ = batch_end;
      durable_bytes_ += batch.size();
    } else {
      failed_ = Status::Unavailable(s.message() + "; the write-ahead log " + name_ +
                                    " accepts no more writes until the store restarts");
      // Unacknowledged records must not come back at recovery: cut them off if we can.
      (void)file_->Truncate(durable_bytes_);
    }
    durable_cv_.notify_all();
  }
  return durable_seq_ >= mine ? Status::Ok() : failed_;
}

}  // namespace vecmesh::engine
