// Deployment checks before anything is created: every system, every matrix point, errors at
// the field's path; a run whose spec a provider rejects creates nothing at all.
#include "orchestrator/preflight.h"

#include <gtest/gtest.h>

#include <atomic>

#include "orchestrator/runner.h"
#include "systems/registry.h"

namespace dec::orchestrator {
namespace {

// Rejects a system with more than one node as its provider would, and counts what it creates.
class NodeCountingProvider : public infra::Provider {
 public:
  explicit NodeCountingProvider(std::atomic<int>& creates) : creates_(creates) {}
  std::string name() const override { return "local"; }
  Result<std::vector<infra::Resource>> resources_for(const core::System& system,
                                                     const infra::DeployRequest&) override {
    if (system.deploy.nodes > 1)
      return make_error("deploy.nodes: one node only here; set nodes: 1");
    if (system.driver == "mqtt") return make_error("mosquitto is not installed");
    return std::vector<infra::Resource>{{"service." + system.name + ".0", "service", {}, {}}};
  }
  Status create(infra::ResourceRecord&, const infra::RunState&,
                const std::function<Status()>&) override {
    ++creates_;
    return Status::Ok();
  }
  Status destroy(const infra::ResourceRecord&, const infra::RunState&) override {
    return Status::Ok();
  }
  bool exists(const infra::ResourceRecord&) override { return true; }
  Result<infra::ServiceEndpoint> endpoint(const infra::RunState&) override {
    return make_error("not reachable");
  }
  std::vector<infra::DiscoveredResource> discover() override { return {}; }
  Status destroy_discovered(const infra::DiscoveredResource&) override { return Status::Ok(); }

 private:
  std::atomic<int>& creates_;
};

class Preflight : public ::testing::Test {
 protected:
  infra::ProviderContext context() {
    infra::ProviderContext pc;
    pc.factory = [this](const std::string&) -> Result<std::unique_ptr<infra::Provider>> {
      return std::unique_ptr<infra::Provider>(new NodeCountingProvider(creates_));
    };
    return pc;
  }
  core::Spec spec(const std::string& systems_yaml, const std::string& extra = "") {
    auto parsed = core::parse_spec(
        "name: t\nsystems:\n  - {name: fine, driver: redis}\n" + systems_yaml + extra, {},
        systems::driver_catalog());
    EXPECT_TRUE(parsed.ok()) << parsed.errors.front().to_string();
    return parsed.spec;
  }
  std::atomic<int> creates_{0};
};

TEST_F(Preflight, ProviderErrorsNameTheSystemsField) {
  auto errors = deployment_errors(
      spec("  - {name: big, driver: redis, deploy: {nodes: 3}}\n  - {name: m, driver: mqtt}\n"),
      context());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].to_string(), "systems[1].deploy.nodes: one node only here; set nodes: 1");
  // Not about one field: the system's deploy section.
  EXPECT_EQ(errors[1].to_string(), "systems[2].deploy: mosquitto is not installed");
  EXPECT_TRUE(deployment_errors(spec(""), context()).empty());
}

TEST_F(Preflight, OnlyThePointsThatFailAreNamed) {
  auto errors = deployment_errors(
      spec("  - {name: s, driver: redis}\n", "matrix:\n  systems[s].deploy.nodes: [1, 2]\n"),
      context());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "matrix point 1 (systems[s].deploy.nodes=2)");
  EXPECT_EQ(errors[0].message, "systems[1].deploy.nodes: one node only here; set nodes: 1");
}

TEST_F(Preflight, ARunCreatesNothingWhenAnySystemIsRejected) {
  // The first system is fine; the last one is not: nothing runs, not even the first.
  RunnerContext rc;
  rc.provider_context = context();
  std::vector<std::string> logged;
  rc.events.on_log = [&](const std::string& line) { logged.push_back(line); };
  auto outcome =
      run_experiment(spec("  - {name: big, driver: redis, deploy: {nodes: 2}}\n"), "e1", rc);
  EXPECT_EQ(outcome.state, "failed");
  EXPECT_EQ(outcome.error, "systems[1].deploy.nodes: one node only here; set nodes: 1");
  EXPECT_TRUE(outcome.result.runs.empty());
  EXPECT_EQ(creates_.load(), 0);
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged.back(), "nothing created: " + outcome.error);
}

}  // namespace
}  // namespace dec::orchestrator
