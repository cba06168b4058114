// CRC-32C: the published check values, and the CPU's instruction held to the table's answers on
// every length and alignment, so that logs written on one machine verify on any other.
#include "engine/storage/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace vecmesh::engine {
namespace {

std::vector<unsigned char> Bytes(size_t n, unsigned char (*at)(size_t)) {
  std::vector<unsigned char> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = at(i);
  return out;
}

// RFC 3720, appendix B.4, and the "123456789" check value of the CRC catalogue.
TEST(Crc32cTest, MatchesThePublishedCheckValues) {
  const std::string digits = "123456789";
  EXPECT_EQ(Crc32c(digits.data(), digits.size()), 0xE3069283u);
  EXPECT_EQ(Crc32c(Bytes(32, [](size_t) -> unsigned char { return 0; }).data(), 32), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(Bytes(32, [](size_t) -> unsigned char { return 0xFF; }).data(), 32),
            0x62A8AB43u);
  EXPECT_EQ(Crc32c(Bytes(32, [](size_t i) { return static_cast<unsigned char>(i); }).data(), 32),
            0x46DD794Eu);
  EXPECT_EQ(
      Crc32c(Bytes(32, [](size_t i) { return static_cast<unsigned char>(31 - i); }).data(), 32),
      0x113FDB5Cu);
  EXPECT_EQ(Crc32c(digits.data(), 0), 0u);
}

TEST(Crc32cTest, ExtendingOverPiecesEqualsOneCallOverTheWhole) {
  std::mt19937 rng(7);
  std::vector<unsigned char> data(4096 + 16);
  for (auto& b : data) b = static_cast<unsigned char>(rng());
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1000},
                       size_t{4111}, data.size()}) {
    uint32_t crc = Crc32c(data.data(), split);
    EXPECT_EQ(Crc32c(data.data() + split, data.size() - split, crc), whole) << split;
  }
}

#if defined(__x86_64__)
TEST(Crc32cTest, TheInstructionAgreesWithTheTableOnEveryLengthAndAlignment) {
  if (!__builtin_cpu_supports("sse4.2")) GTEST_SKIP() << "this CPU has no SSE 4.2";
  std::mt19937 rng(11);
  std::vector<unsigned char> data(300);
  for (auto& b : data) b = static_cast<unsigned char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= data.size(); ++n) {
      const uint32_t seed = rng();
      ASSERT_EQ(Crc32cHardware(data.data() + offset, n, seed),
                Crc32cTable(data.data() + offset, n, seed))
          << "offset " << offset << ", " << n << " bytes";
    }
  }
}
#endif

}  // namespace
}  // namespace vecmesh::engine
