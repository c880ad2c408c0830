// dec serve over real HTTP: queue order, server-sent events, results, shutdown deferral, cancel,
// crash recovery after kill -9, bad input, and the OpenAPI description.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "infra/env.h"
#include "infra/executor.h"
#include "infra/local_provider.h"
#include "infra/reconcile.h"
#include "store/store.h"
#include "support/serve_test.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string spec(const std::string& name, const std::string& duration) {
  return testing::redis_spec(name, duration);
}

class Server : public testing::ServeTest {
 protected:
  Server() : ServeTest("dec-server") {}

  void start(const std::string& token = "", std::vector<std::string> extra = {},
             std::map<std::string, std::string> env = {}) {
    start_server("serve-" + std::to_string(++starts_) + ".log", token, extra, env);
  }

  size_t leftover_processes() {
    size_t n = 0;
    for (const auto& p : provider().discover()) n += p.outputs.at("kind") == "process";
    return n;
  }

  int starts_ = 0;
};

// What came back for bytes written to a fresh connection, read until the server closed it or
// `wait` passed.
struct RawAnswer {
  int status = 0;
  std::string text;
  json body;
  bool closed = false;  // the server closed the connection
  std::chrono::milliseconds took{0};
};

RawAnswer raw_request(int port, const std::string& bytes,
                      std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) {
  RawAnswer answer;
  const auto started = std::chrono::steady_clock::now();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return answer;
  }
  (void)send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  const auto deadline = started + wait;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    timeval timeout{static_cast<time_t>(left.count() / 1000000),
                    static_cast<suseconds_t>(std::max<int64_t>(left.count() % 1000000, 1000))};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) {
      answer.closed = true;
      break;
    }
    if (n < 0) break;
    answer.text.append(buffer, static_cast<size_t>(n));
  }
  answer.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  close(fd);
  if (answer.text.rfind("HTTP/1.1 ", 0) == 0) answer.status = std::stoi(answer.text.substr(9, 3));
  const auto body_at = answer.text.find("\r\n\r\n");
  if (body_at != std::string::npos) {
    answer.body = json::parse(answer.text.substr(body_at + 4), nullptr, false);
  }
  return answer;
}

TEST_F(Server, RunsExperimentsInOrderStreamsEventsAndServesResults) {
  // A stand-in for the built web app's report bundle, which report.html inlines.
  const fs::path web = dir_ / "web";
  fs::create_directories(web / "report");
  std::ofstream(web / "report" / "report.js") << "window.decReportBundle = 1;\n";
  start("", {"--web", web.string()});
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
  // A finished experiment's progress says how each run ended, not its last figure in flight.
  const json& progress = a["progress"]["r"];
  EXPECT_EQ(progress.value("phase", ""), "done") << a["progress"].dump();
  EXPECT_EQ(progress.value("status", ""), "succeeded") << a["progress"].dump();
  EXPECT_DOUBLE_EQ(progress.value("elapsed_s", 0.0), progress.value("total_s", -1.0));
  EXPECT_EQ(progress.value("received", 0), a["results"]["runs"][0]["delivery"]["received"]);
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
  for (const char* column : {",p9999_us,", ",consumed_mb_per_s,", ",targets_met\n"}) {
    EXPECT_NE(csv->body.find(column), std::string::npos) << column << " in " << csv->body;
  }
  // The results carry the spec as it ran, and it can be submitted again as it is (here: planned,
  // which validates it like a submission); `dec results show --json` prints the same document.
  const json stored_spec = json::parse(results->body)["spec"];
  ASSERT_TRUE(stored_spec.is_object()) << results->body;
  EXPECT_EQ(stored_spec["name"], "first");
  auto replanned = client().Post("/api/plan", stored_spec.dump(), "application/json");
  ASSERT_TRUE(replanned);
  EXPECT_EQ(replanned->status, 200) << replanned->body;
  const std::string shown = (dir_ / "show.json").string();
  ASSERT_EQ(testing::run({DEC_BINARY, "results", "show", first, "--json", "--data-dir", data_dir_},
                         shown, 30s),
            0);
  testing::Child show;
  show.output_path = shown;
  json shown_doc = json::parse(show.output(), nullptr, false);
  ASSERT_TRUE(shown_doc.is_object()) << show.output();
  EXPECT_EQ(shown_doc["spec"], stored_spec);
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
  EXPECT_NE(html->body.find("<noscript><figure><figcaption>"), std::string::npos) << html->body;
  EXPECT_NE(html->body.find("<script>window.decReportBundle = 1;\n</script>"), std::string::npos)
      << "the web app's report bundle, inlined";
  EXPECT_NE(html->body.find("<script type=\"application/json\" id=\"dec-results\">"),
            std::string::npos);
  EXPECT_EQ(html->body.find("<script src"), std::string::npos) << "self-contained";

  // Every percentile of the run, decoded from its histograms; the table's figures are on it.
  auto curves = client().Get(("/api/experiments/" + first + "/percentiles").c_str());
  ASSERT_TRUE(curves);
  EXPECT_EQ(curves->status, 200) << curves->body;
  EXPECT_EQ(curves->get_header_value("Content-Type"), "application/json");
  const json curve_doc = json::parse(curves->body);
  EXPECT_EQ(curve_doc["id"], first);
  const json& e2e = curve_doc["runs"][0]["end_to_end"];
  const json& summary = a["results"]["runs"][0]["latency_us"];
  EXPECT_EQ(e2e["count"], summary["count"]);
  ASSERT_GT(e2e["points"].size(), 20u) << curves->body;
  EXPECT_EQ(e2e["points"].back()["percentile"], 100);
  EXPECT_EQ(e2e["points"].back()["value_us"], summary["max"]);
  bool has_p99 = false;
  double previous = 0;
  for (const auto& point : e2e["points"]) {
    EXPECT_GE(point["value_us"].get<double>(), previous);
    previous = point["value_us"].get<double>();
    if (point["percentile"] == 99.0) {
      has_p99 = true;
      EXPECT_EQ(point["value_us"], summary["p99"]);
    }
  }
  EXPECT_TRUE(has_p99) << curves->body;
  EXPECT_EQ(curve_doc["runs"][0]["publish"]["count"],
            a["results"]["runs"][0]["publish_latency_us"]["count"]);
  EXPECT_EQ(get_json("/api/results")["results"].size(), 2u);
  // The list carries each experiment's summary (what the history shows), not its documents.
  const json listed = get_json("/api/experiments?state=succeeded");
  ASSERT_EQ(listed["experiments"].size(), 2u) << listed.dump();
  for (const auto& item : listed["experiments"]) {
    EXPECT_EQ(item.count("results"), 0u) << item.dump();
    EXPECT_EQ(item.count("spec"), 0u) << item.dump();
    const json& summary = item["summary"];
    EXPECT_EQ(summary.value("verdict", ""), "1/1 runs succeeded") << item.dump();
    ASSERT_EQ(summary["runs"].size(), 1u) << item.dump();
    EXPECT_EQ(summary["runs"][0]["system"], "r");
    EXPECT_EQ(summary["runs"][0]["delivery_ok"], true);
    if (item["id"] == first) {
      EXPECT_EQ(summary["runs"][0]["run_id"], run["run_id"]);
      EXPECT_DOUBLE_EQ(summary["runs"][0]["consumed_msgs_per_s"].get<double>(),
                       run["throughput"]["consumed_msgs_per_s"].get<double>());
      EXPECT_DOUBLE_EQ(summary["runs"][0]["p99_us"].get<double>(),
                       run["latency_us"]["p99"].get<double>());
    }
  }
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
  // Cancelled before it started: no results, and the answer says why.
  auto never_ran = client().Get(("/api/experiments/" + dropped + "/results").c_str());
  ASSERT_TRUE(never_ran);
  EXPECT_EQ(never_ran->status, 404);
  EXPECT_NE(never_ran->body.find("cancelled before any run finished"), std::string::npos)
      << never_ran->body;
  auto no_curves = client().Get(("/api/experiments/" + dropped + "/percentiles").c_str());
  ASSERT_TRUE(no_curves);
  EXPECT_EQ(no_curves->status, 404);
  EXPECT_NE(no_curves->body.find("cancelled before any run finished"), std::string::npos)
      << no_curves->body;
  // Still queued: no results yet, and the answer says when they come.
  auto queued_curves = client().Get(("/api/experiments/" + queued + "/percentiles").c_str());
  ASSERT_TRUE(queued_curves);
  EXPECT_EQ(queued_curves->status, 404);
  EXPECT_NE(queued_curves->body.find("is queued"), std::string::npos) << queued_curves->body;
  auto cancel_running =
      client().Post(("/api/experiments/" + running + "/cancel").c_str(), "", "text/plain");
  ASSERT_TRUE(cancel_running);
  EXPECT_EQ(cancel_running->status, 202);
  EXPECT_EQ(json::parse(cancel_running->body)["state"], "cancelling");
  json stopping = get_json("/api/experiments/" + running);
  if (stopping.value("state", "") != "cancelled") {
    EXPECT_TRUE(stopping.value("cancel_requested", false)) << stopping.dump();
  }
  wait_for(
      running, [](const std::string& s) { return s == "cancelled"; }, 60s);
  EXPECT_EQ(leftover_processes(), 0u);
  // Cancelled mid-run: the results it has (the stopped run) are served.
  auto partial = client().Get(("/api/experiments/" + running + "/results").c_str());
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->status, 200) << partial->body;
  EXPECT_EQ(json::parse(partial->body)["runs"][0]["status"], "cancelled") << partial->body;

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

