// vecmesh_amqp (adapters/amqp) against real RabbitMQ nodes: the fixture's node (each test in a
// vhost of its own) and, for the restart test, a node of the test's own. The independent side
// (pika, rabbitmqctl, the harness) is tests/integration/amqp_helper.py, run as a child process
// with a bound on every wait; a node of our own is stopped when its helper's stdin closes (also
// when a test fails) and by the harness's watchdog if the helper dies.
#include "adapters/amqp/amqp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/amqp/amqp_connection.h"
#include "adapters/amqp/amqp_publisher_pool.h"
#include "adapters/amqp/topology.h"

namespace vecmesh::adapters {
namespace {

using engine::CallOptions;
using engine::Status;
using engine::StatusCode;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

CallOptions In(milliseconds timeout) { return CallOptions::WithTimeout(timeout); }

// amqp_helper.py as a child process: stdin and stdout are pipes; every read is bounded. The
// destructor closes stdin (the helper's signal to stop) and waits for it, then kills it.
class Helper {
 public:
  explicit Helper(std::vector<std::string> args) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<std::string> argv = {"/usr/bin/python3", "-W", "ignore::ResourceWarning",
                                       VECMESH_AMQP_HELPER};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> raw;
      for (auto& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Helper() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0 && !Wait(seconds(90))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // A line of its output (without the newline); nullopt at the end of output or the timeout.
  std::optional<std::string> ReadLine(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0 || stdout_ < 0) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(stdout_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Everything until the end of its output (bounded), then its exit code (-1: timeout).
  int Finish(milliseconds timeout, std::string* output) {
    const auto deadline = Clock::now() + timeout;
    CloseStdin();
    while (auto line =
               ReadLine(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()))) {
      *output += *line + "\n";
    }
    *output += buffer_;
    if (!Wait(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()))) return -1;
    return exit_code_;
  }
  bool WriteLine(const std::string& line) {
    const std::string text = line + "\n";
    return stdin_ >= 0 && write(stdin_, text.data(), text.size()) == ssize_t(text.size());
  }

 private:
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  bool Wait(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return true;
      }
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
};

// Runs a helper subcommand to its end: its stdout; a test failure (with the output) if it fails.
std::string RunHelper(std::vector<std::string> args, milliseconds timeout = seconds(60)) {
  const std::string what = args.empty() ? "" : args[0];
  Helper helper(std::move(args));
  std::string output;
  const int code = helper.Finish(timeout, &output);
  EXPECT_EQ(code, 0) << "amqp_helper.py " << what << " failed (" << code << "):\n" << output;
  return output;
}

AmqpUrl MustParse(const std::string& url) {
  auto parsed = ParseAmqpUrl(url);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : AmqpUrl{};
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Each test: a fresh vhost on the fixture's node, deleted afterwards.
class AmqpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("VECMESH_AMQP_URL_FILE") == nullptr) {
      GTEST_SKIP() << "VECMESH_AMQP_URL_FILE is not set: run through ctest (fixture rabbitmq)";
    }
    std::random_device random;
    vhost_ = "/amqp-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
             std::to_string(random() % 1000000);
    url_ = MustParse(Trim(RunHelper({"add-vhost", vhost_})));
    ASSERT_EQ(url_.vhost, vhost_);
  }
  void TearDown() override {
    if (!vhost_.empty()) RunHelper({"delete-vhost", vhost_});
  }

  std::unique_ptr<AmqpConnection> Open() {
    auto opened = AmqpConnection::Open(url_, AmqpOptions{}, In(seconds(10)));
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(*opened) : nullptr;
  }

  nlohmann::json Get(std::string_view queue) {
    const std::string out = RunHelper({"get", vhost_, std::string(queue)});
    return nlohmann::json::parse(out, nullptr, false);
  }

  std::string vhost_;
  AmqpUrl url_;
};

AmqpMessage Job(const std::string& id) {
  AmqpMessage m;
  m.message_id = id;
  m.body = R"({"job_id": ")" + id + R"(", "collection": "docs", "op": "delete", "ids": [1]})";
  return m;
}

