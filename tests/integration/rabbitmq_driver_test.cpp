// The RabbitMQ driver against a real rabbitmq-server, started once for the suite through the
// package's own launch recipe (as the local provider starts it: files written, dir given to the
// recipe's user, argv and environment from the recipe) on free loopback ports, and stopped at the
// end together with every process it started (epmd, erl_child_setup, ...), found by the DEC_ tags
// put in its environment. Tests that kill a broker start one of their own.
#include "systems/rabbitmq/rabbitmq_driver.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/hash.h"
#include "load/engine.h"
#include "support/subprocess.h"
#include "systems/rabbitmq/package.h"
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
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Live (not zombie) processes whose environment holds `tag` ("DEC_RUN=..."), with their command.
std::map<pid_t, std::string> tagged_processes(const std::string& tag) {
  std::map<pid_t, std::string> found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = ::readdir(proc)) {
    pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    const std::string base = std::string("/proc/") + entry->d_name;
    std::string stat = read_text(base + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z') continue;
    std::string environment = read_text(base + "/environ");
    bool tagged = false;
    for (size_t start = 0; start < environment.size() && !tagged;) {
      size_t end = environment.find('\0', start);
      if (end == std::string::npos) end = environment.size();
      tagged = environment.compare(start, end - start, tag) == 0;
      start = end + 1;
    }
    if (!tagged) continue;
    std::string command = read_text(base + "/cmdline");
    std::replace(command.begin(), command.end(), '\0', ' ');
    found[pid] = command;
  }
  ::closedir(proc);
  return found;
}

// Gives `path` and everything under it to `user`, as the local provider does for a recipe.
bool chown_tree(const std::string& path, const std::string& user) {
  passwd* entry = ::getpwnam(user.c_str());
  if (entry == nullptr) return false;
  bool ok = ::lchown(path.c_str(), entry->pw_uid, entry->pw_gid) == 0;
  for (const auto& item : std::filesystem::recursive_directory_iterator(path)) {
    ok = ::lchown(item.path().c_str(), entry->pw_uid, entry->pw_gid) == 0 && ok;
  }
  return ok;
}

// One rabbitmq-server node started through rabbitmq_package()'s recipe.
class RabbitNode {
 public:
  RabbitNode() {
    char dir_template[] = "/tmp/dec-rabbitmq-test-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return;
    root_ = dir_template;
    ::chmod(root_.c_str(), 0755);  // the node's user must reach its dir inside
    tag_ =
        "DEC_RUN=rabbitmq-test-" + std::to_string(::getpid()) + "-" + std::to_string(instances_++);
    port_ = free_loopback_port();
    start();
  }

  ~RabbitNode() {
    stop();
    if (!root_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(root_, ignored);
    }
  }

