#include "systems/nats/package.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <memory>
#include <set>

#include "core/hash.h"
#include "systems/nats/nats_driver.h"

namespace dec::systems {
namespace {

constexpr const char* kConfigFile = "nats-server.conf";

// Settings dec gives every node itself (addresses, names, the store, the cluster): a
// deploy.server key for one of them would contradict it. `include` could bring in anything.
const std::set<std::string>& reserved_keys() {
  static const std::set<std::string> keys = {"port",
                                             "listen",
                                             "host",
                                             "net",
                                             "addr",
                                             "server_name",
                                             "cluster",
                                             "jetstream",
                                             "store_dir",
                                             "include",
                                             "routes",
                                             "jetstream.store_dir",
                                             "jetstream.store",
                                             "jetstream.storedir"};
  return keys;
}

// The JetStream memory limit under any of nats-server's names for it.
bool sets_memory_limit(const core::Settings& server) {
  for (const char* name : {"jetstream.max_memory_store", "jetstream.max_mem",
                           "jetstream.max_memory", "jetstream.max_mem_store"}) {
    if (server.count(name)) return true;
  }
  return false;
}

bool valid_setting_name(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// "" when deploy.server.<key>: <value> can go into the config file as one line, else why not.
std::string check_server_setting(const std::string& key, const std::string& value) {
  const std::string path = "deploy.server." + key;
  std::string name = key.rfind("jetstream.", 0) == 0 ? key.substr(10) : key;
  if (!valid_setting_name(name)) {
    return path +
           ": a nats-server setting is a config file key (letters, digits, _), or "
           "jetstream.<key> for the jetstream block";
  }
  if (reserved_keys().count(key)) {
    return path + ": dec sets this itself for every node (addresses, names, store and cluster)";
  }
  if (value.find_first_of("\r\n") != std::string::npos) {
    return path + ": a nats-server setting is one line in the config file; remove the line break";
  }
  auto count = [&](char c) { return std::count(value.begin(), value.end(), c); };
  if (count('{') != count('}') || count('[') != count(']')) {
    return path + ": unbalanced brackets in \"" + value + "\"";
  }
  return "";
}

// nats-server settings that name files (its log, pid and ports files, TLS keys, an operator JWT,
// an account resolver's dir), include other config files, or connect out (leaf nodes, gateways,
// remote syslog). Checked for keys and for the words inside a block value ({...}), where
// nats-server takes the same settings again.
const std::vector<ForbiddenServerKey>& nats_forbidden_server_keys() {
  using enum HostReach;
  static const std::vector<ForbiddenServerKey> keys = {
      {"include", kPath},      {"store_dir", kPath},  {"jetstream.store_dir", kPath},
      {"*_file", kPath},       {"*_dir", kPath},      {"*.*_file", kPath},
      {"tls", kPath},          {"*.tls", kPath},      {"operator", kPath},
      {"resolver", kPath},     {"syslog", kPath},     {"remote_syslog", kNetwork},
      {"leafnodes", kNetwork}, {"gateway", kNetwork},
  };
  return keys;
}

// Planning-time checks of every deploy.server setting (the same the launch makes), plus what a
// block value may hide: a refused setting nested inside it, or a $VARIABLE, which nats-server
// would read from the environment dec started it with.
Status nats_check_server(const core::Settings& server) {
  for (const auto& [key, value] : server) {
    if (std::string problem = check_server_setting(key, value); !problem.empty()) {
      return make_error(problem);
    }
    const std::string path = "deploy.server." + key;
    if (value.find('$') != std::string::npos) {
      return make_error(path +
                        ": $VARIABLE references would read the server's environment; write the "
                        "value itself");
    }
    if (value.find_first_of("{[") == std::string::npos) continue;
    for (size_t pos = 0; pos < value.size();) {
      auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
      if (!is_word(value[pos])) {
        ++pos;
        continue;
      }
      size_t end = pos;
      while (end < value.size() && is_word(value[end])) ++end;
      const std::string word = value.substr(pos, end - pos);
      if (const auto* forbidden = find_forbidden_server_key(nats_forbidden_server_keys(), word)) {
        return make_error(path + ": " + word + " (inside the value) " +
                          forbidden_server_key_message(forbidden->reach));
      }
      pos = end;
    }
  }
  return Status::Ok();
}

// One nats-server per node, JetStream on, its store in the node's dir. Several nodes form one
// cluster: each listens for routes on the control port of its own host and solicits routes to
// every other node; they elect a JetStream meta leader among themselves. Addresses, names and
// the cluster go on the command line; deploy.server becomes lines of a config file (jetstream.X
// keys go into its jetstream block).
Result<Launch> nats_launch(const LaunchInput& in) {
  std::string top_level;
  std::string jetstream;
  for (const auto& [key, value] : in.server) {
    if (std::string problem = check_server_setting(key, value); !problem.empty()) {
      return make_error(problem);
    }
    if (key.rfind("jetstream.", 0) == 0) {
      jetstream += "  " + key.substr(10) + ": " + value + "\n";
    } else {
      top_level += key + ": " + value + "\n";
    }
  }
  // nats-server sizes memory streams from the machine's memory, not the host's limit.
  if (in.memory_bytes && !sets_memory_limit(in.server)) {
    jetstream += "  max_memory_store: " + std::to_string(*in.memory_bytes / 2) + "\n";
  }
  Launch launch;
  launch.files[kConfigFile] =
      "# Written by dec for this node; deploy.server adds settings.\n"
      "jetstream {\n"
      "  store_dir: \"" +
      in.dir + "/jetstream\"\n" + jetstream + "}\n" + top_level;
  launch.argv = {"nats-server",
                 "-c",
                 in.dir + "/" + kConfigFile,
                 "-a",
                 in.listen_host,
                 "-p",
                 std::to_string(in.port),
                 "-n",
                 "dec-nats-" + std::to_string(in.node)};
  if (in.nodes > 1) {
    std::string routes;
    for (size_t i = 0; i < in.node_hosts.size(); ++i) {
      if (static_cast<int>(i) == in.node) continue;
      routes += (routes.empty() ? "" : ",") + std::string("nats://") + in.node_hosts[i] + ":" +
                std::to_string(in.control_port);
    }
    const uint64_t cluster_id = core::fnv1a(in.cluster_seed + "|nats-cluster");
    launch.argv.insert(
        launch.argv.end(),
        {"--cluster_name", "dec-" + std::to_string(cluster_id % 1'000'000'000), "--cluster",
         "nats://" + in.listen_host + ":" + std::to_string(in.control_port), "--routes", routes});
  }
  return launch;
}

// JetStream answers once the port is open on a single node; a cluster needs a meta leader
// first, without which no stream can be created.
std::string nats_ready(const LaunchInput& in) {
  return drivers::nats_jetstream_ready(in.listen_host + ":" + std::to_string(in.port),
                                       std::chrono::milliseconds(2000));
}

std::string nats_probe_label(const RecipeContext&) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen("nats-server --version 2>/dev/null", "r"),
                                             ::pclose);
  if (!pipe) return "";
  std::string output;
  std::array<char, 256> buffer;
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) output += buffer.data();
  return nats_label_from_version(output);
}

}  // namespace

std::string nats_label_from_version(const std::string& version_output) {
  size_t v = version_output.find(": v");
  if (v == std::string::npos) return "";
  size_t start = v + 3;
  size_t end = version_output.find_first_not_of("0123456789.", start);
  std::string version = version_output.substr(start, end - start);
  if (version.empty()) return "";
  return "NATS JetStream " + version;
}

SystemPackage nats_package() {
  SystemPackage package;
  package.driver = drivers::nats_driver_info();
  LocalRecipe recipe;
  recipe.program = "nats-server";
  recipe.label = "NATS JetStream";
  recipe.sharded_nodes = true;
  recipe.nodes_need_hosts = true;
  recipe.default_port = 4222;
  recipe.default_control_port = 6222;
  recipe.launch = nats_launch;
  recipe.check_server = nats_check_server;
  recipe.forbidden_server_keys = nats_forbidden_server_keys();
  recipe.ready_probe = nats_ready;
  recipe.start_timeout = std::chrono::seconds(30);  // a cluster elects its meta leader first
  recipe.probe_label = nats_probe_label;
  package.local = recipe;
  return package;
}

}  // namespace dec::systems