// The code's topology, declared on a real broker, is exactly API.md's as an independent client
// (rabbitmqctl through rabbitmq_topology.py) sees it, and exactly what
// deploy/rabbitmq/definitions.json declares; declaring it again is accepted.
TEST_F(AmqpTest, DeclaredTopologyIsTheContractAndTheDefinitions) {
  auto connection = Open();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->DeclareTopology(In(seconds(10))).ok());
  ASSERT_TRUE(connection->DeclareTopology(In(seconds(10))).ok());
  RunHelper({"topology", vhost_});
}

// A queue declared first with other arguments: DeclareTopology fails with FailedPrecondition
// naming the argument (the broker's 406 text), the connection stays usable, and a client's
// Publish answers Unavailable with the same reason.
TEST_F(AmqpTest, MismatchedArgumentsNameTheArgument) {
  RunHelper({"declare-queue", vhost_, std::string(kJobQueue),
             "x-dead-letter-exchange=" + std::string(kDeadLetterExchange)});
  auto connection = Open();
  ASSERT_NE(connection, nullptr);
  const Status status = connection->DeclareTopology(In(seconds(10)));
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  EXPECT_NE(status.message().find("406 PRECONDITION_FAILED"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("inequivalent arg 'x-dead-letter-routing-key'"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find(url_.ToString()), std::string::npos) << status.message();
  EXPECT_FALSE(connection->broken());
  auto info = connection->Inspect(In(seconds(5)), kJobQueue);
  ASSERT_TRUE(info.ok()) << info.status().ToString();

  AmqpClient client(url_, AmqpClientOptions{});
  const Status published = client.Publish(In(seconds(10)), Job("mismatch-1"));
  EXPECT_EQ(published.code(), StatusCode::kUnavailable) << published.ToString();
  EXPECT_NE(published.message().find("x-dead-letter-routing-key"), std::string::npos)
      << published.message();
  // A consumer refuses to start, with the same reason.
  const Status consumed = client.Consume(In(seconds(5)), std::string(kJobQueue), 1);
  EXPECT_EQ(consumed.code(), StatusCode::kFailedPrecondition) << consumed.ToString();
  std::cout << "mismatch: " << status.ToString() << "\npublish: " << published.ToString() << "\n";
}

// The broker refuses the login: an unknown vhost (530 NOT_ALLOWED) or a wrong password (403
// ACCESS_REFUSED), each Unavailable with the broker's reason and no password in the message.
TEST_F(AmqpTest, RefusedLoginSaysWhy) {
  AmqpUrl unknown = url_;
  unknown.vhost = vhost_ + "-missing";
  auto opened = AmqpConnection::Open(unknown, AmqpOptions{}, In(seconds(10)));
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.status().message().find("530 NOT_ALLOWED"), std::string::npos)
      << opened.status().message();
  std::cout << "vhost: " << opened.status().ToString() << "\n";

  AmqpUrl wrong = url_;
  wrong.password = "not-the-password";
  opened = AmqpConnection::Open(wrong, AmqpOptions{}, In(seconds(10)));
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.status().message().find("ACCESS_REFUSED"), std::string::npos)
      << opened.status().message();
  EXPECT_EQ(opened.status().message().find("not-the-password"), std::string::npos);
  std::cout << "password: " << opened.status().ToString() << "\n";
}

// A confirmed publish is in the queue, persistent, with every property, as pika reads it.
TEST_F(AmqpTest, PublishConfirmedWithAllProperties) {
  auto connection = Open();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->DeclareTopology(In(seconds(10))).ok());
  AmqpMessage m = Job("job-0001");
  m.correlation_id = "corr-7";
  m.reply_to = "replies.q";
  m.headers = {{"x-vecmesh-error", "INVALID_ARGUMENT: bad"}, {"x-other", "ü"}};
  const Status status = connection->Publish(In(seconds(10)), m);
  ASSERT_TRUE(status.ok()) << status.ToString();

  const nlohmann::json got = Get(kJobQueue);
  ASSERT_TRUE(got.is_object()) << got.dump();
  EXPECT_EQ(got["body"], m.body);
  EXPECT_EQ(got["content_type"], "application/json");
  EXPECT_EQ(got["delivery_mode"], 2);
  EXPECT_EQ(got["message_id"], "job-0001");
  EXPECT_EQ(got["correlation_id"], "corr-7");
  EXPECT_EQ(got["reply_to"], "replies.q");
  EXPECT_EQ(got["headers"]["x-vecmesh-error"], "INVALID_ARGUMENT: bad");
  EXPECT_EQ(got["headers"]["x-other"], "ü");
  EXPECT_EQ(got["redelivered"], false);
}

