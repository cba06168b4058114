// The decoding half of json_codec.h: request bodies into the service layer's types.
#include <cmath>
#include <limits>

#include "api/json/json_codec.h"

namespace vecmesh::api {
namespace {

using engine::Payload;
using engine::PointId;

std::string Join(std::string_view path, std::string_view name) {
  return path.empty() ? std::string(name) : std::string(path) + "." + std::string(name);
}
std::string Index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// The fields of one JSON object: each read marks its key known; Unknown() names the first key
// no read asked for, so that a misspelt field is an error rather than silently ignored.
class Fields {
 public:
  Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}
  static Status RequireObject(const json& value, std::string_view path) {
    if (value.is_object()) return Status::Ok();
    return Status::InvalidArgument(
        (path.empty() ? std::string("the request body") : std::string(path)) +
        " must be a JSON object");
  }

  const json* Find(std::string_view key) {
    known_.emplace_back(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string Path(std::string_view key) const { return Join(path_, key); }

  Status Unknown() const {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        return Status::InvalidArgument(Join(path_, key) + " is not a known field");
      }
    }
    return Status::Ok();
  }

  StatusOr<bool> Bool(std::string_view key, bool fallback) {
    const json* v = Find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) return Status::InvalidArgument(Path(key) + " must be a boolean");
    return v->get<bool>();
  }
  StatusOr<std::optional<int64_t>> Int(std::string_view key) {
    const json* v = Find(key);
    if (!v) return std::optional<int64_t>();
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) {
      return Status::InvalidArgument(Path(key) + " is out of range");
    }
    if (!v->is_number_integer()) return Status::InvalidArgument(Path(key) + " must be an integer");
    return std::optional<int64_t>(v->get<int64_t>());
  }
  StatusOr<std::optional<std::string>> String(std::string_view key) {
    const json* v = Find(key);
    if (!v) return std::optional<std::string>();
    if (!v->is_string()) return Status::InvalidArgument(Path(key) + " must be a string");
    return std::optional<std::string>(v->get<std::string>());
  }
  StatusOr<std::string> RequiredString(std::string_view key) {
    auto v = String(key);
    if (!v.ok()) return v.status();
    if (!*v) return Missing(key);
    return std::move(**v);
  }
  Status Missing(std::string_view key) const {
    return Status::InvalidArgument(Path(key) + " is required");
  }

 private:
  const json& object_;
  std::string path_;
  std::vector<std::string> known_;
};

StatusOr<PointId> DecodeIdValue(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) return PointId(v.get<uint64_t>());
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return PointId(v.get<uint64_t>());
  if (v.is_string()) return PointId(v.get<std::string>());
  return Status::InvalidArgument(path + " must be an unsigned integer or a string");
}

StatusOr<std::vector<PointId>> DecodeIdList(const json& v, const std::string& path) {
  if (!v.is_array()) return Status::InvalidArgument(path + " must be an array of ids");
  std::vector<PointId> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    auto id = DecodeIdValue(v[i], Index(path, i));
    if (!id.ok()) return id.status();
    ids.push_back(std::move(*id));
  }
  return ids;
}

StatusOr<std::vector<float>> DecodeVector(const json& v, const std::string& path) {
  if (!v.is_array()) return Status::InvalidArgument(path + " must be an array of numbers");
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) return Status::InvalidArgument(Index(path, i) + " must be a number");
    const double d = v[i].get<double>();
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
      return Status::InvalidArgument(Index(path, i) + " is " + v[i].dump() +
                                     ", outside the finite float32 range");
    }
    out[i] = static_cast<float>(d);
  }
  return out;
}

StatusOr<Payload> DecodePayloadValue(const json* v, const std::string& path) {
  if (!v) return Payload::object();
  if (!v->is_object()) return Status::InvalidArgument(path + " must be a JSON object");
  return *v;
}

StatusOr<std::optional<engine::Filter>> DecodeFilterField(Fields& fields,
                                                          const engine::Limits& limits) {
  const json* v = fields.Find("filter");
  if (!v) return std::optional<engine::Filter>();
  auto filter = engine::Filter::Parse(*v, limits.filter, fields.Path("filter"));
  if (!filter.ok()) return filter.status();
  return std::optional<engine::Filter>(std::move(*filter));
}

