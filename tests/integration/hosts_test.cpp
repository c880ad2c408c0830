// Hosts on the local provider (network namespaces, veth + bridge, cgroups, tc), as root:
//  - a 3-node system with CPU, memory and bandwidth limits is planned, applied, really limited,
//    updated in place, and destroyed, leaving no namespace, link, cgroup, process or directory;
//  - through a fault-injecting Env, dec "dies" before, or fails, every single operating-system
//    operation of an apply (k = 1, 2, ... until the apply completes) and of a destroy, and
//    reconcile always leaves nothing behind (and has nothing left to do the second time);
//  - a destroy step that fails keeps its record; the next reconcile finishes the job;
//  - reconcile deletes hand-made orphans (a tagged process, a namespace of no run), recreates a
//    vanished node of a kept run, and fixes a CPU limit changed behind dec's back;
//  - a run with faults (kill, pause/resume, disconnect/reconnect, throttle) records each one.
// Every address used is in 198.18.0.0/15 on bridges this test's dec creates.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/host_user.h"
#include "core/spec_parser.h"
#include "infra/env.h"
#include "infra/executor.h"
#include "infra/linux_host.h"
#include "infra/local_provider.h"
#include "infra/reconcile.h"
#include "orchestrator/runner.h"
#include "support/data_dir_test.h"
#include "support/fault_env.h"
#include "support/subprocess.h"
#include "systems/registry.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
namespace lh = infra::linux_host;
using namespace std::chrono_literals;

constexpr const char* kThreeNodes = R"(name: hosts
workload:
  message_size: 256B
  producers: 1
  consumers: 1
  rate: 1k/s
  warmup: 1s
  duration: 2s
  partitions: 6
systems:
  - name: r3
    driver: redis
    deploy:
      provider: local
      nodes: 3
      cpus: 0.5
      memory: 256MiB
      bandwidth: 50Mbit
)";

class Hosts : public testing::DataDirTest {
 protected:
  Hosts() : DataDirTest("dec-hosts") {}
  void SetUp() override {
    if (!lh::is_root() || lh::cgroup_version() == lh::CgroupVersion::kNone) {
      GTEST_SKIP() << "hosts need root and cgroups (network namespaces, veth, tc)";
    }
    DataDirTest::SetUp();
  }

