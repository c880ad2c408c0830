// End-to-end: the real dec binary runs real redis-servers, and whatever happens (success,
// Ctrl-C, kill -9 followed by reconcile, a crash after any state write) nothing is left:
// no tagged process, no open port, no state file, no data directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/spec_parser.h"
#include "infra/env.h"
#include "infra/executor.h"
#include "infra/local_provider.h"
#include "infra/reconcile.h"
#include "infra/resource.h"
#include "orchestrator/runner.h"
#include "support/data_dir_test.h"
#include "support/fault_env.h"
#include "support/subprocess.h"
#include "systems/registry.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kSpec = R"(name: lifecycle
workload:
  message_size: 200B
  producers: 2
  consumers: 2
  rate: 4k/s
  warmup: 1s
  duration: DURATION
systems:
  - name: plain
    driver: redis
    config: {pipeline: 8}
  - name: aof
    driver: redis
    config: {pipeline: 8}
    deploy:
      provider: local
      server: {appendonly: "yes", appendfsync: everysec}
)";

class CliLifecycle : public testing::DataDirTest {
 protected:
  CliLifecycle() : DataDirTest("dec-cli"), zombies_before_(orphaned_zombies()) {}

  std::string write_spec(const std::string& duration) {
    std::string text = kSpec;
    text.replace(text.find("DURATION"), 8, duration);
    std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  std::vector<infra::DiscoveredResource> our_processes() {
    std::vector<infra::DiscoveredResource> ours;
    for (const auto& p : provider().discover()) {
      if (p.outputs.at("kind") == "process") ours.push_back(p);
    }
    return ours;
  }

  // Waits until some run's state records a created service; returns its record.
  std::optional<infra::ResourceRecord> wait_for_created_service(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& run : infra::recorded_runs(env_, data_dir_)) {
        infra::StateFile file(env_, infra::state_path(data_dir_, run));
        auto state = file.load();
        if (!state) continue;
        for (const auto& r : state->resources) {
          if (r.resource.type == "service" && r.status == "created" && r.outputs.count("pid")) {
            return r;
          }
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }

  // `addresses` are "host:port" of services that must no longer answer.
  // `dec_lived`: the dec that started the run lived to tear it down (not SIGKILLed), so every
  // zombie of the run was its to reap.
  void expect_nothing_left(const std::vector<std::string>& addresses, bool dec_lived = true) {
    EXPECT_TRUE(our_processes().empty()) << "a tagged process survived";
    EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty()) << "a state file survived";
    auto runs = data_dir_ + "/runs";
    EXPECT_TRUE(!fs::exists(runs) || fs::is_empty(runs)) << "a data directory survived";
    for (const auto& address : addresses) {
      // Only loopback is probed: a host's address has no route once its bridge is gone.
      if (address.rfind("127.", 0) != 0) continue;
      auto colon = address.rfind(':');
      EXPECT_FALSE(
          env_.tcp_port_open(address.substr(0, colon), std::stoi(address.substr(colon + 1))))
          << address;
    }
    // Hosts: no namespace, link or cgroup of this data dir either.
    for (const auto& d : provider().discover()) {
      EXPECT_EQ(d.outputs.at("kind"), "process") << "left behind: " << d.description;
    }
    // No zombie of a run: dec reaps its brokers and their orphaned children before it exits;
    // what it missed would now be init's, a zombie until init gets to it.
    // (A SIGKILLed dec's brokers are init's children: only init can reap them, unless
    // `dec serve` is itself PID 1, where its reaper does.)
    if (dec_lived) {
      std::string left;
      std::istringstream lines(orphaned_zombies());
      for (std::string line; std::getline(lines, line);) {
        if (zombies_before_.find(line) == std::string::npos) left += line + "\n";
      }
      EXPECT_EQ(left, "") << "zombies left to init";
    }
  }

  const std::string zombies_before_;  // someone else's, there before the test

  // Zombies whose parent is init and whose name is one of the processes a run starts.
  static std::string orphaned_zombies() {
    std::string found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const auto open = line.find('(');
      const auto close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      const std::string comm = line.substr(open + 1, close - open - 1);
      std::istringstream rest(line.substr(close + 1));
      char state = 0;
      int ppid = 0;
      rest >> state >> ppid;
      if (state != 'Z' || ppid != 1) continue;
      for (const char* started : {"redis-server", "dec", "java", "sh", "node", "sleep"}) {
        if (comm == started) found += name + " " + comm + "\n";
      }
    }
    return found;
  }

