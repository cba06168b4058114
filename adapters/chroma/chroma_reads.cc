// ChromaStore: the reads (get, count, scroll, search).
#include <algorithm>
#include <cmath>

#include "adapters/chroma/chroma_store.h"
#include "adapters/chroma/chroma_translation.h"
#include "adapters/remote/remote_checks.h"
#include "engine/scroll_cursor.h"

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusOr;
using json = nlohmann::json;

namespace {

std::vector<std::string> Include(bool with_payload, bool with_vector) {
  std::vector<std::string> include;
  if (with_payload) include.push_back("metadatas");
  if (with_vector) include.push_back("embeddings");
  return include;
}

// Record i of a get answer ({ids, metadatas, embeddings}: flat lists).
engine::Record RecordAt(const json& answer, size_t i, bool with_payload, bool with_vector) {
  engine::Record record{chroma::FromChromaId(answer["ids"][i].get<std::string>()), {}, {}};
  if (with_payload) record.payload = chroma::FromMetadata(answer["metadatas"][i]);
  if (with_vector) record.vector = answer["embeddings"][i].get<std::vector<float>>();
  return record;
}

Status CheckGetAnswer(const json& answer, bool with_payload, bool with_vector) {
  const json& ids = answer["ids"];
  bool ok = ids.is_array();
  for (const json& id : ok ? ids : json::array()) ok = ok && id.is_string();
  if (ok && with_payload)
    ok = answer["metadatas"].is_array() && answer["metadatas"].size() == ids.size();
  if (ok && with_vector)
    ok = answer["embeddings"].is_array() && answer["embeddings"].size() == ids.size();
  return ok ? Status::Ok() : Status::Internal("chroma's get answer is not what its API says");
}

}  // namespace

StatusOr<json> ChromaStore::GetRecords(const CallOptions& options, const Remote& remote,
                                       const json& ids, const std::optional<json>& where,
                                       const std::vector<std::string>& include,
                                       std::optional<size_t> limit, size_t offset) const {
  json body = {{"include", include}};
  if (!ids.is_null()) body["ids"] = ids;
  if (where) body["where"] = *where;
  if (limit) {
    body["limit"] = *limit;
    body["offset"] = offset;
  }
  auto answer = api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/get", &body, true);
  if (!answer.ok()) return answer.status();
  const bool with_payload = std::count(include.begin(), include.end(), "metadatas") > 0;
  const bool with_vector = std::count(include.begin(), include.end(), "embeddings") > 0;
  Status s = CheckGetAnswer(*answer, with_payload, with_vector);
  if (!s.ok()) return s;
  return answer;
}

StatusOr<std::vector<std::string>> ChromaStore::MatchingIds(
    const CallOptions& options, const Remote& remote, const std::optional<json>& where) const {
  constexpr size_t kPage = 10'000;
  std::vector<std::string> ids;
  for (size_t offset = 0;; offset += kPage) {
    auto page = GetRecords(options, remote, json(), where, {}, kPage, offset);
    if (!page.ok()) return page.status();
    for (const json& id : (*page)["ids"]) ids.push_back(id.get<std::string>());
    if ((*page)["ids"].size() < kPage) return ids;
  }
}

StatusOr<std::vector<engine::Record>> ChromaStore::Get(const CallOptions& options,
                                                       const std::string& collection,
                                                       const std::vector<engine::PointId>& ids,
                                                       bool with_payload, bool with_vector) const {
  Status s = options.CheckStart("Get");
  if (s.ok()) s = CheckIds(ids, options_.limits);
  if (!s.ok()) return s;
  auto batch = MaxBatchSize(options);
  if (!batch.ok()) return batch.status();
  std::vector<std::string> wanted;
  for (const auto& id : ids) wanted.push_back(chroma::ToChromaId(id));
  using Records = std::vector<engine::Record>;
  return WithRemote<Records>(options, collection, [&](const Remote& remote) -> StatusOr<Records> {
    // Chroma answers in its own order: put the records back in the request's.
    std::map<std::string, engine::Record> found;
    for (size_t from = 0; from < wanted.size(); from += *batch) {
      const json part(std::vector<std::string>(
          wanted.begin() + from, wanted.begin() + std::min(wanted.size(), from + *batch)));
      auto answer = GetRecords(options, remote, part, std::nullopt,
                               Include(with_payload, with_vector), std::nullopt, 0);
      if (!answer.ok()) return answer.status();
      for (size_t i = 0; i < (*answer)["ids"].size(); ++i) {
        found.emplace((*answer)["ids"][i].get<std::string>(),
                      RecordAt(*answer, i, with_payload, with_vector));
      }
    }
    Records out;
    for (const std::string& id : wanted) {
      if (auto it = found.find(id); it != found.end()) out.push_back(it->second);
    }
    return out;
  });
}