  std::string write_spec(const std::string& text, const std::string& name = "spec.yaml") {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Runs dec to completion; returns (exit code, output).
  std::pair<int, std::string> run_dec(std::vector<std::string> args,
                                      const std::map<std::string, std::string>& env = {},
                                      std::chrono::seconds timeout = 120s) {
    auto child = testing::start(dec(std::move(args)), (dir_ / "out.txt").string(), env);
    int code = testing::wait_exit(child, timeout);
    return {code, child.output()};
  }

  // Everything of this installation the kernel and /proc still show, described.
  std::vector<std::string> leftovers() {
    std::vector<std::string> found;
    for (const auto& d : provider().discover()) found.push_back(d.description);
    for (const auto& run : infra::recorded_runs(env_, data_dir_)) {
      found.push_back("state file of " + run);
    }
    // Independent of discover(): the kernel's own lists.
    for (const auto& ns : lh::list_netns()) {
      if (ns.find(installation_) != std::string::npos) found.push_back("netns " + ns);
    }
    for (const auto& link : lh::list_links()) {
      if (link.alias.find(installation_) != std::string::npos) found.push_back("link " + link.name);
    }
    if (lh::cgroup_exists("dec/" + installation_)) found.push_back("cgroup dec/" + installation_);
    // The route that keeps 198.18.0.0/15 on this machine goes with the last dec bridge.
    bool any_bridge = false;
    for (const auto& link : lh::list_links()) {
      any_bridge |= link.kind == "bridge" && link.alias.rfind("dec|", 0) == 0;
    }
    auto routes = lh::run_command({"ip", "route", "show", "type", "unreachable", "198.18.0.0/15"});
    if (!any_bridge && routes && !routes->empty()) found.push_back("route " + *routes);
    return found;
  }

  void expect_nothing_left(const std::string& when) {
    auto left = leftovers();
    std::string list;
    for (const auto& l : left) list += "\n  " + l;
    EXPECT_TRUE(left.empty()) << when << ": left behind:" << list;
  }

  nlohmann::json apply(const std::string& spec) {
    auto [code, out] = run_dec({"apply", spec, "--json"});
    EXPECT_EQ(code, 0) << out;
    auto start = out.find('{');
    if (start == std::string::npos) return nlohmann::json::object();
    return nlohmann::json::parse(out.substr(start), nullptr, false);
  }

  infra::RunState load_run(const std::string& run_id) {
    infra::StateFile file(env_, infra::state_path(data_dir_, run_id));
    auto state = file.load();
    EXPECT_TRUE(state.ok()) << state.error();
    return state ? *state : infra::RunState{};
  }
};

TEST_F(Hosts, ThreeLimitedNodesAreCreatedUpdatedInPlaceAndDestroyed) {
  std::string spec = write_spec(kThreeNodes);
  auto [plan_code, plan] = run_dec({"plan", spec});
  ASSERT_EQ(plan_code, 0) << plan;
  EXPECT_NE(plan.find("+ network network.r3"), std::string::npos) << plan;
  EXPECT_NE(plan.find("+ host host.r3.2"), std::string::npos) << plan;
  EXPECT_NE(plan.find("cpus = \"0.5\""), std::string::npos) << plan;
  EXPECT_NE(plan.find("+ worker worker.r3.0"), std::string::npos) << plan;

  auto applied = apply(spec);
  ASSERT_TRUE(applied.contains("runs")) << applied.dump();
  const std::string run_id = applied["runs"][0]["run_id"];
  ASSERT_EQ(applied["runs"][0]["addresses"].size(), 3u) << applied.dump();
  infra::RunState state = load_run(run_id);
  // dec runs as root here; its brokers do not: they run as the broker user and own their dirs.
  if (const auto broker = core::find_host_user(core::kBrokerUser)) {
    for (const auto& r : state.resources) {
      if (r.resource.type != "service") continue;
      std::ifstream status("/proc/" + r.outputs.at("pid") + "/status");
      std::string line;
      std::string uid;
      while (std::getline(status, line)) {
        if (line.rfind("Uid:", 0) == 0) uid = line;
      }
      EXPECT_EQ(uid.substr(0, uid.find('\t', 5)), "Uid:\t" + std::to_string(broker->uid))
          << r.resource.address << ": " << uid;
      struct stat dir_info {};
      ASSERT_EQ(
          ::stat((data_dir_ + "/runs/" + run_id + "/" + r.resource.address).c_str(), &dir_info), 0);
      EXPECT_EQ(dir_info.st_uid, broker->uid) << r.resource.address;
    }
  } else {
    ADD_FAILURE() << "no user " << core::kBrokerUser << " (scripts/setup creates it)";
  }
  int hosts = 0;
  std::set<std::string> ips;
  for (const auto& r : state.resources) {
    if (r.resource.type != "host") continue;
    ++hosts;
    ips.insert(r.outputs.at("ip"));
    EXPECT_EQ(r.outputs.at("ip").rfind("198.1", 0), 0u) << r.outputs.at("ip");
    EXPECT_TRUE(lh::netns_exists(r.outputs.at("netns")));
    if (r.resource.attributes.at("role") == "broker") {
      auto limits = lh::cgroup_limits(r.outputs.at("cgroup"));
      ASSERT_TRUE(limits.ok()) << limits.error();
      ASSERT_TRUE(limits->cpus.has_value());
      EXPECT_DOUBLE_EQ(*limits->cpus, 0.5);
      ASSERT_TRUE(limits->memory_bytes.has_value());
      EXPECT_EQ(*limits->memory_bytes, 256u << 20);
      auto bits = lh::bandwidth("", r.outputs.at("veth"));
      ASSERT_TRUE(bits.ok()) << bits.error();
      EXPECT_NEAR(static_cast<double>(*bits), 50e6, 0.5e6);
    }
  }
  EXPECT_EQ(hosts, 4);  // three brokers and the worker's host
  EXPECT_EQ(ips.size(), 4u);
  // Every broker runs inside its host's cgroup.
  for (const auto& r : state.resources) {
    if (r.resource.type != "service") continue;
    auto pids = lh::cgroup_pids(provider().cgroup_path(run_id, r.resource.attributes.at("host")));
    EXPECT_NE(std::find(pids.begin(), pids.end(), std::stoi(r.outputs.at("pid"))), pids.end())
        << r.resource.address;
  }

  // Changing the CPU limit is an in-place update: same processes, new quota.
  std::string faster = kThreeNodes;
  faster.replace(faster.find("cpus: 0.5"), 9, "cpus: 1.5");
  std::string spec2 = write_spec(faster, "faster.yaml");
  auto [plan2_code, plan2] = run_dec({"plan", spec2, "--run", run_id});
  ASSERT_EQ(plan2_code, 0) << plan2;
  EXPECT_NE(plan2.find("~ host host.r3.2"), std::string::npos) << plan2;
  EXPECT_NE(plan2.find("~ cpus = \"1.5\""), std::string::npos) << plan2;
  // The three brokers' hosts, nothing else (the worker's host has no limits).
  EXPECT_NE(plan2.find("Plan: 0 to add, 3 to change, 0 to destroy."), std::string::npos) << plan2;
  auto [up_code, up] = run_dec({"apply", spec2, "--run", run_id});
  ASSERT_EQ(up_code, 0) << up;
  EXPECT_NE(up.find("~ host host.r3.0"), std::string::npos) << up;
  infra::RunState after = load_run(run_id);
  for (const auto& r : after.resources) {
    if (r.resource.type == "service") {
      EXPECT_EQ(r.outputs.at("pid"), state.find(r.resource.address)->outputs.at("pid"));
    }
    if (r.resource.type == "host" && r.resource.attributes.at("role") == "broker") {
      auto limits = lh::cgroup_limits(r.outputs.at("cgroup"));
      ASSERT_TRUE(limits.ok());
      EXPECT_DOUBLE_EQ(limits->cpus.value_or(0), 1.5);
    }
  }

  auto [destroy_code, destroyed] = run_dec({"destroy", run_id});
  EXPECT_EQ(destroy_code, 0) << destroyed;
  expect_nothing_left("after destroy");
  // Idempotent.
  auto [again_code, again] = run_dec({"destroy", run_id});
  EXPECT_EQ(again_code, 0) << again;
}

// One node with every kind of limit and a load agent: each operation of the local provider
// (lock, bridge, route, namespace + veth, tc on both ends, cgroup, directories, config files,
// spawn, state writes) appears at least once in its apply and destroy.
constexpr const char* kOneLimitedNode = R"(name: faults
workload:
  message_size: 256B
  rate: 1k/s
  duration: 2s
  partitions: 2
systems:
  - name: r1
    driver: redis
    deploy:
      provider: local
      cpus: 0.5
      memory: 256MiB
      bandwidth: 50Mbit
)";