  bool ready() const { return ready_; }
  const std::string& failure() const { return failure_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& root() const { return root_; }
  const std::string& tag() const { return tag_; }
  const systems::Launch& launch() const { return launch_; }
  pid_t pid() const { return child_.pid; }

  // As a crash would: SIGKILL to the broker (the recipe makes the recorded pid the VM itself).
  void kill() {
    if (child_.pid <= 0) return;
    ::kill(child_.pid, SIGKILL);
    ::waitpid(child_.pid, nullptr, 0);
    child_.pid = -1;
    ready_ = false;
  }

  // SIGTERM to the node, then to everything it started (epmd outlives it); SIGKILL after 15 s.
  void stop() {
    if (child_.pid > 0) {
      ::kill(child_.pid, SIGTERM);
      bool exited = false;
      for (auto deadline = Clock::now() + std::chrono::seconds(15);
           !exited && Clock::now() < deadline;) {
        exited = ::waitpid(child_.pid, nullptr, WNOHANG) == child_.pid;
        if (!exited) std::this_thread::sleep_for(milliseconds(50));
      }
      if (!exited) {
        ::kill(child_.pid, SIGKILL);
        ::waitpid(child_.pid, nullptr, 0);
      }
      child_.pid = -1;
    }
    for (int round = 0; round < 2 && !tag_.empty(); ++round) {
      auto left = tagged_processes(tag_);
      if (left.empty()) break;
      for (const auto& [pid, command] : left) ::kill(pid, round == 0 ? SIGTERM : SIGKILL);
      for (auto deadline = Clock::now() + std::chrono::seconds(5);
           !tagged_processes(tag_).empty() && Clock::now() < deadline;) {
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
    ready_ = false;
  }

 private:
  void start() {
    if (port_ < 0) {
      failure_ = "no free port";
      return;
    }
    int dist_port = free_loopback_port();
    while (dist_port == port_) dist_port = free_loopback_port();
    std::string dir = root_ + "/node";
    std::filesystem::create_directories(dir);
    context_.path_exists = [](const std::string& path) { return std::filesystem::exists(path); };
    context_.list_dir = [](const std::string& path) {
      std::vector<std::string> names;
      std::error_code error;
      for (const auto& item : std::filesystem::directory_iterator(path, error)) {
        names.push_back(item.path().filename().string());
      }
      return names;
    };
    input_.listen_host = "127.0.0.1";
    input_.port = port_;
    input_.control_port = dist_port;
    input_.dir = dir;
    input_.context = &context_;
    const systems::SystemPackage package = systems::rabbitmq_package();
    auto launch = package.local->launch(input_);
    if (!launch.ok()) {
      failure_ = launch.error();
      return;
    }
    launch_ = *launch;
    for (const auto& [name, content] : launch_.files) {
      std::ofstream(dir + "/" + name) << content;
    }
    if (!launch_.dir_owner.empty() && !chown_tree(dir, launch_.dir_owner)) {
      failure_ = "cannot give " + dir + " to " + launch_.dir_owner;
      return;
    }
    std::map<std::string, std::string> environment = launch_.environment;
    const size_t equals = tag_.find('=');
    environment[tag_.substr(0, equals)] = tag_.substr(equals + 1);
    environment["DEC_RESOURCE"] = "service.rabbitmq.0";
    log_ = root_ + "/service.log";
    child_ = testing::start(launch_.argv, log_, environment);
    if (child_.pid < 0) {
      failure_ = "cannot start " + launch_.argv[0];
      return;
    }
    // Up when the recipe's readiness probe says so; bounded by the recipe's start timeout.
    const auto deadline = Clock::now() + package.local->start_timeout;
    while (Clock::now() < deadline) {
      if (::waitpid(child_.pid, nullptr, WNOHANG) == child_.pid) {
        child_.pid = -1;
        failure_ = "rabbitmq-server exited: " + read_text(log_);
        return;
      }
      std::string not_ready = package.local->ready_probe(input_);
      if (not_ready.empty()) {
        ready_ = true;
        return;
      }
      failure_ = not_ready;
      std::this_thread::sleep_for(milliseconds(250));
    }
    failure_ = "not ready within the start timeout: " + failure_;
  }

  static inline int instances_ = 0;
  std::string root_;
  std::string tag_;
  std::string log_;
  int port_ = -1;
  systems::RecipeContext context_;
  systems::LaunchInput input_;
  systems::Launch launch_;
  testing::Child child_;
  bool ready_ = false;
  std::string failure_;
};

// A plain librabbitmq client, to look at the broker independently of the driver.
class RawClient {
 public:
  explicit RawClient(int port) {
    state_ = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    timeval wait{5, 0};
    ok_ = socket != nullptr &&
          amqp_socket_open_noblock(socket, "127.0.0.1", port, &wait) == AMQP_STATUS_OK;
    if (ok_) {
      amqp_set_rpc_timeout(state_, &wait);
      ok_ = amqp_login(state_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
                .reply_type == AMQP_RESPONSE_NORMAL;
    }
    ok_ = ok_ && open();
  }
  ~RawClient() {
    if (ok_) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }
  bool ok() const { return ok_; }

  // "" when the queue exists; else the broker's reply text (e.g. NOT_FOUND - no queue ...).
  std::string queue_check(const std::string& queue) {
    amqp_queue_declare(state_, 1, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
    return outcome();
  }
  std::string exchange_check(const std::string& exchange) {
    amqp_exchange_declare(state_, 1, amqp_cstring_bytes(exchange.c_str()),
                          amqp_cstring_bytes("direct"), 1, 0, 0, 0, amqp_empty_table);
    return outcome();
  }
  // Declares `queue` as a durable queue of `type`: the broker refuses when it exists otherwise.
  std::string declare_as(const std::string& queue, const std::string& type) {
    amqp_table_entry_t entry{};
    entry.key = amqp_cstring_bytes("x-queue-type");
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = amqp_cstring_bytes(type.c_str());
    amqp_table_t arguments{1, &entry};
    amqp_queue_declare(state_, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, arguments);
    return outcome();
  }
  // The delivery mode and body of the queue's next message (taken off it); mode 0 if none.
  std::pair<int, std::string> take(const std::string& queue) {
    amqp_rpc_reply_t reply = amqp_basic_get(state_, 1, amqp_cstring_bytes(queue.c_str()), 1);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL || reply.reply.id != AMQP_BASIC_GET_OK_METHOD) {
      return {0, ""};
    }
    amqp_message_t message;
    if (amqp_read_message(state_, 1, &message, 0).reply_type != AMQP_RESPONSE_NORMAL) {
      return {0, ""};
    }
    int mode = (message.properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
                   ? message.properties.delivery_mode
                   : -1;
    std::string body(static_cast<const char*>(message.body.bytes), message.body.len);
    amqp_destroy_message(&message);
    return {mode, body};
  }

 private:
  bool open() {
    amqp_channel_open(state_, 1);
    return amqp_get_rpc_reply(state_).reply_type == AMQP_RESPONSE_NORMAL;
  }
  // The last RPC's outcome; a closed channel is reopened for the next call.
  std::string outcome() {
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return "";
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
      std::string text(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
      amqp_channel_close_ok_t close_ok{};
      amqp_send_method(state_, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
      open();
      return text;
    }
    return "failed (" + std::to_string(reply.reply_type) + ")";
  }

  amqp_connection_state_t state_;
  bool ok_ = false;
};

struct Produced {
  int acked = 0;
  int failed = 0;
  std::string last_error;
};

struct Received {
  std::string topic;
  std::string key;
  int partition = -1;
  bool redelivered = false;
  int times = 0;
};

class RabbitMqDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { node_ = new RabbitNode(); }
  static void TearDownTestSuite() {
    const std::string tag = node_->tag();
    const std::string root = node_->root();
    delete node_;
    node_ = nullptr;
    // Nothing the node started is left, and its directory is gone.
    auto left = tagged_processes(tag);
    for (const auto& [pid, command] : left)
      ADD_FAILURE() << "left running: " << pid << " " << command;
    EXPECT_FALSE(std::filesystem::exists(root)) << root;
  }

  void SetUp() override { ASSERT_TRUE(node_->ready()) << node_->failure(); }

  std::unique_ptr<RabbitMqDriver> connected(const core::Settings& config = {}) {
    auto driver = std::make_unique<RabbitMqDriver>();
    Status status = driver->connect(Endpoint{{node_->address()}, {}}, config);
    EXPECT_TRUE(status.ok()) << status.error();
    return driver;
  }

  // Sends `count` messages with payload "m<i>" (and key "key-<i % keys>" when keys > 0).
  static Produced produce(Driver& driver, const std::string& topic, int count, int keys = 0) {
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
  // to catch duplicates; bounded by 20 s. Returns payload -> what arrived. `order` gets, per
  // consumer and partition, the payload numbers in arrival order.
  static std::map<std::string, Received> consume(
      std::vector<std::unique_ptr<Consumer>>& consumers, int expected,
      std::vector<int>* per_consumer = nullptr,
      std::map<std::pair<size_t, int>, std::vector<int>>* order = nullptr) {
    std::map<std::string, Received> received;
    int total = 0;
    if (per_consumer) per_consumer->assign(consumers.size(), 0);
    auto deadline = Clock::now() + std::chrono::seconds(20);
    auto poll_all = [&](milliseconds wait) {
      for (size_t c = 0; c < consumers.size(); ++c) {
        auto polled = consumers[c]->poll(wait, [&](const ReceivedMessage& message) {
          Received& entry = received[std::string(message.payload)];
          entry.topic = message.topic;
          entry.key = message.key;
          entry.partition = message.partition;
          entry.redelivered = entry.redelivered || message.redelivered;
          ++entry.times;
          ++total;
          if (per_consumer) ++(*per_consumer)[c];
          if (order && message.payload.size() > 1) {
            (*order)[{c, message.partition}].push_back(
                std::stoi(std::string(message.payload.substr(1))));
          }
        });
        EXPECT_TRUE(polled.ok()) << polled.error();
      }
    };
    while (total < expected && Clock::now() < deadline) poll_all(milliseconds(50));
    poll_all(milliseconds(200));
    return received;
  }

  static void expect_each_once(const std::map<std::string, Received>& received, int count) {
    EXPECT_EQ(received.size(), static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      auto it = received.find("m" + std::to_string(i));
      ASSERT_NE(it, received.end()) << "m" << i << " never received";
      EXPECT_EQ(it->second.times, 1) << "m" << i << " received " << it->second.times << " times";
    }
  }

  static std::unique_ptr<Consumer> consumer(Driver& driver, const std::string& topic,
                                            const std::string& group, int member = 0,
                                            int group_size = 1) {
    auto made = driver.make_consumer({group, member, group_size, {topic}});
    EXPECT_TRUE(made.ok()) << made.error();
    return made.ok() ? std::move(*made) : nullptr;
  }

  static RabbitNode* node_;
};

RabbitNode* RabbitMqDriverTest::node_ = nullptr;

TEST_F(RabbitMqDriverTest, KeyedMessagesAreConfirmedAndConsumedWithTheirContent) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("basic", 3).ok());
  ASSERT_TRUE(driver->prepare_consumers({"basic"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "basic", "g"));
  ASSERT_TRUE(consumers[0]);
  EXPECT_TRUE(consumers[0]->ready());

  Produced produced = produce(*driver, "basic", 2000, 20);
  EXPECT_EQ(produced.acked, 2000);
  EXPECT_EQ(produced.failed, 0) << produced.last_error;
  auto received = consume(consumers, 2000);
  expect_each_once(received, 2000);
  for (const auto& [payload, message] : received) {
    int i = std::stoi(payload.substr(1));
    std::string key = "key-" + std::to_string(i % 20);
    EXPECT_EQ(message.topic, "basic");
    EXPECT_EQ(message.key, key) << payload;
    EXPECT_EQ(message.partition, static_cast<int>(core::fnv1a(key) % 3)) << payload;
    EXPECT_FALSE(message.redelivered);
  }
}

TEST_F(RabbitMqDriverTest, EachPartitionKeepsItsOrderAndEachKeyOnePartition) {
  auto driver = connected({{"max_in_flight", "64"}});
  ASSERT_TRUE(driver->create_topic("ordered", 4).ok());
  ASSERT_TRUE(driver->prepare_consumers({"ordered"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "ordered", "g"));
  Produced produced = produce(*driver, "ordered", 3000, 16);
  EXPECT_EQ(produced.acked, 3000);
  std::map<std::pair<size_t, int>, std::vector<int>> order;
  auto received = consume(consumers, 3000, nullptr, &order);
  expect_each_once(received, 3000);
  std::map<std::string, std::set<int>> partitions_of_key;
  for (const auto& [payload, message] : received)
    partitions_of_key[message.key].insert(message.partition);
  for (const auto& [key, partitions] : partitions_of_key) EXPECT_EQ(partitions.size(), 1u) << key;
  EXPECT_EQ(order.size(), 4u) << "every partition used";
  for (const auto& [where, sequence] : order) {
    EXPECT_TRUE(std::is_sorted(sequence.begin(), sequence.end())) << "partition " << where.second;
  }
}

TEST_F(RabbitMqDriverTest, UnkeyedMessagesGoRoundRobin) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("unkeyed", 3).ok());
  ASSERT_TRUE(driver->prepare_consumers({"unkeyed"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "unkeyed", "g"));
  EXPECT_EQ(produce(*driver, "unkeyed", 300).acked, 300);
  auto received = consume(consumers, 300);
  expect_each_once(received, 300);
  std::map<int, int> per_partition;
  for (const auto& [payload, message] : received) ++per_partition[message.partition];
  EXPECT_EQ(per_partition, (std::map<int, int>{{0, 100}, {1, 100}, {2, 100}}));
}

TEST_F(RabbitMqDriverTest, TwoGroupsEachReceiveEveryMessage) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("fanout", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"fanout"}, {"a", "b"}).ok());
  std::vector<std::unique_ptr<Consumer>> group_a;
  std::vector<std::unique_ptr<Consumer>> group_b;
  group_a.push_back(consumer(*driver, "fanout", "a"));
  group_b.push_back(consumer(*driver, "fanout", "b"));
  EXPECT_EQ(produce(*driver, "fanout", 500, 10).acked, 500);
  expect_each_once(consume(group_a, 500), 500);
  expect_each_once(consume(group_b, 500), 500);
}

TEST_F(RabbitMqDriverTest, MembersOfAGroupSplitThePartitionsWithoutDuplicates) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("split", 4).ok());
  ASSERT_TRUE(driver->prepare_consumers({"split"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> members;
  members.push_back(consumer(*driver, "split", "g", 0, 2));
  members.push_back(consumer(*driver, "split", "g", 1, 2));
  EXPECT_EQ(produce(*driver, "split", 1000, 40).acked, 1000);
  std::vector<int> per_member;
  std::map<std::pair<size_t, int>, std::vector<int>> order;
  expect_each_once(consume(members, 1000, &per_member, &order), 1000);
  EXPECT_GT(per_member[0], 0);
  EXPECT_GT(per_member[1], 0);
  // Member m reads the partitions p with p % 2 == m.
  for (const auto& [where, sequence] : order) {
    EXPECT_EQ(static_cast<size_t>(where.second % 2), where.first) << "partition " << where.second;
  }
}

TEST_F(RabbitMqDriverTest, MoreMembersThanPartitionsCompeteForTheQueues) {
  auto driver = connected({{"prefetch", "10"}});
  ASSERT_TRUE(driver->create_topic("compete", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"compete"}, {"g"}).ok());
  std::vector<std::unique_ptr<Consumer>> members;
  members.push_back(consumer(*driver, "compete", "g", 0, 2));
  members.push_back(consumer(*driver, "compete", "g", 1, 2));
  EXPECT_EQ(produce(*driver, "compete", 400).acked, 400);
  std::vector<int> per_member;
  expect_each_once(consume(members, 400, &per_member), 400);
  EXPECT_GT(per_member[0], 0);
  EXPECT_GT(per_member[1], 0);
}

TEST_F(RabbitMqDriverTest, AConsumerWithoutAGroupGetsEverythingSentAfterItSubscribed) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("private", 3).ok());
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "private", ""));
  consumers.push_back(consumer(*driver, "private", ""));
  EXPECT_EQ(produce(*driver, "private", 300, 7).acked, 300);
  std::vector<int> per_consumer;
  auto received = consume(consumers, 600, &per_consumer);
  EXPECT_EQ(per_consumer, (std::vector<int>{300, 300}));
  EXPECT_EQ(received.size(), 300u);
}

