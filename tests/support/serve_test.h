// A test of a live `dec serve` on 127.0.0.1: its own data dir (DataDirTest), the server started
// on a free port and waited for, the API client with its token, and a TearDown that kills a
// server still running before the data dir's leftovers are destroyed.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.h"
#include "support/data_dir_test.h"
#include "support/subprocess.h"

namespace dec::testing {

// A short Redis experiment at 1k/s for `duration` ("1s", "60s").
inline std::string redis_spec(const std::string& name, const std::string& duration) {
  return "name: " + name +
         "\nworkload: {message_size: 128B, producers: 1, consumers: 1, rate: 1k/s, warmup: 0s, "
         "duration: " +
         duration + "}\nsystems:\n  - {name: r, driver: redis}\n";
}

class ServeTest : public DataDirTest {
 protected:
  explicit ServeTest(std::string prefix) : DataDirTest(std::move(prefix)) {}

  void TearDown() override {
    if (server_.pid > 0) {
      kill(server_.pid, SIGKILL);
      wait_exit(server_, std::chrono::seconds(10));
      server_.pid = -1;
    }
    DataDirTest::TearDown();
  }

  // Starts `dec serve --listen 127.0.0.1:<free port, or port_ if fixed_port_> --data-dir <data dir>
  // [--token T] EXTRA` with `env` added to its environment and its output in `log` (under the test
  // dir), and waits up to 5 s for the port to accept connections. `token` is what api() sends: pass
  // it here with `token_flag` false when the server reads it from elsewhere ($DEC_TOKEN).
  void start_server(const std::string& log, const std::string& token = "",
                    const std::vector<std::string>& extra = {},
                    const std::map<std::string, std::string>& env = {}, bool token_flag = true) {
    if (!fixed_port_) {
      auto port = env_.free_tcp_port("127.0.0.1");
      ASSERT_TRUE(port.ok());
      port_ = *port;
    }
    std::vector<std::string> argv = {DEC_BINARY,   "serve",
                                     "--listen",   "127.0.0.1:" + std::to_string(port_),
                                     "--data-dir", data_dir_};
    token_ = token;
    if (!token.empty() && token_flag) {
      argv.push_back("--token");
      argv.push_back(token);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = start(argv, (dir_ / log).string(), env);
    ASSERT_GT(server_.pid, 0) << "cannot start " << DEC_BINARY;
    for (int i = 0; i < 250 && !env_.tcp_port_open("127.0.0.1", port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(env_.tcp_port_open("127.0.0.1", port_)) << server_.output();
  }

  ApiClient api() const { return ApiClient(port_, token_); }
  httplib::Client client(bool with_token = true) const { return api().client(with_token); }
  nlohmann::json get_json(const std::string& path) const { return api().get_json(path); }
  std::string submit(const std::string& body) const { return api().submit(body); }
  nlohmann::json wait_for(const std::string& id,
                          const std::function<bool(const std::string&)>& done,
                          std::chrono::seconds timeout = std::chrono::seconds(90)) const {
    return api().wait_for(id, done, timeout);
  }

  Child server_;
  int port_ = 0;  // a fresh one for every start_server, unless fixed_port_
  bool fixed_port_ = false;
  std::string token_;
};

}  // namespace dec::testing
