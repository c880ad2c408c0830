// The MQTT driver against a real mosquitto, started once for the suite through the package's own
// launch recipe (its mosquitto.conf, its argv) on a free loopback port, and stopped (and its
// directory removed) at the end.
#include "systems/mqtt/mqtt_driver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/hash.h"
#include "support/subprocess.h"
#include "systems/mqtt/package.h"
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

bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool open = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  if (fd >= 0) ::close(fd);
  return open;
}

systems::RecipeContext machine_context() {
  systems::RecipeContext context;
  context.path_exists = [](const std::string& path) { return ::access(path.c_str(), X_OK) == 0; };
  context.list_dir = [](const std::string&) { return std::vector<std::string>(); };
  return context;
}

// mosquitto as the local provider would run it: the recipe's files written into the node's dir,
// its argv spawned, ready once the client port accepts connections.
class Mosquitto {
 public:
  Mosquitto() {
    char dir_template[] = "/tmp/dec-mqtt-test-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return;
    dir_ = dir_template;
    port_ = free_loopback_port();
    if (port_ > 0) start();
  }

  ~Mosquitto() {
    stop();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  void start() {
    context_ = machine_context();
    systems::LaunchInput input;
    input.listen_host = "127.0.0.1";
    input.port = port_;
    input.dir = dir_;
    input.context = &context_;
    auto launch = systems::mqtt_package().local->launch(input);
    if (!launch.ok()) {
      error_ = launch.error();
      return;
    }
    for (const auto& [name, content] : launch->files) {
      std::ofstream(dir_ + "/" + name) << content;
    }
    child_ = testing::start(launch->argv, dir_ + "/mosquitto.log");
    if (child_.pid <= 0) {
      error_ = "cannot start " + launch->argv[0];
      return;
    }
    // Bounded, so a broken install fails the suite quickly.
    for (auto deadline = Clock::now() + std::chrono::seconds(10); Clock::now() < deadline;) {
      if (port_open(port_)) {
        ready_ = true;
        return;
      }
      int status = 0;
      if (::waitpid(child_.pid, &status, WNOHANG) == child_.pid) {
        child_.pid = -1;
        error_ = "mosquitto exited: " + child_.output();
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    error_ = "mosquitto did not listen within 10 s: " + child_.output();
  }

  // As a crash would: no chance to close connections cleanly or to save its state.
  void kill() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGKILL);
    ::waitpid(child_.pid, nullptr, 0);
    child_.pid = -1;
    ready_ = false;
  }

  // Frozen, as a stalled host: connections stay open, nothing is answered.
  void pause() {
    if (child_.pid > 0) ::kill(child_.pid, SIGSTOP);
  }
  void resume() {
    if (child_.pid > 0) ::kill(child_.pid, SIGCONT);
  }

  void stop() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGTERM);
    if (testing::wait_exit(child_, std::chrono::seconds(5)) < 0) {
      // wait_exit killed and reaped it
    }
    child_.pid = -1;
    ready_ = false;
  }

  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  std::string log() const { return child_.output(); }

 private:
  std::string dir_;
  int port_ = -1;
  systems::RecipeContext context_;
  testing::Child child_;
  bool ready_ = false;
  std::string error_;
};

struct Produced {
  int acked = 0;
  int failed = 0;
  std::string last_error;
};

struct Received {
  std::string payload;
  std::string key;
  std::string topic;
  int partition = -1;
  size_t consumer = 0;
};

std::string key_of(int i, int keys) { return keys > 0 ? "key-" + std::to_string(i % keys) : ""; }

class MqttDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { broker_ = new Mosquitto(); }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(broker_->ready()) << "mosquitto did not start: " << broker_->error();
  }

  std::unique_ptr<MqttDriver> connected(const core::Settings& config = {}) {
    auto driver = std::make_unique<MqttDriver>();
    Status status = driver->connect(Endpoint{{broker_->address()}, {}}, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  std::unique_ptr<Consumer> consumer(Driver& driver, const ConsumerOptions& options) {
    auto made = driver.make_consumer(options);
    EXPECT_TRUE(made.ok()) << made.error();
    if (!made.ok()) return nullptr;
    return std::move(*made);
  }

  // Polls until every consumer is ready (SUBACK), at most 5 s.
  static bool await_ready(std::vector<std::unique_ptr<Consumer>>& consumers) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      bool all = true;
      for (auto& consumer : consumers) {
        auto polled = consumer->poll(milliseconds(10), [](const ReceivedMessage&) {});
        EXPECT_TRUE(polled.ok()) << polled.error();
        all = all && consumer->ready();
      }
      if (all) return true;
    }
    return false;
  }

  // Sends `count` messages with payload "m<i>" (and key "key-<i % keys>" when keys > 0).
  static Produced produce(Driver& driver, const std::string& topic, int count, int keys = 0,
                          int first = 0) {
    Produced produced;
    auto producer = driver.make_producer();
    EXPECT_TRUE(producer.ok()) << producer.error();
    if (!producer.ok()) return produced;
    for (int i = first; i < first + count; ++i) {
      Status sent = (*producer)->send(topic, key_of(i, keys), "m" + std::to_string(i),
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

  // Polls all consumers round robin until `expected` messages arrived in total, then for another
  // 300 ms to catch duplicates; bounded by `max_wait`. Messages in arrival order.
  static std::vector<Received> consume(std::vector<std::unique_ptr<Consumer>>& consumers,
                                       size_t expected,
                                       std::chrono::seconds max_wait = std::chrono::seconds(15)) {
    std::vector<Received> received;
    auto poll_all = [&] {
      for (size_t c = 0; c < consumers.size(); ++c) {
        auto polled = consumers[c]->poll(milliseconds(20), [&](const ReceivedMessage& message) {
          received.push_back({std::string(message.payload), std::string(message.key),
                              std::string(message.topic), message.partition, c});
        });
        EXPECT_TRUE(polled.ok()) << polled.error();
      }
    };
    for (auto deadline = Clock::now() + max_wait;
         received.size() < expected && Clock::now() < deadline;) {
      poll_all();
    }
    for (auto until = Clock::now() + milliseconds(300); Clock::now() < until;) poll_all();
    return received;
  }

  // Each of m<first> .. m<first+count-1> exactly once, with its key, from its key's partition.
  static void expect_each_once(const std::vector<Received>& received, int count, int keys = 0,
                               int partitions = 1, int first = 0) {
    std::map<std::string, int> times;
    for (const Received& message : received) {
      ++times[message.payload];
      int i = std::stoi(message.payload.substr(1));
      EXPECT_EQ(message.key, key_of(i, keys)) << message.payload;
      if (keys > 0) {
        EXPECT_EQ(message.partition,
                  static_cast<int>(core::fnv1a(message.key) % static_cast<uint64_t>(partitions)))
            << message.payload;
      }
    }
    EXPECT_EQ(times.size(), static_cast<size_t>(count));
    for (int i = first; i < first + count; ++i) {
      auto it = times.find("m" + std::to_string(i));
      ASSERT_NE(it, times.end()) << "m" << i << " never received";
      EXPECT_EQ(it->second, 1) << "m" << i << " received " << it->second << " times";
    }
  }

  // Within each consumer and partition, messages arrive in the order they were sent.
  static void expect_ordered_per_partition(const std::vector<Received>& received) {
    std::map<std::pair<size_t, int>, int> last;
    for (const Received& message : received) {
      int i = std::stoi(message.payload.substr(1));
      auto [it, inserted] = last.try_emplace({message.consumer, message.partition}, i);
      if (!inserted) {
        EXPECT_GT(i, it->second) << "partition " << message.partition << " of consumer "
                                 << message.consumer << ": m" << i << " after m" << it->second;
        it->second = i;
      }
    }
  }

  static Mosquitto* broker_;
};

Mosquitto* MqttDriverTest::broker_ = nullptr;

TEST_F(MqttDriverTest, RecipeWritesAConfigForTheHostsAddressAndProbesTheVersion) {
  systems::RecipeContext context = machine_context();
  systems::LaunchInput input;
  input.listen_host = "198.18.0.10";
  input.port = 1883;
  input.dir = "/data/node";
  input.context = &context;
  input.server = {{"max_queued_messages", "500"}};
  auto launch = systems::mqtt_package().local->launch(input);
  ASSERT_TRUE(launch.ok()) << launch.error();
  const std::string& conf = launch->files.at("mosquitto.conf");
  EXPECT_NE(conf.find("\nlistener 1883 198.18.0.10\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nallow_anonymous true\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\npersistence_location /data/node/\n"), std::string::npos) << conf;
  // deploy.server comes last, so it overrides dec's own value.
  EXPECT_GT(conf.rfind("max_queued_messages 500\n"), conf.find("max_queued_messages 1000000\n"));
  ASSERT_EQ(launch->argv.size(), 3u);
  EXPECT_EQ(launch->argv[1], "-c");
  EXPECT_EQ(launch->argv[2], "/data/node/mosquitto.conf");

  input.server = {{"max_queued_messages", "5\nlistener 1 0.0.0.0"}};
  auto bad = systems::mqtt_package().local->launch(input);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("deploy.server.max_queued_messages"), std::string::npos)
      << bad.error();

  // The label names the version that runs, as `mosquitto -h` prints it.
  FILE* pipe = ::popen((launch->argv[0] + " -h 2>/dev/null").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof line, pipe), nullptr);
  ::pclose(pipe);
  std::string version = std::string(line).substr(std::string("mosquitto version ").size());
  version.erase(version.find_last_not_of("\n\r ") + 1);
  EXPECT_EQ(systems::mqtt_package().local->probe_label(context), "Eclipse Mosquitto " + version);
  EXPECT_TRUE(systems::mqtt_package().local->installed(context).ok());
}