TEST_F(RabbitMqDriverTest, QuorumQueuesCarryTheMessages) {
  auto driver = connected({{"queue_type", "quorum"}});
  ASSERT_TRUE(driver->create_topic("raft", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"raft"}, {"g"}).ok());
  RawClient raw(node_->port());
  ASSERT_TRUE(raw.ok());
  // The broker refuses to see the queue as anything else than a quorum queue.
  std::string refused = raw.declare_as(rabbitmq_queue_name("raft", "g", 0), "classic");
  EXPECT_NE(refused.find("PRECONDITION_FAILED"), std::string::npos) << refused;
  EXPECT_NE(refused.find("'quorum'"), std::string::npos) << refused;
  EXPECT_EQ(raw.declare_as(rabbitmq_queue_name("raft", "g", 1), "quorum"), "");

  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "raft", "g"));
  EXPECT_EQ(produce(*driver, "raft", 500, 10).acked, 500);
  expect_each_once(consume(consumers, 500), 500);
  EXPECT_EQ(consumers[0]->backlog(), std::optional<uint64_t>(0));

  // A classic topic of the same name replaces the quorum queues (create_topic starts clean).
  auto classic = connected();
  ASSERT_TRUE(classic->create_topic("raft", 2).ok());
  ASSERT_TRUE(classic->prepare_consumers({"raft"}, {"g"}).ok());
  EXPECT_EQ(raw.declare_as(rabbitmq_queue_name("raft", "g", 0), "classic"), "");
}

