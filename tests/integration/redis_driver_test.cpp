// The Redis Streams driver against a real redis-server, started once for the suite on a free
// loopback port with persistence off, and stopped (and its directory removed) at the end.
#include "systems/redis/redis_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "load/engine.h"
#include "systems/registry.h"

namespace dec::drivers {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

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

class RedisServer {
 public:
  RedisServer() {
    char dir_template[] = "/tmp/dec-redis-test-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return;
    dir_ = dir_template;
    port_ = free_loopback_port();
    if (port_ < 0) return;
    start();
  }

  ~RedisServer() {
    stop();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  // As a crash would: no chance to close connections cleanly.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    ready_ = false;
  }

  // A fresh, empty server on the same port (persistence is off).
  void restart() {
    stop();
    start();
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void start() {
    std::string port_text = std::to_string(port_);
    std::string log = dir_ + "/redis.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
      }
      ::execlp("redis-server", "redis-server", "--port", port_text.c_str(), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", dir_.c_str(), nullptr);
      ::_exit(127);
    }
    // Up when it answers PING; bounded so a broken install fails the suite quickly.
    for (auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline;) {
      redisContext* context = redisConnect("127.0.0.1", port_);
      bool up = false;
      if (context && !context->err) {
        auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
        up = reply && reply->type == REDIS_REPLY_STATUS;
        if (reply) freeReplyObject(reply);
      }
      if (context) redisFree(context);
      if (up) {
        ready_ = true;
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  void stop() {
    if (pid_ <= 0) return;
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
    pid_ = -1;
    ready_ = false;
  }

  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
  bool ready_ = false;
};

// The integer answer of a command sent with a test's own hiredis client; -1 for anything else.
int64_t redis_integer(redisContext* client, const std::string& command, const std::string& key) {
  auto* reply =
      static_cast<redisReply*>(redisCommand(client, "%s %s", command.c_str(), key.c_str()));
  int64_t value = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
  if (reply) freeReplyObject(reply);
  return value;
}

// Producing and consuming through the driver, for fixtures with one or several servers.
class RedisClientTest : public ::testing::Test {
 protected:
  struct Produced {
    int acked = 0;
    int failed = 0;
    std::string last_error;
  };

  // Sends `count` messages with payload "m<i>" (and key "key-<i % keys>" when keys > 0).
  Produced produce(Driver& driver, const std::string& topic, int count, int keys = 0) {
    Produced produced;
    auto producer = driver.make_producer();
    EXPECT_TRUE(producer.ok()) << producer.error();
    if (!producer.ok()) return produced;
    for (int i = 0; i < count; ++i) {
      std::string key = keys > 0 ? "key-" + std::to_string(i % keys) : "";
      Status sent = (*producer)->send(topic, key, "m" + std::to_string(i),
                                      [&produced](bool ok, std::string_view error) {
                                        ok ? ++produced.acked : ++produced.failed;
                                        if (!ok) produced.last_error = std::string(error);
                                      });
      EXPECT_TRUE(sent.ok()) << sent.error();
    }
    Status flushed = (*producer)->flush();
    EXPECT_TRUE(flushed.ok()) << flushed.error();
    EXPECT_EQ((*producer)->in_flight(), 0u);
    return produced;
  }

  // Polls all consumers round robin until `expected` messages arrived in total, then once more
  // to catch duplicates; bounded by 15 s. Returns payload -> times received.
  std::map<std::string, int> consume(std::vector<std::unique_ptr<Consumer>>& consumers,
                                     int expected, std::vector<int>* per_consumer = nullptr) {
    std::map<std::string, int> received;
    int total = 0;
    if (per_consumer) per_consumer->assign(consumers.size(), 0);
    auto deadline = Clock::now() + std::chrono::seconds(15);
    auto poll_all = [&] {
      for (size_t c = 0; c < consumers.size(); ++c) {
        auto polled = consumers[c]->poll(milliseconds(50), [&](const ReceivedMessage& message) {
          ++received[std::string(message.payload)];
          ++total;
          if (per_consumer) ++(*per_consumer)[c];
        });
        EXPECT_TRUE(polled.ok()) << polled.error();
      }
    };
    while (total < expected && Clock::now() < deadline) poll_all();
    poll_all();
    return received;
  }

  static void expect_each_once(const std::map<std::string, int>& received, int count) {
    EXPECT_EQ(received.size(), static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      auto it = received.find("m" + std::to_string(i));
      ASSERT_NE(it, received.end()) << "m" << i << " never received";
      EXPECT_EQ(it->second, 1) << "m" << i << " received " << it->second << " times";
    }
  }
};

class RedisDriverTest : public RedisClientTest {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(server_->ready()) << "redis-server did not start";
    client_ = redisConnect("127.0.0.1", server_->port());
    ASSERT_TRUE(client_ && !client_->err);
  }
  void TearDown() override {
    if (client_) redisFree(client_);
  }

  std::unique_ptr<RedisDriver> connected(const core::Settings& config = {}) {
    auto driver = std::make_unique<RedisDriver>();
    Status status = driver->connect(Endpoint{{server_->address()}, {}}, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  int64_t integer(const std::string& command, const std::string& key) {
    return redis_integer(client_, command, key);
  }

  // The `k` fields of all entries of a stream.
  std::set<std::string> keys_in_stream(const std::string& stream) {
    std::set<std::string> keys;
    auto* reply = static_cast<redisReply*>(redisCommand(client_, "XRANGE %s - +", stream.c_str()));
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; ++i) {
      const redisReply* fields = reply->element[i]->element[1];
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (std::string(fields->element[f]->str) == "k") keys.insert(fields->element[f + 1]->str);
      }
    }
    if (reply) freeReplyObject(reply);
    return keys;
  }

  static RedisServer* server_;
  redisContext* client_ = nullptr;
};

RedisServer* RedisDriverTest::server_ = nullptr;

TEST_F(RedisDriverTest, ProducesEveryMessageWithPipelineOneAndSixtyFour) {
  for (const char* pipeline : {"1", "64"}) {
    auto driver = connected({{"pipeline", pipeline}});
    std::string topic = std::string("produce-") + pipeline;
    ASSERT_TRUE(driver->create_topic(topic, 1).ok());
    Produced produced = produce(*driver, topic, 3000);
    EXPECT_EQ(produced.acked, 3000) << "pipeline " << pipeline;
    EXPECT_EQ(produced.failed, 0) << produced.last_error;
    EXPECT_EQ(integer("XLEN", topic), 3000) << "pipeline " << pipeline;
    ASSERT_TRUE(driver->delete_topic(topic).ok());
    EXPECT_EQ(integer("EXISTS", topic), 0);
  }
}

TEST_F(RedisDriverTest, PipelineKeepsAtMostWindowInFlight) {
  auto driver = connected({{"pipeline", "8"}});
  ASSERT_TRUE(driver->create_topic("window", 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  int acked = 0;
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE((*producer)->send("window", "", "x", [&](bool ok, auto) { acked += ok; }).ok());
    EXPECT_LE((*producer)->in_flight(), 8u);
    EXPECT_EQ(acked + static_cast<int>((*producer)->in_flight()), i + 1);
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(acked, 500);
}

TEST_F(RedisDriverTest, BatchingNeverHoldsASlowSendersMessages) {
  auto driver = connected({{"pipeline", "64"}});
  ASSERT_TRUE(driver->create_topic("slow", 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  int acked = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*producer)->send("slow", "", "x", [&](bool ok, auto) { acked += ok; }).ok());
    std::this_thread::sleep_for(milliseconds(2));
  }
  // No flush: each send writes at once or, behind pending replies, by the next send at the
  // latest, so at most the last message may still be in the client's buffer.
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_GE(integer("XLEN", "slow"), 9);
  EXPECT_GE(acked, 8);  // acks arrive with later sends
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(integer("XLEN", "slow"), 10);
  EXPECT_EQ(acked, 10);
}

TEST_F(RedisDriverTest, PollAcksDeliversAcknowledgementsWithoutAnotherSend) {
  auto driver = connected({{"pipeline", "16"}});
  ASSERT_TRUE(driver->create_topic("poll-acks", 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  int acked = 0;
  ASSERT_TRUE((*producer)->send("poll-acks", "", "x", [&](bool ok, auto) { acked += ok; }).ok());
  for (int i = 0; i < 100 && acked == 0; ++i) {
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(20)).ok());
  }
  EXPECT_EQ(acked, 1);
  EXPECT_EQ((*producer)->in_flight(), 0u);
}

TEST_F(RedisDriverTest, RejectedCommandReachesTheAckCallback) {
  auto driver = connected({{"pipeline", "4"}});
  // A plain string where the stream should be: Redis answers XADD with WRONGTYPE.
  freeReplyObject(redisCommand(client_, "SET wrong-type x"));
  Produced produced = produce(*driver, "wrong-type", 10);
  EXPECT_EQ(produced.acked, 0);
  EXPECT_EQ(produced.failed, 10);
  EXPECT_NE(produced.last_error.find("WRONGTYPE"), std::string::npos) << produced.last_error;
  freeReplyObject(redisCommand(client_, "DEL wrong-type"));
}

TEST_F(RedisDriverTest, ConsumerGroupDeliversEachMessageOnceAcrossTwoMembers) {
  auto driver = connected({{"pipeline", "32"}, {"read_count", "50"}});
  ASSERT_TRUE(driver->create_topic("grouped", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"grouped"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int member = 0; member < 2; ++member) {
    auto consumer = driver->make_consumer({"g", member, 2, {"grouped"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    consumers.push_back(std::move(*consumer));
  }
  ASSERT_EQ(produce(*driver, "grouped", 2000).acked, 2000);
  std::vector<int> per_consumer;
  auto received = consume(consumers, 2000, &per_consumer);
  expect_each_once(received, 2000);
  // One partition, two members: Redis spreads entries, so both must have had a share.
  EXPECT_GT(per_consumer[0], 0);
  EXPECT_GT(per_consumer[1], 0);
  consumers.clear();  // reads the replies of the last XACKs
  auto* pending = static_cast<redisReply*>(redisCommand(client_, "XPENDING grouped g"));
  ASSERT_TRUE(pending && pending->type == REDIS_REPLY_ARRAY);
  EXPECT_EQ(pending->element[0]->integer, 0) << "every entry should have been acknowledged";
  freeReplyObject(pending);
}

TEST_F(RedisDriverTest, TwoGroupsEachReceiveEveryMessage) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("fanout", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fanout"}, {"a", "b"}).ok());
  auto first = driver->make_consumer({"a", 0, 1, {"fanout"}});
  auto second = driver->make_consumer({"b", 0, 1, {"fanout"}});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(produce(*driver, "fanout", 500).acked, 500);
  std::vector<std::unique_ptr<Consumer>> group_a, group_b;
  group_a.push_back(std::move(*first));
  group_b.push_back(std::move(*second));
  expect_each_once(consume(group_a, 500), 500);
  expect_each_once(consume(group_b, 500), 500);
}

TEST_F(RedisDriverTest, PlainModeGivesEveryConsumerEveryMessage) {
  auto driver = connected({{"read_mode", "plain"}, {"pipeline", "16"}, {"read_count", "64"}});
  ASSERT_TRUE(driver->create_topic("plain", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"plain"}, {"g"}).ok());
  EXPECT_EQ(integer("EXISTS", "plain"), 0) << "plain reads need no group on the server";
  ASSERT_EQ(produce(*driver, "plain", 1000).acked, 1000);
  // Consumers made after the messages were sent still read from the start of the topic, and
  // without a group even a "member" of two reads everything.
  for (int reader = 0; reader < 2; ++reader) {
    auto consumer = driver->make_consumer({"", reader, 2, {"plain"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    std::vector<std::unique_ptr<Consumer>> consumers;
    consumers.push_back(std::move(*consumer));
    expect_each_once(consume(consumers, 1000), 1000);
  }
}

TEST_F(RedisDriverTest, PlainModeSplitsPartitionsAmongGroupMembers) {
  auto driver = connected({{"read_mode", "plain"}, {"pipeline", "16"}});
  ASSERT_TRUE(driver->create_topic("plain-split", 2).ok());
  ASSERT_EQ(produce(*driver, "plain-split", 600).acked, 600);
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int member = 0; member < 2; ++member) {
    auto consumer = driver->make_consumer({"g", member, 2, {"plain-split"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    consumers.push_back(std::move(*consumer));
  }
  std::vector<int> per_consumer;
  expect_each_once(consume(consumers, 600, &per_consumer), 600);
  EXPECT_EQ(per_consumer[0], 300);  // round robin over two partitions
  EXPECT_EQ(per_consumer[1], 300);
}

TEST_F(RedisDriverTest, MaxlenBoundsTheStreamLength) {
  {
    auto driver = connected({{"maxlen", "100"}, {"pipeline", "64"}});
    ASSERT_TRUE(driver->create_topic("trimmed", 1).ok());
    ASSERT_EQ(produce(*driver, "trimmed", 5000).acked, 5000);
    // "~" trims whole radix-tree nodes (100 entries by default), so allow one node more.
    EXPECT_GE(integer("XLEN", "trimmed"), 100);
    EXPECT_LE(integer("XLEN", "trimmed"), 200);
  }
  {
    auto driver = connected({{"maxlen", "100"}, {"trim_exact", "true"}, {"pipeline", "64"}});
    ASSERT_TRUE(driver->create_topic("trimmed", 1).ok());
    ASSERT_EQ(produce(*driver, "trimmed", 5000).acked, 5000);
    EXPECT_EQ(integer("XLEN", "trimmed"), 100);
  }
}

TEST_F(RedisDriverTest, TopicWithThreePartitionsKeepsEachKeyInOneStreamInOrder) {
  auto driver = connected({{"pipeline", "64"}});
  ASSERT_TRUE(driver->create_topic("parts", 3).ok());
  EXPECT_EQ(redis_stream_names("parts", 3),
            (std::vector<std::string>{"parts-0", "parts-1", "parts-2"}));
  ASSERT_TRUE(driver->prepare_consumers({"parts"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int member = 0; member < 2; ++member) {
    auto consumer = driver->make_consumer({"g", member, 2, {"parts"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    consumers.push_back(std::move(*consumer));
  }
  // A second driver (as a worker process would) finds the partitions recorded in Redis.
  auto producer_side = connected({{"pipeline", "64"}});
  ASSERT_EQ(produce(*producer_side, "parts", 900, /*keys=*/12).acked, 900);

  int64_t total = 0;
  std::set<std::string> seen_keys;
  for (const std::string& stream : redis_stream_names("parts", 3)) {
    int64_t length = integer("XLEN", stream);
    EXPECT_GT(length, 0) << stream;
    total += length;
    for (const std::string& key : keys_in_stream(stream)) {
      EXPECT_TRUE(seen_keys.insert(key).second) << key << " is in more than one stream";
    }
  }
  EXPECT_EQ(total, 900);
  EXPECT_EQ(seen_keys.size(), 12u);

  // Three partitions, two members: member 0 reads parts-0 and parts-2, member 1 reads parts-1.
  std::vector<int> per_consumer;
  std::map<std::string, int> last_index;  // per key: ordering within a partition is kept
  int reordered = 0;
  auto received = consume(consumers, 900, &per_consumer);
  expect_each_once(received, 900);
  EXPECT_EQ(per_consumer[0], integer("XLEN", "parts-0") + integer("XLEN", "parts-2"));
  EXPECT_EQ(per_consumer[1], integer("XLEN", "parts-1"));

  auto reader = driver->make_consumer({"", 0, 1, {"parts"}});  // no group: reads all streams
  ASSERT_TRUE(reader.ok());
  auto deadline = Clock::now() + std::chrono::seconds(10);
  int read = 0;
  while (read < 900 && Clock::now() < deadline) {
    auto polled = (*reader)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
      ++read;
      EXPECT_EQ(message.topic, "parts");
      int index = std::stoi(std::string(message.payload.substr(1)));
      auto [it, inserted] = last_index.try_emplace(std::string(message.key), index);
      if (!inserted) {
        reordered += index < it->second;
        it->second = index;
      }
    });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  EXPECT_EQ(read, 900);
  EXPECT_EQ(reordered, 0);

  ASSERT_TRUE(driver->delete_topic("parts").ok());
  for (const std::string& stream : redis_stream_names("parts", 3)) {
    EXPECT_EQ(integer("EXISTS", stream), 0) << stream;
  }
  EXPECT_EQ(integer("EXISTS", "dec:partitions:parts"), 0);
}

TEST_F(RedisDriverTest, CreateTopicStartsClean) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("again", 1).ok());
  ASSERT_EQ(produce(*driver, "again", 10).acked, 10);
  ASSERT_TRUE(driver->create_topic("again", 2).ok());
  EXPECT_EQ(integer("EXISTS", "again"), 0);
  ASSERT_EQ(produce(*driver, "again", 10).acked, 10);
  EXPECT_EQ(integer("XLEN", "again-0") + integer("XLEN", "again-1"), 10);
  ASSERT_TRUE(driver->delete_topic("again").ok());
}

TEST_F(RedisDriverTest, PollTimesOutWhenThereIsNothingToRead) {
  auto driver = connected({{"block_ms", "20"}});
  ASSERT_TRUE(driver->create_topic("quiet", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"quiet"}, {"g"}).ok());
  auto consumer = driver->make_consumer({"g", 0, 1, {"quiet"}});
  ASSERT_TRUE(consumer.ok());
  auto start = Clock::now();
  auto polled = (*consumer)->poll(milliseconds(100), [](const ReceivedMessage&) {});
  auto waited = Clock::now() - start;
  ASSERT_TRUE(polled.ok()) << polled.error();
  EXPECT_EQ(*polled, 0u);
  EXPECT_GE(waited, milliseconds(90));
  EXPECT_LT(waited, milliseconds(1000));
  // Without prepare_consumers the group does not exist: a clear error, not a hang.
  auto orphan = driver->make_consumer({"missing-group", 0, 1, {"quiet"}});
  ASSERT_TRUE(orphan.ok());
  auto failed = (*orphan)->poll(milliseconds(10), [](const ReceivedMessage&) {});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("NOGROUP"), std::string::npos) << failed.error();
}

TEST_F(RedisDriverTest, BadConfigKeysAreReportedWithTheirPath) {
  const DriverInfo* info = systems::find_driver("redis");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(systems::find_driver("redsi"), nullptr);
  core::DriverCatalog catalog = systems::driver_catalog();
  EXPECT_NE(std::find(catalog.names.begin(), catalog.names.end(), "redis"), catalog.names.end());

  auto errors = catalog.validate_config(
      "redis", {{"pipline", "4"}, {"read_mode", "fast"}, {"block_ms", "0"}, {"maxlen", "10"}},
      "systems[1].config");
  ASSERT_EQ(errors.size(), 3u);
  std::map<std::string, std::string> by_path;
  for (const auto& error : errors) by_path[error.path] = error.message;
  EXPECT_NE(by_path["systems[1].config.pipline"].find(
                "unknown key \"pipline\" (did you mean \"pipeline\"?); valid keys: pipeline, "),
            std::string::npos)
      << by_path["systems[1].config.pipline"];
  EXPECT_EQ(by_path["systems[1].config.read_mode"], "expected one of group, plain, got \"fast\"");
  EXPECT_EQ(by_path["systems[1].config.block_ms"],
            "expected an integer from 1 to 60000, got \"0\"");
  EXPECT_TRUE(
      catalog.validate_config("redis", {{"pipeline", "64"}, {"trim_exact", "true"}}, "c").empty());
  // A key far from every valid one gets no suggestion.
  auto unrelated = catalog.validate_config("redis", {{"compression", "lz4"}}, "c");
  ASSERT_EQ(unrelated.size(), 1u);
  EXPECT_EQ(unrelated[0].message.find("did you mean"), std::string::npos);

  RedisDriver driver;
  Status status = driver.connect(Endpoint{{server_->address()}, {}}, {{"pipeline", "0"}});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), "config.pipeline: expected an integer from 1 to 10000, got \"0\"");
}

TEST_F(RedisDriverTest, ClosedPortGivesAClearError) {
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  RedisDriver driver;
  std::string address = "127.0.0.1:" + std::to_string(port);
  Status status = driver.connect(Endpoint{{address}, {}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), "cannot connect to redis at " + address + ": Connection refused");
  EXPECT_FALSE(driver.make_producer().ok());
  EXPECT_FALSE(driver.connect(Endpoint{{"127.0.0.1:notaport"}, {}}, {}).ok());
  EXPECT_FALSE(driver.connect(Endpoint{{}, {}}, {}).ok());
}

TEST_F(RedisDriverTest, ADeadNodeFailsMessagesThroughCallbacksNotTheProducer) {
  RedisServer only;
  ASSERT_TRUE(only.ready());
  RedisDriver driver;
  ASSERT_TRUE(driver.connect(Endpoint{{only.address()}, {}}, {{"pipeline", "8"}}).ok());
  ASSERT_TRUE(driver.create_topic("gone", 1).ok());
  ASSERT_TRUE(driver.prepare_consumers({"gone"}, {"g"}).ok());
  auto consumer = driver.make_consumer({"g", 0, 1, {"gone"}});
  auto producer = driver.make_producer();
  ASSERT_TRUE(consumer.ok() && producer.ok());
  only.kill();
  int failed = 0;
  std::string error;
  auto started = Clock::now();
  for (int i = 0; i < 200; ++i) {
    Status sent = (*producer)->send("gone", "", "x", [&](bool ok, std::string_view why) {
      EXPECT_FALSE(ok);
      if (!ok && ++failed == 1) error = std::string(why);
    });
    ASSERT_TRUE(sent.ok()) << sent.error();
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(failed, 200);
  EXPECT_NE(error.find(only.address()), std::string::npos) << error;
  auto polled = (*consumer)->poll(milliseconds(50), [](const ReceivedMessage&) {});
  ASSERT_TRUE(polled.ok()) << polled.error();
  EXPECT_EQ(*polled, 0u);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(2));
}

// The partition of every message of `topic`, by payload, as the streams hold them.
std::map<std::string, int> partition_of_payloads(redisContext* client, const std::string& topic,
                                                 int partitions) {
  std::map<std::string, int> partition_of;
  std::vector<std::string> streams = redis_stream_names(topic, partitions);
  for (int p = 0; p < partitions; ++p) {
    auto* reply = static_cast<redisReply*>(
        redisCommand(client, "XRANGE %s - +", streams[static_cast<size_t>(p)].c_str()));
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; ++i) {
      const redisReply* fields = reply->element[i]->element[1];
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (std::string(fields->element[f]->str) == "p") {
          partition_of[fields->element[f + 1]->str] = p;
        }
      }
    }
    if (reply) freeReplyObject(reply);
  }
  return partition_of;
}

TEST_F(RedisDriverTest, EveryMessageCarriesThePartitionItWasWrittenTo) {
  auto driver = connected({{"pipeline", "64"}});
  ASSERT_TRUE(driver->create_topic("where", 3).ok());
  ASSERT_TRUE(driver->create_topic("where-single", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"where", "where-single"}, {"g"}).ok());
  ASSERT_EQ(produce(*driver, "where", 300, /*keys=*/7).acked, 300);
  ASSERT_EQ(produce(*driver, "where-single", 20).acked, 20);
  std::map<std::string, int> partition_of = partition_of_payloads(client_, "where", 3);
  ASSERT_EQ(partition_of.size(), 300u);
  std::set<int> used;
  for (const auto& [payload, partition] : partition_of) used.insert(partition);
  ASSERT_EQ(used, (std::set<int>{0, 1, 2})) << "seven keys should reach all three streams";

  // Group and plain reads both say where each message came from.
  for (const std::string group : {"g", ""}) {
    auto consumer = driver->make_consumer({group, 0, 1, {"where", "where-single"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    int read = 0;
    int wrong = 0;
    for (auto deadline = Clock::now() + std::chrono::seconds(10);
         read < 320 && Clock::now() < deadline;) {
      auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
        ++read;
        int expected =
            message.topic == "where-single" ? 0 : partition_of.at(std::string(message.payload));
        if (message.partition != expected) {
          ++wrong;
          ADD_FAILURE() << message.topic << " " << message.payload << ": partition "
                        << message.partition << ", written to " << expected;
        }
        EXPECT_FALSE(message.redelivered);
      });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
    EXPECT_EQ(read, 320) << "group \"" << group << "\"";
    EXPECT_EQ(wrong, 0);
  }
}

TEST_F(RedisDriverTest, EntriesLostInTransitAreRedeliveredAfterReconnecting) {
  RedisServer only;  // its connections are killed
  ASSERT_TRUE(only.ready());
  RedisDriver driver;
  ASSERT_TRUE(driver
                  .connect(Endpoint{{only.address()}, {}},
                           {{"block_ms", "20"}, {"timeout_ms", "2000"}, {"read_count", "8"}})
                  .ok());
  ASSERT_TRUE(driver.create_topic("transit", 1).ok());
  ASSERT_TRUE(driver.prepare_consumers({"transit"}, {"g"}).ok());
  auto consumer = driver.make_consumer({"g", 0, 1, {"transit"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  redisContext* raw = redisConnect("127.0.0.1", only.port());
  ASSERT_TRUE(raw && !raw->err);

  std::map<std::string, int> received;  // payload -> times handed to the caller
  std::set<std::string> redelivered;
  auto poll_until = [&](size_t distinct) {
    for (auto deadline = Clock::now() + std::chrono::seconds(5);
         received.size() < distinct && Clock::now() < deadline;) {
      auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
        ++received[std::string(message.payload)];
        if (message.redelivered) redelivered.insert(std::string(message.payload));
      });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
  };
  auto idle = (*consumer)->poll(milliseconds(50), [](const ReceivedMessage&) {});
  ASSERT_TRUE(idle.ok()) << idle.error();
  ASSERT_EQ(*idle, 0u);

  // Redis hands 30 entries to the consumer's name, but they never reach it: a reply lost with
  // its connection. 30 entries are four pages of read_count 8; 10 more stay new.
  ASSERT_EQ(produce(driver, "transit", 40).acked, 40);
  auto* taken = static_cast<redisReply*>(
      redisCommand(raw, "XREADGROUP GROUP g dec-0 COUNT 30 STREAMS transit >"));
  ASSERT_TRUE(taken && taken->type == REDIS_REPLY_ARRAY && taken->elements == 1);
  ASSERT_EQ(taken->element[0]->element[1]->elements, 30u);
  freeReplyObject(taken);
  auto* killed = static_cast<redisReply*>(redisCommand(raw, "CLIENT KILL TYPE normal SKIPME yes"));
  ASSERT_TRUE(killed && killed->type == REDIS_REPLY_INTEGER && killed->integer >= 1);
  freeReplyObject(killed);

  poll_until(40);
  for (int extra = 0; extra < 4; ++extra) {  // nothing more should come
    ASSERT_TRUE((*consumer)
                    ->poll(milliseconds(50),
                           [&](const ReceivedMessage& message) {
                             ++received[std::string(message.payload)];
                           })
                    .ok());
  }
  ASSERT_EQ(received.size(), 40u);
  for (const auto& [payload, times] : received) EXPECT_EQ(times, 1) << payload;
  std::set<std::string> expected_redelivered;
  for (int i = 0; i < 30; ++i) expected_redelivered.insert("m" + std::to_string(i));
  EXPECT_EQ(redelivered, expected_redelivered);
  uint64_t reconnects = 0;
  for (const auto& [name, value] : driver.counters()) {
    if (name == "redis.reconnects") reconnects = value;
  }
  EXPECT_GE(reconnects, 1u);

  consumer->reset();  // reads the replies of the last XACKs
  EXPECT_EQ(redis_integer(raw, "XLEN", "transit"), 40);
  auto* pending = static_cast<redisReply*>(redisCommand(raw, "XPENDING transit g"));
  ASSERT_TRUE(pending && pending->type == REDIS_REPLY_ARRAY);
  EXPECT_EQ(pending->element[0]->integer, 0) << "every redelivered entry is acknowledged";
  freeReplyObject(pending);
  redisFree(raw);
}

TEST_F(RedisDriverTest, BacklogCountsUnreadAndPendingEntriesUntilTheNodeIsDown) {
  RedisServer only;  // killed at the end
  ASSERT_TRUE(only.ready());
  RedisDriver driver;
  ASSERT_TRUE(driver.connect(Endpoint{{only.address()}, {}}, {{"block_ms", "20"}}).ok());
  ASSERT_TRUE(driver.create_topic("held", 2).ok());
  ASSERT_TRUE(driver.prepare_consumers({"held"}, {"g"}).ok());
  auto consumer = driver.make_consumer({"g", 0, 1, {"held"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  redisContext* raw = redisConnect("127.0.0.1", only.port());
  ASSERT_TRUE(raw && !raw->err);
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(0)) << "empty streams";

  // Round robin: 4 entries in held-0, 3 in held-1, none read yet.
  ASSERT_EQ(produce(driver, "held", 7).acked, 7);
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(7));

  // Another consumer of the group takes 3 entries and does not acknowledge them: they move from
  // unread to pending, still held for the group.
  auto* taken = static_cast<redisReply*>(
      redisCommand(raw, "XREADGROUP GROUP g elsewhere COUNT 3 STREAMS held-0 >"));
  ASSERT_TRUE(taken && taken->type == REDIS_REPLY_ARRAY);
  std::vector<std::string> taken_ids;
  for (size_t e = 0; e < taken->element[0]->element[1]->elements; ++e) {
    taken_ids.push_back(taken->element[0]->element[1]->element[e]->element[0]->str);
  }
  freeReplyObject(taken);
  ASSERT_EQ(taken_ids.size(), 3u);
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(7));

  int read = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(5);
       read < 4 && Clock::now() < deadline;) {
    auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage&) { ++read; });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  ASSERT_EQ(read, 4);
  // The consumer's XACKs went out without waiting; backlog() counts them as applied.
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(3));
  for (const std::string& id : taken_ids) {
    freeReplyObject(redisCommand(raw, "XACK held-0 g %s", id.c_str()));
  }
  EXPECT_EQ((*consumer)->backlog(), std::optional<uint64_t>(0));
  redisFree(raw);

  // Plain reads can tell only once the consumer has read up to each stream's last entry.
  RedisDriver plain_driver;
  ASSERT_TRUE(
      plain_driver
          .connect(Endpoint{{only.address()}, {}}, {{"read_mode", "plain"}, {"block_ms", "20"}})
          .ok());
  auto reader = plain_driver.make_consumer({"g", 0, 1, {"held"}});
  ASSERT_TRUE(reader.ok()) << reader.error();
  EXPECT_EQ((*reader)->backlog(), std::nullopt);
  read = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(5);
       read < 7 && Clock::now() < deadline;) {
    auto polled = (*reader)->poll(milliseconds(50), [&](const ReceivedMessage&) { ++read; });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  ASSERT_EQ(read, 7);
  EXPECT_EQ((*reader)->backlog(), std::optional<uint64_t>(0));

  only.kill();
  EXPECT_EQ((*consumer)->backlog(), std::nullopt) << "a node that is down cannot tell";
  EXPECT_EQ((*reader)->backlog(), std::nullopt);
}

// ---- several nodes --------------------------------------------------------------------------

// The documented placement rule, computed independently of the driver: FNV-1a-64 of the topic.
uint64_t fnv1a_64(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Three independent redis-servers, started once for the suite and stopped at its end; tests that
// kill a node start their own extra server for it.
class RedisThreeNodeTest : public RedisClientTest {
 protected:
  static constexpr size_t kNodes = 3;

  static void SetUpTestSuite() {
    for (size_t i = 0; i < kNodes; ++i) servers_.push_back(new RedisServer());
  }
  static void TearDownTestSuite() {
    for (RedisServer* server : servers_) delete server;
    servers_.clear();
  }

  void SetUp() override {
    for (size_t i = 0; i < kNodes; ++i) {
      ASSERT_TRUE(servers_[i]->ready()) << "redis-server " << i << " did not start";
      clients_.push_back(redisConnect("127.0.0.1", servers_[i]->port()));
      ASSERT_TRUE(clients_.back() && !clients_.back()->err);
    }
  }
  void TearDown() override {
    for (redisContext* client : clients_) {
      if (client) redisFree(client);
    }
  }

  static std::vector<std::string> addresses() {
    std::vector<std::string> result;
    for (RedisServer* server : servers_) result.push_back(server->address());
    return result;
  }

  static std::unique_ptr<RedisDriver> connected(std::vector<std::string> addresses,
                                                const core::Settings& config = {}) {
    auto driver = std::make_unique<RedisDriver>();
    Status status = driver->connect(Endpoint{std::move(addresses), {}}, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  int64_t integer(size_t node, const std::string& command, const std::string& key) {
    return redis_integer(clients_[node], command, key);
  }

  std::string text(size_t node, const std::string& command, const std::string& key) {
    auto* reply = static_cast<redisReply*>(
        redisCommand(clients_[node], "%s %s", command.c_str(), key.c_str()));
    std::string value = reply && reply->type == REDIS_REPLY_STRING ? reply->str : "";
    if (reply) freeReplyObject(reply);
    return value;
  }

  static uint64_t counter(const Driver& driver, const std::string& name) {
    for (const auto& [key, value] : driver.counters()) {
      if (key == name) return value;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  static std::vector<RedisServer*> servers_;
  std::vector<redisContext*> clients_;
};

std::vector<RedisServer*> RedisThreeNodeTest::servers_;

TEST_F(RedisThreeNodeTest, PlacementFollowsTheDocumentedRule) {
  for (const std::string topic : {"spread", "orders", "a"}) {
    for (int p = 0; p < 6; ++p) {
      EXPECT_EQ(redis_stream_node(topic, p, 3), (fnv1a_64(topic) % 3 + p) % 3) << topic << p;
      EXPECT_EQ(redis_stream_node(topic, p, 1), 0u);
    }
  }
  // Consecutive partitions on consecutive nodes: six partitions put two on every node.
  std::vector<int> per_node(3, 0);
  for (int p = 0; p < 6; ++p) ++per_node[redis_stream_node("spread", p, 3)];
  EXPECT_EQ(per_node, (std::vector<int>{2, 2, 2}));
}

TEST_F(RedisThreeNodeTest, SixPartitionsAreSpreadOverAllThreeNodesAndReadOnce) {
  auto driver = connected(addresses(), {{"pipeline", "32"}, {"read_count", "50"}});
  ASSERT_TRUE(driver->create_topic("spread", 6).ok());
  for (size_t node = 0; node < kNodes; ++node) {
    EXPECT_EQ(text(node, "GET", "dec:partitions:spread"), "6") << "record on node " << node;
  }
  ASSERT_TRUE(driver->prepare_consumers({"spread"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int member = 0; member < 2; ++member) {
    auto consumer = driver->make_consumer({"g", member, 2, {"spread"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    consumers.push_back(std::move(*consumer));
  }
  // A second driver (as a worker process would) places the streams the same way.
  auto producer_side = connected(addresses(), {{"pipeline", "32"}});
  Produced produced = produce(*producer_side, "spread", 1200);
  ASSERT_EQ(produced.acked, 1200) << produced.last_error;

  // Round robin: 200 per stream, each stream on its node only, 400 per node.
  std::vector<int64_t> per_node(kNodes, 0);
  for (int p = 0; p < 6; ++p) {
    std::string stream = "spread-" + std::to_string(p);
    size_t owner = redis_stream_node("spread", p, kNodes);
    for (size_t node = 0; node < kNodes; ++node) {
      if (node == owner) {
        EXPECT_EQ(integer(node, "XLEN", stream), 200) << stream;
        per_node[node] += integer(node, "XLEN", stream);
      } else {
        EXPECT_EQ(integer(node, "EXISTS", stream), 0) << stream << " also on node " << node;
      }
    }
  }
  EXPECT_EQ(per_node, (std::vector<int64_t>{400, 400, 400}));

  // Member 0 reads partitions 0, 2, 4 and member 1 reads 1, 3, 5, each over several nodes.
  std::vector<int> per_consumer;
  expect_each_once(consume(consumers, 1200, &per_consumer), 1200);
  EXPECT_EQ(per_consumer, (std::vector<int>{600, 600}));
  consumers.clear();  // reads the replies of the last XACKs
  for (int p = 0; p < 6; ++p) {
    std::string stream = "spread-" + std::to_string(p);
    auto* pending = static_cast<redisReply*>(redisCommand(
        clients_[redis_stream_node("spread", p, kNodes)], "XPENDING %s g", stream.c_str()));
    ASSERT_TRUE(pending && pending->type == REDIS_REPLY_ARRAY) << stream;
    EXPECT_EQ(pending->element[0]->integer, 0) << stream << ": every entry acknowledged";
    freeReplyObject(pending);
  }

  // Without a group one consumer reads all six streams on all three nodes, from the start.
  auto reader = driver->make_consumer({"", 0, 1, {"spread"}});
  ASSERT_TRUE(reader.ok()) << reader.error();
  std::vector<std::unique_ptr<Consumer>> readers;
  readers.push_back(std::move(*reader));
  expect_each_once(consume(readers, 1200), 1200);

  ASSERT_TRUE(driver->delete_topic("spread").ok());
  for (size_t node = 0; node < kNodes; ++node) {
    for (int p = 0; p < 6; ++p) {
      EXPECT_EQ(integer(node, "EXISTS", "spread-" + std::to_string(p)), 0);
    }
    EXPECT_EQ(integer(node, "EXISTS", "dec:partitions:spread"), 0);
  }
}

TEST_F(RedisThreeNodeTest, KeysKeepTheirOrderAcrossNodes) {
  auto driver = connected(addresses(), {{"pipeline", "64"}});
  ASSERT_TRUE(driver->create_topic("keyed", 6).ok());
  ASSERT_EQ(produce(*driver, "keyed", 1800, /*keys=*/24).acked, 1800);
  auto reader = driver->make_consumer({"", 0, 1, {"keyed"}});
  ASSERT_TRUE(reader.ok()) << reader.error();
  std::map<std::string, int> last_index;
  int read = 0;
  int reordered = 0;
  for (auto deadline = Clock::now() + std::chrono::seconds(10);
       read < 1800 && Clock::now() < deadline;) {
    auto polled = (*reader)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
      ++read;
      int index = std::stoi(std::string(message.payload.substr(1)));
      auto [it, inserted] = last_index.try_emplace(std::string(message.key), index);
      if (!inserted) {
        reordered += index < it->second;
        it->second = index;
      }
    });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  EXPECT_EQ(read, 1800);
  EXPECT_EQ(reordered, 0);
  EXPECT_EQ(last_index.size(), 24u);
}

TEST_F(RedisThreeNodeTest, LoadEngineDeliversEveryMessageExactlyOnce) {
  auto driver = connected(addresses(), {{"pipeline", "32"}});
  ASSERT_TRUE(driver->create_topic("engine", 6).ok());
  load::EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 4000;
  options.warmup = std::chrono::nanoseconds(0);
  options.duration = std::chrono::seconds(2);
  options.drain_timeout = std::chrono::seconds(15);
  options.message_size = 100;
  options.keys = 12;
  options.topics = {"engine"};
  options.group_prefix = "engine-group";
  options.max_messages = 100'000;
  ASSERT_TRUE(driver->prepare_consumers({"engine"}, {"engine-group-0"}).ok());
  load::Engine engine(*driver, options);
  std::atomic<bool> stop{false};
  auto result = engine.run([](const load::Progress&) {}, stop);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->error, "");
  const load::DeliveryCounts& delivery = result->delivery;
  EXPECT_GT(delivery.sent, 4000u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.reordered, 0u);
  for (size_t node = 0; node < kNodes; ++node) {
    int64_t entries = 0;
    for (int p = 0; p < 6; ++p) {
      if (redis_stream_node("engine", p, kNodes) == node) {
        entries += integer(node, "XLEN", "engine-" + std::to_string(p));
      }
    }
    EXPECT_GT(entries, 0) << "node " << node;
  }
  EXPECT_EQ(counter(*driver, "redis.connections_lost"), 0u);
}

// Messages of a producer whose topic has six partitions over three nodes, two of them from the
// suite and `victim` third, with what happened to each.
struct FaultRun {
  std::vector<int> acked_per_partition = std::vector<int>(6, 0);
  std::vector<int> failed_per_partition = std::vector<int>(6, 0);
  std::string first_error;
  Clock::duration longest_send{};
  Clock::duration until_first_failure{};
};

TEST_F(RedisThreeNodeTest, KilledNodeFailsOnlyItsOwnStreams) {
  RedisServer victim;
  ASSERT_TRUE(victim.ready());
  std::vector<std::string> nodes{servers_[0]->address(), servers_[1]->address(), victim.address()};
  auto driver = connected(nodes, {{"pipeline", "16"}, {"timeout_ms", "2000"}, {"block_ms", "20"}});
  ASSERT_TRUE(driver->create_topic("fault", 6).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fault"}, {"g"}).ok());
  std::vector<bool> on_victim(6);
  for (int p = 0; p < 6; ++p) on_victim[p] = redis_stream_node("fault", p, 3) == 2;
  ASSERT_EQ(std::count(on_victim.begin(), on_victim.end(), true), 2);

  auto consumer = driver->make_consumer({"g", 0, 1, {"fault"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  FaultRun run;
  Clock::time_point killed_at;
  int sent = 0;
  // Unkeyed messages go round robin, so message i goes to partition i % 6.
  auto send = [&](int index) {
    int partition = index % 6;
    auto started = Clock::now();
    Status status = (*producer)->send("fault", "", "m" + std::to_string(index),
                                      [&, partition](bool ok, std::string_view error) {
                                        if (ok) {
                                          ++run.acked_per_partition[partition];
                                          return;
                                        }
                                        if (run.first_error.empty()) {
                                          run.first_error = std::string(error);
                                          run.until_first_failure = Clock::now() - killed_at;
                                        }
                                        ++run.failed_per_partition[partition];
                                      });
    run.longest_send = std::max(run.longest_send, Clock::now() - started);
    EXPECT_TRUE(status.ok()) << status.error();
  };

  // Before the fault every message is acknowledged and read.
  for (; sent < 600; ++sent) send(sent);
  ASSERT_TRUE((*producer)->flush().ok());
  std::map<std::string, int> received;
  auto poll = [&] {
    auto started = Clock::now();
    auto polled = (*consumer)->poll(milliseconds(50), [&](const ReceivedMessage& message) {
      ++received[std::string(message.payload)];
    });
    EXPECT_TRUE(polled.ok()) << polled.error();
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1)) << "poll held by the dead node";
  };
  for (auto deadline = Clock::now() + std::chrono::seconds(10);
       received.size() < 600 && Clock::now() < deadline;) {
    poll();
  }
  ASSERT_EQ(received.size(), 600u);
  EXPECT_EQ(std::accumulate(run.acked_per_partition.begin(), run.acked_per_partition.end(), 0),
            600);

  // The node dies; sends go on for 1.5 s (about one per millisecond), polls in between.
  victim.kill();
  killed_at = Clock::now();
  run.acked_per_partition.assign(6, 0);
  int sent_before_fault = sent;
  while (Clock::now() - killed_at < milliseconds(1500) && sent < sent_before_fault + 3000) {
    send(sent++);
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(1)).ok());
    if (sent % 100 == 0) poll();
  }
  auto flush_started = Clock::now();
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_LT(Clock::now() - flush_started, std::chrono::seconds(3));
  EXPECT_EQ((*producer)->in_flight(), 0u);
  auto elapsed = Clock::now() - killed_at;

  int after_fault = sent - sent_before_fault;
  ASSERT_GT(after_fault, 600);
  for (int p = 0; p < 6; ++p) {
    int expected = after_fault / 6 + (p < after_fault % 6 ? 1 : 0);
    if (on_victim[p]) {
      EXPECT_EQ(run.failed_per_partition[p], expected) << "partition " << p;
      EXPECT_EQ(run.acked_per_partition[p], 0) << "partition " << p;
    } else {
      EXPECT_EQ(run.acked_per_partition[p], expected) << "partition " << p;
      EXPECT_EQ(run.failed_per_partition[p], 0) << "partition " << p;
    }
  }
  EXPECT_NE(run.first_error.find(victim.address()), std::string::npos) << run.first_error;
  EXPECT_LT(run.until_first_failure, std::chrono::seconds(1));
  EXPECT_LT(run.longest_send, std::chrono::seconds(1));

  // The consumer keeps reading the live nodes: every message they acknowledged arrives, once.
  std::set<std::string> expected_after;
  for (int i = sent_before_fault; i < sent; ++i) {
    if (!on_victim[i % 6]) expected_after.insert("m" + std::to_string(i));
  }
  auto all_arrived = [&] {
    for (const std::string& payload : expected_after) {
      if (!received.count(payload)) return false;
    }
    return true;
  };
  for (auto deadline = Clock::now() + std::chrono::seconds(10);
       !all_arrived() && Clock::now() < deadline;) {
    poll();
  }
  poll();
  EXPECT_TRUE(all_arrived());
  for (const auto& [payload, times] : received) EXPECT_EQ(times, 1) << payload;

  // Both clients lost their connection, the failed sends are counted, and reconnecting to the
  // dead node was tried at most every 500 ms by each of the two clients.
  EXPECT_GE(counter(*driver, "redis.connections_lost"), 2u);
  EXPECT_GT(counter(*driver, "redis.sends_to_down_node"), 0u);
  elapsed = Clock::now() - killed_at;
  auto half_seconds = static_cast<uint64_t>(elapsed / milliseconds(500));
  EXPECT_LE(counter(*driver, "redis.reconnect_attempts"), 2 * (half_seconds + 1));
  EXPECT_GE(counter(*driver, "redis.reconnect_attempts"), 1u);
  EXPECT_EQ(counter(*driver, "redis.reconnects"), 0u);
  // Teardown still works with a node gone: the live nodes' streams are deleted.
  EXPECT_FALSE(driver->delete_topic("fault").ok());
  for (size_t node = 0; node < 2; ++node) {
    EXPECT_EQ(integer(node, "EXISTS", "dec:partitions:fault"), 0);
  }
}

TEST_F(RedisThreeNodeTest, RestartedNodeIsUsedAgain) {
  RedisServer victim;
  ASSERT_TRUE(victim.ready());
  std::vector<std::string> nodes{servers_[0]->address(), servers_[1]->address(), victim.address()};
  auto driver = connected(nodes, {{"pipeline", "8"}, {"timeout_ms", "2000"}});
  ASSERT_TRUE(driver->create_topic("comeback", 6).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  int acked = 0;
  int failed = 0;
  auto send_for = [&](std::chrono::milliseconds how_long) {
    for (auto end = Clock::now() + how_long; Clock::now() < end;) {
      Status status = (*producer)->send(
          "comeback", "", "x", [&](bool ok, std::string_view) { ok ? ++acked : ++failed; });
      ASSERT_TRUE(status.ok()) << status.error();
      ASSERT_TRUE((*producer)->poll_acks(milliseconds(2)).ok());
    }
    ASSERT_TRUE((*producer)->flush().ok());
  };
  send_for(milliseconds(100));
  EXPECT_EQ(failed, 0);
  victim.kill();
  send_for(milliseconds(300));
  EXPECT_GT(failed, 0);
  victim.restart();
  ASSERT_TRUE(victim.ready());
  // Reconnection is tried at most every 500 ms: within a second the node takes messages again.
  send_for(milliseconds(1200));
  EXPECT_EQ(counter(*driver, "redis.reconnects"), 1u);
  acked = failed = 0;
  send_for(milliseconds(200));
  EXPECT_GT(acked, 0);
  EXPECT_EQ(failed, 0);
  redisContext* restarted = redisConnect("127.0.0.1", victim.port());
  ASSERT_TRUE(restarted && !restarted->err);
  int64_t on_restarted = 0;
  for (int p = 0; p < 6; ++p) {
    if (redis_stream_node("comeback", p, 3) == 2) {
      on_restarted += redis_integer(restarted, "XLEN", "comeback-" + std::to_string(p));
    }
  }
  redisFree(restarted);
  EXPECT_GT(on_restarted, 0);
  ASSERT_TRUE(driver->delete_topic("comeback").ok());
}

TEST_F(RedisThreeNodeTest, OneOfSeveralAddressesDownAtConnectIsAClearError) {
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  std::string closed = "127.0.0.1:" + std::to_string(port);
  RedisDriver driver;
  Status status = driver.connect(Endpoint{{servers_[0]->address(), closed}, {}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), "cannot connect to redis at " + closed + ": Connection refused");
  EXPECT_FALSE(driver.make_producer().ok());
}

}  // namespace
}  // namespace dec::drivers
