#include "api/service/delivery.h"

#include <filesystem>
#include <fstream>
#include <random>

#include "engine/storage/state_file.h"
#include "engine/storage/wal.h"

namespace vecmesh::api {

using engine::CallOptions;
using engine::LogPosition;
using engine::Overloaded;
using engine::Status;
using engine::StatusCode;
using json = nlohmann::json;

std::string_view DeliveryStateName(DeliveryState state) {
  switch (state) {
    case DeliveryState::kOk:
      return "ok";
    case DeliveryState::kPending:
      return "pending";
    case DeliveryState::kFailed:
      return "failed";
    case DeliveryState::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

Deliverer::Deliverer(std::string backend, std::shared_ptr<engine::VectorStore> remote,
                     std::shared_ptr<engine::VectorStore> local,
                     std::shared_ptr<engine::LocalAdmin> log, DeliveryOptions options)
    : backend_(std::move(backend)),
      remote_(std::move(remote)),
      local_(std::move(local)),
      log_(std::move(log)),
      options_(std::move(options)),
      state_path_(options_.state_dir + "/" + backend_ + ".state"),
      points_per_call_(std::max<size_t>(1, options_.max_points_per_call)) {}

Deliverer::~Deliverer() { Stop(); }

bool Deliverer::Holds(const engine::CollectionConfig& config) const {
  return std::find(config.backends.begin(), config.backends.end(), backend_) !=
         config.backends.end();
}

CallOptions Deliverer::CallDeadline() const {
  return CallOptions::WithTimeout(std::chrono::milliseconds(options_.call_timeout_ms));
}

Status Deliverer::Start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  if (ec) return Status::Unavailable("creating " + options_.state_dir + " failed: " + ec.message());
  Status s = Load();
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    scan_ = position_;
    for (const auto& [name, track] : tracks_) scan_delivering_[name] = track.delivering;
    // Collections still to be made there count their writes from now on too.
    for (const std::string& name : resync_) scan_delivering_[name] = true;
  }
  persisted_ = position_;
  log_->HoldLog(backend_, persisted_);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Deliverer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Deliverer::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  wake_.notify_all();
}

Status Deliverer::Load() {
  if (!std::filesystem::exists(state_path_)) {
    // A new backend: deliver from now on; collections that already list it are made there.
    position_ = log_->LogEnd();
    auto all = local_->ListCollections({});
    if (!all.ok()) return all.status();
    for (const auto& info : *all) {
      if (Holds(info.config)) resync_.insert(info.config.name);
    }
    dirty_ = true;
    return Status::Ok();
  }
  json state;
  auto read = engine::ReadWal(state_path_, [&](std::string_view record) {
    state = json::parse(record, nullptr, false);
    return Status::Ok();
  });
  if (!read.ok()) return read.status();
  if (!state.is_object() || state.value("version", 0) != 1 || !state["position"].is_array() ||
      !state["collections"].is_object()) {
    return Status::Internal(state_path_ + " is not a delivery state file of version 1");
  }
  position_ = {state["position"][0].get<uint64_t>(), state["position"][1].get<uint64_t>()};
  for (const auto& [name, c] : state["collections"].items()) {
    Track& t = tracks_[name];
    t.delivering = true;
    t.ours = c.value("ours", false);
    t.failed = c.value("failed", false);
    t.reason = c.value("reason", "");
  }
  for (const json& name : state.value("resync", json::array())) {
    resync_.insert(name.get<std::string>());
  }
  return Status::Ok();
}

Status Deliverer::Persist() {
  json state = {{"version", 1}, {"collections", json::object()}};
  LogPosition position;
  {
    std::lock_guard lock(mu_);
    position = position_;
    state["position"] = {position.segment, position.offset};
    for (const auto& [name, t] : tracks_) {
      if (t.delivering) {
        state["collections"][name] = {{"ours", t.ours}, {"failed", t.failed}, {"reason", t.reason}};
      }
    }
    state["resync"] = resync_;
    dirty_ = false;
  }
  persisted_at_ = std::chrono::steady_clock::now();
  // The state file is a log of one record (docs/storage.md's framing, checksummed), written
  // beside and renamed into place.
  const std::string tmp = state_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << engine::WalHeader() << engine::FrameWalRecord(state.dump());
    if (!out.flush()) return Status::Unavailable("writing " + tmp + " failed");
  }
  Status s = engine::SyncFile(tmp);
  if (!s.ok()) return s;
  std::error_code ec;
  std::filesystem::rename(tmp, state_path_, ec);
  if (ec) return Status::Unavailable("renaming " + tmp + " failed: " + ec.message());
  s = engine::SyncDir(options_.state_dir);
  if (!s.ok()) return s;
  // The log is held from where a restart would deliver from: the persisted position.
  persisted_ = position;
  log_->HoldLog(backend_, persisted_);
  return Status::Ok();
}