TEST_F(RabbitMqDriverTest, BacklogCountsUnreadMessagesUntilTheyAreRead) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("backlog", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"backlog"}, {"g", "late"}).ok());
  auto reader = consumer(*driver, "backlog", "g");
  ASSERT_TRUE(reader);
  EXPECT_EQ(produce(*driver, "backlog", 120, 6).acked, 120);
  // The broker pushes up to `prefetch` deliveries to the subscribed consumer before it polls:
  // those are held by the consumer (not ready in the queues) and still count.
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(reader->backlog(), std::optional<uint64_t>(120));
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(std::move(reader));
  expect_each_once(consume(consumers, 120), 120);  // the held ones included, once each
  EXPECT_EQ(consumers[0]->backlog(), std::optional<uint64_t>(0));
  // The other group has read nothing: its queues still hold everything.
  auto late = consumer(*driver, "backlog", "late");
  EXPECT_EQ(late->backlog(), std::optional<uint64_t>(120));
}

TEST_F(RabbitMqDriverTest, PersistentAndTransientMessagesBothArriveWithTheirDeliveryMode) {
  for (const std::string persistent : {"true", "false"}) {
    SCOPED_TRACE("persistent=" + persistent);
    auto driver = connected({{"persistent", persistent}});
    const std::string topic = "durability-" + persistent;
    ASSERT_TRUE(driver->create_topic(topic, 1).ok());
    ASSERT_TRUE(driver->prepare_consumers({topic}, {"peek", "g"}).ok());
    EXPECT_EQ(produce(*driver, topic, 200).acked, 200);
    std::vector<std::unique_ptr<Consumer>> consumers;
    consumers.push_back(consumer(*driver, topic, "g"));
    expect_each_once(consume(consumers, 200), 200);
    RawClient raw(node_->port());
    ASSERT_TRUE(raw.ok());
    auto [mode, body] = raw.take(rabbitmq_queue_name(topic, "peek", 0));
    EXPECT_EQ(mode, persistent == "true" ? 2 : 1);
    EXPECT_EQ(body, "m0");
  }
}

