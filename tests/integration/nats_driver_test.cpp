// The NATS JetStream driver against a real nats-server, started once for the suite through the
// package's own launch recipe on a free loopback port, and stopped (its directory removed) at the
// end. Tests that kill a server start one of their own.
#include "systems/nats/nats_driver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/hash.h"
#include "load/engine.h"
#include "support/subprocess.h"
#include "systems/nats/package.h"
#include "systems/registry.h"

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

// The registered package's recipe (the registry keeps it for the process's lifetime).
const systems::LocalRecipe& nats_recipe() {
  const systems::SystemPackage* package = systems::find_system("nats");
  if (package == nullptr || !package->local) std::abort();  // not registered: nothing to test
  return *package->local;
}

std::string make_temp_dir() {
  char dir_template[] = "/tmp/dec-nats-test-XXXXXX";
  return ::mkdtemp(dir_template) == nullptr ? "" : dir_template;
}

// One nats-server started as the local provider would: the recipe's argv and files, a free
// loopback port, ready once the recipe's probe says JetStream answers. Kept on the same port and
// data dir across restarts.
class NatsServer {
 public:
  explicit NatsServer(core::Settings server = {}) : server_(std::move(server)) {
    dir_ = make_temp_dir();
    port_ = free_loopback_port();
    if (!dir_.empty() && port_ > 0) start();
  }

  ~NatsServer() {
    stop();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return child_.pid > 0 || ready_ ? child_.output() : start_error_; }