TEST_F(MqttDriverTest, EveryQosDeliversEveryMessageWithItsKeyAndPartition) {
  for (const char* qos : {"0", "1", "2"}) {
    SCOPED_TRACE(std::string("qos ") + qos);
    auto driver = connected({{"qos", qos}, {"max_inflight", "64"}});
    const std::string topic = std::string("qos-") + qos;
    ASSERT_TRUE(driver->create_topic(topic, 4).ok());
    ASSERT_TRUE(driver->prepare_consumers({topic}, {"g"}).ok());
    std::vector<std::unique_ptr<Consumer>> consumers;
    consumers.push_back(consumer(*driver, {"g", 0, 1, {topic}}));
    ASSERT_TRUE(consumers.back() && await_ready(consumers));
    Produced produced = produce(*driver, topic, 3000, 16);
    EXPECT_EQ(produced.acked, 3000);
    EXPECT_EQ(produced.failed, 0) << produced.last_error;
    // QoS 0 promises nothing, but on loopback with the broker's queues raised nothing is dropped.
    auto received = consume(consumers, 3000);
    expect_each_once(received, 3000, 16, 4);
    expect_ordered_per_partition(received);
    for (const Received& message : received) EXPECT_EQ(message.topic, topic);
    std::set<int> partitions;
    for (const Received& message : received) partitions.insert(message.partition);
    EXPECT_EQ(partitions, (std::set<int>{0, 1, 2, 3}));
  }
}

