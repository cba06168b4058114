#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace vecmesh::engine {

// A point's external id: an unsigned 64-bit integer or a string of at most Limits::max_id_bytes.
// 7 and "7" are different ids. Ordered: every integer id before every string id.
using PointId = std::variant<uint64_t, std::string>;

}  // namespace vecmesh::engine
