// Several load agents driving one system: the run-length sequence ranges agents report, the
// split of a run over agents, the exact merge of their delivery ledgers (the same counts as one
// engine), and the agents' token, target list and clock over real HTTP in this process.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "load/engine.h"
#include "load/ledger.h"
#include "support/in_process_agent.h"
#include "support/memory_driver.h"
#include "worker/worker.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

load::RangeSet ranges(std::vector<load::SequenceRange> list) {
  auto set = load::RangeSet::from_ranges(std::move(list));
  EXPECT_TRUE(set.ok()) << set.error();
  return set.ok() ? *set : load::RangeSet{};
}

// ---- ranges ----

TEST(RangeSet, RunsOfASequenceSetAcrossWordBoundaries) {
  load::SequenceSet set;
  std::vector<load::SequenceRange> expected = {{0, 3}, {63, 130}, {191, 192}, {200, 256}};
  for (const auto& r : expected) {
    for (uint64_t s = r.first; s < r.end; ++s) set.insert(s);
  }
  const load::RangeSet runs = load::RangeSet::of(set);
  EXPECT_EQ(runs.ranges(), expected);
  EXPECT_EQ(runs.size(), set.size());
  EXPECT_TRUE(load::RangeSet::of(load::SequenceSet{}).ranges().empty());
}

TEST(RangeSet, InsertMergesTouchingRangesAndCountsOverlapAndMissing) {
  load::RangeSet set;
  set.insert(10, 20);
  set.insert(30, 40);
  set.insert(20, 30);  // bridges both
  set.insert(5, 6);
  EXPECT_EQ(set.ranges(), (std::vector<load::SequenceRange>{{5, 6}, {10, 40}}));
  EXPECT_EQ(set.size(), 31u);

  const load::RangeSet other = ranges({{0, 12}, {35, 50}});
  EXPECT_EQ(set.overlap(other), 1u + 2u + 5u);
  EXPECT_EQ(set.count_missing_from(other), 31u - 8u);
  EXPECT_EQ(set.count_missing_from(other, 10, 20), 8u);  // 12..19
  std::vector<uint64_t> missing;
  set.for_each_missing_from(other, 0, 16, [&](uint64_t s) { missing.push_back(s); });
  EXPECT_EQ(missing, (std::vector<uint64_t>{12, 13, 14, 15}));

  load::RangeSet united = set;
  united.insert(other);
  EXPECT_EQ(united.ranges(), (std::vector<load::SequenceRange>{{0, 50}}));
}

TEST(RangeSet, MalformedListsAreRefused) {
  EXPECT_FALSE(load::RangeSet::from_ranges({{5, 5}}).ok());
  EXPECT_FALSE(load::RangeSet::from_ranges({{10, 20}, {0, 5}}).ok());
  EXPECT_FALSE(load::RangeSet::from_ranges({{0, 10}, {10, 20}}).ok()) << "adjacent: not compact";
  EXPECT_TRUE(load::RangeSet::from_ranges({{0, 10}, {11, 20}}).ok());
}

// ---- split ----

TEST(FleetSplit, ProducersConsumersRateAndCapSplitInProportion) {
  load::EngineOptions run;
  run.producers = 5;
  run.consumers = 2;
  run.rate = 1000;
  run.max_messages = 1003;
  auto split = worker::split_engine_options(run, 3);
  ASSERT_TRUE(split.ok()) << split.error();
  ASSERT_EQ(split->size(), 3u);
  std::vector<int> producers;
  std::vector<uint32_t> first_ids;
  int consumers = 0;
  double rate = 0;
  uint64_t cap = 0;
  for (const auto& o : *split) {
    producers.push_back(o.producers);
    first_ids.push_back(o.first_producer_id);
    consumers += o.consumers;
    rate += o.rate;
    cap += o.max_messages;
    EXPECT_EQ(o.total_producers, 5);
    EXPECT_EQ(o.total_consumers, 2);
    EXPECT_DOUBLE_EQ(o.rate, 1000.0 * o.producers / 5) << "the rate follows the producers";
  }
  EXPECT_EQ(producers, (std::vector<int>{2, 2, 1}));
  EXPECT_EQ(first_ids, (std::vector<uint32_t>{0, 2, 4})) << "ids never collide";
  EXPECT_EQ((*split)[0].first_consumer, 0);
  EXPECT_EQ((*split)[1].first_consumer, 1);
  EXPECT_EQ((*split)[2].consumers, 0);
  EXPECT_EQ(consumers, 2);
  EXPECT_DOUBLE_EQ(rate, 1000);
  EXPECT_EQ(cap, 1003u);

  auto one = worker::split_engine_options(run, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_FALSE((*one)[0].shared()) << "one agent runs the workload as it always did";
  EXPECT_EQ((*one)[0].producers, 5);

  auto too_many = worker::split_engine_options(run, 6);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().find("deploy.workers"), std::string::npos) << too_many.error();
  run.backlog_messages = 100;
  EXPECT_FALSE(worker::split_engine_options(run, 2).ok());
}

