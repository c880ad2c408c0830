// Plan computation, state files, and apply/destroy bookkeeping with a scripted provider.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/host_user.h"
#include "infra/env.h"
#include "infra/executor.h"
#include "infra/linux_host.h"
#include "infra/local_provider.h"
#include "infra/provider_registry.h"
#include "infra/reaper.h"
#include "infra/reconcile.h"
#include "infra/resource.h"

namespace dec::infra {
namespace {

Resource service(const std::string& address, Settings attributes = {},
                 std::vector<std::string> deps = {}) {
  return Resource{address, "service", std::move(attributes), std::move(deps)};
}

TEST(Plan, EmptyStateCreatesEverythingInDependencyOrder) {
  std::vector<Resource> desired = {service("b", {}, {"a"}), service("a"), service("c", {}, {"b"})};
  auto plan = plan_changes(desired, RunState{});
  ASSERT_TRUE(plan.ok()) << plan.error();
  ASSERT_EQ(plan->changes.size(), 3u);
  EXPECT_EQ(plan->changes[0].resource.address, "a");
  EXPECT_EQ(plan->changes[1].resource.address, "b");
  EXPECT_EQ(plan->changes[2].resource.address, "c");
  for (const auto& c : plan->changes) EXPECT_EQ(c.kind, ChangeKind::kCreate);
}

TEST(Plan, UnchangedResourcesProduceNoChanges) {
  RunState state;
  state.resources.push_back({service("a", {{"port", "1"}}), "created", {}});
  auto plan = plan_changes({service("a", {{"port", "1"}})}, state);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
}

TEST(Plan, ChangedAttributeReplacesUnlessUpdatableInPlace) {
  RunState state;
  state.resources.push_back({service("a", {{"image", "1"}, {"mem", "1"}}), "created", {}});
  auto replace = plan_changes({service("a", {{"image", "2"}, {"mem", "1"}})}, state);
  ASSERT_TRUE(replace.ok());
  ASSERT_EQ(replace->changes.size(), 1u);
  EXPECT_EQ(replace->changes[0].kind, ChangeKind::kReplace);
  EXPECT_EQ(replace->changes[0].changed_fields, std::vector<std::string>{"image"});

  auto update = plan_changes({service("a", {{"image", "1"}, {"mem", "2"}})}, state, {"mem"});
  ASSERT_TRUE(update.ok());
  ASSERT_EQ(update->changes.size(), 1u);
  EXPECT_EQ(update->changes[0].kind, ChangeKind::kUpdate);
}

TEST(Plan, HalfCreatedResourceIsReplacedAndUndesiredDeletedFirst) {
  RunState state;
  state.resources.push_back({service("old"), "created", {}});
  state.resources.push_back({service("a"), "creating", {}});
  auto plan = plan_changes({service("a")}, state);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->changes.size(), 2u);
  EXPECT_EQ(plan->changes[0].kind, ChangeKind::kDelete);
  EXPECT_EQ(plan->changes[0].resource.address, "old");
  EXPECT_EQ(plan->changes[1].kind, ChangeKind::kReplace);
}

TEST(Plan, CyclesAndMissingDependenciesAreErrors) {
  auto cycle = plan_changes({service("a", {}, {"b"}), service("b", {}, {"a"})}, RunState{});
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.error().find("cycle"), std::string::npos);
  auto missing = plan_changes({service("a", {}, {"zzz"})}, RunState{});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("zzz"), std::string::npos);
}

TEST(Plan, TextLooksLikeTerraform) {
  RunState state;
  state.resources.push_back({service("gone"), "created", {}});
  auto plan = plan_changes({service("new", {{"program", "redis-server"}})}, state);
  ASSERT_TRUE(plan.ok());
  std::string text = plan_to_text(*plan);
  EXPECT_NE(text.find("  - service gone"), std::string::npos) << text;
  EXPECT_NE(text.find("  + service new"), std::string::npos) << text;
  EXPECT_NE(text.find("program = \"redis-server\""), std::string::npos) << text;
  EXPECT_NE(text.find("Plan: 1 to add, 0 to change, 1 to destroy."), std::string::npos) << text;
}

TEST(StateJson, RoundTrips) {
  RunState state;
  state.run_id = "e1.redis";
  state.experiment_id = "e1";
  state.system = "redis";
  state.provider = "local";
  state.installation = "abc";
  state.owner = {123, 456};
  state.resources.push_back({service("a", {{"k", "v"}}, {}), "created", {{"pid", "77"}}});
  auto back = run_state_from_json(run_state_to_json(state));
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->run_id, "e1.redis");
  EXPECT_EQ(back->owner.pid, 123);
  EXPECT_EQ(back->owner.start_ticks, 456u);
  ASSERT_EQ(back->resources.size(), 1u);
  EXPECT_EQ(back->resources[0].resource, state.resources[0].resource);
  EXPECT_EQ(back->resources[0].outputs.at("pid"), "77");
  EXPECT_FALSE(run_state_from_json("{not json").ok());
}

