// CRC-32C (Castagnoli), the checksum of every on-disk record. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vecmesh::engine {

// Extends `crc` (0 to start) over n bytes: with the CPU's crc32 instruction where it has one
// (x86-64 with SSE 4.2), else from a table.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// The two ways Crc32c computes it, named so that tests can hold them to the same answers.
uint32_t Crc32cTable(const void* data, size_t n, uint32_t crc = 0);
#if defined(__x86_64__)
uint32_t Crc32cHardware(const void* data, size_t n, uint32_t crc = 0);
#endif

}  // namespace vecmesh::engine