TEST_F(MqttDriverTest, Mqtt311KeepsPerPartitionOrderAndRefusesGroupsOfTwo) {
  auto driver = connected({{"protocol", "3.1.1"}, {"max_inflight", "100"}});
  ASSERT_TRUE(driver->create_topic("v311", 3).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, {"g", 0, 1, {"v311"}}));
  ASSERT_TRUE(consumers.back() && await_ready(consumers));
  ASSERT_EQ(produce(*driver, "v311", 2000, 7).acked, 2000);
  auto received = consume(consumers, 2000);
  expect_each_once(received, 2000, 7, 3);
  expect_ordered_per_partition(received);

  auto refused = driver->make_consumer({"g", 0, 2, {"v311"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("config.protocol"), std::string::npos) << refused.error();
}

TEST_F(MqttDriverTest, TwoGroupsEachReceiveEveryMessage) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("fanout", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fanout"}, {"a", "b"}).ok());
  std::vector<std::unique_ptr<Consumer>> group_a, group_b;
  group_a.push_back(consumer(*driver, {"a", 0, 1, {"fanout"}}));
  group_b.push_back(consumer(*driver, {"b", 0, 1, {"fanout"}}));
  ASSERT_TRUE(group_a.back() && group_b.back());
  ASSERT_TRUE(await_ready(group_a) && await_ready(group_b));
  ASSERT_EQ(produce(*driver, "fanout", 1000, 8).acked, 1000);
  expect_each_once(consume(group_a, 1000), 1000, 8, 2);
  expect_each_once(consume(group_b, 1000), 1000, 8, 2);
}

TEST_F(MqttDriverTest, MembersOfOneGroupSplitTheMessagesWithoutDuplicates) {
  auto driver = connected({{"max_inflight", "32"}});
  ASSERT_TRUE(driver->create_topic("shared", 4).ok());
  ASSERT_TRUE(driver->prepare_consumers({"shared"}, {"workers"}).ok());
  std::vector<std::unique_ptr<Consumer>> members;
  for (int member = 0; member < 2; ++member) {
    members.push_back(consumer(*driver, {"workers", member, 2, {"shared"}}));
    ASSERT_TRUE(members.back());
  }
  ASSERT_TRUE(await_ready(members));
  ASSERT_EQ(produce(*driver, "shared", 2000, 16).acked, 2000);
  auto received = consume(members, 2000);
  expect_each_once(received, 2000, 16, 4);
  expect_ordered_per_partition(received);
  std::vector<int> per_member(2, 0);
  for (const Received& message : received) ++per_member[message.consumer];
  // The broker hands a shared subscription's messages out in turn.
  EXPECT_GT(per_member[0], 500);
  EXPECT_GT(per_member[1], 500);
}

TEST_F(MqttDriverTest, PersistentSessionQueuesMessagesWhileItsConsumerIsAway) {
  auto driver = connected({{"clean_session", "false"}, {"max_inflight", "50"}});
  ASSERT_TRUE(driver->create_topic("durable", 2).ok());
  // prepare_consumers creates the group's session: messages sent before any consumer connected
  // are queued for it.
  ASSERT_TRUE(driver->prepare_consumers({"durable"}, {"keep"}).ok());
  ASSERT_EQ(produce(*driver, "durable", 500, 4).acked, 500);
  {
    std::vector<std::unique_ptr<Consumer>> consumers;
    consumers.push_back(consumer(*driver, {"keep", 0, 1, {"durable"}}));
    ASSERT_TRUE(consumers.back());
    expect_each_once(consume(consumers, 500), 500, 4, 2);
  }
  // The consumer is gone; its session stays and collects what is sent meanwhile, more than
  // mosquitto's default limit of 1000 queued messages per client (the recipe raises it).
  ASSERT_EQ(produce(*driver, "durable", 1500, 4, 500).acked, 1500);
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, {"keep", 0, 1, {"durable"}}));
  ASSERT_TRUE(consumers.back());
  expect_each_once(consume(consumers, 1500), 1500, 4, 2, 500);
}

TEST_F(MqttDriverTest, CleanSessionMissesMessagesSentWhileItsConsumerIsAway) {
  auto driver = connected({{"clean_session", "true"}});
  ASSERT_TRUE(driver->create_topic("fleeting", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fleeting"}, {"gone"}).ok());
  ASSERT_EQ(produce(*driver, "fleeting", 200).acked, 200);
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, {"gone", 0, 1, {"fleeting"}}));
  ASSERT_TRUE(consumers.back() && await_ready(consumers));
  EXPECT_TRUE(consume(consumers, 1, std::chrono::seconds(1)).empty());
  // Once subscribed, it gets what follows.
  ASSERT_EQ(produce(*driver, "fleeting", 100, 0, 200).acked, 100);
  expect_each_once(consume(consumers, 100), 100, 0, 1, 200);
}

TEST_F(MqttDriverTest, PartitionRecordIsSharedThroughTheBroker) {
  auto creator = connected();
  ASSERT_TRUE(creator->create_topic("recorded", 3).ok());
  // Another process's driver: no create_topic of its own, it finds 3 partitions on the broker.
  auto other = connected();
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*other, {"r", 0, 1, {"recorded"}}));
  ASSERT_TRUE(consumers.back() && await_ready(consumers));
  ASSERT_EQ(produce(*other, "recorded", 300, 10).acked, 300);
  expect_each_once(consume(consumers, 300), 300, 10, 3);

  // Deleted: no record, so a fresh driver sends everything to partition 0.
  ASSERT_TRUE(creator->delete_topic("recorded").ok());
  auto third = connected();
  ASSERT_EQ(produce(*third, "recorded", 50, 10, 300).acked, 50);
  auto after = consume(consumers, 50);
  ASSERT_EQ(after.size(), 50u);
  for (const Received& message : after) EXPECT_EQ(message.partition, 0) << message.payload;
}

