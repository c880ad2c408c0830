// dec serve over real HTTP: queue order, server-sent events, results, shutdown deferral, cancel,
// crash recovery after kill -9, bad input, and the OpenAPI description.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "infra/env.h"
#include "infra/executor.h"
#include "infra/local_provider.h"
#include "infra/reconcile.h"
#include "support/subprocess.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string spec(const std::string& name, const std::string& duration) {
  return "name: " + name +
         "\nworkload: {message_size: 128B, producers: 1, consumers: 1, rate: 1k/s, warmup: 0s, "
         "duration: " +
         duration + "}\nsystems:\n  - {name: r, driver: redis}\n";
}

class Server : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-server-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    data_dir_ = (dir_ / "data").string();
  }
  void TearDown() override {
    if (server_.pid > 0) {
      kill(server_.pid, SIGKILL);
      testing::wait_exit(server_, 10s);
    }
    for (const auto& p : provider().discover()) (void)provider().destroy_discovered(p);
    fs::remove_all(dir_);
  }

  void start(const std::string& token = "", std::vector<std::string> extra = {},
             std::map<std::string, std::string> env = {}) {
    auto port = env_.free_tcp_port("127.0.0.1");
    ASSERT_TRUE(port.ok());
    port_ = *port;
    std::vector<std::string> argv = {DEC_BINARY,   "serve",
                                     "--listen",   "127.0.0.1:" + std::to_string(port_),
                                     "--data-dir", data_dir_};
    if (!token.empty()) {
      argv.push_back("--token");
      argv.push_back(token);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = testing::start(
        argv, (dir_ / ("serve-" + std::to_string(++starts_) + ".log")).string(), env);
    for (int i = 0; i < 250 && !env_.tcp_port_open("127.0.0.1", port_); ++i) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(env_.tcp_port_open("127.0.0.1", port_)) << server_.output();
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

  json get_json(const std::string& path) {
    auto res = client().Get(path.c_str());
    if (!res) return json();
    return json::parse(res->body, nullptr, false);
  }

  std::string submit(const std::string& body) {
    auto res = client().Post("/api/experiments", body, "application/yaml");
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 201) << res->body;
    return json::parse(res->body).value("id", "");
  }

  // Polls until the experiment's state satisfies `done`; returns the last record.
  json wait_for(const std::string& id, const std::function<bool(const std::string&)>& done,
                std::chrono::seconds timeout = 90s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json record;
    while (std::chrono::steady_clock::now() < deadline) {
      record = get_json("/api/experiments/" + id);
      if (record.is_object() && done(record.value("state", ""))) return record;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "timed out waiting on " << id << ": " << record.dump();
    return record;
  }

  infra::LocalProvider& provider() {
    if (!provider_) {
      infra::ProviderContext pc;
      pc.env = &env_;
      pc.data_dir = data_dir_;
      pc.installation = infra::installation_id(data_dir_);
      provider_ = std::make_unique<infra::LocalProvider>(pc);
    }
    return *provider_;
  }
  size_t leftover_processes() {
    size_t n = 0;
    for (const auto& p : provider().discover()) n += p.outputs.at("kind") == "process";
    return n;
  }

  fs::path dir_;
  std::string data_dir_;
  infra::PosixEnv env_;
  std::unique_ptr<infra::LocalProvider> provider_;
  testing::Child server_;
  int port_ = 0;
  int starts_ = 0;
};

TEST_F(Server, RunsExperimentsInOrderStreamsEventsAndServesResults) {
  start();
  std::string first = submit(spec("first", "1s"));
  std::string second = submit(spec("second", "1s"));
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  json waiting = get_json("/api/experiments/" + second);
  EXPECT_EQ(waiting.value("state", ""), "queued") << "second waits behind first";
  EXPECT_GE(waiting.value("queue_position", 0), 1);

  // Watch the first over server-sent events until the stream ends.
  std::string stream;
  auto c = client();
  c.set_read_timeout(90, 0);
  auto res = c.Get(("/api/experiments/" + first + "/events").c_str(),
                   [&](const char* data, size_t length) {
                     stream.append(data, length);
                     return true;
                   });
  ASSERT_TRUE(res);
  EXPECT_NE(stream.find("event: state"), std::string::npos) << stream;
  EXPECT_NE(stream.find("\"provisioning\""), std::string::npos) << stream;
  EXPECT_NE(stream.find("event: progress"), std::string::npos) << stream;
  EXPECT_NE(stream.find("\"succeeded\""), std::string::npos) << stream;

  json a = wait_for(first, [](const std::string& s) { return s == "succeeded"; });
  json b = wait_for(second, [](const std::string& s) { return s == "succeeded"; });
  EXPECT_LE(a.value("finished_at", ""), b.value("started_at", "")) << "one at a time, in order";
  const json& run = a["results"]["runs"][0];
  EXPECT_EQ(run["delivery"]["sent"], run["delivery"]["received"]);
  EXPECT_GT(run["delivery"]["sent"].get<int>(), 500);

  auto results = client().Get(("/api/experiments/" + first + "/results").c_str());
  ASSERT_TRUE(results);
  EXPECT_EQ(results->status, 200);
  EXPECT_EQ(json::parse(results->body)["runs"][0]["system"], "r");
  auto csv = client().Get(("/api/experiments/" + first + "/results.csv").c_str());
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\n'), 2) << csv->body;
  EXPECT_EQ(csv->body.rfind("system,driver,emulated", 0), 0u);
  auto exported_csv = client().Get(("/api/experiments/" + first + "/export?format=csv").c_str());
  ASSERT_TRUE(exported_csv);
  EXPECT_EQ(exported_csv->status, 200);
  EXPECT_EQ(exported_csv->body, csv->body) << "one CSV, whichever route";
  auto hlog = client().Get(("/api/experiments/" + first + "/export?format=hdr").c_str());
  ASSERT_TRUE(hlog);
  EXPECT_EQ(hlog->status, 200);
  EXPECT_EQ(hlog->body.rfind("#[Histogram log format version 1.3]\n", 0), 0u) << hlog->body;
  EXPECT_NE(hlog->body.find("\nTag=r/e2e,"), std::string::npos) << hlog->body;
  auto bad_format = client().Get(("/api/experiments/" + first + "/export?format=xml").c_str());
  ASSERT_TRUE(bad_format);
  EXPECT_EQ(bad_format->status, 400);
  auto html = client().Get(("/api/experiments/" + first + "/report.html").c_str());
  ASSERT_TRUE(html);
  EXPECT_EQ(html->status, 200);
  EXPECT_NE(html->body.find("<svg"), std::string::npos);
  EXPECT_EQ(html->body.find("<script"), std::string::npos) << "self-contained, no scripts";
  EXPECT_EQ(get_json("/api/results")["results"].size(), 2u);
  auto metrics = client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("dec_experiments{state=\"succeeded\"} 2"), std::string::npos)
      << metrics->body;
  EXPECT_EQ(leftover_processes(), 0u);
}