void Deliverer::Run() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    std::string resync;
    {
      std::lock_guard lock(mu_);
      if (!resync_.empty()) resync = *resync_.begin();
    }
    bool worked = false;
    if (!resync.empty()) {
      const bool done = Retry(resync, [&] { return Resync(CallDeadline(), resync); });
      if (done) {
        std::lock_guard lock(mu_);
        resync_.erase(resync);
        changed_.notify_all();
      }
      worked = true;
    } else {
      Status s = Scan();
      if (!s.ok() && options_.logger) {
        options_.logger("error", "reading the log for delivery failed",
                        {{"backend", backend_}, {"error", s.ToString()}});
      }
      worked = DeliverStep();
    }
    bool persist;
    bool failing;
    {
      std::lock_guard lock(mu_);
      persist = dirty_ ||
                (position_ != persisted_ &&
                 std::chrono::steady_clock::now() - persisted_at_ > std::chrono::milliseconds(200));
      failing = !stats_.last_error.empty();
    }
    if (!worked && failing) Probe();
    if (persist) {
      Status s = Persist();
      if (!s.ok() && options_.logger) {
        options_.logger("error", "persisting the delivery position failed",
                        {{"backend", backend_}, {"error", s.ToString()}});
      }
    }
    std::unique_lock lock(mu_);
    if (!worked && !stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_ || notified_; });
    }
    notified_ = false;
  }
  (void)Persist();
}

Status Deliverer::Scan() {
  for (int reads = 0; reads < 4; ++reads) {
    LogPosition from;
    {
      std::lock_guard lock(mu_);
      from = scan_;
    }
    if (!(from < log_->LogEnd())) return Status::Ok();
    auto read = log_->ReadLog(from, options_.read_bytes);
    if (!read.ok()) return read.status();
    // Decoded (and a restored collection looked up) outside the lock: writers wait on it.
    struct Scanned {
      std::string name;
      engine::WriteOp op;
      LogPosition end;
      uint64_t bytes = 0;
      bool restored_holds = false;
    };
    std::vector<Scanned> scanned;
    for (const engine::LogRecord& r : read->records) {
      Scanned one;
      one.end = r.end;
      one.bytes = r.bytes.size();
      Status s = engine::DecodeWriteOp(r.bytes, &one.name, &one.op);
      if (!s.ok()) return s;
      if (std::holds_alternative<engine::RestoreOp>(one.op)) {
        auto info = local_->GetCollection({}, one.name);
        one.restored_holds = info.ok() && Holds(info->config);
      }
      scanned.push_back(std::move(one));
    }
    std::lock_guard lock(mu_);
    if (scan_ != from) return Status::Ok();  // a resync moved it meanwhile
    for (const Scanned& r : scanned) {
      bool& delivering = scan_delivering_[r.name];
      bool counts = delivering;
      Track& t = tracks_[r.name];
      std::visit(Overloaded{
                     [&](const engine::CreateCollectionOp& create) {
                       delivering = Holds(create.config);
                       counts = delivering;
                       // A failed collection made again is delivered from this create on.
                       t.recreated = t.failed && delivering;
                     },
                     [&](const engine::DropCollectionOp&) {
                       delivering = false;
                       // A failed collection dropped: the drop is delivered (ours goes there too).
                       t.recreated = t.failed && counts;
                     },
                     [&](const engine::RestoreOp&) {
                       counts = counts || r.restored_holds;
                       delivering = r.restored_holds;
                     },
                     [&](const auto&) {},
                 },
                 r.op);
      // A record the delivery already passed (it read the log's end first) waits for nothing.
      if (counts && (!t.failed || t.recreated) && position_ < r.end) {
        t.pending.push_back({r.end, r.bytes});
        pending_bytes_ += r.bytes;
      }
    }
    scan_ = read->next;
    changed_.notify_all();
    if (pending_bytes_ > options_.max_pending_bytes) {
      const std::string reason =
          "too far behind: " + std::to_string(pending_bytes_) + " bytes of writes waited for " +
          backend_ + ", over the bound of " + std::to_string(options_.max_pending_bytes) +
          " (--delivery-max-pending-bytes)";
      std::vector<std::string> behind;
      for (const auto& [name, t] : tracks_) {
        if (!t.pending.empty()) behind.push_back(name);
      }
      for (const std::string& name : behind) Fail(name, reason);
    }
  }
  return Status::Ok();
}