StatusOr<size_t> ChromaStore::Count(const CallOptions& options, const std::string& collection,
                                    const engine::Filter* filter) const {
  Status s = options.CheckStart("Count");
  if (!s.ok()) return s;
  std::optional<json> where;
  if (filter) {
    auto translated = chroma::ToWhere(*filter);
    if (!translated.ok()) return translated.status();
    where = std::move(*translated);
  }
  return WithRemote<size_t>(options, collection, [&](const Remote& remote) -> StatusOr<size_t> {
    if (where) {
      auto ids = MatchingIds(options, remote, where);
      if (!ids.ok()) return ids.status();
      return ids->size();
    }
    auto count =
        api_.Call(options, HttpMethod::kGet, CollectionPath(remote) + "/count", nullptr, true);
    if (!count.ok()) return count.status();
    if (!count->is_number_unsigned()) return Status::Internal("chroma's count is not a number");
    return count->get<size_t>();
  });
}

StatusOr<engine::ScrollPage> ChromaStore::Scroll(const CallOptions& options,
                                                 const std::string& collection,
                                                 const engine::ScrollRequest& request) const {
  Status s = options.CheckStart("Scroll");
  if (s.ok()) s = CheckScrollLimit(request.limit, options_.limits);
  if (!s.ok()) return s;
  // Pages come in id order (integers ascending, then strings by bytes), as the local store's,
  // with the same cursor (engine/scroll_cursor.h), so a scroll visits every point that exists
  // throughout it exactly once, whatever is written meanwhile. Each page lists the matching ids
  // (Chroma has no order of its own to page by).
  std::optional<engine::PointId> start;
  if (request.cursor) {
    start = engine::ParseScrollCursor(*request.cursor);
    if (!start)
      return Status::InvalidArgument("cursor '" + *request.cursor + "' is not one this store gave");
  }
  std::optional<json> where;
  if (request.filter) {
    auto translated = chroma::ToWhere(*request.filter);
    if (!translated.ok()) return translated.status();
    where = std::move(*translated);
  }
  using Page = engine::ScrollPage;
  return WithRemote<Page>(options, collection, [&](const Remote& remote) -> StatusOr<Page> {
    auto matching = MatchingIds(options, remote, where);
    if (!matching.ok()) return matching.status();
    std::vector<engine::PointId> ids;
    for (const std::string& id : *matching) {
      engine::PointId point = chroma::FromChromaId(id);
      if (!start || !(point < *start)) ids.push_back(std::move(point));
    }
    std::sort(ids.begin(), ids.end());
    const auto limit = static_cast<size_t>(request.limit);
    std::optional<engine::PointId> next;
    if (ids.size() > limit) {
      next = ids[limit];
      ids.resize(limit);
    }
    Page page;
    if (!ids.empty()) {
      std::vector<std::string> wanted;
      for (const auto& id : ids) wanted.push_back(chroma::ToChromaId(id));
      auto answer = GetRecords(options, remote, wanted, std::nullopt,
                               Include(request.with_payload, request.with_vector), std::nullopt, 0);
      if (!answer.ok()) return answer.status();
      std::map<engine::PointId, engine::Record> found;
      for (size_t i = 0; i < (*answer)["ids"].size(); ++i) {
        engine::Record r = RecordAt(*answer, i, request.with_payload, request.with_vector);
        found.emplace(r.id, std::move(r));
      }
      // A point deleted between the two calls is left out.
      for (const auto& id : ids) {
        if (auto it = found.find(id); it != found.end()) page.points.push_back(it->second);
      }
    }
    if (next) page.next_cursor = engine::ScrollCursorOf(*next);
    return page;
  });
}