TEST_F(MqttDriverTest, WindowBoundsMessagesInFlightAndPollAcksDeliversThem) {
  auto driver = connected({{"max_inflight", "8"}, {"qos", "2"}});
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

  EXPECT_TRUE((*producer)->delivers_acks_while_polling());
  ASSERT_TRUE((*producer)->send("window", "", "y", [&](bool ok, auto) { acked += ok; }).ok());
  for (int i = 0; i < 100 && acked == 500; ++i) {
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(20)).ok());
  }
  EXPECT_EQ(acked, 501);
  EXPECT_EQ((*producer)->in_flight(), 0u);
}

TEST_F(MqttDriverTest, BacklogCannotBeToldAndReadyWaitsForTheSubscription) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("backlog", 1).ok());
  auto made = driver->make_consumer({"b", 0, 1, {"backlog"}});
  ASSERT_TRUE(made.ok()) << made.error();
  // SUBACK is read by poll(): not ready before.
  EXPECT_FALSE((*made)->ready());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(std::move(*made));
  ASSERT_TRUE(await_ready(consumers));
  EXPECT_EQ(consumers[0]->backlog(), std::nullopt);
}

TEST_F(MqttDriverTest, BadConfigKeysAreReportedWithTheirPath) {
  const DriverInfo* info = systems::find_driver("mqtt");
  ASSERT_NE(info, nullptr);
  core::DriverCatalog catalog = systems::driver_catalog();
  EXPECT_NE(std::find(catalog.names.begin(), catalog.names.end(), "mqtt"), catalog.names.end());
  auto errors = catalog.validate_config("mqtt",
                                        {{"qos", "3"},
                                         {"protocl", "5"},
                                         {"max_inflight", "70000"},
                                         {"keepalive_s", "2"},
                                         {"clean_session", "yes"},
                                         {"protocol", "3.1.1"}},
                                        "systems[0].config");
  std::map<std::string, std::string> by_path;
  for (const auto& error : errors) by_path[error.path] = error.message;
  EXPECT_EQ(errors.size(), 5u);
  EXPECT_NE(by_path["systems[0].config.qos"].find("expected one of 0, 1, 2, got \"3\""),
            std::string::npos)
      << by_path["systems[0].config.qos"];
  EXPECT_NE(by_path["systems[0].config.protocl"].find("did you mean \"protocol\"?"),
            std::string::npos)
      << by_path["systems[0].config.protocl"];
  EXPECT_NE(by_path["systems[0].config.max_inflight"].find("from 1 to 65535"), std::string::npos);
  EXPECT_NE(by_path["systems[0].config.keepalive_s"].find("0 or an integer from 5"),
            std::string::npos);
  EXPECT_NE(by_path["systems[0].config.clean_session"].find("one of true, false"),
            std::string::npos);

  // connect() refuses the same, naming the key.
  MqttDriver driver;
  Status status = driver.connect(Endpoint{{broker_->address()}, {}}, {{"qos", "5"}});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("config.qos"), std::string::npos) << status.error();
  // Bad topic names are refused with the reason.
  auto good = connected();
  Status wildcard = good->create_topic("a/+", 1);
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.error().find("wildcards"), std::string::npos) << wildcard.error();
}

TEST_F(MqttDriverTest, UnreachableBrokerIsAnErrorNotAWait) {
  MqttDriver driver;
  auto start = Clock::now();
  Status status =
      driver.connect(Endpoint{{"127.0.0.1:" + std::to_string(free_loopback_port())}, {}},
                     {{"timeout_ms", "2000"}});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("cannot connect to mqtt broker at 127.0.0.1:"), std::string::npos)
      << status.error();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  Status two = driver.connect(Endpoint{{broker_->address(), broker_->address()}, {}}, {});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().find("one broker"), std::string::npos) << two.error();
}

