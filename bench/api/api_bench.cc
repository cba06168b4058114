// `make bench` (bench/api): search over the wire beside in-process search, on the same index in
// the same run. One process holds the engine and vecmeshd's REST and gRPC servers on loopback,
// with the engine loaded directly (an hnsw collection of --points clustered 128-d points); client
// threads then search through each path for --seconds:
//   in-process  LocalStore::Search / SearchBatch, the engine itself
//   gRPC        a C++ stub per client (its own connection), Search / SearchBatch
//   REST        a keep-alive HTTP/1.1 connection per client (Boost.Beast), POST .../search
// --clients threads per mode (default 2 per core, so that both cores are saturated). For each
// mode: queries per second, p50 and p99 latency per request, recall@10 against exact search, and
// the ratio to in-process at the same batch size. Two rows first measure the transports alone:
// calls through the same servers and worker pool that do no search (the ceiling on batch 1).
//
// Usage: vecmesh_api_bench [--points N] [--queries N] [--seconds S] [--clients N]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/grpc/grpc_server.h"
#include "api/rest/rest_api.h"
#include "api/rest/server.h"
#include "api/service/service.h"
#include "tests/support/synthetic.h"
#include "vecmesh/v1/vector_store.grpc.pb.h"

using namespace vecmesh;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

constexpr size_t kDim = 128, kK = 10;
const std::string kCollection = "bench";

struct Result {
  double qps = 0, p50_ms = 0, p99_ms = 0, recall = 0;
};

// Ids per query of one call: `batch` queries starting at query `first`.
using Call = std::function<std::vector<std::vector<uint64_t>>(size_t first, size_t batch)>;

class Bench {
 public:
  Bench(size_t points, size_t queries) : data_(testing::MakeClustered(points, queries, kDim, 1000, 42)) {
    truth_.resize(queries);
    for (size_t q = 0; q < queries; ++q) {
      truth_[q] = testing::ExactTopK(data_, engine::Metric::kL2, data_.Query(q), kK);
    }
  }
  const testing::Dataset& data() const { return data_; }
  size_t queries() const { return truth_.size(); }

  // `clients` threads, each with its own Call (made by make_call(i)), for `seconds`.
  Result Run(int clients, double seconds, size_t batch, const std::function<Call(int)>& make_call) {
    std::vector<Call> calls;
    for (int i = 0; i < clients; ++i) calls.push_back(make_call(i));
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<double> latencies_ms;
    double recall_sum = 0;
    size_t recall_n = 0, done = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        std::vector<double> mine;
        double my_recall = 0;
        size_t my_n = 0, my_done = 0;
        size_t next = (queries() / clients) * i;
        for (size_t w = 0; w < 3; ++w) calls[i](next % queries(), std::min(batch, queries()));
        while (!stop) {
          const size_t first = next % (queries() - batch + 1);
          next += batch;
          const auto t = Clock::now();
          auto ids = calls[i](first, batch);
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
          for (size_t b = 0; b < ids.size(); ++b) {
            my_recall += testing::Recall(truth_[first + b], ids[b], kK);
            ++my_n;
          }
          my_done += batch;
        }
        std::lock_guard lock(mu);
        latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
        recall_sum += my_recall;
        recall_n += my_n;
        done += my_done;
      });
    }
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(latencies_ms.begin(), latencies_ms.end());
    Result r;
    r.qps = done / elapsed;
    r.p50_ms = latencies_ms[latencies_ms.size() / 2];
    r.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
    r.recall = recall_n ? recall_sum / recall_n : -1;  // -1: the calls return no results
    return r;
  }

  std::vector<float> Query(size_t q) const {
    return {data_.Query(q), data_.Query(q) + kDim};
  }

 private:
  testing::Dataset data_;
  std::vector<std::vector<uint64_t>> truth_;
};

std::vector<uint64_t> IdsOf(const std::vector<engine::ScoredPoint>& points) {
  return testing::IdsOf(points);
}