StatusOr<engine::Point> DecodePoint(const json& v, const std::string& path) {
  Status s = Fields::RequireObject(v, path);
  if (!s.ok()) return s;
  Fields f(v, path);
  engine::Point point;
  const json* id = f.Find("id");
  if (!id) return f.Missing("id");
  auto decoded_id = DecodeIdValue(*id, f.Path("id"));
  if (!decoded_id.ok()) return decoded_id.status();
  point.id = std::move(*decoded_id);
  const json* vector = f.Find("vector");
  if (!vector) return f.Missing("vector");
  auto decoded_vector = DecodeVector(*vector, f.Path("vector"));
  if (!decoded_vector.ok()) return decoded_vector.status();
  point.vector = std::move(*decoded_vector);
  auto payload = DecodePayloadValue(f.Find("payload"), f.Path("payload"));
  if (!payload.ok()) return payload.status();
  point.payload = std::move(*payload);
  s = f.Unknown();
  if (!s.ok()) return s;
  return point;
}

// What a read gives back and which store answers it: with_payload (default true), with_vector
// (default false) and store (none: the collection's first backend).
struct ReadFields {
  bool with_payload = true;
  bool with_vector = false;
  std::optional<std::string> store;
};
StatusOr<ReadFields> DecodeReadFields(Fields& f) {
  ReadFields read;
  auto with_payload = f.Bool("with_payload", true);
  if (!with_payload.ok()) return with_payload.status();
  read.with_payload = *with_payload;
  auto with_vector = f.Bool("with_vector", false);
  if (!with_vector.ok()) return with_vector.status();
  read.with_vector = *with_vector;
  auto store = f.String("store");
  if (!store.ok()) return store.status();
  read.store = *store;
  return read;
}

StatusOr<Search> DecodeSearchAt(const json& v, const std::string& path,
                                const engine::Limits& limits) {
  Status s = Fields::RequireObject(v, path);
  if (!s.ok()) return s;
  Fields f(v, path);
  Search search;
  engine::SearchRequest& r = search.request;
  const json* vector = f.Find("vector");
  if (!vector) return f.Missing("vector");
  auto decoded = DecodeVector(*vector, f.Path("vector"));
  if (!decoded.ok()) return decoded.status();
  r.vector = std::move(*decoded);
  auto k = f.Int("k");
  if (!k.ok()) return k.status();
  if (*k) r.k = **k;
  auto filter = DecodeFilterField(f, limits);
  if (!filter.ok()) return filter.status();
  r.filter = std::move(*filter);
  if (const json* t = f.Find("score_threshold")) {
    if (!t->is_number())
      return Status::InvalidArgument(f.Path("score_threshold") + " must be a number");
    r.score_threshold = t->get<float>();
  }
  if (const json* p = f.Find("params")) {
    s = Fields::RequireObject(*p, f.Path("params"));
    if (!s.ok()) return s;
    Fields params(*p, f.Path("params"));
    auto ef = params.Int("ef_search");
    if (!ef.ok()) return ef.status();
    auto nprobe = params.Int("nprobe");
    if (!nprobe.ok()) return nprobe.status();
    auto exact = params.Bool("exact", false);
    if (!exact.ok()) return exact.status();
    // Out-of-int range values are clamped so the engine's range check names them.
    auto clamp = [](int64_t v) {
      return static_cast<int>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX));
    };
    if (*ef) r.params.ef_search = clamp(**ef);
    if (*nprobe) r.params.nprobe = clamp(**nprobe);
    r.params.exact = *exact;
    s = params.Unknown();
    if (!s.ok()) return s;
  }
  auto read = DecodeReadFields(f);
  if (!read.ok()) return read.status();
  r.with_payload = read->with_payload;
  r.with_vector = read->with_vector;
  search.store = read->store;
  s = f.Unknown();
  if (!s.ok()) return s;
  return search;
}

}  // namespace

StatusOr<json> ParseBody(std::string_view body) {
  if (body.empty()) return json::object();
  // Found in review: a payload nested 200,000 levels deep parses (the parser does not recurse)
  // and then overflows the stack when copied.
  if (const int depth = engine::JsonNestingDepth(body); depth > engine::kMaxJsonDepth) {
    return Status::InvalidArgument("the request body nests " + std::to_string(depth) +
                                   " levels deep; the limit is " +
                                   std::to_string(engine::kMaxJsonDepth));
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Find where it breaks, for the message.
    try {
      [[maybe_unused]] const json reparsed = json::parse(body);
    } catch (const json::parse_error& e) {
      std::string message =
          "the request body is not valid JSON (at byte " + std::to_string(e.byte) + ")";
      // Python's json.dumps writes NaN and Infinity, which JSON does not have: say so.
      const std::string_view rest =
          e.byte >= 1 && e.byte <= body.size() ? body.substr(e.byte - 1) : std::string_view();
      if (rest.starts_with("NaN") || rest.starts_with("Infinity")) {
        message += ": NaN and Infinity are not JSON numbers, and vectors must be finite";
      }
      return Status::InvalidArgument(message);
    } catch (const json::out_of_range&) {
      // Found by the fuzzer: a number beyond double's range is out_of_range, not parse_error.
      return Status::InvalidArgument(
          "the request body holds a number beyond the range of a double");
    } catch (const json::exception&) {
    }
    return Status::InvalidArgument("the request body is not valid JSON");
  }
  Status s = Fields::RequireObject(parsed, "");
  if (!s.ok()) return s;
  return parsed;
}