  // Starts a long run, sends `sig` once the workload runs, and checks the run tore down.
  void stop_with_signal(int sig) {
    std::string spec = write_spec("60s");
    auto child = testing::start(dec({"run", spec}), (dir_ / "run.log").string());
    auto service = wait_for_created_service(30s);
    ASSERT_TRUE(service.has_value()) << child.output();
    std::string address = service->outputs.at("address");
    std::this_thread::sleep_for(1500ms);  // into the workload
    ASSERT_EQ(kill(child.pid, sig), 0);
    int code = testing::wait_exit(child, 60s);
    EXPECT_EQ(code, 130) << child.output();
    EXPECT_NE(child.output().find("infrastructure destroyed"), std::string::npos) << child.output();
    expect_nothing_left({address});
    // The experiment is recorded as cancelled.
    testing::run(dec({"results", "list"}), (dir_ / "list.log").string());
    std::ifstream in(dir_ / "list.log");
    std::string list((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(list.find("cancelled"), std::string::npos) << list;
  }
};

constexpr const char* kSweepSpec = R"(name: sweep
workload: {message_size: 200B, producers: 1, consumers: 1, rate: 2k/s, warmup: 0s, duration: 1s}
systems:
  - {name: a, driver: redis, config: {pipeline: 8}, deploy: {settings: {hosts: "false"}}}
  - {name: b, driver: redis, config: {pipeline: 8}, deploy: {settings: {hosts: "false"}}}
matrix:
  systems[b].config.pipeline: [1, 16]
repeats: 2
)";

TEST_F(CliLifecycle, SweepRunsEveryPointAndRepeatInterleavedWithStatistics) {
  const std::string spec = (dir_ / "sweep.yaml").string();
  std::ofstream(spec) << kSweepSpec;
  ASSERT_EQ(testing::run(dec({"plan", spec}), (dir_ / "plan.log").string(), 60s), 0);
  std::ifstream plan_file(dir_ / "plan.log");
  const std::string plan((std::istreambuf_iterator<char>(plan_file)), {});
  EXPECT_NE(plan.find("2 points × 2 repeats × 2 systems = 8 runs, about 48 s"), std::string::npos)
      << plan;
  // Two systems interleave: keeping one's brokers up while the other is measured would share
  // the machine, so nothing is reused.
  EXPECT_NE(plan.find("b: same infrastructure as point 0, recreated: other systems run in between"),
            std::string::npos)
      << plan;
  EXPECT_NE(plan.find("0 of 8 runs reuse the infrastructure"), std::string::npos) << plan;

  const std::string out = (dir_ / "sweep.json").string();
  const int code =
      testing::run(dec({"run", spec, "--out", out}), (dir_ / "sweep.log").string(), 240s);
  std::ifstream log_file(dir_ / "sweep.log");
  const std::string log((std::istreambuf_iterator<char>(log_file)), {});
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("8 runs"), std::string::npos) << log;
  // The sweep table: one column per point and system, means ± intervals, verdicts.
  EXPECT_NE(log.find("Sweep: 2 points × 2 repeats × 2 systems = 8 runs (8 succeeded)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("p1 b"), std::string::npos) << log;
  EXPECT_NE(log.find(" ± "), std::string::npos) << log;
  EXPECT_NE(log.find("Comparisons (Welch's t-test"), std::string::npos) << log;
  EXPECT_NE(log.find("b p0 vs p1, consumed msg/s: "), std::string::npos) << log;

  std::ifstream in(out);
  const auto doc = nlohmann::json::parse(in);
  const std::string id = doc["id"];
  ASSERT_EQ(doc["points"].size(), 2u);
  EXPECT_EQ(doc["points"][1]["values"]["systems[b].config.pipeline"], "16");
  EXPECT_EQ(doc["repeats"], 2);
  ASSERT_EQ(doc["runs"].size(), 8u);
  std::vector<std::string> order;
  for (const auto& run : doc["runs"]) {
    EXPECT_EQ(run["status"], "succeeded") << run["error"];
    EXPECT_EQ(run["delivery"]["lost"], 0);
    order.push_back(run["run_id"].get<std::string>().substr(id.size() + 1));
    const std::string expected_id = id + ".p" + std::to_string(run["point"].get<int>()) + ".r" +
                                    std::to_string(run["repeat"].get<int>()) + "." +
                                    run["system"].get<std::string>();
    EXPECT_EQ(run["run_id"], expected_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"p0.r0.a", "p0.r0.b", "p0.r1.a", "p0.r1.b", "p1.r0.a",
                                             "p1.r0.b", "p1.r1.a", "p1.r1.b"}));
  EXPECT_EQ(doc["runs"][5]["config"]["pipeline"], "16");
  ASSERT_EQ(doc["stats"].size(), 4u);
  for (const auto& group : doc["stats"]) {
    const auto& consumed = group["metrics"]["consumed_msgs_per_s"];
    EXPECT_EQ(consumed["n"], 2);
    EXPECT_TRUE(consumed["ci95"].is_number()) << group.dump();
  }
  EXPECT_FALSE(doc["comparisons"].empty());
  expect_nothing_left({});
}

// One system: consecutive runs with equal infrastructure run on the same brokers (fresh topics),
// a changed deploy field recreates it, and a run never sees another's messages.
TEST_F(CliLifecycle, SweepReusesInfrastructureOnlyWhereItIsEqual) {
  const std::string spec = (dir_ / "reuse.yaml").string();
  std::ofstream(spec) << R"(
name: reuse
workload: {rate: 2000, duration: 1s, warmup: 0s, message_size: 100B}
systems:
  - {name: r, driver: redis}
matrix:
  systems[r].deploy.server.hz: ["10", "20"]
  workload.message_size: [100B, 200B]
)";
  ASSERT_EQ(testing::run(dec({"plan", spec}), (dir_ / "plan.log").string(), 60s), 0);
  std::ifstream plan_file(dir_ / "plan.log");
  const std::string plan((std::istreambuf_iterator<char>(plan_file)), {});
  EXPECT_NE(plan.find("r: reuses point 0's infrastructure"), std::string::npos) << plan;
  EXPECT_NE(plan.find("r: recreated: deploy.server.hz changed"), std::string::npos) << plan;
  EXPECT_NE(plan.find("2 of 4 runs reuse the infrastructure"), std::string::npos) << plan;

