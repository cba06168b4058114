// State files and the data directory's numbered files (docs/storage.md, "The data directory",
// "Checkpoints" and "Snapshots").
//
// A state file (a checkpoint `checkpoint-N.vmc`, or a snapshot `NAME.vms`) is a log file of its
// own, in the write-ahead log's framing: per collection a create record, then its live points in
// upsert records (a snapshot) or its slots and index image in slots and index-part records and
// where that image stands in the log (a checkpoint), and last an end record (0xFF + record count
// u64).
//
// Thread safety: plain functions over files; a file must not be written by two calls at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/status.h"
#include "engine/storage/wal.h"
#include "engine/storage/write_ops.h"
#include "engine/types.h"

namespace vecmesh::engine {

// One collection as a snapshot holds it: its configuration and live points.
struct CollectionState {
  CollectionConfig config;
  std::vector<Point> points;
};

// Snapshots are written as format version 3, although the log is at version 6: versions 4 to 6
// added records that snapshots never hold (restore, kind 9; a job's write, kind 10; the jobs,
// kind 11; applied-through, kind 12), so that a node of version 3 still restores the snapshots
// this one takes. Checkpoints are written at kWalVersion.
constexpr uint32_t kStateFileVersion = 3;

// Writes a state file record by record, beside its final `path` as PATH.tmp; Commit adds the
// end record, fsyncs it, renames it into place and fsyncs the directory, so a crash leaves the
// old file or the new one, never half of one (a stale .tmp is never read). Destroyed
// uncommitted, it removes the temp file. Not thread-safe.
class StateFileWriter {
 public:
  // Starts `path` (in directory `dir`) with the header of format `version`.
  static StatusOr<std::unique_ptr<StateFileWriter>> Create(std::string dir, std::string path,
                                                           uint32_t version);
  ~StateFileWriter();
  StateFileWriter(const StateFileWriter&) = delete;
  StateFileWriter& operator=(const StateFileWriter&) = delete;

  // One record: `op` on `collection`, or an encoded one (an AppliedThrough).
  Status Append(const std::string& collection, const WriteOp& op);
  Status Append(std::string_view record);
  // `jobs` (a checkpoint's JobLedger) in jobs records of a bounded size; nothing if empty.
  Status AppendJobs(const std::vector<JobTag>& jobs);
  Status Commit();

 private:
  StateFileWriter(std::string dir, std::string path, std::unique_ptr<WalFile> file);

  const std::string dir_;
  const std::string path_;
  static constexpr uint64_t kSyncEveryBytes = 8u << 20;
  std::unique_ptr<WalFile> file_;  // the temp file; null once committed
  uint64_t records_ = 0;
  uint64_t unsynced_bytes_ = 0;  // appended since the last fsync
};

// Writes `state` (consumed: its points are moved out) as a snapshot at `path` in directory
// `dir` (StateFileWriter, format version kStateFileVersion).
Status WriteStateFile(const std::string& dir, const std::string& path,
                      std::vector<CollectionState>* state);

// The records of the state file at `path`, in order, its end record checked and dropped.
// An error (Internal) says why the file is unusable: a bad checksum, or no end record (a torn
// tail included). The file is only read, never changed, whatever it holds (ReadWal).
StatusOr<std::vector<std::string>> ReadStateFile(const std::string& path);

// fsyncs directory `dir`, so that the files created, renamed or removed in it stay so.
Status SyncDir(const std::string& dir);
// fsyncs the file at `path` (its data and size), e.g. one linked or copied into place.
Status SyncFile(const std::string& path);

// The data directory's numbered files: log segments dir/wal-NNNNNNNN.log and checkpoints
// dir/checkpoint-NNNNNNNN.vmc (N from 1, zero-padded to 8 digits).
std::string SegmentPath(const std::string& dir, uint64_t n);
std::string CheckpointPath(const std::string& dir, uint64_t n);
// The numbers of the segments and of the checkpoints in `dir`, ascending.
std::vector<uint64_t> ListSegments(const std::string& dir);
std::vector<uint64_t> ListCheckpoints(const std::string& dir);

// A restored snapshot, kept for the restore record of the log that names it: `name`, relative to
// the data directory, is restores/restore-SSSSSSSS-Q.vms, where S is the log segment that holds
// the record and Q a sequence number unique among the directory's restore files. The file is
// needed as long as segment S is kept; a checkpoint deletes it with the segments before S + 1.
struct RestoreFile {
  uint64_t segment = 0;
  uint64_t seq = 0;
  std::string name;
};
constexpr char kRestoresDir[] = "restores";
RestoreFile MakeRestoreFile(uint64_t segment, uint64_t seq);
// The restore file `name` (relative, as above) names; nullopt if it is not one.
std::optional<RestoreFile> ParseRestoreFile(std::string_view name);
// The restore files in dir/restores (none if there is no such directory), ascending by
// (segment, seq).
std::vector<RestoreFile> ListRestoreFiles(const std::string& dir);

}  // namespace vecmesh::engine
