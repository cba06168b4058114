#include "engine/scroll_cursor.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace vecmesh::engine {

std::string ScrollCursorOf(const PointId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) {
    // Appended rather than "u" + to_string(n): GCC 12 warns falsely (-Wrestrict, its bug
    // 105651) about the latter once Scroll inlines this.
    std::string out = "u";
    out += std::to_string(*n);
    return out;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out = "s";
  for (unsigned char c : std::get<std::string>(id)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<PointId> ParseScrollCursor(const std::string& cursor) {
  if (cursor.size() < 1) return std::nullopt;
  std::string body = cursor.substr(1);
  if (cursor[0] == 'u') {
    if (body.empty() || body.size() > 20 ||
        !std::all_of(body.begin(), body.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    errno = 0;
    uint64_t n = std::strtoull(body.c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    return PointId(n);
  }
  if (cursor[0] != 's' || body.size() % 2 != 0) return std::nullopt;
  std::string id;
  for (size_t i = 0; i < body.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(body[i]), lo = nibble(body[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id += static_cast<char>(hi << 4 | lo);
  }
  return PointId(std::move(id));
}

}  // namespace vecmesh::engine