StatusOr<CreateCollectionRequest> DecodeCreateCollection(const std::string& name,
                                                         const json& body) {
  Fields f(body, "");
  CreateCollectionRequest request;
  request.name = name;
  auto dimension = f.Int("dimension");
  if (!dimension.ok()) return dimension.status();
  if (!*dimension) return f.Missing("dimension");
  request.dimension = **dimension;
  auto metric = f.String("metric");
  if (!metric.ok()) return metric.status();
  if (*metric) request.metric = **metric;
  if (const json* index = f.Find("index")) request.index = *index;
  if (const json* backends = f.Find("backends")) {
    if (!backends->is_array()) return Status::InvalidArgument("backends must be an array of names");
    request.backends.clear();
    for (size_t i = 0; i < backends->size(); ++i) {
      if (!(*backends)[i].is_string()) {
        return Status::InvalidArgument(Index("backends", i) + " must be a string");
      }
      request.backends.push_back((*backends)[i].get<std::string>());
    }
  }
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<std::vector<engine::Point>> DecodePoints(const json& body) {
  Fields f(body, "");
  const json* points = f.Find("points");
  if (!points) return f.Missing("points");
  if (!points->is_array()) return Status::InvalidArgument("points must be an array");
  Status s = f.Unknown();
  if (!s.ok()) return s;
  std::vector<engine::Point> out;
  out.reserve(points->size());
  for (size_t i = 0; i < points->size(); ++i) {
    auto point = DecodePoint((*points)[i], Index("points", i));
    if (!point.ok()) return point.status();
    out.push_back(std::move(*point));
  }
  return out;
}

StatusOr<GetPointsRequest> DecodeGetPoints(const json& body) {
  Fields f(body, "");
  GetPointsRequest request;
  const json* ids = f.Find("ids");
  if (!ids) return f.Missing("ids");
  auto decoded = DecodeIdList(*ids, "ids");
  if (!decoded.ok()) return decoded.status();
  request.ids = std::move(*decoded);
  auto read = DecodeReadFields(f);
  if (!read.ok()) return read.status();
  request.with_payload = read->with_payload;
  request.with_vector = read->with_vector;
  request.store = read->store;
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<DeletePointsRequest> DecodeDeletePoints(const json& body, const engine::Limits& limits) {
  Fields f(body, "");
  DeletePointsRequest request;
  if (const json* ids = f.Find("ids")) {
    auto decoded = DecodeIdList(*ids, "ids");
    if (!decoded.ok()) return decoded.status();
    request.ids = std::move(*decoded);
  }
  auto filter = DecodeFilterField(f, limits);
  if (!filter.ok()) return filter.status();
  request.filter = std::move(*filter);
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<UpdatePayloadRequest> DecodeUpdatePayload(const json& body) {
  Fields f(body, "");
  UpdatePayloadRequest request;
  const json* ids = f.Find("ids");
  if (!ids) return f.Missing("ids");
  auto decoded = DecodeIdList(*ids, "ids");
  if (!decoded.ok()) return decoded.status();
  request.ids = std::move(*decoded);
  const json* payload = f.Find("payload");
  if (!payload) return f.Missing("payload");
  auto decoded_payload = DecodePayloadValue(payload, "payload");
  if (!decoded_payload.ok()) return decoded_payload.status();
  request.payload = std::move(*decoded_payload);
  auto mode = f.String("mode");
  if (!mode.ok()) return mode.status();
  if (*mode && **mode == "replace") {
    request.mode = engine::PayloadMode::kReplace;
  } else if (*mode && **mode != "merge") {
    return Status::InvalidArgument("mode is '" + **mode + "'; it must be merge or replace");
  }
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<CountRequest> DecodeCount(const json& body, const engine::Limits& limits) {
  Fields f(body, "");
  CountRequest count;
  auto filter = DecodeFilterField(f, limits);
  if (!filter.ok()) return filter.status();
  count.filter = std::move(*filter);
  auto store = f.String("store");
  if (!store.ok()) return store.status();
  count.store = *store;
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return count;
}

StatusOr<ScrollPointsRequest> DecodeScroll(const json& body, const engine::Limits& limits) {
  Fields f(body, "");
  ScrollPointsRequest scroll;
  engine::ScrollRequest& request = scroll.request;
  auto filter = DecodeFilterField(f, limits);
  if (!filter.ok()) return filter.status();
  request.filter = std::move(*filter);
  auto limit = f.Int("limit");
  if (!limit.ok()) return limit.status();
  if (*limit) request.limit = **limit;
  auto cursor = f.String("cursor");
  if (!cursor.ok()) return cursor.status();
  request.cursor = *cursor;
  auto read = DecodeReadFields(f);
  if (!read.ok()) return read.status();
  request.with_payload = read->with_payload;
  request.with_vector = read->with_vector;
  scroll.store = read->store;
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return scroll;
}

StatusOr<Search> DecodeSearch(const json& body, const engine::Limits& limits) {
  return DecodeSearchAt(body, "", limits);
}

StatusOr<std::vector<Search>> DecodeSearchBatch(const json& body, const engine::Limits& limits) {
  Fields f(body, "");
  const json* searches = f.Find("searches");
  if (!searches) return f.Missing("searches");
  if (!searches->is_array()) return Status::InvalidArgument("searches must be an array");
  Status s = f.Unknown();
  if (!s.ok()) return s;
  if (searches->size() > limits.max_searches_per_batch) {
    return Status::InvalidArgument("searches has " + std::to_string(searches->size()) +
                                   " entries; the limit is " +
                                   std::to_string(limits.max_searches_per_batch));
  }
  std::vector<Search> out;
  out.reserve(searches->size());
  for (size_t i = 0; i < searches->size(); ++i) {
    auto search = DecodeSearchAt((*searches)[i], Index("searches", i), limits);
    if (!search.ok()) return search.status();
    out.push_back(std::move(*search));
  }
  return out;
}

StatusOr<LegacyCreateIndex> DecodeLegacyCreateIndex(const json& body) {
  Fields f(body, "");
  LegacyCreateIndex request;
  auto name = f.RequiredString("name");
  if (!name.ok()) return name.status();
  request.name = std::move(*name);
  auto dimension = f.Int("dimension");
  if (!dimension.ok()) return dimension.status();
  if (!*dimension) return f.Missing("dimension");
  request.dimension = **dimension;
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<LegacyAddVectorsRequest> DecodeLegacyAddVectors(const json& body) {
  Fields f(body, "");
  LegacyAddVectorsRequest request;
  auto index = f.RequiredString("index");
  if (!index.ok()) return index.status();
  request.index = std::move(*index);
  const json* vectors = f.Find("vectors");
  if (!vectors) return f.Missing("vectors");
  if (!vectors->is_array()) return Status::InvalidArgument("vectors must be an array of vectors");
  for (size_t i = 0; i < vectors->size(); ++i) {
    auto v = DecodeVector((*vectors)[i], Index("vectors", i));
    if (!v.ok()) return v.status();
    request.vectors.push_back(std::move(*v));
  }
  if (const json* metadata = f.Find("metadata")) {
    if (!metadata->is_array()) return Status::InvalidArgument("metadata must be an array");
    for (size_t i = 0; i < metadata->size(); ++i) {
      auto p = DecodePayloadValue((*metadata)[i].is_null() ? nullptr : &(*metadata)[i],
                                  Index("metadata", i));
      if (!p.ok()) return p.status();
      request.metadata.push_back(std::move(*p));
    }
  }
  if (const json* ids = f.Find("ids")) {
    if (!ids->is_array()) return Status::InvalidArgument("ids must be an array of integers");
    request.ids.emplace();
    for (size_t i = 0; i < ids->size(); ++i) {
      if (!(*ids)[i].is_number_unsigned()) {
        return Status::InvalidArgument(Index("ids", i) + " must be an unsigned integer");
      }
      request.ids->push_back((*ids)[i].get<uint64_t>());
    }
  }
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

StatusOr<LegacySearchRequest> DecodeLegacySearch(const json& body) {
  Fields f(body, "");
  LegacySearchRequest request;
  auto index = f.RequiredString("index");
  if (!index.ok()) return index.status();
  request.index = std::move(*index);
  const json* vector = f.Find("vector");
  if (!vector) return f.Missing("vector");
  auto decoded = DecodeVector(*vector, "vector");
  if (!decoded.ok()) return decoded.status();
  request.vector = std::move(*decoded);
  auto k = f.Int("k");
  if (!k.ok()) return k.status();
  if (*k) request.k = **k;
  Status s = f.Unknown();
  if (!s.ok()) return s;
  return request;
}

}  // namespace vecmesh::api
