// provider: endpoints — dec measures systems it did not create and must not destroy them.
#include "infra/endpoints_provider.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "infra/env.h"
#include "infra/reconcile.h"
#include "support/subprocess.h"
#include "systems/kafka/kafka_mock.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class EndpointsProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-endpoints-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    data_dir_ = (dir_ / "data").string();
  }
  void TearDown() override {
    for (auto& child : children_) {
      kill(child.pid, SIGTERM);
      testing::wait_exit(child, 10s);
    }
    fs::remove_all(dir_);
  }
  std::vector<std::string> dec(std::vector<std::string> args) {
    args.insert(args.begin(), DEC_BINARY);
    args.push_back("--data-dir");
    args.push_back(data_dir_);
    return args;
  }
  std::string write_spec(const std::string& systems) {
    std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << "name: existing\n"
                           "workload: {message_size: 128B, producers: 1, consumers: 1, rate: 1k/s,"
                           " warmup: 0s, duration: 2s, partitions: 2}\n"
                           "systems:\n"
                        << systems;
    return path;
  }
  // A redis-server that is not dec's (stopped in TearDown), on a free loopback port.
  std::optional<int> start_redis() {
    auto port = env_.free_tcp_port("127.0.0.1");
    if (!port) return std::nullopt;
    children_.push_back(testing::start({"redis-server", "--port", std::to_string(*port), "--bind",
                                        "127.0.0.1", "--save", "", "--dir", dir_.string()},
                                       (dir_ / "redis.log").string()));
    for (int i = 0; i < 200 && !env_.tcp_port_open("127.0.0.1", *port); ++i) {
      std::this_thread::sleep_for(20ms);
    }
    return *port;
  }
  fs::path dir_;
  std::string data_dir_;
  infra::PosixEnv env_;
  std::vector<testing::Child> children_;
};

TEST_F(EndpointsProvider, MeasuresAnExistingRedisAndLeavesItRunning) {
  auto port = start_redis();
  ASSERT_TRUE(port.has_value());
  std::string spec = write_spec(
      "  - name: shared-redis\n    driver: redis\n"
      "    deploy: {provider: endpoints, settings: {addresses: \"127.0.0.1:" +
      std::to_string(*port) + "\"}}\n");
  std::string out = (dir_ / "results.json").string();
  int code = testing::run(dec({"run", spec, "--out", out}), (dir_ / "run.log").string());
  ASSERT_EQ(code, 0) << slurp(dir_ / "run.log");
  auto doc = nlohmann::json::parse(slurp(out));
  const auto& run = doc["runs"][0];
  EXPECT_EQ(run["provider"], "endpoints");
  EXPECT_EQ(run["served_by"], "existing endpoint");
  EXPECT_EQ(run["delivery"]["sent"], run["delivery"]["received"]);
  EXPECT_GT(run["delivery"]["sent"].get<int>(), 1000);
  EXPECT_EQ(run["delivery"]["lost"], 0);
  // Not dec's: still running, and nothing recorded as left to clean.
  EXPECT_TRUE(env_.tcp_port_open("127.0.0.1", *port));
  EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty());
}

// The topics a run creates on an existing system are recorded resources: after a run ends they
// are gone, and after dec is killed mid-run, reconcile deletes them (the system stays).
TEST_F(EndpointsProvider, TopicsOnAnExistingRedisAreDeletedEvenAfterAKill) {
  auto port = start_redis();
  ASSERT_TRUE(port.has_value());
  auto keys = [&]() {
    std::string out = (dir_ / "keys.txt").string();
    testing::run({"redis-cli", "-p", std::to_string(*port), "--scan", "--pattern", "*dec-*"}, out);
    return slurp(out);
  };
  std::string spec = write_spec(
      "  - name: shared-redis\n    driver: redis\n"
      "    deploy: {provider: endpoints, settings: {addresses: \"127.0.0.1:" +
      std::to_string(*port) + "\"}}\n");
  std::string text = slurp(spec);
  text.replace(text.find("duration: 2s"), 12, "duration: 60s");
  std::ofstream(spec) << text;

  auto child = testing::start(dec({"run", spec}), (dir_ / "run.log").string());
  for (int i = 0; i < 300 && keys().empty(); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(keys().empty()) << slurp(dir_ / "run.log");
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(kill(child.pid, SIGKILL), 0);
  testing::wait_exit(child, 10s);
  ASSERT_FALSE(keys().empty()) << "the killed run's topic is still on the server";

  EXPECT_EQ(testing::run(dec({"reconcile"}), (dir_ / "reconcile.log").string()), 0)
      << slurp(dir_ / "reconcile.log");
  EXPECT_EQ(keys(), "") << slurp(dir_ / "reconcile.log");
  EXPECT_TRUE(env_.tcp_port_open("127.0.0.1", *port)) << "the system itself is not dec's";
  EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty());
}