TEST_F(Server, ShutdownWaitsForTheRunningExperimentAndKeepsTheQueue) {
  start();
  std::string running = submit(spec("long", "60s"));
  wait_for(running, [](const std::string& s) { return s == "running"; });
  std::string queued = submit(spec("later", "1s"));
  std::string dropped = submit(spec("dropped", "1s"));

  auto refused = client().Post("/api/shutdown", "", "text/plain");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409);
  EXPECT_TRUE(refused->has_header("Retry-After"));
  EXPECT_EQ(json::parse(refused->body)["running"], running);
  // Estimated from the spec: the 60 s run has most of its time left.
  const int retry_after = json::parse(refused->body).value("retry_after_s", 0);
  EXPECT_GE(retry_after, 30);
  EXPECT_LE(retry_after, 70);
  EXPECT_EQ(refused->get_header_value("Retry-After"), std::to_string(retry_after));
  EXPECT_TRUE(get_json("/api/health")["draining"].get<bool>());

  // Cancel: a queued one is removed without running, the running one is stopped and destroyed.
  auto cancel_queued =
      client().Post(("/api/experiments/" + dropped + "/cancel").c_str(), "", "text/plain");
  ASSERT_TRUE(cancel_queued);
  EXPECT_EQ(cancel_queued->status, 200);
  EXPECT_EQ(get_json("/api/experiments/" + dropped)["state"], "cancelled");
  auto cancel_running =
      client().Post(("/api/experiments/" + running + "/cancel").c_str(), "", "text/plain");
  ASSERT_TRUE(cancel_running);
  EXPECT_EQ(cancel_running->status, 202);
  wait_for(
      running, [](const std::string& s) { return s == "cancelled"; }, 60s);
  EXPECT_EQ(leftover_processes(), 0u);

  // Draining: the queued experiment is not started; shutdown now succeeds and the server exits.
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(get_json("/api/experiments/" + queued)["state"], "queued");
  auto accepted = client().Post("/api/shutdown", "", "text/plain");
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(testing::wait_exit(server_, 20s), 0) << server_.output();
  server_.pid = -1;

  // The next server runs what was left queued.
  start();
  wait_for(queued, [](const std::string& s) { return s == "succeeded"; });
}

