// Durability: everything acknowledged survives a restart, and a process killed with SIGKILL at
// random moments (20 times) loses no acknowledged write and invents nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "engine/local_store.h"

namespace vecmesh::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vecmesh_durability_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<LocalStore> OpenStore() {
    LocalStoreOptions options;
    options.data_dir = dir_.string();
    auto store = LocalStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  fs::path dir_;
};

TEST_F(DurabilityTest, ARestartRecoversEveryAcknowledgedWrite) {
  IndexConfig hnsw;
  hnsw.type = IndexType::kHnsw;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateCollection({"docs", 3, Metric::kCosine, hnsw}).ok());
    ASSERT_TRUE(store->CreateCollection({"gone", 2, Metric::kL2, {}}).ok());
    ASSERT_TRUE(store->Upsert("gone", {{uint64_t{1}, {1, 1}, {}}}).ok());
    ASSERT_TRUE(store->DropCollection("gone").ok());
    ASSERT_TRUE(store->CreateCollection({"gone", 4, Metric::kIp, {}}).ok());
    ASSERT_TRUE(store
                    ->Upsert("docs", {{uint64_t{1}, {1, 0, 0}, {{"a", 1}}},
                                      {std::string("x"), {0, 2, 0}, {{"b", "t"}}},
                                      {uint64_t{3}, {0, 0, 3}, {}}})
                    .ok());
    ASSERT_TRUE(store->Upsert("docs", {{uint64_t{1}, {1, 1, 0}, {{"a", 2}}}}).ok());
    ASSERT_TRUE(store->Delete("docs", {uint64_t{3}}).ok());
    ASSERT_TRUE(
        store->SetPayload("docs", {std::string("x")}, {{"c", true}}, PayloadMode::kMerge).ok());
  }
  auto store = OpenStore();
  EXPECT_EQ(store->recovery().records, 9u);
  EXPECT_TRUE(store->recovery().note.empty());
  auto gone = store->GetCollection("gone");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->config.dimension, 4u) << "the drop and the re-create replayed in order";
  EXPECT_EQ(gone->points, 0u);
  auto docs = store->GetCollection("docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->config.index, ResolveIndexDefaults(hnsw, 3));
  EXPECT_EQ(docs->points, 2u);
  auto got = *store->Get("docs", {uint64_t{1}, std::string("x"), uint64_t{3}}, true, true);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(*got[0].payload, json({{"a", 2}}));
  EXPECT_NEAR((*got[0].vector)[0], std::sqrt(0.5f), 1e-6);
  EXPECT_EQ(*got[1].payload, json({{"b", "t"}, {"c", true}}));
  // And the recovered store keeps logging.
  ASSERT_TRUE(store->Upsert("gone", {{uint64_t{9}, {1, 2, 3, 4}, {}}}).ok());
  store.reset();
  EXPECT_EQ(OpenStore()->GetCollection("gone")->points, 1u);
}

// ---- the crash test -----------------------------------------------------------------------

constexpr int kDim = 8;
constexpr uint64_t kIds = 300;

std::vector<float> VectorOf(uint64_t id, uint64_t version) {
  std::vector<float> v(kDim);
  for (int j = 0; j < kDim; ++j) v[j] = float(id) + float(version % 1000) / 1000.0f + j;
  return v;
}

