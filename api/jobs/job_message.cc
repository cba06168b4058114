#include "api/jobs/job_message.h"

#include "api/json/json_codec.h"
#include "engine/store/job_ledger.h"

namespace vecmesh::api {

namespace {

// Takes the string field `name` out of `body`: InvalidArgument if it is there and not a string.
StatusOr<std::optional<std::string>> TakeString(json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end()) return std::optional<std::string>();
  if (!it->is_string()) {
    return Status::InvalidArgument(std::string(name) + " must be a string, got " + it->type_name());
  }
  std::string value = it->get<std::string>();
  body.erase(it);
  return std::optional<std::string>(std::move(value));
}

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t code = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next >> 6) != 0x2) return false;
      code = (code << 6) | (next & 0x3F);
    }
    const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < least[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace

std::string JobIdOf(std::string_view text, const std::string& message_id) {
  auto body = ParseBody(text);
  std::string id = message_id;
  if (body.ok() && body->contains("job_id") && (*body)["job_id"].is_string() &&
      !(*body)["job_id"].get_ref<const std::string&>().empty()) {
    id = (*body)["job_id"].get<std::string>();
  }
  return IsUtf8(id) && id.size() <= engine::kMaxJobIdBytes ? id : std::string();
}

StatusOr<JobMessage> DecodeJobMessage(std::string_view text, const std::string& message_id,
                                      const engine::Limits& limits) {
  auto parsed = ParseBody(text);
  if (!parsed.ok()) return parsed.status();
  json body = std::move(*parsed);
  JobMessage job;
  auto id = TakeString(body, "job_id");
  if (!id.ok()) return id.status();
  // An empty job_id in the body counts as none.
  job.job_id = id->has_value() && !(*id)->empty() ? **id : message_id;
  if (job.job_id.empty()) {
    return Status::InvalidArgument("job_id is missing: give it in the body or as the message_id");
  }
  if (!IsUtf8(job.job_id)) {
    return Status::InvalidArgument("job_id (or the message_id) is not UTF-8 text");
  }
  if (job.job_id.size() > engine::kMaxJobIdBytes) {
    return Status::InvalidArgument("job_id is " + std::to_string(job.job_id.size()) +
                                   " bytes; the limit is " +
                                   std::to_string(engine::kMaxJobIdBytes));
  }
  auto collection = TakeString(body, "collection");
  if (!collection.ok()) return collection.status();
  if (!*collection) return Status::InvalidArgument("collection is missing");
  job.collection = std::move(**collection);
  auto op = TakeString(body, "op");
  if (!op.ok()) return op.status();
  if (!*op)
    return Status::InvalidArgument("op is missing; it must be upsert, delete or set_payload");
  // What is left is the body of the REST call the job mirrors.
  if (**op == "upsert") {
    auto points = DecodePoints(body);
    if (!points.ok()) return points.status();
    job.write = std::move(*points);
  } else if (**op == "delete") {
    auto request = DecodeDeletePoints(body, limits);
    if (!request.ok()) return request.status();
    job.write = std::move(*request);
  } else if (**op == "set_payload") {
    auto request = DecodeUpdatePayload(body);
    if (!request.ok()) return request.status();
    job.write = std::move(*request);
  } else {
    return Status::InvalidArgument("op is '" + **op +
                                   "'; it must be upsert, delete or set_payload");
  }
  return job;
}

std::string EncodeUpsertJob(const std::string& job_id, const std::string& collection,
                            const std::vector<engine::Point>& points) {
  json out = {{"job_id", job_id}, {"collection", collection}, {"op", "upsert"}};
  json& encoded = out["points"] = json::array();
  for (const engine::Point& p : points) {
    json point = {{"id", EncodeId(p.id)}, {"vector", p.vector}};
    if (!p.payload.is_null()) point["payload"] = p.payload;
    encoded.push_back(std::move(point));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace vecmesh::api
