// Several load agents driving one system, as root on hosts (network namespaces + cgroups):
//  - three agents, each on a host of its own, drive one local Redis at once; every message is
//    accounted for across agents (a consumer on one agent reads what another produced) and the
//    counts equal those of one agent running the same workload;
//  - an agent SIGKILLed mid-run is named in the failed run's error, and its producers' messages
//    are not counted as delivered.
// Every address used is in 198.18.0.0/15 on bridges this test's dec creates.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "infra/linux_host.h"
#include "support/data_dir_test.h"
#include "support/subprocess.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
namespace lh = infra::linux_host;
using namespace std::chrono_literals;

class LoadAgents : public testing::DataDirTest {
 protected:
  LoadAgents() : DataDirTest("dec-agents") {}
  void SetUp() override {
    if (!lh::is_root() || lh::cgroup_version() == lh::CgroupVersion::kNone) {
      GTEST_SKIP() << "hosts need root and cgroups (network namespaces, veth)";
    }
    DataDirTest::SetUp();
  }

  std::string write_spec(const std::string& text) {
    std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  // The results document `dec run --out` wrote (stdout has the table, stderr the log).
  nlohmann::json results() {
    std::ifstream in(dir_ / "results.json");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    return nlohmann::json::parse(text, nullptr, false);
  }
  std::string results_path() const { return (dir_ / "results.json").string(); }

  // The pid of the process this installation started for `resource`, or -1.
  pid_t pid_of(const std::string& resource) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(entry.path() / "environ", std::ios::binary);
      std::string environ((std::istreambuf_iterator<char>(in)), {});
      if (environ.find("DEC_INSTALLATION=" + installation_ + '\0') != std::string::npos &&
          environ.find("DEC_RESOURCE=" + resource + '\0') != std::string::npos) {
        return static_cast<pid_t>(std::stoi(name));
      }
    }
    return -1;
  }

  void expect_nothing_left(const std::string& when) {
    std::string list;
    for (const auto& d : provider().discover()) list += "\n  " + d.description;
    EXPECT_TRUE(list.empty()) << when << ": left behind:" << list;
  }
};

TEST_F(LoadAgents, ThreeAgentsOnThreeHostsCountLikeOne) {
  const std::string spec = write_spec(R"(name: agents
workload: {message_size: 128B, producers: 3, consumers: 3, rate: 3k/s, warmup: 500ms,
           duration: 2s, drain_timeout: 6s, partitions: 3}
systems:
  - name: one
    driver: redis
    deploy: {provider: local}
  - name: three
    driver: redis
    deploy: {provider: local, workers: 3}
)");
  auto child = testing::start(dec({"run", spec, "--out", results_path(), "--quiet"}),
                              (dir_ / "out.txt").string());
  const int code = testing::wait_exit(child, 180s);
  const std::string out = child.output();
  EXPECT_EQ(code, 0) << out;
  // The report says how far cross-agent latency can be trusted.
  EXPECT_NE(out.find("three: 3 load agents; their clocks agree within +-"), std::string::npos)
      << out;
  const auto results = this->results();
  ASSERT_TRUE(results.is_object()) << out;
  ASSERT_EQ(results["runs"].size(), 2u) << out;
  const auto& one = results["runs"][0];
  const auto& three = results["runs"][1];
  ASSERT_EQ(one["status"], "succeeded") << one.dump();
  ASSERT_EQ(three["status"], "succeeded") << three.dump();

  // Three load agents, each on a host of its own.
  int agent_hosts = 0;
  for (const auto& host : three["resources"]["hosts"]) agent_hosts += host["role"] == "load agent";
  EXPECT_EQ(agent_hosts, 3) << three["resources"].dump();

  const auto& d1 = one["delivery"];
  const auto& d3 = three["delivery"];
  EXPECT_GT(d3["sent"].get<uint64_t>(), 5000u) << d3.dump();
  EXPECT_EQ(d3["sent"], d1["sent"]) << "the same schedule, split three ways";
  EXPECT_EQ(three["window"]["offered"], one["window"]["offered"]);
  for (const auto* d : {&d1, &d3}) {
    EXPECT_EQ((*d)["acked"], (*d)["sent"]) << d->dump();
    EXPECT_EQ((*d)["received"], (*d)["acked"]) << d->dump();
    EXPECT_EQ((*d)["lost"], 0) << d->dump();
    EXPECT_EQ((*d)["undelivered"], 0) << d->dump();
    EXPECT_EQ((*d)["duplicated"], 0) << d->dump();
    EXPECT_EQ((*d)["corrupt"], 0) << d->dump();
  }
  // Every window message's end-to-end latency is in the merged histogram once.
  EXPECT_EQ(three["latency_us"]["count"], three["window"]["received"]) << three.dump();
  EXPECT_EQ(three["latency_us"]["censored"], 0);
  EXPECT_EQ(three["window"]["received"], one["window"]["received"]);
  // The agents' clocks, measured against the orchestrator's (one machine: they agree).
  ASSERT_EQ(three["load_agents"].size(), 3u) << three.dump();
  for (const auto& agent : three["load_agents"]) {
    EXPECT_LT(std::abs(agent["clock_offset_us"].get<double>()), 5000.0) << agent.dump();
    EXPECT_EQ(agent["producers"], 1) << agent.dump();
  }
  EXPECT_FALSE(one.contains("load_agents")) << "one agent: nothing to reconcile";
  // The drain ends once every agent's consumers have everything, not at the drain timeout:
  // 2 s lead to the common start + 2.5 s of schedule, well under the 6 s timeout added.
  EXPECT_LT(three["phases_s"]["run"].get<double>(), 7.5) << three["phases_s"].dump();
  expect_nothing_left("after the run");
}