TEST_F(Server, KillNineDuringARunIsRecoveredOnRestart) {
  start();
  std::string interrupted = submit(spec("interrupted", "60s"));
  wait_for(interrupted, [](const std::string& s) { return s == "running"; });
  std::string next = submit(spec("next", "1s"));
  ASSERT_GT(leftover_processes(), 0u) << "the run's redis-server is up";
  kill(server_.pid, SIGKILL);
  testing::wait_exit(server_, 10s);
  server_.pid = -1;
  EXPECT_GT(leftover_processes(), 0u) << "orphaned by the crash";

  start();
  json record = wait_for(
      interrupted, [](const std::string& s) { return s == "failed"; }, 30s);
  EXPECT_NE(record.value("error", "").find("interrupted"), std::string::npos) << record.dump();
  wait_for(next, [](const std::string& s) { return s == "succeeded"; });
  EXPECT_EQ(leftover_processes(), 0u);
  EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty());
}

TEST_F(Server, SigtermStopsTheRunDestroysItsInfrastructureAndKeepsTheQueue) {
  start();
  std::string running = submit(spec("stopped", "60s"));
  wait_for(running, [](const std::string& s) { return s == "running"; });
  std::string queued = submit(spec("kept", "1s"));
  EXPECT_EQ(get_json("/api/experiments/" + queued).value("queue_position", 0), 1);
  ASSERT_GT(leftover_processes(), 0u);

  // A watcher on the event stream must not hold the server up, and sees the final state.
  std::string stream;
  std::thread watcher([&] {
    auto c = client();
    c.set_read_timeout(60, 0);
    c.Get(("/api/experiments/" + running + "/events").c_str(), [&](const char* data, size_t n) {
      stream.append(data, n);
      return true;
    });
  });
  std::this_thread::sleep_for(300ms);
  kill(server_.pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(server_, 60s), 0) << server_.output();
  server_.pid = -1;
  watcher.join();
  EXPECT_NE(stream.find("\"cancelled\""), std::string::npos) << stream;
  EXPECT_EQ(leftover_processes(), 0u) << "the run's redis-server was destroyed";

  start();
  EXPECT_EQ(get_json("/api/experiments/" + running).value("state", ""), "cancelled");
  wait_for(queued, [](const std::string& s) { return s == "succeeded"; });
}