// Mandatory publishes that no queue takes are returned: Unavailable saying so; a publish to an
// exchange that does not exist closes the channel (404): Unavailable saying so. The connection
// stays usable after both.
TEST_F(AmqpTest, UnroutableAndUnknownExchangeAreUnavailable) {
  auto connection = Open();
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->DeclareTopology(In(seconds(10))).ok());
  Status status = connection->Publish(In(seconds(10)), "", "no.such.queue", Job("lost-1"));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("returned by the broker (312 NO_ROUTE"), std::string::npos)
      << status.message();
  EXPECT_FALSE(connection->broken());
  std::cout << "unroutable: " << status.ToString() << "\n";

  status = connection->Publish(In(seconds(10)), "no.such.exchange", "x", Job("lost-2"));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("404 NOT_FOUND"), std::string::npos) << status.message();
  EXPECT_FALSE(connection->broken());
  std::cout << "no exchange: " << status.ToString() << "\n";

  status = connection->Publish(In(seconds(10)), Job("kept-1"));
  EXPECT_TRUE(status.ok()) << status.ToString();
  auto info = connection->Inspect(In(seconds(5)), kJobQueue);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->messages, 1u);
}

// Consuming with prefetch 2: never more than 2 unacked; an ack lets the next one come; a reject
// without requeue lands in the dead-letter queue through the DLX; a reject with requeue comes
// back with the redelivered flag.
TEST_F(AmqpTest, ConsumePrefetchAckRejectRedeliver) {
  auto publisher = Open();
  auto consumer = Open();
  ASSERT_TRUE(publisher && consumer);
  ASSERT_TRUE(publisher->DeclareTopology(In(seconds(10))).ok());
  AmqpMessage first = Job("c-0");
  first.correlation_id = "corr-c0";
  first.reply_to = "r";
  first.headers = {{"k", "v"}};
  ASSERT_TRUE(publisher->Publish(In(seconds(10)), first).ok());
  for (int i = 1; i < 5; ++i) {
    ASSERT_TRUE(publisher->Publish(In(seconds(10)), Job("c-" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(consumer->Consume(In(seconds(5)), kJobQueue, 2).ok());

  std::vector<AmqpDelivery> got;
  for (int i = 0; i < 2; ++i) {
    auto next = consumer->Next(seconds(5));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    ASSERT_TRUE(next->has_value());
    got.push_back(**next);
  }
  EXPECT_EQ(got[0].message.message_id, "c-0");
  EXPECT_EQ(got[0].message.correlation_id, "corr-c0");
  EXPECT_EQ(got[0].message.reply_to, "r");
  EXPECT_EQ(got[0].message.content_type, "application/json");
  EXPECT_EQ(got[0].message.body, first.body);
  EXPECT_EQ(got[0].delivery_mode, 2);
  EXPECT_EQ(got[0].routing_key, kJobQueue);
  ASSERT_EQ(got[0].message.headers.size(), 1u);
  EXPECT_EQ(got[0].message.headers[0], (std::pair<std::string, std::string>{"k", "v"}));
  EXPECT_FALSE(got[0].redelivered);
  EXPECT_EQ(got[1].message.message_id, "c-1");

  // Prefetch 2: a third waits until one is acked.
  auto third = consumer->Next(milliseconds(500));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_FALSE(third->has_value());

  ASSERT_TRUE(consumer->Ack(got[0].delivery_tag).ok());
  third = consumer->Next(seconds(5));
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_EQ((*third)->message.message_id, "c-2");

  // Reject without requeue: dead-lettered, body and id kept, x-death says rejected.
  ASSERT_TRUE(consumer->Reject(got[1].delivery_tag, /*requeue=*/false).ok());
  const nlohmann::json dead = Get(kDeadLetterQueue);
  EXPECT_EQ(dead["message_id"], "c-1");
  EXPECT_EQ(dead["death_reasons"], nlohmann::json::array({"rejected"}));
  EXPECT_EQ(dead["death_queues"], nlohmann::json::array({std::string(kJobQueue)}));

  // Reject with requeue: comes again (after c-3, which the freed slot let in), redelivered.
  ASSERT_TRUE(consumer->Reject((*third)->delivery_tag, /*requeue=*/true).ok());
  std::map<std::string, bool> redelivered;
  while (redelivered.size() < 3) {
    auto next = consumer->Next(seconds(5));
    ASSERT_TRUE(next.ok() && next->has_value()) << "only " << redelivered.size();
    redelivered[(*next)->message.message_id] = (*next)->redelivered;
    ASSERT_TRUE(consumer->Ack((*next)->delivery_tag).ok());
  }
  EXPECT_EQ(redelivered,
            (std::map<std::string, bool>{{"c-2", true}, {"c-3", false}, {"c-4", false}}));

  // Everything acked: the queue is empty; the consumer counts.
  auto info = publisher->Inspect(In(seconds(5)), kJobQueue);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->messages, 0u);
  EXPECT_EQ(info->consumers, 1u);
  ASSERT_TRUE(consumer->Cancel(In(seconds(5))).ok());
  info = publisher->Inspect(In(seconds(5)), kJobQueue);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->consumers, 0u);
  // The broker answers an unknown tag by closing the channel (seen by the next call, which says
  // so); the channel is reopened, and a tag of the old channel is refused.
  ASSERT_TRUE(consumer->Ack(AmqpDeliveryTag{got[0].delivery_tag.channel, 999}).ok());
  auto after = consumer->Inspect(In(seconds(5)), kJobQueue);
  EXPECT_EQ(after.status().code(), StatusCode::kFailedPrecondition) << after.status().ToString();
  EXPECT_NE(after.status().message().find("unknown delivery tag"), std::string::npos)
      << after.status().message();
  EXPECT_FALSE(consumer->broken());
  EXPECT_EQ(consumer->Ack(got[0].delivery_tag).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(consumer->Inspect(In(seconds(5)), kJobQueue).ok());
}

// Heartbeats are serviced while Next waits, so an idle consumer stays connected; a connection
// left without calls for several heartbeats is closed by the broker, and the next call says so
// (no crash), after which a client reconnects by itself.
TEST_F(AmqpTest, HeartbeatsWhileWaitingAndAConnectionLeftIdle) {
  AmqpOptions options;
  options.heartbeat_s = 1;
  auto opened = AmqpConnection::Open(url_, options, In(seconds(10)));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<AmqpConnection> connection = std::move(*opened);
  ASSERT_TRUE(connection->DeclareTopology(In(seconds(10))).ok());
  ASSERT_TRUE(connection->Consume(In(seconds(5)), kJobQueue, 1).ok());
  auto next = connection->Next(milliseconds(4000));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_FALSE(next->has_value());
  EXPECT_FALSE(connection->broken());
  ASSERT_TRUE(connection->Publish(In(seconds(5)), Job("hb-1")).ok());
  next = connection->Next(seconds(5));
  ASSERT_TRUE(next.ok() && next->has_value()) << next.status().ToString();
  ASSERT_TRUE(connection->Ack((*next)->delivery_tag).ok());

  // Silent for 5 heartbeats: the broker gives up on us.
  std::this_thread::sleep_for(seconds(5));
  const Status status = connection->Publish(In(seconds(5)), Job("hb-2"));
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_TRUE(connection->broken());
  std::cout << "idle: " << status.ToString() << "\n";

  AmqpClientOptions client_options;
  client_options.connection = options;
  AmqpClient client(url_, client_options);
  ASSERT_TRUE(client.Connect(In(seconds(10))).ok());
  std::this_thread::sleep_for(seconds(5));
  const Status published = client.Publish(In(seconds(10)), Job("hb-3"));
  EXPECT_TRUE(published.ok()) << published.ToString();
  EXPECT_EQ(client.stats().connects, 2u);
}

// Many threads publish through a pool of 3 connections: every publish confirmed, at most 3
// connections opened.
TEST_F(AmqpTest, PublisherPoolFromManyThreads) {
  AmqpPublisherPool pool(url_, AmqpClientOptions{}, 3);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const Status s = pool.Publish(In(seconds(20)), Job("p-" + std::to_string(t * 100 + i)));
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s.ToString();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const AmqpClient::Stats stats = pool.stats();
  EXPECT_EQ(stats.published, 120u);
  EXPECT_LE(stats.connects, 3u);
  EXPECT_EQ(stats.confirm_latency.count, 120u);
  auto connection = Open();
  ASSERT_NE(connection, nullptr);
  auto info = connection->Inspect(In(seconds(5)), kJobQueue);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->messages, 120u);
}

// A port nobody listens on: connect fails at once with Unavailable naming the URL; a server that
// accepts and never speaks AMQP: within the connect timeout; a client with retries: within its
// deadline.
TEST(AmqpDownTest, BrokerDownFailsFastNamingTheUrl) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  const std::string url_text = "amqp://guest:guest@127.0.0.1:" + std::to_string(port) + "/%2F";
  const AmqpUrl url = MustParse(url_text);

  // Nobody listens (bound, not listening: refused).
  auto start = Clock::now();
  auto opened = AmqpConnection::Open(url, AmqpOptions{}, In(seconds(5)));
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(
      opened.status().message().find("amqp://guest@127.0.0.1:" + std::to_string(port) + "/%2F"),
      std::string::npos)
      << opened.status().message();
  EXPECT_EQ(opened.status().message().find("guest:guest"), std::string::npos);
  EXPECT_LT(Clock::now() - start, seconds(1)) << opened.status().message();
  std::cout << "refused: " << opened.status().ToString() << "\n";

  AmqpClientOptions client_options;
  client_options.max_attempts = 100;
  AmqpClient client(url, client_options);
  start = Clock::now();
  const Status published = client.Publish(In(milliseconds(1500)), Job("nowhere"));
  const auto took = Clock::now() - start;
  EXPECT_EQ(published.code(), StatusCode::kUnavailable) << published.ToString();
  EXPECT_LT(took, milliseconds(1700)) << published.message();
  EXPECT_GE(client.stats().connect_failures, 2u);
  std::cout << "client: " << published.ToString() << "\n";

  // Listening but silent: the handshake times out.
  ASSERT_EQ(listen(listener, 8), 0);
  AmqpOptions options;
  options.connect_timeout_ms = 800;
  start = Clock::now();
  opened = AmqpConnection::Open(url, options, In(seconds(10)));
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.status().message().find("handshake"), std::string::npos)
      << opened.status().message();
  EXPECT_LT(Clock::now() - start, milliseconds(2000)) << opened.status().message();
  std::cout << "silent: " << opened.status().ToString() << "\n";
  close(listener);
}