void Deliverer::Fail(const std::string& collection, const std::string& reason) {
  Track& t = tracks_[collection];
  t.failed = true;
  t.reason = reason;
  for (const Waiting& w : t.pending) pending_bytes_ -= w.bytes;
  t.pending.clear();
  dirty_ = true;
  changed_.notify_all();
  if (options_.logger) {
    options_.logger("error", "delivery to a backend stopped for a collection",
                    {{"backend", backend_}, {"collection", collection}, {"reason", reason}});
  }
}

void Deliverer::Advance(LogPosition end) {
  std::lock_guard lock(mu_);
  position_ = end;
  for (auto& [name, t] : tracks_) {
    while (!t.pending.empty() && !(end < t.pending.front().end)) {
      pending_bytes_ -= t.pending.front().bytes;
      t.pending.pop_front();
    }
  }
  changed_.notify_all();
}

bool Deliverer::DeliverStep() {
  LogPosition from;
  {
    std::lock_guard lock(mu_);
    from = position_;
  }
  if (!(from < log_->LogEnd())) return false;
  auto read = log_->ReadLog(from, options_.read_bytes);
  if (!read.ok()) {
    const StatusCode code = read.status().code();
    if (code != StatusCode::kFailedPrecondition && code != StatusCode::kInvalidArgument) {
      return false;  // the disk: tried again at the next step
    }
    ResyncAll(read.status());
    return true;
  }
  std::vector<Record> records;
  for (engine::LogRecord& r : read->records) {
    Record record;
    Status s = engine::DecodeWriteOp(r.bytes, &record.collection, &record.op);
    if (!s.ok()) {
      // The local store could not have replayed it either: delivery stops here, loudly.
      if (options_.logger) {
        options_.logger("error", "a log record cannot be delivered",
                        {{"backend", backend_}, {"error", s.ToString()}});
      }
      return false;
    }
    record.end = r.end;
    record.bytes = r.bytes.size();
    records.push_back(std::move(record));
  }
  if (records.empty()) {
    Advance(read->next);
    return true;
  }
  // Consecutive upserts to one collection go in one call.
  for (size_t i = 0; i < records.size();) {
    size_t j = i + 1;
    if (const auto* up = std::get_if<engine::UpsertOp>(&records[i].op)) {
      size_t points = up->points.size();
      while (j < records.size() && records[j].collection == records[i].collection) {
        const auto* next = std::get_if<engine::UpsertOp>(&records[j].op);
        if (!next || points + next->points.size() > points_per_call_) break;
        points += next->points.size();
        ++j;
      }
    }
    std::vector<Record> group(std::make_move_iterator(records.begin() + i),
                              std::make_move_iterator(records.begin() + j));
    if (!Apply(group)) return true;  // stopping
    Advance(group.back().end);
    {
      std::lock_guard lock(mu_);
      stats_.delivered += group.size();
    }
    i = j;
  }
  Advance(read->next);
  return true;
}