TEST_F(EndpointsProvider, KafkaBootstrapServersFromTheSpec) {
  // A Kafka "cluster" the test owns (the mock, as no broker can be installed here), addressed
  // exactly as a real cluster would be: bootstrap_servers plus client properties.
  std::string file = (dir_ / "bootstrap").string();
  auto mock = testing::start({DEC_BINARY, "kafka-mock", "--brokers", "3", "--bootstrap-file", file},
                             (dir_ / "mock.log").string());
  children_.push_back(mock);
  for (int i = 0; i < 500 && !fs::exists(file); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::exists(file)) << slurp(dir_ / "mock.log");
  std::string bootstrap = slurp(file);
  while (!bootstrap.empty() && bootstrap.back() == '\n') bootstrap.pop_back();
  std::string control = slurp(drivers::kafka_mock_control_file(file));
  while (!control.empty() && control.back() == '\n') control.pop_back();
  setenv("DEC_TEST_KAFKA_CLIENT_ID", "dec-endpoints-test", 1);
  std::string spec = write_spec(
      "  - name: existing-kafka\n    driver: kafka\n    config: {acks: all}\n"
      "    deploy:\n      provider: endpoints\n      settings:\n"
      "        bootstrap_servers: \"" +
      bootstrap +
      "\"\n"
      "        client.id: \"${DEC_TEST_KAFKA_CLIENT_ID}\"\n"
      "        emulated: \"true\"\n"
      "        kafka_mock_control: \"" +
      control + "\"\n");
  std::string out = (dir_ / "results.json").string();
  int code = testing::run(dec({"run", spec, "--out", out}), (dir_ / "run.log").string(), 180s);
  ASSERT_EQ(code, 0) << slurp(dir_ / "run.log");
  auto doc = nlohmann::json::parse(slurp(out));
  const auto& run = doc["runs"][0];
  EXPECT_TRUE(run["emulated"].get<bool>());
  EXPECT_EQ(run["delivery"]["sent"], run["delivery"]["acked"]);
  EXPECT_EQ(run["delivery"]["lost"], 0);
  EXPECT_EQ(mock.pid > 0 && kill(mock.pid, 0) == 0, true) << "the cluster must survive the run";
}

TEST_F(EndpointsProvider, MissingSecretVariableIsAClearErrorAndNothingIsLeft) {
  unsetenv("DEC_TEST_UNSET_PASSWORD");
  std::string spec = write_spec(
      "  - name: secured\n    driver: redis\n"
      "    deploy: {provider: endpoints, settings: {addresses: \"127.0.0.1:1\","
      " password: \"${DEC_TEST_UNSET_PASSWORD}\"}}\n");
  int code = testing::run(dec({"run", spec}), (dir_ / "run.log").string());
  EXPECT_EQ(code, 1);
  std::string log = slurp(dir_ / "run.log");
  EXPECT_NE(log.find("DEC_TEST_UNSET_PASSWORD is not set"), std::string::npos) << log;
  EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty());
  // The state file never held the secret's value, only the reference.
}

TEST(ExpandEnvironment, ReferencesAndErrors) {
  setenv("DEC_TEST_A", "alpha", 1);
  unsetenv("DEC_TEST_MISSING");
  const core::SpecPolicy cli;  // the CLI's own user: the whole environment
  EXPECT_EQ(*core::expand_secrets("x-${DEC_TEST_A}-y", "f", cli), "x-alpha-y");
  EXPECT_EQ(*core::expand_secrets("plain", "f", cli), "plain");
  auto missing = core::expand_secrets("${DEC_TEST_MISSING}", "deploy.settings.p", cli);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("deploy.settings.p"), std::string::npos);
  EXPECT_FALSE(core::expand_secrets("${oops", "f", cli).ok());
}

}  // namespace
}  // namespace dec