  const std::string out = (dir_ / "reuse.json").string();
  const int code =
      testing::run(dec({"run", spec, "--out", out}), (dir_ / "reuse.log").string(), 240s);
  std::ifstream log_file(dir_ / "reuse.log");
  const std::string log((std::istreambuf_iterator<char>(log_file)), {});
  ASSERT_EQ(code, 0) << log;
  std::ifstream in(out);
  const auto doc = nlohmann::json::parse(in);
  const std::string id = doc["id"];
  ASSERT_EQ(doc["runs"].size(), 4u);
  std::vector<std::string> from;
  for (const auto& run : doc["runs"]) {
    EXPECT_EQ(run["status"], "succeeded") << run["error"];
    EXPECT_EQ(run["delivery"]["lost"], 0);
    EXPECT_EQ(run["delivery"]["corrupt"], 0);  // nothing of the run before it
    EXPECT_EQ(run["delivery"]["received"], run["delivery"]["sent"]);
    from.push_back(run.value("infrastructure_from", std::string()));
  }
  EXPECT_EQ(from, (std::vector<std::string>{"", id + ".p0.r0.r", "", id + ".p2.r0.r"}));
  // Two sets of brokers created and destroyed, not four.
  size_t created = 0;
  for (size_t at = log.find("created service.r.0"); at != std::string::npos;
       at = log.find("created service.r.0", at + 1)) {
    ++created;
  }
  EXPECT_EQ(created, 2u) << log;
  expect_nothing_left({});
}