// A burst of new connections arriving while the server cannot accept them (its accept thread
// waiting for a core on a machine busy with a full-rate run; here the whole process stopped) is
// held by the kernel's accept queue and answered once the server runs, instead of the SYNs being
// dropped and each client waiting out a 1 s retransmission (httplib's default backlog is 5).
TEST_F(Server, ABurstOfConnectionsWaitsInTheAcceptQueue) {
  start();
  ASSERT_EQ(client().Get("/api/health")->status, 200);
  ASSERT_EQ(kill(server_.pid, SIGSTOP), 0);
  constexpr int kBurst = 64;
  std::vector<int> fds;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port_));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  for (int i = 0; i < kBurst; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    (void)connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  // Loopback handshakes complete at once for queued connections; a dropped SYN leaves its
  // socket connecting until the retransmission, a second later.
  std::this_thread::sleep_for(300ms);
  int established = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    int error = -1;
    socklen_t length = sizeof error;
    if (poll(&p, 1, 0) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
        error == 0) {
      ++established;
    }
  }
  const std::string request = "GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  for (int fd : fds) (void)send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  ASSERT_EQ(kill(server_.pid, SIGCONT), 0);
  EXPECT_EQ(established, kBurst) << "connections completed while the server was stopped";
  // Every one of them is answered once the server runs again.
  int answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int fd : fds) {
    std::string text;
    char buffer[1024];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) != 1) continue;
      ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    answered += text.rfind("HTTP/1.1 200", 0) == 0;
    close(fd);
  }
  EXPECT_EQ(answered, kBurst);
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

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the web app builds on: drivers with their keys, shipped examples, plan previews that
// create nothing, and the schemas the OpenAPI document points its bodies at.
TEST_F(Server, AnswersWhatTheWebAppNeedsWithoutCreatingAnything) {
  const fs::path examples = fs::path(DEC_SOURCE_DIR) / "examples";
  // Results stored by a dec that did not yet put the spec in them.
  std::string old_id;
  {
    fs::create_directories(data_dir_);
    auto store = store::Store::open(data_dir_ + "/dec.db");
    ASSERT_TRUE(store.ok()) << store.error();
    auto id = (*store)->create_experiment(
        "old", R"({"name": "old", "systems": [{"name": "r", "driver": "redis"}]})", "queued");
    ASSERT_TRUE(id.ok());
    old_id = *id;
    ASSERT_TRUE((*store)->set_results(old_id, R"({"id": ")" + old_id + R"(", "runs": []})"));
    ASSERT_TRUE((*store)->set_state(old_id, "succeeded"));
  }
  start("", {"--examples", examples.string()});
  auto old_results = client().Get(("/api/experiments/" + old_id + "/results").c_str());
  ASSERT_TRUE(old_results);
  EXPECT_EQ(json::parse(old_results->body)["spec"]["name"], "old") << old_results->body;
  // Percentile curves: none to draw for results without runs.
  EXPECT_EQ(get_json("/api/experiments/" + old_id + "/percentiles")["runs"], json::array());
  const std::string shown = (dir_ / "show-old.json").string();
  ASSERT_EQ(testing::run({DEC_BINARY, "results", "show", old_id, "--json", "--data-dir", data_dir_},
                         shown, 30s),
            0);
  testing::Child show;
  show.output_path = shown;
  EXPECT_EQ(json::parse(show.output(), nullptr, false)["spec"]["name"], "old") << show.output();

  json drivers = get_json("/api/drivers")["drivers"];
  ASSERT_TRUE(drivers.is_array()) << drivers.dump();
  auto driver = [&](const std::string& name) {
    for (const auto& d : drivers) {
      if (d["name"] == name) return d;
    }
    ADD_FAILURE() << "no driver " << name << " in " << drivers.dump();
    return json::object();
  };
  json redis = driver("redis");
  EXPECT_EQ(redis["emulated"], false);
  EXPECT_EQ(redis["client_library"].get<std::string>().rfind("hiredis ", 0), 0u) << redis.dump();
  EXPECT_EQ(redis["variants"], json::array());
  bool pipeline = false;
  for (const auto& key : redis["config_keys"]) {
    if (key["name"] != "pipeline") continue;
    pipeline = true;
    EXPECT_EQ(key["default"], "1");
    EXPECT_FALSE(key["description"].get<std::string>().empty());
  }
  EXPECT_TRUE(pipeline) << redis.dump();
  EXPECT_EQ(redis["client_keys"][0]["name"], "pipeline");
  EXPECT_EQ(redis["client_keys"][0]["mapped_from"], "workload.client.max_in_flight");
  EXPECT_EQ(driver("kafka")["variants"], json::array({"apache", "mock"}));
  EXPECT_EQ(driver("kinesis")["emulated"], true);
  // librdkafka's own default for a client key that is not one of dec's config keys.
  // A named copy: a range-for over a member of the temporary driver() returns would read freed
  // memory (found by the AddressSanitizer build).
  const json kafka = driver("kafka");
  for (const auto& key : kafka["client_keys"]) {
    if (key["name"] == "linger.ms") {
      EXPECT_NE(key["default"], "") << key.dump();
    }
  }

  json shipped = get_json("/api/examples")["examples"];
  ASSERT_TRUE(shipped.is_array());
  size_t yaml_files = 0;
  for (const auto& entry : fs::directory_iterator(examples)) {
    yaml_files += entry.path().extension() == ".yaml";
  }
  EXPECT_EQ(shipped.size(), yaml_files);
  bool quickstart = false;
  for (const auto& example : shipped) {
    if (example["name"] != "redis-quickstart") continue;
    quickstart = true;
    EXPECT_EQ(example["spec"], read_file(examples / "redis-quickstart.yaml"));
  }
  EXPECT_TRUE(quickstart) << shipped.dump();

  // Plan preview: what `dec plan` shows, as JSON; nothing is created or queued.
  const std::string quickstart_yaml = read_file(examples / "redis-quickstart.yaml");
  auto planned = client().Post("/api/plan", quickstart_yaml, "application/yaml");
  ASSERT_TRUE(planned);
  ASSERT_EQ(planned->status, 200) << planned->body;
  json plan = json::parse(planned->body);
  EXPECT_EQ(plan["runs"], 2);
  EXPECT_GT(plan["estimated_s"].get<int>(), 20);
  EXPECT_NE(plan["headline"].get<std::string>().find("2 runs"), std::string::npos) << plan.dump();
  EXPECT_EQ(plan["search"], "");
  ASSERT_EQ(plan["systems"].size(), 2u) << plan.dump();
  EXPECT_EQ(plan["systems"][0]["name"], "redis-no-aof");
  EXPECT_TRUE(plan["systems"][0]["point"].is_null());
  EXPECT_NE(plan["systems"][0]["plan"].get<std::string>().find("+ "), std::string::npos);
  bool service = false;
  for (const auto& resource : plan["systems"][1]["resources"]) {
    EXPECT_EQ(resource["action"], "create");
    service = service || resource["type"] == "service";
  }
  EXPECT_TRUE(service) << plan.dump();
  // A sweep names its points, a search states its bounds, a warning carries its path.
  auto sweep = client().Post("/api/plan", read_file(examples / "redis-pipeline-sweep.yaml"),
                             "application/yaml");
  ASSERT_TRUE(sweep);
  ASSERT_EQ(sweep->status, 200) << sweep->body;
  EXPECT_TRUE(json::parse(sweep->body)["systems"][0]["point"].is_number()) << sweep->body;
  auto search =
      client().Post("/api/plan", read_file(examples / "redis-find-max.yaml"), "application/yaml");
  ASSERT_TRUE(search);
  ASSERT_EQ(search->status, 200) << search->body;
  EXPECT_NE(json::parse(search->body)["search"].get<std::string>().find("find-max"),
            std::string::npos);
  auto warned = client().Post(
      "/api/plan",
      "name: w\nworkload: {keys: 2, partitions: 4}\nsystems: [{name: r, driver: redis}]\n",
      "application/yaml");
  ASSERT_TRUE(warned);
  ASSERT_EQ(warned->status, 200) << warned->body;
  EXPECT_EQ(json::parse(warned->body)["warnings"][0].get<std::string>().rfind("workload.keys: ", 0),
            0u);
  // An invalid spec gets the answer a submission gets.
  const std::string invalid = "name: x\nsystems: [{name: a, driver: redsi}]\n";
  auto refused_plan = client().Post("/api/plan", invalid, "application/yaml");
  auto refused_submit = client().Post("/api/experiments", invalid, "application/yaml");
  ASSERT_TRUE(refused_plan && refused_submit);
  EXPECT_EQ(refused_plan->status, 400);
  EXPECT_EQ(refused_plan->body, refused_submit->body);
  // A system the provider cannot plan: 400 naming the system.
  auto unplannable = client().Post(
      "/api/plan", "name: x\nsystems: [{name: a, driver: redis, deploy: {provider: endpoints}}]\n",
      "application/yaml");
  ASSERT_TRUE(unplannable);
  EXPECT_EQ(unplannable->status, 400) << unplannable->body;
  EXPECT_EQ(
      json::parse(unplannable->body)["errors"][0]["path"].get<std::string>().rfind("systems[0]", 0),
      0u)
      << unplannable->body;
  EXPECT_EQ(get_json("/api/experiments")["experiments"].size(), 1u) << "planning queues nothing";
  EXPECT_TRUE(infra::recorded_runs(env_, data_dir_).empty()) << "planning records nothing";
  EXPECT_EQ(leftover_processes(), 0u);

  // JSON syntax errors say where they are.
  auto broken = client().Post("/api/experiments",
                              "{\n  \"name\": \"x\",\n  \"systems\": [\n    {\"name\": \"a\" "
                              "\"driver\": \"redis\"}\n  ]\n}\n",
                              "application/json");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400);
  EXPECT_NE(broken->body.find("JSON syntax error at line 4, column "), std::string::npos)
      << broken->body;

  // Schemas, and the OpenAPI document describing bodies with them.
  json spec_schema = get_json("/api/schema/spec.json");
  EXPECT_EQ(spec_schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_TRUE(spec_schema["properties"]["workload"]["properties"].contains("search"));
  EXPECT_EQ(spec_schema["properties"]["systems"]["items"]["properties"]["driver"]["enum"][0],
            "redis");
  json results_schema = get_json("/api/schema/results.json");
  EXPECT_TRUE(results_schema["$defs"]["run"]["properties"].contains("latency_us"));
  json api = get_json("/api/openapi.json");
  EXPECT_EQ(api["openapi"], "3.1.0");
  EXPECT_EQ(api["paths"]["/api/experiments"]["post"]["requestBody"]["content"]["application/json"]
               ["schema"]["$ref"],
            "#/components/schemas/Spec");
  EXPECT_EQ(api["paths"]["/api/experiments/{id}/results"]["get"]["responses"]["200"]["content"]
               ["application/json"]["schema"]["$ref"],
            "#/components/schemas/Results");
  EXPECT_EQ(api["components"]["schemas"]["Results"]["properties"]["spec"]["$ref"],
            "#/components/schemas/Spec");
  EXPECT_TRUE(api["components"]["schemas"].contains("Spec.duration"));
  // Every reference in the document resolves.
  std::function<void(const json&)> check_refs = [&](const json& node) {
    if (node.is_array()) {
      for (const auto& item : node) check_refs(item);
    } else if (node.is_object()) {
      for (const auto& [key, value] : node.items()) {
        if (key == "$ref") {
          const std::string target = value.get<std::string>();
          ASSERT_EQ(target.rfind("#/components/schemas/", 0), 0u) << target;
          EXPECT_TRUE(api["components"]["schemas"].contains(target.substr(21))) << target;
        } else {
          check_refs(value);
        }
      }
    }
  };
  check_refs(api);

  // Infrastructure: an interrupted run recorded by a dead dec, shown, then reconciled — a dry
  // run unless asked otherwise.
  {
    infra::RunState state;
    state.run_id = "gone.r";
    state.experiment_id = "gone";
    state.system = "r";
    state.provider = "local";
    state.owner = {999'999, 1};  // no such process
    ASSERT_TRUE(infra::StateFile(env_, infra::state_path(data_dir_, state.run_id)).save(state));
  }
  auto infrastructure = client().Get("/api/infrastructure");
  ASSERT_TRUE(infrastructure);
  ASSERT_EQ(infrastructure->status, 200) << infrastructure->body;
  const json runs = json::parse(infrastructure->body)["runs"];
  ASSERT_EQ(runs.size(), 1u) << runs.dump();
  EXPECT_EQ(runs[0]["run"], "gone.r");
  EXPECT_EQ(runs[0]["owner_alive"], false);
  auto dry = client().Post("/api/reconcile", "", "application/json");
  ASSERT_TRUE(dry);
  ASSERT_EQ(dry->status, 200) << dry->body;
  EXPECT_EQ(json::parse(dry->body)["dry_run"], true);
  EXPECT_FALSE(json::parse(dry->body)["actions"].empty()) << dry->body;
  EXPECT_EQ(json::parse(client().Get("/api/infrastructure")->body)["runs"].size(), 1u)
      << "a dry run changes nothing";
  auto real = client().Post("/api/reconcile?dry_run=false", "", "application/json");
  ASSERT_TRUE(real);
  ASSERT_EQ(real->status, 200) << real->body;
  EXPECT_EQ(json::parse(real->body)["dry_run"], false);
  EXPECT_TRUE(json::parse(client().Get("/api/infrastructure")->body)["runs"].empty());

  // Destroying a kept run (dec apply's); one whose dec process lives is refused.
  auto record = [&](const std::string& run_id, bool kept, infra::ProcessId owner) {
    infra::RunState state;
    state.run_id = run_id;
    state.experiment_id = "apply";
    state.system = "r";
    state.provider = "local";
    state.kept = kept;
    state.owner = owner;
    ASSERT_TRUE(infra::StateFile(env_, infra::state_path(data_dir_, run_id)).save(state));
  };
  record("apply.r", true, {});
  record("busy.r", false, env_.self());
  auto destroyed = client().Post("/api/runs/apply.r/destroy", "", "application/json");
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->status, 200) << destroyed->body;
  EXPECT_EQ(json::parse(destroyed->body)["destroyed"], "apply.r");
  EXPECT_FALSE(fs::exists(infra::state_path(data_dir_, "apply.r")));
  auto again = client().Post("/api/runs/apply.r/destroy", "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404) << again->body;
  auto busy = client().Post("/api/runs/busy.r/destroy", "", "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 409) << busy->body;
  EXPECT_NE(json::parse(busy->body)["error"].get<std::string>().find("still running"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(infra::state_path(data_dir_, "busy.r")));
  fs::remove(infra::state_path(data_dir_, "busy.r"));
}

// On an idle server each submission starts at once; its queue_position says so the same way
// every time, whether or not the runner has picked it up by the time the answer is written.
TEST_F(Server, QueuePositionOfAnIdleSubmissionIsAlwaysOne) {
  start("", {"--allow-endpoint", "127.0.0.1:1"});
  // Fails at once (nothing listens there), so the queue is idle again quickly.
  const std::string failing =
      "name: quick\nworkload: {duration: 1s, warmup: 0s}\nsystems: [{name: r, driver: redis, "
      "deploy: {provider: endpoints, settings: {addresses: \"127.0.0.1:1\"}}}]\n";
  for (int i = 0; i < 8; ++i) {
    auto res = client().Post("/api/experiments", failing, "application/yaml");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 201) << res->body;
    json answer = json::parse(res->body);
    EXPECT_EQ(answer["queue_position"], 1) << "submission " << i << ": " << res->body;
    wait_for(
        answer["id"], [](const std::string& s) { return s == "failed"; }, 30s);
    // The runner is idle once its experiment is final.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!get_json("/api/health")["running"].is_null() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  // A failed experiment that never finished a run says so rather than "no results yet".
  json list = get_json("/api/experiments?limit=1");
  const std::string last = list["experiments"][0]["id"];
  auto results = client().Get(("/api/experiments/" + last + "/results").c_str());
  ASSERT_TRUE(results);
  if (results->status == 404) {
    EXPECT_NE(results->body.find("failed before any run finished"), std::string::npos)
        << results->body;
  }
}

// A spec from the API is untrusted: broker options that reach the host, endpoints outside the
// operator's allowlist and secrets the operator did not allow are 400s naming the field and the
// flag to set, and the answer never tells which environment variables exist.
TEST_F(Server, PostedSpecsReachOnlyWhatTheOperatorAllows) {
  const std::map<std::string, std::string> environment = {{"DEC_TEST_SET_SECRET", "hunter2"}};
  unsetenv("DEC_TEST_UNSET_SECRET");
  start("", {}, environment);
  auto post = [&](const std::string& body) {
    auto res = client().Post("/api/experiments", body, "application/yaml");
    EXPECT_TRUE(res);
    return res ? std::make_pair(res->status, json::parse(res->body, nullptr, false))
               : std::make_pair(0, json());
  };
  auto endpoint_spec = [](const std::string& password) {
    return "name: e\nworkload: {duration: 1s, warmup: 0s}\nsystems: [{name: r, driver: redis, "
           "deploy: {provider: endpoints, settings: {addresses: \"127.0.0.1:1\", password: \"" +
           password + "\"}}}]\n";
  };
  // No --allow-endpoint: only infrastructure dec creates.
  auto [status, answer] = post(endpoint_spec("x"));
  EXPECT_EQ(status, 400) << answer.dump();
  EXPECT_EQ(answer["errors"][0]["path"], "systems[0].deploy.settings.addresses") << answer.dump();
  EXPECT_NE(answer["errors"][0]["message"].get<std::string>().find(
                "dec serve --allow-endpoint 127.0.0.1:1"),
            std::string::npos)
      << answer.dump();
  // A host path in the broker's options, for a broker dec would create.
  auto [dir_status, dir_answer] = post(
      "name: d\nsystems: [{name: r, driver: redis, deploy: {server: {dir: /tmp/dec-x, "
      "appendonly: \"yes\"}}}]\n");
  EXPECT_EQ(dir_status, 400) << dir_answer.dump();
  EXPECT_EQ(dir_answer["errors"][0]["path"], "systems[0].deploy.server.dir");
  EXPECT_EQ(dir_answer["errors"][0]["message"],
            "names a host path; dec keeps each broker's files in its run directory — remove it");
  EXPECT_FALSE(fs::exists("/tmp/dec-x"));

  // With the endpoint allowed: a variable that is set and one that is not get the same answer.
  kill(server_.pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(server_, 20s), 0) << server_.output();
  start("", {"--allow-endpoint", "127.0.0.1:1"}, environment);
  auto [set_status, set_answer] = post(endpoint_spec("${DEC_TEST_SET_SECRET}"));
  auto [unset_status, unset_answer] = post(endpoint_spec("${DEC_TEST_UNSET_SECRET}"));
  EXPECT_EQ(set_status, 400) << set_answer.dump();
  EXPECT_EQ(unset_status, 400) << unset_answer.dump();
  EXPECT_EQ(set_answer["errors"][0]["path"], "systems[0].deploy.settings.password");
  EXPECT_EQ(set_answer["errors"][0]["message"],
            "${DEC_TEST_SET_SECRET} is not a secret this server lets specs read (its operator "
            "allows one with dec serve --secret DEC_TEST_SET_SECRET)");
  EXPECT_EQ(std::regex_replace(unset_answer.dump(), std::regex("DEC_TEST_UNSET_SECRET"),
                               "DEC_TEST_SET_SECRET"),
            set_answer.dump());
  EXPECT_EQ(set_answer.dump().find("hunter2"), std::string::npos);

  // Allowed by the operator: accepted (and run; nothing listens there, so it fails).
  kill(server_.pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(server_, 20s), 0) << server_.output();
  start("", {"--allow-endpoint", "127.0.0.1:1", "--secret", "DEC_TEST_SET_SECRET"}, environment);
  auto [ok_status, ok_answer] = post(endpoint_spec("${DEC_TEST_SET_SECRET}"));
  EXPECT_EQ(ok_status, 201) << ok_answer.dump();
  EXPECT_NE(server_.output().find("specs may read secrets: DEC_TEST_SET_SECRET; may connect to "
                                  "endpoints: 127.0.0.1:1"),
            std::string::npos)
      << server_.output();
  wait_for(
      ok_answer["id"], [](const std::string& s) { return s == "failed"; }, 30s);
}

TEST_F(Server, MalformedPolicyFlagsAreUsageErrors) {
  for (const auto& flags :
       std::vector<std::vector<std::string>>{{"--allow-endpoint", "10.0.0.0/33"},
                                             {"--secret", "NOT-A-NAME"},
                                             {"--secrets", "A,,B"},
                                             {"--token-file", (dir_ / "no-such-file").string()},
                                             {"--token-file", "/dev/null"},
                                             {"--token-file", "/dev/null", "--token", "t"}}) {
    std::vector<std::string> argv = {DEC_BINARY,    "serve",      "--listen",
                                     "127.0.0.1:0", "--data-dir", data_dir_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const std::string log = (dir_ / "flags.log").string();
    EXPECT_EQ(testing::run(argv, log), 2) << flags[0];
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find(flags[0] + ":"), std::string::npos) << text.str();
  }
}

// The token from a file (first line), so it is not in the process list for every user to read.
TEST_F(Server, TokenFromAFileProtectsTheApi) {
  const fs::path file = dir_ / "token";
  std::ofstream(file) << "file-token-5d1e\n";
  start_server("token-file.log", "file-token-5d1e", {"--token-file", file.string()}, {},
               /*token_flag=*/false);
  auto refused = client(/*with_token=*/false).Get("/api/experiments");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto allowed = client().Get("/api/experiments");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;
  const std::string cmdline = [&] {
    std::ifstream in("/proc/" + std::to_string(server_.pid) + "/cmdline");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }();
  EXPECT_EQ(cmdline.find("file-token-5d1e"), std::string::npos) << "not on the command line";
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
  auto c = client(false);
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
      // Results and specs are data: reading them needs the token too.
      {"GET", "/api/experiments", "", false, 401, "token"},
      {"GET", "/api/experiments/" + kept, "", false, 401, "token"},
      {"GET", "/api/experiments/" + kept + "/results", "", false, 401, "token"},
      {"GET", "/api/experiments/" + kept + "/events", "", false, 401, "token"},
      {"GET", "/api/experiments/" + kept + "/report.html", "", false, 401, "token"},
      {"GET", "/api/results", "", false, 401, "token"},
      {"GET", "/api/infrastructure", "", false, 401, "token"},
      {"GET", "/api/examples", "", false, 401, "token"},
      {"GET", "/api/openapi.json", "", false, 401, "token"},
      {"GET", "/api/experiments?access_token=wrong", "", false, 401, "token"},
      // Bytes that are not UTF-8 are the client's error, named, never a library's message.
      {"POST", "/api/experiments", "name: caf\xE9\nsystems: [{name: a, driver: redis}]\n", true,
       400, "body: invalid UTF-8 at byte 9"},
      {"POST", "/api/experiments", "{\"name\": \"x\", \"\xFF\xFE\": 1}", true, 400,
       "body: invalid UTF-8 at byte 15"},
      {"POST", "/api/plan", "\x80\x81\x82", true, 400, "body: invalid UTF-8 at byte 0"},
      {"GET", "/api/experiments?state=%FF%FE", "", true, 400, "state: unknown state"},
      {"GET", "/api/experiments?limit=%C3", "", true, 400, "limit"},
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
      // The provider's checks too, not only the parser's: what `dec run` would refuse.
      {"POST", "/api/experiments",
       "name: x\nsystems: [{name: a, driver: redis}, {name: b, driver: redis, deploy: "
       "{settings: {hosts: maybe}}}]\n",
       true, 400, "systems[1].deploy.settings.hosts"},
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
      {"GET", "/api/experiments/nope/percentiles", "", true, 404, "nope"},
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
    EXPECT_EQ(res->body.find("json.exception"), std::string::npos) << res->body;
  }
  // Random bytes as JSON on every route that reads a body: 400, never 5xx.
  std::mt19937 random(7);
  for (const char* path : {"/api/experiments", "/api/plan"}) {
    for (int i = 0; i < 20; ++i) {
      std::string bytes(64 + i * 13, '\0');
      for (char& b : bytes) b = static_cast<char>(random() & 0xFF);
      auto res = c.Post(path, auth, bytes, "application/json");
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 400) << path << ": " << res->body;
      EXPECT_EQ(res->body.find("json.exception"), std::string::npos) << res->body;
    }
  }
  // Health and metrics answer without the token; the token opens GETs by header or query.
  for (const char* open_path : {"/api/health", "/metrics"}) {
    auto res = c.Get(open_path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << open_path;
  }
  auto by_query = c.Get("/api/experiments?access_token=s3cret");
  ASSERT_TRUE(by_query);
  EXPECT_EQ(by_query->status, 200) << by_query->body;
  auto by_header = c.Get("/api/experiments", auth);
  ASSERT_TRUE(by_header);
  EXPECT_EQ(by_header->status, 200) << by_header->body;
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
  // Found by scripts/api-fuzz (Schemathesis): the export answers text/csv as well as text/plain,
  // and an event stream's schema describes each event, not the stream as one string.
  const json& exported = api["paths"]["/api/experiments/{id}/export"]["get"]["responses"]["200"];
  EXPECT_TRUE(exported["content"].contains("text/csv")) << exported.dump();
  EXPECT_TRUE(exported["content"].contains("text/plain")) << exported.dump();
  const json& events = api["paths"]["/api/experiments/{id}/events"]["get"]["responses"]["200"];
  EXPECT_EQ(events["content"]["text/event-stream"]["schema"]["properties"]["data"]["type"],
            "string")
      << events.dump();
  for (const char* expected :
       {"/api/experiments", "/api/experiments/{id}", "/api/experiments/{id}/cancel",
        "/api/experiments/{id}/events", "/api/experiments/{id}/results",
        "/api/experiments/{id}/results.csv", "/api/experiments/{id}/export",
        "/api/experiments/{id}/report.html", "/api/experiments/{id}/percentiles", "/api/results",
        "/api/shutdown", "/api/health", "/metrics", "/api/openapi.json"}) {
    EXPECT_TRUE(api["paths"].contains(expected)) << expected;
  }
  EXPECT_TRUE(api["paths"]["/api/experiments"]["post"].contains("requestBody"));
  EXPECT_TRUE(api["paths"]["/api/experiments"]["post"]["responses"].contains("400"));
  EXPECT_TRUE(api["paths"]["/api/shutdown"]["post"]["responses"].contains("409"));
  EXPECT_EQ(api["paths"]["/api/experiments/{id}/percentiles"]["get"]["responses"]["200"]["content"]
               ["application/json"]["schema"]["$ref"],
            "#/components/schemas/PercentileCurves");
  EXPECT_TRUE(api["components"]["schemas"]["PercentileCurves"]["properties"].contains("contains"));
  // The token guards reads as well as writes; health and metrics are open.
  for (const auto& [path, method] :
       std::vector<std::pair<std::string, std::string>>{{"/api/experiments", "get"},
                                                        {"/api/experiments/{id}/results", "get"},
                                                        {"/api/experiments/{id}/events", "get"},
                                                        {"/api/experiments", "post"},
                                                        {"/api/openapi.json", "get"}}) {
    const json& op = api["paths"][path][method];
    EXPECT_EQ(op["security"].size(), 2u) << path << " " << op.dump();
    EXPECT_TRUE(op["responses"].contains("401")) << path;
  }
  for (const char* open : {"/api/health", "/metrics"}) {
    EXPECT_TRUE(api["paths"][open]["get"]["security"].empty()) << open;
    EXPECT_FALSE(api["paths"][open]["get"]["responses"].contains("401")) << open;
  }
  EXPECT_EQ(api["components"]["securitySchemes"]["access_token"]["in"], "query");
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

// HTTP framing, tested with raw bytes: what a client library would never send.
TEST_F(Server, FramingFollowsRfc9112AndMalformedFramingIs400) {
  start("s3cret");
  const std::string auth = "Authorization: Bearer s3cret\r\n";
  auto post = [&](const std::string& path, const std::string& headers) {
    return raw_request(port_, "POST " + path + " HTTP/1.1\r\nHost: dec\r\n" + headers +
                                  "Connection: close\r\n\r\n");
  };
  // No Content-Length and no Transfer-Encoding: an empty body, answered at once on every POST
  // route (not a 400 after the server gave up waiting for the body).
  RawAnswer reconcile = post("/api/reconcile", auth);
  EXPECT_EQ(reconcile.status, 200) << reconcile.text;
  EXPECT_TRUE(reconcile.body.value("dry_run", false)) << reconcile.text;
  EXPECT_LT(reconcile.took, 2000ms);
  RawAnswer empty_spec = post("/api/experiments", auth);
  EXPECT_EQ(empty_spec.status, 400) << empty_spec.text;
  EXPECT_NE(empty_spec.body.value("error", "").find("empty body"), std::string::npos);
  RawAnswer plan = post("/api/plan", auth);
  EXPECT_EQ(plan.status, 400) << plan.text;
  RawAnswer cancel = post("/api/experiments/nope/cancel", auth);
  EXPECT_EQ(cancel.status, 404) << cancel.text;
  RawAnswer destroy = post("/api/runs/nope/destroy", auth);
  EXPECT_EQ(destroy.status, 404) << destroy.text;
  RawAnswer no_token = post("/api/shutdown", "");
  EXPECT_EQ(no_token.status, 401) << no_token.text;
  RawAnswer not_allowed = post("/api/health", "");
  EXPECT_EQ(not_allowed.status, 405) << not_allowed.text;
  RawAnswer nowhere = post("/api/nowhere", auth);
  EXPECT_EQ(nowhere.status, 404) << nowhere.text;
  for (const auto* answer : {&empty_spec, &plan, &cancel, &destroy, &no_token, &nowhere}) {
    EXPECT_LT(answer->took, 2000ms) << answer->text;
  }

  // Framing that cannot be trusted: 400 naming the header, and the connection is closed
  // (no Connection: close from the client here), whatever the method.
  struct Malformed {
    std::string request;
    std::string says;
  };
  const std::vector<Malformed> cases = {
      {"GET /api/health HTTP/1.1\r\nHost: dec\r\nContent-Length: -5\r\n\r\n", "Content-Length"},
      {"GET /api/experiments HTTP/1.1\r\nHost: dec\r\n" + auth + "Content-Length: abc\r\n\r\n",
       "Content-Length"},
      {"POST /api/plan HTTP/1.1\r\nHost: dec\r\n" + auth + "Content-Length: -5\r\n\r\n",
       "Content-Length"},
      {"POST /api/plan HTTP/1.1\r\nHost: dec\r\n" + auth +
           "Content-Length: 2\r\nContent-Length: 5\r\n\r\nhello",
       "different values (2 and 5)"},
      {"POST /api/plan HTTP/1.1\r\nHost: dec\r\n" + auth +
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "Transfer-Encoding together"},
      {"POST /api/plan HTTP/1.1\r\nHost: dec\r\n" + auth +
           "Transfer-Encoding: gzip, chunked\r\n\r\n",
       "Transfer-Encoding"},
      {"GET /api/health HTTP/1.1\r\nHost: dec\r\nContent-Length: 5\r\n\r\nhello", "no body"},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.request);
    RawAnswer answer = raw_request(port_, bad.request);
    EXPECT_EQ(answer.status, 400) << answer.text;
    EXPECT_NE(answer.body.value("error", "").find(bad.says), std::string::npos) << answer.text;
    EXPECT_TRUE(answer.closed) << "the connection stays open: " << answer.text;
    EXPECT_LT(answer.took, 2000ms);
  }
  // What follows malformed framing on the same connection is not taken for a request.
  RawAnswer smuggled =
      raw_request(port_,
                  "GET /api/health HTTP/1.1\r\nHost: dec\r\nContent-Length: -5\r\n\r\n"
                  "POST /api/shutdown HTTP/1.1\r\nHost: dec\r\n" +
                      auth + "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(smuggled.status, 400) << smuggled.text;
  EXPECT_EQ(smuggled.text.find("shutting down"), std::string::npos) << smuggled.text;
  EXPECT_TRUE(get_json("/api/health").is_object()) << "the server still runs";
  // A well-framed GET still works, and `curl -X POST .../api/shutdown` (no body, no length)
  // shuts the idle server down.
  RawAnswer health = raw_request(
      port_,
      "GET /api/health HTTP/1.1\r\nHost: dec\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(health.status, 200) << health.text;
  RawAnswer shutdown = post("/api/shutdown", auth);
  EXPECT_EQ(shutdown.status, 200) << shutdown.text;
  EXPECT_EQ(shutdown.body.value("status", ""), "shutting down") << shutdown.text;
  EXPECT_EQ(testing::wait_exit(server_, 20s), 0) << server_.output();
  server_.pid = -1;
}

// Beyond loopback a token is required: without one dec serve refuses to start, unless told
// --insecure, which it says loudly.
TEST_F(Server, ListeningBeyondLoopbackNeedsATokenOrInsecure) {
  unsetenv("DEC_TOKEN");
  auto port = env_.free_tcp_port("127.0.0.1");
  ASSERT_TRUE(port.ok());
  const std::string everywhere = "0.0.0.0:" + std::to_string(*port);
  const std::string refused_log = (dir_ / "refused.log").string();
  EXPECT_EQ(testing::run({DEC_BINARY, "serve", "--listen", everywhere, "--data-dir", data_dir_},
                         refused_log, 30s),
            2);
  const std::string refused = read_file(refused_log);
  for (const char* named : {"--token", "$DEC_TOKEN", "--insecure", "0.0.0.0"}) {
    EXPECT_NE(refused.find(named), std::string::npos) << named << " in " << refused;
  }
  EXPECT_FALSE(env_.tcp_port_open("127.0.0.1", *port)) << "it never listened";
  EXPECT_FALSE(fs::exists(data_dir_ + "/dec.db")) << "nor opened its store";
  // --insecure lets it go on (here to an address this machine does not have, so that the test
  // listens on no network: TEST-NET-1, RFC 5737), after a warning.
  const std::string insecure_log = (dir_ / "insecure.log").string();
  EXPECT_EQ(testing::run({DEC_BINARY, "serve", "--listen", "192.0.2.1:" + std::to_string(*port),
                          "--insecure", "--data-dir", data_dir_},
                         insecure_log, 30s),
            1);
  const std::string insecure = read_file(insecure_log);
  EXPECT_NE(insecure.find("WARNING: --insecure"), std::string::npos) << insecure;
  EXPECT_NE(insecure.find("WITHOUT A TOKEN"), std::string::npos) << insecure;
  EXPECT_NE(insecure.find("cannot listen on 192.0.2.1"), std::string::npos) << insecure;
  // Loopback needs no token; a bad --log-format is a usage error.
  const std::string format_log = (dir_ / "format.log").string();
  EXPECT_EQ(testing::run({DEC_BINARY, "serve", "--log-format", "xml", "--data-dir", data_dir_},
                         format_log, 30s),
            2);
  EXPECT_NE(read_file(format_log).find("--log-format: expected text or json"), std::string::npos)
      << read_file(format_log);
}

// Each transition and each error is a line of the log, here as JSON.
TEST_F(Server, LogsEveryTransitionAndErrorOneLineEach) {
  start("", {"--log-format", "json"});
  std::string ok = submit(spec("logged", "1s"));
  wait_for(ok, [](const std::string& s) { return s == "succeeded"; });
  // redis-server refuses the option and exits: the run, and so the experiment, fails.
  std::string bad = submit(
      "name: refused\nworkload: {message_size: 128B, producers: 1, consumers: 1, rate: 1k/s, "
      "warmup: 0s, duration: 1s}\nsystems:\n  - {name: r, driver: redis, deploy: {server: "
      "{appendfsync: sometimes}}}\n");
  wait_for(bad, [](const std::string& s) { return s == "failed"; });
  std::this_thread::sleep_for(300ms);  // the last line is written after the state is stored
  std::vector<json> lines;
  std::istringstream log(server_.output());
  for (std::string line; std::getline(log, line);) {
    json parsed = json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << "not one JSON object per line: " << line;
    for (const char* key : {"time", "level", "event", "message"}) {
      EXPECT_TRUE(parsed.contains(key)) << key << " in " << line;
    }
    EXPECT_TRUE(std::regex_match(parsed.value("time", ""),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << line;
    lines.push_back(parsed);
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front()["event"], "start") << lines.front().dump();
  auto chain_of = [&](const std::string& id) {
    std::vector<std::string> chain;
    std::string last;
    for (const auto& line : lines) {
      if (line["event"] != "state" || line.value("experiment", "") != id) continue;
      EXPECT_EQ(line.value("from", "?"), last) << "transitions follow on: " << line.dump();
      last = line.value("to", "");
      chain.push_back(last);
    }
    return chain;
  };
  const std::vector<std::string> chain = chain_of(ok);
  ASSERT_GE(chain.size(), 5u);
  EXPECT_EQ(chain.front(), "queued");
  EXPECT_EQ(chain.back(), "succeeded");
  for (const char* state : {"provisioning", "running", "destroying"}) {
    EXPECT_NE(std::find(chain.begin(), chain.end(), state), chain.end()) << state;
  }
  const std::vector<std::string> failed_chain = chain_of(bad);
  ASSERT_FALSE(failed_chain.empty());
  EXPECT_EQ(failed_chain.back(), "failed");
  bool failure_logged = false;
  for (const auto& line : lines) {
    if (line["level"] == "error" && line.value("experiment", "") == bad) {
      failure_logged = true;
      EXPECT_FALSE(line.value("message", "").empty()) << line.dump();
    }
    if (line["event"] == "state" && line.value("experiment", "") == ok) {
      EXPECT_EQ(line.value("name", ""), "logged") << line.dump();
    }
  }
  EXPECT_TRUE(failure_logged) << server_.output();
}

TEST_F(Server, TextLogNamesTransitionsFromAndTo) {
  start();
  std::string id = submit(spec("texted", "1s"));
  wait_for(id, [](const std::string& s) { return s == "succeeded"; });
  std::this_thread::sleep_for(300ms);
  const std::string log = server_.output();
  EXPECT_TRUE(
      std::regex_search(log, std::regex(R"(\d{4}-\d\d-\d\dT[\d:.]+Z dec serve: experiment )" + id +
                                        R"( "texted": new -> queued\n)")))
      << log;
  EXPECT_NE(log.find("experiment " + id + " \"texted\": destroying -> succeeded\n"),
            std::string::npos)
      << log;
}

// Disk full: a final state the store cannot write is shown by the API all the same, logged,
// and written once there is room again.
TEST_F(Server, AStateTheStoreCannotWriteIsShownLoggedAndRetried) {
  fs::create_directories(data_dir_);
  if (mount("tmpfs", data_dir_.c_str(), "tmpfs", 0, "size=600k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{data_dir_};
  start();
  std::string id = submit(spec("full", "3s"));
  wait_for(id, [](const std::string& s) { return s == "running"; });
  // Fill the disk while it runs: what it writes next (results, final state) finds no room.
  const std::string filler = data_dir_ + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), block.size())) {
    }
  }
  json record = wait_for(
      id, [](const std::string& s) { return s == "succeeded" || s == "failed"; }, 60s);
  ASSERT_TRUE(record.is_object());
  std::this_thread::sleep_for(1500ms);
  const std::string log = server_.output();
  EXPECT_NE(log.find("cannot record state"), std::string::npos) << log;
  // The API says it ended, with its results, though the store has neither.
  json shown = get_json("/api/experiments/" + id);
  EXPECT_EQ(shown["state"], record["state"]) << shown.dump();
  EXPECT_TRUE(shown["results"].is_object()) << shown.dump();
  json listed = get_json("/api/experiments");
  ASSERT_TRUE(listed["experiments"].is_array()) << listed.dump();
  ASSERT_EQ(listed["experiments"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["experiments"][0]["state"], record["state"]) << listed.dump();
  {
    auto store = store::Store::open(data_dir_ + "/dec.db");
    ASSERT_TRUE(store.ok()) << store.error();
    auto stored = (*store)->get(id);
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_TRUE((*stored)->results_json.empty() ||
                (*stored)->state != record["state"].get<std::string>())
        << "the disk was not full: nothing to test";
  }
  // Room again: the server writes it without being asked.
  fs::remove(filler);
  store::ExperimentRecord stored_record;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(100ms);
    auto store = store::Store::open(data_dir_ + "/dec.db");
    ASSERT_TRUE(store.ok()) << store.error();
    auto stored = (*store)->get(id);
    if (stored.ok() && stored->has_value()) stored_record = **stored;
    if (stored_record.state == record["state"] && !stored_record.results_json.empty()) break;
  }
  EXPECT_EQ(stored_record.state, record["state"].get<std::string>()) << server_.output();
  EXPECT_EQ(json::parse(stored_record.results_json, nullptr, false)["runs"].size(), 1u);
  for (int i = 0; i < 50 && server_.output().find("recorded after") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(server_.output().find("recorded after"), std::string::npos) << server_.output();
  kill(server_.pid, SIGTERM);
  testing::wait_exit(server_, 20s);
  server_.pid = -1;
}

}  // namespace
}  // namespace dec
