// libFuzzer target: request decoding as the REST transport does it. The first byte picks the
// decoder, the rest is the request body: ParseBody, then the decoder (which runs the FILTER
// parser wherever a filter appears), then the filter parser alone on the whole document.
// Built with clang's -fsanitize=fuzzer,address,undefined (make test runs it for a bounded time);
// any crash, leak, sanitizer report or uncaught exception is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/json/json_codec.h"

using namespace vecmesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = api::ParseBody(body);
  if (!parsed.ok()) return 0;
  const api::json& j = *parsed;
  engine::Limits limits;
  switch (which % 12) {
    case 0:
      // The index object is checked by the service layer, with IndexConfigFromJson.
      if (auto request = api::DecodeCreateCollection("c", j); request.ok()) {
        const auto dimension = static_cast<uint32_t>(std::clamp<int64_t>(request->dimension, 1, 65536));
        (void)engine::IndexConfigFromJson(request->index, dimension);
      }
      break;
    case 1:
      (void)api::DecodePoints(j);
      break;
    case 2:
      (void)api::DecodeGetPoints(j);
      break;
    case 3:
      (void)api::DecodeDeletePoints(j, limits);
      break;
    case 4:
      (void)api::DecodeUpdatePayload(j);
      break;
    case 5:
      (void)api::DecodeCount(j, limits);
      break;
    case 6:
      (void)api::DecodeScroll(j, limits);
      break;
    case 7:
      (void)api::DecodeSearch(j, limits);
      break;
    case 8:
      (void)api::DecodeSearchBatch(j, limits);
      break;
    case 9:
      (void)api::DecodeLegacyAddVectors(j);
      (void)api::DecodeLegacySearch(j);
      (void)api::DecodeLegacyCreateIndex(j);
      break;
    default:
      (void)engine::Filter::Parse(j, limits.filter);
      break;
  }
  return 0;
}