// A provider whose resources are entries in a set; it can be told to fail chosen steps.
class ScriptedProvider : public Provider {
 public:
  std::set<std::string> existing;
  std::set<std::string> fail_create;
  std::set<std::string> fail_destroy;
  std::map<std::string, Settings> actual;  // observed attributes per address
  std::vector<DiscoveredResource> discovered;
  std::vector<std::string> destroyed_discovered;
  std::vector<std::string> updated;
  int parallel = 1;
  std::chrono::milliseconds create_delay{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::mutex mutex;
  std::string name() const override { return "scripted"; }
  int max_parallel() const override { return parallel; }
  std::vector<std::string> updatable_in_place() const override { return {"cpus"}; }
  Status update(ResourceRecord& record, const Resource& desired, const RunState&,
                const std::function<Status()>&) override {
    std::lock_guard<std::mutex> lock(mutex);
    updated.push_back(record.resource.address);
    actual[record.resource.address] = desired.attributes;
    return Status::Ok();
  }
  Settings observe(const ResourceRecord& record) override {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = actual.find(record.resource.address);
    return it == actual.end() ? Settings{} : it->second;
  }
  Result<std::vector<Resource>> resources_for(const core::System&, const DeployRequest&) override {
    return std::vector<Resource>{};
  }
  Status create(ResourceRecord& record, const RunState& state,
                const std::function<Status()>& save) override {
    int now = ++running;
    for (int seen = max_running.load();
         now > seen && !max_running.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(create_delay);
    --running;
    // Dependencies are complete in the state a step sees.
    for (const auto& dep : record.resource.depends_on) {
      bool done = false;
      for (const auto& r : state.resources) {
        done |= r.resource.address == dep && r.status == "created";
      }
      if (!done) return make_error("created before its dependency " + dep);
    }
    record.outputs["id"] = record.resource.address;
    if (Status s = save(); !s) return s;
    std::lock_guard<std::mutex> lock(mutex);
    if (fail_create.count(record.resource.address)) return make_error("injected create failure");
    existing.insert(record.resource.address);
    actual[record.resource.address] = record.resource.attributes;
    return Status::Ok();
  }
  Status destroy(const ResourceRecord& record, const RunState&) override {
    std::lock_guard<std::mutex> lock(mutex);
    if (fail_destroy.count(record.resource.address)) return make_error("injected destroy failure");
    // Nothing may be destroyed while something depending on it still exists.
    destroy_order.push_back(record.resource.address);
    existing.erase(record.resource.address);
    return Status::Ok();
  }
  bool exists(const ResourceRecord& record) override {
    std::lock_guard<std::mutex> lock(mutex);
    return existing.count(record.resource.address);
  }
  Result<ServiceEndpoint> endpoint(const RunState&) override { return ServiceEndpoint{}; }
  std::vector<DiscoveredResource> discover() override { return discovered; }
  Status destroy_discovered(const DiscoveredResource& d) override {
    destroyed_discovered.push_back(d.run_id + "/" + d.address);
    std::erase_if(discovered, [&](const DiscoveredResource& x) {
      return x.run_id == d.run_id && x.address == d.address;
    });
    return Status::Ok();
  }
  std::vector<std::string> destroy_order;
};

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dec-executor-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  PosixEnv env_;
};

TEST_F(ExecutorTest, ApplyRecordsEveryResourceAndDestroyRemovesStateFile) {
  ScriptedProvider provider;
  StateFile file(env_, (dir_ / "run.json").string());
  RunState state;
  state.run_id = "run";
  auto plan = plan_changes({service("a"), service("b", {}, {"a"})}, state);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(apply_plan(provider, *plan, state, file, nullptr));
  EXPECT_EQ(provider.existing, (std::set<std::string>{"a", "b"}));
  auto saved = file.load();
  ASSERT_TRUE(saved.ok());
  ASSERT_EQ(saved->resources.size(), 2u);
  EXPECT_EQ(saved->resources[1].status, "created");

  ASSERT_TRUE(destroy_run(provider, state, file, nullptr));
  EXPECT_TRUE(provider.existing.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run.json"));
  // Idempotent: destroying again is harmless.
  EXPECT_TRUE(destroy_run(provider, state, file, nullptr));
}

TEST_F(ExecutorTest, FailedCreateLeavesHalfCreatedRecordThatDestroyCleans) {
  ScriptedProvider provider;
  provider.fail_create = {"b"};
  StateFile file(env_, (dir_ / "run.json").string());
  RunState state;
  auto plan = plan_changes({service("a"), service("b"), service("c")}, state);
  ASSERT_TRUE(plan.ok());
  Status applied = apply_plan(provider, *plan, state, file, nullptr);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().find("create b"), std::string::npos);
  auto saved = file.load();
  ASSERT_TRUE(saved.ok());
  ASSERT_EQ(saved->resources.size(), 2u);  // c never started
  EXPECT_EQ(saved->resources[1].status, "creating");
  EXPECT_EQ(saved->resources[1].outputs.at("id"), "b");
  ASSERT_TRUE(destroy_run(provider, state, file, nullptr));
  EXPECT_TRUE(provider.existing.empty());
}

TEST_F(ExecutorTest, DestroyContinuesPastFailuresAndKeepsThemRecorded) {
  ScriptedProvider provider;
  StateFile file(env_, (dir_ / "run.json").string());
  RunState state;
  auto plan = plan_changes({service("a"), service("b"), service("c")}, state);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(apply_plan(provider, *plan, state, file, nullptr));
  provider.fail_destroy = {"b"};
  Status destroyed = destroy_run(provider, state, file, nullptr);
  ASSERT_FALSE(destroyed);
  EXPECT_NE(destroyed.error().find("injected destroy failure"), std::string::npos);
  EXPECT_EQ(provider.existing, std::set<std::string>{"b"});  // a and c went anyway
  auto saved = file.load();
  ASSERT_TRUE(saved.ok());
  ASSERT_EQ(saved->resources.size(), 1u);
  EXPECT_EQ(saved->resources[0].resource.address, "b");
  provider.fail_destroy.clear();
  ASSERT_TRUE(destroy_run(provider, *saved, file, nullptr));
  EXPECT_TRUE(provider.existing.empty());
}

TEST_F(ExecutorTest, IndependentStepsRunSideBySideAfterTheirDependencies) {
  ScriptedProvider provider;
  provider.parallel = 8;
  provider.create_delay = std::chrono::milliseconds(50);
  StateFile file(env_, (dir_ / "run.json").string());
  RunState state;
  // net <- host.0..2 <- svc.0..2 <- topic: three levels of three side-by-side steps.
  std::vector<Resource> desired = {service("net")};
  std::vector<std::string> services;
  for (int i = 0; i < 3; ++i) {
    desired.push_back(service("host." + std::to_string(i), {}, {"net"}));
    desired.push_back(service("svc." + std::to_string(i), {}, {"host." + std::to_string(i)}));
    services.push_back("svc." + std::to_string(i));
  }
  desired.push_back(service("topic", {}, services));
  auto plan = plan_changes(desired, state);
  ASSERT_TRUE(plan.ok());
  Status applied = apply_plan(provider, *plan, state, file, nullptr);
  ASSERT_TRUE(applied) << applied.error();
  EXPECT_EQ(provider.existing.size(), 8u);
  // Hosts (then services) side by side, and never a step before its dependencies (create()
  // fails when a dependency is not yet created in the state it is given).
  EXPECT_EQ(provider.max_running.load(), 3);
  auto saved = file.load();
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->resources.size(), 8u);
  for (const auto& r : saved->resources) EXPECT_EQ(r.status, "created") << r.resource.address;

