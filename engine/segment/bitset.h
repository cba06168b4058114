// A fixed-size set of slots (the engine's internal point numbers). Not thread-safe: readers
// share it only while nobody writes it.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

namespace vecmesh::engine {

class Bitset {
 public:
  Bitset() = default;
  explicit Bitset(size_t size, bool value = false)
      : size_(size), words_((size + 63) / 64, value ? ~uint64_t{0} : 0) {
    if (value) ClearTail();
  }

  size_t size() const { return size_; }
  bool Test(size_t i) const { return i < size_ && (words_[i >> 6] >> (i & 63)) & 1; }
  void Set(size_t i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  void Reset(size_t i) { words_[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
  // Grows to `size` slots; new slots are unset.
  void Resize(size_t size) {
    size_ = size;
    words_.resize((size + 63) / 64, 0);
    ClearTail();
  }

  size_t Count() const { return CountBelow(size_); }
  // Set bits among [0, end).
  size_t CountBelow(size_t end) const {
    if (end > size_) end = size_;
    size_t n = 0;
    for (size_t w = 0; w < end / 64; ++w) n += std::popcount(words_[w]);
    if (end % 64) n += std::popcount(words_[end / 64] & ((uint64_t{1} << (end % 64)) - 1));
    return n;
  }
  Bitset& operator&=(const Bitset& o) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] &= i < o.words_.size() ? o.words_[i] : 0;
    return *this;
  }
  Bitset& operator|=(const Bitset& o) {
    for (size_t i = 0; i < words_.size() && i < o.words_.size(); ++i) words_[i] |= o.words_[i];
    return *this;
  }
  // this = this & ~o
  Bitset& Subtract(const Bitset& o) {
    for (size_t i = 0; i < words_.size() && i < o.words_.size(); ++i) words_[i] &= ~o.words_[i];
    return *this;
  }

  // Calls f(slot) for every set slot in [begin, end), ascending.
  template <typename F>
  void ForEach(size_t begin, size_t end, F&& f) const {
    if (end > size_) end = size_;
    for (size_t w = begin >> 6; (w << 6) < end; ++w) {
      uint64_t bits = words_[w];
      if ((w << 6) < begin) bits &= ~uint64_t{0} << (begin & 63);
      while (bits) {
        size_t i = (w << 6) + std::countr_zero(bits);
        if (i >= end) return;
        f(i);
        bits &= bits - 1;
      }
    }
  }

 private:
  void ClearTail() {
    if (size_ & 63) words_.back() &= (uint64_t{1} << (size_ & 63)) - 1;
  }
  size_t size_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace vecmesh::engine
