// The Kafka driver against librdkafka's mock cluster (3 brokers), started in this process once
// for the suite with its control port (kafka_mock.h), as the local provider's `dec kafka-mock`
// process would run it. The mock cannot stand in for everything (see kafka_mock.h): topic
// deletion and the Admin API are not exercised here, and acks=all is answered without replicas.
#include "systems/kafka/kafka_driver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "load/engine.h"
#include "systems/kafka/kafka_mock.h"

namespace dec::drivers {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A loopback port nothing listens on right now (the kernel picks it for a socket bound to 0).
int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, separator);) parts.push_back(part);
  return parts;
}

Endpoint mock_endpoint(const KafkaMockAddresses& addresses) {
  return Endpoint{split(addresses.bootstrap_servers, ','),
                  {{"emulated", "true"}, {"kafka_mock_control", addresses.control}}};
}

// ---- the mock's file and process ------------------------------------------------------------

TEST(KafkaMockMain, RejectsBadUsage) {
  EXPECT_EQ(kafka_mock_main({"--brokers", "0", "--bootstrap-file", "/tmp/x"}), 2);
  EXPECT_EQ(kafka_mock_main({"--brokers", "3"}), 2);
  EXPECT_EQ(kafka_mock_main({"--bogus"}), 2);
}

// Runs kafka_mock_main in a child process, as `dec kafka-mock` will: it must publish its
// addresses atomically, serve clients, and on SIGTERM remove the file and exit 0. Defined before
// the fixture below, so the fork happens before this process has any librdkafka thread.
TEST(KafkaMockMain, PublishesAddressesServesAndStopsOnSigterm) {
  char dir_template[] = "/tmp/dec-kafka-mock-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::string file = dir + "/bootstrap";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    ::_exit(kafka_mock_main({"--brokers", "2", "--bootstrap-file", file}));
  }
  // The bootstrap file appears last, complete, and names both brokers; the control file is
  // there by then.
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    return text;
  };
  std::string bootstrap;
  for (auto deadline = Clock::now() + seconds(10); Clock::now() < deadline && bootstrap.empty();) {
    bootstrap = read(file);
    if (bootstrap.empty()) std::this_thread::sleep_for(milliseconds(20));
  }
  std::string control = read(kafka_mock_control_file(file));
  EXPECT_EQ(split(bootstrap, ',').size(), 2u) << "bootstrap file: " << bootstrap;
  EXPECT_FALSE(control.empty()) << "no control file beside the bootstrap file";
  if (!bootstrap.empty() && !control.empty()) {
    auto pong = kafka_mock_request(control, "ping", milliseconds(2000));
    EXPECT_TRUE(pong.ok()) << pong.error();
    KafkaDriver driver;
    Status connected =
        driver.connect(mock_endpoint({bootstrap, control}), {{"timeout_ms", "5000"}});
    EXPECT_TRUE(connected.ok()) << connected.error();
    EXPECT_EQ(driver.brokers(), 2);
    Status created = driver.create_topic("in-child", 2);
    EXPECT_TRUE(created.ok()) << created.error();
  }
  ::kill(pid, SIGTERM);
  int status = -1;
  bool exited = false;
  for (int i = 0; i < 500 && !exited; ++i) {
    exited = ::waitpid(pid, &status, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(milliseconds(20));
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  EXPECT_TRUE(exited) << "kafka-mock did not stop within 10 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_FALSE(std::filesystem::exists(file)) << "the bootstrap file outlived the mock";
  EXPECT_FALSE(std::filesystem::exists(kafka_mock_control_file(file)));
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// ---- the driver against an in-process mock cluster -----------------------------------------

class KafkaDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = KafkaMockCluster::start(3);
    if (cluster.ok()) {
      cluster_ = std::move(cluster).value().release();
    } else {
      start_error_ = new std::string(cluster.error());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "mock cluster did not start: "
                                 << (start_error_ ? *start_error_ : "");
  }

  std::unique_ptr<KafkaDriver> connected(const core::Settings& config = {}) {
    auto driver = std::make_unique<KafkaDriver>();
    Status status = driver->connect(mock_endpoint(cluster_->addresses()), config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  // A topic name no earlier test used: the mock cannot delete topics.
  static std::string fresh_topic(const std::string& stem) {
    return stem + "-" + std::to_string(std::random_device{}());
  }

  // Partition count and leaders of `topic` as a plain librdkafka client sees them.
  static int partitions_of(const std::string& topic) {
    char reason[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", cluster_->addresses().bootstrap_servers.c_str(),
                      reason, sizeof(reason));
    rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
    if (!client) return -1;
    const rd_kafka_metadata_t* metadata = nullptr;
    int partitions = -1;
    if (rd_kafka_metadata(client, 1, nullptr, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int t = 0; t < metadata->topic_cnt; ++t) {
        if (topic == metadata->topics[t].topic) partitions = metadata->topics[t].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    rd_kafka_destroy(client);
    return partitions;
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

  std::vector<std::unique_ptr<Consumer>> consumers(Driver& driver, const std::string& group,
                                                   int count, const std::string& topic) {
    std::vector<std::unique_ptr<Consumer>> made;
    for (int i = 0; i < count; ++i) {
      auto consumer = driver.make_consumer(ConsumerOptions{group, i, count, {topic}});
      EXPECT_TRUE(consumer.ok()) << consumer.error();
      if (consumer.ok()) made.push_back(std::move(consumer).value());
    }
    return made;
  }

  // Polls all consumers round robin until `expected` messages arrived in total, then for 1 s
  // more to catch duplicates; bounded by 45 s (a mock group's first join alone takes 3 s, and a
  // second member waits for the first one's next heartbeat). Returns payload -> times received.
  std::map<std::string, int> consume(std::vector<std::unique_ptr<Consumer>>& consumers,
                                     int expected, std::vector<int>* per_consumer = nullptr) {
    std::map<std::string, int> received;
    int total = 0;
    if (per_consumer) per_consumer->assign(consumers.size(), 0);
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
    for (auto deadline = Clock::now() + seconds(45); total < expected && Clock::now() < deadline;) {
      poll_all();
    }
    for (auto quiet = Clock::now() + seconds(1); Clock::now() < quiet;) poll_all();
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

  static KafkaMockCluster* cluster_;
  static std::string* start_error_;
};

KafkaMockCluster* KafkaDriverTest::cluster_ = nullptr;
std::string* KafkaDriverTest::start_error_ = nullptr;

TEST_F(KafkaDriverTest, ConnectSeesEveryBrokerAndTheEmulatedLabel) {
  auto driver = connected();
  EXPECT_EQ(driver->name(), "kafka");
  EXPECT_EQ(driver->brokers(), 3);
  EXPECT_TRUE(driver->emulated());

  KafkaDriver real;  // no "emulated" property: a real cluster as far as the driver knows
  Status status =
      real.connect(Endpoint{split(cluster_->addresses().bootstrap_servers, ','), {}}, {});
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_FALSE(real.emulated());
}

TEST_F(KafkaDriverTest, CreateTopicMakesThreePartitionsAndReusesAMatchingTopic) {
  auto driver = connected();
  std::string topic = fresh_topic("created");
  Status created = driver->create_topic(topic, 3);
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_EQ(partitions_of(topic), 3);
  Status again = driver->create_topic(topic, 3);
  EXPECT_TRUE(again.ok()) << again.error();
  Status mismatch = driver->create_topic(topic, 5);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().find("already exists with 3 partitions"), std::string::npos)
      << mismatch.error();
}

TEST_F(KafkaDriverTest, EveryMessageIsAckedWithAcksAll) {
  auto driver = connected({{"acks", "all"}, {"linger.ms", "1"}});
  std::string topic = fresh_topic("acked");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  Produced produced = produce(*driver, topic, 5000, 10);
  EXPECT_EQ(produced.acked, 5000);
  EXPECT_EQ(produced.failed, 0) << produced.last_error;
}

TEST_F(KafkaDriverTest, AFullLocalQueueMakesSendWaitInsteadOfFailing) {
  auto driver = connected({{"queue.buffering.max.messages", "10"}});
  std::string topic = fresh_topic("full-queue");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  Produced produced = produce(*driver, topic, 2000);
  EXPECT_EQ(produced.acked, 2000);
  EXPECT_EQ(produced.failed, 0) << produced.last_error;
}

TEST_F(KafkaDriverTest, PollAcksDeliversAcknowledgementsWithoutAnotherSend) {
  auto driver = connected({{"linger.ms", "0"}});
  std::string topic = fresh_topic("poll-acks");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  int acked = 0;
  ASSERT_TRUE(
      (*producer)->send(topic, "", "one", [&](bool ok, std::string_view) { acked += ok; }).ok());
  // A long wait that the ack cuts short: poll_acks wakes when the report arrives.
  auto start = Clock::now();
  for (int i = 0; i < 5 && acked == 0; ++i) {
    ASSERT_TRUE((*producer)->poll_acks(seconds(5)).ok());
  }
  EXPECT_EQ(acked, 1);
  EXPECT_LT(Clock::now() - start, seconds(2));
  EXPECT_EQ((*producer)->in_flight(), 0u);
  EXPECT_TRUE((*producer)->delivers_acks_while_polling());
  // Nothing in flight: it only waits.
  start = Clock::now();
  ASSERT_TRUE((*producer)->poll_acks(milliseconds(50)).ok());
  EXPECT_GE(Clock::now() - start, milliseconds(45));
}

TEST_F(KafkaDriverTest, ClosingAProducerAnswersEveryOutstandingCallbackOnce) {
  auto driver = connected({{"timeout_ms", "2000"}});
  std::string topic = fresh_topic("closed-early");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  // Slow brokers keep the messages in flight while the producer is destroyed.
  for (int broker = 1; broker <= 3; ++broker) {
    ASSERT_TRUE(cluster_->set_broker_rtt(broker, milliseconds(3000)).ok());
  }
  int answered = 0;
  {
    auto producer = driver->make_producer();
    ASSERT_TRUE(producer.ok()) << producer.error();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(
          (*producer)->send(topic, "", "m", [&](bool, std::string_view) { ++answered; }).ok());
    }
    EXPECT_GT((*producer)->in_flight(), 0u);
  }
  for (int broker = 1; broker <= 3; ++broker) {
    ASSERT_TRUE(cluster_->set_broker_rtt(broker, milliseconds(0)).ok());
  }
  EXPECT_EQ(answered, 100);
}

TEST_F(KafkaDriverTest, TwoConsumersInOneGroupReceiveEachMessageOnceInTotal) {
  auto driver = connected();
  std::string topic = fresh_topic("one-group");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  auto members = consumers(*driver, "group-a", 2, topic);
  ASSERT_EQ(members.size(), 2u);
  // Let the group form first: a member that joins late makes the mock rebalance, and the mock
  // refuses the offset commit of a revoked partition during a rebalance, so its next owner would
  // read again what was already delivered (at-least-once; the engine counts such duplicates).
  // Messages produced before assignment are covered by the tests below.
  EXPECT_EQ(consume(members, 0).size(), 0u);
  for (auto settled = Clock::now() + seconds(7); Clock::now() < settled;) {
    EXPECT_EQ(consume(members, 0).size(), 0u);
  }
  Produced produced = produce(*driver, topic, 3000, 30);
  ASSERT_EQ(produced.acked, 3000);
  std::vector<int> per_consumer;
  expect_each_once(consume(members, 3000, &per_consumer), 3000);
}

TEST_F(KafkaDriverTest, TwoGroupsEachReceiveEveryMessage) {
  auto driver = connected();
  std::string topic = fresh_topic("two-groups");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  auto first = consumers(*driver, "group-one", 1, topic);
  auto second = consumers(*driver, "group-two", 1, topic);
  ASSERT_EQ(first.size() + second.size(), 2u);
  ASSERT_EQ(produce(*driver, topic, 1000).acked, 1000);
  expect_each_once(consume(first, 1000), 1000);
  expect_each_once(consume(second, 1000), 1000);
}

TEST_F(KafkaDriverTest, ConsumersWithoutAGroupEachReadEverything) {
  auto driver = connected();
  std::string topic = fresh_topic("no-group");
  ASSERT_TRUE(driver->create_topic(topic, 2).ok());
  ASSERT_EQ(produce(*driver, topic, 500).acked, 500);
  auto readers = consumers(*driver, "", 2, topic);
  ASSERT_EQ(readers.size(), 2u);
  std::vector<std::unique_ptr<Consumer>> one;
  one.push_back(std::move(readers[0]));
  std::vector<std::unique_ptr<Consumer>> other;
  other.push_back(std::move(readers[1]));
  expect_each_once(consume(one, 500), 500);
  expect_each_once(consume(other, 500), 500);
}

TEST_F(KafkaDriverTest, AnEmulatedEndpointWithoutControlPortFailsTopicCreationAtOnce) {
  KafkaDriver driver;
  Endpoint endpoint{split(cluster_->addresses().bootstrap_servers, ','), {{"emulated", "true"}}};
  ASSERT_TRUE(driver.connect(endpoint, {}).ok());
  auto start = Clock::now();
  Status created = driver.create_topic(fresh_topic("no-control"), 1);
  ASSERT_FALSE(created.ok());
  EXPECT_LT(Clock::now() - start, seconds(1));
  EXPECT_NE(created.error().find("kafka_mock_control"), std::string::npos) << created.error();
}

TEST_F(KafkaDriverTest, DeleteTopicSucceedsAndToleratesAMissingTopic) {
  auto driver = connected();
  std::string topic = fresh_topic("deleted");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  Status deleted = driver->delete_topic(topic);
  EXPECT_TRUE(deleted.ok()) << deleted.error();
  Status missing = driver->delete_topic(fresh_topic("never-created"));
  EXPECT_TRUE(missing.ok()) << missing.error();
}

TEST_F(KafkaDriverTest, PollTimesOutWhenThereIsNothingToRead) {
  auto driver = connected();
  std::string topic = fresh_topic("empty");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  auto readers = consumers(*driver, "group-empty", 1, topic);
  ASSERT_EQ(readers.size(), 1u);
  auto start = Clock::now();
  auto polled = readers[0]->poll(milliseconds(300), [](const ReceivedMessage&) {});
  auto waited = Clock::now() - start;
  ASSERT_TRUE(polled.ok()) << polled.error();
  EXPECT_EQ(*polled, 0u);
  EXPECT_GE(waited, milliseconds(250));
  EXPECT_LT(waited, milliseconds(2000));
}

// Polls every consumer round robin, handing each message to `on_message` with the consumer's
// index, until `done` or 45 s (the mock's group joins take seconds).
void poll_until(std::vector<std::unique_ptr<Consumer>>& consumers,
                const std::function<bool()>& done,
                const std::function<void(size_t, const ReceivedMessage&)>& on_message) {
  for (auto deadline = Clock::now() + seconds(45); !done() && Clock::now() < deadline;) {
    for (size_t c = 0; c < consumers.size(); ++c) {
      auto polled = consumers[c]->poll(
          milliseconds(50), [&](const ReceivedMessage& message) { on_message(c, message); });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
  }
}

TEST_F(KafkaDriverTest, ConsumersAreReadyOnceTheGroupAssignedThemEvenNothing) {
  auto driver = connected();
  std::string topic = fresh_topic("ready");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  // Two members, one partition: one of them is assigned nothing, and is ready all the same.
  auto members = consumers(*driver, "group-ready", 2, topic);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_FALSE(members[0]->ready()) << "subscribe is asynchronous: no assignment yet";
  EXPECT_FALSE(members[1]->ready());
  auto all_ready = [&] { return members[0]->ready() && members[1]->ready(); };
  poll_until(members, all_ready, [](size_t, const ReceivedMessage&) {});
  EXPECT_TRUE(all_ready()) << "not ready within 45 s of polling";
  // Ready means assigned: what is produced now reaches the group.
  ASSERT_EQ(produce(*driver, topic, 10).acked, 10);
  expect_each_once(consume(members, 10), 10);
}

TEST_F(KafkaDriverTest, MessagesCarryThePartitionTheyWereReadFrom) {
  auto driver = connected();
  std::string topic = fresh_topic("partitions");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  ASSERT_EQ(produce(*driver, topic, 300, 30).acked, 300);
  auto readers = consumers(*driver, "group-partitions", 1, topic);
  ASSERT_EQ(readers.size(), 1u);
  std::map<std::string, std::set<int>> partitions_of_key;
  std::set<int> partitions;
  int received = 0;
  poll_until(
      readers, [&] { return received >= 300; },
      [&](size_t, const ReceivedMessage& message) {
        ++received;
        partitions.insert(message.partition);
        partitions_of_key[std::string(message.key)].insert(message.partition);
      });
  EXPECT_EQ(received, 300);
  EXPECT_EQ(partitions, (std::set<int>{0, 1, 2}));
  for (const auto& [key, used] : partitions_of_key) {
    EXPECT_EQ(used.size(), 1u) << key << " was read from several partitions";
  }
}

TEST_F(KafkaDriverTest, RecordsReadAgainByTheNextOwnerOfAPartitionAreMarkedRedelivered) {
  // Nothing is committed, so the group's next member starts again from the beginning.
  auto driver = connected({{"enable.auto.commit", "false"}});
  std::string topic = fresh_topic("redelivered");
  ASSERT_TRUE(driver->create_topic(topic, 1).ok());
  ASSERT_EQ(produce(*driver, topic, 20).acked, 20);
  int first_reads = 0;
  int flagged_by_first = 0;
  {
    auto first = consumers(*driver, "group-redelivered", 1, topic);
    ASSERT_EQ(first.size(), 1u);
    poll_until(
        first, [&] { return first_reads >= 20; },
        [&](size_t, const ReceivedMessage& message) {
          ++first_reads;
          flagged_by_first += message.redelivered;
        });
  }
  ASSERT_EQ(first_reads, 20);
  EXPECT_EQ(flagged_by_first, 0);
  // Written again by a producer: new offsets, so duplicates, not redeliveries.
  ASSERT_EQ(produce(*driver, topic, 5).acked, 5);
  auto second = consumers(*driver, "group-redelivered", 1, topic);
  ASSERT_EQ(second.size(), 1u);
  std::map<std::string, int> redelivered;
  std::map<std::string, int> fresh;
  int second_reads = 0;
  poll_until(
      second, [&] { return second_reads >= 25; },
      [&](size_t, const ReceivedMessage& message) {
        ++second_reads;
        ++(message.redelivered ? redelivered : fresh)[std::string(message.payload)];
      });
  EXPECT_EQ(second_reads, 25);
  expect_each_once(redelivered, 20);
  expect_each_once(fresh, 5);
}

TEST_F(KafkaDriverTest, BacklogCountsWhatTheGroupHasNotReadYet) {
  auto driver = connected();
  std::string topic = fresh_topic("backlog");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  ASSERT_EQ(produce(*driver, topic, 50, 10).acked, 50);
  auto readers = consumers(*driver, "group-backlog", 1, topic);
  ASSERT_EQ(readers.size(), 1u);
  EXPECT_EQ(readers[0]->backlog(), std::optional<uint64_t>(50));
  int received = 0;
  poll_until(
      readers, [&] { return received >= 50; }, [&](size_t, const ReceivedMessage&) { ++received; });
  ASSERT_EQ(received, 50);
  // Read, though auto-commit has not committed it yet (every 5 s).
  EXPECT_EQ(readers[0]->backlog(), std::optional<uint64_t>(0));
  ASSERT_EQ(produce(*driver, topic, 7, 7).acked, 7);
  EXPECT_EQ(readers[0]->backlog(), std::optional<uint64_t>(7));
  // Per group: another group has read nothing.
  auto other = consumers(*driver, "group-backlog-other", 1, topic);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0]->backlog(), std::optional<uint64_t>(57));
}

TEST_F(KafkaDriverTest, BadPropertiesAreReportedWithTheirKey) {
  KafkaDriver driver;
  Status misspelt = driver.connect(mock_endpoint(cluster_->addresses()), {{"lingr.ms", "5"}});
  ASSERT_FALSE(misspelt.ok());
  EXPECT_EQ(misspelt.error(),
            "config key \"lingr.ms\": No such configuration property: \"lingr.ms\"");

  Status bad_value = driver.connect(mock_endpoint(cluster_->addresses()), {{"acks", "most"}});
  ASSERT_FALSE(bad_value.ok());
  EXPECT_NE(bad_value.error().find("config key \"acks\""), std::string::npos) << bad_value.error();

  Status reserved = driver.connect(mock_endpoint(cluster_->addresses()), {{"group.id", "g"}});
  ASSERT_FALSE(reserved.ok());
  EXPECT_NE(reserved.error().find("group.id"), std::string::npos) << reserved.error();

  Status dec_key = driver.connect(mock_endpoint(cluster_->addresses()), {{"timeout_ms", "5"}});
  ASSERT_FALSE(dec_key.ok());
  EXPECT_NE(dec_key.error().find("config.timeout_ms"), std::string::npos) << dec_key.error();

  Endpoint bad_endpoint = mock_endpoint(cluster_->addresses());
  bad_endpoint.properties["security.protocl"] = "ssl";
  Status endpoint = driver.connect(bad_endpoint, {});
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().find("endpoint property \"security.protocl\""), std::string::npos)
      << endpoint.error();
}

TEST_F(KafkaDriverTest, SpecValidationChecksLibrdkafkaPropertiesThroughTheHook) {
  DriverInfo info = kafka_driver_info();
  EXPECT_TRUE(info.accepts_unknown_keys);
  ASSERT_TRUE(info.check_unknown_key);
  EXPECT_EQ(info.check_unknown_key("linger.ms", "20"), "");
  EXPECT_EQ(info.check_unknown_key("enable.idempotence", "true"), "");
  // Documented as the emulator's latency knob (docs/drivers.md).
  EXPECT_EQ(info.check_unknown_key("fetch.wait.max.ms", "10"), "");
  EXPECT_EQ(info.check_unknown_key("lingr.ms", "5"),
            "No such configuration property: \"lingr.ms\"");
  EXPECT_NE(info.check_unknown_key("bootstrap.servers", "x:1"), "");
  // Keys in config_keys go through their checks.
  auto errors = validate_driver_config(info, {{"acks", "most"}, {"poll_batch", "0"}}, "config");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].path, "config.acks");
  EXPECT_EQ(errors[1].path, "config.poll_batch");
  EXPECT_TRUE(
      validate_driver_config(info, {{"acks", "1"}, {"replication_factor", "3"}}, "config").empty());
}

TEST_F(KafkaDriverTest, ClosedPortFailsQuicklyWithTheReason) {
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  std::string address = "127.0.0.1:" + std::to_string(port);
  KafkaDriver driver;
  auto start = Clock::now();
  Status status = driver.connect(Endpoint{{address}, {}}, {{"timeout_ms", "10000"}});
  auto took = Clock::now() - start;
  ASSERT_FALSE(status.ok());
  EXPECT_LT(took, seconds(5)) << "a refused connection should not wait for timeout_ms";
  EXPECT_NE(status.error().find(address), std::string::npos) << status.error();
  EXPECT_NE(status.error().find("Connection refused"), std::string::npos) << status.error();
  EXPECT_FALSE(driver.make_producer().ok());
}

TEST_F(KafkaDriverTest, ControlPortAnswersFaultRequests) {
  const std::string& control = cluster_->addresses().control;
  EXPECT_TRUE(kafka_mock_request(control, "ping", milliseconds(2000)).ok());
  EXPECT_TRUE(kafka_mock_request(control, "broker-rtt 2 0", milliseconds(2000)).ok());
  auto unknown_broker = kafka_mock_request(control, "broker-down 9", milliseconds(2000));
  ASSERT_FALSE(unknown_broker.ok());
  EXPECT_NE(unknown_broker.error().find("no broker 9"), std::string::npos);
  EXPECT_FALSE(kafka_mock_request(control, "reboot", milliseconds(2000)).ok());
  auto created = kafka_mock_request(control, "create-topic " + fresh_topic("control") + " 2",
                                    milliseconds(2000));
  ASSERT_TRUE(created.ok()) << created.error();
  EXPECT_EQ(*created, "created");
}

TEST_F(KafkaDriverTest, LoadEngineDeliversEveryMessageExactlyOnce) {
  auto driver = connected();
  std::string topic = fresh_topic("engine");
  ASSERT_TRUE(driver->create_topic(topic, 3).ok());
  load::EngineOptions options;
  options.producers = 1;
  options.consumers = 2;
  options.consumer_groups = 1;
  options.rate = 5000;
  options.warmup = std::chrono::nanoseconds(0);
  options.duration = seconds(2);
  options.drain_timeout = seconds(30);
  options.message_size = 100;
  options.keys = 8;
  options.topics = {topic};
  options.group_prefix = fresh_topic("engine-group");
  options.max_messages = 1'000'000;
  ASSERT_TRUE(driver->prepare_consumers({topic}, {options.group_prefix + "-0"}).ok());
  load::Engine engine(*driver, options);
  std::atomic<bool> stop{false};
  auto result = engine.run([](const load::Progress&) {}, stop);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->error, "");
  const load::DeliveryCounts& delivery = result->delivery;
  EXPECT_GT(delivery.sent, 5000u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.reordered, 0u);
}

}  // namespace
}  // namespace dec::drivers