// Operating-system faults injected through the Env seam (support/fault_env.h), in process.
class HostFaults : public Hosts {
 protected:
  infra::ProviderContext context(infra::Env& env) {
    infra::ProviderContext pc;
    pc.env = &env;
    pc.data_dir = data_dir_;
    pc.installation = installation_;
    pc.dec_binary = DEC_BINARY;
    pc.tools_dir = DEC_SOURCE_DIR "/tools";
    if (core::find_host_user(core::kBrokerUser)) pc.broker_user = core::kBrokerUser;
    return pc;
  }

  // Plans kOneLimitedNode as run `run_id` and applies it through `env` into `state`. The state
  // records `env.self()` as its owner, as a run of `dec run` (not kept) does.
  Status apply_run(infra::Env& env, const std::string& run_id, infra::RunState& state) {
    auto parsed = core::parse_spec(kOneLimitedNode, {}, systems::driver_catalog());
    if (!parsed.ok()) return make_error(parsed.errors[0].to_string());
    const core::System& system = parsed.spec.systems[0];
    infra::LocalProvider provider(context(env));
    const std::string experiment = run_id.substr(0, run_id.find('.'));
    auto desired = provider.resources_for(
        system, orchestrator::deploy_request_for(parsed.spec, experiment, system));
    if (!desired) return make_error(desired.error());
    state = infra::RunState{};
    state.run_id = run_id;
    state.experiment_id = experiment;
    state.system = system.name;
    state.provider = "local";
    state.installation = installation_;
    state.owner = env.self();
    auto plan = infra::plan_changes(*desired, state, provider.updatable_in_place());
    if (!plan) return make_error(plan.error());
    infra::StateFile file(env, infra::state_path(data_dir_, run_id));
    return infra::apply_plan(provider, *plan, state, file, nullptr);
  }