TEST_F(RabbitMqDriverTest, WithoutConfirmsMessagesAreAckedOnceWritten) {
  auto driver = connected({{"confirm", "false"}});
  ASSERT_TRUE(driver->create_topic("unconfirmed", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"unconfirmed"}, {"g"}).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  bool acked = false;
  ASSERT_TRUE(
      (*producer)
          ->send("unconfirmed", "k", "first", [&](bool ok, std::string_view) { acked = ok; })
          .ok());
  EXPECT_TRUE(acked) << "acked inside send()";
  EXPECT_EQ((*producer)->in_flight(), 0u);
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "unconfirmed", "g"));
  EXPECT_EQ(produce(*driver, "unconfirmed", 299, 5).acked, 299);
  auto received = consume(consumers, 300);
  EXPECT_EQ(received.size(), 300u);
  EXPECT_EQ(received["first"].times, 1);
}

TEST_F(RabbitMqDriverTest, TheConfirmWindowBoundsMessagesInFlight) {
  auto driver = connected({{"max_in_flight", "4"}});
  ASSERT_TRUE(driver->create_topic("window", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"window"}, {"g"}).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  int acked = 0;
  size_t most = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*producer)
                    ->send("window", "", "m" + std::to_string(i),
                           [&](bool ok, std::string_view) { acked += ok; })
                    .ok());
    most = std::max(most, (*producer)->in_flight());
  }
  EXPECT_EQ(most, 4u);
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(acked, 200);
}

TEST_F(RabbitMqDriverTest, PollAcksDeliversConfirmsWithoutAnotherSend) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("polled", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"polled"}, {"g"}).ok());
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  EXPECT_TRUE((*producer)->delivers_acks_while_polling());
  int acked = 0;
  ASSERT_TRUE(
      (*producer)->send("polled", "k", "m0", [&](bool ok, std::string_view) { acked += ok; }).ok());
  EXPECT_EQ((*producer)->in_flight(), 1u);
  for (auto deadline = Clock::now() + std::chrono::seconds(5);
       acked == 0 && Clock::now() < deadline;) {
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(50)).ok());
  }
  EXPECT_EQ(acked, 1);
  EXPECT_EQ((*producer)->in_flight(), 0u);
}

TEST_F(RabbitMqDriverTest, AMessageNoQueueIsBoundForFailsWithTheBrokersReason) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("nobody", 2).ok());  // no group prepared: no queue
  Produced produced = produce(*driver, "nobody", 5, 1);
  EXPECT_EQ(produced.acked, 0);
  EXPECT_EQ(produced.failed, 5);
  EXPECT_NE(produced.last_error.find("NO_ROUTE"), std::string::npos) << produced.last_error;
  bool found = false;
  for (const auto& [name, value] : driver->counters()) {
    if (name == "rabbitmq.returned") {
      found = true;
      EXPECT_EQ(value, 5u);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(RabbitMqDriverTest, ATopicThatWasNeverCreatedIsAnError) {
  auto driver = connected();
  auto producer = driver->make_producer();
  ASSERT_TRUE(producer.ok());
  bool called = false;
  Status sent =
      (*producer)->send("never-created", "", "x", [&](bool, std::string_view) { called = true; });
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().find("topic \"never-created\" does not exist"), std::string::npos)
      << sent.error();
  EXPECT_FALSE(called);
  Status prepared = driver->prepare_consumers({"never-created"}, {"g"});
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(prepared.error().find("does not exist"), std::string::npos) << prepared.error();
  // The producer carries on with topics that exist.
  ASSERT_TRUE(driver->create_topic("created", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"created"}, {"g"}).ok());
  int acked = 0;
  ASSERT_TRUE(
      (*producer)->send("created", "", "x", [&](bool ok, std::string_view) { acked += ok; }).ok());
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(acked, 1);
}

TEST_F(RabbitMqDriverTest, ASubscriptionToQueuesNeverPreparedIsAnError) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("unprepared", 2).ok());
  auto made = driver->make_consumer({"g", 0, 1, {"unprepared"}});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().find("NOT_FOUND"), std::string::npos) << made.error();
  EXPECT_NE(made.error().find("prepare_consumers"), std::string::npos) << made.error();
}

