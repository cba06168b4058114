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

}  // namespace

StatusOr<JobMessage> DecodeJobMessage(std::string_view text, const std::string& message_id,
                                      const engine::Limits& limits) {
  auto parsed = ParseBody(text);
  if (!parsed.ok()) return parsed.status();
  json body = std::move(*parsed);
  JobMessage job;
  auto id = TakeString(body, "job_id");
  if (!id.ok()) return id.status();
  job.job_id = id->value_or(message_id);
  if (job.job_id.empty()) {
    return Status::InvalidArgument("job_id is missing: give it in the body or as the message_id");
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