  // As a crash would: no chance to close connections.
  void kill() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGKILL);
    ::waitpid(child_.pid, nullptr, 0);
    child_.pid = -1;
    ready_ = false;
  }

  void stop() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGTERM);
    testing::wait_exit(child_, seconds(10));  // SIGKILLs it when it does not exit in time
    child_.pid = -1;
    ready_ = false;
  }

  // Up again on the same port, with the streams it had stored.
  void start() {
    input_.listen_host = "127.0.0.1";
    input_.port = port_;
    input_.dir = dir_ + "/node";
    input_.server = server_;
    input_.nodes = 1;
    input_.node = 0;
    input_.node_hosts = {"127.0.0.1"};
    input_.cluster_seed = "nats-driver-test";
    input_.context = &context_;
    std::filesystem::create_directories(input_.dir);
    const systems::LocalRecipe& recipe = nats_recipe();
    auto launch = recipe.launch(input_);
    if (!launch.ok()) {
      start_error_ = launch.error();
      return;
    }
    for (const auto& [name, content] : launch->files) {
      std::ofstream(input_.dir + "/" + name) << content;
    }
    child_ = testing::start(launch->argv, dir_ + "/server.log");
    if (child_.pid <= 0) return;
    // Bounded, so a broken install fails the suite quickly.
    for (auto deadline = Clock::now() + seconds(15); Clock::now() < deadline;) {
      if (recipe.ready_probe(input_).empty()) {
        ready_ = true;
        return;
      }
      if (::waitpid(child_.pid, nullptr, WNOHANG) == child_.pid) {
        child_.pid = -1;
        return;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

 private:
  core::Settings server_;
  std::string dir_;
  int port_ = -1;
  systems::RecipeContext context_;
  systems::LaunchInput input_;
  testing::Child child_;
  std::string start_error_;
  bool ready_ = false;
};

// The test's own libnats client, to look at streams independently of the driver.
class Inspector {
 public:
  explicit Inspector(const std::string& address) {
    std::string url = "nats://" + address;
    if (natsConnection_ConnectTo(&connection_, url.c_str()) == NATS_OK) {
      natsConnection_JetStream(&js_, connection_, nullptr);
    }
  }
  ~Inspector() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(connection_);
  }
  bool ok() const { return js_ != nullptr; }

  // Messages in the stream; -1 when it does not exist.
  int64_t stream_messages(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
    auto messages = static_cast<int64_t>(info->State.Msgs);
    jsStreamInfo_Destroy(info);
    return messages;
  }

  // Consumers of the stream; -1 when it does not exist.
  int64_t stream_consumers(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
    int64_t consumers = info->State.Consumers;
    jsStreamInfo_Destroy(info);
    return consumers;
  }

  std::string description(const std::string& stream) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return "";
    std::string text = info->Config->Description ? info->Config->Description : "";
    jsStreamInfo_Destroy(info);
    return text;
  }

  // Messages larger than `bytes` are refused by the stream from now on.
  bool limit_message_size(const std::string& stream, int32_t bytes) {
    jsStreamInfo* info = nullptr;
    if (js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return false;
    info->Config->MaxMsgSize = bytes;
    jsStreamInfo* updated = nullptr;
    natsStatus s = js_UpdateStream(&updated, js_, info->Config, nullptr, nullptr);
    jsStreamInfo_Destroy(updated);
    jsStreamInfo_Destroy(info);
    return s == NATS_OK;
  }

 private:
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
};

struct Produced {
  int acked = 0;
  int failed = 0;
  std::string last_error;
};

// A received message, copied out of the driver's buffers.
struct Got {
  std::string topic;
  std::string key;
  std::string payload;
  int partition = -1;
  bool redelivered = false;
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

// Polls every consumer round robin until `expected` messages arrived in total, then a little
// longer to catch duplicates; bounded by 15 s. `per_consumer` gets what each one received.
std::vector<Got> consume(std::vector<std::unique_ptr<Consumer>>& consumers, size_t expected,
                         std::vector<std::vector<Got>>* per_consumer = nullptr) {
  std::vector<Got> received;
  if (per_consumer) per_consumer->assign(consumers.size(), {});
  auto poll_all = [&] {
    for (size_t c = 0; c < consumers.size(); ++c) {
      auto polled = consumers[c]->poll(milliseconds(50), [&](const ReceivedMessage& message) {
        Got got{std::string(message.topic), std::string(message.key), std::string(message.payload),
                message.partition, message.redelivered};
        received.push_back(got);
        if (per_consumer) (*per_consumer)[c].push_back(got);
      });
      EXPECT_TRUE(polled.ok()) << polled.error();
    }
  };
  for (auto deadline = Clock::now() + seconds(15);
       received.size() < expected && Clock::now() < deadline;) {
    poll_all();
  }
  for (int i = 0; i < 3; ++i) poll_all();
  return received;
}

std::vector<std::unique_ptr<Consumer>> consumers_of(Driver& driver, const std::string& group,
                                                    int members,
                                                    const std::vector<std::string>& topics) {
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int member = 0; member < members; ++member) {
    auto consumer = driver.make_consumer({group, member, members, topics});
    EXPECT_TRUE(consumer.ok()) << consumer.error();
    if (consumer.ok()) consumers.push_back(std::move(*consumer));
  }
  return consumers;
}

void expect_each_once(const std::vector<Got>& received, int count) {
  std::map<std::string, int> times;
  for (const Got& got : received) ++times[got.payload];
  EXPECT_EQ(times.size(), static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto it = times.find("m" + std::to_string(i));
    ASSERT_NE(it, times.end()) << "m" << i << " never received";
    EXPECT_EQ(it->second, 1) << "m" << i << " received " << it->second << " times";
  }
}

uint64_t counter(const Driver& driver, const std::string& name) {
  for (const auto& [key, value] : driver.counters()) {
    if (key == name) return value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

class NatsDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new NatsServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }

  static std::unique_ptr<NatsDriver> connected(const core::Settings& config = {}) {
    auto driver = std::make_unique<NatsDriver>();
    Status status = driver->connect(Endpoint{{server_->address()}, {}}, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  static NatsServer* server_;
};

NatsServer* NatsDriverTest::server_ = nullptr;

// ---- the recipe -------------------------------------------------------------------------------

systems::LaunchInput recipe_input(int nodes, int node) {
  systems::LaunchInput input;
  input.listen_host = "10.0.0." + std::to_string(10 + node);
  input.port = 4222;
  input.control_port = 6222;
  input.dir = "/data/node" + std::to_string(node);
  input.nodes = nodes;
  input.node = node;
  for (int n = 0; n < nodes; ++n) input.node_hosts.push_back("10.0.0." + std::to_string(10 + n));
  input.cluster_seed = "seed";
  return input;
}

bool has_pair(const std::vector<std::string>& argv, const std::string& flag,
              const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == value) return true;
  }
  return false;
}

TEST(NatsRecipe, SingleNodeListensOnItsPortWithJetStreamInItsDir) {
  auto launch = nats_recipe().launch(recipe_input(1, 0));
  ASSERT_TRUE(launch.ok()) << launch.error();
  EXPECT_EQ(launch->argv.front(), "nats-server");
  EXPECT_TRUE(has_pair(launch->argv, "-p", "4222"));
  EXPECT_TRUE(has_pair(launch->argv, "-a", "10.0.0.10"));
  EXPECT_TRUE(has_pair(launch->argv, "-c", "/data/node0/nats-server.conf"));
  EXPECT_EQ(std::find(launch->argv.begin(), launch->argv.end(), "--routes"), launch->argv.end());
  const std::string& config = launch->files.at("nats-server.conf");
  EXPECT_NE(config.find("jetstream {\n  store_dir: \"/data/node0/jetstream\"\n"), std::string::npos)
      << config;
  EXPECT_EQ(config.find("max_memory_store"), std::string::npos) << "no memory limit given";
}

TEST(NatsRecipe, ThreeNodesRouteToTheirPeersAsOneCluster) {
  std::set<std::string> names;
  std::string cluster_name;
  for (int node = 0; node < 3; ++node) {
    auto launch = nats_recipe().launch(recipe_input(3, node));
    ASSERT_TRUE(launch.ok()) << launch.error();
    const auto& argv = launch->argv;
    EXPECT_TRUE(
        has_pair(argv, "--cluster", "nats://10.0.0." + std::to_string(10 + node) + ":6222"));
    std::string routes;
    for (int peer = 0; peer < 3; ++peer) {
      if (peer == node) continue;
      routes += (routes.empty() ? "" : ",") + std::string("nats://10.0.0.") +
                std::to_string(10 + peer) + ":6222";
    }
    EXPECT_TRUE(has_pair(argv, "--routes", routes)) << node;
    auto name = std::find(argv.begin(), argv.end(), "-n");
    ASSERT_NE(name, argv.end());
    names.insert(*(name + 1));
    auto cluster = std::find(argv.begin(), argv.end(), "--cluster_name");
    ASSERT_NE(cluster, argv.end());
    if (node == 0) cluster_name = *(cluster + 1);
    EXPECT_EQ(*(cluster + 1), cluster_name) << "one cluster";
  }
  EXPECT_EQ(names.size(), 3u) << "every server needs a name of its own for JetStream";
}

TEST(NatsRecipe, ServerSettingsGoIntoTheConfigFileAndBadOnesAreRejected) {
  systems::LaunchInput input = recipe_input(1, 0);
  input.server = {{"max_payload", "2MB"}, {"jetstream.max_file_store", "1G"}};
  input.memory_bytes = 256ull << 20;
  auto launch = nats_recipe().launch(input);
  ASSERT_TRUE(launch.ok()) << launch.error();
  const std::string& config = launch->files.at("nats-server.conf");
  EXPECT_NE(config.find("\nmax_payload: 2MB\n"), std::string::npos) << config;
  EXPECT_NE(config.find("  max_file_store: 1G\n"), std::string::npos) << config;
  // Half the host's memory for memory streams, as nats-server would take the machine's.
  EXPECT_NE(config.find("  max_memory_store: 134217728\n"), std::string::npos) << config;

  struct Case {
    core::Settings server;
    std::string message;
  };
  for (const Case& c : {
           Case{{{"port", "4333"}}, "deploy.server.port: dec sets this itself"},
           Case{{{"jetstream.store_dir", "/x"}}, "deploy.server.jetstream.store_dir: dec sets"},
           Case{{{"max payload", "1"}}, "deploy.server.max payload: a nats-server setting is a"},
           Case{{{"max_payload", "1\nport: 1"}}, "remove the line break"},
           Case{{{"debug", "{ x"}}, "deploy.server.debug: unbalanced brackets"},
       }) {
    input.server = c.server;
    auto rejected = nats_recipe().launch(input);
    ASSERT_FALSE(rejected.ok()) << c.message;
    EXPECT_NE(rejected.error().find(c.message), std::string::npos) << rejected.error();
  }
}

TEST(NatsRecipe, LabelNamesTheInstalledVersion) {
  EXPECT_EQ(systems::nats_label_from_version("nats-server: v2.9.10\n"), "NATS JetStream 2.9.10");
  EXPECT_EQ(systems::nats_label_from_version("command not found"), "");
  const systems::LocalRecipe& recipe = nats_recipe();
  EXPECT_EQ(recipe.probe_label(systems::RecipeContext{}).rfind("NATS JetStream 2.", 0), 0u)
      << recipe.probe_label(systems::RecipeContext{});
  EXPECT_EQ(recipe.default_port, 4222);
  EXPECT_EQ(recipe.default_control_port, 6222);
  EXPECT_TRUE(recipe.nodes_need_hosts);
  EXPECT_EQ(systems::find_driver("nats")->description.find("NATS JetStream"), 0u);
}

// ---- the driver -------------------------------------------------------------------------------

TEST_F(NatsDriverTest, EveryKeyedMessageArrivesOnceWithItsKeyPartitionAndPayload) {
  auto driver = connected({{"max_in_flight", "64"}});
  ASSERT_TRUE(driver->create_topic("keyed", 3).ok());
  ASSERT_TRUE(driver->prepare_consumers({"keyed"}, {"g"}).ok());
  auto consumers = consumers_of(*driver, "g", 1, {"keyed"});
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_TRUE(consumers[0]->ready());
  Produced produced = produce(*driver, "keyed", 3000, /*keys=*/12);
  EXPECT_EQ(produced.acked, 3000) << produced.last_error;
  EXPECT_EQ(produced.failed, 0);

  auto received = consume(consumers, 3000);
  expect_each_once(received, 3000);
  std::set<int> partitions;
  for (const Got& got : received) {
    int index = std::stoi(got.payload.substr(1));
    EXPECT_EQ(got.topic, "keyed");
    EXPECT_EQ(got.key, "key-" + std::to_string(index % 12)) << got.payload;
    EXPECT_EQ(got.partition, static_cast<int>(core::fnv1a(got.key) % 3)) << got.key;
    EXPECT_FALSE(got.redelivered);
    partitions.insert(got.partition);
  }
  EXPECT_EQ(partitions, (std::set<int>{0, 1, 2})) << "12 keys spread over every partition";
  Inspector inspector(server_->address());
  ASSERT_TRUE(inspector.ok());
  EXPECT_EQ(inspector.stream_messages("keyed"), 3000);
  EXPECT_EQ(inspector.description("keyed"), "dec topic keyed; partitions=3");
}

TEST_F(NatsDriverTest, EachKeyStaysInOrderWithinItsPartition) {
  auto driver = connected({{"max_in_flight", "256"}, {"fetch_batch", "37"}});
  ASSERT_TRUE(driver->create_topic("ordered", 4).ok());
  ASSERT_TRUE(driver->prepare_consumers({"ordered"}, {"g"}).ok());
  ASSERT_EQ(produce(*driver, "ordered", 4000, /*keys=*/16).acked, 4000);
  auto consumers = consumers_of(*driver, "g", 1, {"ordered"});
  ASSERT_EQ(consumers.size(), 1u);
  auto received = consume(consumers, 4000);
  expect_each_once(received, 4000);
  std::map<std::string, int> last_index;
  std::map<std::string, int> partition_of;
  int reordered = 0;
  for (const Got& got : received) {
    int index = std::stoi(got.payload.substr(1));
    auto [last, first] = last_index.try_emplace(got.key, index);
    if (!first) {
      reordered += index < last->second;
      last->second = index;
    }
    auto [partition, seen] = partition_of.try_emplace(got.key, got.partition);
    EXPECT_EQ(partition->second, got.partition) << got.key << " moved between partitions";
  }
  EXPECT_EQ(reordered, 0);
  EXPECT_EQ(last_index.size(), 16u);
}

TEST_F(NatsDriverTest, UnkeyedMessagesGoRoundRobinAndCarryNoKey) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("unkeyed", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"unkeyed"}, {"g"}).ok());
  ASSERT_EQ(produce(*driver, "unkeyed", 100).acked, 100);
  auto consumers = consumers_of(*driver, "g", 1, {"unkeyed"});
  ASSERT_EQ(consumers.size(), 1u);
  auto received = consume(consumers, 100);
  expect_each_once(received, 100);
  std::map<int, int> per_partition;
  for (const Got& got : received) {
    EXPECT_EQ(got.key, "");
    ++per_partition[got.partition];
  }
  EXPECT_EQ(per_partition, (std::map<int, int>{{0, 50}, {1, 50}}));
}