// The child: two writer threads, each owning the ids of its parity, upsert (new version) or
// delete at random, appending "T id version kind" before each call and "A id version kind"
// after its acknowledgement to the journal. Runs until killed.
[[noreturn]] void RunWriters(const std::string& dir, const std::string& journal, uint64_t epoch) {
  LocalStoreOptions options;
  options.data_dir = dir;
  auto store = LocalStore::Open(options);
  if (!store.ok()) _exit(3);
  IndexConfig ivf;
  ivf.type = IndexType::kIvfFlat;
  ivf.nlist = 4;
  ivf.nprobe = 2;
  if (!(*store)->CreateCollection({"c", kDim, Metric::kL2, ivf}).ok()) _exit(4);
  int fd = ::open(journal.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  auto note = [fd](const std::string& line) {
    // One write per line: whole lines, and SIGKILL cannot lose what the kernel has.
    if (::write(fd, line.data(), line.size()) != ssize_t(line.size())) _exit(5);
  };
  std::vector<std::thread> writers;
  for (uint64_t w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(epoch * 2 + w);
      for (uint64_t version = epoch * 1'000'000 + 1;; ++version) {
        uint64_t id = (rng() % (kIds / 2)) * 2 + w;
        bool del = rng() % 4 == 0;
        std::string op =
            std::to_string(id) + " " + std::to_string(version) + (del ? " D\n" : " U\n");
        note("T " + op);
        Status s = del ? (*store)->Delete("c", {id}).status()
                       : (*store)
                             ->Upsert("c", {{id, VectorOf(id, version), {{"version", version}}}})
                             .status();
        if (!s.ok()) _exit(6);
        note("A " + op);
      }
    });
  }
  for (auto& t : writers) t.join();
  _exit(0);
}

struct Op {
  uint64_t version;
  bool del;
};

TEST_F(DurabilityTest, SigkillAtRandomMomentsLosesNoAcknowledgedWrite) {
  const std::string journal = (dir_.string() + ".journal");
  fs::remove(journal);
  std::mt19937 rng(12345);
  for (uint64_t cycle = 1; cycle <= 20; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) RunWriters(dir_.string(), journal, cycle);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited on its own with " << WEXITSTATUS(status);

    // For each id: the last acknowledged op, and any op tried after it (at most one in flight).
    std::map<uint64_t, Op> acked;
    std::map<uint64_t, std::vector<Op>> tried_after;
    std::ifstream in(journal);
    std::string tag, kind;
    uint64_t id, version;
    size_t acks = 0;
    while (in >> tag >> id >> version >> kind) {
      Op op{version, kind == "D"};
      if (tag == "A") {
        acked[id] = op;
        tried_after[id].clear();
        ++acks;
      } else {
        tried_after[id].push_back(op);
      }
    }
    ASSERT_GT(acks, cycle * 10) << "the writers barely ran before the kill";

    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    std::vector<PointId> all;
    for (uint64_t i = 0; i < kIds + 10; ++i) all.push_back(i);
    auto points = *store->Get("c", all, true, true);
    std::map<uint64_t, const Record*> present;
    for (const Record& r : points) {
      uint64_t pid = std::get<uint64_t>(r.id);
      ASSERT_TRUE(present.emplace(pid, &r).second) << "duplicate id " << pid;
      ASSERT_LT(pid, kIds) << "an id that was never written";
    }
    for (uint64_t i = 0; i < kIds; ++i) {
      std::vector<Op> allowed = tried_after[i];
      if (acked.count(i)) allowed.push_back(acked[i]);
      auto matches = [&](const Op& op) {
        auto it = present.find(i);
        if (op.del) return it == present.end();
        return it != present.end() && *it->second->vector == VectorOf(i, op.version) &&
               (*it->second->payload)["version"] == op.version;
      };
      bool ok = allowed.empty() ? !present.count(i)
                                : std::any_of(allowed.begin(), allowed.end(), matches);
      ASSERT_TRUE(ok) << "id " << i << " does not hold its last acknowledged write";
    }
    EXPECT_EQ(*store->Count("c", nullptr), present.size());
    // Search still finds the points.
    if (!present.empty()) {
      const Record& r = *present.begin()->second;
      SearchRequest q;
      q.vector = *r.vector;
      q.k = 1;
      auto found = store->Search("c", q);
      ASSERT_TRUE(found.ok());
      ASSERT_EQ(found->size(), 1u);
      EXPECT_EQ((*found)[0].id, r.id);
    }
  }
  fs::remove(journal);
}

}  // namespace
}  // namespace vecmesh::engine