TEST_F(MqttDriverTest, FrozenBrokerFailsMessagesAfterTheTimeoutInsteadOfHanging) {
  auto driver = connected({{"qos", "1"}, {"max_inflight", "16"}, {"timeout_ms", "1000"}});
  ASSERT_TRUE(driver->create_topic("frozen", 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  Produced produced;
  auto callback = [&produced](bool ok, std::string_view error) {
    ok ? ++produced.acked : ++produced.failed;
    if (!ok) produced.last_error = std::string(error);
  };
  ASSERT_TRUE((*producer)->send("frozen", "", "warm", callback).ok());
  ASSERT_TRUE((*producer)->flush().ok());
  ASSERT_EQ(produced.acked, 1);
  broker_->pause();
  auto start = Clock::now();
  // The window fills, send() waits for an ack that never comes, gives up after timeout_ms.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*producer)->send("frozen", "", "m" + std::to_string(i), callback).ok());
  }
  ASSERT_TRUE((*producer)->flush().ok());
  auto took = Clock::now() - start;
  broker_->resume();
  EXPECT_EQ(produced.acked + produced.failed, 41);
  EXPECT_GE(produced.failed, 16);
  EXPECT_NE(produced.last_error.find("within 1000 ms (config timeout_ms)"), std::string::npos)
      << produced.last_error;
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST_F(MqttDriverTest, RecordsSurviveARestartThroughThePersistenceFile) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("kept", 5).ok());
  broker_->stop();  // a clean exit saves the in-memory state to the node's dir
  EXPECT_TRUE(std::filesystem::exists(broker_->dir() + "/mosquitto.db")) << broker_->log();
  broker_->start();
  ASSERT_TRUE(broker_->ready()) << broker_->error();
  auto fresh = connected();
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*fresh, {"k", 0, 1, {"kept"}}));
  ASSERT_TRUE(consumers.back() && await_ready(consumers));
  ASSERT_EQ(produce(*fresh, "kept", 100, 20).acked, 100);
  expect_each_once(consume(consumers, 100), 100, 20, 5);
}

// Last: it kills the suite's broker (and starts it again).
TEST_F(MqttDriverTest, KilledBrokerFailsOutstandingMessagesAndNeverHangs) {
  auto driver = connected({{"qos", "1"}, {"max_inflight", "1000"}, {"timeout_ms", "3000"}});
  ASSERT_TRUE(driver->create_topic("doomed", 2).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, {"d", 0, 1, {"doomed"}}));
  ASSERT_TRUE(consumers.back() && await_ready(consumers));
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  Produced produced;
  auto callback = [&produced](bool ok, std::string_view error) {
    ok ? ++produced.acked : ++produced.failed;
    if (!ok) produced.last_error = std::string(error);
  };
  auto start = Clock::now();
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE((*producer)->send("doomed", key_of(i, 4), "m" + std::to_string(i), callback).ok());
  }
  broker_->kill();
  for (int i = 2000; i < 4000; ++i) {
    ASSERT_TRUE((*producer)->send("doomed", key_of(i, 4), "m" + std::to_string(i), callback).ok());
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(produced.acked + produced.failed, 4000);
  EXPECT_EQ((*producer)->in_flight(), 0u);
  EXPECT_GT(produced.failed, 0);
  EXPECT_NE(produced.last_error.find("mqtt broker"), std::string::npos) << produced.last_error;
  // A consumer of a dead broker returns from poll() too.
  for (int i = 0; i < 5; ++i) {
    auto polled = consumers[0]->poll(milliseconds(20), [](const ReceivedMessage&) {});
    EXPECT_TRUE(polled.ok()) << polled.error();
  }
  EXPECT_FALSE(consumers[0]->ready());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));

  // Back on the same port: producer and consumer reconnect by themselves (every 500 ms at most).
  broker_->start();
  ASSERT_TRUE(broker_->ready()) << broker_->error();
  ASSERT_TRUE(await_ready(consumers));
  int acked_before = produced.acked;
  for (auto deadline = Clock::now() + std::chrono::seconds(10);
       produced.acked == acked_before && Clock::now() < deadline;) {
    ASSERT_TRUE((*producer)->send("doomed", "", "again", callback).ok());
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(50)).ok());
  }
  ASSERT_GT(produced.acked, acked_before) << produced.last_error;
  bool again = false;
  for (auto deadline = Clock::now() + std::chrono::seconds(5); !again && Clock::now() < deadline;) {
    auto polled = consumers[0]->poll(milliseconds(20), [&](const ReceivedMessage& message) {
      again = again || message.payload == "again";
    });
    ASSERT_TRUE(polled.ok()) << polled.error();
  }
  EXPECT_TRUE(again);
  std::map<std::string, uint64_t> counters;
  for (const auto& [name, value] : driver->counters()) counters[name] = value;
  EXPECT_GE(counters["mqtt.connections_lost"], 2u);
  EXPECT_GE(counters["mqtt.reconnects"], 2u);
}

}  // namespace
}  // namespace dec::drivers
