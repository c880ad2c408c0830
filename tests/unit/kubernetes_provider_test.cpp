// The kubernetes provider without a cluster: manifests against golden files (UPDATE_GOLDEN=1
// rewrites them), settings validation, and apply / readiness / delete / reconcile through the
// stand-in kubectl (tests/support/kubectl), which checks its arguments, records the manifests
// it is given and replays prepared outputs.
#include "infra/kubernetes/kubernetes_provider.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "infra/executor.h"
#include "infra/reconcile.h"

namespace dec::infra {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

core::System make_system(const std::string& name, const std::string& driver, int nodes = 1) {
  core::System system;
  system.name = name;
  system.driver = driver;
  system.deploy.provider = "kubernetes";
  system.deploy.nodes = nodes;
  return system;
}

// ---- rendering ------------------------------------------------------------------------------

json rendered_document(const kubernetes::RenderInput& input) {
  auto rendered = kubernetes::render_system(input);
  EXPECT_TRUE(rendered.ok()) << rendered.error();
  if (!rendered) return json();
  json doc = {{"namespace", rendered->namespace_manifest},
              {"brokers", rendered->brokers.manifest},
              {"broker_addresses", rendered->brokers.addresses},
              {"workers", rendered->workers ? rendered->workers->manifest : json()}};
  return doc;
}

// Compares with tests/golden/kubernetes/<name>.json; UPDATE_GOLDEN=1 writes the file instead.
void expect_golden(const std::string& name, const json& doc) {
  const fs::path path = fs::path(DEC_SOURCE_DIR) / "tests/golden/kubernetes" / (name + ".json");
  const std::string text = doc.dump(2) + "\n";
  if (const char* update = std::getenv("UPDATE_GOLDEN"); update && std::string(update) == "1") {
    write_text(path, text);
    return;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with UPDATE_GOLDEN=1 to write it";
  EXPECT_EQ(read_text(path), text) << "manifests differ from " << path
                                   << " (UPDATE_GOLDEN=1 rewrites it after a deliberate change)";
}

kubernetes::RenderInput input_for(core::System system, bool workers = false) {
  kubernetes::RenderInput input;
  input.system = std::move(system);
  input.run_id = "exp-20261202-1.p0.r0." + input.system.name;
  input.installation = "0123456789ab";
  input.workers = workers;
  return input;
}

TEST(KubernetesManifests, RedisThreeNodesWithLimits) {
  core::System system = make_system("redis", "redis", 3);
  system.deploy.cpus = 1.5;
  system.deploy.memory = 512ull * 1024 * 1024;
  system.deploy.server = {{"appendonly", "yes"}};
  json doc = rendered_document(input_for(system));
  const json& sts = doc["brokers"]["items"][1];
  EXPECT_EQ(sts["kind"], "StatefulSet");
  EXPECT_EQ(sts["spec"]["replicas"], 3);
  const json& container = sts["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["resources"]["limits"]["cpu"], "1500m");
  EXPECT_EQ(container["resources"]["limits"]["memory"], "512Mi");
  EXPECT_EQ(container["resources"]["requests"], container["resources"]["limits"]);
  const std::string command = container["command"].dump();
  EXPECT_NE(command.find(R"("--appendonly","yes")"), std::string::npos) << command;
  ASSERT_EQ(doc["broker_addresses"].size(), 3u);
  EXPECT_EQ(doc["broker_addresses"][2], sts["metadata"]["name"].get<std::string>() + "-2." +
                                            sts["metadata"]["name"].get<std::string>() +
                                            ".dec.svc:6379");
  expect_golden("redis-3-nodes-limits", doc);
}

TEST(KubernetesManifests, NatsJetStreamCluster) {
  core::System system = make_system("nats", "nats", 3);
  system.deploy.server = {{"jetstream.max_file_store", "1G"}};
  json doc = rendered_document(input_for(system));
  const json& config = doc["brokers"]["items"][0];
  EXPECT_EQ(config["kind"], "ConfigMap");
  const std::string conf = config["data"]["nats-server.conf"];
  EXPECT_NE(conf.find("jetstream {"), std::string::npos) << conf;
  EXPECT_NE(conf.find("max_file_store: 1G"), std::string::npos) << conf;
  EXPECT_NE(doc["brokers"]["items"][2].dump().find("--routes"), std::string::npos);
  expect_golden("nats", doc);
}

TEST(KubernetesManifests, RabbitMq) {
  core::System system = make_system("rabbit", "rabbitmq");
  system.deploy.memory = 1024ull * 1024 * 1024;
  system.deploy.server = {{"vm_memory_high_watermark_paging_ratio", "0.8"}};
  expect_golden("rabbitmq", rendered_document(input_for(system)));
}

TEST(KubernetesManifests, KafkaStatefulSet) {
  core::System system = make_system("kafka", "kafka", 3);
  system.deploy.memory = 2048ull * 1024 * 1024;
  system.deploy.server = {{"min.insync.replicas", "2"}};
  json doc = rendered_document(input_for(system));
  const std::string env =
      doc["brokers"]["items"][1]["spec"]["template"]["spec"]["containers"][0]["env"].dump();
  EXPECT_NE(env.find(R"({"name":"KAFKA_MIN_INSYNC_REPLICAS","value":"2"})"), std::string::npos);
  EXPECT_NE(env.find("KAFKA_CONTROLLER_QUORUM_VOTERS"), std::string::npos);
  expect_golden("kafka-statefulset", doc);
}

TEST(KubernetesManifests, KafkaStrimzi) {
  core::System system = make_system("kafka", "kafka", 3);
  system.deploy.cpus = 2;
  system.deploy.memory = 4096ull * 1024 * 1024;
  kubernetes::RenderInput input = input_for(system);
  input.kafka_strimzi = true;
  json doc = rendered_document(input);
  EXPECT_EQ(doc["brokers"]["items"][0]["kind"], "KafkaNodePool");
  EXPECT_EQ(doc["brokers"]["items"][1]["kind"], "Kafka");
  EXPECT_EQ(doc["brokers"]["items"][1]["metadata"]["annotations"]["strimzi.io/kraft"], "enabled");
  expect_golden("kafka-strimzi", doc);
}

TEST(KubernetesManifests, WorkersAsJob) {
  core::System system = make_system("redis", "redis");
  system.deploy.settings = {
      {"image", "registry.example/dec:1.0"}, {"namespace", "bench"}, {"worker_cpus", "2"}};
  kubernetes::RenderInput input = input_for(system, true);
  auto settings = kubernetes::parse_settings(system.deploy.settings);
  ASSERT_TRUE(settings.ok()) << settings.error();
  input.settings = *settings;
  json doc = rendered_document(input);
  const json& job = doc["workers"]["items"][0];
  EXPECT_EQ(job["kind"], "Job");
  EXPECT_EQ(job["metadata"]["namespace"], "bench");
  const json& container = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "registry.example/dec:1.0");
  EXPECT_EQ(container["command"], json({"dec", "worker", "--listen", "0.0.0.0:7700"}));
  expect_golden("workers-job", doc);
}

TEST(KubernetesManifests, WorkersAsDeployment) {
  core::System system = make_system("redis", "redis");
  kubernetes::RenderInput input = input_for(system, true);
  input.settings.workers_as = "deployment";
  json doc = rendered_document(input);
  EXPECT_EQ(doc["workers"]["items"][0]["kind"], "Deployment");
}

TEST(KubernetesManifests, EveryObjectCarriesTheRunAndInstallationLabels) {
  core::System system = make_system("nats", "nats", 2);
  json doc = rendered_document(input_for(system, true));
  int objects = 0;
  for (const char* group : {"brokers", "workers"}) {
    for (const auto& item : doc[group]["items"]) {
      ++objects;
      EXPECT_EQ(item["metadata"]["labels"]["dec.run"], "exp-20261202-1.p0.r0.nats") << item.dump();
      EXPECT_EQ(item["metadata"]["labels"]["dec.installation"], "0123456789ab");
      EXPECT_EQ(item["metadata"]["annotations"]["dec.run-id"], "exp-20261202-1.p0.r0.nats");
    }
  }
  EXPECT_EQ(objects, 4);
  EXPECT_EQ(doc["namespace"]["metadata"]["labels"]["dec.installation"], "0123456789ab");
}

TEST(KubernetesManifests, RefusesWhatItCannotDeploy) {
  auto mqtt = kubernetes::render_system(input_for(make_system("m", "mqtt")));
  ASSERT_FALSE(mqtt.ok());
  EXPECT_NE(mqtt.error().find("driver:"), std::string::npos) << mqtt.error();
  core::System redis = make_system("redis", "redis");
  redis.deploy.server = {{"dir", "/etc"}};
  auto forbidden = kubernetes::render_system(input_for(redis));
  ASSERT_FALSE(forbidden.ok());
  EXPECT_NE(forbidden.error().find("deploy.server.dir"), std::string::npos) << forbidden.error();
  core::System shaped = make_system("redis", "redis");
  shaped.deploy.bandwidth = 1000000;
  auto bandwidth = kubernetes::render_system(input_for(shaped));
  ASSERT_FALSE(bandwidth.ok());
  EXPECT_NE(bandwidth.error().find("deploy.bandwidth"), std::string::npos);
}

TEST(KubernetesLabels, ValuesAreValidAndDistinct) {
  const std::string long_a = std::string(80, 'a') + "/x";
  const std::string long_b = std::string(80, 'a') + "/y";
  for (const std::string& id :
       {long_a, long_b, std::string("-run id: ü-"), std::string("ok.run_1")}) {
    const std::string value = kubernetes::label_value(id);
    EXPECT_LE(value.size(), 63u) << id;
    ASSERT_FALSE(value.empty());
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(value.front())) &&
                std::isalnum(static_cast<unsigned char>(value.back())))
        << value;
    for (char c : value) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')
          << value;
    }
  }
  EXPECT_EQ(kubernetes::label_value("ok.run_1"), "ok.run_1");
  EXPECT_NE(kubernetes::label_value(long_a), kubernetes::label_value(long_b));
}

