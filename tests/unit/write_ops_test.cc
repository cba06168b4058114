// Log records of the write operations: every kind round-trips exactly, and a malformed record
// (truncated, or with an out-of-range enum, as a crafted snapshot file could hold) is refused.
#include "engine/storage/write_ops.h"

#include <gtest/gtest.h>

#include <optional>

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
      SlotsOp{
          {{{uint64_t{3}, {1, 2, 3}, {{"t", "x"}}}, true}, {{uint64_t{0}, {4, 5, 6}, {}}, false}}},
      IndexPartOp{120, 1u << 20, std::string("\0image\xff", 7)},
      RestoreOp{"restores/restore-00000003-2.vms"},
      JobsOp{{{"job-1", 1796160000000}, {std::string(128, 'j'), 1796160000001}}},
  };
  for (const WriteOp& op : ops) {
    std::string name;
    WriteOp back;
    ASSERT_TRUE(DecodeWriteOp(EncodeWriteOp("c", op), &name, &back).ok());
    EXPECT_EQ(name, "c");
    EXPECT_EQ(EncodeWriteOp("c", back), EncodeWriteOp("c", op)) << "index " << op.index();
  }
}

// A job's write is one record (kind 10): the write and its tag. A reader that asks gets both; one
// that does not (the deliverers of remote stores) gets the write as if it had no job.
TEST(WriteOpsTest, AJobsWriteCarriesItsTag) {
  const JobTag job{"batch-2026-12-01-0001", 1796160000000};
  const std::vector<WriteOp> writes = {
      UpsertOp{{{uint64_t{7}, {1.5f, -2}, {{"a", 1}}}}},
      DeleteOp{{uint64_t{1}, std::string("x")}},
      SetPayloadOp{{uint64_t{2}}, {{"k", "v"}}, PayloadMode::kMerge},
  };
  for (const WriteOp& write : writes) {
    const std::string record = EncodeWriteOp("docs", write, &job);
    EXPECT_NE(record, EncodeWriteOp("docs", write));
    std::string name;
    WriteOp back;
    std::optional<JobTag> tag;
    ASSERT_TRUE(DecodeWriteOp(record, &name, &back, &tag).ok());
    EXPECT_EQ(name, "docs");
    EXPECT_EQ(tag, job);
    EXPECT_EQ(EncodeWriteOp("docs", back, &*tag), record) << "index " << write.index();
    ASSERT_TRUE(DecodeWriteOp(record, &name, &back).ok());
    EXPECT_EQ(EncodeWriteOp("docs", back), EncodeWriteOp("docs", write)) << "the write alone";
    ASSERT_TRUE(DecodeWriteOp(EncodeWriteOp("docs", write), &name, &back, &tag).ok());
    EXPECT_FALSE(tag.has_value()) << "a write without a job has no tag";
  }
  // Only writes to points carry a job; a truncated job record is refused.
  std::string record = EncodeWriteOp("docs", UpsertOp{{{uint64_t{7}, {1, 2}, {}}}}, &job);
  std::string name;
  WriteOp back;
  record[1 + 4 + 4 + 4 + job.id.size() + 8] = 2;  // the write's kind: a drop
  EXPECT_FALSE(DecodeWriteOp(record, &name, &back).ok());
  EXPECT_FALSE(DecodeWriteOp(record.substr(0, 20), &name, &back).ok());
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

// A create record keeps the whole configuration: every index parameter and the backends, in
// their order.
TEST(WriteOpsTest, ACreateRecordKeepsTheWholeConfiguration) {
  IndexConfig pq;
  pq.type = IndexType::kIvfPq;
  pq.nlist = 33;
  pq.nprobe = 5;
  pq.pq_m = 4;
  pq.pq_nbits = 6;
  pq.hnsw_m = 7;  // not a parameter of ivf_pq, and kept all the same
  for (const std::vector<std::string>& backends :
       std::vector<std::vector<std::string>>{{"faiss"}, {"chroma", "faiss", "qdrant"}, {}}) {
    const CollectionConfig config{"c", 16, Metric::kIp, pq, backends};
    std::string name;
    WriteOp back;
    ASSERT_TRUE(DecodeWriteOp(EncodeWriteOp("c", CreateCollectionOp{config}), &name, &back).ok());
    EXPECT_EQ(std::get<CreateCollectionOp>(back).config, config);
  }
}

// Little-endian fields, for records written by hand.
std::string U32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string Str(const std::string& s) { return U32(static_cast<uint32_t>(s.size())) + s; }

// Narrowing an API range must not make an old log unreadable: create records are read as they
// were written, whatever today's ranges (hnsw m is at most 128 today), in both encodings.
TEST(WriteOpsTest, ACreateRecordOutsideTodaysApiRangesStillDecodes) {
  IndexConfig wide;
  wide.type = IndexType::kHnsw;
  wide.hnsw_m = 100'000;
  wide.ef_search = -1;
  ASSERT_FALSE(ValidateIndexConfig(wide, 3).ok());
  std::string name;
  WriteOp op;
  ASSERT_TRUE(
      DecodeWriteOp(EncodeWriteOp("c", CreateCollectionOp{{"c", 3, Metric::kL2, wide}}), &name, &op)
          .ok());
  EXPECT_EQ(std::get<CreateCollectionOp>(op).config.index, wide);

  // Kind 1, the JSON encoding of format versions 1 and 2.
  const std::string v1 = std::string(1, '\x01') + Str("c") + U32(3) + std::string(1, '\x02') +
                         Str(R"({"type": "hnsw", "m": 100000, "ef_construction": 200,
                                 "ef_search": -1})");
  const Status s = DecodeWriteOp(v1, &name, &op);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const CollectionConfig& config = std::get<CreateCollectionOp>(op).config;
  EXPECT_EQ(config, (CollectionConfig{"c", 3, Metric::kCosine, wide, {"faiss"}}));
}

