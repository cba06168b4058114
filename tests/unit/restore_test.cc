// Snapshot restores: a file that is not a whole snapshot is refused and left as it is.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "engine/store/local_store.h"
#include "tests/unit/durability_fixture.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Reading a snapshot must never change it: a torn tail is reported, not cut (the file may be
// the only copy, or someone else's), and a corrupt record refuses the whole file.
TEST_F(DurabilityTest, ATornOrCorruptSnapshotIsRefusedAndLeftAsItIs) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateCollection({}, {"src", 2, Metric::kL2, {}}).ok());
  std::vector<Point> points;
  for (uint64_t i = 0; i < 2500; ++i) points.push_back({i, {float(i), 1}, {{"i", i}}});
  ASSERT_TRUE(store->Upsert({}, "src", points).ok());
  auto snapshot = store->CreateSnapshot("src");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  const std::string whole = ReadBytes(*store->SnapshotPath("src", snapshot->name));
  ASSERT_TRUE(store->CreateCollection({}, {"target", 2, Metric::kL2, {}}).ok());
  ASSERT_TRUE(store->Upsert({}, "target", {{uint64_t{7}, {7, 7}, {}}}).ok());

  std::string corrupt = whole;
  corrupt[corrupt.size() / 2] ^= 0x40;  // inside the second of three point records
  const std::map<std::string, std::string> bad = {{"torn", whole.substr(0, whole.size() - 5)},
                                                  {"corrupt", corrupt}};
  for (const auto& [what, bytes] : bad) {
    SCOPED_TRACE(what);
    const fs::path path = dir_ / (what + ".vms");
    WriteBytes(path, bytes);
    Status s = store->RestoreSnapshot(path.string(), "target");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(path.string()), std::string::npos) << s.message();
    EXPECT_EQ(ReadBytes(path), bytes) << "the file is read, never changed";
    EXPECT_EQ(*store->Count({}, "target", nullptr), 1u) << "nothing restored";
    EXPECT_FALSE(store->GetCollection({}, "other").ok());
    EXPECT_EQ(store->RestoreSnapshot(path.string(), "other").code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->GetCollection({}, "other").ok()) << "nothing created";
  }
}

}  // namespace
}  // namespace vecmesh::engine