  // What the runner does after a failed apply: destroys what `state` says exists, through `env`.
  Status destroy_run(infra::Env& env, infra::RunState& state) {
    infra::LocalProvider provider(context(env));
    infra::StateFile file(env, infra::state_path(data_dir_, state.run_id));
    return infra::destroy_run(provider, state, file, nullptr);
  }

  // Reconcile with the real Env must leave nothing, and a second one must find nothing to do.
  void expect_reconcile_converges(const std::string& when,
                                  const testing::FaultInjectionEnv& faults) {
    auto report = infra::reconcile(context(env_), {}, nullptr);
    std::string errors;
    for (const auto& e : report.errors) errors += "\n  " + e;
    std::string ops;
    for (const auto& op : faults.history()) ops += "\n  " + op;
    EXPECT_TRUE(report.clean()) << when << errors << "\noperations:" << ops;
    expect_nothing_left(when);
    auto again = infra::reconcile(context(env_), {}, nullptr);
    EXPECT_TRUE(again.actions.empty() && again.clean())
        << when << ": a second reconcile still acts: "
        << (again.actions.empty() ? again.errors.at(0) : again.actions[0]);
  }
};

// dec "dies" before the k-th operating-system operation of an apply, for every k until the
// apply completes; reconcile (the next dec's start-up) always leaves nothing behind.
TEST_F(HostFaults, CrashBeforeEveryOperationOfAnApplyIsReconciledClean) {
  int total = 0;
  for (int k = 1; k <= 200 && total == 0; ++k) {
    testing::FaultInjectionEnv faults(env_);
    faults.crash_at(k);
    const std::string run_id = "crash" + std::to_string(k) + ".r1";
    infra::RunState state;
    Status applied = apply_run(faults, run_id, state);
    if (!faults.fired()) {
      ASSERT_TRUE(applied) << applied.error();
      total = faults.operations();
    } else {
      EXPECT_FALSE(applied) << "k=" << k << ": the apply cannot succeed without its operations";
    }
    expect_reconcile_converges("apply crashed before operation " + std::to_string(k), faults);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(total, 20) << "an apply with a host and a worker takes many operations";
  std::printf("an apply takes %d operations; dec died before each in turn\n", total);
}

// The k-th operation of an apply fails once (every k): the apply reports it, and the runner's
// destroy (through the same Env) leaves nothing; where it cannot, reconcile finishes.
TEST_F(HostFaults, FailureOfEveryOperationOfAnApplyIsCleanedUp) {
  int total = 0;
  for (int k = 1; k <= 200 && total == 0; ++k) {
    testing::FaultInjectionEnv faults(env_);
    faults.fail_at(k);
    const std::string run_id = "fail" + std::to_string(k) + ".r1";
    infra::RunState state;
    Status applied = apply_run(faults, run_id, state);
    if (!faults.fired()) {
      ASSERT_TRUE(applied) << applied.error();
      total = faults.operations();
    }
    // A second fault is not armed: the destroy after the failure succeeds.
    Status destroyed = destroy_run(faults, state);
    EXPECT_TRUE(destroyed) << "k=" << k << ": " << destroyed.error();
    expect_reconcile_converges("apply failed at operation " + std::to_string(k), faults);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(total, 20);
}

// A complete run, then dec dies before the k-th operation of its destroy, or that operation
// fails once, for every k: the failed step's record is kept, and reconcile finishes the job.
TEST_F(HostFaults, CrashOrFailureOfEveryOperationOfADestroyIsReconciledClean) {
  for (bool crash : {true, false}) {
    int total = 0;
    for (int k = 1; k <= 200 && total == 0; ++k) {
      const std::string run_id =
          std::string(crash ? "dcrash" : "dfail") + std::to_string(k) + ".r1";
      infra::RunState state;
      ASSERT_TRUE(apply_run(env_, run_id, state));
      testing::FaultInjectionEnv faults(env_);
      if (crash) {
        faults.crash_at(k);
      } else {
        faults.fail_at(k);
      }
      state.owner = faults.self();
      Status destroyed = destroy_run(faults, state);
      if (!faults.fired()) {
        ASSERT_TRUE(destroyed) << destroyed.error();
        total = faults.operations();
      } else if (!destroyed) {
        // What could not be destroyed is still recorded, for reconcile.
        EXPECT_TRUE(env_.path_exists(infra::state_path(data_dir_, run_id))) << "k=" << k;
      }
      expect_reconcile_converges(std::string("destroy ") +
                                     (crash ? "crashed before" : "failed at") + " operation " +
                                     std::to_string(k),
                                 faults);
      if (::testing::Test::HasFailure()) return;
    }
    EXPECT_GT(total, 8) << (crash ? "crash" : "fail");
    std::printf("a destroy takes %d operations; each %s in turn\n", total,
                crash ? "preceded by dec dying" : "failed");
  }
}

// A destroy step that fails keeps its record and the destroy goes on with the rest; the next
// reconcile finishes the job.
TEST_F(HostFaults, FailedDestroyStepIsKeptAndReconcileFinishesIt) {
  std::string spec = write_spec(kThreeNodes);
  auto applied = apply(spec);
  const std::string run_id = applied["runs"][0]["run_id"];
  // The namespace of node 1 cannot be deleted.
  struct FailNode1 : testing::FaultInjectionEnv {
    using FaultInjectionEnv::FaultInjectionEnv;
    Status delete_netns(const std::string& netns) override {
      if (netns.ends_with("~host.r3.1")) return make_error("injected: cannot delete " + netns);
      return FaultInjectionEnv::delete_netns(netns);
    }
  } faults(env_);
  Status destroyed = infra::destroy_recorded_run(context(faults), run_id, nullptr);
  ASSERT_FALSE(destroyed);
  EXPECT_NE(destroyed.error().find("host.r3.1"), std::string::npos) << destroyed.error();
  infra::RunState left = load_run(run_id);
  // Destroy went on past the failure: only the failed host is still recorded.
  ASSERT_EQ(left.resources.size(), 1u);
  EXPECT_EQ(left.resources[0].resource.address, "host.r3.1");
  EXPECT_TRUE(lh::netns_exists(provider().netns_name(run_id, "host.r3.1")));
  auto [rc, rout] = run_dec({"reconcile"});
  EXPECT_EQ(rc, 0) << rout;
  expect_nothing_left("after reconcile");
}

TEST_F(Hosts, ReconcileDeletesOrphansRecreatesVanishedAndFixesDrift) {
  std::string spec = write_spec(kThreeNodes);
  auto applied = apply(spec);
  const std::string run_id = applied["runs"][0]["run_id"];
  infra::RunState state = load_run(run_id);

  // A tagged process and a namespace that no run knows about.
  const std::string ghost_ns = provider().netns_name("ghost.run", "host.ghost.0");
  ASSERT_TRUE(lh::run_command({"ip", "netns", "add", ghost_ns}).ok());
  infra::SpawnOptions sleeper;
  sleeper.argv = {"sleep", "60"};
  sleeper.environment = {{"DEC_INSTALLATION", installation_},
                         {"DEC_RUN", "ghost.run"},
                         {"DEC_RESOURCE", "service.ghost.0"}};
  auto ghost = env_.spawn(sleeper);
  ASSERT_TRUE(ghost.ok());
  // Node 1's broker dies, and someone changes node 2's CPU limit by hand.
  const infra::ResourceRecord* node1 = state.find("service.r3.1");
  ASSERT_NE(node1, nullptr);
  ::kill(std::stoi(node1->outputs.at("pid")), SIGKILL);
  ASSERT_TRUE(
      lh::set_cgroup_limits(provider().cgroup_path(run_id, "host.r3.2"), {2.0, 256u << 20}));

  auto [dry_code, dry] = run_dec({"reconcile", "--dry-run", "--json"});
  ASSERT_EQ(dry_code, 0) << dry;
  auto report = nlohmann::json::parse(dry.substr(dry.find('{')));
  EXPECT_EQ(report["recreated"].size(), 1u) << report.dump();
  EXPECT_EQ(report["drift"].size(), 1u) << report.dump();
  EXPECT_TRUE(env_.process_alive(*ghost));
  EXPECT_TRUE(lh::netns_exists(ghost_ns));

  auto [code, out] = run_dec({"reconcile", "--json"});
  ASSERT_EQ(code, 0) << out;
  report = nlohmann::json::parse(out.substr(out.find('{')));
  ASSERT_EQ(report["recreated"].size(), 1u) << report.dump();
  EXPECT_NE(report["recreated"][0].get<std::string>().find("service.r3.1"), std::string::npos);
  ASSERT_EQ(report["drift"].size(), 1u) << report.dump();
  EXPECT_NE(report["drift"][0].get<std::string>().find("host.r3.2: cpus"), std::string::npos);
  EXPECT_FALSE(env_.process_alive(*ghost));
  EXPECT_FALSE(lh::netns_exists(ghost_ns));
  infra::RunState repaired = load_run(run_id);
  const infra::ResourceRecord* node1_now = repaired.find("service.r3.1");
  ASSERT_NE(node1_now, nullptr);
  EXPECT_EQ(node1_now->status, "created");
  EXPECT_TRUE(env_.process_alive(infra::ProcessId{std::stoi(node1_now->outputs.at("pid")), 0}));
  auto limits = lh::cgroup_limits(provider().cgroup_path(run_id, "host.r3.2"));
  ASSERT_TRUE(limits.ok());
  EXPECT_DOUBLE_EQ(limits->cpus.value_or(0), 0.5);

  auto [again_code, again] = run_dec({"reconcile", "--json"});
  ASSERT_EQ(again_code, 0) << again;
  report = nlohmann::json::parse(again.substr(again.find('{')));
  EXPECT_TRUE(report["actions"].empty()) << report.dump();

  auto [dc, dout] = run_dec({"destroy", run_id});
  EXPECT_EQ(dc, 0) << dout;
  expect_nothing_left("after destroy");
}

TEST_F(Hosts, RunWithFaultsRecordsEachFaultAndLeavesNothing) {
  std::string text = R"(name: faults
workload:
  message_size: 256B
  producers: 1
  consumers: 1
  rate: 1k/s
  warmup: 1s
  duration: 6s
  drain_timeout: 3s
  partitions: 3
systems:
  - name: r3
    driver: redis
    deploy: {provider: local, nodes: 3}
faults:
  - {at: 1500ms, action: pause, target: 0}
  - {at: 2500ms, action: resume, target: 0}
  - {at: 3s, action: throttle, target: 1, bandwidth: 1Mbit}
  - {at: 3500ms, action: disconnect, target: 1}
  - {at: 4s, action: reconnect, target: 1}
  - {at: 5s, action: kill, target: 2}
  - {at: 5500ms, action: pause, target: 0}
)";
  std::string spec = write_spec(text);
  auto [code, out] = run_dec({"run", spec, "--json", "--quiet"});
  auto start = out.find("{\n");
  ASSERT_NE(start, std::string::npos) << out;
  auto results = nlohmann::json::parse(out.substr(start), nullptr, false);
  ASSERT_FALSE(results.is_discarded()) << out;
  const auto& run = results["runs"][0];
  // The last pause is never resumed: destroy must still stop the frozen broker.
  ASSERT_EQ(run["faults"].size(), 7u) << run.dump();
  for (const auto& fault : run["faults"]) {
    EXPECT_TRUE(fault["applied"].get<bool>()) << fault.dump();
  }
  EXPECT_NE(run["served_by"].get<std::string>().find("3 hosts"), std::string::npos)
      << run["served_by"];
  // The killed node's streams lose what it had not delivered; every other message arrives.
  EXPECT_GT(run["delivery"]["received"].get<uint64_t>(), 0u) << run.dump();
  (void)code;
  expect_nothing_left("after the run");
}

// The load agent on a host limited to a tenth of a core cannot offer 40k msg/s: the result says
// its figures are a lower bound and why the rate fell short; the same system with a free agent
// is not flagged. Both report what the broker and the agent used.
TEST_F(Hosts, AStarvedLoadAgentIsReportedAsTheLimit) {
  std::string spec = write_spec(R"(name: starved
workload: {message_size: 256B, producers: 2, consumers: 2, rate: 40k/s, warmup: 1s, duration: 4s,
           drain_timeout: 5s}
systems:
  - name: starved
    driver: redis
    config: {pipeline: 64}
    deploy: {provider: local, settings: {worker_cpus: "0.1"}}
  - name: fed
    driver: redis
    config: {pipeline: 64}
    deploy: {provider: local}
)");
  auto [code, out] = run_dec({"run", spec, "--json", "--quiet"});
  auto start = out.find("{\n");
  ASSERT_NE(start, std::string::npos) << out;
  auto results = nlohmann::json::parse(out.substr(start), nullptr, false);
  ASSERT_FALSE(results.is_discarded()) << out;
  ASSERT_EQ(results["runs"].size(), 2u);
  const auto& starved = results["runs"][0]["resources"];
  const auto& fed = results["runs"][1]["resources"];
  EXPECT_TRUE(starved["load_generator_saturated"].get<bool>()) << starved.dump();
  EXPECT_EQ(starved["limited_by"], "load agent CPU") << starved.dump();
  EXPECT_FALSE(fed["load_generator_saturated"].get<bool>()) << fed.dump();
  for (const auto* resources : {&starved, &fed}) {
    bool broker = false, agent = false;
    for (const auto& host : (*resources)["hosts"]) {
      broker |= host["role"] == "broker" && host["cpu_seconds"].get<double>() > 0;
      agent |= host["role"] == "load agent" && host["cpu_seconds"].get<double>() > 0;
    }
    EXPECT_TRUE(broker && agent) << resources->dump();
    EXPECT_TRUE((*resources)["msgs_per_broker_cpu_s"].is_number()) << resources->dump();
  }
  (void)code;
  expect_nothing_left("after the run");
}

}  // namespace
}  // namespace dec
