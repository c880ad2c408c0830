// Deployment checks before anything is created: every system, every matrix point, errors at
// the field's path; a run whose spec a provider rejects creates nothing at all.
#include "orchestrator/preflight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <set>

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

// A spec from the API (an untrusted policy) reaches only the endpoints and secrets the operator
// allowed, and names no file or program on dec's machine for its clients.
class ApiPolicy : public Preflight {
 protected:
  std::vector<std::string> errors(const std::string& systems_yaml, const core::SpecPolicy& policy) {
    infra::ProviderContext pc = context();
    pc.spec_policy = policy;
    std::vector<std::string> out;
    for (const auto& e : deployment_errors(spec(systems_yaml), pc)) out.push_back(e.to_string());
    return out;
  }
  static core::SpecPolicy api(std::vector<std::string> endpoints = {},
                              std::set<std::string> secrets = {}) {
    core::SpecPolicy policy = core::SpecPolicy::untrusted();
    for (const auto& text : endpoints) policy.endpoints.push_back(*core::parse_endpoint_rule(text));
    policy.secrets = std::move(secrets);
    policy.environment = [](const std::string& name) -> std::optional<std::string> {
      if (name == "KAFKA_PASSWORD" || name == "AWS_SECRET_ACCESS_KEY") return "secret";
      return std::nullopt;
    };
    return policy;
  }
};

const char* kEndpointsRedis =
    "  - {name: e, driver: redis, deploy: {provider: endpoints, settings: {addresses: "
    "\"10.0.0.5:6379, cache.internal\"}}}\n";

TEST_F(ApiPolicy, EndpointsOutsideTheAllowlistAreRefusedWithTheFlagToSet) {
  EXPECT_EQ(errors(kEndpointsRedis, api()),
            (std::vector<std::string>{
                "systems[1].deploy.settings.addresses: 10.0.0.5:6379 is not an endpoint this "
                "server allows (it allows none: specs from the API use only infrastructure dec "
                "creates); its operator can allow it with dec serve --allow-endpoint "
                "10.0.0.5:6379",
                "systems[1].deploy.settings.addresses: cache.internal:6379 is not an endpoint "
                "this server allows (it allows none: specs from the API use only infrastructure "
                "dec creates); its operator can allow it with dec serve --allow-endpoint "
                "cache.internal:6379"}));
  auto partly = errors(kEndpointsRedis, api({"10.0.0.0/24"}));
  ASSERT_EQ(partly.size(), 1u);
  EXPECT_NE(partly[0].find("cache.internal:6379 is not an endpoint this server allows (it "
                           "allows 10.0.0.0/24)"),
            std::string::npos)
      << partly[0];
  EXPECT_TRUE(errors(kEndpointsRedis, api({"10.0.0.0/24", "cache.internal:6379"})).empty());
  // The CLI's own user is trusted: the same spec plans.
  EXPECT_TRUE(errors(kEndpointsRedis, core::SpecPolicy{}).empty());
  // Infrastructure dec creates needs no allowlist.
  EXPECT_TRUE(errors("", api()).empty());
}

TEST_F(ApiPolicy, ClientAddressesInConfigAreCheckedToo) {
  const std::string kinesis =
      "  - {name: k, driver: kinesis, config: {endpoint: \"https://evil.example/x\"}}\n";
  auto refused = errors(kinesis, api());
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].rfind("systems[1].config.endpoint: evil.example:443 is not an endpoint", 0),
            0u)
      << refused[0];
  EXPECT_TRUE(errors(kinesis, api({"evil.example:443"})).empty());
  // librdkafka's other name for the brokers is dec's to set, whoever writes the spec.
  auto brokers = core::parse_spec(
      "name: t\nsystems: [{name: k, driver: kafka, config: {metadata.broker.list: x:9093}}]\n", {},
      systems::driver_catalog());
  ASSERT_EQ(brokers.errors.size(), 1u);
  EXPECT_EQ(brokers.errors[0].to_string(),
            "systems[0].config.metadata.broker.list: set by dec from the deployment's addresses "
            "(bootstrap.servers)");
  // Kinesis on AWS itself: the region's endpoint is what must be allowed.
  const std::string aws =
      "  - {name: a, driver: kinesis, deploy: {provider: endpoints, settings: {region: "
      "eu-west-1}}}\n";
  auto refused_aws = errors(aws, api());
  ASSERT_EQ(refused_aws.size(), 1u);
  EXPECT_NE(refused_aws[0].find("kinesis.eu-west-1.amazonaws.com:443 is not an endpoint"),
            std::string::npos)
      << refused_aws[0];
  EXPECT_TRUE(errors(aws, api({"kinesis.eu-west-1.amazonaws.com"})).empty());
}