TEST_F(RabbitMqDriverTest, UnacknowledgedDeliveriesComeAgainFlaggedRedelivered) {
  auto driver = connected({{"prefetch", "50"}});
  ASSERT_TRUE(driver->create_topic("again", 1).ok());
  ASSERT_TRUE(driver->prepare_consumers({"again"}, {"g"}).ok());
  {
    // Subscribes and is sent up to 50 deliveries, but never polls: nothing is acknowledged.
    auto first = consumer(*driver, "again", "g");
    EXPECT_EQ(produce(*driver, "again", 20).acked, 20);
    std::this_thread::sleep_for(milliseconds(300));
  }  // its connection closes: RabbitMQ requeues what it had sent to it
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "again", "g"));
  auto received = consume(consumers, 20);
  expect_each_once(received, 20);
  for (const auto& [payload, message] : received) EXPECT_TRUE(message.redelivered) << payload;
}

TEST_F(RabbitMqDriverTest, DeleteTopicRemovesTheExchangeQueuesAndRecords) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("doomed", 3).ok());
  ASSERT_TRUE(driver->prepare_consumers({"doomed"}, {"a", "b"}).ok());
  EXPECT_EQ(produce(*driver, "doomed", 30, 3).acked, 30);
  RawClient raw(node_->port());
  ASSERT_TRUE(raw.ok());
  std::vector<std::string> queues = {rabbitmq_partitions_queue("doomed"),
                                     rabbitmq_groups_queue("doomed")};
  for (const std::string group : {"a", "b"}) {
    for (int p = 0; p < 3; ++p) queues.push_back(rabbitmq_queue_name("doomed", group, p));
  }
  EXPECT_EQ(raw.exchange_check("doomed"), "");
  for (const std::string& queue : queues) EXPECT_EQ(raw.queue_check(queue), "") << queue;

  // Another driver instance (another process, as at teardown) finds everything on the broker.
  auto other = connected();
  ASSERT_TRUE(other->delete_topic("doomed").ok());
  EXPECT_NE(raw.exchange_check("doomed").find("NOT_FOUND"), std::string::npos);
  for (const std::string& queue : queues) {
    EXPECT_NE(raw.queue_check(queue).find("NOT_FOUND"), std::string::npos) << queue;
  }
  // Deleting what is gone is fine.
  EXPECT_TRUE(other->delete_topic("doomed").ok());
}

TEST_F(RabbitMqDriverTest, CreateTopicStartsClean) {
  auto driver = connected();
  ASSERT_TRUE(driver->create_topic("reused", 2).ok());
  ASSERT_TRUE(driver->prepare_consumers({"reused"}, {"g"}).ok());
  EXPECT_EQ(produce(*driver, "reused", 10).acked, 10);
  ASSERT_TRUE(driver->create_topic("reused", 3).ok());
  ASSERT_TRUE(driver->prepare_consumers({"reused"}, {"g"}).ok());
  auto reader = consumer(*driver, "reused", "g");
  EXPECT_EQ(reader->backlog(), std::optional<uint64_t>(0));
  EXPECT_EQ(produce(*driver, "reused", 9, 9).acked, 9);
  std::vector<std::unique_ptr<Consumer>> consumers;
  consumers.push_back(consumer(*driver, "reused", "g"));
  std::set<int> partitions;
  for (const auto& [payload, message] : consume(consumers, 9)) partitions.insert(message.partition);
  EXPECT_EQ(*partitions.rbegin(), 2) << "three partitions now";
}

TEST_F(RabbitMqDriverTest, BadConfigKeysAreReportedWithTheirPath) {
  const DriverInfo* info = systems::find_driver("rabbitmq");
  ASSERT_NE(info, nullptr);
  core::DriverCatalog catalog = systems::driver_catalog();
  EXPECT_NE(std::find(catalog.names.begin(), catalog.names.end(), "rabbitmq"), catalog.names.end());
  auto errors = catalog.validate_config("rabbitmq",
                                        {{"queue_typ", "quorum"},
                                         {"confirm", "maybe"},
                                         {"max_in_flight", "0"},
                                         {"prefetch", "70000"},
                                         {"persistent", "false"}},
                                        "systems[2].config");
  ASSERT_EQ(errors.size(), 4u);
  std::map<std::string, std::string> by_path;
  for (const auto& error : errors) by_path[error.path] = error.message;
  EXPECT_NE(by_path["systems[2].config.queue_typ"].find(
                "unknown key \"queue_typ\" (did you mean \"queue_type\"?); valid keys: "),
            std::string::npos)
      << by_path["systems[2].config.queue_typ"];
  EXPECT_EQ(by_path["systems[2].config.confirm"], "expected one of true, false, got \"maybe\"");
  EXPECT_EQ(by_path["systems[2].config.max_in_flight"],
            "expected an integer from 1 to 1000000, got \"0\"");
  EXPECT_EQ(by_path["systems[2].config.prefetch"],
            "expected an integer from 0 to 65535, got \"70000\"");
  EXPECT_TRUE(catalog
                  .validate_config("rabbitmq",
                                   {{"queue_type", "quorum"},
                                    {"confirm", "false"},
                                    {"auto_ack", "true"},
                                    {"timeout_ms", "500"}},
                                   "c")
                  .empty());
  for (const ConfigKey& key : info->config_keys) {
    EXPECT_TRUE(key.check) << key.name;
    EXPECT_EQ(key.check(key.default_value), "") << key.name;
  }

  RabbitMqDriver driver;
  Status status = driver.connect(Endpoint{{node_->address()}, {}}, {{"queue_type", "stream"}});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), "config.queue_type: expected one of classic, quorum, got \"stream\"");
}

