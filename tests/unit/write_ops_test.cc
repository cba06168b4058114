// Log records of the write operations: every kind round-trips exactly, and a malformed record
// (truncated, or with an out-of-range enum, as a crafted snapshot file could hold) is refused.
#include "engine/storage/write_ops.h"

#include <gtest/gtest.h>

namespace vecmesh::engine {
namespace {

TEST(WriteOpsTest, EveryKindRoundTrips) {
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  const std::vector<WriteOp> ops = {
      CreateCollectionOp{{"c", 3, Metric::kCosine, hnsw}},
      DropCollectionOp{},
      UpsertOp{{{uint64_t{7}, {1.5f, -2, 0}, {{"a", {1, 2}}}}, {std::string("7"), {0, 0, 1}, {}}}},
      DeleteOp{{uint64_t{1}, std::string("x")}},
      SetPayloadOp{{uint64_t{2}}, {{"k", "v"}}, PayloadMode::kReplace},
      SlotsOp{{{{uint64_t{3}, {1, 2, 3}, {{"t", "x"}}}, true}, {{uint64_t{0}, {4, 5, 6}, {}}, false}}},
      IndexPartOp{120, 1u << 20, std::string("\0image\xff", 7)},
  };
  for (const WriteOp& op : ops) {
    std::string name;
    WriteOp back;
    ASSERT_TRUE(DecodeWriteOp(EncodeWriteOp("c", op), &name, &back).ok());
    EXPECT_EQ(name, "c");
    EXPECT_EQ(EncodeWriteOp("c", back), EncodeWriteOp("c", op)) << "index " << op.index();
  }
}

TEST(WriteOpsTest, MalformedRecordsAreRefused) {
  const std::string upsert = EncodeWriteOp("c", UpsertOp{{{uint64_t{7}, {1, 2, 3}, {}}}});
  std::string name;
  WriteOp op;
  for (size_t cut : {size_t{1}, size_t{6}, upsert.size() - 1}) {
    EXPECT_EQ(DecodeWriteOp(upsert.substr(0, cut), &name, &op).code(), StatusCode::kInternal);
  }
  std::string create = EncodeWriteOp("c", CreateCollectionOp{{"c", 3, Metric::kL2, {}}});
  create[1 + 4 + 1 + 4] = 9;  // kind, name length, "c", dimension: then the metric byte
  Status s = DecodeWriteOp(create, &name, &op);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("unknown metric 9"), std::string::npos) << s.message();
  EXPECT_EQ(DecodeWriteOp(std::string(1, '\x2a') + create.substr(1), &name, &op).code(),
            StatusCode::kInternal);
}

}  // namespace
}  // namespace vecmesh::engine
