#include "systems/mqtt/package.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/host_user.h"
#include "systems/mqtt/mqtt_driver.h"

namespace dec::systems {
namespace {

// mosquitto lives in /usr/sbin on Debian, which is not on every user's PATH: look there too.
std::string mosquitto_program(const RecipeContext& context) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string list = path;
    for (size_t start = 0; start <= list.size();) {
      size_t colon = list.find(':', start);
      if (colon == std::string::npos) colon = list.size();
      if (colon > start) dirs.push_back(list.substr(start, colon - start));
      start = colon + 1;
    }
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/local/sbin");
  for (const std::string& dir : dirs) {
    if (context.path_exists && context.path_exists(dir + "/mosquitto")) return dir + "/mosquitto";
  }
  return "";
}

Status mosquitto_installed(const RecipeContext& context) {
  if (!mosquitto_program(context).empty()) return Status::Ok();
  return make_error(
      "Eclipse Mosquitto is not installed (no mosquitto on PATH, in /usr/sbin or "
      "/usr/local/sbin): run scripts/setup");
}

// "Eclipse Mosquitto 2.0.11", from the first line of `mosquitto -h` ("mosquitto version 2.0.11").
std::string mosquitto_label(const RecipeContext& context) {
  std::string program = mosquitto_program(context);
  if (program.empty() || program.find('\'') != std::string::npos) return "";
  FILE* pipe = ::popen(("'" + program + "' -h 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return "";
  char line[256] = {};
  bool read = std::fgets(line, sizeof line, pipe) != nullptr;
  ::pclose(pipe);
  if (!read) return "";
  std::string text = line;
  const std::string prefix = "mosquitto version ";
  if (text.rfind(prefix, 0) != 0) return "";
  std::string version = text.substr(prefix.size());
  while (!version.empty() &&
         (version.back() == '\n' || version.back() == '\r' || version.back() == ' ')) {
    version.pop_back();
  }
  if (version.empty() || version.find_first_not_of("0123456789.") != std::string::npos) return "";
  return "Eclipse Mosquitto " + version;
}

// One mosquitto per run, configured by a file in its dir (a bare `mosquitto -p PORT` listens on
// loopback only). deploy.server keys become `key value` lines after dec's own, and mosquitto
// takes the last value of a repeated setting, so they win.
Result<Launch> mosquitto_launch(const LaunchInput& in) {
  for (const auto& [key, value] : in.server) {
    if (key.empty() || key.find_first_of(" \t\r\n#") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return make_error("deploy.server." + key +
                        ": a mosquitto.conf setting is one line `key value` (no spaces or # in "
                        "the key, no line break in the value); fix or remove it");
    }
  }
  Launch launch;
  std::string& conf = launch.files["mosquitto.conf"];
  conf = "# Written by dec for this node; deploy.server adds lines at the end.\n";
  conf += "listener " + std::to_string(in.port) + " " + in.listen_host + "\n";
  conf += "allow_anonymous true\n";
  // Started as root, mosquitto switches to the `user` line's user (by default mosquitto, which
  // cannot write the node's dir): name the user the node runs as. Started as another user, it
  // ignores the line.
  const std::string user = in.user.empty() ? core::current_user_name() : in.user;
  if (!user.empty()) conf += "user " + user + "\n";
  // Sessions, subscriptions, retained messages (dec's partition records) and queued messages are
  // saved to mosquitto.db in the node's dir on a clean exit and every autosave_interval (1800 s
  // by default): a snapshot, not a log: a killed broker loses what changed since.
  conf += "persistence true\n";
  conf += "persistence_location " + in.dir + "/\n";
  // mosquitto drops QoS 1/2 messages beyond 1000 queued per client (and QoS 0 ones beyond 1000
  // waiting to be written): a consumer that falls behind, or a persistent session while its
  // consumer is away, would lose messages to a limit rather than to a failure. A million per
  // client keeps a run's backlog and still bounds the memory a consumer that never comes back
  // can take; deploy.server max_queued_messages: 0 removes the limit.
  conf += "max_queued_messages 1000000\n";
  // No broker-side window: a producer's own window (config max_inflight) decides how many QoS
  // 1/2 messages it has in flight, rather than the receive maximum of 20 mosquitto would
  // otherwise announce, and messages to MQTT 3.1.1 consumers are not held back 20 at a time.
  conf += "max_inflight_messages 0\n";
  // Nagle's algorithm would hold small messages to consumers behind unacknowledged ones.
  conf += "set_tcp_nodelay true\n";
  // The process's output is the service log.
  conf += "log_dest stdout\n";
  conf += "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
  conf += "log_timestamp_format %Y-%m-%dT%H:%M:%S\n";
  for (const auto& [key, value] : in.server) conf += key + " " + value + "\n";

  std::string program = in.context != nullptr ? mosquitto_program(*in.context) : "";
  launch.argv = {program.empty() ? "mosquitto" : program, "-c", in.dir + "/mosquitto.conf"};
  return launch;
}

// mosquitto.conf settings that name files (persistence, logs, passwords, ACLs, TLS keys, pid),
// load plugins, add listeners (one may be a unix socket path) or bridge to other brokers.
std::vector<ForbiddenServerKey> mosquitto_forbidden_server_keys() {
  using enum HostReach;
  return {
      {"persistence_location", kPath},
      {"persistence_file", kPath},
      {"log_dest", kPath},
      {"include_dir", kPath},
      {"password_file", kPath},
      {"acl_file", kPath},
      {"psk_file", kPath},
      {"pid_file", kPath},
      {"*file", kPath},
      {"*path", kPath},
      {"http_dir", kPath},
      {"listener", kPath},
      {"plugin", kCode},
      {"auth_plugin", kCode},
      {"global_plugin", kCode},
      {"plugin_opt_*", kCode},
      {"auth_opt_*", kCode},
      {"connection", kNetwork},
      {"address", kNetwork},
      {"addresses", kNetwork},
      {"bridge_*", kNetwork},
  };
}

}  // namespace

SystemPackage mqtt_package() {
  SystemPackage package;
  package.driver = drivers::mqtt_driver_info();
  LocalRecipe recipe;
  recipe.program = "mosquitto";
  recipe.label = "Eclipse Mosquitto";
  // One broker: mosquitto has no clustering, and bridging brokers is not supported.
  recipe.default_port = 1883;
  recipe.installed = mosquitto_installed;
  recipe.launch = mosquitto_launch;
  recipe.forbidden_server_keys = mosquitto_forbidden_server_keys();
  recipe.probe_label = mosquitto_label;
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