TEST_F(NatsDriverTest, TwoGroupsEachReceiveEveryMessage) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("fanout", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fanout"}, {"a", "b"}).ok());
  ASSERT_EQ(produce(*driver, "fanout", 500, 5).acked, 500);
  auto group_a = consumers_of(*driver, "a", 1, {"fanout"});
  auto group_b = consumers_of(*driver, "b", 1, {"fanout"});
  ASSERT_EQ(group_a.size() + group_b.size(), 2u);
  expect_each_once(consume(group_a, 500), 500);
  expect_each_once(consume(group_b, 500), 500);
}

TEST_F(NatsDriverTest, MembersOfOneGroupSplitTheMessagesWithoutDuplicates) {
  auto driver = connected({{"fetch_batch", "20"}});
  ASSERT_TRUE(driver->create_topic("split", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"split"}, {"g"}).ok());
  auto members = consumers_of(*driver, "g", 2, {"split"});
  ASSERT_EQ(members.size(), 2u);
  ASSERT_EQ(produce(*driver, "split", 2000, 8).acked, 2000);
  std::vector<std::vector<Got>> per_member;
  auto received = consume(members, 2000, &per_member);
  expect_each_once(received, 2000);
  EXPECT_GT(per_member[0].size(), 0u);
  EXPECT_GT(per_member[1].size(), 0u);
  EXPECT_EQ(per_member[0].size() + per_member[1].size(), 2000u);
  for (auto& member : members) EXPECT_EQ(member->backlog(), std::optional<uint64_t>(0));
}

