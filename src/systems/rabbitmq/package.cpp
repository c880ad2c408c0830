#include "systems/rabbitmq/package.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

#include "core/hash.h"
#include "core/host_user.h"
#include "systems/rabbitmq/rabbitmq_driver.h"

namespace dec::systems {
namespace {

// The server script itself, not /usr/sbin/rabbitmq-server: that wrapper switches users with su,
// which resets HOME and keeps a process of its own between dec and the node.
constexpr const char* kServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";
constexpr const char* kLibDir = "/usr/lib/rabbitmq/lib";
constexpr const char* kUser = "rabbitmq";
constexpr int kEpmdPort = 4369;

Status rabbitmq_installed(const RecipeContext& context) {
  if (context.path_exists(kServerScript)) return Status::Ok();
  return make_error(std::string("RabbitMQ is not installed (") + kServerScript +
                    " missing): run scripts/setup");
}

// The installed version, from the server's directory name (rabbitmq_server-3.10.8).
std::string rabbitmq_label(const RecipeContext& context) {
  const std::string prefix = "rabbitmq_server-";
  for (const std::string& name : context.list_dir(kLibDir)) {
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
    std::string version = name.substr(prefix.size());
    if (version.find_first_not_of("0123456789.") != std::string::npos) continue;
    return "RabbitMQ " + version;
  }
  return "";
}

// A loopback port nothing listens on right now, other than `taken` (the node's own ports, which
// are chosen but not bound yet).
Result<int> free_loopback_port(const std::vector<int>& taken) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("cannot find a free port for epmd: socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                 ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    if (!bound) return make_error("cannot find a free port for epmd on 127.0.0.1");
    int port = ntohs(address.sin_port);
    if (std::find(taken.begin(), taken.end(), port) == taken.end()) return port;
  }
  return make_error("cannot find a free port for epmd on 127.0.0.1");
}

// One node. Everything it writes (mnesia, quorum logs, feature flags, the Erlang cookie in HOME)
// is in its dir, its config files are written there, and its epmd and distribution port are its
// own, so it never meets the machine's RabbitMQ, epmd or another run's node. The log goes to the
// process's output (the service log).
Result<Launch> rabbitmq_launch(const LaunchInput& in) {
  if (in.context != nullptr) {
    if (Status s = rabbitmq_installed(*in.context); !s) return make_error(s.error());
  }
  if (in.nodes > 1) {
    return make_error(
        "deploy.nodes: the local provider runs RabbitMQ as a single node; set nodes: 1");
  }
  std::map<std::string, std::string> settings = {
      // guest may log in only over loopback by default; a node on a host of its own is reached
      // at the host's address.
      {"loopback_users", "none"},
      {"disk_free_limit.absolute", "50MB"},
  };
  if (in.memory_bytes) {
    // RabbitMQ's default high watermark (0.4) of the host's limit: the VM does not see a cgroup's
    // limit and would size itself by the machine's memory.
    char bytes[32];
    std::snprintf(bytes, sizeof(bytes), "%" PRIu64, *in.memory_bytes / 5 * 2);
    settings["vm_memory_high_watermark.absolute"] = bytes;
  }
  for (const auto& [key, value] : in.server) {
    if (key.empty() || key.find_first_of(" \t\n\r=") != std::string::npos ||
        value.find_first_of("\n\r") != std::string::npos || value.empty()) {
      return make_error("deploy.server." + key +
                        ": a RabbitMQ setting is one line `key = value` of rabbitmq.conf (e.g. "
                        "vm_memory_high_watermark.relative: 0.6); use a key without spaces or "
                        "`=` and a non-empty value without line breaks");
    }
    settings[key] = value;  // deploy.server wins over dec's defaults
  }

  const bool shared_loopback = in.listen_host.rfind("127.", 0) == 0;
  // On a host of its own (a network namespace) the usual epmd port is free; on the machine's
  // loopback the node gets an epmd of its own on a free port.
  int epmd_port = kEpmdPort;
  if (shared_loopback) {
    auto free = free_loopback_port({in.port, in.control_port});
    if (!free.ok()) return make_error(free.error());
    epmd_port = *free;
  }
  // The distribution port is the recipe's second port: the provider picks a free one on loopback.
  int dist_port = in.control_port != 0 ? in.control_port : in.port + 20000;
  if (dist_port > 65535) {
    return make_error("RabbitMQ needs a distribution port and " + std::to_string(in.port) +
                      " + 20000 is beyond 65535");
  }

  Launch launch;
  std::string& conf = launch.files["rabbitmq.conf"];
  conf = "# Written by dec for this node; deploy.server adds settings.\n";
  for (const auto& [key, value] : settings) conf += key + " = " + value + "\n";
  launch.files["enabled_plugins"] = "[].\n";
  // Read instead of /etc/rabbitmq/rabbitmq-env.conf, whose settings (a node name, ports) would
  // override the ones below.
  launch.files["rabbitmq-env.conf"] =
      "# Written by dec: the node's settings are in its environment.\n";

  const std::string& dir = in.dir;
  launch.environment = {
      {"RABBITMQ_NODENAME", rabbitmq_node_name(dir)},
      {"RABBITMQ_USE_LONGNAME", "false"},
      {"RABBITMQ_NODE_IP_ADDRESS", in.listen_host},
      {"RABBITMQ_NODE_PORT", std::to_string(in.port)},
      {"RABBITMQ_DIST_PORT", std::to_string(dist_port)},
      {"RABBITMQ_MNESIA_BASE", dir + "/mnesia"},
      {"RABBITMQ_LOG_BASE", dir + "/log"},
      {"RABBITMQ_LOGS", "-"},
      {"RABBITMQ_CONFIG_FILE", dir + "/rabbitmq.conf"},
      {"RABBITMQ_ADVANCED_CONFIG_FILE", dir + "/advanced.config"},
      {"RABBITMQ_CONF_ENV_FILE", dir + "/rabbitmq-env.conf"},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", dir + "/enabled_plugins"},
      {"RABBITMQ_FEATURE_FLAGS_FILE", dir + "/feature_flags"},
      {"RABBITMQ_PID_FILE", dir + "/rabbit.pid"},
      // Erlang distribution (which rabbitmqctl would use) on loopback only, whatever the host.
      {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}"},
      {"ERL_EPMD_PORT", std::to_string(epmd_port)},
      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
      // The Erlang cookie is created here (mode 0400, owned by the node's user).
      {"HOME", dir},
      {"LANG", "C.UTF-8"},
      // The server script then execs the VM instead of running it as its child: dec's recorded
      // pid is the broker itself, so the kill fault (SIGKILL) and pause (SIGSTOP) reach it, and
      // SIGTERM stops it cleanly (RabbitMQ handles it).
      {"detached", "1"},
  };

  if (::geteuid() == 0) {
    // The node runs as rabbitmq, as Debian's own wrapper would run it: it owns its dir and must
    // be able to reach it. setpriv changes user and execs, keeping the environment and the pid.
    const auto found = core::find_host_user(kUser);
    if (!found) {
      return make_error(
          "user rabbitmq does not exist (is rabbitmq-server installed? run "
          "scripts/setup)");
    }
    if (std::string blocked = core::blocked_ancestor(dir, *found); !blocked.empty()) {
      return make_error("RabbitMQ runs as user rabbitmq, which cannot enter " + blocked +
                        " (above the node's dir " + dir +
                        "): use a data dir others may enter (--data-dir or DEC_DATA_DIR, e.g. "
                        "under /var/lib or /tmp), or chmod o+x " +
                        blocked);
    }
    launch.argv = {"setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups",
                   kServerScript};
    launch.dir_owner = kUser;
  } else {
    launch.argv = {kServerScript};  // as the current user, who owns the dir
  }
  return launch;
}

// rabbitmq.conf keys that name files (log file and dir, TLS key files, definitions to load) or
// make the node reach other hosts (peer discovery, LDAP and HTTP auth backends, remote syslog).
std::vector<ForbiddenServerKey> rabbitmq_forbidden_server_keys() {
  using enum HostReach;
  return {
      {"*file", kPath},
      {"*.dir", kPath},
      {"*_dir", kPath},
      {"*.path", kPath},
      {"load_definitions", kPath},
      {"definitions.*", kPath},
      {"log.syslog*", kNetwork},
      {"cluster_formation.*", kNetwork},
      {"auth_ldap.*", kNetwork},
      {"auth_http.*", kNetwork},
  };
}

// The AMQP port opens late in the boot, but a login proves the node takes clients.
std::string rabbitmq_ready(const LaunchInput& in) {
  std::string failure = drivers::rabbitmq_login_check(
      in.listen_host + ":" + std::to_string(in.port), {}, std::chrono::milliseconds(2000));
  return failure.empty() ? "" : "AMQP login: " + failure;
}

}  // namespace

std::string rabbitmq_node_name(const std::string& dir) {
  char hash[17];
  std::snprintf(hash, sizeof(hash), "%016" PRIx64, core::fnv1a(dir));
  return std::string("rabbit-") + hash + "@localhost";
}

SystemPackage rabbitmq_package() {
  SystemPackage package;
  package.driver = drivers::rabbitmq_driver_info();
  LocalRecipe recipe;
  recipe.program = "rabbitmq-server";
  recipe.label = "RabbitMQ";
  // One node: a RabbitMQ cluster needs nodes that join one another after they started (and that
  // share a cookie), which the recipe's one-shot launch does not express.
  recipe.default_port = 5672;
  recipe.default_control_port = 25672;  // the Erlang distribution port
  recipe.installed = rabbitmq_installed;
  recipe.launch = rabbitmq_launch;
  recipe.forbidden_server_keys = rabbitmq_forbidden_server_keys();
  recipe.ready_probe = rabbitmq_ready;
  recipe.probe_label = rabbitmq_label;
  recipe.start_timeout = std::chrono::seconds(60);
  recipe.companions = {"epmd"};
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
