// The driver conformance suite: every system registered in systems/registry.cpp, in every local
// variant, is deployed by the local provider from its package's recipe (a real broker, or the
// labelled stand-in) and put through the same checks: config errors with field paths, topic
// lifecycle, keyed produce/consume with content verification, two groups each getting
// everything, a group's members sharing the work without duplicates, per-key order as each
// consumer sees it, the backlog at the end, a killed node that makes sends fail instead of hang,
// and nothing left afterwards. A new system gets all of this by registering its package.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "drivers/driver.h"
#include "infra/executor.h"
#include "infra/local_provider.h"
#include "infra/resource.h"
#include "support/data_dir_test.h"
#include "systems/registry.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Variant {
  std::string driver;
  std::string variant;  // "" = the package's default recipe
  std::string name() const { return variant.empty() ? driver : driver + "_" + variant; }
};

void PrintTo(const Variant& v, std::ostream* out) { *out << v.name(); }

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (const auto& system : systems::all_systems()) {
    if (system.local) out.push_back({system.driver.name, ""});
    for (const auto& [name, recipe] : system.local_variants) {
      out.push_back({system.driver.name, name});
    }
  }
  return out;
}

// A message's identity travels in its payload: key, sequence number per key, then filler.
std::string payload_for(const std::string& key, int sequence) {
  return key + "|" + std::to_string(sequence) + "|" + std::string(64, 'x');
}

struct Seen {
  std::map<std::string, int> count;  // payload -> deliveries (redeliveries excluded)
  int redelivered = 0;
  int out_of_order = 0;
  std::string first_disorder;
  std::map<std::string, int> last;  // key -> highest sequence number seen
};

class Conformance : public testing::DataDirTest, public ::testing::WithParamInterface<Variant> {
 protected:
  Conformance() : DataDirTest("dec-conformance") {}

  void SetUp() override {
    const Variant& v = GetParam();
    if (v.driver == "kafka" && v.variant.empty() &&
        !fs::exists(std::string(DEC_SOURCE_DIR) + "/tools/kafka/lib")) {
      GTEST_SKIP() << "Apache Kafka not installed (tools/kafka/lib): run scripts/setup";
    }
    DataDirTest::SetUp();
    infra::ProviderContext pc;
    pc.env = &env_;
    pc.data_dir = data_dir_;
    pc.installation = installation_;
    pc.tools_dir = std::string(DEC_SOURCE_DIR) + "/tools";
    pc.dec_binary = DEC_BINARY;
    local_ = std::make_unique<infra::LocalProvider>(pc);
  }

  void TearDown() override {
    driver_.reset();
    if (local_ && file_) (void)infra::destroy_run(*local_, state_, *file_, nullptr);
    DataDirTest::TearDown();
  }

  // Deploys one node of the system with the topic `topic` (2 partitions); connects the driver.
  void deploy(const std::string& topic) {
    const Variant& v = GetParam();
    core::System system;
    system.name = "conf";
    system.driver = v.driver;
    system.deploy.provider = "local";
    system.deploy.nodes = 1;
    if (!v.variant.empty()) system.deploy.settings[v.driver] = v.variant;
    infra::DeployRequest request;
    request.run_id = "conformance.conf";
    request.topics = {topic};
    request.partitions = 2;
    request.workers = false;
    auto resources = local_->resources_for(system, request);
    ASSERT_TRUE(resources.ok()) << resources.error();
    state_.run_id = request.run_id;
    state_.provider = "local";
    state_.installation = installation_;
    file_ = std::make_unique<infra::StateFile>(env_, infra::state_path(data_dir_, state_.run_id));
    auto plan = infra::plan_changes(*resources, state_);
    ASSERT_TRUE(plan.ok()) << plan.error();
    Status applied = infra::apply_plan(*local_, *plan, state_, *file_, nullptr);
    ASSERT_TRUE(applied) << applied.error();
    auto endpoint = local_->endpoint(state_);
    ASSERT_TRUE(endpoint.ok()) << endpoint.error();
    endpoint_ = *endpoint;
    EXPECT_FALSE(endpoint_.label.empty()) << "results must say what served them";
    driver_ = systems::find_driver(v.driver)->create();
    Status connected = driver_->connect({endpoint_.addresses, endpoint_.properties}, {});
    ASSERT_TRUE(connected) << connected.error();
    EXPECT_EQ(endpoint_.emulated || driver_->emulated(),
              !v.variant.empty() || v.driver == "kinesis")
        << "only stand-ins are labelled emulated";
  }

  std::unique_ptr<drivers::Consumer> consumer(const std::string& topic, const std::string& group,
                                              int member, int members) {
    drivers::ConsumerOptions options;
    options.group = group;
    options.member_index = member;
    options.group_size = members;
    options.topics = {topic};
    auto made = driver_->make_consumer(options);
    EXPECT_TRUE(made.ok()) << made.error();
    return made.ok() ? std::move(*made) : nullptr;
  }

