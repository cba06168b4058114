// `make bench` (bench/api): search over the wire beside in-process search, on the same index in
// the same run. One process holds the engine and vecmeshd's REST and gRPC servers on loopback,
// with the engine loaded directly (an hnsw collection of --points clustered 128-d points); client
// threads then search through each path for --seconds:
//   in-process  LocalStore::Search / SearchBatch, the engine itself
//   gRPC        a C++ stub per client (its own connection), Search / SearchBatch
//   REST        a keep-alive HTTP/1.1 connection per client (Boost.Beast), POST .../search
// --clients threads per mode (default 2 per core, so that both cores are saturated). For each
// mode: queries per second, p50 and p99 latency per request, recall@10 against exact search, and
// the ratio to in-process at the same batch size (target, issue 16: gRPC batch 64 >= 0.9x; batch
// 1 has none: on 2 cores shared with the clients the call costs as much as the search, and the
// wire floors below hold the transports instead).
//
// First, the wire alone: vecmeshd's cheapest call that searches nothing and does what every data
// call does (GetCollection over both transports: key check, worker pool, metrics, a request id),
// with and without the access log, beside each framework's floor (wire_floors.h: a bare gRPC
// callback server answering an empty message, a bare Beast server answering a fixed body), all
// called by the same clients. Each is measured as CPU per call of the whole process (servers and
// clients share it: CLOCK_PROCESS_CPUTIME_ID and getrusage over the measured calls), split into
// user and system time and into the client threads and the rest, with context switches per call;
// the target is vecmeshd <= 1.3x the floor. The rows run in 3 interleaved rounds, --wire-seconds
// in all per row, once with the whole process on one core and once on every core.
//
// --json FILE also writes every row printed to FILE, for the plots of `make bench-report`:
//   {"bench": "api", "points": N, "clients": C, "figures": [...]}
// one figure per row, in the order printed. A wire row:
//   {"group": "wire", "cores": "one"|"every" (the process's), "call": the row's label (a
//    "+ access log" row's with the label of the row it adds to), "qps": calls per second, and per
//    call: "cpu_us" (the process's), "user_us", "sys_us", "clients_us" (the client threads'),
//    "servers_us" (the rest), "switches" (context switches); "cores_busy"; beside a floor,
//    "vs_floor" and "servers_vs_floor" (CPU per call as a multiple of the floor's, all of it and
//    the servers' alone), and "target" where vs_floor has one (the most it may be)}
// A search row:
//   {"group": "search", "mode": "in-process"|"grpc"|"rest", "batch": 1|64, "clients", "qps":
//    queries per second, "p50_ms" and "p99_ms" per request, "cpu_us" (the process's, per query),
//    "cores_busy", "recall" (recall@10, null when the calls return no results); beside
//    in-process, "vs_in_process" (the ratio of QPS), and "target" where it has one (the least it
//    may be)}
//
// Usage: vecmesh_api_bench [--points N] [--queries N] [--seconds S] [--clients N]
//                          [--wire-seconds S] [--wire-only 1] [--json FILE]
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/grpc/grpc_server.h"
#include "api/rest/rest_api.h"
#include "api/rest/server.h"
#include "api/service/service.h"
#include "bench/api/wire_floors.h"
#include "tests/support/synthetic.h"
#include "vecmesh/v1/vector_store.grpc.pb.h"

using namespace vecmesh;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

constexpr size_t kDim = 128, kK = 10;
const std::string kCollection = "bench";

// What the process spent on a run's measured calls: the CPU of all its threads (servers and
// clients share the process), of that the client threads' and the user and system time, and its
// context switches (voluntary and not). Sums, so that runs add up.
struct CpuSpent {
  double calls = 0, elapsed_s = 0, cpu_s = 0, client_s = 0, user_s = 0, sys_s = 0, switches = 0;
  CpuSpent& operator+=(const CpuSpent& o) {
    calls += o.calls;
    elapsed_s += o.elapsed_s;
    cpu_s += o.cpu_s;
    client_s += o.client_s;
    user_s += o.user_s;
    sys_s += o.sys_s;
    switches += o.switches;
    return *this;
  }
  double PerCallUs(double seconds) const { return seconds * 1e6 / calls; }
};

struct Result {
  double qps = 0, p50_ms = 0, p99_ms = 0, recall = 0;
  CpuSpent spent;
};