  ASSERT_TRUE(destroy_run(provider, state, file, nullptr));
  // Reverse dependency order: topic first, net last, every service before its host.
  ASSERT_EQ(provider.destroy_order.size(), 8u);
  EXPECT_EQ(provider.destroy_order.front(), "topic");
  EXPECT_EQ(provider.destroy_order.back(), "net");
  auto pos = [&](const std::string& a) {
    return std::find(provider.destroy_order.begin(), provider.destroy_order.end(), a) -
           provider.destroy_order.begin();
  };
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(pos("svc." + std::to_string(i)), pos("host." + std::to_string(i)));
  }
}

TEST_F(ExecutorTest, UpdatableAttributeChangesInPlace) {
  ScriptedProvider provider;
  StateFile file(env_, (dir_ / "run.json").string());
  RunState state;
  auto plan = plan_changes({service("h", {{"cpus", "1"}, {"image", "a"}})}, state);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(apply_plan(provider, *plan, state, file, nullptr));
  auto change = plan_changes({service("h", {{"cpus", "2"}, {"image", "a"}})}, state,
                             provider.updatable_in_place());
  ASSERT_TRUE(change.ok());
  ASSERT_EQ(change->changes.size(), 1u);
  EXPECT_EQ(change->changes[0].kind, ChangeKind::kUpdate);
  ASSERT_TRUE(apply_plan(provider, *change, state, file, nullptr));
  EXPECT_EQ(provider.updated, std::vector<std::string>{"h"});
  EXPECT_TRUE(provider.destroy_order.empty());  // not replaced
  EXPECT_EQ(state.resources[0].resource.attributes.at("cpus"), "2");
  EXPECT_EQ(state.resources[0].status, "created");
  ASSERT_TRUE(destroy_run(provider, state, file, nullptr));
}

// reconcile() with a scripted provider plugged in through ProviderContext::factory.
class ReconcileTest : public ExecutorTest {
 protected:
  ProviderContext context() {
    ProviderContext pc;
    pc.env = &env_;
    pc.data_dir = dir_.string();
    pc.installation = "test";
    pc.providers = providers_;
    pc.factory = [this](const std::string& name) -> Result<std::unique_ptr<Provider>> {
      // A non-owning view of a scripted provider: "other" is the second one, any name else the
      // first.
      struct View : Provider {
        ScriptedProvider* p;
        explicit View(ScriptedProvider* p) : p(p) {}
        std::string name() const override { return p->name(); }
        Result<std::vector<Resource>> resources_for(const core::System& s,
                                                    const DeployRequest& r) override {
          return p->resources_for(s, r);
        }
        std::vector<std::string> updatable_in_place() const override {
          return p->updatable_in_place();
        }
        Status create(ResourceRecord& r, const RunState& s,
                      const std::function<Status()>& save) override {
          return p->create(r, s, save);
        }
        Status update(ResourceRecord& r, const Resource& d, const RunState& s,
                      const std::function<Status()>& save) override {
          return p->update(r, d, s, save);
        }
        Status destroy(const ResourceRecord& r, const RunState& s) override {
          return p->destroy(r, s);
        }
        bool exists(const ResourceRecord& r) override { return p->exists(r); }
        Settings observe(const ResourceRecord& r) override { return p->observe(r); }
        Result<ServiceEndpoint> endpoint(const RunState& s) override { return p->endpoint(s); }
        std::vector<DiscoveredResource> discover() override { return p->discover(); }
        Status destroy_discovered(const DiscoveredResource& d) override {
          return p->destroy_discovered(d);
        }
      };
      return std::unique_ptr<Provider>(new View(name == "other" ? &other_ : &provider_));
    };
    return pc;
  }
  // Applies `resources` as run `run_id` and leaves it recorded.
  RunState apply(const std::string& run_id, const std::vector<Resource>& resources, bool kept,
                 ProcessId owner) {
    RunState state;
    state.run_id = run_id;
    state.provider = "scripted";
    state.kept = kept;
    StateFile file(env_, state_path(dir_.string(), run_id));
    auto plan = plan_changes(resources, state);
    EXPECT_TRUE(plan.ok());
    EXPECT_TRUE(apply_plan(provider_, *plan, state, file, nullptr));
    state.owner = owner;
    EXPECT_TRUE(file.save(state));
    return state;
  }
  ScriptedProvider provider_;
  ScriptedProvider other_;
  std::vector<std::string> providers_ = {"scripted"};
};