StatusOr<std::vector<std::vector<engine::ScoredPoint>>> ChromaStore::Query(
    const CallOptions& options, const Remote& remote,
    const std::vector<const engine::SearchRequest*>& requests,
    const std::optional<json>& where) const {
  const engine::SearchRequest& first = *requests.front();
  json embeddings = json::array();
  for (const auto* r : requests) embeddings.push_back(r->vector);
  std::vector<std::string> include = Include(first.with_payload, first.with_vector);
  include.push_back("distances");
  json body = {
      {"query_embeddings", std::move(embeddings)}, {"n_results", first.k}, {"include", include}};
  if (where) body["where"] = *where;
  auto answer =
      api_.Call(options, HttpMethod::kPost, CollectionPath(remote) + "/query", &body, true);
  if (!answer.ok()) return answer.status();
  const json& ids = (*answer)["ids"];
  const json& distances = (*answer)["distances"];
  if (!ids.is_array() || ids.size() != requests.size() || !distances.is_array() ||
      distances.size() != requests.size()) {
    return Status::Internal("chroma's query answer is not what its API says");
  }
  std::vector<std::vector<engine::ScoredPoint>> out(requests.size());
  for (size_t q = 0; q < requests.size(); ++q) {
    const engine::SearchRequest& r = *requests[q];
    for (size_t i = 0; i < ids[q].size(); ++i) {
      engine::ScoredPoint p;
      p.id = chroma::FromChromaId(ids[q][i].get<std::string>());
      p.score = chroma::ToScore(remote.metric, distances[q][i].get<double>());
      if (!WithinThreshold(remote.metric, p.score, r.score_threshold)) continue;
      if (r.with_payload) p.payload = chroma::FromMetadata((*answer)["metadatas"][q][i]);
      if (r.with_vector) p.vector = (*answer)["embeddings"][q][i].get<std::vector<float>>();
      out[q].push_back(std::move(p));
    }
  }
  return out;
}

StatusOr<std::vector<engine::ScoredPoint>> ChromaStore::Search(
    const CallOptions& options, const std::string& collection,
    const engine::SearchRequest& request) const {
  Status s = options.CheckStart("Search");
  if (!s.ok()) return s;
  auto results = SearchBatch(options, collection, {request});
  if (!results.ok()) return Unbatched(results.status());
  return std::move(results->front());
}

StatusOr<std::vector<std::vector<engine::ScoredPoint>>> ChromaStore::SearchBatch(
    const CallOptions& options, const std::string& collection,
    const std::vector<engine::SearchRequest>& requests) const {
  Status s = options.CheckStart("SearchBatch");
  if (s.ok()) s = CheckSearches(requests, std::nullopt, collection, options_.limits);
  if (!s.ok()) return s;
  // Searches that Chroma can answer in one query (the same k, where and fields) go together.
  std::map<std::string, std::vector<size_t>> groups;
  std::map<std::string, std::optional<json>> wheres;
  for (size_t i = 0; i < requests.size(); ++i) {
    const engine::SearchRequest& r = requests[i];
    const std::string field = "searches[" + std::to_string(i) + "]";
    std::optional<json> where;
    if (r.filter) {
      auto translated = chroma::ToWhere(*r.filter);
      if (!translated.ok()) {
        return Status::WithCode(translated.status().code(),
                                field + "." + translated.status().message());
      }
      where = std::move(*translated);
    }
    const std::string key = std::to_string(r.k) + (r.with_payload ? "p" : "-") +
                            (r.with_vector ? "v" : "-") + (where ? where->dump() : "");
    groups[key].push_back(i);
    wheres[key] = std::move(where);
  }
  using Results = std::vector<std::vector<engine::ScoredPoint>>;
  return WithRemote<Results>(options, collection, [&](const Remote& remote) -> StatusOr<Results> {
    Status fits = CheckSearches(requests, remote.dimension, collection, options_.limits);
    if (!fits.ok()) return fits;
    Results out(requests.size());
    for (const auto& [key, members] : groups) {
      std::vector<const engine::SearchRequest*> group;
      for (size_t i : members) group.push_back(&requests[i]);
      auto results = Query(options, remote, group, wheres[key]);
      if (!results.ok()) return results.status();
      for (size_t j = 0; j < members.size(); ++j) out[members[j]] = std::move((*results)[j]);
    }
    return out;
  });
}

}  // namespace vecmesh::adapters