// The process's CPU so far: every thread's, servers' and clients' alike.
struct Usage {
  double cpu_s = 0, user_s = 0, sys_s = 0;
  long switches = 0;
};
double Seconds(const timespec& t) { return t.tv_sec + t.tv_nsec * 1e-9; }
double Seconds(const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; }
Usage ProcessUsage() {
  Usage u;
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  u.cpu_s = Seconds(t);
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  u.user_s = Seconds(r.ru_utime);
  u.sys_s = Seconds(r.ru_stime);
  u.switches = r.ru_nvcsw + r.ru_nivcsw;
  return u;
}
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return Seconds(t);
}

// Ids per query of one call: `batch` queries starting at query `first`.
using Call = std::function<std::vector<std::vector<uint64_t>>(size_t first, size_t batch)>;

class Bench {
 public:
  Bench(size_t points, size_t queries)
      : data_(testing::MakeClustered(points, queries, kDim, 1000, 42)) {
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
    std::atomic<bool> stop{false}, go{false};
    std::atomic<int> ready{0};
    std::mutex mu;
    std::vector<double> latencies_ms;
    double recall_sum = 0, client_cpu_s = 0;
    size_t recall_n = 0, done = 0, calls_n = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        std::vector<double> mine;
        double my_recall = 0;
        size_t my_n = 0, my_done = 0;
        size_t next = (queries() / clients) * i;
        for (size_t w = 0; w < 3; ++w) calls[i](next % (queries() - batch + 1), batch);
        // Measured from when every client has warmed up.
        ++ready;
        while (!go) std::this_thread::sleep_for(std::chrono::microseconds(100));
        const double cpu_start = ThreadCpuSeconds();
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
        const double my_cpu_s = ThreadCpuSeconds() - cpu_start;
        std::lock_guard lock(mu);
        latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
        recall_sum += my_recall;
        recall_n += my_n;
        done += my_done;
        calls_n += mine.size();
        client_cpu_s += my_cpu_s;
      });
    }
    while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const Usage before = ProcessUsage();
    const auto start = Clock::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const Usage after = ProcessUsage();
    std::sort(latencies_ms.begin(), latencies_ms.end());
    Result r;
    r.qps = done / elapsed;
    r.p50_ms = latencies_ms[latencies_ms.size() / 2];
    r.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
    r.recall = recall_n ? recall_sum / recall_n : -1;  // -1: the calls return no results
    r.spent = {static_cast<double>(calls_n),
               elapsed,
               after.cpu_s - before.cpu_s,
               client_cpu_s,
               after.user_s - before.user_s,
               after.sys_s - before.sys_s,
               static_cast<double>(after.switches - before.switches)};
    return r;
  }

  std::vector<float> Query(size_t q) const { return {data_.Query(q), data_.Query(q) + kDim}; }

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
    return json::parse(Send(request));
  }
  json Get(const std::string& target) { return json::parse(GetBody(target)); }
  std::string GetBody(const std::string& target) {
    namespace http = boost::beast::http;
    http::request<http::string_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    return Send(request);
  }

 private:
  // Writes `request`, reads the answer and returns its body; exits unless it is 200.
  std::string Send(const boost::beast::http::request<boost::beast::http::string_body>& request) {
    namespace http = boost::beast::http;
    http::write(socket_, request);
    http::response<http::string_body> response;
    http::read(socket_, buffer_, response);
    if (response.result() != http::status::ok) {
      std::fprintf(stderr, "REST error %d: %s\n", response.result_int(), response.body().c_str());
      std::exit(2);
    }
    return std::move(response.body());
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// One row of the search table: `mode` ("in-process", "gRPC" or "REST") at `batch` queries a
// call; with `base`, the ratio of QPS to it, met when >= `target` (0: no target). Returns the
// row's --json figure.
json Print(const std::string& mode, size_t batch, int clients, const Result& r, const Result* base,
           double target) {
  // The process's CPU per query (servers and clients), and the cores it kept busy.
  const double cpu_us = r.spent.cpu_s * 1e6 / (r.qps * r.spent.elapsed_s);
  const double cores_busy = r.spent.cpu_s / r.spent.elapsed_s;
  std::printf("%-22s %7d %9.0f %8.3f %8.3f %7.2fx %7.1f %6.2f ",
              (mode + " batch " + std::to_string(batch)).c_str(), clients, r.qps, r.p50_ms,
              r.p99_ms, r.p99_ms / r.p50_ms, cpu_us, cores_busy);
  std::string json_mode = mode;
  std::transform(json_mode.begin(), json_mode.end(), json_mode.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  json figure = {{"group", "search"},  {"mode", json_mode}, {"batch", batch},
                 {"clients", clients}, {"qps", r.qps},      {"p50_ms", r.p50_ms},
                 {"p99_ms", r.p99_ms}, {"cpu_us", cpu_us},  {"cores_busy", cores_busy},
                 {"recall", nullptr}};
  if (r.recall < 0) {
    std::printf("%9s", "-");
  } else {
    std::printf("%9.4f", r.recall);
    figure["recall"] = r.recall;
  }
  if (base) {
    const double ratio = r.qps / base->qps;
    std::printf("   %5.2fx", ratio);
    figure["vs_in_process"] = ratio;
    if (target > 0) {
      std::printf(" (target >= %.1fx: %s)", target, ratio >= target ? "MET" : "MISSED");
      figure["target"] = target;
    }
  }
  std::printf("\n");
  return figure;
}

// One row of the wire table: calls per second, then per call the process's CPU in us (user and
// system; client threads and the rest, the servers, which over gRPC also holds the client's work
// done on gRPC's own threads) and context switches, and the cores kept busy. With `floor`,
// vecmeshd's CPU per call as a multiple of the floor's, met when <= `target` (0: no target), and
// the servers' share alone beside it (the process's CPU less the client threads'). Returns the
// row's --json figures, less what names the row (its group, cores and call).
json PrintWire(const std::string& call, const CpuSpent& r, const CpuSpent* floor, double target) {
  const double qps = r.calls / r.elapsed_s, cpu_us = r.PerCallUs(r.cpu_s),
               user_us = r.PerCallUs(r.user_s), sys_us = r.PerCallUs(r.sys_s),
               clients_us = r.PerCallUs(r.client_s), servers_us = r.PerCallUs(r.cpu_s - r.client_s),
               switches = r.switches / r.calls, cores_busy = r.cpu_s / r.elapsed_s;
  std::printf("%-44s %8.0f %7.1f %6.1f %6.1f %8.1f %8.1f %6.1f %6.2f", call.c_str(), qps, cpu_us,
              user_us, sys_us, clients_us, servers_us, switches, cores_busy);
  json figure = {{"qps", qps},           {"cpu_us", cpu_us},         {"user_us", user_us},
                 {"sys_us", sys_us},     {"clients_us", clients_us}, {"servers_us", servers_us},
                 {"switches", switches}, {"cores_busy", cores_busy}};
  if (floor) {
    const double ratio = cpu_us / floor->PerCallUs(floor->cpu_s);
    const double servers = servers_us / floor->PerCallUs(floor->cpu_s - floor->client_s);
    std::printf("   %4.2fx", ratio);
    figure["vs_floor"] = ratio;
    figure["servers_vs_floor"] = servers;
    if (target > 0) {
      std::printf(" (target <= %.1fx: %s)", target, ratio <= target ? "MET" : "MISSED");
      figure["target"] = target;
    }
    std::printf("; servers alone %.2fx", servers);
  }
  std::printf("\n");
  return figure;
}

// Sets the CPUs of every thread of the process; threads started later inherit their starter's.
void SetProcessAffinity(const cpu_set_t& cpus) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    sched_setaffinity(std::stoi(task.path().filename().string()), sizeof cpus, &cpus);
  }
}