  // Polls every consumer until all are ready (their group joins done), bounded.
  void wait_ready(std::vector<drivers::Consumer*> consumers, std::vector<Seen*> seen) {
    auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
      bool all = true;
      for (size_t i = 0; i < consumers.size(); ++i) {
        if (consumers[i]->ready()) continue;
        all = false;
        (void)consumers[i]->poll(50ms,
                                 [&](const drivers::ReceivedMessage& m) { record(*seen[i], m); });
      }
      if (all) return;
    }
    FAIL() << "consumers not ready within 60 s";
  }

  static void record(Seen& seen, const drivers::ReceivedMessage& m) {
    if (m.redelivered) {
      ++seen.redelivered;
      return;
    }
    std::string payload(m.payload);
    ++seen.count[payload];
    // Per key, the sequence numbers one consumer sees must rise.
    size_t bar = payload.find('|');
    std::string key = payload.substr(0, bar);
    int sequence = std::stoi(payload.substr(bar + 1));
    auto [it, inserted] = seen.last.try_emplace(key, sequence);
    if (!inserted) {
      if (sequence <= it->second && seen.out_of_order++ == 0) {
        seen.first_disorder =
            key + ": " + std::to_string(sequence) + " after " + std::to_string(it->second);
      }
      it->second = std::max(it->second, sequence);
    }
  }

  // Sends `per_key` messages for each of `keys` keys; returns the payloads acknowledged.
  std::set<std::string> produce(const std::string& topic, int keys, int per_key) {
    auto producer = driver_->make_producer();
    EXPECT_TRUE(producer.ok()) << producer.error();
    std::set<std::string> acked;
    if (!producer.ok()) return acked;
    int failed = 0;
    std::string first_failure;
    for (int s = 0; s < per_key; ++s) {
      for (int k = 0; k < keys; ++k) {
        std::string key = "key-" + std::to_string(k);
        std::string payload = payload_for(key, s);
        Status sent =
            (*producer)->send(topic, key, payload, [&, payload](bool ok, std::string_view error) {
              if (ok) {
                acked.insert(payload);
              } else if (failed++ == 0) {
                first_failure = std::string(error);
              }
            });
        EXPECT_TRUE(sent) << sent.error();
      }
    }
    Status flushed = (*producer)->flush();
    EXPECT_TRUE(flushed) << flushed.error();
    EXPECT_EQ(failed, 0) << first_failure;
    return acked;
  }

  // Polls the consumers until `want` distinct payloads arrived over all of them, bounded.
  void consume(std::vector<drivers::Consumer*> consumers, std::vector<Seen*> seen, size_t want) {
    auto deadline = Clock::now() + 60s;
    auto distinct = [&] {
      std::set<std::string> all;
      for (Seen* s : seen) {
        for (const auto& [payload, n] : s->count) all.insert(payload);
      }
      return all.size();
    };
    while (distinct() < want && Clock::now() < deadline) {
      for (size_t i = 0; i < consumers.size(); ++i) {
        auto polled = consumers[i]->poll(
            20ms, [&](const drivers::ReceivedMessage& m) { record(*seen[i], m); });
        ASSERT_TRUE(polled.ok()) << polled.error();
      }
    }
    EXPECT_EQ(distinct(), want) << "not every acknowledged message arrived within 60 s";
  }

  std::unique_ptr<infra::LocalProvider> local_;
  infra::RunState state_;
  std::unique_ptr<infra::StateFile> file_;
  infra::ServiceEndpoint endpoint_;
  std::unique_ptr<drivers::Driver> driver_;
};

TEST_P(Conformance, ConfigErrorsNameTheField) {
  const drivers::DriverInfo* info = systems::find_driver(GetParam().driver);
  ASSERT_NE(info, nullptr);
  auto errors =
      drivers::validate_driver_config(*info, {{"no_such_key_at_all", "1"}}, "systems[0].config");
  ASSERT_EQ(errors.size(), 1u) << "an unknown key must be refused";
  EXPECT_EQ(errors[0].path, "systems[0].config.no_such_key_at_all");
  // Every key's default passes the key's own check, and the mapped client keys exist.
  for (const auto& key : info->config_keys) {
    // Defaults that describe a rule rather than a value ("min(3, brokers)") are not checked.
    const bool literal = key.default_value.find_first_of(" (") == std::string::npos;
    if (key.check && literal && !key.default_value.empty()) {
      EXPECT_EQ(key.check(key.default_value), "") << key.name << " default " << key.default_value;
    }
  }
  EXPECT_FALSE(info->description.empty());
}