TEST_F(NatsDriverTest, ConsumerWithoutGroupReadsEverythingAndLeavesNoConsumerBehind) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("plain", 2).ok());
  ASSERT_EQ(produce(*driver, "plain", 300, 3).acked, 300);
  for (int reader = 0; reader < 2; ++reader) {
    auto consumer = driver->make_consumer({"", 0, 1, {"plain"}});
    ASSERT_TRUE(consumer.ok()) << consumer.error();
    std::vector<std::unique_ptr<Consumer>> consumers;
    consumers.push_back(std::move(*consumer));
    expect_each_once(consume(consumers, 300), 300);
  }
  // Each reader had an ephemeral consumer of its own, deleted with it.
  Inspector inspector(server_->address());
  ASSERT_TRUE(inspector.ok());
  EXPECT_EQ(inspector.stream_consumers("plain"), 0);
  // A group prepared afterwards still reads from the start.
  ASSERT_TRUE(driver->prepare_consumers({"plain"}, {"later"}).ok());
  auto later = consumers_of(*driver, "later", 1, {"plain"});
  ASSERT_EQ(later.size(), 1u);
  expect_each_once(consume(later, 300), 300);
}

TEST_F(NatsDriverTest, ConsumerReadsSeveralTopics) {
  auto driver = connected({{"fetch_wait_ms", "50"}});
  ASSERT_TRUE(driver->create_topic("first", 1).ok());
  ASSERT_TRUE(driver->create_topic("second", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"first", "second"}, {"g"}).ok());
  auto consumers = consumers_of(*driver, "g", 1, {"first", "second"});
  ASSERT_EQ(consumers.size(), 1u);
  ASSERT_EQ(produce(*driver, "first", 100).acked, 100);
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  int acked = 0;
  for (int i = 100; i < 200; ++i) {
    ASSERT_TRUE((*producer)
                    ->send("second", "", "m" + std::to_string(i),
                           [&](bool ok, std::string_view) { acked += ok; })
                    .ok());
  }
  ASSERT_TRUE((*producer)->flush().ok());
  ASSERT_EQ(acked, 100);
  auto received = consume(consumers, 200);
  expect_each_once(received, 200);
  for (const Got& got : received) {
    int index = std::stoi(got.payload.substr(1));
    EXPECT_EQ(got.topic, index < 100 ? "first" : "second");
  }
}