// Runs `f` with the process's stdout (where vecmeshd's access log writes) on /dev/null.
template <typename F>
Result WithStdoutToNull(F f) {
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  const int null = open("/dev/null", O_WRONLY);
  dup2(null, STDOUT_FILENO);
  close(null);
  Result r = f();
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t points = 100'000, queries = 2'000;
  double seconds = 10, wire_seconds = 3;
  bool wire_only = false;
  std::string json_path;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int clients = 2 * cores;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--points")) points = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--queries")) queries = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--clients")) clients = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--wire-seconds")) wire_seconds = std::stod(argv[i + 1]);
    if (!std::strcmp(argv[i], "--wire-only")) wire_only = std::strcmp(argv[i + 1], "0") != 0;
    if (!std::strcmp(argv[i], "--json")) json_path = argv[i + 1];
  }
  if (queries < 64) {
    std::fprintf(stderr, "--queries is %zu: at least 64, one batch of 64\n", queries);
    return 2;
  }
  // Now rather than after the run: a run takes minutes.
  if (!json_path.empty() && !std::ofstream(json_path)) {
    std::fprintf(stderr, "--json %s: cannot write it\n", json_path.c_str());
    return 2;
  }
  json figures = json::array();
  // Writes --json's file, when given, and returns the exit status.
  const auto write_json = [&] {
    if (json_path.empty()) return 0;
    std::ofstream out(json_path);
    out << json{{"bench", "api"}, {"points", points}, {"clients", clients}, {"figures", figures}}
               .dump(2)
        << "\n";
    out.close();
    if (!out) {
      std::fprintf(stderr, "--json %s: cannot write it\n", json_path.c_str());
      return 1;
    }
    return 0;
  };
  std::printf(
      "api bench: %zu clustered %zu-d points, hnsw (m 16, ef_search 64), k %zu, %d clients "
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
  service.Attach(
      std::make_shared<const api::StoreRouter>(
          std::map<std::string, std::shared_ptr<engine::VectorStore>>{{"faiss", owned}}, "faiss"),
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

  // ---- The wire alone: vecmeshd's GetCollection beside each framework's floor, same clients.
  // GetCollection is the cheapest call that takes the path of every data call (key check, worker
  // pool, the service, metrics, request id). gRPC's health check is gRPC's own service, not
  // vecmeshd's code; REST's GET /health is answered on the I/O thread with no key and no worker
  // pool, so it is shown beside, not held to the target.
  // The same servers again with the access log on (vecmeshd's default), written to /dev/null.
  const api::AccessLog access_logged(true);
  api::RestApi rest_api_logged(service, metrics, access_logged);
  api::RestServer rest_logged(rest_api_logged, pool, rest_options);
  api::GrpcServer grpc_logged(service, metrics, access_logged, pool, grpc_options);
  if (!rest_logged.Start().ok() || !grpc_logged.Start().ok()) return 2;
  const std::string collection_target = "/v1/collections/" + kCollection;
  // The REST floor answers the very body vecmeshd answers, so that the client parses the same.
  bench::RestFloor rest_floor(RestClient(rest.port()).GetBody(collection_target),
                              "application/json");
  bench::GrpcFloor grpc_floor;
  if (!rest_floor.Start() || !grpc_floor.Start()) return 2;
  auto get_collection_grpc = [&](uint16_t port, double run_seconds) {
    return bench.Run(clients, run_seconds, 1, [&, port](int) -> Call {
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection per client
      auto stub =
          std::shared_ptr<v1::VectorStore::Stub>(v1::VectorStore::NewStub(grpc::CreateCustomChannel(
              "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args)));
      return [stub](size_t, size_t) {
        grpc::ClientContext context;
        v1::GetCollectionRequest request;
        request.set_name(kCollection);
        v1::CollectionInfo info;
        const grpc::Status s = stub->GetCollection(&context, request, &info);
        if (!s.ok()) {
          std::fprintf(stderr, "gRPC error: %s\n", s.error_message().c_str());
          std::exit(2);
        }
        return std::vector<std::vector<uint64_t>>{};
      };
    });
  };
  auto get_rest = [&](uint16_t port, const std::string& target, double run_seconds) {
    return bench.Run(clients, run_seconds, 1, [&, port](int) -> Call {
      auto client = std::make_shared<RestClient>(port);
      return [client, target](size_t, size_t) {
        (void)client->Get(target);
        return std::vector<std::vector<uint64_t>>{};
      };
    });
  };
  struct WireRow {
    std::string call;
    std::function<Result(double seconds)> run;
    int floor = -1;     // the row this one is measured against
    double target = 0;  // the most CPU per call it may cost, as a multiple of the floor's
  };
  constexpr double kTarget = 1.3;
  constexpr int kGrpcFloor = 0, kRestFloor = 3;  // the floors' rows
  const std::vector<WireRow> rows = {
      {"gRPC floor: callback server, empty answer",
       [&](double t) { return get_collection_grpc(grpc_floor.port(), t); }},
      {"gRPC vecmeshd GetCollection", [&](double t) { return get_collection_grpc(grpc.port(), t); },
       kGrpcFloor, kTarget},
      {"  + access log (vecmeshd's default)",
       [&](double t) {
         return WithStdoutToNull([&] { return get_collection_grpc(grpc_logged.port(), t); });
       },
       kGrpcFloor, kTarget},
      {"REST floor: Beast, fixed body",
       [&](double t) { return get_rest(rest_floor.port(), collection_target, t); }},
      {"REST vecmeshd GET /v1/collections/NAME",
       [&](double t) { return get_rest(rest.port(), collection_target, t); }, kRestFloor, kTarget},
      {"  + access log (vecmeshd's default)",
       [&](double t) {
         return WithStdoutToNull(
             [&] { return get_rest(rest_logged.port(), collection_target, t); });
       },
       kRestFloor, kTarget},
      {"REST vecmeshd GET /health (no worker pool)",
       [&](double t) { return get_rest(rest.port(), "/health", t); }, kRestFloor},
  };
  // Measured twice: with the whole process on one core, and on every core, as vecmeshd runs, where
  // a thread woken on another core costs more (on the 2-core development machine the same calls
  // take 1.5-1.9x the CPU). The rows run in interleaved rounds, so that a slow spell does not land
  // on one row alone.
  constexpr int kWireRounds = 3;
  cpu_set_t all_cpus, one_cpu;
  CPU_ZERO(&all_cpus);
  CPU_ZERO(&one_cpu);
  sched_getaffinity(0, sizeof all_cpus, &all_cpus);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all_cpus)) {
      CPU_SET(cpu, &one_cpu);
      break;
    }
  }
  for (const bool pinned : {true, false}) {
    if (pinned) SetProcessAffinity(one_cpu);
    std::vector<CpuSpent> spent(rows.size());
    for (int round = 0; round < kWireRounds; ++round) {
      for (size_t i = 0; i < rows.size(); ++i) {
        spent[i] += rows[i].run(wire_seconds / kWireRounds).spent;
      }
    }
    if (pinned) SetProcessAffinity(all_cpus);
    std::printf(
        "\nthe wire, the process on %s: %d clients, %d interleaved rounds of %.1f s per row; per "
        "call: CPU of the whole process in us (user, sys; client threads, the rest: servers), "
        "context switches (cs)\n",
        pinned ? "one core" : "every core", clients, kWireRounds, wire_seconds / kWireRounds);
    std::printf("%-44s %8s %7s %6s %6s %8s %8s %6s %6s   %s\n", "call", "QPS", "CPU us", "user",
                "sys", "clients", "servers", "cs", "cores", "vs floor");
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string& call = rows[i].call;
      json figure = PrintWire(call, spent[i], rows[i].floor >= 0 ? &spent[rows[i].floor] : nullptr,
                              rows[i].target);
      // A "  + ..." row adds to the row above it, which its name in the JSON says.
      figure.update({{"group", "wire"},
                     {"cores", pinned ? "one" : "every"},
                     {"call", call.starts_with("  +") ? rows[i - 1].call + call.substr(1) : call}});
      figures.push_back(std::move(figure));
    }
  }
  grpc_floor.Stop();
  rest_floor.Stop();
  grpc_logged.Stop(std::chrono::milliseconds(0));
  rest_logged.Stop(std::chrono::milliseconds(0));
  if (wire_only) return write_json();

  std::printf("\n%-22s %7s %9s %8s %8s %8s %7s %6s %9s   %s\n", "mode", "clients", "QPS", "p50 ms",
              "p99 ms", "p99/p50", "CPU us", "cores", "recall@10", "vs in-process");
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
        const json answer =
            client->Post("/v1/collections/" + kCollection + "/search",
                         {{"vector", bench.Query(first)}, {"k", kK}, {"with_payload", false}});
        std::vector<uint64_t> found;
        for (const auto& r : answer["results"]) found.push_back(r["id"].get<uint64_t>());
        return std::vector<std::vector<uint64_t>>{found};
      };
    });
  };

  const Result local1 = in_process(1);
  figures.push_back(Print("in-process", 1, clients, local1, nullptr, 0));
  const Result grpc1 = over_grpc(1);
  figures.push_back(Print("gRPC", 1, clients, grpc1, &local1, 0));
  const Result rest1 = over_rest();
  figures.push_back(Print("REST", 1, clients, rest1, &local1, 0));
  const Result local64 = in_process(64);
  figures.push_back(Print("in-process", 64, clients, local64, nullptr, 0));
  const Result grpc64 = over_grpc(64);
  figures.push_back(Print("gRPC", 64, clients, grpc64, &local64, 0.9));
  std::printf(
      "\np99 <= 3x p50 with both cores saturated: gRPC batch 1 %s, REST batch 1 %s, "
      "gRPC batch 64 %s\n",
      grpc1.p99_ms <= 3 * grpc1.p50_ms ? "met" : "MISSED",
      rest1.p99_ms <= 3 * rest1.p50_ms ? "met" : "MISSED",
      grpc64.p99_ms <= 3 * grpc64.p50_ms ? "met" : "MISSED");
  grpc.Stop(std::chrono::milliseconds(0));
  rest.Stop(std::chrono::milliseconds(0));
  return write_json();
}