TEST_F(CliLifecycle, RunComparesTwoRedisConfigurationsAndCleansUp) {
  std::string spec = write_spec("2s");
  std::string out = (dir_ / "results.json").string();
  int code = testing::run(dec({"run", spec, "--out", out}), (dir_ / "run.log").string(), 120s);
  std::ifstream log_file(dir_ / "run.log");
  std::string log((std::istreambuf_iterator<char>(log_file)), {});
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("latency p99"), std::string::npos) << log;
  EXPECT_NE(log.find("plain"), std::string::npos);

  std::ifstream in(out);
  auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (const auto& run : doc["runs"]) {
    SCOPED_TRACE(run["system"].get<std::string>());
    EXPECT_EQ(run["status"], "succeeded") << run["error"];
    EXPECT_FALSE(run["emulated"].get<bool>());
    const auto& d = run["delivery"];
    EXPECT_GT(d["sent"].get<uint64_t>(), 4000u);
    EXPECT_EQ(d["sent"], d["acked"]);
    EXPECT_EQ(d["sent"], d["received"]);
    EXPECT_EQ(d["lost"], 0);
    EXPECT_EQ(d["duplicated"], 0);
    EXPECT_GT(run["throughput"]["produced_msgs_per_s"].get<double>(), 1000);
    EXPECT_GT(run["latency_us"]["p50"].get<double>(), 0);
    for (const char* phase : {"provision", "deploy", "run", "destroy"}) {
      EXPECT_TRUE(run["phases_s"].contains(phase)) << phase;
    }
  }
  expect_nothing_left({});

  // The results were stored and can be shown again.
  std::string id = doc["id"];
  EXPECT_EQ(testing::run(dec({"results", "show", id.substr(0, 17)}), (dir_ / "show.log").string()),
            0);
  std::ifstream show(dir_ / "show.log");
  std::string shown((std::istreambuf_iterator<char>(show)), {});
  EXPECT_NE(shown.find("succeeded"), std::string::npos) << shown;
  EXPECT_NE(shown.find("aof"), std::string::npos) << shown;
}

TEST_F(CliLifecycle, KafkaMockAndKinesaliteRunEmulatedAndLeaveNothing) {
  if (!fs::exists(std::string(DEC_SOURCE_DIR) + "/tools/node_modules/kinesalite")) {
    GTEST_SKIP() << "kinesalite not installed: run scripts/setup";
  }
  std::string path = (dir_ / "cloud.yaml").string();
  std::ofstream(path) << R"(name: cloud
workload: {message_size: 256B, producers: 2, consumers: 2, rate: 500/s, warmup: 1s,
           duration: 2s, drain_timeout: 30s, partitions: 2, keys: 8}
systems:
  - {name: kafka, driver: kafka, config: {acks: all},
     deploy: {provider: local, nodes: 3, settings: {kafka: mock}}}
  - {name: kinesis, driver: kinesis, deploy: {provider: local}}
)";
  std::string out = (dir_ / "results.json").string();
  int code = testing::run(dec({"run", path, "--out", out}), (dir_ / "run.log").string(), 240s);
  std::ifstream log_file(dir_ / "run.log");
  std::string log((std::istreambuf_iterator<char>(log_file)), {});
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("EMULATED"), std::string::npos) << log;
  std::ifstream in(out);
  auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["runs"].size(), 2u);
  for (const auto& run : doc["runs"]) {
    SCOPED_TRACE(run["system"].get<std::string>());
    EXPECT_TRUE(run["emulated"].get<bool>());
    EXPECT_EQ(run["status"], "succeeded") << run["error"];
    EXPECT_GT(run["delivery"]["sent"].get<uint64_t>(), 1000u);
    EXPECT_EQ(run["delivery"]["sent"], run["delivery"]["acked"]);
    EXPECT_EQ(run["delivery"]["acked"], run["delivery"]["received"]);
    EXPECT_EQ(run["delivery"]["lost"], 0);
  }
  EXPECT_TRUE(doc["runs"][1]["counters"].contains("kinesis.throttled_requests"));
  expect_nothing_left({});
}

