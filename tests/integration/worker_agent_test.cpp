// `dec worker` as its own process against a real redis-server (started once for the suite on a
// free loopback port, persistence off): a workload through WorkerClient, one run at a time,
// stop, bad requests, /v1/shutdown and SIGTERM; and the same workload run by the engine in this
// process, for comparison. Every process started here is stopped at the end.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "drivers/driver.h"
#include "infra/env.h"
#include "support/subprocess.h"
#include "systems/registry.h"
#include "worker/worker.h"

namespace dec::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class WorkerAgent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_dir_ = fs::temp_directory_path() / ("dec-worker-redis-" + std::to_string(getpid()));
    fs::remove_all(redis_dir_);
    fs::create_directories(redis_dir_);
    infra::PosixEnv env;
    auto port = env.free_tcp_port("127.0.0.1");
    if (!port.ok()) return;
    redis_port_ = *port;
    redis_ = testing::start(
        {"redis-server", "--port", std::to_string(redis_port_), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", redis_dir_.string()},
        (redis_dir_ / "redis.log").string());
    for (int i = 0; i < 500 && redis_.pid > 0 && !env.tcp_port_open("127.0.0.1", redis_port_);
         ++i) {
      std::this_thread::sleep_for(20ms);
    }
  }
  static void TearDownTestSuite() {
    if (redis_.pid > 0) {
      ::kill(redis_.pid, SIGTERM);
      testing::wait_exit(redis_, 10s);  // SIGKILLs it if it does not exit
      redis_.pid = -1;
    }
    fs::remove_all(redis_dir_);
  }

  void SetUp() override {
    ASSERT_GT(redis_.pid, 0) << "redis-server did not start";
    ASSERT_TRUE(infra::PosixEnv().tcp_port_open("127.0.0.1", redis_port_))
        << "redis-server is not listening: " << redis_.output();
    dir_ = fs::temp_directory_path() /
           ("dec-worker-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string ready_file = (dir_ / "ready").string();
    worker_ = testing::start(
        {DEC_BINARY, "worker", "--listen", "127.0.0.1:0", "--ready-file", ready_file},
        (dir_ / "worker.log").string());
    ASSERT_GT(worker_.pid, 0);
    for (int i = 0; i < 500 && !fs::exists(ready_file); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(fs::exists(ready_file)) << worker_.output();
    std::ifstream in(ready_file);
    std::string address;
    std::getline(in, address);
    port_ = std::stoi(address.substr(address.rfind(':') + 1));
  }

  void TearDown() override {
    if (worker_.pid > 0) {
      ::kill(worker_.pid, SIGKILL);
      testing::wait_exit(worker_, 10s);
    }
    if (HasFailure()) std::fprintf(stderr, "worker log:\n%s\n", worker_.output().c_str());
    fs::remove_all(dir_);
  }

  // Exit code of the worker, which is expected to exit by itself.
  int wait_worker_exit() {
    const int code = testing::wait_exit(worker_, 20s);
    worker_.pid = -1;
    return code;
  }

  std::unique_ptr<drivers::Driver> redis() {
    auto driver = systems::find_driver("redis")->create();
    Status connected = driver->connect(drivers::Endpoint{{redis_address()}, {}}, {});
    EXPECT_TRUE(connected.ok()) << connected.error();
    return driver;
  }
  static std::string redis_address() { return "127.0.0.1:" + std::to_string(redis_port_); }

  WorkRequest request(const std::string& topic, std::chrono::nanoseconds duration) {
    WorkRequest r;
    r.driver = "redis";
    r.addresses = {redis_address()};
    r.engine.producers = 1;
    r.engine.consumers = 1;
    r.engine.rate = 2000;
    r.engine.warmup = 500ms;
    r.engine.duration = duration;
    r.engine.drain_timeout = 5s;
    r.engine.message_size = 256;
    r.engine.topics = {topic};
    return r;
  }

  WorkerClient client() const { return WorkerClient("127.0.0.1", port_); }

  static inline fs::path redis_dir_;
  static inline int redis_port_ = -1;
  static inline testing::Child redis_;
  fs::path dir_;
  testing::Child worker_;
  int port_ = 0;
};

void print_figures(const char* label, const load::EngineResult& e, double wall_s) {
  std::printf(
      "%-10s wall %.3f s, sent %llu, produced %.1f msg/s, e2e p50 %.0f us p99 %.0f us "
      "p99.9 %.0f us, publish p99 %.0f us\n",
      label, wall_s, static_cast<unsigned long long>(e.delivery.sent), e.produced_msgs_per_s,
      static_cast<double>(e.end_to_end_latency.percentile(50)) / 1e3,
      static_cast<double>(e.end_to_end_latency.percentile(99)) / 1e3,
      static_cast<double>(e.end_to_end_latency.percentile(99.9)) / 1e3,
      static_cast<double>(e.publish_latency.percentile(99)) / 1e3);
}

TEST_F(WorkerAgent, RunsAWorkloadAgainstRedis) {
  auto admin = redis();
  ASSERT_TRUE(admin->create_topic("dec-w-0", 1).ok());
  ASSERT_TRUE(client().health().ok());

  std::vector<load::Progress> progress;
  std::atomic<bool> never{false};
  const auto started = Clock::now();
  auto result = client().run(
      request("dec-w-0", 2s), [&](const load::Progress& p) { progress.push_back(p); }, never);
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_TRUE(result.ok()) << result.error();
  const load::EngineResult& e = result->engine;
  EXPECT_EQ(e.error, "");
  EXPECT_GT(e.delivery.sent, 0u);
  EXPECT_EQ(e.delivery.received, e.delivery.acked);
  EXPECT_EQ(e.delivery.lost, 0u);
  EXPECT_GT(e.end_to_end_latency.count(), 0u);
  EXPECT_GT(e.publish_latency.count(), 0u);
  EXPECT_FALSE(e.timeline.empty());
  EXPECT_GT(e.produced_msgs_per_s, 1000) << "2000/s asked; a loaded machine may lag a little";
  EXPECT_FALSE(result->emulated);
  EXPECT_FALSE(progress.empty());
  print_figures("worker", e, wall_s);
  EXPECT_TRUE(admin->delete_topic("dec-w-0").ok());
}

// Not an assertion on speed (shared CI machines vary); prints both sets of figures so the
// agent's overhead can be read off the test log.
TEST_F(WorkerAgent, ReportsTheSameFiguresAsTheEngineInProcess) {
  auto admin = redis();
  ASSERT_TRUE(admin->create_topic("dec-w-1", 1).ok());
  ASSERT_TRUE(admin->create_topic("dec-w-2", 1).ok());

  std::atomic<bool> never{false};
  auto started = Clock::now();
  auto through_worker = client().run(request("dec-w-1", 2s), nullptr, never);
  const double worker_wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_TRUE(through_worker.ok()) << through_worker.error();

  const WorkRequest local = request("dec-w-2", 2s);
  auto driver = redis();
  ASSERT_TRUE(driver->prepare_consumers(local.engine.topics, {"dec-group-0"}).ok());
  started = Clock::now();
  auto in_process = load::Engine(*driver, local.engine).run(nullptr, never);
  const double local_wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_TRUE(in_process.ok()) << in_process.error();

  print_figures("worker", through_worker->engine, worker_wall_s);
  print_figures("in-process", *in_process, local_wall_s);
  for (const load::EngineResult* e : {&through_worker->engine, &*in_process}) {
    EXPECT_EQ(e->error, "");
    EXPECT_EQ(e->delivery.lost, 0u);
    EXPECT_GT(e->produced_msgs_per_s, 1000);
  }
  EXPECT_TRUE(admin->delete_topic("dec-w-1").ok());
  EXPECT_TRUE(admin->delete_topic("dec-w-2").ok());
}

TEST_F(WorkerAgent, OneRunAtATimeStopBadRequestsAndShutdown) {
  auto admin = redis();
  ASSERT_TRUE(admin->create_topic("dec-w-3", 1).ok());
  httplib::Client http("127.0.0.1", port_);
  http.set_read_timeout(5, 0);

  ASSERT_TRUE(client().start(request("dec-w-3", 60s)).ok());
  auto second =
      http.Post("/v1/run", work_request_to_json(request("dec-w-3", 1s)), "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;

  auto bad = http.Post("/v1/run", R"({"driver": "redis", "engine": {"rate": "fast"}})",
                       "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("engine.rate: expected a number"), std::string::npos) << bad->body;
  auto early = http.Get("/v1/result");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 409) << "no result while the run is active";

  std::this_thread::sleep_for(1500ms);  // past warm-up: the run is sending
  const auto stopped_at = Clock::now();
  ASSERT_TRUE(client().stop().ok());
  std::string state;
  while (Clock::now() - stopped_at < 20s) {
    auto status = client().status();
    ASSERT_TRUE(status.ok()) << status.error();
    state = status->state;
    if (state == "done" || state == "failed") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(state, "done");
  EXPECT_LT(Clock::now() - stopped_at, 8s) << "stop ends a 60 s run early";
  auto result = client().result();
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->engine.error, "stopped");
  EXPECT_GT(result->engine.delivery.sent, 0u);

  ASSERT_TRUE(client().shutdown().ok());
  EXPECT_EQ(wait_worker_exit(), 0);
  EXPECT_FALSE(fs::exists(dir_ / "ready"));
  EXPECT_TRUE(admin->delete_topic("dec-w-3").ok());
}

TEST_F(WorkerAgent, SigtermStopsTheRunAndExitsZero) {
  auto admin = redis();
  ASSERT_TRUE(admin->create_topic("dec-w-4", 1).ok());
  ASSERT_TRUE(client().start(request("dec-w-4", 60s)).ok());
  std::this_thread::sleep_for(1s);
  ::kill(worker_.pid, SIGTERM);
  const auto signalled = Clock::now();
  EXPECT_EQ(wait_worker_exit(), 0);
  EXPECT_LT(Clock::now() - signalled, 10s);
  EXPECT_TRUE(admin->delete_topic("dec-w-4").ok());
}

}  // namespace
}  // namespace dec::worker