void Deliverer::ResyncAll(const Status& why) {
  const LogPosition end = log_->LogEnd();
  auto all = local_->ListCollections({});
  if (!all.ok()) return;  // tried again at the next step
  std::lock_guard lock(mu_);
  if (options_.logger) {
    options_.logger("warn", "the log to deliver cannot be read; resyncing the backend",
                    {{"backend", backend_}, {"error", why.ToString()}});
  }
  scan_delivering_.clear();
  for (const auto& info : *all) {
    if (!Holds(info.config)) continue;
    resync_.insert(info.config.name);
    scan_delivering_[info.config.name] = true;
  }
  for (auto& [name, t] : tracks_) {
    if (t.delivering) resync_.insert(name);  // dropped here since: dropped there
    for (const Waiting& w : t.pending) pending_bytes_ -= w.bytes;
    t.pending.clear();
  }
  position_ = scan_ = end;
  dirty_ = true;
  changed_.notify_all();
}

void Deliverer::Probe() {
  auto answer = remote_->ListCollections(CallOptions::WithTimeout(std::chrono::seconds(2)));
  if (!answer.ok()) return;
  std::lock_guard lock(mu_);
  stats_.last_error.clear();
  changed_.notify_all();
}

bool Deliverer::Apply(const std::vector<Record>& records) {
  const Record& first = records.front();
  const std::string& name = first.collection;
  bool deliver = false;
  bool restored_holds = false;
  if (std::holds_alternative<engine::RestoreOp>(first.op)) {
    auto info = local_->GetCollection({}, name);
    restored_holds = info.ok() && Holds(info->config);
  }
  {
    std::lock_guard lock(mu_);
    Track& t = tracks_[name];
    const Overloaded decide{
        [&](const engine::CreateCollectionOp& create) {
          // A new collection of that name: a failure of the old one is forgotten.
          t.delivering = Holds(create.config);
          t.failed = false;
          t.recreated = false;
          t.reason.clear();
          deliver = t.delivering;
          dirty_ = true;
        },
        [&](const engine::DropCollectionOp&) {
          // Dropped there too if it is ours, failed or not; a failure is forgotten.
          deliver = t.delivering && (t.ours || !t.failed);
          if (!deliver && t.delivering) {
            std::deque<Waiting> pending = std::move(t.pending);
            t = Track{};
            t.pending = std::move(pending);
            dirty_ = true;
          }
        },
        [&](const engine::RestoreOp&) { deliver = t.delivering || restored_holds; },
        [&](const auto&) { deliver = t.delivering && !t.failed; },
    };
    std::visit(decide, first.op);
  }
  if (!deliver) return true;
  size_t sent = 0;
  return Retry(name, [&] { return Call(records, &sent); });
}

bool Deliverer::Retry(const std::string& collection, const std::function<Status()>& call) {
  std::mt19937_64 random(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    Status s = call();
    std::unique_lock lock(mu_);
    if (s.ok()) {
      stats_.last_error.clear();
      return true;
    }
    ++stats_.failed_calls;
    if (engine::CategoryOf(s.code()) != engine::ErrorCategory::kTransient) {
      Fail(collection, s.message());
      return true;
    }
    stats_.last_error = s.message();
    changed_.notify_all();
    const int cap = std::max(
        1, std::min(options_.retry_max_ms, options_.retry_base_ms << std::min(attempt, 16)));
    const auto wait = std::chrono::milliseconds(
        std::uniform_int_distribution<int>(std::min(options_.retry_base_ms / 2, cap), cap)(random));
    // While it waits, new writes are still counted (a write answer reports them pending).
    const auto retry_at = std::chrono::steady_clock::now() + wait;
    while (!stopping_ && std::chrono::steady_clock::now() < retry_at) {
      notified_ = false;
      lock.unlock();
      (void)Scan();
      lock.lock();
      wake_.wait_until(
          lock,
          std::min(retry_at, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)),
          [&] { return stopping_ || notified_; });
    }
    if (stopping_) return false;
    // Failed meanwhile (too far behind): this call is given up with the collection.
    if (auto it = tracks_.find(collection); it != tracks_.end() && it->second.failed) return true;
  }
}

