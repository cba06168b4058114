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
      state_path_(options_.state_dir + "/" + backend_ + ".state") {}

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
  }
  log_->HoldLog(backend_, position_);
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
    t.failed = c.value("failed", false);
    t.reason = c.value("reason", "");
  }
  return Status::Ok();
}

Status Deliverer::Persist() {
  json state = {{"version", 1}, {"collections", json::object()}};
  {
    std::lock_guard lock(mu_);
    state["position"] = {position_.segment, position_.offset};
    for (const auto& [name, t] : tracks_) {
      if (t.delivering) state["collections"][name] = {{"failed", t.failed}, {"reason", t.reason}};
    }
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
  return engine::SyncDir(options_.state_dir);
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
    {
      std::lock_guard lock(mu_);
      persist = dirty_ ||
                std::chrono::steady_clock::now() - persisted_at_ > std::chrono::milliseconds(200);
    }
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
    std::lock_guard lock(mu_);
    if (scan_ != from) return Status::Ok();  // a resync moved it meanwhile
    for (const engine::LogRecord& r : read->records) {
      std::string name;
      engine::WriteOp op;
      Status s = engine::DecodeWriteOp(r.bytes, &name, &op);
      if (!s.ok()) return s;
      bool& delivering = scan_delivering_[name];
      bool counts = delivering;
      std::visit(Overloaded{
                     [&](const engine::CreateCollectionOp& create) {
                       delivering = Holds(create.config);
                       counts = delivering;
                     },
                     [&](const engine::DropCollectionOp&) { delivering = false; },
                     [&](const engine::RestoreOp&) {
                       auto info = local_->GetCollection({}, name);
                       delivering = info.ok() && Holds(info->config);
                       counts = counts || delivering;
                     },
                     [&](const auto&) {},
                 },
                 op);
      Track& t = tracks_[name];
      if (counts && !t.failed) {
        t.pending.push_back({r.end, r.bytes.size()});
        pending_bytes_ += r.bytes.size();
      }
    }
    scan_ = read->next;
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
    if (read.status().code() != StatusCode::kFailedPrecondition) return false;
    // The log from our position is gone: make every collection again there, from now on.
    const LogPosition end = log_->LogEnd();
    std::lock_guard lock(mu_);
    if (options_.logger) {
      options_.logger("warning", "the log to deliver is gone; resyncing the backend",
                      {{"backend", backend_}, {"error", read.status().ToString()}});
    }
    for (auto& [name, t] : tracks_) {
      if (t.delivering && !t.failed) resync_.insert(name);
      for (const Waiting& w : t.pending) pending_bytes_ -= w.bytes;
      t.pending.clear();
    }
    position_ = scan_ = end;
    scan_delivering_.clear();
    for (const auto& [name, t] : tracks_) scan_delivering_[name] = t.delivering;
    dirty_ = true;
    return true;
  }
  std::vector<Record> records;
  for (engine::LogRecord& r : read->records) {
    Record record;
    Status s = engine::DecodeWriteOp(r.bytes, &record.collection, &record.op);
    if (!s.ok()) return false;
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
        if (!next || points + next->points.size() > options_.max_points_per_call) break;
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
    log_->HoldLog(backend_, group.back().end);
    i = j;
  }
  Advance(read->next);
  return true;
}

bool Deliverer::Apply(const std::vector<Record>& records) {
  const Record& first = records.front();
  const std::string& name = first.collection;
  bool deliver = false;
  {
    std::lock_guard lock(mu_);
    Track& t = tracks_[name];
    std::visit(Overloaded{
                   [&](const engine::CreateCollectionOp& create) {
                     // A new collection of that name: a failure of the old one is forgotten.
                     t.delivering = Holds(create.config);
                     t.failed = false;
                     t.reason.clear();
                     deliver = t.delivering;
                     dirty_ = true;
                   },
                   [&](const engine::RestoreOp&) { deliver = true; },
                   [&](const auto&) { deliver = t.delivering && !t.failed; },
               },
               first.op);
  }
  if (!deliver) return true;
  return Retry(name, [&] { return Call(records); });
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
    const int cap =
        std::min(options_.retry_max_ms, options_.retry_base_ms << std::min(attempt, 16));
    const auto wait = std::chrono::milliseconds(
        std::uniform_int_distribution<int>(options_.retry_base_ms / 2, std::max(cap, 1))(random));
    wake_.wait_for(lock, wait, [&] { return stopping_; });
    if (stopping_) return false;
  }
}

