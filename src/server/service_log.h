// The log of dec serve on stderr: one line per event (start, each experiment's state
// transition, each error, each request answered 5xx), as text for a terminal or as one JSON
// object per line for a log collector. Thread-safe.
#pragma once

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace dec::server {

enum class LogFormat { kText, kJson };

class ServiceLog {
 public:
  explicit ServiceLog(LogFormat format, std::FILE* out = stderr) : format_(format), out_(out) {}

  // Text: "<UTC time> dec serve: <message>". JSON: {"time", "level", "event", "message", and
  // `fields`}, with invalid UTF-8 in any of them replaced, so a line is always written.
  void info(const std::string& event, const std::string& message,
            const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());
  void error(const std::string& event, const std::string& message,
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

 private:
  void write(const char* level, const std::string& event, const std::string& message,
             const nlohmann::ordered_json& fields);

  LogFormat format_;
  std::FILE* out_;
  std::mutex mutex_;
};

// "2026-12-02T10:03:47.123Z"
std::string utc_timestamp_ms();

}  // namespace dec::server
