// What the crash test's writer process (crash_writer.cc) and its checker
// (durability_test.cc) agree on: the ids, and the vector each (id, version) is written with.
#pragma once

#include <cstdint>
#include <vector>

namespace vecmesh::testing {

constexpr int kCrashDim = 8;
constexpr uint64_t kCrashIds = 300;

inline std::vector<float> CrashVector(uint64_t id, uint64_t version) {
  std::vector<float> v(kCrashDim);
  for (int j = 0; j < kCrashDim; ++j) v[j] = float(id) + float(version % 1000) / 1000.0f + j;
  return v;
}

}  // namespace vecmesh::testing