TEST(KubernetesSettings, UnknownKeyGetsDidYouMean) {
  auto parsed = kubernetes::parse_settings({{"namspace", "x"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error(),
            "deploy.settings.namspace: unknown setting of provider kubernetes (did you mean "
            "\"namespace\"?)");
}

TEST(KubernetesSettings, ValuesAreChecked) {
  struct Case {
    core::Settings settings;
    std::string error_start;
  };
  for (const Case& c : std::vector<Case>{
           {{{"workers_as", "pod"}}, "deploy.settings.workers_as: expected job or deployment"},
           {{{"kafka", "yes"}}, "deploy.settings.kafka: expected strimzi, statefulset or auto"},
           {{{"namespace", "Bad_Name"}}, "deploy.settings.namespace: \"Bad_Name\" is not"},
           {{{"worker_port", "0"}}, "deploy.settings.worker_port: expected a TCP port"},
           {{{"ready_timeout", "soon"}}, "deploy.settings.ready_timeout: expected a duration"},
       }) {
    auto parsed = kubernetes::parse_settings(c.settings);
    ASSERT_FALSE(parsed.ok()) << c.error_start;
    EXPECT_EQ(parsed.error().rfind(c.error_start, 0), 0u) << parsed.error();
  }
  auto good = kubernetes::parse_settings(
      {{"namespace", "bench"}, {"ready_timeout", "2m"}, {"worker_memory", "1GiB"}});
  ASSERT_TRUE(good.ok()) << good.error();
  EXPECT_EQ(good->ready_timeout, std::chrono::seconds(120));
  EXPECT_EQ(good->worker_memory, 1ull << 30);
}

// ---- driving kubectl ------------------------------------------------------------------------

// An injected runner answering from a table, recording argv.
class ScriptedRunner : public kubernetes::CommandRunner {
 public:
  std::map<std::string, Result<std::string>> answers;  // first argument after the flags -> answer
  std::vector<std::vector<std::string>> calls;
  Result<std::string> run(const std::vector<std::string>& argv) override {
    std::lock_guard<std::mutex> lock(mutex_);
    calls.push_back(argv);
    std::string key;
    for (size_t i = 1; i < argv.size(); ++i) {
      if (argv[i].rfind("--", 0) != 0) {
        key = argv[i] + (i + 1 < argv.size() ? " " + argv[i + 1] : "");
        break;
      }
    }
    auto it = answers.find(key);
    if (it == answers.end()) return std::string("{\"items\":[]}");
    return it->second;
  }

 private:
  std::mutex mutex_;
};

TEST(KubernetesKafka, AutoChoosesStrimziWhenItsCrdExistsAndPassesTheClusterSelection) {
  PosixEnv env;
  for (bool strimzi : {true, false}) {
    auto runner = std::make_unique<ScriptedRunner>();
    ScriptedRunner* calls = runner.get();
    if (!strimzi) {
      runner->answers.emplace("get crd", make_error("Error from server (NotFound): crd not found"));
    }
    ProviderContext context;
    context.env = &env;
    context.data_dir = "/nonexistent";
    context.installation = "abc";
    KubernetesProvider provider(context, std::move(runner));
    core::System system = make_system("kafka", "kafka");
    system.deploy.settings = {{"context", "lab"}, {"kubeconfig", "/etc/k.yaml"}};
    auto resources = provider.resources_for(system, DeployRequest{"e.kafka", {"t"}, 1, false});
    ASSERT_TRUE(resources.ok()) << resources.error();
    ASSERT_EQ(calls->calls.size(), 1u);
    EXPECT_EQ(calls->calls[0],
              (std::vector<std::string>{"kubectl", "--context=lab", "--kubeconfig=/etc/k.yaml",
                                        "--request-timeout=20s", "get", "crd",
                                        "kafkas.kafka.strimzi.io", "-o", "name"}));
    ASSERT_EQ(resources->size(), 2u);  // namespace, brokers (no workers requested)
    EXPECT_EQ((*resources)[1].attributes.at("kafka"), strimzi ? "strimzi" : "statefulset");
  }
}

TEST(KubernetesKafka, AutoFailsClearlyWhenTheClusterCannotBeAsked) {
  PosixEnv env;
  auto runner = std::make_unique<ScriptedRunner>();
  runner->answers.emplace("get crd", make_error("Unable to connect to the server: dial tcp"));
  ProviderContext context;
  context.env = &env;
  KubernetesProvider provider(context, std::move(runner));
  auto resources =
      provider.resources_for(make_system("kafka", "kafka"), DeployRequest{"e.k", {}, 1, true});
  ASSERT_FALSE(resources.ok());
  EXPECT_NE(resources.error().find("deploy.settings.kafka: auto"), std::string::npos);
  EXPECT_NE(resources.error().find("Unable to connect"), std::string::npos);
}

TEST(KubernetesPolicy, ApiSpecsCannotChooseAnotherKubeconfigOrContext) {
  PosixEnv env;
  ProviderContext context;
  context.env = &env;
  context.spec_policy = core::SpecPolicy::untrusted();
  KubernetesProvider provider(context, std::make_unique<ScriptedRunner>());
  core::System system = make_system("redis", "redis");
  system.deploy.settings = {{"kubeconfig", "/root/.kube/other"}};
  auto resources = provider.resources_for(system, DeployRequest{"e.redis", {}, 1, true});
  ASSERT_FALSE(resources.ok());
  EXPECT_EQ(resources.error().rfind("deploy.settings.kubeconfig: a spec from the API", 0), 0u)
      << resources.error();
  system.deploy.settings = {{"namespace", "api"}};
  EXPECT_TRUE(provider.resources_for(system, DeployRequest{"e.redis", {}, 1, true}).ok());
}

// A data dir and the stand-in kubectl first on PATH; everything it records lives in the test's
// directory, removed at the end.
class StandInKubectl : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-k8s-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "kubectl");
    old_path_ = std::getenv("PATH") ? std::getenv("PATH") : "";
    const std::string support = std::string(DEC_SOURCE_DIR) + "/tests/support";
    setenv("PATH", (support + ":" + old_path_).c_str(), 1);
    setenv("KUBECTL_STANDIN_DIR", (dir_ / "kubectl").c_str(), 1);
    context_.env = &env_;
    context_.data_dir = (dir_ / "data").string();
    context_.installation = installation_id(context_.data_dir);
    context_.providers = {"kubernetes"};
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    unsetenv("KUBECTL_STANDIN_DIR");
    fs::remove_all(dir_);
  }

  // What the stand-in answers to calls of `key` (see tests/support/kubectl).
  void answer(const std::string& key, const std::string& out, int rc = 0,
              const std::string& err = "") {
    write_text(dir_ / "kubectl" / (key + ".out"), out);
    write_text(dir_ / "kubectl" / (key + ".rc"), std::to_string(rc));
    if (!err.empty()) write_text(dir_ / "kubectl" / (key + ".err"), err);
  }
  std::vector<std::string> calls() {
    std::vector<std::string> lines;
    std::istringstream in(read_text(dir_ / "kubectl" / "calls.log"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::vector<std::string> calls_of(const std::string& verb) {
    std::vector<std::string> out;
    for (const auto& line : calls()) {
      if (line.find(" " + verb + " ") != std::string::npos) out.push_back(line);
    }
    return out;
  }
  KubernetesProvider provider() {
    return KubernetesProvider(context_, kubernetes::make_process_runner(env_));
  }
  static json ready_pod(const std::string& name, const std::string& ip) {
    return {
        {"metadata", {{"name", name}}},
        {"status",
         {{"podIP", ip}, {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  }

  // Plans and applies `system` as run `run_id`; the state file is kept in the data dir.
  Status apply(KubernetesProvider& provider, const core::System& system, const std::string& run_id,
               RunState& state) {
    auto resources = provider.resources_for(system, DeployRequest{run_id, {"t0"}, 1, true});
    if (!resources) return make_error(resources.error());
    auto plan = plan_changes(*resources, RunState{});
    if (!plan) return make_error(plan.error());
    state.run_id = run_id;
    state.provider = "kubernetes";
    state.installation = context_.installation;
    StateFile file(env_, state_path(context_.data_dir, run_id));
    return apply_plan(provider, *plan, state, file, nullptr);
  }

  fs::path dir_;
  std::string old_path_;
  PosixEnv env_;
  ProviderContext context_;
};

TEST_F(StandInKubectl, ApplyCreatesTheNamespaceAppliesManifestsAndWaits) {
  core::System system = make_system("redis", "redis", 2);
  answer("get-pods",
         json({{"items", {ready_pod("a-0", "10.1.0.5"), ready_pod("a-1", "10.1.0.6")}}}).dump());
  KubernetesProvider k8s = provider();
  RunState state;
  Status applied = apply(k8s, system, "e1.redis", state);
  ASSERT_TRUE(applied.ok()) << applied.error() << "\n" << read_text(dir_ / "kubectl/calls.log");

  // The namespace was absent, so dec applied it and recorded that it is dec's.
  ASSERT_NE(state.find("namespace.redis"), nullptr);
  EXPECT_EQ(state.find("namespace.redis")->outputs.at("created_by_dec"), "true");
  const auto applies = calls_of("apply");
  ASSERT_EQ(applies.size(), 3u);  // namespace, brokers, workers
  for (const auto& line : applies) {
    EXPECT_NE(line.find("apply --server-side --field-manager=dec"), std::string::npos) << line;
  }
  // What the stand-in received is the rendered manifests.
  std::set<std::string> kinds;
  for (const auto& entry : fs::directory_iterator(dir_ / "kubectl/applied")) {
    json doc = json::parse(read_text(entry.path()));
    if (doc["kind"] == "List") {
      for (const auto& item : doc["items"]) kinds.insert(item["kind"].get<std::string>());
    } else {
      kinds.insert(doc["kind"].get<std::string>());
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"Job", "Namespace", "Service", "StatefulSet"}));
  const auto waits = calls_of("wait");
  ASSERT_FALSE(waits.empty());
  EXPECT_NE(waits[0].find("--for=condition=Ready pod -l dec.run=e1.redis,dec.group="),
            std::string::npos)
      << waits[0];

  auto endpoint = k8s.endpoint(state);
  ASSERT_TRUE(endpoint.ok()) << endpoint.error();
  ASSERT_EQ(endpoint->addresses.size(), 2u);
  EXPECT_NE(endpoint->addresses[0].find(".dec.svc:6379"), std::string::npos);
  EXPECT_EQ(endpoint->workers, (std::vector<std::string>{"10.1.0.5:7700", "10.1.0.6:7700"}));
  EXPECT_NE(endpoint->label.find("Redis (redis:7.2) on Kubernetes"), std::string::npos);

  // Destroying the run deletes both groups by label (side by side), then the namespace dec
  // created.
  StateFile file(env_, state_path(context_.data_dir, "e1.redis"));
  ASSERT_TRUE(destroy_run(k8s, state, file, nullptr).ok());
  const auto deletes = calls_of("delete");
  ASSERT_EQ(deletes.size(), 3u);
  std::set<std::string> groups;
  for (size_t i = 0; i < 2; ++i) {
    for (const char* group : {"workers", "brokers"}) {
      if (deletes[i].find(std::string("-l dec.run=e1.redis,dec.group=") + group) !=
          std::string::npos) {
        groups.insert(group);
      }
    }
  }
  EXPECT_EQ(groups, (std::set<std::string>{"brokers", "workers"}))
      << ::testing::PrintToString(deletes);
  EXPECT_NE(deletes[2].find("delete namespace dec"), std::string::npos) << deletes[2];
}

TEST_F(StandInKubectl, AnExistingNamespaceIsUsedAndKept) {
  answer("get-namespace", "namespace/dec\n");
  answer("get-pods", json({{"items", {ready_pod("a-0", "10.1.0.5")}}}).dump());
  KubernetesProvider k8s = provider();
  RunState state;
  ASSERT_TRUE(apply(k8s, make_system("redis", "redis"), "e2.redis", state).ok());
  EXPECT_EQ(state.find("namespace.redis")->outputs.at("created_by_dec"), "false");
  EXPECT_EQ(calls_of("apply").size(), 2u);  // brokers and workers only
  StateFile file(env_, state_path(context_.data_dir, "e2.redis"));
  ASSERT_TRUE(destroy_run(k8s, state, file, nullptr).ok());
  for (const auto& line : calls_of("delete")) {
    EXPECT_EQ(line.find("delete namespace"), std::string::npos) << line;
  }
}

TEST_F(StandInKubectl, FailedReadinessNamesThePodAndTheCondition) {
  core::System system = make_system("redis", "redis", 2);
  system.deploy.settings = {{"ready_timeout", "2s"}};
  answer("wait", "", 1, "error: timed out waiting for the condition on pods/redis-0a1b2c-1\n");
  json stuck = {
      {"metadata", {{"name", "redis-0a1b2c-1"}}},
      {"status",
       {{"conditions",
         json::array({{{"type", "Ready"}, {"status", "False"}, {"reason", "ContainersNotReady"}}})},
        {"containerStatuses",
         json::array(
             {{{"name", "redis"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}})}}}};
  answer("get-pods", json({{"items", {ready_pod("redis-0a1b2c-0", "10.0.0.1"), stuck}}}).dump());
  KubernetesProvider k8s = provider();
  RunState state;
  auto started = std::chrono::steady_clock::now();
  Status applied = apply(k8s, system, "e3.redis", state);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().find("not Ready within 2 s (deploy.settings.ready_timeout)"),
            std::string::npos)
      << applied.error();
  EXPECT_NE(applied.error().find("--for=condition=Ready pod -l dec.run=e3.redis"),
            std::string::npos)
      << applied.error();
  EXPECT_NE(applied.error().find("timed out waiting for the condition on pods/redis-0a1b2c-1"),
            std::string::npos)
      << applied.error();
  EXPECT_NE(applied.error().find(
                "pod redis-0a1b2c-1: Ready=False (ContainersNotReady), container redis waiting: "
                "ImagePullBackOff"),
            std::string::npos)
      << applied.error();
  EXPECT_EQ(applied.error().find("pod redis-0a1b2c-0:"), std::string::npos) << applied.error();
}

TEST_F(StandInKubectl, DeleteIsIdempotentNotFoundIsSuccess) {
  answer("get-pods", json({{"items", {ready_pod("a-0", "10.1.0.5")}}}).dump());
  KubernetesProvider k8s = provider();
  RunState state;
  ASSERT_TRUE(apply(k8s, make_system("redis", "redis"), "e4.redis", state).ok());
  answer("delete", "", 1, "Error from server (NotFound): namespaces \"dec\" not found\n");
  answer("delete-namespace", "", 1, "Error from server (NotFound): namespaces \"dec\" not found\n");
  answer("get-other", "", 1, "Error from server (NotFound): namespaces \"dec\" not found\n");
  for (const auto& record : state.resources) {
    for (int round = 0; round < 2; ++round) {
      Status destroyed = k8s.destroy(record, state);
      EXPECT_TRUE(destroyed.ok()) << record.resource.address << ": " << destroyed.error();
    }
  }
  // Another failure is reported, not swallowed.
  answer("delete", "", 1, "error: You must be logged in to the server (Unauthorized)\n");
  Status refused = k8s.destroy(*state.find("brokers.redis"), state);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("Unauthorized"), std::string::npos);
}

TEST_F(StandInKubectl, ReconcileDeletesTheObjectsOfARunNoStateKnows) {
  answer("get-pods", json({{"items", {ready_pod("a-0", "10.1.0.5")}}}).dump());
  // A live recorded run (its state file is this test's) registers the cluster.
  KubernetesProvider k8s = provider();
  RunState live;
  ASSERT_TRUE(apply(k8s, make_system("redis", "redis"), "e5.redis", live).ok());
  const std::string installation = kubernetes::label_value(context_.installation);
  auto object = [&](const std::string& kind, const std::string& name, const std::string& run) {
    return json{{"kind", kind},
                {"metadata",
                 {{"name", name},
                  {"namespace", "dec"},
                  {"labels", {{"dec.run", run}, {"dec.installation", installation}}},
                  {"annotations", {{"dec.run-id", run}}}}}};
  };
  answer("get-discover", json({{"items",
                                {object("StatefulSet", "redis-old", "exp-old.redis"),
                                 object("Service", "redis-old", "exp-old.redis"),
                                 object("Job", "redis-old-workers", "exp-old.redis")}}})
                             .dump());
  answer("get-strimzi", "", 1, "error: the server doesn't have a resource type \"kafkas\"\n");
  // Owned by another live process (this test's parent): reconcile leaves the run alone.
  live.owner = env_.process_id(getppid());
  StateFile file(env_, state_path(context_.data_dir, "e5.redis"));
  ASSERT_TRUE(file.save(live).ok());

  ReconcileReport report = reconcile(context_, ReconcileOptions{}, nullptr);
  EXPECT_TRUE(report.clean()) << (report.errors.empty() ? "" : report.errors[0]);
  bool reported = false;
  for (const auto& action : report.actions) {
    if (action.find("delete orphan kubernetes objects in namespace dec: statefulset/redis-old") !=
            std::string::npos &&
        action.find("of run exp-old.redis (provider kubernetes)") != std::string::npos) {
      reported = true;
    }
  }
  EXPECT_TRUE(reported) << ::testing::PrintToString(report.actions);
  const auto deletes = calls_of("delete");
  ASSERT_EQ(deletes.size(), 1u) << ::testing::PrintToString(calls());
  EXPECT_NE(deletes[0].find("delete statefulset,service,job -n dec -l dec.run=exp-old.redis"),
            std::string::npos)
      << deletes[0];
  // Discovery asked for this installation's objects across namespaces.
  bool asked = false;
  for (const auto& line : calls_of("get")) {
    asked |= line.find("-A -l dec.installation=" + installation + " -o json") != std::string::npos;
  }
  EXPECT_TRUE(asked);
}

TEST_F(StandInKubectl, ExistsAsksForTheGroupsObjectsAndEndpointNeedsAReadyAgent) {
  answer("get-pods", json({{"items", {ready_pod("a-0", "10.1.0.5")}}}).dump());
  KubernetesProvider k8s = provider();
  RunState state;
  ASSERT_TRUE(apply(k8s, make_system("redis", "redis"), "e7.redis", state).ok());
  const ResourceRecord& brokers = *state.find("brokers.redis");
  EXPECT_FALSE(k8s.exists(brokers));  // the stand-in lists nothing
  answer("get-other", json({{"items", {{{"kind", "StatefulSet"}}}}}).dump());
  EXPECT_TRUE(k8s.exists(brokers));
  bool asked = false;
  for (const auto& line : calls_of("get")) {
    asked |= line.find("get statefulset,service -n dec -l dec.run=e7.redis,dec.group=brokers") !=
             std::string::npos;
  }
  EXPECT_TRUE(asked) << ::testing::PrintToString(calls());
  // The agent's pod lost its IP (or readiness): the run cannot reach it and says where to look.
  answer("get-pods", json({{"items", json::array()}}).dump());
  auto endpoint = k8s.endpoint(state);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().find("workers.redis: no Ready load agent pod"), std::string::npos)
      << endpoint.error();
}

TEST_F(StandInKubectl, ADataDirThatNeverUsedKubernetesMakesNoKubectlCall) {
  EXPECT_TRUE(provider().discover().empty());
  EXPECT_FALSE(fs::exists(dir_ / "kubectl/calls.log"));
}

TEST_F(StandInKubectl, MissingKubectlIsAClearError) {
  fs::create_directories(dir_ / "empty");
  setenv("PATH", (dir_ / "empty").c_str(), 1);
  KubernetesProvider k8s = provider();
  RunState state;
  Status applied = apply(k8s, make_system("redis", "redis"), "e6.redis", state);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().find("kubectl is not on PATH"), std::string::npos) << applied.error();
}

}  // namespace
}  // namespace dec::infra