TEST_F(ApiPolicy, ClientFilesAndProgramsAreRefused) {
  auto refused = errors(
      "  - {name: k, driver: kafka, config: {ssl.ca.location: /etc/shadow, "
      "sasl.kerberos.kinit.cmd: \"touch /tmp/pwned\", plugin.library.paths: /tmp/x.so}}\n",
      api());
  const std::string why =
      ": names a file or program on the server's machine, which specs from the API may not use "
      "— remove it";
  EXPECT_EQ(refused, (std::vector<std::string>{"systems[1].config.plugin.library.paths" + why,
                                               "systems[1].config.sasl.kerberos.kinit.cmd" + why,
                                               "systems[1].config.ssl.ca.location" + why}));
  EXPECT_TRUE(errors("  - {name: k, driver: kafka, config: {ssl.ca.location: /etc/ca.pem}}\n",
                     core::SpecPolicy{})
                  .empty());
}

TEST_F(ApiPolicy, SecretsResolveOnlyWhenAllowedAndNeverTellWhatIsSet) {
  auto with_password = [](const std::string& reference) {
    return "  - {name: e, driver: kafka, deploy: {provider: endpoints, settings: "
           "{bootstrap_servers: \"10.0.0.5:9092\", sasl.password: \"" +
           reference + "\"}}}\n";
  };
  const auto policy = api({"10.0.0.5"}, {"KAFKA_PASSWORD"});
  EXPECT_TRUE(errors(with_password("${KAFKA_PASSWORD}"), policy).empty());
  auto set = errors(with_password("${AWS_SECRET_ACCESS_KEY}"), policy);
  auto unset = errors(with_password("${NOT_SET_ANYWHERE}"), policy);
  ASSERT_EQ(set.size(), 1u);
  ASSERT_EQ(unset.size(), 1u);
  EXPECT_EQ(set[0],
            "systems[1].deploy.settings.sasl.password: ${AWS_SECRET_ACCESS_KEY} is not a secret "
            "this server lets specs read (its operator allows one with dec serve --secret "
            "AWS_SECRET_ACCESS_KEY)");
  EXPECT_EQ(std::regex_replace(unset[0], std::regex("NOT_SET_ANYWHERE"), "AWS_SECRET_ACCESS_KEY"),
            set[0]);
  // An address taken from a secret cannot be checked.
  auto hidden = errors(
      "  - {name: e, driver: redis, deploy: {provider: endpoints, settings: {addresses: "
      "\"${KAFKA_PASSWORD}\"}}}\n",
      policy);
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_EQ(
      hidden[0].rfind("systems[1].deploy.settings.addresses: an address read from a secret", 0),
      0u);
}

TEST_F(ApiPolicy, PayloadFilesAreNotOpenedForTheApi) {
  infra::ProviderContext pc = context();
  pc.spec_policy = api();
  auto answer = [&](const std::string& file, const std::string& matrix = "") {
    auto parsed = validate_spec("name: t\nworkload: {payload: {file: " + file +
                                    "}}\nsystems: [{name: r, driver: redis}]\n" + matrix,
                                {}, pc);
    return parsed.errors.empty() ? std::string() : parsed.errors.front().to_string();
  };
  const std::string refused =
      "workload.payload.file: names a file on the server's machine, which specs from the API may "
      "not use — remove it (pool and random_bytes_ratio shape the payload)";
  // A file that exists and one that does not: the same answer.
  EXPECT_EQ(answer(DEC_SOURCE_DIR "/README.md"), refused);
  EXPECT_EQ(answer("/nonexistent/dec-payload"), refused);
  // Nor through a matrix value.
  const std::string through_matrix = validate_spec(
                                         "name: t\nsystems: [{name: r, driver: redis}]\nmatrix:\n"
                                         "  workload.payload.file: [/nonexistent/a]\n",
                                         {}, pc)
                                         .errors.front()
                                         .to_string();
  EXPECT_NE(through_matrix.find("names a file on the server's machine"), std::string::npos)
      << through_matrix;
  // The CLI's user reads their own files.
  pc.spec_policy = core::SpecPolicy{};
  EXPECT_EQ(answer(DEC_SOURCE_DIR "/README.md"), "");
}

TEST_F(ApiPolicy, AMatrixCannotSmuggleAnAddressIn) {
  infra::ProviderContext pc = context();
  pc.spec_policy = api();
  auto found =
      deployment_errors(spec("  - {name: k, driver: kinesis}\n",
                             "matrix:\n  systems[k].config.endpoint: [\"http://127.0.0.1:4567\", "
                             "\"http://evil.example\"]\n"),
                        pc);
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].path, "matrix point 0 (systems[k].config.endpoint=http://127.0.0.1:4567)");
  EXPECT_EQ(found[0].message.rfind("systems[1].config.endpoint: 127.0.0.1:4567 is not", 0), 0u);
  EXPECT_EQ(found[1].path, "matrix point 1 (systems[k].config.endpoint=http://evil.example)");
}

}  // namespace
}  // namespace dec::orchestrator