TEST_F(NatsDriverTest, BacklogCountsWhatTheGroupHasNotReadAndAcknowledged) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("held", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"held"}, {"g"}).ok());
  auto consumers = consumers_of(*driver, "g", 1, {"held"});
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0]->backlog(), std::optional<uint64_t>(0)) << "empty stream";
  ASSERT_EQ(produce(*driver, "held", 500, 4).acked, 500);
  EXPECT_EQ(consumers[0]->backlog(), std::optional<uint64_t>(500));
  expect_each_once(consume(consumers, 500), 500);
  EXPECT_EQ(consumers[0]->backlog(), std::optional<uint64_t>(0));
}

TEST_F(NatsDriverTest, MessagesPulledButNeverHandedOverAreRedelivered) {
  auto driver = connected({{"fetch_batch", "10"}, {"ack_wait_ms", "1000"}});
  ASSERT_TRUE(driver->create_topic("redelivery", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"redelivery"}, {"g"}).ok());
  ASSERT_EQ(produce(*driver, "redelivery", 100).acked, 100);
  int handed = 0;
  {
    auto first = consumers_of(*driver, "g", 1, {"redelivery"});
    ASSERT_EQ(first.size(), 1u);
    // Poll until a pull request's worth (fetch_batch 10) was handed over; a request's messages
    // may arrive over more than one poll on a busy machine.
    for (auto deadline = Clock::now() + seconds(5); handed < 10 && Clock::now() < deadline;) {
      auto polled = first[0]->poll(milliseconds(100), [&](const ReceivedMessage&) { ++handed; });
      ASSERT_TRUE(polled.ok()) << polled.error();
    }
    ASSERT_GE(handed, 10) << "at least one pull request's worth";
    ASSERT_LE(handed, 20) << "at most two pull requests' worth";
    // The poll left the next request open: its messages reach this client and are never
    // handed over, so never acknowledged.
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_EQ(first[0]->backlog(), std::optional<uint64_t>(100 - handed));
  }
  const auto left = static_cast<size_t>(100 - handed);
  auto second = consumers_of(*driver, "g", 1, {"redelivery"});
  ASSERT_EQ(second.size(), 1u);
  auto received = consume(second, left);
  std::set<std::string> distinct;
  int redelivered = 0;
  for (const Got& got : received) {
    distinct.insert(got.payload);
    redelivered += got.redelivered;
  }
  EXPECT_EQ(received.size(), left);
  EXPECT_EQ(distinct.size(), left);
  // The ones the first consumer held (pulled, never handed over) when it went away: one open
  // request of at most fetch_batch.
  EXPECT_GE(redelivered, 1);
  EXPECT_LE(redelivered, 10);
  EXPECT_EQ(second[0]->backlog(), std::optional<uint64_t>(0));
}

TEST_F(NatsDriverTest, WindowBoundsMessagesInFlightAndPollAcksDeliversThem) {
  auto driver = connected({{"max_in_flight", "8"}});
  ASSERT_TRUE(driver->create_topic("window", 1).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  EXPECT_TRUE((*producer)->delivers_acks_while_polling());
  int acked = 0;
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE((*producer)->send("window", "", "x", [&](bool ok, auto) { acked += ok; }).ok());
    EXPECT_LE((*producer)->in_flight(), 8u);
    EXPECT_EQ(acked + static_cast<int>((*producer)->in_flight()), i + 1);
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(acked, 500);

  // One more, then only poll_acks: the ack arrives without another send or flush, and the
  // wait ends when it does rather than after the whole max_wait.
  ASSERT_TRUE((*producer)->send("window", "", "y", [&](bool ok, auto) { acked += ok; }).ok());
  auto start = Clock::now();
  for (int i = 0; i < 100 && acked == 500; ++i) {
    ASSERT_TRUE((*producer)->poll_acks(seconds(1)).ok());
  }
  EXPECT_EQ(acked, 501);
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_EQ((*producer)->in_flight(), 0u);
  // With nothing in flight it waits the time it was given.
  start = Clock::now();
  ASSERT_TRUE((*producer)->poll_acks(milliseconds(30)).ok());
  EXPECT_GE(Clock::now() - start, milliseconds(30));
}

TEST_F(NatsDriverTest, PublishJetStreamRejectsFailsThroughItsCallback) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("small", 1).ok());
  Inspector inspector(server_->address());
  ASSERT_TRUE(inspector.ok());
  ASSERT_TRUE(inspector.limit_message_size("small", 8));
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  Produced produced;
  for (std::string payload : {"short", "much longer than eight bytes"}) {
    ASSERT_TRUE((*producer)
                    ->send("small", "", payload,
                           [&](bool ok, std::string_view error) {
                             ok ? ++produced.acked : ++produced.failed;
                             if (!ok) produced.last_error = std::string(error);
                           })
                    .ok());
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(produced.acked, 1);
  EXPECT_EQ(produced.failed, 1);
  EXPECT_NE(produced.last_error.find("JetStream rejected the message: message size exceeds"),
            std::string::npos)
      << produced.last_error;
  EXPECT_EQ(counter(*driver, "nats.publish_errors"), 1u);
}