Status Deliverer::Call(const std::vector<Record>& records) {
  const Record& first = records.front();
  const std::string& name = first.collection;
  const CallOptions options = CallDeadline();
  return std::visit(Overloaded{
                        [&](const engine::CreateCollectionOp& create) {
                          auto created = remote_->CreateCollection(options, create.config);
                          return created.ok() ? Status::Ok() : created.status();
                        },
                        [&](const engine::DropCollectionOp&) {
                          Status s = remote_->DropCollection(options, name);
                          if (s.ok() || s.code() == StatusCode::kNotFound) {
                            std::lock_guard lock(mu_);
                            tracks_[name].delivering = false;
                            dirty_ = true;
                            return Status::Ok();
                          }
                          return s;
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
                          auto written = remote_->Upsert(options, name, std::move(points));
                          return written.ok() ? Status::Ok() : written.status();
                        },
                        [&](const engine::DeleteOp& del) {
                          if (del.ids.empty()) return Status::Ok();
                          auto deleted = remote_->Delete(options, name, del.ids);
                          return deleted.ok() ? Status::Ok() : deleted.status();
                        },
                        [&](const engine::SetPayloadOp& set) {
                          auto updated =
                              remote_->SetPayload(options, name, set.ids, set.payload, set.mode);
                          return updated.ok() ? Status::Ok() : updated.status();
                        },
                        [&](const engine::RestoreOp&) { return Resync(options, name); },
                        // Only in checkpoints, never in the log segments read here.
                        [&](const engine::SlotsOp&) { return Status::Ok(); },
                        [&](const engine::IndexPartOp&) { return Status::Ok(); },
                    },
                    first.op);
}

Status Deliverer::Resync(const CallOptions& options, const std::string& collection) {
  auto info = local_->GetCollection({}, collection);
  Status dropped = remote_->DropCollection(options, collection);
  if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  const bool holds = info.ok() && Holds(info->config);
  {
    std::lock_guard lock(mu_);
    Track& t = tracks_[collection];
    t.delivering = holds;
    t.failed = false;
    t.reason.clear();
    dirty_ = true;
  }
  if (!holds) return Status::Ok();
  auto created = remote_->CreateCollection(options, info->config);
  if (!created.ok()) return created.status();
  engine::ScrollRequest page;
  page.limit = static_cast<int64_t>(options_.max_points_per_call);
  page.with_vector = true;
  while (true) {
    auto points = local_->Scroll({}, collection, page);
    if (!points.ok())
      return points.status().code() == StatusCode::kNotFound ? Status::Ok() : points.status();
    std::vector<engine::Point> batch;
    for (engine::Record& r : points->points) {
      batch.push_back({r.id, std::move(*r.vector), std::move(*r.payload)});
    }
    if (!batch.empty()) {
      auto written = remote_->Upsert(CallDeadline(), collection, std::move(batch));
      if (!written.ok()) return written.status();
    }
    if (!points->next_cursor) return Status::Ok();
    page.cursor = points->next_cursor;
  }
}

DeliveryStatus Deliverer::StatusOf(const std::string& collection) const {
  std::lock_guard lock(mu_);
  DeliveryStatus status;
  auto it = tracks_.find(collection);
  if (it != tracks_.end() && it->second.failed) {
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
      if (stopping_ || !(position_ < until)) return true;
      auto it = tracks_.find(collection);
      if (it == tracks_.end()) return !(scan_ < until) && !resync_.count(collection);
      const Track& t = it->second;
      return t.failed || (!(scan_ < until) && !resync_.count(collection) &&
                          (t.pending.empty() || until < t.pending.front().end));
    });
  }
  return StatusOf(collection);
}

Deliverer::Stats Deliverer::stats() const {
  std::lock_guard lock(mu_);
  Stats stats = stats_;
  stats.pending = 0;
  for (const auto& [name, t] : tracks_) {
    stats.pending += t.pending.size();
    stats.failed_collections += t.delivering && t.failed;
  }
  return stats;
}

}  // namespace vecmesh::api