Status Deliverer::Call(const std::vector<Record>& records, size_t* sent) {
  const Record& first = records.front();
  const std::string& name = first.collection;
  const CallOptions options = CallDeadline();
  const Overloaded call{
      [&](const engine::CreateCollectionOp& create) {
        auto created = remote_->CreateCollection(options, create.config);
        if (!created.ok()) return created.status();
        std::lock_guard lock(mu_);
        tracks_[name].ours = true;
        dirty_ = true;
        return Status::Ok();
      },
      [&](const engine::DropCollectionOp&) {
        Status s = remote_->DropCollection(options, name);
        if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
        std::lock_guard lock(mu_);
        Track& t = tracks_[name];
        std::deque<Waiting> pending = std::move(t.pending);
        t = Track{};
        t.pending = std::move(pending);
        dirty_ = true;
        return Status::Ok();
      },
      [&](const engine::UpsertOp&) {
        // The records' points, each id once (the last write of it wins).
        std::vector<engine::Point> points;
        std::map<engine::PointId, size_t> place;
        for (const Record& r : records) {
          for (const engine::Point& p : std::get<engine::UpsertOp>(r.op).points) {
            if (auto it = place.find(p.id); it != place.end()) {
              points[it->second] = p;
            } else {
              place.emplace(p.id, points.size());
              points.push_back(p);
            }
          }
        }
        return UpsertInCalls(name, points, sent);
      },
      [&](const engine::DeleteOp& del) {
        if (del.ids.empty()) return Status::Ok();
        auto deleted = remote_->Delete(options, name, del.ids);
        return deleted.ok() ? Status::Ok() : deleted.status();
      },
      [&](const engine::SetPayloadOp& set) {
        auto updated = remote_->SetPayload(options, name, set.ids, set.payload, set.mode);
        return updated.ok() ? Status::Ok() : updated.status();
      },
      [&](const engine::RestoreOp&) { return Resync(options, name); },
      // Only in checkpoints, never in the log segments read here.
      [&](const engine::SlotsOp&) { return Status::Ok(); },
      [&](const engine::IndexPartOp&) { return Status::Ok(); },
      [&](const engine::JobsOp&) { return Status::Ok(); },
  };
  return std::visit(call, first.op);
}

Status Deliverer::Resync(const CallOptions& options, const std::string& collection) {
  auto info = local_->GetCollection({}, collection);
  const bool holds = info.ok() && Holds(info->config);
  bool ours;
  {
    std::lock_guard lock(mu_);
    const Track& t = tracks_[collection];
    ours = t.delivering && (t.ours || !t.failed);
  }
  // Only a collection this deliverer made is dropped there; one found there is adopted.
  if (ours) {
    Status dropped = remote_->DropCollection(options, collection);
    if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  }
  {
    std::lock_guard lock(mu_);
    Track& t = tracks_[collection];
    t.delivering = holds;
    t.ours = false;
    t.failed = false;
    t.recreated = false;
    t.reason.clear();
    dirty_ = true;
  }
  if (!holds) return Status::Ok();
  auto created = remote_->CreateCollection(options, info->config);
  if (!created.ok()) return created.status();
  {
    std::lock_guard lock(mu_);
    tracks_[collection].ours = true;
  }
  engine::ScrollRequest page;
  page.with_vector = true;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::Unavailable("stopping: the resync starts again at the restart");
    }
    page.limit = static_cast<int64_t>(points_per_call_);
    auto points = local_->Scroll({}, collection, page);
    if (!points.ok()) {
      return points.status().code() == StatusCode::kNotFound ? Status::Ok() : points.status();
    }
    std::vector<engine::Point> batch;
    for (engine::Record& r : points->points) {
      batch.push_back({r.id, std::move(*r.vector), std::move(*r.payload)});
    }
    size_t sent = 0;
    Status s = UpsertInCalls(collection, batch, &sent);
    if (!s.ok()) return s;
    if (!points->next_cursor) return Status::Ok();
    page.cursor = points->next_cursor;
  }
}