TEST_F(NatsDriverTest, CreateTopicStartsEmptyAndKeepsThePartitionsForOtherProcesses) {
  auto driver = connected();
  Inspector inspector(server_->address());
  ASSERT_TRUE(inspector.ok());
  ASSERT_TRUE(driver->create_topic("again", 2).ok());
  ASSERT_EQ(produce(*driver, "again", 10).acked, 10);
  ASSERT_TRUE(driver->create_topic("again", 2).ok());
  EXPECT_EQ(inspector.stream_messages("again"), 0) << "same settings: purged";
  ASSERT_EQ(produce(*driver, "again", 10).acked, 10);
  ASSERT_TRUE(driver->create_topic("again", 5).ok());
  EXPECT_EQ(inspector.stream_messages("again"), 0) << "other partitions: created anew";
  // A driver that did not create the topic (a dec worker) finds its partitions in the stream.
  auto other = connected();
  ASSERT_TRUE(other->prepare_consumers({"again"}, {"g"}).ok());
  ASSERT_EQ(produce(*other, "again", 500, 50).acked, 500);
  auto consumers = consumers_of(*other, "g", 1, {"again"});
  ASSERT_EQ(consumers.size(), 1u);
  std::set<int> partitions;
  for (const Got& got : consume(consumers, 500)) partitions.insert(got.partition);
  EXPECT_EQ(partitions, (std::set<int>{0, 1, 2, 3, 4}));
}

TEST_F(NatsDriverTest, DeleteTopicRemovesTheStream) {
  auto driver = connected();
  Inspector inspector(server_->address());
  ASSERT_TRUE(inspector.ok());
  ASSERT_TRUE(driver->create_topic("doomed", 1).ok());
  EXPECT_EQ(inspector.stream_messages("doomed"), 0);
  ASSERT_TRUE(driver->delete_topic("doomed").ok());
  EXPECT_EQ(inspector.stream_messages("doomed"), -1) << "the stream is gone";
  EXPECT_TRUE(driver->delete_topic("doomed").ok()) << "deleting a missing topic is fine";
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  Status sent = (*producer)->send("doomed", "", "x", [](bool, std::string_view) {
    ADD_FAILURE() << "a send that returned an error must not call back";
  });
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error(), "topic doomed has no JetStream stream doomed (create_topic creates it)");
  EXPECT_FALSE(driver->prepare_consumers({"doomed"}, {"g"}).ok());
}

TEST_F(NatsDriverTest, TopicNamesAreMadeSafeForJetStream) {
  EXPECT_EQ(nats_stream_name("dec-run_1-0"), "dec-run_1-0");
  const std::string dotted = nats_stream_name("orders.eu");
  EXPECT_EQ(dotted.rfind("orders_eu-", 0), 0u) << dotted;
  EXPECT_NE(dotted, nats_stream_name("orders_eu")) << "different topics, different streams";
  EXPECT_EQ(dotted.find_first_of(". *>"), std::string::npos);
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("orders.eu", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"orders.eu"}, {"group with spaces"}).ok());
  ASSERT_EQ(produce(*driver, "orders.eu", 50, 5).acked, 50);
  auto consumers = consumers_of(*driver, "group with spaces", 1, {"orders.eu"});
  ASSERT_EQ(consumers.size(), 1u);
  auto received = consume(consumers, 50);
  expect_each_once(received, 50);
  EXPECT_EQ(received.front().topic, "orders.eu");
  ASSERT_TRUE(driver->delete_topic("orders.eu").ok());
}

TEST_F(NatsDriverTest, ConsumerOfAGroupThatWasNeverPreparedIsAClearError) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("unprepared", 1).ok());
  auto consumer = driver->make_consumer({"nobody", 0, 1, {"unprepared"}});
  ASSERT_FALSE(consumer.ok());
  EXPECT_EQ(consumer.error(),
            "consumer group nobody has no JetStream consumer nobody on stream unprepared "
            "(prepare_consumers creates it)");
  EXPECT_FALSE(driver->make_consumer({"g", 2, 2, {"unprepared"}}).ok());
}

TEST_F(NatsDriverTest, PollTimesOutWhenThereIsNothingToRead) {
  auto driver = connected({{"fetch_wait_ms", "30"}});
  ASSERT_TRUE(driver->create_topic("quiet", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"quiet"}, {"g"}).ok());
  auto consumers = consumers_of(*driver, "g", 1, {"quiet"});
  ASSERT_EQ(consumers.size(), 1u);
  for (milliseconds timeout : {milliseconds(0), milliseconds(200)}) {
    auto start = Clock::now();
    auto polled = consumers[0]->poll(timeout, [](const ReceivedMessage&) {});
    auto waited = Clock::now() - start;
    ASSERT_TRUE(polled.ok()) << polled.error();
    EXPECT_EQ(*polled, 0u);
    EXPECT_GE(waited, timeout);
    EXPECT_LT(waited, timeout + milliseconds(300));
  }
  // A message sent while a poll waits ends the wait at once (the pull request is renewed
  // whenever the 30 ms ones expire).
  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_EQ(produce(*driver, "quiet", 1).acked, 1);
  });
  auto start = Clock::now();
  size_t got = 0;
  while (got == 0 && Clock::now() - start < seconds(5)) {
    auto polled = consumers[0]->poll(seconds(5), [](const ReceivedMessage&) {});
    ASSERT_TRUE(polled.ok()) << polled.error();
    got += *polled;
  }
  sender.join();
  EXPECT_EQ(got, 1u);
  EXPECT_LT(Clock::now() - start, seconds(2));
}

