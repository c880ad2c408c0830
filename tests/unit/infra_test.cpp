// Plan computation, state files, and apply/destroy bookkeeping with a scripted provider.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "infra/executor.h"
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
  std::string name() const override { return "scripted"; }
  Result<std::vector<Resource>> resources_for(const core::System&, const std::string&) override {
    return std::vector<Resource>{};
  }
  Status create(ResourceRecord& record, const RunState&,
                const std::function<Status()>& save) override {
    record.outputs["id"] = record.resource.address;
    if (Status s = save(); !s) return s;
    if (fail_create.count(record.resource.address)) return make_error("injected create failure");
    existing.insert(record.resource.address);
    return Status::Ok();
  }
  Status destroy(const ResourceRecord& record, const RunState&) override {
    if (fail_destroy.count(record.resource.address)) return make_error("injected destroy failure");
    existing.erase(record.resource.address);
    return Status::Ok();
  }
  bool exists(const ResourceRecord& record) override {
    return existing.count(record.resource.address);
  }
  Result<ServiceEndpoint> endpoint(const RunState&) override { return ServiceEndpoint{}; }
  std::vector<DiscoveredResource> discover() override { return {}; }
  Status destroy_discovered(const DiscoveredResource&) override { return Status::Ok(); }
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

TEST(InstallationId, StableAndDistinct) {
  EXPECT_EQ(installation_id("/a/b"), installation_id("/a/b"));
  EXPECT_NE(installation_id("/a/b"), installation_id("/a/c"));
  EXPECT_EQ(installation_id("/a/b").size(), 12u);
}

}  // namespace
}  // namespace dec::infra
