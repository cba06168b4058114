#include "engine/storage/write_ops.h"

#include <cstring>
#include <iterator>
#include <limits>
#include <optional>

namespace vecmesh::engine {
namespace {

enum class Kind : uint8_t {
  kCreateV1 = 1,  // read, never written: its index config is API JSON (see ReadCreateV1)
  kDrop = 2,
  kUpsert = 3,
  kDelete = 4,
  kSetPayload = 5,
  kSlots = 6,
  kIndexPart = 7,
  kCreate = 8,
  kRestore = 9,
  kJob = 10,             // a job's write: the tag, then the write's kind and body
  kJobs = 11,            // checkpoints only: the jobs applied within the retention
  kAppliedThrough = 12,  // checkpoints only, not an operation: AppliedThrough
};

// The index parameters of a create record, in their order on disk, each an i32. The record
// says how many it holds, so that a later version can append one without a new record kind:
// parameters past that count keep their defaults.
constexpr int IndexConfig::*kIndexParams[] = {
    &IndexConfig::hnsw_m,   &IndexConfig::ef_construction, &IndexConfig::ef_search,
    &IndexConfig::nlist,    &IndexConfig::nprobe,          &IndexConfig::pq_m,
    &IndexConfig::pq_nbits,
};
constexpr size_t kNumIndexParams = std::size(kIndexParams);

class Writer {
 public:
  void U8(uint8_t v) { out.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out.append(s);
  }
  void Raw(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  void Id(const PointId& id) {
    if (const auto* n = std::get_if<uint64_t>(&id)) {
      U8(0);
      U64(*n);
    } else {
      U8(1);
      Str(std::get<std::string>(id));
    }
  }
  void Ids(const std::vector<PointId>& ids) {
    U32(static_cast<uint32_t>(ids.size()));
    for (const PointId& id : ids) Id(id);
  }
  void Vector(const std::vector<float>& v) {
    U32(static_cast<uint32_t>(v.size()));
    Raw(v.data(), v.size() * sizeof(float));
  }
  std::string out;
};

// Reads fields in order; after the first overrun every read fails and ok() is false.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }
  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, 8);
    return v;
  }
  std::string Str() {
    uint32_t n = U32();
    if (!ok_ || n > in_.size()) return Fail<std::string>();
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  void Raw(void* p, size_t n) {
    if (!ok_ || n > in_.size()) {
      ok_ = false;
      return;
    }
    // An empty vector has no buffer: memcpy must not see its null pointer, even for 0 bytes.
    if (n > 0) std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
  }
  PointId Id() {
    uint8_t tag = U8();
    if (tag == 0) return U64();
    if (tag == 1) return Str();
    return Fail<PointId>();
  }
  std::vector<PointId> Ids() {
    uint32_t n = U32();
    std::vector<PointId> ids;
    for (uint32_t i = 0; i < n && ok_; ++i) ids.push_back(Id());
    return ids;
  }
  std::vector<float> Vector() {
    const uint32_t dim = U32();
    if (!ok_ || dim > in_.size() / sizeof(float)) return Fail<std::vector<float>>();
    std::vector<float> v(dim);
    Raw(v.data(), dim * sizeof(float));
    return v;
  }
  Payload Json() {
    std::string text = Str();
    if (JsonNestingDepth(text) > kMaxJsonDepth) return Fail<Payload>();  // a crafted snapshot
    Payload p = Payload::parse(text, nullptr, /*allow_exceptions=*/false);
    if (p.is_discarded()) return Fail<Payload>();
    return p;
  }
  // What is left to read, consumed.
  std::string_view Rest() {
    std::string_view rest = ok_ ? in_ : std::string_view();
    in_ = {};
    return rest;
  }

 private:
  template <typename T>
  T Fail() {
    ok_ = false;
    return T{};
  }
  std::string_view in_;
  bool ok_ = true;
};

// `value` if it is an integer that an int holds.
std::optional<int> IntOf(const Payload& value) {
  constexpr int64_t kMin = std::numeric_limits<int>::min(), kMax = std::numeric_limits<int>::max();
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > uint64_t{kMax}) return std::nullopt;
  } else if (!value.is_number_integer() || value.get<int64_t>() < kMin ||
             value.get<int64_t>() > kMax) {
    return std::nullopt;
  }
  return static_cast<int>(value.get<int64_t>());
}