// Short pull requests expire all the time and nats-server does not always say so; a message that
// arrives between an expiry and the renewal waits for it. With renewal 250 ms after the expiry,
// this workload had a median latency of 40 ms and a p99 of 230 ms (1 ms and 4 ms renewing at
// once); the bound is far from both, so a busy machine does not make it flaky.
TEST_F(NatsDriverTest, ShortPullRequestsDoNotHoldMessagesBack) {
  auto driver = connected({{"fetch_wait_ms", "10"}});
  ASSERT_TRUE(driver->create_topic("short-pulls", 2).ok());
  load::EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 1000;
  options.warmup = seconds(1);
  options.duration = seconds(3);
  options.drain_timeout = seconds(10);
  options.message_size = 256;
  options.keys = 16;
  options.topics = {"short-pulls"};
  options.group_prefix = "short-pulls-group";
  ASSERT_TRUE(driver->prepare_consumers({"short-pulls"}, {"short-pulls-group-0"}).ok());
  load::Engine engine(*driver, options);
  std::atomic<bool> stop{false};
  auto result = engine.run([](const load::Progress&) {}, stop);
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->delivery.received, result->delivery.sent);
  const double p50_ms = static_cast<double>(result->end_to_end_latency.percentile(50)) / 1e6;
  EXPECT_LT(p50_ms, 15.0) << "median end-to-end latency " << p50_ms << " ms at 1k msg/s";
}

TEST_F(NatsDriverTest, BadConfigKeysAreReportedWithTheirPath) {
  const DriverInfo* info = systems::find_driver("nats");
  ASSERT_NE(info, nullptr);
  core::DriverCatalog catalog = systems::driver_catalog();
  EXPECT_NE(std::find(catalog.names.begin(), catalog.names.end(), "nats"), catalog.names.end());
  auto errors = catalog.validate_config("nats",
                                        {{"max_inflight", "4"},
                                         {"storage", "disk"},
                                         {"replicas", "7"},
                                         {"fetch_wait_ms", "0"},
                                         {"fetch_batch", "10"}},
                                        "systems[2].config");
  ASSERT_EQ(errors.size(), 4u);
  std::map<std::string, std::string> by_path;
  for (const auto& error : errors) by_path[error.path] = error.message;
  EXPECT_NE(by_path["systems[2].config.max_inflight"].find(
                "unknown key \"max_inflight\" (did you mean \"max_in_flight\"?); valid keys: "),
            std::string::npos)
      << by_path["systems[2].config.max_inflight"];
  EXPECT_EQ(by_path["systems[2].config.storage"], "expected one of file, memory, got \"disk\"");
  EXPECT_EQ(by_path["systems[2].config.replicas"], "expected an integer from 1 to 5, got \"7\"");
  EXPECT_EQ(by_path["systems[2].config.fetch_wait_ms"],
            "expected an integer from 1 to 60000, got \"0\"");
  EXPECT_TRUE(
      catalog.validate_config("nats", {{"linger_ms", "0"}, {"storage", "memory"}}, "c").empty());

  NatsDriver driver;
  Status status = driver.connect(Endpoint{{server_->address()}, {}}, {{"max_in_flight", "0"}});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(),
            "config.max_in_flight: expected an integer from 1 to 1000000, got \"0\"");
  // One server cannot hold three replicas: said before anything is created.
  auto three = connected({{"replicas", "3"}});
  Status created = three->create_topic("replicated", 1);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().find("config.replicas: 3 replicas need as many JetStream servers"),
            std::string::npos)
      << created.error();
}

TEST_F(NatsDriverTest, MemoryStorageIsAppliedEvenToATopicCreatedWithTheDefaults) {
  // The local provider creates topics with the default config; the run's config comes later.
  auto defaults = connected();
  ASSERT_TRUE(defaults->create_topic("stored", 1).ok());
  auto memory = connected({{"storage", "memory"}});
  ASSERT_TRUE(memory->prepare_consumers({"stored"}, {"g"}).ok());
  natsConnection* connection = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&connection, ("nats://" + server_->address()).c_str()),
            NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, connection, nullptr), NATS_OK);
  jsStreamInfo* info = nullptr;
  ASSERT_EQ(js_GetStreamInfo(&info, js, "stored", nullptr, nullptr), NATS_OK);
  EXPECT_EQ(info->Config->Storage, js_MemoryStorage);
  jsStreamInfo_Destroy(info);
  ASSERT_EQ(produce(*memory, "stored", 20).acked, 20);
  // Once it holds messages it is not silently re-created.
  Status refused = defaults->prepare_consumers({"stored"}, {"g"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("already holds 20 messages"), std::string::npos)
      << refused.error();
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
}

