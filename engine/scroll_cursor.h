// The scroll cursor every store gives (engine/types.h ScrollRequest, ScrollPage): the id of the
// first point of the next page, which that page starts from (inclusive). "u" + decimal for an
// integer id, "s" + the string's bytes in lowercase hex for a string id: opaque to callers, and
// the same from every store, so a cursor names a place in id order, not a store's own offset.
#pragma once

#include <optional>
#include <string>

#include "engine/point_id.h"

namespace vecmesh::engine {

std::string ScrollCursorOf(const PointId& id);
// The id a cursor names; nullopt when `cursor` is not one ScrollCursorOf gives.
std::optional<PointId> ParseScrollCursor(const std::string& cursor);

}  // namespace vecmesh::engine