Status ReadMetric(Reader& r, const std::string& collection, Metric* metric) {
  const uint8_t m = r.U8();
  if (m > static_cast<uint8_t>(Metric::kCosine)) {
    return Status::Internal("log record for '" + collection + "' has unknown metric " +
                            std::to_string(m));
  }
  *metric = static_cast<Metric>(m);
  return Status::Ok();
}

// A create record checks the format only (lengths, known enum values), never the ranges the API
// allows: narrowing a range later must not make an old log unreadable. Values are kept as they
// are; an untrusted file (a snapshot to restore) is validated by its reader.
Status ReadCreate(Reader& r, const std::string& collection, CollectionConfig* config) {
  config->dimension = r.U32();
  Status s = ReadMetric(r, collection, &config->metric);
  if (!s.ok()) return s;
  const uint8_t type = r.U8();
  if (type > static_cast<uint8_t>(IndexType::kGpuIvfFlat)) {
    return Status::Internal("log record for '" + collection + "' has unknown index type " +
                            std::to_string(type));
  }
  config->index.type = static_cast<IndexType>(type);
  const uint8_t params = r.U8();
  if (params > kNumIndexParams) {
    return Status::Internal("log record for '" + collection + "' holds " + std::to_string(params) +
                            " index parameters; this version knows " +
                            std::to_string(kNumIndexParams));
  }
  for (size_t i = 0; i < params; ++i) {
    config->index.*kIndexParams[i] = static_cast<int32_t>(r.U32());
  }
  config->backends.clear();
  const uint32_t backends = r.U32();
  for (uint32_t i = 0; i < backends && r.ok(); ++i) config->backends.push_back(r.Str());
  return Status::Ok();
}