TEST_P(Conformance, DeliversEverythingToEveryGroupInKeyOrderAndLeavesNothing) {
  const std::string topic = "conformance-main";
  ASSERT_NO_FATAL_FAILURE(deploy(topic));

  // Topic lifecycle beside the deployment's own topic.
  const std::string extra = "conformance-extra";
  Status created = driver_->create_topic(extra, 2);
  ASSERT_TRUE(created) << created.error();

  Status prepared = driver_->prepare_consumers({topic}, {"g1", "g2"});
  ASSERT_TRUE(prepared) << prepared.error();
  auto a = consumer(topic, "g1", 0, 2);
  auto b = consumer(topic, "g1", 1, 2);
  auto c = consumer(topic, "g2", 0, 1);
  ASSERT_TRUE(a && b && c);
  Seen sa, sb, sc;
  ASSERT_NO_FATAL_FAILURE(wait_ready({a.get(), b.get(), c.get()}, {&sa, &sb, &sc}));

  const int keys = 8;
  const int per_key = 50;
  std::set<std::string> acked = produce(topic, keys, per_key);
  ASSERT_EQ(acked.size(), static_cast<size_t>(keys * per_key));

  ASSERT_NO_FATAL_FAILURE(consume({a.get(), b.get()}, {&sa, &sb}, acked.size()));
  ASSERT_NO_FATAL_FAILURE(consume({c.get()}, {&sc}, acked.size()));
  // A little longer: a duplicate would arrive now.
  for (int i = 0; i < 5; ++i) {
    for (auto [consumer, seen] : {std::pair{a.get(), &sa}, {b.get(), &sb}, {c.get(), &sc}}) {
      (void)consumer->poll(20ms, [&](const drivers::ReceivedMessage& m) { record(*seen, m); });
    }
  }

  // Content: exactly what was acknowledged, each once per group.
  for (const auto& [group, members] :
       std::vector<std::pair<std::string, std::vector<Seen*>>>{{"g1", {&sa, &sb}}, {"g2", {&sc}}}) {
    std::map<std::string, int> total;
    for (Seen* s : members) {
      for (const auto& [payload, n] : s->count) total[payload] += n;
    }
    int duplicates = 0;
    for (const auto& [payload, n] : total) {
      EXPECT_TRUE(acked.count(payload)) << group << " got a message nobody sent: " << payload;
      duplicates += n - 1;
    }
    EXPECT_EQ(duplicates, 0) << group << " received copies";
    EXPECT_EQ(total.size(), acked.size()) << group;
  }
  // The group's two members shared the work without duplicates (above); how the system spread
  // it between them is its own business (a late rebalance may leave one member idle), so only
  // order is checked per member: each saw its keys in order.
  std::cout << GetParam().name() << ": group g1 split " << sa.count.size() << " / "
            << sb.count.size() << "\n";
  for (Seen* s : {&sa, &sb, &sc}) EXPECT_EQ(s->out_of_order, 0) << s->first_disorder;

  // Nothing left to deliver: the backlog is 0 where the system can tell.
  for (auto* member : {a.get(), b.get(), c.get()}) {
    if (auto backlog = member->backlog()) {
      EXPECT_EQ(*backlog, 0u);
    }
  }

  Status deleted = driver_->delete_topic(extra);
  EXPECT_TRUE(deleted) << deleted.error();
  a.reset();
  b.reset();
  c.reset();

  // A killed node: sends end in errors or failed acks within a bound, never a hang.
  core::Fault kill;
  kill.action = "kill";
  kill.target = 0;
  Status killed = local_->inject_fault(state_, kill);
  if (killed) {
    auto producer = driver_->make_producer();
    if (producer.ok()) {
      auto start = Clock::now();
      int answered = 0;
      int refused = 0;
      for (int i = 0; i < 20 && Clock::now() - start < 30s; ++i) {
        Status sent = (*producer)->send(topic, "k", payload_for("k", i),
                                        [&](bool ok, std::string_view) { answered += ok ? 1 : 0; });
        if (!sent) ++refused;
      }
      (void)(*producer)->flush();
      EXPECT_LT(Clock::now() - start, 120s) << "sending to a dead node must not hang";
      EXPECT_EQ(answered, 0) << "a dead node acknowledged messages";
    }
  } else {
    // Only the mock cluster may refuse `kill` (its brokers share one process), and it says why.
    EXPECT_EQ(GetParam().variant, "mock") << killed.error();
  }

  driver_.reset();
  Status destroyed = infra::destroy_run(*local_, state_, *file_, nullptr);
  ASSERT_TRUE(destroyed) << destroyed.error();
  file_.reset();
  for (const auto& d : provider().discover()) ADD_FAILURE() << "left behind: " << d.description;
  for (const auto& process : env_.processes()) {
    auto tag = process.dec_tags.find("DEC_INSTALLATION");
    if (tag != process.dec_tags.end() && tag->second == installation_) {
      ADD_FAILURE() << "process left behind: " << process.command;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EverySystem, Conformance, ::testing::ValuesIn(all_variants()),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace dec