// Reconcile asks every provider for what carries the installation's tags, and each orphan is
// deleted by the provider that found it (a crashed Terraform run leaves its stack, a crashed
// local run its processes).
TEST_F(ReconcileTest, EveryProviderIsAskedAndDeletesItsOwnOrphans) {
  providers_ = {"scripted", "other"};
  provider_.discovered = {{"gone-a", "p", "service", "process of gone-a", {}, ""}};
  other_.discovered = {{"gone-b", "s", "stack", "stack of gone-b", {}, ""}};
  provider_.existing.insert("p");
  other_.existing.insert("s");
  auto report = reconcile(context(), {}, nullptr);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(provider_.destroyed_discovered, std::vector<std::string>{"gone-a/p"});
  EXPECT_EQ(other_.destroyed_discovered, std::vector<std::string>{"gone-b/s"});
  bool named = false;
  for (const auto& action : report.actions) {
    named =
        named || action.find("stack of gone-b of run gone-b (provider other)") != std::string::npos;
  }
  EXPECT_TRUE(named) << "the action names the provider of a non-local orphan";
}

TEST(ProviderRegistry, MakesEveryRegisteredProviderAndListsThemForAnUnknownName) {
  PosixEnv env;
  ProviderContext pc;
  pc.env = &env;
  pc.data_dir = "/nonexistent";
  for (const auto& info : all_providers()) {
    auto provider = make_provider(info.name, pc);
    ASSERT_TRUE(provider.ok()) << info.name;
    EXPECT_EQ((*provider)->name(), info.name);
    EXPECT_FALSE(info.summary.empty());
  }
  auto unknown = make_provider("cloudy", pc);
  ASSERT_FALSE(unknown.ok());
  for (const auto& info : all_providers()) {
    EXPECT_NE(unknown.error().find(info.name), std::string::npos) << unknown.error();
  }
  EXPECT_EQ(discovering_providers(pc).size(), all_providers().size());
}

TEST_F(ReconcileTest, KeptRunIsRepairedInterruptedRunDestroyedOrphansDeleted) {
  const ProcessId dead{999999, 1};
  apply("kept", {service("a", {{"cpus", "1"}}), service("b", {}, {"a"})}, true, ProcessId{});
  apply("crashed", {service("x")}, false, dead);
  // Damage: b vanished, a's CPU limit drifted, an unrecorded resource of the kept run exists,
  // one of the crashed run too, and one belonging to no run at all.
  provider_.existing.erase("b");
  provider_.actual["a"] = {{"cpus", "3"}};
  provider_.discovered = {
      {"kept", "extra", "host", "namespace of kept", {}, ""},
      {"crashed", "y", "host", "namespace of crashed", {}, ""},
      {"nobody", "z", "host", "namespace of nobody", {}, ""},
  };
  provider_.existing.insert({"extra", "y", "z"});

  // Dry run: reports everything, changes nothing.
  auto dry = reconcile(context(), {true}, nullptr);
  EXPECT_TRUE(dry.clean());
  EXPECT_EQ(dry.recreated, std::vector<std::string>{"kept/b"});
  ASSERT_EQ(dry.drift.size(), 1u);
  EXPECT_NE(dry.drift[0].find("cpus recorded \"1\", found \"3\""), std::string::npos)
      << dry.drift[0];
  EXPECT_EQ(std::set<std::string>(dry.adopted.begin(), dry.adopted.end()),
            (std::set<std::string>{"kept/extra", "crashed/y"}));
  EXPECT_FALSE(provider_.existing.count("b"));
  EXPECT_TRUE(provider_.existing.count("x"));
  EXPECT_TRUE(provider_.destroyed_discovered.empty());

  auto report = reconcile(context(), {}, nullptr);
  EXPECT_TRUE(report.clean()) << (report.errors.empty() ? "" : report.errors[0]);
  EXPECT_TRUE(provider_.existing.count("b"));                   // recreated
  EXPECT_EQ(provider_.updated, std::vector<std::string>{"a"});  // drift fixed in place
  EXPECT_EQ(provider_.actual["a"].at("cpus"), "1");
  EXPECT_FALSE(provider_.existing.count("x"));  // crashed run destroyed ...
  EXPECT_NE(std::find(provider_.destroy_order.begin(), provider_.destroy_order.end(), "y"),
            provider_.destroy_order.end());  // ... with what it adopted
  EXPECT_EQ(report.cleaned_runs, std::vector<std::string>{"crashed"});
  // The orphan of no run went; the kept run's adopted resource stays with the run.
  EXPECT_NE(std::find(provider_.destroyed_discovered.begin(), provider_.destroyed_discovered.end(),
                      "nobody/z"),
            provider_.destroyed_discovered.end());
  auto kept = StateFile(env_, state_path(dir_.string(), "kept")).load();
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->kept);
  EXPECT_NE(kept->find("extra"), nullptr);
  EXPECT_FALSE(std::filesystem::exists(state_path(dir_.string(), "crashed")));

  // Converged: a second reconcile has nothing to do for the kept run.
  provider_.discovered.clear();
  auto again = reconcile(context(), {}, nullptr);
  EXPECT_TRUE(again.clean());
  EXPECT_TRUE(again.recreated.empty());
  EXPECT_TRUE(again.drift.empty());
  EXPECT_TRUE(again.adopted.empty());
}

