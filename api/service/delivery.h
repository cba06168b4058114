// Deliverer: ships every write to one remote backend (chroma, qdrant) of the collections that
// list it, in the order the local store applied them (API.md "Backends: one write, every store";
// ../shared/DESIGN.md, the transactional outbox).
//
// The outbox is the local store's write-ahead log, read through its change feed
// (engine::LocalAdmin::ReadLog): a write is durable once, there, before it is answered; the
// deliverer applies the logged operations to the remote store one after another (consecutive
// upserts to one collection in one call), at least once and idempotent by point id, so that the
// remote store ends exactly as the local one. Its position in the log and the collections it
// delivers (with their state) are persisted in STATE_DIR/BACKEND.state after each step, so
// delivery resumes where it stopped after the store's outage or a crash of vecmeshd; the log
// from that position on is held (LocalAdmin::HoldLog) until delivered.
//
// - A transient failure (the store unreachable, a timeout, 5xx, 429) is retried with backoff,
//   forever: nothing is dropped while the log holds the writes.
// - Upserts go in calls of at most max_points_per_call points. A call that runs out of time (a
//   slow or busy store) halves that size for the calls that follow, down to one point, and
//   kGrowAfterCalls calls in a row that succeed double it back: a backlog that one call cannot
//   carry in time is still delivered, in smaller calls, instead of timing out forever.
// - A refusal (a collection of another dimension exists there, a write it cannot take) marks
//   the collection `failed` with the store's message: delivery to it stops, until the
//   collection is dropped or made again.
// - More than max_pending_bytes of writes waiting marks the collections they belong to failed
//   ("too far behind"), and the log is let go.
// - A restored snapshot, or a log already let go (the backend was not configured for a while,
//   or a position past the log's end after a recovery cut it), is delivered as a resync: the
//   collection is made again there from the local store's points, and delivery goes on from
//   there (re-applying later writes is harmless: idempotent). A collection there is dropped only
//   if this deliverer made it ("ours"); one it finds, of the same configuration, is adopted.
//   Pending resyncs are persisted with the position, so a crash does not forget them.
//
// Thread safety: every public method is safe for concurrent use. One background thread delivers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "engine/local_admin.h"
#include "engine/logger.h"
#include "engine/storage/write_ops.h"
#include "engine/vector_store.h"

namespace vecmesh::api {

struct DeliveryOptions {
  std::string state_dir;                    // where BACKEND.state lives (created if missing)
  uint64_t max_pending_bytes = 1ull << 30;  // writes waiting for the backend, at most
  uint64_t read_bytes = 16u << 20;          // log read per step
  size_t max_points_per_call = 5000;        // points in one upsert call (see above), at most
  int retry_base_ms = 100;
  int retry_max_ms = 5000;
  int call_timeout_ms = 30000;  // one call to the backend
  engine::Logger logger;
};

// A backend's state for one collection, as write answers and the collection info report it.
enum class DeliveryState {
  kOk,           // everything accepted so far is applied there
  kPending,      // writes are durable here and not yet applied there (they will be)
  kFailed,       // the store refused a write permanently: delivery stopped (message says why)
  kUnavailable,  // nothing is waiting, but the store does not answer now
};
std::string_view DeliveryStateName(DeliveryState state);  // "ok", "pending", ...

struct DeliveryStatus {
  DeliveryState state = DeliveryState::kOk;
  uint64_t pending = 0;  // writes of the collection not yet applied there
  std::string message;   // why failed, or the last error while pending / unavailable
};

class Deliverer {
 public:
  // `remote` is the backend; `local` the catalog store (for resyncs), whose change feed `log` is.
  Deliverer(std::string backend, std::shared_ptr<engine::VectorStore> remote,
            std::shared_ptr<engine::VectorStore> local, std::shared_ptr<engine::LocalAdmin> log,
            DeliveryOptions options);
  ~Deliverer();  // Stop

  // Reads the persisted state (a new backend starts at the log's end, resyncing the collections
  // that already list it) and starts delivering. Fails on an unreadable state file.
  engine::Status Start();
  // Stops after the call in flight (bounded by call_timeout_ms) and persists the position.
  void Stop();
  // New writes are logged: deliver them now rather than at the next poll.
  void Notify();

  DeliveryStatus StatusOf(const std::string& collection) const;
  // Waits until the log up to `until` is delivered for `collection` (or it failed), or until
  // `deadline`; then StatusOf.
  DeliveryStatus WaitFor(const std::string& collection, engine::LogPosition until,
                         std::chrono::steady_clock::time_point deadline) const;

