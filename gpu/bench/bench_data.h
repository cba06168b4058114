// The data vecmesh_gpu_bench searches and its CPU baseline (bench/engine/cpu_flat_bench.cc)
// searches too: n vectors of dim, then batch queries, standard normal draws from mt19937_64
// seeded 1. Plain C++, so that both builds include it.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace vecmesh::bench {

struct RandomData {
  std::vector<float> vectors;  // n * dim
  std::vector<float> queries;  // batch * dim
};

inline RandomData MakeRandomData(size_t n, size_t dim, size_t batch) {
  std::mt19937_64 random(1);
  std::normal_distribution<float> normal;
  RandomData data{std::vector<float>(n * dim), std::vector<float>(batch * dim)};
  for (float& v : data.vectors) v = normal(random);
  for (float& v : data.queries) v = normal(random);
  return data;
}

}  // namespace vecmesh::bench
