// deploy/cd-replace against a live `dec serve`: it waits while an experiment runs (409), lets the
// idle server exit (200), runs the replacement, which starts a new server on the same data dir,
// and waits for its health; the new server has the old experiment and runs the one left queued.
// Also its failures: a refused token, a timeout, a server error, nothing answering. Everything on
// 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/serve_test.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kToken = "cd-token-7f3a9c1e5b";

std::string spec(const std::string& name, const std::string& duration) {
  return testing::redis_spec(name, duration);
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether `pid` is a live process (a zombie no longer counts).
bool process_running(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  const std::string stat = read("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

class CdReplace : public testing::ServeTest {
 protected:
  CdReplace() : ServeTest("dec-cd") {}

  void SetUp() override {
    ServeTest::SetUp();
    std::ofstream(dir_ / "token") << kToken << "\n";
    // One port for the whole test: the replacement server and the stand-ins listen on it too.
    auto port = env_.free_tcp_port("127.0.0.1");
    ASSERT_TRUE(port.ok());
    port_ = *port;
    fixed_port_ = true;
    token_ = kToken;  // what api() sends, to whichever server answers on the port
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  void TearDown() override {
    const pid_t replacement = replacement_pid();
    if (process_running(replacement)) kill(replacement, SIGKILL);
    for (int i = 0; i < 100 && process_running(replacement); ++i) std::this_thread::sleep_for(50ms);
    ServeTest::TearDown();
  }

  // `dec serve` on the test's port and data dir, its token from $DEC_TOKEN as in the image.
  void start() {
    start_server("old-server.log", kToken, {}, {{"DEC_TOKEN", kToken}}, /*token_flag=*/false);
  }

  // The replacement command: records what the data dir holds at the hand-over, then starts a
  // new `dec serve` on the same port and data dir in the background, as a service manager would.
  std::vector<std::string> replacement() const {
    return {"bash", "-c",
            "set -e\n"
            "\"$DEC\" results list --json --data-dir \"$DATA\" > \"$DIR/handover.json\"\n"
            "DEC_TOKEN=\"$(cat \"$DIR/token\")\" \"$DEC\" serve --listen \"$LISTEN\" "
            "--data-dir \"$DATA\" > \"$DIR/new-server.log\" 2>&1 < /dev/null &\n"
            "echo $! > \"$DIR/new-server.pid\"\n"};
  }

  // deploy/cd-replace with `options`, then `--` and the replacement; returns its exit status.
  int cd_replace(const std::vector<std::string>& options, std::chrono::seconds timeout = 180s,
                 std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {std::string(DEC_SOURCE_DIR) + "/deploy/cd-replace"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    for (const auto& word : replacement()) argv.push_back(word);
    cd_output_ = (dir_ / "cd-replace.log").string();
    env.insert({{"DEC", DEC_BINARY},
                {"DATA", data_dir_},
                {"DIR", dir_.string()},
                {"LISTEN", "127.0.0.1:" + std::to_string(port_)}});
    return testing::run(argv, cd_output_, timeout, env);
  }
  std::string cd_output() const { return read(cd_output_); }

  pid_t replacement_pid() const {
    const std::string text = read(dir_ / "new-server.pid");
    return text.empty() ? -1 : static_cast<pid_t>(std::stol(text));
  }

  // Lets the replacement server finish (POST /api/shutdown while idle) and checks it exits.
  void stop_replacement_server() {
    const pid_t pid = replacement_pid();
    auto answer = client().Post("/api/shutdown", "", "text/plain");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200) << answer->body;
    for (int i = 0; i < 400 && process_running(pid); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(process_running(pid)) << read(dir_ / "new-server.log");
  }

  std::string url_;
  std::string cd_output_;
};

TEST_F(CdReplace, WaitsForTheRunningExperimentThenReplacesTheServerWhichRunsTheQueue) {
  start();
  const std::string first = submit(spec("first", "4s"));
  wait_for(first, [](const std::string& s) { return s == "running"; });
  const std::string second = submit(spec("second", "1s"));
  ASSERT_EQ(get_json("/api/experiments/" + second)["state"], "queued");

  const int status =
      cd_replace({"--url", url_, "--token-file", (dir_ / "token").string(), "--interval", "1",
                  "--timeout", "120", "--stop-timeout", "30", "--health-timeout", "60"});
  const std::string out = cd_output();
  ASSERT_EQ(status, 0) << out;
  // 409 while the first experiment ran, 200 once idle, then the replacement and its health.
  const auto busy =
      out.find("POST " + url_ + "/api/shutdown: 409, experiment " + first + " running");
  const auto idle = out.find("POST " + url_ + "/api/shutdown: 200, no experiment running");
  const auto stopped = out.find("the server at " + url_ + " has stopped");
  const auto replaced = out.find("running the replacement: bash -c");
  const auto healthy = out.find("GET " + url_ + "/api/health: 200");
  ASSERT_NE(busy, std::string::npos) << out;
  ASSERT_NE(idle, std::string::npos) << out;
  ASSERT_NE(stopped, std::string::npos) << out;
  ASSERT_NE(replaced, std::string::npos) << out;
  ASSERT_NE(healthy, std::string::npos) << out;
  EXPECT_LT(busy, idle);
  EXPECT_LT(idle, stopped);
  EXPECT_LT(stopped, replaced);
  EXPECT_LT(replaced, healthy);
  EXPECT_NE(out.find("(1 queued experiment(s) kept for the next server)"), std::string::npos)
      << out;
  EXPECT_EQ(out.find(kToken), std::string::npos) << "cd-replace printed the token:\n" << out;

  // The old server exited by itself, cleanly, before the replacement ran.
  EXPECT_EQ(testing::wait_exit(server_, 20s), 0) << server_.output();
  server_.pid = -1;
  const pid_t replacement = replacement_pid();
  ASSERT_GT(replacement, 0);
  EXPECT_TRUE(process_running(replacement)) << read(dir_ / "new-server.log");

  // At the hand-over (between the two servers) the first had succeeded and the second was still
  // queued: a shutting-down server starts nothing more from its queue (docs/api.md).
  const json handover = json::parse(read(dir_ / "handover.json"), nullptr, false);
  ASSERT_TRUE(handover.is_array()) << read(dir_ / "handover.json");
  std::map<std::string, std::string> state_at_handover;
  for (const auto& experiment : handover) {
    state_at_handover[experiment.value("id", "")] = experiment.value("state", "");
  }
  EXPECT_EQ(state_at_handover[first], "succeeded") << handover.dump();
  EXPECT_EQ(state_at_handover[second], "queued") << handover.dump();

  // The new server on the same data dir lists the old experiment with its results and runs the
  // queued one.
  const json old = get_json("/api/experiments/" + first);
  EXPECT_EQ(old.value("state", ""), "succeeded") << old.dump();
  EXPECT_TRUE(old.contains("results") && old["results"].is_object()) << old.dump();
  const json ran = wait_for(second, [](const std::string& s) {
    return s == "succeeded" || s == "failed" || s == "cancelled";
  });
  EXPECT_EQ(ran.value("state", ""), "succeeded") << ran.dump();
  stop_replacement_server();
}

TEST_F(CdReplace, RefusedTokenFailsWithoutReplacingOrPrintingTheToken) {
  start();
  const std::string wrong = "wrong-token-4d2b8e";
  std::ofstream(dir_ / "wrong-token") << wrong << "\n";
  const int status = cd_replace({"--url", url_, "--token-file", (dir_ / "wrong-token").string(),
                                 "--interval", "1", "--timeout", "30"});
  const std::string out = cd_output();
  EXPECT_EQ(status, 3) << out;
  EXPECT_NE(out.find("401, the server refused the token"), std::string::npos) << out;
  EXPECT_EQ(out.find(wrong), std::string::npos) << out;
  EXPECT_EQ(out.find(kToken), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "handover.json")) << "the replacement ran";
  // The refused request changed nothing: the server still takes work.
  const json health = get_json("/api/health");
  EXPECT_EQ(health.value("draining", true), false) << health.dump();
}

TEST_F(CdReplace, TimesOutWhileAnExperimentRunsAndReplacesNothing) {
  start();
  const std::string running = submit(spec("long", "60s"));
  wait_for(running, [](const std::string& s) { return s == "running"; });
  const auto started = std::chrono::steady_clock::now();
  const int status = cd_replace({"--url", url_, "--interval", "1", "--timeout", "2"}, 60s,
                                {{"DEC_TOKEN", kToken}});
  const auto took = std::chrono::steady_clock::now() - started;
  const std::string out = cd_output();
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("timed out after"), std::string::npos) << out;
  EXPECT_NE(out.find("experiment " + running + " is still running"), std::string::npos) << out;
  EXPECT_LT(took, 20s) << out;
  EXPECT_FALSE(fs::exists(dir_ / "handover.json")) << "the replacement ran";
  EXPECT_EQ(out.find(kToken), std::string::npos) << out;  // from $DEC_TOKEN this time

  // SIGTERM stops the run and destroys its infrastructure (what `podman stop` does).
  kill(server_.pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(server_, 60s), 0) << server_.output();
  server_.pid = -1;
}

TEST_F(CdReplace, AServerErrorFailsWithTheAnswerAndReplacesNothing) {
  // A stand-in for a server whose store fails: every shutdown request gets a 503.
  httplib::Server failing;
  failing.Post("/api/shutdown", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("{\"error\": \"the store cannot be written\"}", "application/json");
  });
  std::thread listener([&] { failing.listen("127.0.0.1", port_); });
  for (int i = 0; i < 250 && !env_.tcp_port_open("127.0.0.1", port_); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  const int status = cd_replace({"--url", url_, "--token-file", (dir_ / "token").string(),
                                 "--interval", "1", "--timeout", "30"});
  failing.stop();
  listener.join();
  const std::string out = cd_output();
  EXPECT_EQ(status, 3) << out;
  EXPECT_NE(out.find("unexpected answer 503"), std::string::npos) << out;
  EXPECT_NE(out.find("the store cannot be written"), std::string::npos) << out;
  EXPECT_EQ(out.find(kToken), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "handover.json")) << "the replacement ran";
}

TEST_F(CdReplace, NothingAnsweringIsAnErrorUnlessAskedToReplaceAnyway) {
  const int refused = cd_replace({"--url", url_, "--interval", "1", "--timeout", "5"});
  EXPECT_EQ(refused, 4) << cd_output();
  EXPECT_NE(cd_output().find("nothing answers at " + url_), std::string::npos) << cd_output();
  EXPECT_FALSE(fs::exists(dir_ / "handover.json")) << "the replacement ran";

  const int replaced = cd_replace({"--url", url_, "--if-down", "replace", "--token-file",
                                   (dir_ / "token").string(), "--health-timeout", "60"});
  ASSERT_EQ(replaced, 0) << cd_output();
  EXPECT_NE(cd_output().find("GET " + url_ + "/api/health: 200"), std::string::npos) << cd_output();
  stop_replacement_server();
}

}  // namespace
}  // namespace dec