  struct Stats {
    uint64_t pending = 0;             // writes waiting, all collections
    uint64_t delivered = 0;           // operations applied there since start
    uint64_t failed_calls = 0;        // calls that failed (then retried, or failing a collection)
    uint64_t failed_collections = 0;  // now
    std::string last_error;           // of the last failed call; empty once a call succeeds
    size_t points_per_call = 0;       // the upsert call size now (below the maximum after timeouts)
  };
  Stats stats() const;

 private:
  // A record counted by the scan and not yet delivered.
  struct Waiting {
    engine::LogPosition end;
    uint64_t bytes = 0;
  };
  // What the deliverer knows of one collection.
  struct Track {
    bool delivering = false;  // the backend holds it (as of the delivery position)
    bool ours = false;        // this deliverer made it there (it may drop it)
    bool failed = false;
    // Failed, and a later create or drop of it is scanned but not yet delivered: the failure
    // no longer answers for it.
    bool recreated = false;
    std::string reason;
    std::deque<Waiting> pending;  // in log order
  };
  struct Record {
    std::string collection;
    engine::WriteOp op;
    engine::LogPosition end;
    uint64_t bytes = 0;
  };

  void Run();
  // Scans the log from scan_ to its end, counting the records that will need delivering.
  engine::Status Scan();
  // Delivers what follows position_ (one step); false when there was nothing to deliver.
  bool DeliverStep();
  // Applies `records` (consecutive, of one collection) to the backend, retrying transient
  // failures until it succeeds, is refused, or the deliverer stops (then false).
  bool Apply(const std::vector<Record>& records);
  // `sent`: the points of an upsert group already applied there (a retry goes on from them).
  engine::Status Call(const std::vector<Record>& records, size_t* sent);
  // Upserts points[*sent..] in calls of points_per_call_ points, advancing *sent after each call
  // that succeeds, and adapting points_per_call_ (see above).
  engine::Status UpsertInCalls(const std::string& collection,
                               const std::vector<engine::Point>& points, size_t* sent);
  engine::Status Resync(const engine::CallOptions& options, const std::string& collection);
  // The log from the position on cannot be read (gone, or past its end): every collection that
  // lists the backend, and every one delivered there, is resynced, from the log's end on.
  void ResyncAll(const engine::Status& why);
  // While the backend is failing and nothing is delivered: a cheap call, to know it is back.
  void Probe();
  // Runs `call` until it succeeds or is refused (true), retrying transient failures with
  // backoff; false if the deliverer stops meanwhile. A refusal fails `collection`.
  bool Retry(const std::string& collection, const std::function<engine::Status()>& call);
  // Everything before `end` is delivered.
  void Advance(engine::LogPosition end);
  void Fail(const std::string& collection, const std::string& reason);
  engine::Status Persist();  // mu_ not held
  engine::Status Load();
  engine::CallOptions CallDeadline() const;
  bool Holds(const engine::CollectionConfig& config) const;

  const std::string backend_;
  const std::shared_ptr<engine::VectorStore> remote_;
  const std::shared_ptr<engine::VectorStore> local_;
  const std::shared_ptr<engine::LocalAdmin> log_;
  const DeliveryOptions options_;
  const std::string state_path_;

  mutable std::mutex mu_;                    // guards everything below
  mutable std::condition_variable changed_;  // position_, tracks_ or stopping_ changed
  std::condition_variable wake_;             // Notify, Stop
  engine::LogPosition position_;             // everything before it is delivered
  engine::LogPosition scan_;                 // everything before it is counted
  std::map<std::string, Track> tracks_;
  std::map<std::string, bool> scan_delivering_;  // which collections the scan position delivers
  std::set<std::string> resync_;                 // collections to make again there first
  uint64_t pending_bytes_ = 0;
  bool notified_ = false;
  bool stopping_ = false;
  bool dirty_ = false;  // tracks_ changed since the last Persist
  Stats stats_;
  static constexpr int kGrowAfterCalls = 16;
  size_t points_per_call_;  // guarded by mu_, written by the delivery thread only
  int calls_at_size_ = 0;   // upsert calls in a row that succeeded at points_per_call_ (its own)
  std::chrono::steady_clock::time_point persisted_at_;  // the delivery thread's own
  engine::LogPosition persisted_;                       // the delivery thread's own
  std::thread thread_;
};

}  // namespace vecmesh::api
