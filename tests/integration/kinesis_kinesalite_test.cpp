// The Kinesis driver against kinesalite (the npm emulator in tools/node_modules), started once for
// the suite on a free loopback port and stopped at the end. kinesalite speaks the real JSON API but
// enforces no throughput limits; throttling is covered by tests/unit/kinesis_driver_test.cpp and,
// with kinesalite behind dec's per-shard quota proxy, by tests/integration/kinesis_quota_test.cpp.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "load/engine.h"
#include "systems/kinesis/kinesis_driver.h"

namespace dec::drivers {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kKinesaliteCli =
    std::string(DEC_SOURCE_DIR) + "/tools/node_modules/kinesalite/cli.js";

// A loopback port nothing listens on right now (the kernel picks it for a socket bound to 0).
int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

class Kinesalite {
 public:
  Kinesalite() {
    if (!std::filesystem::exists(kKinesaliteCli)) {
      problem_ = kKinesaliteCli + " is missing; run `npm ci` in tools/ (scripts/setup does)";
      return;
    }
    port_ = free_loopback_port();
    if (port_ < 0) {
      problem_ = "no free loopback port";
      return;
    }
    log_ = std::filesystem::temp_directory_path() /
           ("dec-kinesalite-" + std::to_string(::getpid()) + ".log");
    std::string port_text = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
      }
      // In-memory store (no --path); streams change state at once instead of after 500 ms.
      ::execlp("node", "node", kKinesaliteCli.c_str(), "--port", port_text.c_str(),
               "--createStreamMs", "0", "--deleteStreamMs", "0", "--shardLimit", "100", nullptr);
      ::_exit(127);
    }
    // Up when the port accepts; bounded so a broken install fails the suite quickly.
    for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
      if (port_accepts(port_)) {
        ready_ = true;
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        problem_ = "kinesalite exited during start-up (log: " + log_.string() + ")";
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    problem_ = "kinesalite did not accept connections within 20 s (log: " + log_.string() + ")";
  }

  ~Kinesalite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool exited = false;
      for (int i = 0; i < 250 && !exited; ++i) {
        exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!exited) std::this_thread::sleep_for(milliseconds(20));
      }
      if (!exited) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (!log_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(log_, ignored);
    }
  }

  bool ready() const { return ready_; }
  const std::string& problem() const { return problem_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = -1;
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string problem_;
  std::filesystem::path log_;
};

class KinesisIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Kinesalite(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (!server_->ready()) GTEST_SKIP() << "kinesalite unavailable: " << server_->problem();
  }

  Endpoint endpoint() const { return Endpoint{{server_->address()}, {{"emulated", "true"}}}; }

  std::unique_ptr<KinesisDriver> connected(core::Settings config = {}) {
    // No credentials from this machine's environment: the driver must fall back to dummy ones.
    KinesisDependencies dependencies;
    dependencies.environment = [](const std::string&) -> std::optional<std::string> {
      return std::nullopt;
    };
    auto driver = std::make_unique<KinesisDriver>(std::move(dependencies));
    Status status = driver->connect(endpoint(), config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  // DescribeStreamSummary sent by the test itself (signed by hand), so the check does not rely
  // on the driver it checks.
  HttpResponse describe_stream(const std::string& stream) {
    auto http = make_curl_http_client({});
    std::string body = "{\"StreamName\":\"" + stream + "\"}";
    aws::SignableRequest request;
    request.headers = {{"content-type", "application/x-amz-json-1.1"},
                       {"host", server_->address()},
                       {"x-amz-target", "Kinesis_20131202.DescribeStreamSummary"}};
    request.payload_hash = aws::sha256_hex(body);
    aws::Signer signer({"AKIDTEST", "secret", "", "test"}, "us-east-1", "kinesis");
    std::string authorization = signer.sign(request, std::chrono::system_clock::now());
    std::vector<HttpHeader> headers;
    for (const auto& [name, value] : request.headers) headers.push_back({name, value});
    headers.push_back({"authorization", authorization});
    auto response = http->post("http://" + server_->address(), headers, body);
    EXPECT_TRUE(response.ok()) << response.error();
    return response.ok() ? *response : HttpResponse{};
  }

  static Kinesalite* server_;
};

Kinesalite* KinesisIntegrationTest::server_ = nullptr;

TEST_F(KinesisIntegrationTest, ProducesAndConsumesEveryRecordExactlyOnce) {
  auto driver = connected({{"batch_size", "100"}, {"poll_interval_ms", "10"}});
  EXPECT_TRUE(driver->emulated());
  const std::string stream = "dec-it-exactly-once";
  Status created = driver->create_topic(stream, 2);
  ASSERT_TRUE(created.ok()) << created.error();
  HttpResponse active = describe_stream(stream);
  EXPECT_EQ(active.status, 200);
  EXPECT_NE(active.body.find("\"ACTIVE\""), std::string::npos) << active.body;

  constexpr int kMessages = 1000;
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  std::vector<int> acks(kMessages, 0);
  int failed = 0;
  for (int i = 0; i < kMessages; ++i) {
    // Binary payloads (every byte value) and a mix of keyed and unkeyed records.
    std::string payload = "m" + std::to_string(i) + ":" + std::string(1, '\0');
    for (int b = 0; b < 256; b += 37) payload.push_back(static_cast<char>((b + i) & 0xff));
    std::string key = i % 3 == 0 ? "" : "key-" + std::to_string(i % 16);
    Status sent = (*producer)->send(stream, key, payload, [&, i](bool ok, std::string_view) {
      ++acks[i];
      if (!ok) ++failed;
    });
    ASSERT_TRUE(sent.ok()) << sent.error();
  }
  Status flushed = (*producer)->flush();
  ASSERT_TRUE(flushed.ok()) << flushed.error();
  EXPECT_EQ(failed, 0);
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(acks[i], 1) << "message " << i;

  // Group "g" of two members splits the two shards; group "h" of one reads both again.
  std::map<std::string, int> seen_by_g;
  std::map<std::string, int> seen_by_h;
  std::vector<int> per_member(2, 0);
  std::vector<std::unique_ptr<Consumer>> members;
  for (int m = 0; m < 2; ++m) {
    auto consumer = driver->make_consumer({"g", m, 2, {stream}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    members.push_back(std::move(consumer).value());
  }
  auto single = driver->make_consumer({"h", 0, 1, {stream}});
  ASSERT_TRUE(single.ok()) << single.error();
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((static_cast<int>(seen_by_g.size()) < kMessages ||
          static_cast<int>(seen_by_h.size()) < kMessages) &&
         Clock::now() < deadline) {
    for (int m = 0; m < 2; ++m) {
      auto polled = members[m]->poll(milliseconds(20), [&](const ReceivedMessage& message) {
        EXPECT_EQ(message.topic, stream);
        EXPECT_EQ(message.partition, m) << "member m of 2 reads shard m";
        ++seen_by_g[std::string(message.payload)];
        ++per_member[m];
      });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
    auto polled = (*single)->poll(milliseconds(20), [&](const ReceivedMessage& message) {
      ++seen_by_h[std::string(message.payload)];
    });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  // A little longer, to catch duplicates that would arrive after the last expected record.
  for (int round = 0; round < 3; ++round) {
    for (int m = 0; m < 2; ++m) {
      ASSERT_TRUE(members[m]
                      ->poll(milliseconds(30),
                             [&](const ReceivedMessage& message) {
                               ++seen_by_g[std::string(message.payload)];
                             })
                      .ok());
    }
  }
  EXPECT_EQ(static_cast<int>(seen_by_g.size()), kMessages);
  EXPECT_EQ(static_cast<int>(seen_by_h.size()), kMessages);
  for (const auto& [payload, count] : seen_by_g) EXPECT_EQ(count, 1) << payload;
  for (const auto& [payload, count] : seen_by_h) EXPECT_EQ(count, 1) << payload;
  // Both shards got records (keys and rotating keys hash across the key space).
  EXPECT_GT(per_member[0], 0);
  EXPECT_GT(per_member[1], 0);
  // kinesalite reports MillisBehindLatest 0 at the tip, so read-out shards prove an empty
  // backlog.
  EXPECT_EQ(members[0]->backlog(), std::optional<uint64_t>(0));
  EXPECT_EQ(members[1]->backlog(), std::optional<uint64_t>(0));
  EXPECT_EQ((*single)->backlog(), std::optional<uint64_t>(0));
  EXPECT_EQ(driver->stats().records_acked, static_cast<uint64_t>(kMessages));
  EXPECT_EQ(driver->stats().throttled_requests, 0u);
  bool acked_late = false;
  ASSERT_TRUE(
      (*producer)
          ->send(stream, "late", "late", [&](bool ok, std::string_view) { acked_late = ok; })
          .ok());
  ASSERT_TRUE((*producer)->flush().ok());
  ASSERT_TRUE(acked_late);
  EXPECT_EQ((*single)->backlog(), std::nullopt) << "a record written after the last read";

  Status deleted = driver->delete_topic(stream);
  ASSERT_TRUE(deleted.ok()) << deleted.error();
  HttpResponse gone = describe_stream(stream);
  EXPECT_EQ(gone.status, 400);
  EXPECT_NE(gone.body.find("ResourceNotFoundException"), std::string::npos) << gone.body;
  EXPECT_TRUE(driver->delete_topic(stream).ok());  // deleting again is not an error
}

TEST_F(KinesisIntegrationTest, CreateTopicReplacesAStreamLeftFromAnEarlierRun) {
  auto driver = connected({{"linger_ms", "0"}});
  const std::string stream = "dec-it-leftover";
  ASSERT_TRUE(driver->create_topic(stream, 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  bool acked = false;
  ASSERT_TRUE(
      (*producer)->send(stream, "k", "old", [&](bool ok, std::string_view) { acked = ok; }).ok());
  ASSERT_TRUE((*producer)->flush().ok());
  ASSERT_TRUE(acked);

  Status recreated = driver->create_topic(stream, 1);
  ASSERT_TRUE(recreated.ok()) << recreated.error();
  auto consumer = driver->make_consumer({"", 0, 1, {stream}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  size_t received = 0;
  auto polled = (*consumer)->poll(milliseconds(200), [&](const ReceivedMessage&) { ++received; });
  ASSERT_TRUE(polled.ok()) << polled.error();
  EXPECT_EQ(received, 0u);  // the old record went with the old stream
  ASSERT_TRUE(driver->delete_topic(stream).ok());
}

TEST_F(KinesisIntegrationTest, UnknownStreamIsAClearError) {
  auto driver = connected();
  auto consumer = driver->make_consumer({"", 0, 1, {"dec-it-no-such-stream"}});
  ASSERT_FALSE(consumer.ok());
  EXPECT_NE(consumer.error().find("ResourceNotFoundException"), std::string::npos)
      << consumer.error();
}

TEST_F(KinesisIntegrationTest, LoadEngineDeliversEverythingItSends) {
  auto driver = connected({{"poll_interval_ms", "10"}});
  const std::string stream = "dec-it-engine";
  ASSERT_TRUE(driver->create_topic(stream, 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({stream}, {"dec-group-0"}).ok());

  load::EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.consumer_groups = 1;
  options.rate = 400;
  options.warmup = milliseconds(0);
  options.duration = std::chrono::seconds(2);
  options.drain_timeout = std::chrono::seconds(15);
  options.message_size = 256;
  options.keys = 8;
  options.topics = {stream};
  load::Engine engine(*driver, options);
  std::atomic<bool> stop{false};
  auto result = engine.run([](const load::Progress&) {}, stop);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_TRUE(result->error.empty()) << result->error;
  const load::DeliveryCounts& delivery = result->delivery;
  EXPECT_GT(delivery.sent, 500u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  ASSERT_TRUE(driver->delete_topic(stream).ok());
}

}  // namespace
}  // namespace dec::drivers
