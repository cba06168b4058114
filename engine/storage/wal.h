// The write-ahead log: an append-only file of checksummed records, written with group commit.
// The format is described in docs/storage.md.
//
// Thread safety: Append is safe to call from any number of threads; concurrent appends share one
// write and one fsync. Records reach the file in the order their Append calls took the internal
// lock, the records of one call together and in order. RecoverWal and ReadWal are plain functions
// over a file nobody is writing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/status.h"

namespace vecmesh::engine {

// The file under the log. An interface so that tests can inject disk faults.
class WalFile {
 public:
  virtual ~WalFile() = default;
  virtual Status Append(std::string_view bytes) = 0;  // all of it, or an error
  virtual Status Sync() = 0;                          // fdatasync
  virtual Status Truncate(uint64_t size) = 0;         // drop everything past `size`
};

// Opens `path` for appending (creating it if missing). Errors name the path and errno's text.
StatusOr<std::unique_ptr<WalFile>> OpenPosixWalFile(const std::string& path);

enum class CorruptionPolicy {
  kFail,      // a bad record before the tail stops recovery with its file and offset
  kTruncate,  // the log is cut at the bad record (the operator chose to lose what follows)
};

struct WalRecovery {
  uint64_t records = 0;      // replayed
  uint64_t valid_bytes = 0;  // the log's size after recovery
  uint64_t cut_bytes = 0;    // dropped from the end: a torn tail, or what followed a cut
  std::string note;          // what was cut and why, for the log; empty if nothing was
};

// Reads the log at `path` (a missing or empty file is an empty log), calling replay(payload) for
// each valid record in order, and truncates a torn tail: a last record that is incomplete or
// fails its checksum, the trace of a crash during a write. A bad record followed by more data is
// corruption: Internal naming the file and the offset, unless policy is kTruncate. An error from
// `replay` stops recovery and is returned with the file and the record's offset; under kTruncate
// an Internal one (a record that cannot be replayed) is corruption and cut there instead.
// `replay` gets each record's payload and the offset where its frame ends (its LogPosition).
StatusOr<WalRecovery> RecoverWal(
    const std::string& path, CorruptionPolicy policy,
    const std::function<Status(std::string_view payload, uint64_t end)>& replay);

// Reads the log at `path` as RecoverWal does with CorruptionPolicy::kFail, but never changes the
// file (it is opened read-only): a torn tail is reported, in note and cut_bytes, with valid_bytes
// where it starts, and left in place. For files that are read but not appended to, such as
// snapshots, whose reading must leave them as they are.
StatusOr<WalRecovery> ReadWal(const std::string& path,
                              const std::function<Status(std::string_view)>& replay);

// Reads the records of the log file at `path` that lie in [from, end): `from` is a record
// boundary (or below kWalHeaderBytes: the start, whose header is then checked) and `end` one too,
// or UINT64_MAX for the end of the file. Calls record(payload, end of its frame) for each, in
// order, and stops after the first record that brings the payloads read to max_bytes or more.
// The range must hold whole, valid records (it was durable): a bad one is Internal naming the
// file and offset. A missing file is NotFound. The file is only read.
Status ReadWalRange(const std::string& path, uint64_t from, uint64_t end, uint64_t max_bytes,
                    const std::function<void(std::string_view payload, uint64_t end)>& record);

class Wal {
 public:
  // `file` holds a valid log of `size` bytes (0 for a new file: the header is written first).
  // sync_interval_ms 0 (the default, fsync=always): every append is fsynced before it returns.
  // Above 0: appends return once written (they survive a process crash, not a power loss), and
  // a background thread fsyncs every sync_interval_ms: the window a power loss can take.
  static StatusOr<std::unique_ptr<Wal>> Create(std::unique_ptr<WalFile> file, uint64_t size,
                                               std::string name, uint32_t sync_interval_ms = 0);
  ~Wal();

  // Appends the records `payloads` (at least one), one after the other, and returns once they
  // are durable (written and fsynced; only written in interval mode): a group of writes shares
  // one fsync. A record of the wrong size refuses the whole call, and nothing is appended.
  // `end`, when given, is set to the offset in the file where the call's last record ends.
  // A failed write or fsync fails this append and every later one (the log is then cut back to
  // its last durable size, best effort): an fsync is never retried, since its failure may have
  // dropped pages.
  Status Append(const std::vector<std::string_view>& payloads, uint64_t* end = nullptr);
  Status Append(std::string_view payload) { return Append(std::vector<std::string_view>{payload}); }

  // Makes every record whose Append has returned durable on disk (in interval mode, fsyncs what
  // is written; with fsync=always they already are). OK, or the failure that stopped the log.
  Status SyncWritten();

  uint64_t durable_bytes() const;
  // OK, or the failure that stopped the log.
  Status health() const;

 private:
  Wal(std::unique_ptr<WalFile> file, uint64_t size, std::string name, uint32_t sync_interval_ms);
  void RunSyncer();
  Status SyncLocked(std::unique_lock<std::mutex>& lock);  // interval mode: fsync what is written

  const std::string name_;  // for messages: the path
  mutable std::mutex mu_;   // guards everything below
  std::condition_variable durable_cv_;
  std::unique_ptr<WalFile> file_;
  std::string pending_;         // encoded records not yet handed to the file
  uint64_t appended_seq_ = 0;   // Append calls so far (each one's records together)
  uint64_t appended_bytes_;     // file size once every record appended so far is written
  uint64_t durable_seq_ = 0;    // Append calls known durable
  uint64_t durable_bytes_ = 0;  // file size covering the durable_seq_ calls' records
  bool leader_active_ = false;  // a thread is writing and syncing a batch
  Status failed_;               // sticky once a write or fsync failed
  const uint32_t sync_interval_ms_;
  uint64_t synced_bytes_ = 0;  // interval mode: what the last fsync covered
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread syncer_;  // interval mode only
};

// Version 2 added the checkpoint records that save slots and indexes; version 3 the create record
// of its own encoding, with the collection's backends; version 4 the restore record; version 5 a
// job's write and the jobs record of checkpoints; version 6 the applied-through record of
// checkpoints (docs/storage.md). Every version from 1 on is read. (Snapshots are still written as
// version 3: kStateFileVersion.)
constexpr uint32_t kWalVersion = 6;

// The file header of a log (and of a checkpoint, which is a log of its own), and one framed
// record, for writers that build a file in one go.
std::string WalHeader(uint32_t version = kWalVersion);
std::string FrameWalRecord(std::string_view payload);

// The log's on-disk framing, for docs and tests.
constexpr char kWalMagic[8] = {'V', 'M', 'W', 'A', 'L', 'O', 'G', '\0'};
constexpr size_t kWalHeaderBytes = 16;       // magic, version u32, crc32c u32 of the first 12 bytes
constexpr size_t kWalRecordHeaderBytes = 8;  // length u32, crc32c u32 of the payload
constexpr uint32_t kWalMaxRecordBytes = 256u << 20;

}  // namespace vecmesh::engine