TEST(AmqpUrlTest, ParsesAndHidesThePassword) {
  auto url = ParseAmqpUrl("amqp://u:secret@example.org:5673/%2Fsutazai");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->vhost, "/sutazai");
  EXPECT_EQ(url->port, 5673);
  EXPECT_EQ(url->ToString(), "amqp://u@example.org:5673/%2Fsutazai");
  url = ParseAmqpUrl("amqps://h");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, 5671);
  EXPECT_EQ(url->vhost, "/");
  const auto bad = ParseAmqpUrl("http://u:secret@h/");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().find("secret"), std::string::npos) << bad.status().message();
  // A password may hold '/' or '@': nothing of it is shown either way.
  for (const char* url : {"amqp://user:se/cret@h:1/x", "amqp://user:p@ss@h/x",
                          "amqp://us/er:secret@h/x", "ftp://user:se/cret@h"}) {
    const auto refused = ParseAmqpUrl(url);
    if (refused.ok()) {
      EXPECT_EQ(refused->ToString().find("cret"), std::string::npos) << refused->ToString();
      EXPECT_EQ(refused->ToString().find("ss@"), std::string::npos) << refused->ToString();
      continue;
    }
    for (const char* part : {"cret", "p@ss", "ss@h"}) {
      EXPECT_EQ(refused.status().message().find(part), std::string::npos)
          << refused.status().message();
    }
  }
}

