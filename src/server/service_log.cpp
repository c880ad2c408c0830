#include "server/service_log.h"

#include <chrono>
#include <ctime>

namespace dec::server {

std::string utc_timestamp_ms() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", date, static_cast<int>(millis));
  return out;
}

void ServiceLog::info(const std::string& event, const std::string& message,
                      const nlohmann::ordered_json& fields) {
  write("info", event, message, fields);
}

void ServiceLog::error(const std::string& event, const std::string& message,
                       const nlohmann::ordered_json& fields) {
  write("error", event, message, fields);
}

void ServiceLog::write(const char* level, const std::string& event, const std::string& message,
                       const nlohmann::ordered_json& fields) {
  std::string line;
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json object = {
        {"time", utc_timestamp_ms()}, {"level", level}, {"event", event}, {"message", message}};
    if (fields.is_object()) {
      for (const auto& [key, value] : fields.items()) object[key] = value;
    }
    line = object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    // One line whatever the message holds: a newline in it would start a line of its own.
    std::string text = message;
    for (char& c : text) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    line = utc_timestamp_ms() + " dec serve: " + (level[0] == 'e' ? "error: " : "") + text;
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

}  // namespace dec::server
