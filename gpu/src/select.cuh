// Internal to the GPU library: block-wide k-selection shared by the index kernels. A radix select
// keeps the `want` smallest of any number of candidates (run per tile or per group of lists, the
// running best fed back in as candidates), and a bitonic sort orders the final k (<= kSortSize).
// Both are called by every thread of a block with the same arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda_util.cuh"

namespace vecmesh::gpu {

constexpr int kSortSize = 1024;  // the most results one sort orders: >= every index's kMaxK

// The `want` (<= total) candidates with the smallest distances among e in [0, total): calls
// emit(at, distance, e) once for each of them, each with a distinct at in [0, want). Ties at the
// threshold are broken arbitrarily. distance(e) must give the same value on every call; `want`
// must fit in 32 bits; blockDim.x must be a multiple of 32. Radix select on the ordered keys, 8
// bits at a time from the top: four counting passes over the candidates and one pass that emits.
// Distances of one query mostly share their top bits, so the first counting pass sends nearly
// every candidate to one histogram bin: each warp adds its lanes' counts per distinct digit with
// one atomic, not one per lane.
template <typename DistanceFn, typename EmitFn>
__device__ void BlockSelectSmallest(size_t total, size_t want, DistanceFn distance, EmitFn emit) {
  __shared__ uint32_t histogram[256];
  __shared__ uint32_t prefix, mask, remaining, below, equal_taken;
  if (threadIdx.x == 0) {
    prefix = 0;
    mask = 0;
    remaining = static_cast<uint32_t>(want);
    below = 0;
    equal_taken = 0;
  }
  __syncthreads();
  if (want < total) {
    // Find the want-th smallest key. Invariant: `remaining` (>= 1) of the keys that match
    // `prefix` under `mask` are still wanted, so the digit search below stops by digit 255.
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
      __syncthreads();
      // Every lane of a warp runs the same iterations (base is uniform), as the match needs.
      for (size_t base = 0; base < total; base += blockDim.x) {
        const size_t e = base + threadIdx.x;
        uint32_t digit = 256;  // no digit: past the end, or outside the prefix
        if (e < total) {
          const uint32_t key = OrderedKey(distance(e));
          if ((key & mask) == prefix) digit = (key >> shift) & 255u;
        }
        // Later passes leave most lanes outside the prefix: skip the match for warps with none.
        if (__any_sync(0xffffffffu, digit != 256)) {
          const unsigned peers = __match_any_sync(0xffffffffu, digit);
          if (digit != 256 && static_cast<int>(threadIdx.x % 32) == __ffs(peers) - 1) {
            atomicAdd(&histogram[digit], static_cast<uint32_t>(__popc(peers)));
          }
        }
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        uint32_t before = 0;
        int digit = 0;
        while (before + histogram[digit] < remaining) before += histogram[digit++];
        remaining -= before;
        prefix |= static_cast<uint32_t>(digit) << shift;
        mask |= 255u << shift;
      }
      __syncthreads();
    }
  } else if (threadIdx.x == 0) {
    prefix = 0xffffffffu;  // take everything: every key is <= the largest key
    mask = 0xffffffffu;
    remaining = 0xffffffffu;
  }
  __syncthreads();
  // Everything below the threshold key, then as many keys equal to it as are still wanted.
  for (size_t e = threadIdx.x; e < total; e += blockDim.x) {
    const float d = distance(e);
    const uint32_t key = OrderedKey(d);
    size_t at = want;
    if (key < prefix) {
      at = atomicAdd(&below, 1u);
    } else if (key == prefix) {
      const uint32_t taken = atomicAdd(&equal_taken, 1u);
      if (taken < remaining) at = want - 1 - taken;  // fill from the end
    }
    if (at < want) emit(at, d, e);
  }
}

// Sorts `count` (<= kSortSize) pairs (distances[i], slots[i]) ascending and writes k results:
// distance adjust(d) and label label_of(slot) for i < count, INFINITY and -1 past it. Sorting on
// (ordered key, slot) puts the padding (largest key, largest slot) last whatever the distances
// are; slots must therefore be below INT64_MAX. blockDim.x <= kSortSize.
template <typename AdjustFn, typename LabelFn>
__device__ void BlockSortAndWrite(const float* distances_in, const int64_t* slots_in, int count,
                                  size_t k, AdjustFn adjust, LabelFn label_of, float* distances,
                                  int64_t* labels) {
  __shared__ uint32_t key[kSortSize];
  __shared__ int64_t s[kSortSize];
  // Sort only the smallest power of two that holds `count` (k = 10 needs 16, not 1,024): the
  // network's stages are each a barrier, and the final sort is on every search's critical path.
  int width = 2;
  while (width < count) width *= 2;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    key[i] = i < count ? OrderedKey(distances_in[i]) : 0xffffffffu;
    s[i] = i < count ? slots_in[i] : INT64_MAX;
  }
  __syncthreads();
  for (int size = 2; size <= width; size *= 2) {
    for (int stride = size / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const int j = i ^ stride;
        if (j > i) {
          const bool ascending = (i & size) == 0;
          const bool greater = key[i] > key[j] || (key[i] == key[j] && s[i] > s[j]);
          if (greater == ascending) {
            const uint32_t tk = key[i];
            key[i] = key[j];
            key[j] = tk;
            const int64_t ts = s[i];
            s[i] = s[j];
            s[j] = ts;
          }
        }
      }
      __syncthreads();
    }
  }
  for (size_t i = threadIdx.x; i < k; i += blockDim.x) {
    const bool found = static_cast<int>(i) < count && s[i] != INT64_MAX;
    float d = INFINITY;
    if (found) d = adjust(FromOrderedKey(key[i]));
    distances[i] = d;
    labels[i] = found ? label_of(s[i]) : -1;
  }
}

}  // namespace vecmesh::gpu
