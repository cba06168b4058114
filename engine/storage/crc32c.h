// CRC-32C (Castagnoli), the checksum of every on-disk record. Pure function: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vecmesh::engine {

// Extends `crc` (0 to start) over n bytes.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace vecmesh::engine