TEST_F(RabbitMqDriverTest, ConnectUsesTheFirstReachableAddressAndReportsBadCredentials) {
  int closed = free_loopback_port();
  RabbitMqDriver driver;
  ASSERT_TRUE(driver
                  .connect(Endpoint{{"127.0.0.1:" + std::to_string(closed), node_->address()}, {}},
                           {{"timeout_ms", "1000"}})
                  .ok());
  ASSERT_TRUE(driver.create_topic("second-address", 1).ok());

  RabbitMqDriver nowhere;
  Status refused = nowhere.connect(Endpoint{{"127.0.0.1:" + std::to_string(closed)}, {}}, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("cannot connect to RabbitMQ at 127.0.0.1:"), std::string::npos)
      << refused.error();

  RabbitMqDriver intruder;
  Status denied = intruder.connect(
      Endpoint{{node_->address()}, {{"username", "guest"}, {"password", "wrong"}}}, {});
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error().find("refused the login of user \"guest\""), std::string::npos)
      << denied.error();
  EXPECT_NE(denied.error().find("ACCESS_REFUSED"), std::string::npos) << denied.error();
}

TEST_F(RabbitMqDriverTest, LoadEngineDeliversEveryMessageExactlyOnce) {
  auto driver = connected({{"max_in_flight", "64"}});
  ASSERT_TRUE(driver->create_topic("engine", 4).ok());
  load::EngineOptions options;
  options.producers = 2;
  options.consumers = 2;
  options.rate = 3000;
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
  EXPECT_GT(delivery.sent, 3000u);
  EXPECT_EQ(delivery.acked, delivery.sent);
  EXPECT_EQ(delivery.received, delivery.sent);
  EXPECT_EQ(delivery.lost, 0u);
  EXPECT_EQ(delivery.undelivered, 0u);
  EXPECT_EQ(delivery.duplicated, 0u);
  EXPECT_EQ(delivery.send_errors, 0u);
  EXPECT_EQ(delivery.corrupt, 0u);
  EXPECT_EQ(delivery.reordered, 0u);
}

// The recipe itself: everything the node writes is inside its dir, and bad server settings are
// refused with the field's path.
TEST(RabbitMqRecipe, EverythingTheNodeWritesIsInItsDir) {
  systems::RecipeContext context;
  context.path_exists = [](const std::string&) { return true; };
  context.list_dir = [](const std::string& dir) {
    return dir == "/usr/lib/rabbitmq/lib"
               ? std::vector<std::string>{"README", "rabbitmq_server-3.10.8"}
               : std::vector<std::string>{};
  };
  const systems::SystemPackage package = systems::rabbitmq_package();
  ASSERT_TRUE(package.local);
  const systems::LocalRecipe& recipe = *package.local;
  EXPECT_EQ(recipe.probe_label(context), "RabbitMQ 3.10.8");
  EXPECT_EQ(recipe.companions, std::vector<std::string>{"epmd"});
  EXPECT_EQ(recipe.default_port, 5672);
  EXPECT_FALSE(recipe.sharded_nodes || recipe.nodes_in_one_process);

  systems::LaunchInput in;
  in.listen_host = "198.18.3.10";  // a host of its own
  in.port = 5672;
  in.control_port = 25672;
  in.dir = "/tmp/dec-data/runs/r1/service.mq.0";
  in.server = {{"vm_memory_high_watermark.relative", "0.6"}};
  in.memory_bytes = 1000;
  in.context = &context;
  auto launch = recipe.launch(in);
  ASSERT_TRUE(launch.ok()) << launch.error();
  const auto& env = launch->environment;
  for (const char* name :
       {"RABBITMQ_MNESIA_BASE", "RABBITMQ_LOG_BASE", "RABBITMQ_CONFIG_FILE",
        "RABBITMQ_ADVANCED_CONFIG_FILE", "RABBITMQ_CONF_ENV_FILE", "RABBITMQ_ENABLED_PLUGINS_FILE",
        "RABBITMQ_FEATURE_FLAGS_FILE", "RABBITMQ_PID_FILE", "HOME"}) {
    ASSERT_TRUE(env.count(name)) << name;
    EXPECT_EQ(env.at(name).rfind(in.dir, 0), 0u) << name << "=" << env.at(name);
  }
  EXPECT_EQ(env.at("RABBITMQ_NODENAME"), systems::rabbitmq_node_name(in.dir));
  EXPECT_NE(systems::rabbitmq_node_name(in.dir), systems::rabbitmq_node_name(in.dir + "x"));
  EXPECT_EQ(env.at("RABBITMQ_NODE_IP_ADDRESS"), "198.18.3.10");
  EXPECT_EQ(env.at("RABBITMQ_NODE_PORT"), "5672");
  EXPECT_EQ(env.at("RABBITMQ_DIST_PORT"), "25672");
  EXPECT_EQ(env.at("ERL_EPMD_PORT"), "4369");  // its own network namespace
  const std::string& conf = launch->files.at("rabbitmq.conf");
  EXPECT_NE(conf.find("\nloopback_users = none\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nvm_memory_high_watermark.relative = 0.6\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nvm_memory_high_watermark.absolute = 400\n"), std::string::npos) << conf;
  EXPECT_EQ(launch->files.at("enabled_plugins"), "[].\n");
  if (::geteuid() == 0) {
    EXPECT_EQ(launch->dir_owner, "rabbitmq");
    EXPECT_EQ(launch->argv.front(), "setpriv");
  }
  EXPECT_EQ(launch->argv.back(), "/usr/lib/rabbitmq/bin/rabbitmq-server");

  // On the machine's loopback the node gets an epmd of its own.
  in.listen_host = "127.0.0.1";
  in.port = 40001;
  in.control_port = 40002;
  auto loopback = recipe.launch(in);
  ASSERT_TRUE(loopback.ok()) << loopback.error();
  EXPECT_NE(loopback->environment.at("ERL_EPMD_PORT"), "4369");

  in.server = {{"log.file.level", "debug\nloopback_users.guest = true"}};
  auto injected = recipe.launch(in);
  ASSERT_FALSE(injected.ok());
  EXPECT_EQ(injected.error().rfind("deploy.server.log.file.level: ", 0), 0u) << injected.error();
  EXPECT_NE(injected.error().find("line break"), std::string::npos) << injected.error();
}

