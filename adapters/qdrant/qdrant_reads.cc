// QdrantStore: the reads (get, count, scroll, search).
#include <algorithm>
#include <map>

#include "adapters/qdrant/qdrant_store.h"
#include "adapters/qdrant/qdrant_translation.h"
#include "adapters/remote/remote_checks.h"
#include "engine/scroll_cursor.h"

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusOr;
using json = nlohmann::json;

namespace {

// The smallest UUID: Qdrant orders every integer id before every UUID, so a scroll from it
// visits the UUID points alone.
const char* const kFirstUuid = "00000000-0000-0000-0000-000000000000";
// Points listed per call when every string id is listed (Scroll).
constexpr size_t kListPage = 1000;

// What to ask of a point's payload: all of it, or only the key that names a string id.
json PayloadSelector(bool with_payload) {
  if (with_payload) return true;
  return {{"include", json::array({std::string(qdrant::kIdKey)})}};
}

std::optional<std::vector<float>> VectorOf(const json& point, bool with_vector) {
  if (!with_vector || !point.contains("vector") || !point["vector"].is_array()) return std::nullopt;
  std::vector<float> v;
  for (const json& x : point["vector"]) {
    if (!x.is_number()) return std::nullopt;
    v.push_back(x.get<float>());
  }
  return v;
}

// A point Qdrant gives (retrieve, scroll) as this API's record.
engine::Record ToRecord(const json& point, bool with_payload, bool with_vector) {
  const json payload = point.value("payload", json());
  engine::Record record{qdrant::FromQdrantId(point["id"], payload), {}, {}};
  if (with_payload) record.payload = qdrant::FromQdrantPayload(payload);
  record.vector = VectorOf(point, with_vector);
  return record;
}

StatusOr<json> Points(const json& answer, const char* what) {
  const json& points = answer.is_object() ? answer.value("points", json()) : answer;
  if (!points.is_array())
    return Status::Internal(std::string("qdrant's ") + what + " has no points");
  for (const json& p : points) {
    if (!p.is_object() || !p.contains("id") || (p.contains("score") && !p["score"].is_number())) {
      return Status::Internal(std::string("qdrant's ") + what +
                              " has a point without an id, or with a score that is not a number");
    }
  }
  return points;
}

}  // namespace

StatusOr<size_t> QdrantStore::CountMatching(const CallOptions& options,
                                            const std::string& collection,
                                            const json* filter) const {
  json body = {{"exact", true}};
  if (filter) body["filter"] = *filter;
  auto answer = Call(options, HttpMethod::kPost, Path(collection, "/points/count"), &body, true);
  if (!answer.ok()) return answer.status();
  if (!answer->contains("count") || !(*answer)["count"].is_number_unsigned()) {
    return Status::Internal("qdrant's count of '" + collection + "' is not a number");
  }
  return (*answer)["count"].get<size_t>();
}

StatusOr<json> QdrantStore::Retrieve(const CallOptions& options, const std::string& collection,
                                     const json& ids, bool with_payload, bool with_vector) const {
  const json body = {{"ids", ids}, {"with_payload", with_payload}, {"with_vector", with_vector}};
  auto answer = Call(options, HttpMethod::kPost, Path(collection, "/points"), &body, true);
  if (!answer.ok()) return answer.status();
  return Points(*answer, "retrieve answer");
}

