// The message of an indexing job on RabbitMQ (API.md "Indexing jobs on RabbitMQ"): a JSON body
//   {"job_id", "collection", "op": "upsert", "points": [...]}
//   {"job_id", "collection", "op": "delete", "ids": [...]}   (or "filter": FILTER)
//   {"job_id", "collection", "op": "set_payload", "ids": [...], "payload": {...}, "mode"}
// whose write is decoded as the REST call it mirrors decodes it (api/json/json_codec.h): the
// same fields, types and messages. The service then checks its values and limits as REST's.
//
// Thread safety: plain functions over values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/service/service.h"

namespace vecmesh::api {

struct JobMessage {
  std::string job_id;
  std::string collection;
  JobWrite write;
};

// The job of `body`; `message_id` (the AMQP property) is its id when the body has none.
// InvalidArgument naming the field when it is not one: not JSON, no job id (or one of more than
// 128 bytes, or not UTF-8), no collection, an unknown op, or a write its REST call would refuse
// to decode.
StatusOr<JobMessage> DecodeJobMessage(std::string_view body, const std::string& message_id,
                                      const engine::Limits& limits);

// The id a message names for its job (the body's job_id, else `message_id`), for the status of
// one that does not decode; "" when it names none that could be one (not UTF-8, too long).
std::string JobIdOf(std::string_view body, const std::string& message_id);

// The body of an upsert job: what POST .../points/import publishes.
std::string EncodeUpsertJob(const std::string& job_id, const std::string& collection,
                            const std::vector<engine::Point>& points);

}  // namespace vecmesh::api