TEST_F(NatsDriverTest, LoadEngineDeliversEveryMessageExactlyOnce) {
  auto driver = connected({{"max_in_flight", "64"}, {"fetch_wait_ms", "100"}});
  ASSERT_TRUE(driver->create_topic("engine", 4).ok());
  load::EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 3000;
  options.warmup = std::chrono::nanoseconds(0);
  options.duration = seconds(2);
  options.drain_timeout = seconds(15);
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
  EXPECT_GT(delivery.sent, 5000u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.reordered, 0u);
  EXPECT_EQ(counter(*driver, "nats.publish_timeouts"), 0u);
}

TEST_F(NatsDriverTest, ClosedPortGivesAClearError) {
  int port = free_loopback_port();
  ASSERT_GT(port, 0);
  NatsDriver driver;
  std::string address = "127.0.0.1:" + std::to_string(port);
  Status status = driver.connect(Endpoint{{address}, {}}, {{"timeout_ms", "500"}});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().rfind("cannot connect to NATS at nats://" + address + ": ", 0), 0u)
      << status.error();
  EXPECT_FALSE(driver.make_producer().ok());
  EXPECT_FALSE(driver.create_topic("t", 1).ok());
  EXPECT_FALSE(driver.connect(Endpoint{{"127.0.0.1:notaport"}, {}}, {}).ok());
  EXPECT_FALSE(driver.connect(Endpoint{{}, {}}, {}).ok());
}

// ---- a server that dies -----------------------------------------------------------------------

TEST(NatsServerFailure, KilledServerFailsPublishesWithinTheTimeoutAndIsUsedAgainAfterARestart) {
  NatsServer victim;
  ASSERT_TRUE(victim.ready()) << victim.log();
  NatsDriver driver;
  ASSERT_TRUE(driver.connect(Endpoint{{victim.address()}, {}}, {{"timeout_ms", "1000"}}).ok());
  ASSERT_TRUE(driver.create_topic("fragile", 2).ok());
  ASSERT_TRUE(driver.prepare_consumers({"fragile"}, {"g"}).ok());
  auto consumer = driver.make_consumer({"g", 0, 1, {"fragile"}});
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  auto producer = driver.make_producer();
  ASSERT_TRUE(producer.ok()) << producer.error();
  Produced produced;
  auto on_ack = [&produced](bool ok, std::string_view error) {
    ok ? ++produced.acked : ++produced.failed;
    if (!ok) produced.last_error = std::string(error);
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*producer)->send("fragile", "k", "a", on_ack).ok());
  ASSERT_TRUE((*producer)->flush().ok());
  ASSERT_EQ(produced.acked, 100);

  victim.kill();
  auto start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*producer)->send("fragile", "k", "b", on_ack).ok());
    EXPECT_LT(Clock::now() - start, seconds(3)) << "a send must not block on a dead server";
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_LT(Clock::now() - start, seconds(4)) << "every publish is answered or times out";
  EXPECT_EQ(produced.acked, 100);
  EXPECT_EQ(produced.failed, 50);
  EXPECT_EQ((*producer)->in_flight(), 0u);
  EXPECT_NE(produced.last_error.find("no acknowledgement from JetStream within 1000 ms"),
            std::string::npos)
      << produced.last_error;
  EXPECT_EQ(counter(driver, "nats.publish_timeouts"), 50u);
  // The consumer neither hangs nor claims an empty backlog it cannot know.
  start = Clock::now();
  auto polled = (*consumer)->poll(milliseconds(100), [](const ReceivedMessage&) {});
  EXPECT_TRUE(polled.ok()) << polled.error();
  EXPECT_EQ((*consumer)->backlog(), std::nullopt);
  EXPECT_LT(Clock::now() - start, seconds(3));

  // Back on the same port with its file store: the clients reconnect by themselves.
  victim.start();
  ASSERT_TRUE(victim.ready()) << victim.log();
  produced = {};
  for (auto deadline = Clock::now() + seconds(10);
       produced.acked == 0 && Clock::now() < deadline;) {
    ASSERT_TRUE((*producer)->send("fragile", "k", "c", on_ack).ok());
    ASSERT_TRUE((*producer)->flush().ok());
  }
  EXPECT_GT(produced.acked, 0) << produced.last_error;
  std::set<std::string> payloads;
  for (auto deadline = Clock::now() + seconds(10);
       !payloads.count("c") && Clock::now() < deadline;) {
    auto read = (*consumer)->poll(milliseconds(100), [&](const ReceivedMessage& message) {
      payloads.insert(std::string(message.payload));
    });
    ASSERT_TRUE(read.ok()) << read.error();
  }
  EXPECT_TRUE(payloads.count("a")) << "stored before the crash, kept in the file store";
  EXPECT_TRUE(payloads.count("c"));
  // The "b" publishes failed as timeouts: their outcome is unknown. libnats kept those written
  // while it was reconnecting and sent them once it was back, so they may well be stored.
  producer->reset();
  consumer->reset();
  EXPECT_GE(counter(driver, "nats.reconnects"), 2u);
}

}  // namespace
}  // namespace dec::drivers