StatusOr<std::vector<engine::PointId>> QdrantStore::Existing(
    const CallOptions& options, const std::string& collection,
    const std::vector<engine::PointId>& ids) const {
  json wanted = json::array();
  for (const engine::PointId& id : ids) wanted.push_back(qdrant::ToQdrantId(id));
  auto found = Retrieve(options, collection, wanted, false, false);
  if (!found.ok()) return found.status();
  std::vector<engine::PointId> out;
  for (const engine::PointId& id : ids) {
    const json qid = qdrant::ToQdrantId(id);
    const bool there =
        std::any_of(found->begin(), found->end(), [&](const json& p) { return p["id"] == qid; });
    if (there && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

StatusOr<std::vector<engine::Record>> QdrantStore::Get(const CallOptions& options,
                                                       const std::string& collection,
                                                       const std::vector<engine::PointId>& ids,
                                                       bool with_payload, bool with_vector) const {
  Status s = options.CheckStart("Get");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (!s.ok()) return s;
  json wanted = json::array();
  for (const engine::PointId& id : ids) wanted.push_back(qdrant::ToQdrantId(id));
  auto found = Retrieve(options, collection, wanted, with_payload, with_vector);
  if (!found.ok()) return found.status();
  // Qdrant answers in its own order: the records go back in the request's.
  std::map<std::string, const json*> by_id;
  for (const json& p : *found) by_id.emplace(p["id"].dump(), &p);
  std::vector<engine::Record> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = by_id.find(wanted[i].dump());
    if (it == by_id.end()) continue;
    engine::Record record = ToRecord(*it->second, with_payload, with_vector);
    record.id = ids[i];
    out.push_back(std::move(record));
  }
  return out;
}

StatusOr<size_t> QdrantStore::Count(const CallOptions& options, const std::string& collection,
                                    const engine::Filter* filter) const {
  Status s = options.CheckStart("Count");
  if (!s.ok()) return s;
  if (filter == nullptr) return CountMatching(options, collection, nullptr);
  auto translated = qdrant::ToQdrantFilter(*filter);
  if (!translated.ok()) return translated.status();
  return CountMatching(options, collection, &*translated);
}

StatusOr<QdrantStore::ScrollAnswer> QdrantStore::ScrollFrom(
    const CallOptions& options, const std::string& collection, const std::optional<json>& filter,
    const json& offset, size_t limit, bool with_payload, bool with_vector) const {
  json body = {{"limit", limit},
               {"with_payload", PayloadSelector(with_payload)},
               {"with_vector", with_vector}};
  if (filter) body["filter"] = *filter;
  if (!offset.is_null()) body["offset"] = offset;
  auto answer = Call(options, HttpMethod::kPost, Path(collection, "/points/scroll"), &body, true);
  if (!answer.ok()) return answer.status();
  if (!answer->is_object()) return Status::Internal("qdrant's scroll answer is not an object");
  auto points = Points(*answer, "scroll answer");
  if (!points.ok()) return points.status();
  return ScrollAnswer{std::move(*points), answer->value("next_page_offset", json())};
}

StatusOr<engine::ScrollPage> QdrantStore::Scroll(const CallOptions& options,
                                                 const std::string& collection,
                                                 const engine::ScrollRequest& request) const {
  Status s = options.CheckStart("Scroll");
  if (s.ok()) s = CheckScrollLimit(request.limit, options_.limits);
  if (!s.ok()) return s;
  std::optional<engine::PointId> start;
  if (request.cursor) {
    start = engine::ParseScrollCursor(*request.cursor);
    if (!start) {
      return Status::InvalidArgument("cursor '" + *request.cursor + "' is not one this store gave");
    }
  }
  std::optional<json> filter;
  if (request.filter) {
    auto translated = qdrant::ToQdrantFilter(*request.filter);
    if (!translated.ok()) return translated.status();
    filter = std::move(*translated);
  }
  const auto limit = static_cast<size_t>(request.limit);
  engine::ScrollPage page;

  // Integer ids, in Qdrant's order (which is theirs): one more than the page, whose id is the
  // next page's start.
  if (!start || std::holds_alternative<uint64_t>(*start)) {
    const json offset = start ? json(std::get<uint64_t>(*start)) : json();
    auto answer = ScrollFrom(options, collection, filter, offset, limit + 1, request.with_payload,
                             request.with_vector);
    if (!answer.ok()) return answer.status();
    for (const json& p : answer->points) {
      if (!p["id"].is_number()) break;  // the first UUID: the integers are done
      if (page.points.size() == limit) {
        page.next_cursor = engine::ScrollCursorOf(p["id"].get<uint64_t>());
        return page;
      }
      page.points.push_back(ToRecord(p, request.with_payload, request.with_vector));
    }
  }

  // String ids, in byte order: Qdrant orders their UUIDs, not them, so every matching one is
  // listed and the page taken from the sorted list.
  std::vector<std::pair<std::string, json>> strings;  // the id, and Qdrant's
  for (json offset = kFirstUuid; !offset.is_null();) {
    auto answer = ScrollFrom(options, collection, filter, offset, kListPage, false, false);
    if (!answer.ok()) return answer.status();
    for (const json& p : answer->points) {
      if (p["id"].is_number()) continue;
      engine::PointId id = qdrant::FromQdrantId(p["id"], p.value("payload", json()));
      strings.emplace_back(std::get<std::string>(id), p["id"]);
    }
    offset = std::move(answer->next);
  }
  std::sort(strings.begin(), strings.end());
  auto from = strings.begin();
  if (start && std::holds_alternative<std::string>(*start)) {
    from =
        std::lower_bound(strings.begin(), strings.end(), std::get<std::string>(*start),
                         [](const auto& entry, const std::string& id) { return entry.first < id; });
  }
  const size_t room = limit - page.points.size();
  const auto to = from + std::min<ptrdiff_t>(room, strings.end() - from);
  if (from != to) {
    json wanted = json::array();
    for (auto it = from; it != to; ++it) wanted.push_back(it->second);
    auto found = Retrieve(options, collection, wanted, request.with_payload, request.with_vector);
    if (!found.ok()) return found.status();
    std::map<std::string, const json*> by_id;
    for (const json& p : *found) by_id.emplace(p["id"].dump(), &p);
    // A point deleted between the two calls is left out.
    for (auto it = from; it != to; ++it) {
      auto point = by_id.find(it->second.dump());
      if (point == by_id.end()) continue;
      engine::Record record = ToRecord(*point->second, request.with_payload, request.with_vector);
      record.id = it->first;
      page.points.push_back(std::move(record));
    }
  }
  if (to != strings.end()) page.next_cursor = engine::ScrollCursorOf(to->first);
  return page;
}

StatusOr<std::vector<engine::ScoredPoint>> QdrantStore::Search(
    const CallOptions& options, const std::string& collection,
    const engine::SearchRequest& request) const {
  Status s = options.CheckStart("Search");
  if (!s.ok()) return s;
  auto results = SearchBatch(options, collection, {request});
  if (!results.ok()) return Unbatched(results.status());
  return std::move(results->front());
}

StatusOr<std::vector<std::vector<engine::ScoredPoint>>> QdrantStore::SearchBatch(
    const CallOptions& options, const std::string& collection,
    const std::vector<engine::SearchRequest>& requests) const {
  Status s = options.CheckStart("SearchBatch");
  if (s.ok()) s = CheckSearches(requests, std::nullopt, collection, options_.limits);
  if (!s.ok()) return s;
  json searches = json::array();
  for (size_t i = 0; i < requests.size(); ++i) {
    const engine::SearchRequest& r = requests[i];
    json search = {{"query", r.vector},
                   {"limit", r.k},
                   {"with_payload", PayloadSelector(r.with_payload)},
                   {"with_vector", r.with_vector}};
    if (r.filter) {
      auto translated = qdrant::ToQdrantFilter(*r.filter);
      if (!translated.ok()) {
        return Status::WithCode(translated.status().code(), "searches[" + std::to_string(i) + "]." +
                                                                translated.status().message());
      }
      search["filter"] = std::move(*translated);
    }
    if (r.score_threshold) search["score_threshold"] = *r.score_threshold;
    json params = json::object();
    if (r.params.ef_search) params["hnsw_ef"] = *r.params.ef_search;
    if (r.params.exact) params["exact"] = true;
    if (!params.empty()) search["params"] = std::move(params);
    searches.push_back(std::move(search));
  }
  auto remote = Vectors(options, collection);
  if (!remote.ok()) return remote.status();
  s = CheckSearches(requests, remote->dimension, collection, options_.limits);
  if (!s.ok()) return s;

  // A refusal may come from what was cached of the collection (dropped or made again there).
  auto refused = [&](const Status& status) {
    remotes_.Erase(collection);
    return status;
  };
  std::vector<json> answers;
  if (searches.size() == 1) {
    auto answer =
        Call(options, HttpMethod::kPost, Path(collection, "/points/query"), &searches[0], true);
    if (!answer.ok()) return refused(answer.status());
    answers.push_back(std::move(*answer));
  } else {
    const json body = {{"searches", std::move(searches)}};
    auto answer =
        Call(options, HttpMethod::kPost, Path(collection, "/points/query/batch"), &body, true);
    if (!answer.ok()) return refused(answer.status());
    if (!answer->is_array() || answer->size() != requests.size()) {
      return Status::Internal("qdrant's batch query answer has not one result per search");
    }
    for (json& one : *answer) answers.push_back(std::move(one));
  }
  std::vector<std::vector<engine::ScoredPoint>> out(requests.size());
  for (size_t q = 0; q < requests.size(); ++q) {
    auto points = Points(answers[q], "query answer");
    if (!points.ok()) return points.status();
    const engine::SearchRequest& r = requests[q];
    for (const json& p : *points) {
      const json payload = p.value("payload", json());
      engine::ScoredPoint scored;
      scored.id = qdrant::FromQdrantId(p["id"], payload);
      scored.score = p.value("score", 0.0f);
      if (r.with_payload) scored.payload = qdrant::FromQdrantPayload(payload);
      scored.vector = VectorOf(p, r.with_vector);
      out[q].push_back(std::move(scored));
    }
  }
  return out;
}

}  // namespace vecmesh::adapters
