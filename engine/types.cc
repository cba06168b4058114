#include "engine/types.h"

#include <algorithm>
#include <set>

namespace vecmesh::engine {

int JsonNestingDepth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

bool IsValidCollectionName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string PointIdToString(const PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return std::to_string(*n);
  return nlohmann::json(std::get<std::string>(id)).dump();
}

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return "l2";
    case Metric::kIp:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "?";
}

std::optional<Metric> ParseMetric(std::string_view name) {
  for (Metric m : {Metric::kL2, Metric::kIp, Metric::kCosine}) {
    if (MetricName(m) == name) return m;
  }
  return std::nullopt;
}

std::string_view IndexTypeName(IndexType type) {
  switch (type) {
    case IndexType::kFlat:
      return "flat";
    case IndexType::kHnsw:
      return "hnsw";
    case IndexType::kIvfFlat:
      return "ivf_flat";
    case IndexType::kIvfPq:
      return "ivf_pq";
    case IndexType::kIvfSq8:
      return "ivf_sq8";
    case IndexType::kGpuFlat:
      return "gpu_flat";
    case IndexType::kGpuIvfFlat:
      return "gpu_ivf_flat";
  }
  return "?";
}

bool IsGpuIndex(IndexType type) {
  return type == IndexType::kGpuFlat || type == IndexType::kGpuIvfFlat;
}

bool IsIvfIndex(IndexType type) {
  return type == IndexType::kIvfFlat || type == IndexType::kIvfPq || type == IndexType::kIvfSq8 ||
         type == IndexType::kGpuIvfFlat;
}

std::optional<IndexType> ParseIndexType(std::string_view name) {
  for (IndexType t : {IndexType::kFlat, IndexType::kHnsw, IndexType::kIvfFlat, IndexType::kIvfPq,
                      IndexType::kIvfSq8, IndexType::kGpuFlat, IndexType::kGpuIvfFlat}) {
    if (IndexTypeName(t) == name) return t;
  }
  return std::nullopt;
}

size_t IndexConfig::TrainingPoints() const {
  constexpr size_t kPointsPerCentroid = 39;
  if (!IsIvfIndex(type)) return 0;
  size_t points = kPointsPerCentroid * nlist;
  if (type == IndexType::kIvfPq) points = std::max(points, kPointsPerCentroid << pq_nbits);
  return points;
}

namespace {

// Each parameter of an index type: its JSON name, the member it sets and its allowed range.
struct Param {
  const char* name;
  int IndexConfig::*member;
  int min, max;
};

std::vector<Param> ParamsOf(IndexType type) {
  switch (type) {
    case IndexType::kFlat:
    case IndexType::kGpuFlat:
      return {};
    case IndexType::kHnsw:
      return {{"m", &IndexConfig::hnsw_m, 2, 128},
              {"ef_construction", &IndexConfig::ef_construction, 4, 4096},
              {"ef_search", &IndexConfig::ef_search, 1, 32768}};
    case IndexType::kIvfFlat:
    case IndexType::kIvfSq8:
    case IndexType::kGpuIvfFlat:
      return {{"nlist", &IndexConfig::nlist, 1, 65536}, {"nprobe", &IndexConfig::nprobe, 1, 65536}};
    case IndexType::kIvfPq:
      return {{"nlist", &IndexConfig::nlist, 1, 65536},
              {"m", &IndexConfig::pq_m, 1, 65536},
              {"nbits", &IndexConfig::pq_nbits, 4, 12},
              {"nprobe", &IndexConfig::nprobe, 1, 65536}};
  }
  return {};
}

std::string RangeError(const Param& p, int64_t got) {
  return std::string("index.") + p.name + " must be in [" + std::to_string(p.min) + ", " +
         std::to_string(p.max) + "], got " + std::to_string(got);
}

}  // namespace

Status ValidateIndexConfig(const IndexConfig& config, uint32_t dimension) {
  for (const Param& p : ParamsOf(config.type)) {
    int v = config.*p.member;
    if (v < p.min || v > p.max) return Status::InvalidArgument(RangeError(p, v));
  }
  if (IsIvfIndex(config.type) && config.nprobe > config.nlist) {
    return Status::InvalidArgument("index.nprobe must be at most index.nlist (" +
                                   std::to_string(config.nlist) + "), got " +
                                   std::to_string(config.nprobe));
  }
  if (config.type == IndexType::kIvfPq && dimension % config.pq_m != 0) {
    return Status::InvalidArgument("index.m must divide the dimension " +
                                   std::to_string(dimension) + ", got " +
                                   std::to_string(config.pq_m));
  }
  return Status::Ok();
}

StatusOr<IndexConfig> IndexConfigFromJson(const nlohmann::json& json, uint32_t dimension) {
  IndexConfig config;
  if (json.is_null()) return config;
  if (!json.is_object()) {
    return Status::InvalidArgument("index must be an object, got " + std::string(json.type_name()));
  }
  if (!json.contains("type") || !json["type"].is_string()) {
    return Status::InvalidArgument(
        "index.type is required: one of flat, hnsw, ivf_flat, ivf_pq, ivf_sq8, gpu_flat, "
        "gpu_ivf_flat");
  }
  const std::string name = json["type"].get<std::string>();
  auto type = ParseIndexType(name);
  if (!type) {
    return Status::InvalidArgument(
        "index.type '" + json["type"].get<std::string>() +
        "' is unknown; expected flat, hnsw, ivf_flat, ivf_pq, ivf_sq8, gpu_flat or gpu_ivf_flat");
  }
  config.type = *type;
  const std::vector<Param> params = ParamsOf(config.type);
  for (const auto& item : json.items()) {
    const std::string& name = item.key();
    const nlohmann::json& value = item.value();
    if (name == "type") continue;
    auto p =
        std::find_if(params.begin(), params.end(), [&](const Param& q) { return name == q.name; });
    if (p == params.end()) {
      return Status::InvalidArgument("index." + name + " is not a parameter of " +
                                     std::string(IndexTypeName(config.type)) + " indexes");
    }
    if (!value.is_number_integer()) {
      return Status::InvalidArgument("index." + name + " must be an integer, got " +
                                     (value.is_number() ? value.dump() : value.type_name()));
    }
    int64_t v = value.get<int64_t>();
    if (v < p->min || v > p->max) return Status::InvalidArgument(RangeError(*p, v));
    config.*p->member = static_cast<int>(v);
  }
  config = ResolveIndexDefaults(config, dimension);
  Status s = ValidateIndexConfig(config, dimension);
  if (!s.ok()) return s;
  return config;
}

IndexConfig ResolveIndexDefaults(IndexConfig config, uint32_t dimension) {
  if (config.type == IndexType::kIvfPq && config.pq_m == 0) {
    config.pq_m = 1;
    for (uint32_t m = std::max<uint32_t>(dimension / 4, 1); m > 1; --m) {
      if (dimension % m == 0) {
        config.pq_m = static_cast<int>(m);
        break;
      }
    }
  }
  return config;
}

int* IndexParam(IndexConfig* config, std::string_view name) {
  for (const Param& p : ParamsOf(config->type)) {
    if (name == p.name) return &(config->*p.member);
  }
  return nullptr;
}

nlohmann::json IndexConfigToJson(const IndexConfig& config) {
  nlohmann::json json = {{"type", IndexTypeName(config.type)}};
  for (const Param& p : ParamsOf(config.type)) json[p.name] = config.*p.member;
  return json;
}

}  // namespace vecmesh::engine