TEST_F(Server, ApiAnswersWhileEventStreamsAreOpenAndStreamsAreCapped) {
  start();
  std::string running = submit(spec("watched", "60s"));
  wait_for(running, [](const std::string& s) { return s == "running"; });
  // Fill every event-stream slot; the 25th is refused and the API still answers at once.
  constexpr int kStreams = 24;
  std::atomic<int> open{0};
  std::vector<std::thread> watchers;
  for (int i = 0; i < kStreams; ++i) {
    watchers.emplace_back([&] {
      auto c = client();
      c.set_read_timeout(60, 0);
      bool counted = false;
      c.Get(("/api/experiments/" + running + "/events").c_str(), [&](const char*, size_t) {
        if (!counted) ++open;
        counted = true;
        return true;
      });
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (open < kStreams && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(open.load(), kStreams);
  auto refused = client().Get(("/api/experiments/" + running + "/events").c_str());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(json::parse(refused->body).value("error", "").find("event streams"), std::string::npos);
  auto asked = std::chrono::steady_clock::now();
  auto health = client().Get("/api/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s);
  EXPECT_EQ(json::parse(health->body)["running"], running);

  auto cancelled =
      client().Post(("/api/experiments/" + running + "/cancel").c_str(), "", "text/plain");
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, 202);
  for (auto& watcher : watchers) watcher.join();  // every stream ends at the final state
  EXPECT_EQ(get_json("/api/experiments/" + running)["state"], "cancelled");
  EXPECT_EQ(leftover_processes(), 0u);
}

TEST_F(Server, UploadsResultsToS3CompatibleStorage) {
  const std::string s3rver =
      std::string(DEC_SOURCE_DIR) + "/tools/node_modules/s3rver/bin/s3rver.js";
  if (!fs::exists(s3rver)) GTEST_SKIP() << "s3rver not installed: run scripts/setup";
  auto s3_port = env_.free_tcp_port("127.0.0.1");
  ASSERT_TRUE(s3_port.ok());
  fs::path objects = dir_ / "s3";
  fs::create_directories(objects);
  // s3rver checks the access key id and the request's shape; it does not recompute SigV4
  // signatures (the signer itself is tested against AWS's published vectors).
  testing::Child store =
      testing::start({"node", s3rver, "-d", objects.string(), "-a", "127.0.0.1", "-p",
                      std::to_string(*s3_port), "--silent", "--configure-bucket", "dec-results"},
                     (dir_ / "s3rver.log").string());
  for (int i = 0; i < 250 && !env_.tcp_port_open("127.0.0.1", *s3_port); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(*s3_port);
  auto run_with = [&](const std::string& key_id) {
    start("", {"--artifacts", "s3://dec-results/runs", "--artifacts-endpoint", endpoint},
          {{"AWS_ACCESS_KEY_ID", key_id},
           {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
           {"AWS_REGION", "us-east-1"}});
    std::string id = submit(spec("archived", "1s"));
    wait_for(id, [](const std::string& s) { return s == "succeeded"; });
    std::this_thread::sleep_for(500ms);  // uploads follow the final state
    auto stopped = client().Post("/api/shutdown", "", "text/plain");
    EXPECT_TRUE(stopped && stopped->status == 200);
    EXPECT_EQ(testing::wait_exit(server_, 20s), 0);
    server_.pid = -1;
    return id;
  };
  std::string id = run_with("S3RVER");
  fs::path object = objects / "dec-results" / "runs" / id / "results.json._S3rver_object";
  auto log_of = [&](int n) {
    testing::Child finished;
    finished.output_path = (dir_ / ("serve-" + std::to_string(n) + ".log")).string();
    return finished.output();
  };
  ASSERT_TRUE(fs::exists(object)) << log_of(1);
  std::ifstream in(object);
  EXPECT_EQ(json::parse(in)["id"], id);
  EXPECT_TRUE(fs::exists(objects / "dec-results" / "runs" / id / "report.html._S3rver_object"));

  // Credentials the store refuses: the upload fails and says so; the experiment still succeeds.
  std::string refused = run_with("UNKNOWNKEY");
  EXPECT_FALSE(fs::exists(objects / "dec-results" / "runs" / refused));
  EXPECT_NE(log_of(2).find("artifact upload failed"), std::string::npos) << log_of(2);
  kill(store.pid, SIGTERM);
  testing::wait_exit(store, 10s);
}

TEST_F(Server, StartupLeavesAConcurrentCliRunAlone) {
  // A `dec run` sharing the data dir is alive: the server must neither fail its experiment nor
  // destroy its infrastructure.
  std::string path = (dir_ / "cli.yaml").string();
  std::ofstream(path) << spec("cli", "60s");
  testing::Child cli = testing::start({DEC_BINARY, "run", path, "--data-dir", data_dir_},
                                      (dir_ / "cli.log").string());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (leftover_processes() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(leftover_processes(), 0u) << cli.output();
  std::this_thread::sleep_for(500ms);
  start();
  json list = get_json("/api/experiments");
  ASSERT_EQ(list["experiments"].size(), 1u);
  EXPECT_NE(list["experiments"][0]["state"], "failed") << list.dump();
  EXPECT_GT(leftover_processes(), 0u) << "the CLI run's broker was destroyed";
  kill(cli.pid, SIGINT);
  EXPECT_EQ(testing::wait_exit(cli, 60s), 130) << cli.output();
  EXPECT_EQ(leftover_processes(), 0u);
}

struct BadRequest {
  std::string method;
  std::string path;
  std::string body;
  bool with_token;
  int status;
  std::string says;  // the error message must contain this
};

TEST_F(Server, BadInputGetsClearJsonErrorsAndLosesNothing) {
  start("s3cret");
  auto c = client();
  httplib::Headers auth = {{"Authorization", "Bearer s3cret"}};
  auto ok = c.Post("/api/experiments", auth, spec("keeper", "1s"), "application/yaml");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 201);
  std::string kept = json::parse(ok->body)["id"];

  const std::string valid = spec("v", "1s");
  const std::vector<BadRequest> cases = {
      {"POST", "/api/experiments", valid, false, 401, "token"},
      {"POST", "/api/shutdown", "", false, 401, "token"},
      {"POST", "/api/experiments/" + kept + "/cancel", "", false, 401, "token"},
      {"POST", "/api/experiments", "", true, 400, "empty body"},
      {"POST", "/api/experiments", "{\"name\": \"x\", ", true, 400, "invalid spec"},
      {"POST", "/api/experiments", "name: [unclosed", true, 400, "invalid spec"},
      {"POST", "/api/experiments", "just a string", true, 400, "invalid spec"},
      {"POST", "/api/experiments", "[1, 2, 3]", true, 400, "invalid spec"},
      {"POST", "/api/experiments", "{}", true, 400, "name"},
      {"POST", "/api/experiments", "{\"name\": \"x\"}", true, 400, "systems"},
      {"POST", "/api/experiments", "{\"name\": \"x\", \"systems\": []}", true, 400, "systems"},
      {"POST", "/api/experiments", valid + "bogus: 1\n", true, 400, "bogus"},
      {"POST", "/api/experiments", "name: x\nsystems: [{name: a, driver: redsi}]\n", true, 400,
       "redis"},
      {"POST", "/api/experiments", "name: x\nsystems: [{name: a}]\n", true, 400, "driver"},
      {"POST", "/api/experiments",
       "name: x\nworkload: {rate: -5}\nsystems: [{name: a, driver: redis}]\n", true, 400,
       "workload.rate"},
      {"POST", "/api/experiments",
       "name: x\nworkload: {producers: many}\nsystems: [{name: a, driver: redis}]\n", true, 400,
       "workload.producers"},
      {"POST", "/api/experiments",
       "name: x\nworkload: {duration: 10}\nsystems: [{name: a, driver: redis}]\n", true, 400,
       "workload.duration"},
      {"POST", "/api/experiments",
       "name: x\nworkload: {message_size: 4XB}\nsystems: [{name: a, driver: redis}]\n", true, 400,
       "workload.message_size"},
      {"POST", "/api/experiments",
       "name: x\nworkload: {durtion: 1s}\nsystems: [{name: a, driver: redis}]\n", true, 400,
       "duration"},
      {"POST", "/api/experiments",
       "name: x\nsystems: [{name: a, driver: redis, config: {pipline: 3}}]\n", true, 400,
       "pipeline"},
      {"POST", "/api/experiments",
       "name: x\nsystems: [{name: a, driver: redis, config: {pipeline: 0}}]\n", true, 400,
       "pipeline"},
      {"POST", "/api/experiments",
       "name: x\nsystems: [{name: a, driver: redis, deploy: {provider: moon}}]\n", true, 400,
       "provider"},
      {"POST", "/api/experiments",
       "name: x\nsystems: [{name: a, driver: redis}, {name: a, driver: redis}]\n", true, 400,
       "name"},
      {"POST", "/api/experiments", "name: x\nsystems: 5\n", true, 400, "systems"},
      {"POST", "/api/experiments", std::string(2 << 20, 'x'), true, 413, "larger than"},
      {"GET", "/api/experiments/nope", "", true, 404, "nope"},
      {"GET", "/api/experiments/nope/results", "", true, 404, "nope"},
      {"GET", "/api/experiments/nope/results.csv", "", true, 404, "nope"},
      {"GET", "/api/experiments/nope/report.html", "", true, 404, "nope"},
      {"GET", "/api/experiments/nope/events", "", true, 404, "nope"},
      {"POST", "/api/experiments/nope/cancel", "", true, 404, "nope"},
      {"GET", "/api/experiments?limit=abc", "", true, 400, "limit"},
      {"GET", "/api/experiments?limit=-1", "", true, 400, "limit"},
      {"GET", "/api/experiments?offset=x", "", true, 400, "offset"},
      {"GET", "/api/experiments?state=bogus", "", true, 400, "state"},
      {"GET", "/api/nothing-here", "", true, 404, "no such endpoint"},
      {"DELETE", "/api/experiments", "", true, 405, "not allowed"},
      {"GET", "/api/shutdown", "", true, 405, "not allowed"},
      {"POST", "/api/health", "", true, 405, "not allowed"},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.method + " " + bad.path + " " + bad.body.substr(0, 80));
    httplib::Headers headers = bad.with_token ? auth : httplib::Headers{};
    httplib::Result res(nullptr, httplib::Error::Unknown);
    if (bad.method == "GET") res = c.Get(bad.path.c_str(), headers);
    if (bad.method == "POST") res = c.Post(bad.path.c_str(), headers, bad.body, "application/yaml");
    if (bad.method == "DELETE") res = c.Delete(bad.path.c_str(), headers);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, bad.status) << res->body;
    json body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_NE(body.value("error", "").find(bad.says), std::string::npos) << res->body;
  }
  // Every error left the stored experiment alone.
  json kept_record = get_json("/api/experiments/" + kept);
  EXPECT_EQ(kept_record.value("id", ""), kept);
  EXPECT_EQ(get_json("/api/experiments")["experiments"].size(), 1u);
}

TEST_F(Server, OpenApiDescribesEveryRouteAndEveryDescribedRouteAnswers) {
  start();
  std::string id = submit(spec("described", "1s"));
  wait_for(id, [](const std::string& s) { return s == "succeeded"; });
  json api = get_json("/api/openapi.json");
  ASSERT_TRUE(api.contains("paths"));
  for (const char* expected :
       {"/api/experiments", "/api/experiments/{id}", "/api/experiments/{id}/cancel",
        "/api/experiments/{id}/events", "/api/experiments/{id}/results",
        "/api/experiments/{id}/results.csv", "/api/experiments/{id}/export",
        "/api/experiments/{id}/report.html", "/api/results", "/api/shutdown", "/api/health",
        "/metrics", "/api/openapi.json"}) {
    EXPECT_TRUE(api["paths"].contains(expected)) << expected;
  }
  EXPECT_TRUE(api["paths"]["/api/experiments"]["post"].contains("requestBody"));
  EXPECT_TRUE(api["paths"]["/api/experiments"]["post"]["responses"].contains("400"));
  EXPECT_TRUE(api["paths"]["/api/shutdown"]["post"]["responses"].contains("409"));
  for (const auto& [path, methods] : api["paths"].items()) {
    std::string concrete = std::regex_replace(path, std::regex("\\{id\\}"), id);
    if (!methods.contains("post")) {
      // A path described for GET only really refuses other methods.
      auto refused = client().Post(concrete.c_str(), "", "text/plain");
      ASSERT_TRUE(refused);
      EXPECT_EQ(refused->status, 405) << path;
    }
    for (const auto& [method, op] : methods.items()) {
      SCOPED_TRACE(method + " " + path);
      if (method != "get") continue;  // POSTs have effects; their behaviour is tested above
      auto res = client().Get(concrete.c_str());
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200) << res->body;
    }
  }
}

}  // namespace
}  // namespace dec
