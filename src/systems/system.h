// One messaging product as dec knows it, in one package (src/systems/<name>/): its driver, how
// the local provider runs it (a launch recipe with named fields), its fault hooks and its version
// probe. A package exposes one function returning its SystemPackage; systems/registry.cpp lists
// them, one line each. Nothing here knows about providers' internals: a recipe describes what to
// start, the local provider (infra) places it on a host, starts it, waits and cleans up.
//
// Adding a system: docs/drivers.md ("Adding a system").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "drivers/driver.h"

namespace dec::systems {

// What a recipe may ask of the machine, injected so recipes stay testable without one.
struct RecipeContext {
  std::string tools_dir;   // tools/ of the installation (kinesalite, the Kafka jars)
  std::string dec_binary;  // the running dec, for services dec itself hosts (the Kafka mock)
  std::function<bool(const std::string& path)> path_exists;
  std::function<std::vector<std::string>(const std::string& dir)> list_dir;
};

// One node to start, as the local provider placed it.
struct LaunchInput {
  std::string listen_host;  // the address to listen on: the host's own IP, or 127.0.0.1
  int port = 0;             // the client port
  int control_port = 0;     // the second port, for recipes that have one (Kafka's controller)
  std::string dir;          // the node's own data dir (exists, empty on first start)
  core::Settings server;    // deploy.server
  int nodes = 1;
  int node = 0;                          // this node's index
  std::vector<std::string> node_hosts;   // every node's listen address, by node index
  std::optional<uint64_t> memory_bytes;  // the host's memory limit, if any
  std::string cluster_seed;              // stable per run: what a cluster id is derived from
  std::string user;                      // the user the node runs as ("" = dec's own)
  const RecipeContext* context = nullptr;
};

// What to start for one node.
struct Launch {
  std::vector<std::string> argv;  // argv[0] looked up in PATH; dec's tags are added to its env
  std::map<std::string, std::string> environment;  // added to the inherited environment
  // Files written into the node's dir before the start (config files), by name relative to it.
  std::map<std::string, std::string> files;
  // The user the product switches to by itself (rabbitmq-server does): the dir is chowned to it.
  std::string dir_owner;
  // What serves the node when deploy.server decides it (kinesalite with or without the quota
  // proxy); "" = the recipe's probe_label / label.
  std::string label;
};

// What a fault hook gets: the fault and the node's recorded outputs (ports, side files' values).
struct FaultInput {
  core::Fault fault;
  int nodes = 1;           // nodes in the system
  core::Settings outputs;  // the service's recorded outputs ("property.<name>" etc.)
};

// Why a deploy.server key is refused: the broker runs on dec's machine (as root under `dec
// serve`), so a setting that names a host path, loads code or makes the broker connect out
// would reach beyond the node's own run directory and its own nodes.
enum class HostReach { kPath, kCode, kNetwork };

// A deploy.server key (or keys: `*` matches any run of characters) a spec may not set.
struct ForbiddenServerKey {
  std::string pattern;
  HostReach reach = HostReach::kPath;
};

// True when `key` matches `pattern` (`*` = any run of characters, case-insensitive).
bool server_key_matches(const std::string& pattern, const std::string& key);
// The first entry of `forbidden` matching `key`, or nullptr.
const ForbiddenServerKey* find_forbidden_server_key(
    const std::vector<ForbiddenServerKey>& forbidden, const std::string& key);
// What a spec is told about a refused key ("names a host path; dec keeps ... — remove it").
std::string forbidden_server_key_message(HostReach reach);

// How the local provider runs a system (or one variant of it, e.g. the Kafka mock cluster).
struct LocalRecipe {
  std::string program;    // what the process is called in messages and discovery
  std::string label;      // what the results name when probe_label says nothing better
  bool emulated = false;  // a stand-in speaking the product's protocol, not the product
  // Node layout: nodes > 1 run inside the one process (mock brokers), or as one process each.
  bool nodes_in_one_process = false;
  bool sharded_nodes = false;
  // Nodes > 1 need a host each (they address one another at fixed ports on their own IPs).
  bool nodes_need_hosts = false;
  bool own_network = true;               // can listen on a host's address (not loopback-only)
  int default_port = 0;                  // client port inside a host of its own
  int default_control_port = 0;          // second port inside a host of its own; 0 = none
  std::vector<std::string> server_keys;  // allowed deploy.server keys; empty = passed through
  // deploy.server keys refused at planning, before anything exists: the product's settings that
  // name host paths, load code or connect to other hosts. One list per product, in its package.
  std::vector<ForbiddenServerKey> forbidden_server_keys;
  // Checks deploy.server's values at planning, before anything exists; errors name
  // deploy.server.<key>. Empty function = values are the product's to judge.
  std::function<Status(const core::Settings& server)> check_server;
  // Checked at planning, before anything exists: "" when installed, else the fix ("run
  // scripts/setup"). Empty function = nothing to check beyond `program` being startable.
  std::function<Status(const RecipeContext&)> installed;
  std::function<Result<Launch>(const LaunchInput&)> launch;
  // Readiness: the node is ready once this file (in its dir) exists and holds its comma-separated
  // addresses; "" = once its client port accepts connections and `ready_probe` (if any) says so.
  std::string ready_file;
  // Side files the ready file comes with (<ready_file>.<suffix>, written first), recorded as the
  // endpoint property named here (suffix "control" -> "kafka_mock_control"); unlisted suffixes
  // become properties of their own name.
  std::map<std::string, std::string> side_properties;
  // Extra readiness check after the port is open ("" = ready, else what is still missing), e.g.
  // an admin command answering. Called every few hundred milliseconds until start_timeout.
  std::function<std::string(const LaunchInput&)> ready_probe;
  std::chrono::seconds start_timeout{20};
  // The label of what actually runs, with the installed version when it can be probed; "" =
  // `label`.
  std::function<std::string(const RecipeContext&)> probe_label;
  // Faults the product needs to handle itself (the mock cluster's broker down/up): nullopt =
  // the provider's generic handling (SIGKILL the node's process, freeze its cgroup, take its
  // link down, shape its bandwidth).
  std::function<std::optional<Status>(const FaultInput&)> fault;
  // Programs the node starts that outlive it unless stopped (rabbitmq's epmd): they carry dec's
  // tags in their environment, so stopping "every process tagged with this node" covers them;
  // listed here for messages and for tests that check nothing is left.
  std::vector<std::string> companions;
};

struct SystemPackage {
  drivers::DriverInfo driver;
  // How the local provider runs it: the default recipe, and named variants chosen with
  // deploy.settings.<driver> (kafka: mock). Empty = no local deployment (use endpoints).
  std::optional<LocalRecipe> local;
  std::map<std::string, LocalRecipe> local_variants;
  std::string default_variant_name;  // what deploy.settings.<driver> calls the default ("apache")
};

}  // namespace dec::systems
