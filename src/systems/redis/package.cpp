#include "systems/redis/package.h"

#include <algorithm>
#include <cctype>

#include "systems/redis/redis_driver.h"

namespace dec::systems {
namespace {

// One redis-server per node (a sharded set: the driver spreads streams over the nodes), no
// persistence unless deploy.server asks for it; every deploy.server key becomes --key value.
Result<Launch> redis_launch(const LaunchInput& in) {
  Launch launch;
  launch.argv = {"redis-server", "--port",       std::to_string(in.port),
                 "--bind",       in.listen_host, "--dir",
                 in.dir,         "--save",       "",
                 "--appendonly", "no",           "--protected-mode",
                 "no",           "--daemonize",  "no"};
  for (const auto& [key, value] : in.server) {
    launch.argv.push_back("--" + key);
    launch.argv.push_back(value);
  }
  return launch;
}

// redis-server turns `--key value` into a config line `key "value"`: the value is quoted, the
// key is not, so a key with a line break or space could smuggle in a setting of its own.
Status redis_check_server(const core::Settings& server) {
  for (const auto& [key, value] : server) {
    const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_';
    });
    if (!plain) {
      return make_error("deploy.server." + key +
                        ": a redis-server setting is a config name (letters, digits, -), such as "
                        "appendonly or maxmemory-policy");
    }
  }
  return Status::Ok();
}

// redis.conf settings that write or read files on the host, load modules, or replicate from
// another server (the full list of redis-server's path settings as of Redis 7.2).
std::vector<ForbiddenServerKey> redis_forbidden_server_keys() {
  using enum HostReach;
  return {
      {"dir", kPath},
      {"dbfilename", kPath},
      {"appendfilename", kPath},
      {"appenddirname", kPath},
      {"logfile", kPath},
      {"include", kPath},
      {"unixsocket", kPath},
      {"unixsocketperm", kPath},
      {"pidfile", kPath},
      {"aclfile", kPath},
      {"tls-*", kPath},
      {"cluster-config-file", kPath},
      {"syslog-*", kPath},
      {"loadmodule", kCode},
      {"enable-module-command", kCode},
      {"enable-debug-command", kCode},
      {"enable-protected-configs", kCode},
      {"replicaof", kNetwork},
      {"slaveof", kNetwork},
      {"masterauth", kNetwork},
      {"masteruser", kNetwork},
  };
}

}  // namespace

SystemPackage redis_package() {
  SystemPackage package;
  package.driver = drivers::redis_driver_info();
  LocalRecipe recipe;
  recipe.program = "redis-server";
  recipe.label = "redis-server";
  recipe.sharded_nodes = true;
  recipe.default_port = 6379;
  recipe.launch = redis_launch;
  recipe.check_server = redis_check_server;
  recipe.forbidden_server_keys = redis_forbidden_server_keys();
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