// ---- ledgers ----

TEST(SharedDelivery, CopiesOnTwoAgentsAreDuplicatesAndMissingAcksAreLost) {
  // Producer 0 on agent A acked 0..99, producer 1 on agent B acked 0..49. Group 0's consumers:
  // A received 0..59 of producer 0 and 0..49 of producer 1; B received 50..89 of producer 0.
  load::DeliveryLedger a;
  a.producers.push_back({.producer_id = 0, .acked = ranges({{0, 100}})});
  a.groups.push_back({.group = 0,
                      .received = {{0, ranges({{0, 60}})}, {1, ranges({{0, 50}})}},
                      .duplicated = 2,
                      .drained = true});
  load::DeliveryLedger b;
  b.producers.push_back({.producer_id = 1, .acked = ranges({{0, 50}})});
  b.groups.push_back(
      {.group = 0, .received = {{0, ranges({{50, 90}})}}, .duplicated = 0, .drained = true});

  const auto counted = load::account_shared_delivery({&a, &b}, 1, true);
  EXPECT_EQ(counted.acked, 150u);
  EXPECT_EQ(counted.received, 90u + 50u);
  EXPECT_EQ(counted.duplicated, 2u + 10u) << "50..59 of producer 0 reached both agents";
  EXPECT_EQ(counted.lost, 10u) << "90..99 of producer 0";
  EXPECT_EQ(counted.undelivered, 0u);

  // An agent's result missing: nothing is proven lost, and what its producer sent is not
  // counted as delivered.
  const auto without_b = load::account_shared_delivery({&a}, 1, false);
  EXPECT_EQ(without_b.received, 60u) << "producer 1's messages have no known acks";
  EXPECT_EQ(without_b.lost, 0u);
  EXPECT_EQ(without_b.undelivered, 40u);
}

// The same workload, faults and all, run by one engine and by three engines sharing the run
// (each with its share of producers and consumers, consumers reading other engines' messages):
// the merged counts equal the single engine's.
TEST(SharedDelivery, ThreeEnginesCountExactlyAsOne) {
  testing::MemoryDriverOptions faults;
  faults.drop_every = 7;
  faults.duplicate_every = 11;
  load::EngineOptions run;
  run.producers = 3;
  run.consumers = 3;
  run.rate = 3000;
  run.duration = 400ms;
  run.drain_timeout = 500ms;
  run.message_size = 64;
  run.max_messages = 900;
  std::atomic<bool> never{false};

  testing::MemoryDriver single_driver(faults);
  run.topics = {"single"};
  ASSERT_TRUE(single_driver.create_topic("single", 6).ok());
  load::Engine single(single_driver, run);
  auto alone = single.run(nullptr, never);
  ASSERT_TRUE(alone.ok()) << alone.error();

  testing::MemoryDriver shared_driver(faults);
  run.topics = {"shared"};
  ASSERT_TRUE(shared_driver.create_topic("shared", 6).ok());
  auto split = worker::split_engine_options(run, 3);
  ASSERT_TRUE(split.ok()) << split.error();
  std::vector<load::EngineResult> parts(3);
  std::vector<std::thread> threads;
  const int64_t start_at =
      load::to_steady_ns(std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
  for (size_t i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      testing::MemoryDriver driver = shared_driver;  // the same topics
      load::EngineOptions options = (*split)[i];
      options.start_at_steady_ns = start_at;
      load::Engine engine(driver, options);
      auto result = engine.run(nullptr, never);
      ASSERT_TRUE(result.ok()) << result.error();
      parts[i] = std::move(*result);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& part : parts) ASSERT_FALSE(part.ledger.empty());
  const load::EngineResult merged = worker::merge_results(parts);

  const load::DeliveryCounts& one = alone->delivery;
  const load::DeliveryCounts& many = merged.delivery;
  EXPECT_EQ(one.sent, 900u);
  EXPECT_GT(one.lost, 0u);
  EXPECT_GT(one.duplicated, 0u);
  EXPECT_EQ(many.sent, one.sent);
  EXPECT_EQ(many.acked, one.acked);
  EXPECT_EQ(many.received, one.received);
  EXPECT_EQ(many.lost, one.lost);
  EXPECT_EQ(many.undelivered, one.undelivered);
  EXPECT_EQ(many.duplicated, one.duplicated);
  EXPECT_EQ(many.corrupt, 0u);
  EXPECT_EQ(merged.window.received, alone->window.received);
  EXPECT_EQ(merged.window.lost, alone->window.lost);
  EXPECT_EQ(merged.censored_end_to_end, alone->censored_end_to_end);
  EXPECT_EQ(merged.end_to_end_latency.count(), alone->end_to_end_latency.count());
  EXPECT_TRUE(merged.ledger.empty()) << "ledgers are for the merge, not for the stored result";
}

// ---- the agent over HTTP ----

class SecuredAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-fleet-unit-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_TRUE(memory_.create_topic("f-0", 2).ok());
    drivers::DriverInfo memory;
    memory.name = "memory";
    memory.create = [shared = memory_] { return std::make_unique<testing::MemoryDriver>(shared); };
    worker::AgentOptions options;
    options.ready_file = (dir_ / "ready").string();
    options.drivers = {memory};
    options.token = kToken;
    options.allowed_targets = {"198.18.0.0/24", "memory:1"};
    port_ = testing::start_in_process_agent(options, agent_, &exit_code_);
    ASSERT_GT(port_, 0) << "the agent never wrote a loopback address to its ready file";
  }
  void TearDown() override {
    if (agent_.joinable()) {
      (void)worker::WorkerClient("127.0.0.1", port_, kToken).shutdown();
      agent_.join();
    }
    fs::remove_all(dir_);
  }
  httplib::Client http() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    return c;
  }
  worker::WorkRequest request(const std::string& address) {
    worker::WorkRequest r;
    r.driver = "memory";
    r.addresses = {address};
    r.engine.producers = 1;
    r.engine.rate = 500;
    r.engine.duration = 200ms;
    r.engine.drain_timeout = 1s;
    r.engine.message_size = 64;
    r.engine.topics = {"f-0"};
    return r;
  }

  static constexpr const char* kToken = "0123456789abcdef-token";
  fs::path dir_;
  testing::MemoryDriver memory_;
  std::thread agent_;
  int exit_code_ = -1;
  int port_ = 0;
};