TEST(RabbitMqRecipe, ADataDirTheBrokersUserCannotReachIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "the node changes user only when started as root";
  char dir_template[] = "/tmp/dec-rabbitmq-closed-XXXXXX";  // mkdtemp: mode 0700, owned by root
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string closed = dir_template;
  systems::RecipeContext context;
  context.path_exists = [](const std::string&) { return true; };
  context.list_dir = [](const std::string&) { return std::vector<std::string>{}; };
  systems::LaunchInput in;
  in.listen_host = "127.0.0.1";
  in.port = 40001;
  in.control_port = 40002;
  in.dir = closed + "/runs/r1/service.mq.0";
  in.context = &context;
  auto launch = systems::rabbitmq_package().local->launch(in);
  std::filesystem::remove_all(closed);
  ASSERT_FALSE(launch.ok());
  EXPECT_NE(launch.error().find("cannot enter " + closed + " "), std::string::npos)
      << launch.error();
  EXPECT_NE(launch.error().find("--data-dir"), std::string::npos) << launch.error();
}

// A broker that dies under a producer and a consumer: sends and polls keep returning promptly,
// every message is accounted for through its callback, and nothing of the node is left after.
TEST(RabbitMqBrokerLoss, KilledBrokerFailsMessagesWithoutHanging) {
  auto node = std::make_unique<RabbitNode>();
  ASSERT_TRUE(node->ready()) << node->failure();
  RabbitMqDriver driver;
  ASSERT_TRUE(driver.connect(Endpoint{{node->address()}, {}}, {{"timeout_ms", "2000"}}).ok());
  ASSERT_TRUE(driver.create_topic("victim", 2).ok());
  ASSERT_TRUE(driver.prepare_consumers({"victim"}, {"g"}).ok());
  auto producer = driver.make_producer();
  ASSERT_TRUE(producer.ok());
  auto reader = driver.make_consumer({"g", 0, 1, {"victim"}});
  ASSERT_TRUE(reader.ok());

  int acked = 0;
  int failed = 0;
  std::string error;
  auto callback = [&](bool ok, std::string_view why) {
    ok ? ++acked : ++failed;
    if (!ok) error = std::string(why);
  };
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*producer)->send("victim", "k" + std::to_string(i % 4), "before", callback).ok());
  }
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_EQ(acked, 50);

  const pid_t broker = node->pid();
  node->kill();
  EXPECT_NE(::kill(broker, 0), 0) << "the recorded pid was the broker itself";
  int sent_after = 0;
  Clock::duration longest{};
  const auto until = Clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < 300 && Clock::now() < until; ++i) {
    const auto started = Clock::now();
    Status sent = (*producer)->send("victim", "k" + std::to_string(i % 4), "after", callback);
    EXPECT_TRUE(sent.ok()) << sent.error();
    ++sent_after;
    ASSERT_TRUE((*producer)->poll_acks(milliseconds(1)).ok());
    longest = std::max(longest, Clock::now() - started);
  }
  const auto flush_started = Clock::now();
  ASSERT_TRUE((*producer)->flush().ok());
  EXPECT_LT(Clock::now() - flush_started, std::chrono::seconds(4));
  EXPECT_LT(longest, std::chrono::seconds(4)) << "a send is bounded by timeout_ms";
  EXPECT_EQ((*producer)->in_flight(), 0u);
  EXPECT_EQ(acked, 50) << "nothing is acked after the broker died";
  EXPECT_EQ(failed, sent_after);
  EXPECT_NE(error.find("RabbitMQ connection down"), std::string::npos) << error;

  const auto poll_started = Clock::now();
  auto polled = (*reader)->poll(milliseconds(200), [](const ReceivedMessage&) {});
  EXPECT_TRUE(polled.ok()) << polled.error();
  EXPECT_LT(Clock::now() - poll_started, std::chrono::seconds(3));
  EXPECT_EQ((*reader)->backlog(), std::nullopt) << "cannot tell without a broker";
  bool counted = false;
  for (const auto& [name, value] : driver.counters()) {
    if (name == "rabbitmq.connections_lost") counted = value >= 2;  // producer and consumer
  }
  EXPECT_TRUE(counted);

  // epmd outlived the node; stopping the node's processes by their tag leaves nothing.
  const std::string tag = node->tag();
  const std::string root = node->root();
  auto before = tagged_processes(tag);
  bool epmd = false;
  for (const auto& [pid, command] : before)
    epmd = epmd || command.find("epmd") != std::string::npos;
  EXPECT_TRUE(epmd) << "epmd carries the node's tags";
  producer->reset();
  reader->reset();
  node.reset();
  for (const auto& [pid, command] : tagged_processes(tag)) {
    ADD_FAILURE() << "left running: " << pid << " " << command;
  }
  EXPECT_FALSE(std::filesystem::exists(root));
}

}  // namespace
}  // namespace dec::drivers