// A keep-alive HTTP/1.1 client for one thread.
class RestClient {
 public:
  explicit RestClient(uint16_t port) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }
  json Post(const std::string& target, const json& body) {
    namespace http = boost::beast::http;
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.body() = body.dump();
    request.prepare_payload();
    http::write(socket_, request);
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    if (response.result() != http::status::ok) {
      std::fprintf(stderr, "REST error %d: %s\n", response.result_int(), response.body().c_str());
      std::exit(2);
    }
    return json::parse(response.body());
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

void Print(const char* mode, int clients, const Result& r, const Result* base, double target) {
  std::printf("%-22s %7d %9.0f %8.3f %8.3f %7.2fx ", mode, clients, r.qps, r.p50_ms, r.p99_ms,
              r.p99_ms / r.p50_ms);
  if (r.recall < 0) {
    std::printf("%9s", "-");
  } else {
    std::printf("%9.4f", r.recall);
  }
  if (base) {
    const double ratio = r.qps / base->qps;
    std::printf("   %5.2fx (target >= %.1fx: %s)", ratio, target, ratio >= target ? "met" : "MISSED");
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t points = 100'000, queries = 2'000;
  double seconds = 10;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int clients = 2 * cores;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--points")) points = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--queries")) queries = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--clients")) clients = std::stoi(argv[i + 1]);
  }
  std::printf("api bench: %zu clustered %zu-d points, hnsw (m 16, ef_search 64), k %zu, %d clients "
              "per mode on %d cores, %.0f s each\n",
              points, kDim, kK, clients, cores, seconds);
  Bench bench(points, queries);

  // The engine, loaded directly, and the servers over it, as vecmeshd sets them up.
  auto owned = std::make_shared<engine::LocalStore>();
  engine::LocalStore* store = owned.get();
  engine::IndexConfig hnsw;
  hnsw.type = engine::IndexType::kHnsw;
  (void)store->CreateCollection({}, {kCollection, kDim, engine::Metric::kL2, hnsw});
  for (size_t begin = 0; begin < points; begin += 10'000) {
    auto written =
        store->Upsert({}, kCollection,
                      testing::MakePoints(bench.data(), begin, std::min(points, begin + 10'000)));
    if (!written.ok()) return 2;
  }
  std::printf("building the index...\n");
  testing::WaitUntilIndexed(*store, kCollection, 3600);
  api::Service service(api::ServiceOptions{}, api::KeyRing());
  service.Attach(std::make_shared<const api::StoreRouter>(
                     std::map<std::string, std::shared_ptr<engine::VectorStore>>{{"faiss", owned}},
                     "faiss"),
                 owned);
  service.Serve();
  api::Metrics metrics;
  const api::AccessLog access_log(false);
  api::RestApi rest_api(service, metrics, access_log);
  api::WorkerPool pool(cores, 1024);
  api::RestServerOptions rest_options;
  rest_options.port = 0;
  api::RestServer rest(rest_api, pool, rest_options);
  api::GrpcServerOptions grpc_options;
  grpc_options.port = 0;
  api::GrpcServer grpc(service, metrics, access_log, pool, grpc_options);
  if (!rest.Start().ok() || !grpc.Start().ok()) return 2;
  grpc.SetServing(true);

  std::printf("\n%-22s %7s %9s %8s %8s %8s %9s   %s\n", "mode", "clients", "QPS", "p50 ms",
              "p99 ms", "p99/p50", "recall@10", "vs in-process");
  auto in_process = [&](size_t batch) {
    return bench.Run(clients, seconds, batch, [&](int) -> Call {
      return [&, batch](size_t first, size_t n) {
        std::vector<engine::SearchRequest> requests(n);
        for (size_t b = 0; b < n; ++b) {
          requests[b].vector = bench.Query(first + b);
          requests[b].k = kK;
          requests[b].with_payload = false;
        }
        std::vector<std::vector<uint64_t>> out;
        if (batch == 1) {
          out.push_back(IdsOf(*store->Search({}, kCollection, requests[0])));
        } else {
          auto results = store->SearchBatch({}, kCollection, requests);
          for (const auto& r : *results) out.push_back(IdsOf(r));
        }
        return out;
      };
    });
  };
  auto over_grpc = [&](size_t batch) {
    return bench.Run(clients, seconds, batch, [&](int i) -> Call {
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection per client
      auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc.port()),
                                               grpc::InsecureChannelCredentials(), args);
      auto stub = std::shared_ptr<v1::VectorStore::Stub>(v1::VectorStore::NewStub(channel));
      return [&, stub, batch](size_t first, size_t n) {
        auto fill = [&](v1::SearchRequest* r, size_t q) {
          const auto v = bench.Query(q);
          r->mutable_vector()->Assign(v.begin(), v.end());
          r->set_k(kK);
          r->set_with_payload(false);
        };
        std::vector<std::vector<uint64_t>> out;
        auto ids = [](const v1::SearchResponse& response) {
          std::vector<uint64_t> found;
          for (const auto& p : response.results()) found.push_back(p.id().num());
          return found;
        };
        grpc::ClientContext context;
        grpc::Status s;
        if (batch == 1) {
          v1::SearchRequest request;
          request.set_collection(kCollection);
          fill(&request, first);
          v1::SearchResponse response;
          s = stub->Search(&context, request, &response);
          out.push_back(ids(response));
        } else {
          v1::SearchBatchRequest request;
          request.set_collection(kCollection);
          for (size_t b = 0; b < n; ++b) fill(request.add_searches(), first + b);
          v1::SearchBatchResponse response;
          s = stub->SearchBatch(&context, request, &response);
          for (const auto& r : response.results()) out.push_back(ids(r));
        }
        if (!s.ok()) {
          std::fprintf(stderr, "gRPC error: %s\n", s.error_message().c_str());
          std::exit(2);
        }
        return out;
      };
    });
  };
  auto over_rest = [&]() {
    return bench.Run(clients, seconds, 1, [&](int) -> Call {
      auto client = std::make_shared<RestClient>(rest.port());
      return [&, client](size_t first, size_t) {
        const json answer = client->Post("/v1/collections/" + kCollection + "/search",
                                         {{"vector", bench.Query(first)}, {"k", kK}, {"with_payload", false}});
        std::vector<uint64_t> found;
        for (const auto& r : answer["results"]) found.push_back(r["id"].get<uint64_t>());
        return std::vector<std::vector<uint64_t>>{found};
      };
    });
  };

  // The transports' own ceiling on this machine: a call through the same servers and worker pool
  // that does no search (GetCollection), in calls per second.
  auto no_search_grpc = [&]() {
    return bench.Run(clients, seconds, 1, [&](int) -> Call {
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);
      auto stub = std::shared_ptr<v1::VectorStore::Stub>(v1::VectorStore::NewStub(
          grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc.port()),
                                    grpc::InsecureChannelCredentials(), args)));
      return [stub](size_t, size_t) {
        grpc::ClientContext context;
        v1::GetCollectionRequest request;
        request.set_name(kCollection);
        v1::CollectionInfo info;
        if (!stub->GetCollection(&context, request, &info).ok()) std::exit(2);
        return std::vector<std::vector<uint64_t>>{};
      };
    });
  };
  auto no_search_rest = [&]() {
    return bench.Run(clients, seconds, 1, [&](int) -> Call {
      auto client = std::make_shared<RestClient>(rest.port());
      return [client](size_t, size_t) {
        (void)client->Post("/v1/collections/" + kCollection + "/points/count", json::object());
        return std::vector<std::vector<uint64_t>>{};
      };
    });
  };
  Print("gRPC, no search", clients, no_search_grpc(), nullptr, 0);
  Print("REST, no search", clients, no_search_rest(), nullptr, 0);
  const Result local1 = in_process(1);
  Print("in-process batch 1", clients, local1, nullptr, 0);
  const Result grpc1 = over_grpc(1);
  Print("gRPC batch 1", clients, grpc1, &local1, 0.8);
  const Result rest1 = over_rest();
  Print("REST batch 1", clients, rest1, &local1, 0.6);
  const Result local64 = in_process(64);
  Print("in-process batch 64", clients, local64, nullptr, 0);
  const Result grpc64 = over_grpc(64);
  Print("gRPC batch 64", clients, grpc64, &local64, 0.9);
  std::printf("\np99 <= 3x p50 with both cores saturated: gRPC batch 1 %s, REST batch 1 %s, "
              "gRPC batch 64 %s\n",
              grpc1.p99_ms <= 3 * grpc1.p50_ms ? "met" : "MISSED",
              rest1.p99_ms <= 3 * rest1.p50_ms ? "met" : "MISSED",
              grpc64.p99_ms <= 3 * grpc64.p50_ms ? "met" : "MISSED");
  grpc.Stop(std::chrono::milliseconds(0));
  rest.Stop(std::chrono::milliseconds(0));
  return 0;
}
