// Model types of the engine: ids, metrics, index and collection configurations, points, requests
// and results. Plain values: safe to copy and to share between threads once built.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/filter.h"
#include "engine/status.h"

namespace vecmesh::engine {

using Payload = nlohmann::json;  // a JSON object, or null for "no payload"

// How deeply JSON values (payloads, request bodies) may nest. Deeper ones are refused before
// they are parsed: copying or destroying a JSON tree recurses once per level.
constexpr int kMaxJsonDepth = 64;
// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count).
// A plain scan: it does not check that the text is JSON.
int JsonNestingDepth(std::string_view text);

// Whether `name` is a collection name API.md allows: [A-Za-z0-9_-]{1,64}.
bool IsValidCollectionName(std::string_view name);

// "7" for 7, "\"7\"" for the string "7": how ids appear in messages.
std::string PointIdToString(const PointId& id);

// Metric and IndexType are stored by number in log records (docs/storage.md): new values go at
// the end, and the record reader (engine/storage/write_ops.cc) learns the new last one.
enum class Metric { kL2, kIp, kCosine };
std::string_view MetricName(Metric metric);
std::optional<Metric> ParseMetric(std::string_view name);

enum class IndexType { kFlat, kHnsw, kIvfFlat, kIvfPq, kIvfSq8, kGpuFlat, kGpuIvfFlat };
std::string_view IndexTypeName(IndexType type);
// gpu_flat and gpu_ivf_flat: kept on a CUDA device (engine/gpu_index.h).
bool IsGpuIndex(IndexType type);
// The inverted-file types, whose searches probe nprobe of nlist lists.
bool IsIvfIndex(IndexType type);
std::optional<IndexType> ParseIndexType(std::string_view name);

// Every request limit of API.md, with its default.
struct Limits {
  size_t max_points_per_upsert = 10'000;
  size_t max_ids_per_request = 10'000;
  size_t max_searches_per_batch = 1'000;
  int64_t max_k = 10'000;
  uint32_t max_dimension = 65'536;
  size_t max_payload_bytes = 64 * 1024;
  size_t max_id_bytes = 256;
  size_t max_collections = 1'000;
  int64_t max_scroll_limit = 10'000;
  FilterLimits filter;
};

// The index of a collection and its parameters. Fields that do not apply to `type` are ignored
// and keep their defaults.
struct IndexConfig {
  IndexType type = IndexType::kFlat;
  // hnsw
  int hnsw_m = 16;
  int ef_construction = 200;
  int ef_search = 64;
  // ivf_flat, ivf_pq, ivf_sq8
  int nlist = 256;
  int nprobe = 16;
  // ivf_pq: pq_m sub-quantizers of pq_nbits bits each. 0 = chosen from the dimension at creation
  // (the largest divisor of the dimension that is at most dimension / 4).
  int pq_m = 0;
  int pq_nbits = 8;

  bool operator==(const IndexConfig&) const = default;

  // Points an IVF index needs before it trains (39 per centroid, FAISS's k-means minimum); 0 for
  // the types that need no training.
  size_t TrainingPoints() const;
};

// API.md's JSON form: {"type": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64}.
// Unknown fields, wrong types and values out of range are InvalidArgument naming "index.FIELD".
// Whether a GPU type can be created here is ValidateCollectionConfig's question, not this one's:
// a log written on a GPU machine must still be readable without one. pq_m = 0 is resolved
// against `dimension`.
StatusOr<IndexConfig> IndexConfigFromJson(const nlohmann::json& json, uint32_t dimension);
nlohmann::json IndexConfigToJson(const IndexConfig& config);
// Fills the parameters left at 0 ("choose for me"): today only pq_m.
IndexConfig ResolveIndexDefaults(IndexConfig config, uint32_t dimension);
// Range checks of every parameter; used by IndexConfigFromJson and by CreateCollection.
Status ValidateIndexConfig(const IndexConfig& config, uint32_t dimension);
// The member that holds parameter `name` (its JSON name) of indexes of config->type, or null if
// that type has no such parameter. For readers that take the values as they are, unchecked.
int* IndexParam(IndexConfig* config, std::string_view name);

struct CollectionConfig {
  std::string name;
  uint32_t dimension = 0;
  Metric metric = Metric::kL2;
  IndexConfig index;
  // The stores that hold the collection (API.md "Backends"), in order. The engine keeps them as
  // opaque names: which exist and how they are reached is the service layer's business.
  std::vector<std::string> backends = {"faiss"};

  bool operator==(const CollectionConfig&) const = default;
};

// "ready": every point is in the index (or the index is exact); "indexing": recent points are
// being added to the index or the index is being rebuilt; "training": an IVF index is training;
// "read_only": the store's write-ahead log failed (disk full, fsync error): searches go on,
// writes fail until an operator restarts the store.
struct CollectionInfo {
  CollectionConfig config;
  size_t points = 0;          // live points
  size_t indexed_points = 0;  // points the approximate index holds (dead ones included)
  std::string status;
};

struct Point {
  PointId id;
  std::vector<float> vector;  // float32, length = dimension, all finite
  Payload payload;            // object or null
};

// A stored point as get and scroll return it.
struct Record {
  PointId id;
  std::optional<Payload> payload;
  std::optional<std::vector<float>> vector;
};

struct SearchParams {
  std::optional<int> ef_search;  // hnsw: beam width, >= k is used
  std::optional<int> nprobe;     // ivf: lists probed
  bool exact = false;            // brute force, whatever the index
};

struct SearchRequest {
  std::vector<float> vector;
  int64_t k = 10;
  std::optional<Filter> filter;
  std::optional<float> score_threshold;  // l2: keep score <= t; ip and cosine: keep score >= t
  SearchParams params;
  bool with_payload = true;
  bool with_vector = false;
};

// Scores follow API.md: l2 is the Euclidean distance (lower is better); ip is the inner product;
// cosine is the cosine similarity (higher is better for both).
struct ScoredPoint {
  PointId id;
  float score = 0;
  std::optional<Payload> payload;
  std::optional<std::vector<float>> vector;
};

struct ScrollRequest {
  std::optional<Filter> filter;
  int64_t limit = 100;
  std::optional<std::string> cursor;  // next_cursor of the previous page; none = start
  bool with_payload = true;
  bool with_vector = false;
};

// Points come in id order (integer ids ascending, then string ids in byte order), so a scroll
// visits every point that exists throughout it exactly once, whatever is written meanwhile.
struct ScrollPage {
  std::vector<Record> points;
  std::optional<std::string> next_cursor;
};

enum class PayloadMode {
  kMerge,    // set the given top-level keys, keep the others
  kReplace,  // the given object becomes the whole payload
};

}  // namespace vecmesh::engine