// A state file damaged on disk: kept aside as .corrupt, and the run's resources are cleaned up
// by their tags like any orphan's, instead of reconcile stopping with a library message.
TEST_F(ReconcileTest, CorruptStateFileIsSetAsideAndTagDiscoveryCleansTheRun) {
  const std::string path = state_path(dir_.string(), "broken");
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << "{\"garbage";
  provider_.discovered = {{"broken", "svc", "service", "redis-server of broken", {}, ""}};
  provider_.existing.insert("svc");

  auto dry = reconcile(context(), {true}, nullptr);
  EXPECT_TRUE(dry.clean()) << dry.errors.front();
  ASSERT_FALSE(dry.actions.empty());
  EXPECT_NE(dry.actions.front().find("set aside the unreadable state file of run broken"),
            std::string::npos)
      << dry.actions.front();
  EXPECT_NE(dry.actions.front().find("not valid JSON (at byte"), std::string::npos);
  EXPECT_EQ(dry.actions.front().find("json.exception"), std::string::npos) << dry.actions.front();
  EXPECT_TRUE(std::filesystem::exists(path)) << "a dry run changes nothing";
  EXPECT_TRUE(provider_.destroyed_discovered.empty());

  auto report = reconcile(context(), {}, nullptr);
  EXPECT_TRUE(report.clean()) << report.errors.front();
  EXPECT_FALSE(std::filesystem::exists(path));
  std::ifstream aside(path + ".corrupt");
  std::string kept((std::istreambuf_iterator<char>(aside)), {});
  EXPECT_EQ(kept, "{\"garbage");
  EXPECT_EQ(provider_.destroyed_discovered, std::vector<std::string>{"broken/svc"});
  // Nothing left to do, and the .corrupt file is not taken for a run.
  provider_.discovered.clear();
  auto again = reconcile(context(), {}, nullptr);
  EXPECT_TRUE(again.actions.empty());
  EXPECT_TRUE(again.clean());
}

ProviderContext local_context(Env& env) {
  ProviderContext pc;
  pc.env = &env;
  pc.data_dir = "/tmp/none";
  pc.installation = "inst";
  pc.dec_binary = "/bin/dec";
  return pc;
}

core::System local_system(const std::string& driver, int nodes) {
  core::System system;
  system.name = "s";
  system.driver = driver;
  system.deploy.nodes = nodes;
  return system;
}

TEST(LocalProviderGraph, WithoutHostsServicesTopicsAndWorkerOnLoopback) {
  PosixEnv env;
  LocalProvider provider(local_context(env));
  core::System system = local_system("redis", 3);
  system.deploy.settings["hosts"] = "false";
  DeployRequest request{"e.s", {"t0", "t1"}, 6, true};
  auto resources = provider.resources_for(system, request);
  ASSERT_TRUE(resources.ok()) << resources.error();
  std::vector<std::string> addresses;
  for (const auto& r : *resources) addresses.push_back(r.address);
  EXPECT_EQ(addresses, (std::vector<std::string>{"service.s.0", "service.s.1", "service.s.2",
                                                 "topic.s.0", "topic.s.1", "worker.s.0"}));
  // Topics wait for every node.
  EXPECT_EQ((*resources)[3].depends_on,
            (std::vector<std::string>{"service.s.0", "service.s.1", "service.s.2"}));
  EXPECT_EQ((*resources)[3].attributes.at("partitions"), "6");
}

TEST(LocalProviderGraph, LimitsAndSettingsAreCheckedWithTheFieldNamed) {
  PosixEnv env;
  LocalProvider provider(local_context(env));
  DeployRequest request{"e.s", {"t0"}, 1, true};

  core::System limited = local_system("redis", 1);
  limited.deploy.settings["hosts"] = "false";
  limited.deploy.cpus = 1;
  auto no_hosts = provider.resources_for(limited, request);
  ASSERT_FALSE(no_hosts.ok());
  EXPECT_NE(no_hosts.error().find("deploy.cpus"), std::string::npos) << no_hosts.error();

  core::System bad = local_system("redis", 1);
  bad.deploy.settings["hosts"] = "maybe";
  auto bad_mode = provider.resources_for(bad, request);
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_NE(bad_mode.error().find("deploy.settings.hosts"), std::string::npos);

  core::System unknown = local_system("redis", 1);
  unknown.deploy.settings["image"] = "x";
  auto unknown_key = provider.resources_for(unknown, request);
  ASSERT_FALSE(unknown_key.ok());
  EXPECT_NE(unknown_key.error().find("deploy.settings.image"), std::string::npos);

  core::System kafka = local_system("kafka", 3);
  kafka.deploy.settings["kafka"] = "mock";  // its brokers share one process on loopback
  kafka.deploy.bandwidth = 1000000;
  auto shaped = provider.resources_for(kafka, request);
  ASSERT_FALSE(shaped.ok());
  EXPECT_NE(shaped.error().find("deploy."), std::string::npos) << shaped.error();

  core::System kinesis = local_system("kinesis", 2);
  auto nodes = provider.resources_for(kinesis, request);
  ASSERT_FALSE(nodes.ok());
  EXPECT_NE(nodes.error().find("deploy.nodes"), std::string::npos);
}