// Kind 1, written by format versions 1 and 2: the index config in API.md's JSON form. Its fields
// are read as they are, for the reason ReadCreate gives (IndexConfigFromJson would check them
// against today's ranges); a field this version does not know is ignored. Those versions wrote
// every parameter of the type, resolved, and knew only the faiss backend (the default).
Status ReadCreateV1(Reader& r, const std::string& collection, CollectionConfig* config) {
  config->dimension = r.U32();
  Status s = ReadMetric(r, collection, &config->metric);
  if (!s.ok()) return s;
  const Payload json = r.Json();
  if (!r.ok() || json.is_null()) return Status::Ok();  // null: flat; a short record: the caller
  auto malformed = [&](const std::string& what) {
    return Status::Internal("log record for '" + collection + "' has an index config " + what);
  };
  if (!json.is_object()) return malformed("that is not an object");
  const auto type_field = json.find("type");
  const std::optional<IndexType> type = type_field != json.end() && type_field->is_string()
                                            ? ParseIndexType(type_field->get<std::string>())
                                            : std::nullopt;
  if (!type) return malformed("of no known type");
  config->index.type = *type;
  for (const auto& item : json.items()) {
    int* param = IndexParam(&config->index, item.key());
    if (param == nullptr) continue;  // "type", or a field that is not one of this type's
    const std::optional<int> value = IntOf(item.value());
    if (!value) return malformed("whose " + item.key() + " is not an int: " + item.value().dump());
    *param = *value;
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeWriteOp(const std::string& collection, const WriteOp& op, const JobTag* job) {
  Writer w;
  if (job != nullptr) {
    // kind 10 | collection | job id | applied unix ms | the write's kind | its body
    const std::string write = EncodeWriteOp(collection, op);
    const size_t head = 1 + 4 + collection.size();
    w.U8(static_cast<uint8_t>(Kind::kJob));
    w.Str(collection);
    w.Str(job->id);
    w.U64(static_cast<uint64_t>(job->applied_unix_ms));
    w.out.push_back(write[0]);
    w.out.append(write, head, std::string::npos);
    return std::move(w.out);
  }
  auto head = [&](Kind kind) {
    w.U8(static_cast<uint8_t>(kind));
    w.Str(collection);
  };
  const Overloaded encode{
      [&](const CreateCollectionOp& create) {
        const CollectionConfig& config = create.config;
        head(Kind::kCreate);
        w.U32(config.dimension);
        w.U8(static_cast<uint8_t>(config.metric));
        w.U8(static_cast<uint8_t>(config.index.type));
        w.U8(static_cast<uint8_t>(kNumIndexParams));
        for (int IndexConfig::*param : kIndexParams) {
          w.U32(static_cast<uint32_t>(config.index.*param));
        }
        w.U32(static_cast<uint32_t>(config.backends.size()));
        for (const std::string& backend : config.backends) w.Str(backend);
      },
      [&](const DropCollectionOp&) { head(Kind::kDrop); },
      [&](const UpsertOp& upsert) {
        head(Kind::kUpsert);
        w.U32(static_cast<uint32_t>(upsert.points.size()));
        for (const Point& p : upsert.points) {
          w.Id(p.id);
          w.Vector(p.vector);
          w.Str(p.payload.dump());
        }
      },
      [&](const DeleteOp& del) {
        head(Kind::kDelete);
        w.Ids(del.ids);
      },
      [&](const SetPayloadOp& set) {
        head(Kind::kSetPayload);
        w.Ids(set.ids);
        w.Str(set.payload.dump());
        w.U8(set.mode == PayloadMode::kMerge ? 0 : 1);
      },
      [&](const SlotsOp& slots) {
        head(Kind::kSlots);
        w.U32(static_cast<uint32_t>(slots.slots.size()));
        for (const SavedSlot& s : slots.slots) {
          w.U8(s.live ? 1 : 0);
          w.Vector(s.point.vector);
          if (s.live) {
            w.Id(s.point.id);
            w.Str(s.point.payload.dump());
          }
        }
      },
      [&](const IndexPartOp& part) {
        head(Kind::kIndexPart);
        w.U32(part.indexed_slots);
        w.U64(part.image_bytes);
        w.Str(part.part);
      },
      [&](const RestoreOp& restore) {
        head(Kind::kRestore);
        w.Str(restore.file);
      },
      [&](const JobsOp& jobs) {
        head(Kind::kJobs);
        w.U32(static_cast<uint32_t>(jobs.jobs.size()));
        for (const JobTag& job : jobs.jobs) {
          w.Str(job.id);
          w.U64(static_cast<uint64_t>(job.applied_unix_ms));
        }
      },
  };
  std::visit(encode, op);
  return std::move(w.out);
}

Status DecodeWriteOp(std::string_view record, std::string* collection, WriteOp* op,
                     std::optional<JobTag>* job) {
  if (job != nullptr) job->reset();
  Reader r(record);
  const auto kind = static_cast<Kind>(r.U8());
  *collection = r.Str();
  if (kind == Kind::kJob) {
    JobTag tag;
    tag.id = r.Str();
    tag.applied_unix_ms = static_cast<int64_t>(r.U64());
    const auto write_kind = static_cast<Kind>(r.U8());
    if (!r.ok() || (write_kind != Kind::kUpsert && write_kind != Kind::kDelete &&
                    write_kind != Kind::kSetPayload)) {
      return Status::Internal("job record for '" + *collection + "' is malformed");
    }
    // The write as its own record: its kind, the collection, its body.
    Writer write;
    write.U8(static_cast<uint8_t>(write_kind));
    write.Str(*collection);
    write.out.append(r.Rest());
    Status s = DecodeWriteOp(write.out, collection, op);
    if (s.ok() && job != nullptr) *job = std::move(tag);
    return s;
  }
  switch (kind) {
    case Kind::kCreate:
    case Kind::kCreateV1: {
      CreateCollectionOp create;
      create.config.name = *collection;
      Status s = kind == Kind::kCreate ? ReadCreate(r, *collection, &create.config)
                                       : ReadCreateV1(r, *collection, &create.config);
      if (!s.ok()) return s;
      *op = std::move(create);
      break;
    }
    case Kind::kDrop:
      *op = DropCollectionOp{};
      break;
    case Kind::kUpsert: {
      UpsertOp upsert;
      const uint32_t n = r.U32();
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        Point p;
        p.id = r.Id();
        p.vector = r.Vector();
        p.payload = r.Json();
        upsert.points.push_back(std::move(p));
      }
      *op = std::move(upsert);
      break;
    }
    case Kind::kDelete:
      *op = DeleteOp{r.Ids()};
      break;
    case Kind::kSetPayload: {
      SetPayloadOp set;
      set.ids = r.Ids();
      set.payload = r.Json();
      const uint8_t mode = r.U8();
      if (mode > 1) {
        return Status::Internal("log record for '" + *collection + "' has unknown payload mode " +
                                std::to_string(mode));
      }
      set.mode = mode == 0 ? PayloadMode::kMerge : PayloadMode::kReplace;
      *op = std::move(set);
      break;
    }
    case Kind::kSlots: {
      SlotsOp slots;
      const uint32_t n = r.U32();
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        SavedSlot s;
        const uint8_t live = r.U8();
        if (live > 1) {
          return Status::Internal("state record for '" + *collection + "' has a slot marked " +
                                  std::to_string(live));
        }
        s.live = live == 1;
        s.point.vector = r.Vector();
        if (s.live) {
          s.point.id = r.Id();
          s.point.payload = r.Json();
        }
        slots.slots.push_back(std::move(s));
      }
      *op = std::move(slots);
      break;
    }
    case Kind::kIndexPart: {
      IndexPartOp part;
      part.indexed_slots = r.U32();
      part.image_bytes = r.U64();
      part.part = r.Str();
      *op = std::move(part);
      break;
    }
    case Kind::kRestore:
      *op = RestoreOp{r.Str()};
      break;
    case Kind::kJobs: {
      JobsOp jobs;
      const uint32_t n = r.U32();
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        JobTag tag;
        tag.id = r.Str();
        tag.applied_unix_ms = static_cast<int64_t>(r.U64());
        jobs.jobs.push_back(std::move(tag));
      }
      *op = std::move(jobs);
      break;
    }
    default:
      return Status::Internal("log record of unknown kind " +
                              std::to_string(static_cast<int>(kind)));
  }
  if (!r.done()) return Status::Internal("log record for '" + *collection + "' is malformed");
  return Status::Ok();
}

std::string EncodeAppliedThrough(const AppliedThrough& applied) {
  Writer w;
  w.U8(static_cast<uint8_t>(Kind::kAppliedThrough));
  w.Str(applied.collection);
  w.U64(applied.segment);
  w.U64(applied.offset);
  return std::move(w.out);
}

bool IsAppliedThrough(std::string_view record) {
  return !record.empty() && static_cast<Kind>(record[0]) == Kind::kAppliedThrough;
}

Status DecodeAppliedThrough(std::string_view record, AppliedThrough* applied) {
  Reader r(record);
  if (static_cast<Kind>(r.U8()) != Kind::kAppliedThrough) {
    return Status::Internal("not an applied-through record");
  }
  applied->collection = r.Str();
  applied->segment = r.U64();
  applied->offset = r.U64();
  if (!r.done()) {
    return Status::Internal("applied-through record for '" + applied->collection +
                            "' is malformed");
  }
  return Status::Ok();
}

}  // namespace vecmesh::engine