TEST(WriteOpsTest, MalformedCreateRecordsAreRefused) {
  const std::string create = EncodeWriteOp("c", CreateCollectionOp{{"c", 3, Metric::kL2, {}}});
  const size_t type_at = 1 + 4 + 1 + 4 + 1;  // kind, name, dimension, metric
  std::string name;
  WriteOp op;
  auto refusal = [&](const std::string& record) {
    Status s = DecodeWriteOp(record, &name, &op);
    EXPECT_EQ(s.code(), StatusCode::kInternal);
    return s.message();
  };
  std::string bad = create;
  bad[type_at] = 7;
  EXPECT_NE(refusal(bad).find("unknown index type 7"), std::string::npos);
  bad = create;
  bad[type_at + 1] = 8;  // more index parameters than this version knows
  EXPECT_NE(refusal(bad).find("holds 8 index parameters"), std::string::npos);
  for (size_t cut = type_at; cut < create.size(); cut += 3) refusal(create.substr(0, cut));
  EXPECT_NE(refusal(create + "x").find("malformed"), std::string::npos);

  const std::string v1 = std::string(1, '\x01') + Str("c") + U32(3) + std::string(1, '\0');
  EXPECT_NE(refusal(v1 + Str(R"({"type": "lsh"})")).find("of no known type"), std::string::npos);
  EXPECT_NE(refusal(v1 + Str(R"({"type": "hnsw", "m": 1e3})")).find("m is not an int"),
            std::string::npos);
  EXPECT_NE(refusal(v1 + Str(R"({"type": "hnsw", "m": 4294967296})")).find("m is not an int"),
            std::string::npos);
  EXPECT_NE(refusal(v1 + Str("[1]")).find("not an object"), std::string::npos);
}

// Kind 9 as docs/storage.md draws it: the collection, then the restore file's name.
TEST(WriteOpsTest, ARestoreRecordIsTheCollectionAndTheFileName) {
  const std::string record =
      std::string(1, '\x09') + Str("docs") + Str("restores/restore-00000007-1.vms");
  EXPECT_EQ(EncodeWriteOp("docs", RestoreOp{"restores/restore-00000007-1.vms"}), record);
  std::string name;
  WriteOp op;
  ASSERT_TRUE(DecodeWriteOp(record, &name, &op).ok());
  EXPECT_EQ(name, "docs");
  EXPECT_EQ(std::get<RestoreOp>(op).file, "restores/restore-00000007-1.vms");
  EXPECT_EQ(DecodeWriteOp(record.substr(0, record.size() - 1), &name, &op).code(),
            StatusCode::kInternal);
}

}  // namespace
}  // namespace vecmesh::engine