TEST(LocalProviderGraph, KafkaIsApacheKafkaUnlessTheMockIsAsked) {
  PosixEnv env;
  ProviderContext pc = local_context(env);
  const std::string tools = ::testing::TempDir() + "dec-infra-tools-" + std::to_string(getpid());
  std::filesystem::create_directories(tools + "/kafka/lib");
  pc.tools_dir = tools;
  LocalProvider provider(pc);
  DeployRequest request{"e.s", {"t0"}, 3, false};

  // One node on loopback: one process, `java`, told how many nodes its cluster has.
  core::System one = local_system("kafka", 1);
  one.deploy.settings["hosts"] = "false";
  auto real = provider.resources_for(one, request);
  ASSERT_TRUE(real.ok()) << real.error();
  ASSERT_EQ((*real)[0].address, "service.s.0");
  EXPECT_EQ((*real)[0].attributes.at("program"), "java");
  EXPECT_EQ((*real)[0].attributes.at("cluster_size"), "1");
  EXPECT_FALSE((*real)[0].attributes.count("nodes"));  // that marks the mock's one process

  // Several nodes address one another on fixed ports: each needs a host.
  core::System three = local_system("kafka", 3);
  three.deploy.settings["hosts"] = "false";
  auto loopback = provider.resources_for(three, request);
  ASSERT_FALSE(loopback.ok());
  EXPECT_NE(loopback.error().find("deploy.nodes"), std::string::npos) << loopback.error();
  EXPECT_NE(loopback.error().find("deploy.settings.kafka: mock"), std::string::npos);

  // The mock: all brokers in one process.
  three.deploy.settings["kafka"] = "mock";
  auto mock = provider.resources_for(three, request);
  ASSERT_TRUE(mock.ok()) << mock.error();
  ASSERT_EQ(mock->size(), 2u);  // service + topic
  EXPECT_EQ((*mock)[0].attributes.at("program"), "kafka-mock");
  EXPECT_EQ((*mock)[0].attributes.at("nodes"), "3");

  three.deploy.settings["kafka"] = "confluent";
  auto bad = provider.resources_for(three, request);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("deploy.settings.kafka"), std::string::npos) << bad.error();

  core::System redis = local_system("redis", 1);
  redis.deploy.settings["kafka"] = "mock";
  EXPECT_FALSE(provider.resources_for(redis, request).ok());

  // Not installed: said before anything is provisioned, with the fix.
  std::filesystem::remove_all(tools);
  auto missing = provider.resources_for(one, request);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("Apache Kafka is not installed (tools/kafka/lib missing): run "
                                 "scripts/setup"),
            std::string::npos)
      << missing.error();
}

// The topics a provider creates before the run are the ones the spec asks for: the driver's
// topic-shaping keys travel with the topic resource (and a changed one shows in the plan).
TEST(LocalProviderGraph, TopicsCarryTheSystemsTopicShapingConfig) {
  PosixEnv env;
  LocalProvider provider(local_context(env));
  DeployRequest request{"e.s", {"t0"}, 2, false};
  core::System nats = local_system("nats", 1);
  nats.deploy.settings["hosts"] = "false";
  nats.config = {{"replicas", "1"}, {"storage", "memory"}, {"max_in_flight", "64"}};
  auto resources = provider.resources_for(nats, request);
  ASSERT_TRUE(resources.ok()) << resources.error();
  const Resource* topic = nullptr;
  for (const auto& r : *resources) {
    if (r.type == "topic") topic = &r;
  }
  ASSERT_NE(topic, nullptr);
  EXPECT_EQ(topic->attributes.at("config.storage"), "memory");
  EXPECT_EQ(topic->attributes.at("config.replicas"), "1");
  EXPECT_FALSE(topic->attributes.count("config.max_in_flight"));  // a client setting
  EXPECT_EQ(topic_config(topic->attributes), (Settings{{"replicas", "1"}, {"storage", "memory"}}));
}

TEST(LocalProviderGraph, HostsGiveEveryNodeAndTheWorkerAHostOnTheRunsNetwork) {
  PosixEnv env;
  LocalProvider provider(local_context(env));
  core::System system = local_system("redis", 2);
  system.deploy.settings["hosts"] = "true";
  system.deploy.cpus = 0.5;
  system.deploy.memory = 256u << 20;
  DeployRequest request{"e.s", {"t0"}, 2, true};
  auto resources = provider.resources_for(system, request);
  if (!resources.ok()) GTEST_SKIP() << resources.error();  // not root: hosts unavailable
  std::map<std::string, Resource> by_address;
  for (const auto& r : *resources) by_address[r.address] = r;
  ASSERT_TRUE(by_address.count("network.s"));
  ASSERT_TRUE(by_address.count("host.s.1"));
  EXPECT_EQ(by_address["host.s.1"].depends_on, std::vector<std::string>{"network.s"});
  EXPECT_EQ(by_address["host.s.1"].attributes.at("cpus"), "0.5");
  EXPECT_EQ(by_address["host.s.1"].attributes.at("memory"), std::to_string(256u << 20));
  EXPECT_EQ(by_address["service.s.1"].depends_on, std::vector<std::string>{"host.s.1"});
  EXPECT_EQ(by_address["worker.s.0"].depends_on, std::vector<std::string>{"host.s.worker"});
  EXPECT_FALSE(by_address["host.s.worker"].attributes.count("cpus"));  // the load is unlimited
  // Limits change in place; everything else replaces.
  auto in_place = provider.updatable_in_place();
  EXPECT_EQ(in_place, (std::vector<std::string>{"cpus", "memory", "bandwidth"}));
}

