// LocalAdmin: the operations that exist only in the local, FAISS-backed store (snapshots,
// checkpoints, the log's latency, and the id allocation of the legacy add_vectors), kept out of
// VectorStore so that a remote store never has to refuse them. LocalStore implements both.
//
// Thread safety: every method is safe for concurrent calls from any number of threads. A call
// that fails changes nothing, except where a method says otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/latency_histogram.h"
#include "engine/status.h"

namespace vecmesh::engine {

struct SnapshotInfo {
  std::string name;
  uint64_t size_bytes = 0;
  bool operator==(const SnapshotInfo&) const = default;
};

// A place in the write-ahead log: a segment and a byte offset in it (0: its start). Positions
// order as the log does.
struct LogPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  auto operator<=>(const LogPosition&) const = default;
};

// One record of the log: an operation encoded as engine/storage/write_ops.h says
// (DecodeWriteOp), and where the log goes on after it.
struct LogRecord {
  std::string bytes;
  LogPosition end;
};

struct LogRead {
  std::vector<LogRecord> records;
  LogPosition next;  // where the next read starts
};

class LocalAdmin {
 public:
  virtual ~LocalAdmin() = default;

  // Snapshots (durable stores only): a consistent point-in-time copy of one collection, taken
  // while writes continue (they wait only while its points are copied), in
  // data_dir/snapshots/COLLECTION/NAME.vms (the state-file format of docs/storage.md).
  virtual StatusOr<SnapshotInfo> CreateSnapshot(const std::string& collection) = 0;
  virtual StatusOr<std::vector<SnapshotInfo>> ListSnapshots(
      const std::string& collection) const = 0;
  // The file of a snapshot, for export.
  virtual StatusOr<std::string> SnapshotPath(const std::string& collection,
                                             const std::string& snapshot) const = 0;
  // Restores the snapshot file at `path` (one of ours, or one exported from another node) into
  // `collection`: created with the snapshot's configuration, or replaced if it exists. The
  // restore is one logged operation: after a crash the collection is as it was before it or as
  // the snapshot holds it (docs/storage.md). A file that is not a whole snapshot changes nothing
  // (InvalidArgument naming the path; NotFound if there is none); the file is never changed.
  // Writes to the collection while it is replaced may fail with Unavailable: retry them.
  virtual Status RestoreSnapshot(const std::string& path, const std::string& collection) = 0;
  // RestoreSnapshot from the bytes of a snapshot file (an upload), kept under
  // data_dir/snapshots/uploads while it is restored (durable stores only). An InvalidArgument
  // calls the file "the upload".
  virtual Status RestoreSnapshotBytes(std::string_view file, const std::string& collection) = 0;

  // Writes a checkpoint of every collection (data_dir/checkpoint-N.vmc) and drops the log it
  // makes unnecessary. Writers wait while the log is switched and the points are copied;
  // searches never wait. FailedPrecondition for an in-memory store.
  virtual Status Checkpoint() = 0;

  // How long durable log appends took, as writers saw them (write, fsync, and the wait for a
  // group commit), for metrics.
  virtual LatencyHistogram::Counts LogLatency() const = 0;

  // The change feed: the log read from outside, for delivering every write to other stores in
  // the order it was applied (API.md "Backends").
  //
  // The log's durable end: every write answered so far lies before it. {0, 0} in memory.
  virtual LogPosition LogEnd() const = 0;
  // The records from `from` (a position ReadLog or LogEnd gave, or {0, 0}: the oldest segment
  // kept) up to LogEnd, in log order, stopping once max_bytes are read (at least one record when
  // there is any): every create, drop, write and restore. FailedPrecondition when that part of
  // the log is gone (a checkpoint deleted it: see HoldLog) or the store is in memory.
  virtual StatusOr<LogRead> ReadLog(LogPosition from, uint64_t max_bytes) const = 0;
  // Keeps the log from `from` on: checkpoints delete no segment that a holder still reads. One
  // hold per `holder`, replaced by each call; nullopt releases it. Holds live in memory only.
  virtual void HoldLog(const std::string& holder, std::optional<LogPosition> from) = 0;

  // The largest integer id in `collection` (none if it holds no integer id).
  virtual StatusOr<std::optional<uint64_t>> MaxIntegerId(const std::string& collection) const = 0;

  // Whether the write of job `id` was applied (and is remembered: CallOptions::job_id).
  virtual bool JobApplied(const std::string& id) const = 0;
};

}  // namespace vecmesh::engine