// A backlog on a real redis-server: consumers start after 3,000 messages, catch up while the
// producers go on, and the drain figures are in the results and the table.
TEST_F(CliLifecycle, BacklogIsBuiltThenDrainedAndReported) {
  const std::string spec = (dir_ / "backlog.yaml").string();
  std::ofstream(spec) << R"(name: backlog
workload:
  message_size: 256B
  producers: 2
  consumers: 2
  rate: 2k/s
  warmup: 0s
  duration: 4s
  drain_timeout: 10s
  keys: 32
  key_distribution: random
  seed: 7
  payload: {random_bytes_ratio: 0.3, pool: 50}
  backlog: {messages: 3000}
systems:
  - name: redis
    driver: redis
    config: {pipeline: 8}
    deploy:
      settings: {hosts: "false"}
)";
  const std::string out = (dir_ / "results.json").string();
  const int code =
      testing::run(dec({"run", spec, "--out", out}), (dir_ / "run.log").string(), 120s);
  std::ifstream log_file(dir_ / "run.log");
  const std::string log((std::istreambuf_iterator<char>(log_file)), {});
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("backlog drain time"), std::string::npos) << log;
  EXPECT_NE(log.find("payload zlib ratio"), std::string::npos) << log;

  std::ifstream in(out);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["runs"].size(), 1u);
  const auto& run = doc["runs"][0];
  EXPECT_EQ(run["status"], "succeeded") << run["error"];
  EXPECT_EQ(run["key_seed"], 7);
  EXPECT_GT(run["payload_compression_ratio"].get<double>(), 1.5);
  const auto& backlog = run["backlog"];
  EXPECT_EQ(backlog["target_messages"], 3000);
  EXPECT_TRUE(backlog["reached"].get<bool>()) << backlog;
  EXPECT_GE(backlog["messages"].get<uint64_t>(), 3000u);
  EXPECT_NEAR(backlog["build_s"].get<double>(), 1.5, 0.5);  // 3,000 at 2,000 msg/s
  EXPECT_TRUE(backlog["drained"].get<bool>()) << backlog;
  EXPECT_GT(backlog["drain_s"].get<double>(), 0);
  EXPECT_GE(backlog["consumed_while_draining"].get<uint64_t>(),
            backlog["messages"].get<uint64_t>());
  EXPECT_GT(backlog["drain_msgs_per_s"].get<double>(), 2000);
  const auto& d = run["delivery"];
  EXPECT_EQ(d["sent"], d["received"]);
  EXPECT_EQ(d["lost"], 0);
  EXPECT_EQ(d["reordered"], 0);
  EXPECT_EQ(d["duplicated"], 0);
  // Latency counts the messages sent after the drain only: fewer than were received.
  EXPECT_LT(run["latency_us"]["count"].get<uint64_t>(), d["received"].get<uint64_t>());
  EXPECT_GT(run["latency_us"]["count"].get<uint64_t>(), 0u);
  std::cout << "backlog figures: " << backlog.dump() << "\n"
            << "latency_us: " << run["latency_us"].dump() << "\n"
            << log << "\n";
  expect_nothing_left({});
}