// The real OS, except that every started process writes `log` and is gone at once, like a
// broker that fails during start-up.
class DyingProcessEnv : public PosixEnv {
 public:
  explicit DyingProcessEnv(std::string log) : log_(std::move(log)) {}
  Result<ProcessId> spawn(const SpawnOptions& options) override {
    if (Status s = write_file_atomic(options.log_path, log_); !s) return make_error(s.error());
    return ProcessId{kDeadPid, 1};
  }
  bool process_alive(const ProcessId& id) override {
    return id.pid != kDeadPid && PosixEnv::process_alive(id);
  }

 private:
  static constexpr pid_t kDeadPid = 999'999'999;
  std::string log_;
};

// Starts the service of a one-node redis system on `env`; returns the error and the state.
std::pair<Status, RunState> start_failing_service(Env& env, const std::string& data_dir) {
  ProviderContext pc = local_context(env);
  pc.data_dir = data_dir;
  LocalProvider provider(pc);
  core::System system = local_system("redis", 1);
  system.deploy.settings["hosts"] = "false";
  auto resources = provider.resources_for(system, DeployRequest{"e1.s", {}, 1, false});
  EXPECT_TRUE(resources.ok()) << resources.error();
  RunState state;
  state.run_id = "e1.s";
  state.experiment_id = "e1";
  state.resources.push_back(ResourceRecord{resources->front(), "creating", {}});
  Status status = provider.create(state.resources.front(), state, [] { return Status::Ok(); });
  return {status, state};
}

TEST(LocalProviderStart, AFailedStartShowsTheLogsLastLinesAndKeepsItWithTheExperiment) {
  const std::string data_dir = ::testing::TempDir() + "dec-start-" + std::to_string(getpid());
  std::string log;
  for (int i = 1; i <= 30; ++i) log += "line " + std::to_string(i) + "\n";
  DyingProcessEnv env(log + "FATAL CONFIG FILE ERROR\n");
  auto [status, state] = start_failing_service(env, data_dir);
  ASSERT_FALSE(status.ok());
  const std::string& error = status.error();
  EXPECT_NE(error.find("redis-server for service.s.0 exited during start-up; last lines of its "
                       "log:\n    line 12\n"),
            std::string::npos)
      << error;
  EXPECT_EQ(error.find("line 11\n"), std::string::npos) << error;
  EXPECT_NE(error.find("    line 30\n    FATAL CONFIG FILE ERROR\n"), std::string::npos) << error;
  // The run's directory goes with teardown; the kept copy stays, and the message points to it.
  const std::string kept = data_dir + "/logs/e1/e1.s-service.s.0.log";
  EXPECT_NE(error.find("(log: " + kept + ")"), std::string::npos) << error;
  auto kept_text = env.read_file(kept);
  ASSERT_TRUE(kept_text.ok()) << kept_text.error();
  EXPECT_EQ(*kept_text, log + "FATAL CONFIG FILE ERROR\n");
  std::filesystem::remove_all(data_dir);
}

TEST(LocalProviderStart, AnEmptyLogIsSaidToBeEmpty) {
  const std::string data_dir = ::testing::TempDir() + "dec-start-empty-" + std::to_string(getpid());
  DyingProcessEnv env("");
  auto [status, state] = start_failing_service(env, data_dir);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("exited during start-up; its log is empty (log: " + data_dir +
                                "/logs/e1/e1.s-service.s.0.log)"),
            std::string::npos)
      << status.error();
  std::filesystem::remove_all(data_dir);
}

TEST(InstallationId, StableAndDistinct) {
  EXPECT_EQ(installation_id("/a/b"), installation_id("/a/b"));
  EXPECT_NE(installation_id("/a/b"), installation_id("/a/c"));
  EXPECT_EQ(installation_id("/a/b").size(), 12u);
}

}  // namespace
}  // namespace dec::infra