Status Deliverer::UpsertInCalls(const std::string& collection,
                                const std::vector<engine::Point>& points, size_t* sent) {
  while (*sent < points.size()) {
    const size_t n = std::min(points_per_call_, points.size() - *sent);
    std::vector<engine::Point> call(points.begin() + *sent, points.begin() + *sent + n);
    auto written = remote_->Upsert(CallDeadline(), collection, std::move(call));
    if (!written.ok()) {
      if (written.status().code() == StatusCode::kDeadlineExceeded && n > 1) {
        {
          std::lock_guard lock(mu_);
          points_per_call_ = n / 2;
        }
        calls_at_size_ = 0;
        if (options_.logger) {
          options_.logger("warn", "an upsert call timed out; the calls that follow are halved",
                          {{"backend", backend_},
                           {"collection", collection},
                           {"points_per_call", points_per_call_}});
        }
      }
      return written.status();
    }
    *sent += n;
    if (points_per_call_ < options_.max_points_per_call && ++calls_at_size_ >= kGrowAfterCalls) {
      std::lock_guard lock(mu_);
      points_per_call_ = std::min(options_.max_points_per_call, points_per_call_ * 2);
      calls_at_size_ = 0;
    }
  }
  return Status::Ok();
}

DeliveryStatus Deliverer::StatusOf(const std::string& collection) const {
  std::lock_guard lock(mu_);
  DeliveryStatus status;
  auto it = tracks_.find(collection);
  if (it != tracks_.end() && it->second.failed && !it->second.recreated) {
    return {DeliveryState::kFailed, 0, it->second.reason};
  }
  status.pending = it == tracks_.end() ? 0 : it->second.pending.size();
  if (resync_.count(collection)) status.pending = std::max<uint64_t>(status.pending, 1);
  if (status.pending > 0) {
    status.state = DeliveryState::kPending;
    status.message = stats_.last_error;
  } else if (!stats_.last_error.empty()) {
    status.state = DeliveryState::kUnavailable;
    status.message = stats_.last_error;
  }
  return status;
}

DeliveryStatus Deliverer::WaitFor(const std::string& collection, LogPosition until,
                                  std::chrono::steady_clock::time_point deadline) const {
  {
    std::unique_lock lock(mu_);
    changed_.wait_until(lock, deadline, [&] {
      if (stopping_) return true;
      // A collection being made there again waits for that, wherever the position is.
      if (resync_.count(collection)) return false;
      if (!(position_ < until)) return true;
      // Until the scan has counted the writes up to `until`, nothing can be said.
      if (scan_ < until) return false;
      auto it = tracks_.find(collection);
      if (it == tracks_.end()) return true;
      const Track& t = it->second;
      return (t.failed && !t.recreated) || t.pending.empty() || until < t.pending.front().end;
    });
  }
  return StatusOf(collection);
}

Deliverer::Stats Deliverer::stats() const {
  std::lock_guard lock(mu_);
  Stats stats = stats_;
  stats.points_per_call = points_per_call_;
  stats.pending = 0;
  for (const auto& [name, t] : tracks_) {
    stats.pending += t.pending.size();
    stats.failed_collections += t.delivering && t.failed;
  }
  return stats;
}

}  // namespace vecmesh::api