// A broker of the test's own restarts while a thread publishes: every publish answers Ok or a
// clear Unavailable within its deadline; the client reconnects, redeclares and publishes again;
// every message that got Ok is in the durable queue afterwards.
TEST(AmqpRestartTest, BrokerRestartWhilePublishing) {
  Helper broker({"serve"});
  const auto url_line = broker.ReadLine(seconds(90));
  ASSERT_TRUE(url_line.has_value()) << "the helper's broker did not start";
  const AmqpUrl url = MustParse(*url_line);

  AmqpClientOptions options;
  options.connection.connect_timeout_ms = 1000;
  options.connection.operation_timeout_ms = 3000;
  options.connection.heartbeat_s = 5;
  options.max_attempts = 1000;  // the deadline bounds a call
  options.retry_max_ms = 500;
  AmqpClient client(url, options);
  ASSERT_TRUE(client.Connect(In(seconds(10))).ok());

  constexpr auto kDeadline = seconds(8);
  std::atomic<bool> stop{false};
  std::atomic<int> ok_count{0};
  std::vector<std::string> confirmed;
  std::vector<std::string> errors;
  std::vector<std::string> late;
  std::thread publisher([&] {
    for (int i = 0; !stop.load() && i < 100000; ++i) {
      const std::string id = "r-" + std::to_string(i);
      const auto start = Clock::now();
      const Status s = client.Publish(In(kDeadline), Job(id));
      const auto took = Clock::now() - start;
      if (took > kDeadline + milliseconds(500)) {
        late.push_back(id + " took " +
                       std::to_string(std::chrono::duration_cast<milliseconds>(took).count()) +
                       " ms");
      }
      if (s.ok()) {
        confirmed.push_back(id);
        ++ok_count;
      } else {
        if (s.code() != StatusCode::kUnavailable || s.message().empty()) {
          late.push_back("unclear error: " + s.ToString());
        }
        errors.push_back(s.message());
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
  });
  const auto wait_for = [&](int count, seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (ok_count.load() < count && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    return ok_count.load() >= count;
  };
  const bool before = wait_for(50, seconds(30));
  broker.WriteLine("restart");
  const auto restarted = broker.ReadLine(seconds(120));
  const int at_restart = ok_count.load();
  const bool after = wait_for(at_restart + 50, seconds(60));
  stop = true;
  publisher.join();

  EXPECT_TRUE(before);
  ASSERT_EQ(restarted, std::optional<std::string>("ok")) << "the broker did not restart";
  EXPECT_TRUE(after) << "publishing did not resume after the restart; errors: "
                     << (errors.empty() ? "" : errors.back());
  EXPECT_TRUE(late.empty()) << late.front();
  EXPECT_GE(client.stats().connects, 2u);
  for (const std::string& e : errors) {
    EXPECT_NE(e.find(url.ToString()), std::string::npos) << e;
  }
  std::cout << "restart: " << confirmed.size() << " confirmed, " << errors.size()
            << " errors (first: " << (errors.empty() ? "-" : errors.front()) << "), republished "
            << client.stats().republished << "\n";

  // No confirmed message is lost: consume everything (duplicates of republished ones allowed).
  AmqpClient consumer(url, options);
  ASSERT_TRUE(consumer.Consume(In(seconds(10)), std::string(kJobQueue), 500).ok());
  std::set<std::string> in_queue;
  while (true) {
    auto next = consumer.Next(seconds(2));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!next->has_value()) break;
    in_queue.insert((*next)->message.message_id);
    ASSERT_TRUE(consumer.Ack((*next)->delivery_tag).ok());
  }
  size_t lost = 0;
  for (const std::string& id : confirmed) lost += in_queue.count(id) == 0;
  EXPECT_EQ(lost, 0u) << "of " << confirmed.size() << " confirmed";
}

}  // namespace
}  // namespace vecmesh::adapters