namespace dec {
namespace {

// Zombie children of this process (ppid = us), by pid.
std::vector<pid_t> zombie_children() {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (state == 'Z' && ppid == getpid()) out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

// A broker's own child outlives it (a script's JVM, a daemon): orphaned, it is reparented to dec
// (the subreaper) and must be reaped when it exits, as must a broker that exited (a host's
// cgroup killed it, nobody waited); a command dec waits for itself (its own session) is left to
// its caller.
TEST(ChildReaper, ReapsOrphanedDescendantsAndExitedBrokersButNotCommands) {
  infra::start_child_reaper(/*interval_ms=*/50);
  infra::PosixEnv env;
  const std::string dir = testing::TempDir() + "reaper-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  // The spawned shell starts a grandchild and exits at once; the grandchild exits a little later.
  infra::SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "(sleep 0.6; exit 0) & echo $! > " + dir + "/grandchild"};
  auto spawned = env.spawn(options);
  ASSERT_TRUE(spawned.ok()) << spawned.error();
  pid_t grandchild = 0;
  for (int i = 0; i < 100 && grandchild == 0; ++i) {
    std::ifstream in(dir + "/grandchild");
    in >> grandchild;
    if (grandchild == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(grandchild, 0);
  // Orphaned when the shell exited: reparented to us, the subreaper, not to init.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream rest(line.substr(line.rfind(')') + 1));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    EXPECT_EQ(ppid, getpid()) << line;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  // Exited and reaped: gone from the process table, not a zombie of anyone's.
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(grandchild)));
  const std::vector<pid_t> zombies = zombie_children();
  EXPECT_EQ(std::count(zombies.begin(), zombies.end(), grandchild), 0)
      << "the orphaned grandchild " << grandchild << " was not reaped";
  EXPECT_EQ(std::count(zombies.begin(), zombies.end(), spawned->pid), 0)
      << "the exited broker was not reaped";
  EXPECT_FALSE(env.process_alive(*spawned));  // reaped is gone, for Env too
  EXPECT_TRUE(env.stop_process(*spawned, std::chrono::milliseconds(100)).ok());
  // A child in our own session (a command some caller waits for) stays for that caller.
  const pid_t command = fork();
  if (command == 0) _exit(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(infra::reap_orphans(), 0u);
  int status = -1;
  EXPECT_EQ(waitpid(command, &status, 0), command);
  EXPECT_TRUE(WIFEXITED(status));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dec

namespace dec::infra {
namespace {

// A broker started by dec as root runs as the unprivileged broker user, with its groups and
// home, and gets none of dec's environment beyond PATH, locale and time zone.
TEST(SpawnAsUser, RunsAsTheUserWithOnlyThePlainEnvironment) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  const auto user = core::find_host_user(core::kBrokerUser);
  if (!user) GTEST_SKIP() << "no user " << core::kBrokerUser << " (scripts/setup creates it)";
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("dec-spawn-user-" + std::to_string(getpid())))
          .string();
  std::filesystem::create_directories(dir);
  ::setenv("DEC_SPAWN_TEST_SECRET", "s3cret", 1);
  PosixEnv env;
  SpawnOptions options;
  options.argv = {
      "/bin/sh", "-c",
      "id -u; id -g; echo \"home=$HOME user=$USER secret=${DEC_SPAWN_TEST_SECRET:-none} "
      "tag=$DEC_RUN path=${PATH:+set}\"; touch /root/dec-spawn-user-probe 2>&1 || "
      "echo denied"};
  options.environment = {{"DEC_RUN", "r1"}};
  options.user = core::kBrokerUser;
  options.inherit_environment = false;
  options.log_path = dir + "/out";
  auto spawned = env.spawn(options);
  ::unsetenv("DEC_SPAWN_TEST_SECRET");
  ASSERT_TRUE(spawned.ok()) << spawned.error();
  for (int i = 0; i < 500 && env.process_alive(*spawned); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(dir + "/out");
  std::string output((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(output.find(std::to_string(user->uid) + "\n" + std::to_string(user->gid) + "\n"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("home=" + user->home + " user=" + core::kBrokerUser +
                        " secret=none tag=r1 path=set"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("denied"), std::string::npos)
      << "root's home is not the broker's: " << output;
  EXPECT_FALSE(std::filesystem::exists("/root/dec-spawn-user-probe"));

  options.user = "dec-no-such-user";
  auto unknown = env.spawn(options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("dec-no-such-user: no such user"), std::string::npos)
      << unknown.error();
  std::filesystem::remove_all(dir);
}

TEST(HostUser, BlockedAncestorIsTheFirstDirectoryTheUserCannotEnter) {
  const std::string base =
      (std::filesystem::temp_directory_path() / ("dec-host-user-" + std::to_string(getpid())))
          .string();
  std::filesystem::create_directories(base + "/closed/open");
  std::filesystem::permissions(base + "/closed", std::filesystem::perms::owner_all);
  core::HostUser nobody{"nobody", 65534, 65534, "/"};
  EXPECT_EQ(core::blocked_ancestor(base + "/closed/open/dir", nobody), base + "/closed");
  EXPECT_EQ(core::blocked_ancestor(base + "/dir", nobody), "");
  core::HostUser root{"root", 0, 0, "/root"};
  EXPECT_EQ(core::blocked_ancestor(base + "/closed/open/dir", root), "");
  std::filesystem::remove_all(base);
}

// The one runner every program dec waits for goes through (ip, tc, kubectl, terraform).
TEST(RunProgram, FeedsInputCapturesOutputAndAddsEnvironment) {
  linux_host::ProgramRun program;
  program.argv = {"sh", "-c", "cat; echo \"$DEC_RUN_PROGRAM_VALUE\"; echo err >&2"};
  program.input = "hello\n";
  program.environment = {{"DEC_RUN_PROGRAM_VALUE", "added"}};
  auto output = linux_host::run_program(program);
  ASSERT_TRUE(output.ok()) << output.error();
  EXPECT_EQ(output->exit_code, 0);
  EXPECT_EQ(output->out, "hello\nadded\n");
  EXPECT_EQ(output->err, "err\n");
}

TEST(RunProgram, TellsASignalFromAnExitStatus) {
  auto signalled = linux_host::run_command({"sh", "-c", "kill -TERM $$"});
  ASSERT_FALSE(signalled.ok());
  EXPECT_EQ(signalled.error(), "sh -c \"kill -TERM $$\" failed (signal 15)");
  auto exited = linux_host::run_command({"sh", "-c", "echo why >&2; exit 143"});
  ASSERT_FALSE(exited.ok());
  EXPECT_EQ(exited.error(), "sh -c \"echo why >&2; exit 143\" failed (exit 143): why");
  auto missing = linux_host::run_command({"dec-no-such-program"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(),
            "cannot run dec-no-such-program: No such file or directory (is it installed? ip and "
            "tc come with iproute2)");
}

TEST(RunProgram, StopsAProgramPastItsTimeout) {
  linux_host::ProgramRun program;
  program.argv = {"sleep", "30"};
  program.timeout = std::chrono::milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  auto output = linux_host::run_program(program);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.error(), "sleep did not finish within 200 ms and was stopped");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace dec::infra