TEST_F(LoadAgents, AnAgentKilledMidRunIsNamedAndItsMessagesAreNotDelivered) {
  const std::string spec = write_spec(R"(name: killed
workload: {message_size: 128B, producers: 3, consumers: 3, rate: 1500/s, warmup: 0s,
           duration: 5s, drain_timeout: 1s, partitions: 3}
systems:
  - name: k
    driver: redis
    deploy: {provider: local, workers: 3}
)");
  auto child = testing::start(dec({"run", spec, "--out", results_path(), "--quiet"}),
                              (dir_ / "out.txt").string());
  // Kill agent 1 once its run is under way (its log says so).
  pid_t victim = -1;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline) {
    victim = pid_of("worker.k.1");
    if (victim > 0) {
      bool running = false;
      for (const auto& entry : fs::recursive_directory_iterator(fs::path(data_dir_) / "runs")) {
        if (entry.path().filename() != "worker.log") continue;
        if (entry.path().parent_path().filename() != "worker.k.1") continue;
        std::ifstream in(entry.path());
        std::string text((std::istreambuf_iterator<char>(in)), {});
        running = text.find("-> running") != std::string::npos;
      }
      if (running) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GT(victim, 0) << "agent worker.k.1 never started its run";
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(kill(victim, SIGKILL), 0);

  const int code = testing::wait_exit(child, 120s);
  const std::string out = child.output();
  EXPECT_NE(code, 0) << "a run that lost an agent does not pass: " << out;
  const auto results = this->results();
  ASSERT_TRUE(results.is_object()) << out;
  const auto& run = results["runs"][0];
  EXPECT_EQ(run["status"], "failed") << run.dump();
  const std::string error = run["error"].get<std::string>();
  EXPECT_NE(error.find("worker.k.1"), std::string::npos) << error;
  EXPECT_NE(error.find("lost"), std::string::npos) << error;
  ASSERT_EQ(run["load_agents"].size(), 3u) << run.dump();
  EXPECT_NE(run["load_agents"][1]["error"].get<std::string>(), "") << run["load_agents"].dump();
  EXPECT_EQ(run["load_agents"][0]["error"].get<std::string>(), "");
  // What agents 0 and 2 sent is accounted for; nothing counts as proven lost (an agent's view
  // is missing), and what the dead agent's consumer had taken is undelivered.
  const auto& delivery = run["delivery"];
  EXPECT_GT(delivery["acked"].get<uint64_t>(), 0u) << delivery.dump();
  EXPECT_LE(delivery["received"].get<uint64_t>(), delivery["acked"].get<uint64_t>())
      << "the dead agent's producer's messages are not counted as delivered: " << delivery.dump();
  EXPECT_EQ(delivery["lost"], 0) << delivery.dump();
  EXPECT_GT(delivery["undelivered"].get<uint64_t>(), 0u) << delivery.dump();
  expect_nothing_left("after the run");
}

}  // namespace
}  // namespace dec