TEST_F(SecuredAgent, EveryRouteButHealthNeedsTheToken) {
  auto health = http().Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* path : {"/v1/status", "/v1/result", "/v1/clock"}) {
    auto bare = http().Get(path);
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->status, 401) << path << " without a token";
    EXPECT_EQ(bare->body.find(kToken), std::string::npos);
    auto wrong = http().Get(path, {{"Authorization", "Bearer 0123456789abcdef-tokeN"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path << " with a wrong token";
    auto right = http().Get(path, {{"Authorization", std::string("Bearer ") + kToken}});
    ASSERT_TRUE(right);
    EXPECT_NE(right->status, 401) << path << " with the token";
  }
  auto run =
      http().Post("/v1/run", worker::work_request_to_json(request("memory:1")), "application/json");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 401);
  auto shutdown = http().Post("/v1/shutdown");
  ASSERT_TRUE(shutdown);
  EXPECT_EQ(shutdown->status, 401) << "nobody without the token stops the agent";
  EXPECT_FALSE(worker::WorkerClient("127.0.0.1", port_).status().ok());
  EXPECT_TRUE(worker::WorkerClient("127.0.0.1", port_, kToken).status().ok());
}

TEST_F(SecuredAgent, RequestsAimedElsewhereThanTheAllowedTargetsAreRefused) {
  worker::WorkerClient client("127.0.0.1", port_, kToken);
  const Status elsewhere = client.start(request("10.1.2.3:6379"));
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_NE(elsewhere.error().find("403"), std::string::npos) << elsewhere.error();
  EXPECT_NE(elsewhere.error().find("addresses[0]"), std::string::npos) << elsewhere.error();
  std::atomic<bool> never{false};
  auto allowed = client.run(request("memory:1"), nullptr, never);
  ASSERT_TRUE(allowed.ok()) << allowed.error();
  EXPECT_GT(allowed->engine.delivery.acked, 0u);
}

TEST_F(SecuredAgent, ClockOffsetOnOneMachineIsWithinItsUncertainty) {
  worker::WorkerClient client("127.0.0.1", port_, kToken);
  auto clock = client.clock_offset(8);
  ASSERT_TRUE(clock.ok()) << clock.error();
  EXPECT_EQ(clock->samples, 8);
  EXPECT_GT(clock->uncertainty_ns, 0);
  EXPECT_LT(clock->uncertainty_ns, 50'000'000) << "loopback round trips take well under 100 ms";
  // One clock on both sides: the offset is at most the uncertainty (plus rounding).
  EXPECT_LE(std::llabs(clock->offset_ns), clock->uncertainty_ns + 1'000);
}

TEST(AllowedTargets, HostsPortsAndBlocks) {
  const std::vector<std::string> allowed = {"198.18.4.0/24", "broker:9092", "127.0.0.1"};
  EXPECT_TRUE(worker::target_allowed("198.18.4.10:6379", allowed));
  EXPECT_FALSE(worker::target_allowed("198.18.5.10:6379", allowed));
  EXPECT_TRUE(worker::target_allowed("broker:9092", allowed));
  EXPECT_FALSE(worker::target_allowed("broker:9093", allowed));
  EXPECT_TRUE(worker::target_allowed("127.0.0.1:4000", allowed));
  EXPECT_TRUE(worker::target_allowed("anything:1", {}));
  EXPECT_TRUE(worker::check_allowed_target("10.0.0.0/8").ok());
  EXPECT_FALSE(worker::check_allowed_target("10.0.0.0/33").ok());
  EXPECT_FALSE(worker::check_allowed_target("").ok());
  EXPECT_FALSE(worker::check_allowed_target("host:x").ok());
}

}  // namespace
}  // namespace dec
