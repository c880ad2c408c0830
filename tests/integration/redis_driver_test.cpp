// The Redis Streams driver against a real redis-server, started once for the suite on a free
// loopback port with persistence off, and stopped (and its directory removed) at the end.
#include "drivers/redis_driver.h"

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

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

  ~RedisServer() {
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
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
  bool ready_ = false;
};

class RedisDriverTest : public ::testing::Test {
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

  // The integer answer of a command sent with the test's own hiredis client.
  int64_t integer(const std::string& command, const std::string& key) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(client_, "%s %s", command.c_str(), key.c_str()));
    int64_t value = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply) freeReplyObject(reply);
    return value;
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
  const DriverInfo* info = find_driver("redis");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(find_driver("redsi"), nullptr);
  core::DriverCatalog catalog = driver_catalog();
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

}  // namespace
}  // namespace dec::drivers
