// A client of a `dec serve` on 127.0.0.1 for integration tests: requests carrying the server's
// token, submitting an experiment, and polling one until its state is as expected.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace dec::testing {

class ApiClient {
 public:
  ApiClient(int port, std::string token) : port_(port), token_(std::move(token)) {}

  // With the token, if there is one, unless `with_token` is false.
  httplib::Client client(bool with_token = true) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    if (with_token && !token_.empty()) c.set_bearer_token_auth(token_);
    return c;
  }

  // The body of GET `path` as JSON; null when there was no answer or it was not JSON.
  nlohmann::json get_json(const std::string& path) const {
    auto res = client().Get(path.c_str());
    if (!res) return nlohmann::json();
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  // POSTs a YAML spec; the new experiment's id ("" and a test failure unless it answered 201).
  std::string submit(const std::string& body) const {
    auto res = client().Post("/api/experiments", body, "application/yaml");
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 201) << res->body;
    return nlohmann::json::parse(res->body).value("id", "");
  }

  // Polls until the experiment's state satisfies `done`; returns the last record.
  nlohmann::json wait_for(const std::string& id,
                          const std::function<bool(const std::string&)>& done,
                          std::chrono::seconds timeout = std::chrono::seconds(90)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json record;
    while (std::chrono::steady_clock::now() < deadline) {
      record = get_json("/api/experiments/" + id);
      if (record.is_object() && done(record.value("state", ""))) return record;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "timed out waiting on " << id << ": " << record.dump();
    return record;
  }

 private:
  int port_;
  std::string token_;
};

}  // namespace dec::testing