TEST_F(CliLifecycle, InvalidSpecExitsTwoWithFieldPath) {
  std::string spec = write_spec("2s");
  int code = testing::run(
      dec({"run", spec, "--set", "systems[1].driver=redsi", "--set", "workload.rate=-5"}),
      (dir_ / "bad.log").string());
  EXPECT_EQ(code, 2);
  std::ifstream in(dir_ / "bad.log");
  std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(log.find("systems[1].driver"), std::string::npos) << log;
  EXPECT_NE(log.find("did you mean \"redis\""), std::string::npos) << log;
  EXPECT_NE(log.find("workload.rate"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(data_dir_ + "/state"));
}

// As root, brokers run as dec-broker when it can reach the data dir; here it cannot (the test
// dir is 0700), so they run as root and the commands that start brokers say why. Commands that
// start none (validate, plan, results) say nothing about it.
TEST_F(CliLifecycle, OnlyCommandsThatStartBrokersWarnThatBrokersRunAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "brokers change user only when dec runs as root";
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
  const std::string spec = write_spec("1s");
  const std::string warning =
      "dec: warning: brokers will run as root: user dec-broker cannot enter";
  auto output = [&](const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_EQ(testing::run(dec({"validate", spec}), (dir_ / "validate.log").string()), 0);
  EXPECT_EQ(output("validate.log").find("warning"), std::string::npos) << output("validate.log");
  EXPECT_EQ(testing::run(dec({"plan", spec}), (dir_ / "plan.log").string()), 0);
  EXPECT_EQ(output("plan.log").find("warning"), std::string::npos) << output("plan.log");
  ASSERT_EQ(testing::run(dec({"run", spec}), (dir_ / "run.log").string(), 120s), 0)
      << output("run.log");
  const std::string run = output("run.log");
  ASSERT_NE(run.find(warning), std::string::npos) << run;
  EXPECT_EQ(run.find(warning), run.rfind(warning)) << "once per command\n" << run;
  EXPECT_EQ(testing::run(dec({"results", "list"}), (dir_ / "list.log").string()), 0);
  EXPECT_EQ(output("list.log").find("warning"), std::string::npos) << output("list.log");
  expect_nothing_left({});
}

TEST_F(CliLifecycle, RunRefusesTheWholeSpecBeforeCreatingAnything) {
  // The first system is fine; the second one's provider objects. Nothing may run first.
  std::string spec = write_spec("2s");
  int code = testing::run(dec({"run", spec, "--set", "systems[1].deploy.settings.hosts=maybe"}),
                          (dir_ / "refused.log").string());
  EXPECT_EQ(code, 2);
  std::ifstream in(dir_ / "refused.log");
  std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(log.find("systems[1].deploy.settings.hosts: \"maybe\" is not one of auto, true, "
                     "false"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("provisioning"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(data_dir_)) << "nothing is created, not even the database";
}

TEST_F(CliLifecycle, ABrokerThatFailsToStartIsAnnouncedAtOnceWithItsKeptLog) {
  // redis-server refuses the value and exits; the run goes on with the next system.
  std::string spec = write_spec("1s");
  int code =
      testing::run(dec({"run", spec, "--set", "systems[0].deploy.server.appendfsync=sometimes"}),
                   (dir_ / "broken.log").string());
  EXPECT_EQ(code, 1);
  std::ifstream in(dir_ / "broken.log");
  std::string log((std::istreambuf_iterator<char>(in)), {});
  // Said when it happened, before the next system started.
  const size_t failed = log.find("plain: failed: ");
  ASSERT_NE(failed, std::string::npos) << log;
  const size_t next = log.find("aof: provisioning");
  ASSERT_NE(next, std::string::npos) << log;
  EXPECT_LT(failed, next) << log;
  EXPECT_NE(log.find("exited during start-up; last lines of its log:"), std::string::npos) << log;
  // The log outlives the run's teardown, with the experiment.
  const std::string logs = data_dir_ + "/logs";
  ASSERT_TRUE(fs::exists(logs)) << log;
  std::string kept;
  for (const auto& experiment : fs::directory_iterator(logs)) {
    for (const auto& file : fs::directory_iterator(experiment)) {
      EXPECT_TRUE(file.path().filename().string().ends_with(".plain-service.plain.0.log"))
          << file.path();
      EXPECT_NE(log.find(file.path().string()), std::string::npos) << "not named: " << file.path();
      std::ifstream kept_in(file.path());
      kept.assign((std::istreambuf_iterator<char>(kept_in)), {});
    }
  }
  EXPECT_NE(kept.find("sometimes"), std::string::npos) << kept;
  expect_nothing_left({});
}

TEST_F(CliLifecycle, SigintStopsTheRunAndDestroysInfrastructure) { stop_with_signal(SIGINT); }

TEST_F(CliLifecycle, SigtermStopsTheRunAndDestroysInfrastructure) { stop_with_signal(SIGTERM); }

TEST_F(CliLifecycle, SigkillLeavesOrphansThatReconcileRemoves) {
  std::string spec = write_spec("60s");
  auto child = testing::start(dec({"run", spec}), (dir_ / "run.log").string());
  auto service = wait_for_created_service(30s);
  ASSERT_TRUE(service.has_value()) << child.output();
  std::string address = service->outputs.at("address");
  ASSERT_EQ(kill(child.pid, SIGKILL), 0);
  EXPECT_EQ(testing::wait_exit(child, 10s), 128 + SIGKILL);
  // dec is gone but its redis-server is not: that is the orphan reconcile must find.
  ASSERT_FALSE(our_processes().empty());
  auto colon = address.rfind(':');
  ASSERT_TRUE(env_.tcp_port_open(address.substr(0, colon), std::stoi(address.substr(colon + 1))));

  EXPECT_EQ(testing::run(dec({"reconcile", "--dry-run"}), (dir_ / "dry.log").string()), 0);
  std::ifstream dry_in(dir_ / "dry.log");
  std::string dry((std::istreambuf_iterator<char>(dry_in)), {});
  EXPECT_NE(dry.find("would destroy interrupted run"), std::string::npos) << dry;
  EXPECT_FALSE(our_processes().empty()) << "dry run must not change anything";

  EXPECT_EQ(testing::run(dec({"reconcile"}), (dir_ / "reconcile.log").string()), 0);
  expect_nothing_left({address}, /*dec_lived=*/false);
  // A second reconcile finds nothing to do.
  EXPECT_EQ(testing::run(dec({"reconcile"}), (dir_ / "again.log").string()), 0);
  std::ifstream again_in(dir_ / "again.log");
  std::string again((std::istreambuf_iterator<char>(again_in)), {});
  EXPECT_NE(again.find("nothing to clean up"), std::string::npos) << again;
}

// dec "dies" (through a fault-injecting Env, support/fault_env.h) before each operating-system
// operation of provisioning a system on loopback (no hosts: the path a non-root user takes), in
// turn; `dec reconcile` then always leaves nothing. hosts_test does the same with hosts.
TEST_F(CliLifecycle, CrashBeforeEveryProvisioningOperationIsReconciled) {
  auto parsed = core::parse_spec_file(write_spec("1s"), {}, systems::driver_catalog());
  ASSERT_TRUE(parsed.ok());
  core::System system = parsed.spec.systems.at(0);
  system.deploy.settings["hosts"] = "false";
  int total = 0;
  for (int k = 1; k <= 60 && total == 0; ++k) {
    SCOPED_TRACE("dec died before operation " + std::to_string(k));
    testing::FaultInjectionEnv faults(env_);
    faults.crash_at(k);
    infra::ProviderContext pc;
    pc.env = &faults;
    pc.data_dir = data_dir_;
    pc.installation = installation_;
    pc.dec_binary = DEC_BINARY;
    infra::LocalProvider local(pc);
    const std::string experiment = "20261202-000000-c" + std::to_string(k);
    auto desired = local.resources_for(
        system, orchestrator::deploy_request_for(parsed.spec, experiment, system));
    ASSERT_TRUE(desired.ok()) << desired.error();
    infra::RunState state;
    state.run_id = experiment + "." + system.name;
    state.experiment_id = experiment;
    state.system = system.name;
    state.provider = "local";
    state.installation = installation_;
    state.owner = faults.self();
    auto plan = infra::plan_changes(*desired, state);
    ASSERT_TRUE(plan.ok());
    infra::StateFile file(faults, infra::state_path(data_dir_, state.run_id));
    Status applied = infra::apply_plan(local, *plan, state, file, nullptr);
    if (!faults.fired()) {
      ASSERT_TRUE(applied) << applied.error();
      total = faults.operations();
    }
    EXPECT_EQ(testing::run(dec({"reconcile"}), (dir_ / "reconcile.log").string()), 0);
    expect_nothing_left({}, /*dec_lived=*/false);
    if (HasFailure()) return;
  }
  EXPECT_GT(total, 5) << "provisioning a service and a worker takes many operations";
}

TEST_F(CliLifecycle, ReconcileDeletesTaggedOrphanMissingFromState) {
  // A process carrying this data dir's tags but recorded nowhere (dec died between spawn and
  // the state write that would have recorded it).
  infra::SpawnOptions orphan;
  orphan.argv = {"sleep", "300"};
  orphan.environment = {{"DEC_INSTALLATION", installation_},
                        {"DEC_RUN", "20260101-000000-dead.ghost"},
                        {"DEC_RESOURCE", "service.ghost.0"}};
  auto pid = env_.spawn(orphan);
  ASSERT_TRUE(pid.ok()) << pid.error();
  fs::create_directories(data_dir_ + "/runs/20260101-000000-dead.ghost/service.ghost.0");
  // And one whose environment was overwritten (as redis-server does for its process title):
  // found through the data directory it runs in.
  std::string untagged_dir = data_dir_ + "/runs/20260101-000000-dead.untagged/service.u.0";
  fs::create_directories(untagged_dir);
  infra::SpawnOptions untagged;
  untagged.argv = {"sleep", "300"};
  untagged.working_dir = untagged_dir;
  auto untagged_pid = env_.spawn(untagged);
  ASSERT_TRUE(untagged_pid.ok()) << untagged_pid.error();
  ASSERT_TRUE(env_.process_alive(*pid));
  ASSERT_EQ(our_processes().size(), 2u);
  EXPECT_EQ(testing::run(dec({"reconcile"}), (dir_ / "reconcile.log").string()), 0);
  EXPECT_FALSE(env_.process_alive(*pid));
  EXPECT_FALSE(env_.process_alive(*untagged_pid));
  expect_nothing_left({});
}

}  // namespace
}  // namespace dec

namespace dec {
namespace {

// Two `dec run`s on one machine: the second waits for the first's measurement and says whom it
// waits for; with --allow-concurrent both measure at once and both results record the overlap.
class MeasurementLockCli : public CliLifecycle {
 protected:
  std::string one_system_spec() {
    const std::string path = (dir_ / "one.yaml").string();
    std::ofstream(path) << R"(name: lock
workload: {message_size: 200B, producers: 1, consumers: 1, rate: 2k/s, warmup: 1s, duration: 2s}
systems:
  - {name: r, driver: redis}
)";
    return path;
  }

  // Starts `dec run` and returns once it holds the measurement lock (the lock file names it).
  testing::Child start_holding(const std::string& spec, const std::string& name) {
    auto child = testing::start(dec({"run", spec, "--out", (dir_ / (name + ".json")).string()}),
                                (dir_ / (name + ".log")).string(), env());
    for (int i = 0; i < 300; ++i) {
      std::ifstream in(lock_path());
      std::string pid;
      if (in >> pid && pid == std::to_string(child.pid)) return child;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the first run never took the lock: " << child.output();
    return child;
  }

  nlohmann::json results(const std::string& name) {
    std::ifstream in(dir_ / (name + ".json"));
    return nlohmann::json::parse(in, nullptr, false);
  }

  std::string lock_path() const { return (dir_ / "measure.lock").string(); }
  std::map<std::string, std::string> env() const { return {{"DEC_MEASURE_LOCK", lock_path()}}; }
};

TEST_F(MeasurementLockCli, SecondRunWaitsForTheFirstAndSaysSo) {
  const std::string spec = one_system_spec();
  auto first = start_holding(spec, "first");
  auto second = testing::start(dec({"run", spec, "--out", (dir_ / "second.json").string()}),
                               (dir_ / "second.log").string(), env());
  EXPECT_EQ(testing::wait_exit(first, 120s), 0) << first.output();
  EXPECT_EQ(testing::wait_exit(second, 120s), 0) << second.output();
  EXPECT_NE(second.output().find("waiting for another dec measurement (pid " +
                                 std::to_string(first.pid) + ") to finish"),
            std::string::npos)
      << second.output();
  const auto a = results("first");
  const auto b = results("second");
  ASSERT_TRUE(a.is_object() && b.is_object());
  EXPECT_TRUE(a["concurrent_runs"].get<bool>()) << "the second asked during the first's run";
  EXPECT_FALSE(a["environment"]["measurement_lock"]["measured_alongside"].get<bool>());
  EXPECT_FALSE(b["concurrent_runs"].get<bool>()) << b["environment"].dump();
  EXPECT_GT(b["environment"]["measurement_lock"]["waited_s"].get<double>(), 1.0);
  // The measured windows did not overlap: the second started after the first finished.
  EXPECT_EQ(b["runs"][0]["status"], "succeeded");
  expect_nothing_left({});
}

TEST_F(MeasurementLockCli, AllowConcurrentRunsAtOnceAndRecordsTheOverlap) {
  const std::string spec = one_system_spec();
  auto first = start_holding(spec, "first");
  auto second = testing::start(
      dec({"run", spec, "--allow-concurrent", "--out", (dir_ / "second.json").string()}),
      (dir_ / "second.log").string(), env());
  EXPECT_EQ(testing::wait_exit(first, 120s), 0) << first.output();
  EXPECT_EQ(testing::wait_exit(second, 120s), 0) << second.output();
  EXPECT_EQ(second.output().find("waiting for another"), std::string::npos) << second.output();
  const auto a = results("first");
  const auto b = results("second");
  ASSERT_TRUE(a.is_object() && b.is_object());
  EXPECT_TRUE(a["concurrent_runs"].get<bool>());
  EXPECT_TRUE(b["concurrent_runs"].get<bool>());
  EXPECT_NE(b["environment"]["measurement_lock"]["detail"].get<std::string>().find(
                "pid " + std::to_string(first.pid) + " held the lock"),
            std::string::npos)
      << b["environment"].dump();
  EXPECT_TRUE(b["environment"]["measurement_lock"]["allow_concurrent"].get<bool>());
  EXPECT_TRUE(a["environment"]["measurement_lock"]["measured_alongside"].get<bool>());
  EXPECT_TRUE(b["environment"]["measurement_lock"]["measured_alongside"].get<bool>());
  // The reproducibility record travels with every result.
  EXPECT_FALSE(b["environment"]["dec_version"].get<std::string>().empty());
  EXPECT_GT(b["environment"]["cpu_cores"].get<int>(), 0);
  EXPECT_EQ(b["runs"][0]["client_library"].get<std::string>().rfind("hiredis ", 0), 0u);
  EXPECT_EQ(b["spec"]["name"], "lock");
  expect_nothing_left({});
}

}  // namespace
}  // namespace dec
