#include "infra/local_provider.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/hash.h"
#include "core/host_user.h"
#include "core/secret.h"
#include "core/units.h"
#include "drivers/driver.h"
#include "infra/linux_host.h"
#include "systems/registry.h"

namespace dec::infra {
namespace {

namespace lh = linux_host;

constexpr const char* kLoopback = "127.0.0.1";
constexpr auto kStartTimeout = std::chrono::seconds(20);
// One /24 per run inside 198.18.0.0/15 (RFC 2544 benchmarking space): 512 runs at once.
constexpr int kSubnets = 512;
constexpr const char* kSubnetLock = "/run/lock/dec-subnets.lock";
constexpr const char* kBenchmarkBlock = "198.18.0.0/15";

using core::fnv1a;
using core::kFnv1aNamesBasis;
using systems::LocalRecipe;

// The recipe a service key names: a driver ("kafka") runs its package's default recipe; a driver
// and a variant ("kafka-mock", chosen with deploy.settings.kafka: mock) runs that variant.
const LocalRecipe* local_recipe(const std::string& key) {
  for (const systems::SystemPackage& package : systems::all_systems()) {
    const std::string& driver = package.driver.name;
    if (key == driver) return package.local ? &*package.local : nullptr;
    if (key.rfind(driver + "-", 0) == 0) {
      auto variant = package.local_variants.find(key.substr(driver.size() + 1));
      if (variant != package.local_variants.end()) return &variant->second;
    }
  }
  return nullptr;
}

// Which local recipe runs a system: its driver's, or the variant deploy.settings.<driver> names.
Result<std::string> local_service_key(const core::System& system) {
  for (const auto& [key, value] : system.deploy.settings) {
    if (key == "hosts" || key == system.driver) continue;
    const systems::SystemPackage* other = systems::find_system(key);
    if (other != nullptr && !other->local_variants.empty()) {
      return make_error("deploy.settings." + key + ": only for driver: " + key + "; remove it");
    }
  }
  auto variant = system.deploy.settings.find(system.driver);
  if (variant == system.deploy.settings.end()) return system.driver;
  const systems::SystemPackage* package = systems::find_system(system.driver);
  if (package == nullptr || package->local_variants.empty()) return system.driver;
  const std::string& mode = variant->second;
  if (mode == package->default_variant_name) return system.driver;
  if (package->local_variants.count(mode)) return system.driver + "-" + mode;
  std::string valid = package->default_variant_name + " (the default)";
  for (const auto& [name, recipe] : package->local_variants) {
    valid += ", " + name + " (" + recipe.label + ")";
  }
  return make_error("deploy.settings." + system.driver + ": \"" + mode + "\" is not one of " +
                    valid);
}

// What recipes may ask of the machine, through the provider's Env.
systems::RecipeContext recipe_context(const ProviderContext& context) {
  systems::RecipeContext out;
  out.tools_dir = context.tools_dir;
  out.dec_binary = context.dec_binary;
  Env* env = context.env;
  out.path_exists = [env](const std::string& path) { return env->path_exists(path); };
  out.list_dir = [env](const std::string& dir) { return env->list_dir(dir); };
  return out;
}

// The last `count` lines of `text`, indented under an error message.
std::string last_lines(const std::string& text, size_t count) {
  size_t start = text.size();
  while (start > 0 && (text[start - 1] == '\n' || text[start - 1] == ' ')) --start;
  const size_t end = start;
  for (size_t lines = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && ++lines == count) break;
  }
  while (start < end && text[start] == '\n') ++start;  // blank lines before the tail
  std::string out;
  size_t pos = start;
  while (pos < end) {
    size_t newline = std::min(text.find('\n', pos), end);
    out += "\n    " + text.substr(pos, newline - pos);
    pos = newline + 1;
  }
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string slug(const std::string& address) {
  std::string out = address;
  for (char& c : out) {
    if (c == '/' || c == ' ') c = '_';
  }
  return out;
}

std::string hex(uint64_t value, int digits) {
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << value;
  return out.str().substr(16 - digits);
}

std::string format_cpus(double cpus) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", cpus);
  return buf;
}

std::string get(const Settings& settings, const std::string& key,
                const std::string& fallback = "") {
  auto it = settings.find(key);
  return it == settings.end() ? fallback : it->second;
}

ProcessId recorded_process(const Settings& outputs) {
  ProcessId id;
  auto pid = outputs.find("pid");
  auto ticks = outputs.find("start_ticks");
  if (pid != outputs.end()) id.pid = std::stoi(pid->second);
  if (ticks != outputs.end()) id.start_ticks = std::stoull(ticks->second);
  return id;
}

const ResourceRecord* find_record(const RunState& state, const std::string& address) {
  for (const auto& record : state.resources) {
    if (record.resource.address == address) return &record;
  }
  return nullptr;
}

std::string subnet_prefix(int subnet) {
  // 198.18.0.0/15 = 198.18.0.0 .. 198.19.255.255
  return "198." + std::to_string(18 + subnet / 256) + "." + std::to_string(subnet % 256) + ".";
}

// Whether hosts (namespaces + cgroups) are used for a system, from deploy.settings.hosts.
Result<bool> hosts_wanted(Env& env, const core::Deploy& deploy) {
  std::string mode = get(deploy.settings, "hosts", "auto");
  bool available = env.hosts_supported();
  bool limits = deploy.cpus || deploy.memory || deploy.bandwidth;
  if (mode == "false") {
    if (limits) {
      return make_error(
          "deploy.cpus/memory/bandwidth: limits are applied to hosts; remove "
          "deploy.settings.hosts: false or the limits");
    }
    return false;
  }
  if (mode != "auto" && mode != "true") {
    return make_error("deploy.settings.hosts: \"" + mode + "\" is not one of auto, true, false");
  }
  if (!available && (mode == "true" || limits)) {
    return make_error(
        std::string(limits ? "deploy.cpus/memory/bandwidth" : "deploy.settings.hosts") +
        ": hosts with limits need root (network namespaces, cgroups, tc); run dec "
        "as root or remove them");
  }
  return available;
}

}  // namespace

std::string LocalProvider::start_failure(const ResourceRecord& record, const RunState& state,
                                         const std::string& what) const {
  Env& env = *context_.env;
  constexpr size_t kLogLines = 20;
  const std::string log_path = get(record.outputs, "log");
  const auto read = env.read_file(log_path);
  const std::string log = read ? *read : std::string();
  // Teardown deletes the run's directory: the log is kept with the experiment.
  const std::string kept_dir = context_.data_dir + "/logs/" +
                               (state.experiment_id.empty() ? state.run_id : state.experiment_id);
  const std::string kept =
      kept_dir + "/" + state.run_id + "-" + slug(record.resource.address) + ".log";
  const bool copied = env.make_dirs(kept_dir).ok() && env.write_file_atomic(kept, log).ok();
  std::string reason = what;
  // A process killed for its memory limit often says nothing itself.
  const std::string host_address = get(record.resource.attributes, "host");
  if (const ResourceRecord* host = find_record(state, host_address)) {
    auto usage = context_.env->cgroup_usage(cgroup_path(state.run_id, host_address));
    if (usage && usage->oom_kills.value_or(0) > 0) {
      const std::string memory = get(host->resource.attributes, "memory");
      reason += ": killed by the kernel for lack of memory (host " + host_address + " has " +
                (memory.empty() ? "no limit" : core::format_size(std::stoull(memory))) +
                "; raise deploy.memory)";
    }
  }
  const std::string where =
      "(log: " + (copied ? kept : log_path + ", not kept: cannot write " + kept) + ")";
  if (trimmed(log).empty()) return reason + "; its log is empty " + where;
  return reason + "; last lines of its log:" + last_lines(log, kLogLines) + "\n  " + where;
}

std::string LocalProvider::resource_dir(const std::string& run_id,
                                        const std::string& address) const {
  return context_.data_dir + "/runs/" + run_id + "/" + slug(address);
}

std::string LocalProvider::netns_name(const std::string& run_id, const std::string& address) const {
  return "dec-" + context_.installation + "~" + run_id + "~" + address;
}

std::string LocalProvider::bridge_name(const std::string& run_id) const {
  return "dec" + hex(fnv1a(context_.installation + "|" + run_id, kFnv1aNamesBasis), 11);
}

std::string LocalProvider::veth_name(const std::string& run_id, const std::string& address) const {
  return "dv" +
         hex(fnv1a(context_.installation + "|" + run_id + "|" + address, kFnv1aNamesBasis), 12);
}

std::string LocalProvider::cgroup_path(const std::string& run_id,
                                       const std::string& address) const {
  return "dec/" + context_.installation + "/" + run_id + "/" + address;
}

std::string LocalProvider::link_alias(const std::string& run_id, const std::string& address) const {
  return "dec|" + context_.installation + "|" + run_id + "|" + address;
}

Result<std::vector<Resource>> LocalProvider::resources_for(const core::System& system,
                                                           const DeployRequest& request) {
  auto service_key = local_service_key(system);
  if (!service_key) return make_error(service_key.error());
  const LocalRecipe* service = local_recipe(*service_key);
  if (service == nullptr) {
    return make_error("driver \"" + system.driver +
                      "\" has no local deployment yet; use deploy.provider: endpoints");
  }
  const core::Deploy& deploy = system.deploy;
  if (deploy.nodes != 1 && !service->nodes_in_one_process && !service->sharded_nodes) {
    return make_error("deploy.nodes: the local provider runs " + system.driver +
                      " as a single node; set nodes: 1");
  }
  for (const auto& [key, value] : deploy.server) {
    if (const auto* forbidden =
            systems::find_forbidden_server_key(service->forbidden_server_keys, key)) {
      return make_error("deploy.server." + key + ": " +
                        systems::forbidden_server_key_message(forbidden->reach));
    }
  }
  if (!service->server_keys.empty()) {
    for (const auto& [key, value] : deploy.server) {
      if (std::find(service->server_keys.begin(), service->server_keys.end(), key) ==
          service->server_keys.end()) {
        std::string valid;
        for (const auto& k : service->server_keys) {
          if (k != "none") valid += (valid.empty() ? "" : ", ") + k;
        }
        return make_error("deploy.server." + key + ": " + service->label + " takes " +
                          (valid.empty() ? std::string("no server settings")
                                         : "only these server settings: " + valid));
      }
    }
  }
  if (service->check_server) {
    if (Status s = service->check_server(deploy.server); !s) return make_error(s.error());
  }
  for (const auto& [key, value] : deploy.settings) {
    if (key != "hosts" && key != "worker_cpus" && key != system.driver) {
      return make_error("deploy.settings." + key +
                        ": the local provider takes only `hosts` (auto, true, false), "
                        "`worker_cpus` (the load agent's CPU limit) and, for systems with "
                        "variants, the driver's name (kafka: apache or mock); put broker options "
                        "in deploy.server");
    }
  }
  auto hosts = hosts_wanted(*context_.env, deploy);
  if (!hosts) return make_error(hosts.error());
  std::optional<double> worker_cpus;
  if (auto limit = deploy.settings.find("worker_cpus"); limit != deploy.settings.end()) {
    char* end = nullptr;
    const double cpus = std::strtod(limit->second.c_str(), &end);
    if (end == limit->second.c_str() || *end != '\0' || !(cpus >= 0.01 && cpus <= 1024)) {
      return make_error(
          "deploy.settings.worker_cpus: expected a number of cores from 0.01 to "
          "1024, got \"" +
          limit->second + "\"");
    }
    if (!*hosts) {
      return make_error(
          "deploy.settings.worker_cpus: the load agent needs a host of its own to be "
          "limited (run as root, deploy.settings.hosts: auto)");
    }
    worker_cpus = cpus;
  }
  if (deploy.nodes > 1 && service->nodes_need_hosts && !*hosts) {
    std::string alternative;
    if (const systems::SystemPackage* package = systems::find_system(system.driver)) {
      for (const auto& [name, variant] : package->local_variants) {
        if (!variant.nodes_need_hosts) {
          alternative = " or use deploy.settings." + system.driver + ": " + name;
        }
      }
    }
    return make_error("deploy.nodes: several " + service->label +
                      " nodes need a host each (run as root with deploy.settings.hosts: auto)" +
                      alternative);
  }
  if (service->installed) {
    // Before anything is provisioned: the fix is a setup step, not a retry.
    if (Status s = service->installed(recipe_context(context_)); !s) return make_error(s.error());
  }
  if (deploy.bandwidth && !service->own_network) {
    return make_error("deploy.bandwidth: the " + service->label +
                      " listens on 127.0.0.1 only, so its traffic cannot be shaped; remove "
                      "bandwidth");
  }

  const std::string& sys = system.name;
  std::vector<Resource> out;
  const std::string network = "network." + sys;
  // A bridge only for services that can listen on a host's own address (not the mock cluster).
  const bool own_network = *hosts && service->own_network;
  const std::vector<std::string> on_network =
      own_network ? std::vector<std::string>{network} : std::vector<std::string>{};
  if (own_network) out.push_back(Resource{network, "network", {}, {}});
  int processes = service->nodes_in_one_process ? 1 : deploy.nodes;
  std::vector<std::string> services;
  for (int i = 0; i < processes; ++i) {
    std::string host = "host." + sys + "." + std::to_string(i);
    if (*hosts) {
      Resource h{host, "host", {}, on_network};
      h.attributes["role"] = "broker";
      h.attributes["network"] = service->own_network ? "own" : "loopback";
      h.attributes["ip_suffix"] = std::to_string(10 + i);
      if (deploy.cpus) {
        // The mock cluster's brokers share one process: its host gets every node's share.
        double cpus = *deploy.cpus * (service->nodes_in_one_process ? deploy.nodes : 1);
        h.attributes["cpus"] = format_cpus(cpus);
      }
      if (deploy.memory) {
        uint64_t memory = *deploy.memory * (service->nodes_in_one_process ? deploy.nodes : 1);
        h.attributes["memory"] = std::to_string(memory);
      }
      if (deploy.bandwidth) h.attributes["bandwidth"] = std::to_string(*deploy.bandwidth);
      out.push_back(std::move(h));
    }
    Resource r{"service." + sys + "." + std::to_string(i), "service", {}, {}};
    if (*hosts) r.depends_on.push_back(host);
    r.attributes["driver"] = system.driver;
    if (*service_key != system.driver) r.attributes["service"] = *service_key;
    r.attributes["program"] = service->program;
    r.attributes["host"] = *hosts ? host : kLoopback;
    r.attributes["node"] = std::to_string(i);
    if (service->nodes_in_one_process) r.attributes["nodes"] = std::to_string(deploy.nodes);
    if (service->nodes_need_hosts) {
      // Peers address one another: each node learns the others' hosts from the run's state.
      r.attributes["cluster_size"] = std::to_string(deploy.nodes);
    }
    for (const auto& [key, value] : deploy.server) r.attributes["server." + key] = value;
    services.push_back(r.address);
    out.push_back(std::move(r));
  }
  for (size_t t = 0; t < request.topics.size(); ++t) {
    Resource topic{"topic." + sys + "." + std::to_string(t), "topic", {}, services};
    topic.attributes["name"] = request.topics[t];
    topic.attributes["partitions"] = std::to_string(request.partitions);
    topic.attributes["driver"] = system.driver;
    add_topic_config(system, topic.attributes);
    out.push_back(std::move(topic));
  }
  // Agent 0 keeps the single agent's names (host.S.worker, worker.S.0); agent i > 0 runs on
  // host.S.worker.<i>.
  for (int i = 0; request.workers && i < request.worker_count; ++i) {
    const std::string index = std::to_string(i);
    std::string host = "host." + sys + ".worker" + (i == 0 ? "" : "." + index);
    Resource worker{"worker." + sys + "." + index, "worker", {}, {}};
    if (*hosts) {
      Resource h{host, "host", {}, on_network};
      h.attributes["role"] = "worker";
      h.attributes["network"] = service->own_network ? "own" : "loopback";
      h.attributes["ip_suffix"] = std::to_string(200 + i);
      if (worker_cpus) h.attributes["cpus"] = format_cpus(*worker_cpus);
      out.push_back(std::move(h));
      worker.depends_on.push_back(host);
    }
    worker.attributes["host"] = *hosts ? host : kLoopback;
    out.push_back(std::move(worker));
  }
  return out;
}

// ---- create -----------------------------------------------------------------------------------

Status LocalProvider::create(ResourceRecord& record, const RunState& state,
                             const std::function<Status()>& save) {
  const std::string& type = record.resource.type;
  if (type == "network") return create_network(record, state);
  if (type == "host") {
    // Names first: a crash mid-way leaves a record that says where to look.
    record.outputs["netns"] = netns_name(state.run_id, record.resource.address);
    record.outputs["cgroup"] = cgroup_path(state.run_id, record.resource.address);
    if (Status s = save(); !s) return s;
    return create_host(record, state);
  }
  if (type == "service" || type == "worker") return create_process(record, state, save);
  if (type == "topic") return create_topic(record, state);
  return make_error("unknown resource type " + type);
}

Status LocalProvider::create_network(ResourceRecord& record, const RunState& state) {
  // Subnets are shared by every dec on this machine: pick one under a machine-wide lock, from
  // the bridges that exist now (their aliases carry the subnet).
  auto lock = context_.env->lock_file(kSubnetLock);
  if (!lock) return make_error(lock.error());
  std::set<int> used;
  const std::string bridge = bridge_name(state.run_id);
  int mine = -1;
  for (const auto& link : context_.env->list_links()) {
    if (link.alias.rfind("dec|", 0) != 0) continue;
    auto bar = link.alias.rfind("|subnet=");
    if (bar == std::string::npos) continue;
    int subnet = std::atoi(link.alias.c_str() + bar + 8);
    used.insert(subnet);
    if (link.name == bridge) mine = subnet;  // re-apply after a crash: keep its subnet
  }
  int subnet = mine;
  for (int candidate = 0; subnet < 0 && candidate < kSubnets; ++candidate) {
    if (!used.count(candidate)) subnet = candidate;
  }
  Status created = Status::Ok();
  if (subnet < 0) {
    created = make_error("all 512 subnets of 198.18.0.0/15 are in use by other dec runs");
  } else {
    lh::BridgeSpec spec;
    spec.name = bridge;
    spec.address_cidr = subnet_prefix(subnet) + "1/24";
    spec.alias =
        link_alias(state.run_id, record.resource.address) + "|subnet=" + std::to_string(subnet);
    created = context_.env->create_bridge(spec);
    // Nothing addressed to 198.18.0.0/15 may leave the machine, even after a bridge is gone
    // (a late connection would otherwise follow the default route): an unreachable route for
    // the whole block, which each bridge's own /24 overrides.
    if (created) {
      auto route =
          context_.env->run_command({"ip", "route", "replace", "unreachable", kBenchmarkBlock});
      if (!route) created = make_error(route.error());
    }
  }
  lock->reset();
  if (!created) return created;
  record.outputs["bridge"] = bridge;
  record.outputs["subnet"] = subnet_prefix(subnet) + "0/24";
  record.outputs["gateway"] = subnet_prefix(subnet) + "1";
  return Status::Ok();
}

Status LocalProvider::create_host(ResourceRecord& record, const RunState& state) {
  const Resource& r = record.resource;
  const std::string netns = netns_name(state.run_id, r.address);
  if (get(r.attributes, "network") == "own") {
    const ResourceRecord* network = nullptr;
    for (const auto& dep : r.depends_on) {
      if (const ResourceRecord* d = find_record(state, dep); d && d->resource.type == "network") {
        network = d;
      }
    }
    if (network == nullptr || !network->outputs.count("gateway")) {
      return make_error("host " + r.address + " needs its network created first");
    }
    std::string gateway = network->outputs.at("gateway");
    std::string ip = gateway.substr(0, gateway.rfind('.') + 1) + get(r.attributes, "ip_suffix");
    lh::HostNetSpec spec;
    spec.netns = netns;
    spec.bridge = network->outputs.at("bridge");
    spec.veth_outer = veth_name(state.run_id, r.address);
    spec.address_cidr = ip + "/24";
    spec.gateway = gateway;
    spec.alias = link_alias(state.run_id, r.address);
    if (Status s = context_.env->create_host_net(spec); !s) return s;
    record.outputs["ip"] = ip;
    record.outputs["veth"] = spec.veth_outer;
    if (r.attributes.count("bandwidth")) {
      uint64_t bits = std::stoull(r.attributes.at("bandwidth"));
      // Both directions: into the host on the bridge side, out of it inside the namespace.
      if (Status s = context_.env->set_bandwidth("", spec.veth_outer, bits); !s) return s;
      if (Status s = context_.env->set_bandwidth(netns, "eth0", bits); !s) return s;
    }
  } else {
    record.outputs.erase("netns");  // shares the machine's loopback (see LocalService)
    record.outputs["ip"] = kLoopback;
  }
  lh::CgroupLimits limits;
  if (r.attributes.count("cpus")) limits.cpus = std::stod(r.attributes.at("cpus"));
  if (r.attributes.count("memory")) limits.memory_bytes = std::stoull(r.attributes.at("memory"));
  return context_.env->create_cgroup(cgroup_path(state.run_id, r.address), limits);
}

Status LocalProvider::create_process(ResourceRecord& record, const RunState& state,
                                     const std::function<Status()>& save) {
  Env& env = *context_.env;
  const Resource& resource = record.resource;
  const bool is_worker = resource.type == "worker";
  const LocalRecipe* service = nullptr;
  if (!is_worker) {
    service = local_recipe(get(resource.attributes, "service", get(resource.attributes, "driver")));
    if (service == nullptr) return make_error("no local service for " + resource.address);
  }
  // Where it runs: a host of the run (namespace + cgroup) or the machine's loopback.
  const std::string host_address = get(resource.attributes, "host", kLoopback);
  const ResourceRecord* host = find_record(state, host_address);
  std::string listen = kLoopback;
  SpawnOptions spawn;
  if (host != nullptr) {
    listen = get(host->outputs, "ip", kLoopback);
    spawn.netns = get(host->outputs, "netns");
    spawn.cgroup_procs = context_.env->cgroup_join_files(cgroup_path(state.run_id, host_address));
  }
  const bool own_port = host != nullptr && !spawn.netns.empty();

  Settings server;
  for (const auto& [key, value] : resource.attributes) {
    if (key.rfind("server.", 0) == 0) server[key.substr(7)] = value;
  }
  int port = 0;
  int control_port = 0;
  if (!is_worker && service->ready_file.empty()) {
    if (own_port) {
      port = service->default_port;  // a machine of its own: the product's usual port
      control_port = service->default_control_port;
    } else {
      auto free = env.free_tcp_port(kLoopback);
      if (!free) return make_error(free.error());
      port = *free;
      while (service->default_control_port != 0 && (control_port == 0 || control_port == port)) {
        auto second = env.free_tcp_port(kLoopback);
        if (!second) return make_error(second.error());
        control_port = *second;
      }
    }
  }
  std::string dir = resource_dir(state.run_id, resource.address);
  record.outputs["data_dir"] = dir;
  record.outputs["log"] = dir + "/" + (is_worker ? "worker.log" : "service.log");
  if (port != 0) {
    record.outputs["port"] = std::to_string(port);
    record.outputs["address"] = listen + ":" + std::to_string(port);
  }
  if (control_port != 0) record.outputs["control_port"] = std::to_string(control_port);
  // Recorded before anything exists, so a crash from here on leaves a trace to clean.
  if (Status s = save(); !s) return s;
  if (Status s = env.make_dirs(dir); !s) return s;

  const std::string ready_name = is_worker ? "ready" : service->ready_file;
  const systems::RecipeContext recipe_context_value = recipe_context(context_);
  systems::LaunchInput launch_input;
  std::string launch_label;
  if (is_worker) {
    if (context_.dec_binary.empty()) return make_error("cannot locate the dec binary");
    // A token of its own, in a file only its owner reads: the agent accepts work only with it.
    auto token = core::new_secret_token();
    if (!token) return make_error(token.error());
    const std::string token_file = dir + "/token";
    if (Status s = env.write_private_file(token_file, *token); !s) return s;
    record.outputs["token_file"] = token_file;
    // It may drive load only at the run's own network (or loopback, without hosts).
    const std::string allowed =
        listen == kLoopback ? "127.0.0.0/8" : listen.substr(0, listen.rfind('.')) + ".0/24";
    spawn.argv = {
        context_.dec_binary,    "worker",       "--listen", listen + ":0",    "--ready-file",
        dir + "/" + ready_name, "--token-file", token_file, "--allow-target", allowed};
  } else {
    systems::LaunchInput input;
    input.listen_host = listen;
    input.port = port;
    input.control_port = control_port;
    input.dir = dir;
    input.server = server;
    input.nodes =
        std::stoi(get(resource.attributes, "nodes", get(resource.attributes, "cluster_size", "1")));
    input.node = std::stoi(get(resource.attributes, "node", "0"));
    input.cluster_seed = context_.installation + "|" + state.run_id;
    input.user = context_.broker_user.empty() ? core::current_user_name() : context_.broker_user;
    input.context = &recipe_context_value;
    if (host != nullptr && host->resource.attributes.count("memory")) {
      input.memory_bytes = std::stoull(host->resource.attributes.at("memory"));
    }
    if (resource.attributes.count("cluster_size")) {
      // Peers' hosts exist before any service is created (services depend on their host), so
      // their addresses are in the state already.
      const std::string prefix = host_address.substr(0, host_address.rfind('.') + 1);
      for (int j = 0; j < input.nodes; ++j) {
        if (host == nullptr) {
          input.node_hosts.push_back(listen);  // one node on loopback (checked at planning)
          continue;
        }
        const ResourceRecord* peer = find_record(state, prefix + std::to_string(j));
        if (peer == nullptr || get(peer->outputs, "ip").empty()) {
          return make_error(resource.address + " needs the address of " + prefix +
                            std::to_string(j) + ", which is not created yet");
        }
        input.node_hosts.push_back(get(peer->outputs, "ip"));
      }
    }
    auto launch = service->launch(input);
    if (!launch) return make_error(launch.error());
    for (const auto& [name, content] : launch->files) {
      if (Status s = env.write_file_atomic(dir + "/" + name, content); !s) return s;
    }
    // The broker runs unprivileged: as the user its recipe switches to itself (RabbitMQ), or
    // as the context's broker user; either way it owns its dir and nothing else of dec's.
    const std::string owner = !launch->dir_owner.empty() ? launch->dir_owner : context_.broker_user;
    if (!owner.empty()) {
      if (Status s = env.chown_tree(dir, owner); !s) return s;
    }
    if (launch->dir_owner.empty()) spawn.user = context_.broker_user;
    spawn.inherit_environment = false;
    spawn.argv = launch->argv;
    spawn.environment = launch->environment;
    launch_label = launch->label;
    launch_input = std::move(input);
  }
  spawn.environment["DEC_INSTALLATION"] = context_.installation;
  spawn.environment["DEC_RUN"] = state.run_id;
  spawn.environment["DEC_RESOURCE"] = resource.address;
  spawn.working_dir = dir;
  spawn.log_path = record.outputs["log"];
  auto pid = env.spawn(spawn);
  if (!pid) return make_error(pid.error());
  record.outputs["pid"] = std::to_string(pid->pid);
  record.outputs["start_ticks"] = std::to_string(pid->start_ticks);
  if (Status s = save(); !s) return s;

  const std::string program = is_worker ? "dec worker" : service->program;
  const auto timeout = is_worker ? kStartTimeout : service->start_timeout;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto next_probe = std::chrono::steady_clock::now();
  std::string not_ready;  // what the recipe's readiness probe last said was missing
  while (true) {
    if (!env.process_alive(*pid)) {
      return make_error(start_failure(
          record, state, program + " for " + resource.address + " exited during start-up"));
    }
    if (ready_name.empty()) {
      if (env.tcp_port_open(listen, port)) {
        if (service == nullptr || !service->ready_probe) break;
        if (std::chrono::steady_clock::now() >= next_probe) {
          not_ready = service->ready_probe(launch_input);
          if (not_ready.empty()) break;
          next_probe = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
        }
      }
    } else if (auto addresses = env.read_file(dir + "/" + ready_name);
               addresses && !trimmed(*addresses).empty()) {
      record.outputs["address"] = trimmed(*addresses);
      // Side files next to the ready file (e.g. the kafka mock's control port), written first.
      for (const auto& name : env.list_dir(dir)) {
        if (name.rfind(ready_name + ".", 0) != 0 || name.find(".tmp") != std::string::npos)
          continue;
        auto side = env.read_file(dir + "/" + name);
        if (!side) continue;
        std::string key = name.substr(ready_name.size() + 1);
        if (auto renamed = service->side_properties.find(key);
            renamed != service->side_properties.end()) {
          key = renamed->second;
        }
        record.outputs["property." + key] = trimmed(*side);
      }
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error(
          start_failure(record, state,
                        program + " for " + resource.address + " was not ready within " +
                            std::to_string(timeout.count()) + " s" +
                            (not_ready.empty() ? std::string() : " (" + not_ready + ")")));
    }
    env.sleep_for(std::chrono::milliseconds(10));
  }
  if (!is_worker) {
    std::string probed = !launch_label.empty()  ? launch_label
                         : service->probe_label ? service->probe_label(recipe_context_value)
                                                : "";
    record.outputs["label"] = probed.empty() ? service->label : probed;
    if (service->emulated) record.outputs["emulated"] = "true";
  }
  return Status::Ok();
}

namespace {
// The system's endpoint as the services recorded in `state` describe it.
Result<ServiceEndpoint> services_endpoint(const RunState& state) {
  ServiceEndpoint endpoint;
  std::vector<const ResourceRecord*> services;
  std::vector<const ResourceRecord*> workers;
  for (const auto& record : state.resources) {
    if (record.resource.type == "service") services.push_back(&record);
    if (record.resource.type == "worker" && record.status == "created") workers.push_back(&record);
  }
  // Agent order (worker.S.0, worker.S.1, ...), whatever order they were created in.
  const auto agent_index = [](const ResourceRecord* r) {
    const std::string& address = r->resource.address;
    return std::atoi(address.c_str() + address.rfind('.') + 1);
  };
  std::sort(workers.begin(), workers.end(),
            [&](const auto* a, const auto* b) { return agent_index(a) < agent_index(b); });
  for (const auto* record : workers) {
    endpoint.workers.push_back(get(record->outputs, "address"));
    endpoint.worker_names.push_back(record->resource.address);
    endpoint.worker_token_files.push_back(get(record->outputs, "token_file"));
  }
  // Node order, whatever order they were created in (apply runs them side by side).
  std::sort(services.begin(), services.end(), [](const auto* a, const auto* b) {
    return std::stoi(get(a->resource.attributes, "node", "0")) <
           std::stoi(get(b->resource.attributes, "node", "0"));
  });
  for (const auto* record : services) {
    if (record->status != "created") {
      return make_error(record->resource.address + " is not created (status " + record->status +
                        ")");
    }
    // "address" may hold several comma-separated addresses (one per mock broker).
    const std::string list = get(record->outputs, "address");
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      if (comma > start) endpoint.addresses.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    endpoint.emulated = endpoint.emulated || record->outputs.count("emulated") > 0;
    for (const auto& [key, value] : record->outputs) {
      if (key.rfind("property.", 0) == 0) endpoint.properties[key.substr(9)] = value;
    }
    endpoint.label = get(record->outputs, "label");
  }
  if (endpoint.addresses.empty()) return make_error("run " + state.run_id + " has no service");
  if (endpoint.emulated) endpoint.properties["emulated"] = "true";
  return endpoint;
}

Result<std::unique_ptr<drivers::Driver>> connect_driver(const RunState& state,
                                                        const std::string& driver_name,
                                                        const Settings& config = {}) {
  auto endpoint = services_endpoint(state);
  if (!endpoint) return make_error(endpoint.error());
  const drivers::DriverInfo* info = systems::find_driver(driver_name);
  if (info == nullptr) return make_error("unknown driver " + driver_name);
  auto driver = info->create();
  if (Status s = driver->connect({endpoint->addresses, endpoint->properties}, config); !s) {
    return make_error(s.error());
  }
  return driver;
}
}  // namespace

Status LocalProvider::create_topic(ResourceRecord& record, const RunState& state) {
  const Settings& a = record.resource.attributes;
  auto driver = connect_driver(state, get(a, "driver"), topic_config(a));
  if (!driver) return make_error(driver.error());
  return (*driver)->create_topic(get(a, "name"), std::stoi(get(a, "partitions", "1")));
}

// ---- update -----------------------------------------------------------------------------------

Status LocalProvider::update(ResourceRecord& record, const Resource& desired, const RunState& state,
                             const std::function<Status()>& save) {
  (void)save;
  if (record.resource.type != "host") {
    return make_error(record.resource.type + " resources cannot change in place");
  }
  const std::string& address = record.resource.address;
  lh::CgroupLimits limits;
  if (desired.attributes.count("cpus")) limits.cpus = std::stod(desired.attributes.at("cpus"));
  if (desired.attributes.count("memory")) {
    limits.memory_bytes = std::stoull(desired.attributes.at("memory"));
  }
  if (Status s = context_.env->set_cgroup_limits(cgroup_path(state.run_id, address), limits); !s)
    return s;
  if (get(record.resource.attributes, "network") == "own") {
    uint64_t bits = std::stoull(get(desired.attributes, "bandwidth", "0"));
    if (Status s = context_.env->set_bandwidth("", veth_name(state.run_id, address), bits); !s)
      return s;
    if (Status s = context_.env->set_bandwidth(netns_name(state.run_id, address), "eth0", bits);
        !s) {
      return s;
    }
  }
  return Status::Ok();
}

// ---- destroy ----------------------------------------------------------------------------------

Status LocalProvider::destroy(const ResourceRecord& record, const RunState& state) {
  const std::string& type = record.resource.type;
  if (type == "network") return destroy_network(state);
  if (type == "host") return destroy_host(record, state);
  if (type == "topic") return destroy_topic(record, state);
  return destroy_process(record, state);  // service, worker, and anything unknown with a pid
}

namespace {
// The last dec bridge on the machine takes the block's unreachable route with it.
Status remove_block_route_if_unused(Env& env) {
  auto lock = env.lock_file(kSubnetLock);
  if (!lock) return make_error(lock.error());
  bool others = false;
  for (const auto& link : env.list_links()) {
    others |= link.kind == "bridge" && link.alias.rfind("dec|", 0) == 0;
  }
  Status result = Status::Ok();
  if (!others) {
    auto routes = env.run_command({"ip", "route", "show", "type", "unreachable", kBenchmarkBlock});
    // Not knowing whether the route is there is not "it is not there": destroy must retry.
    if (!routes) return make_error(routes.error());
    if (!routes->empty()) {
      auto removed = env.run_command({"ip", "route", "del", "unreachable", kBenchmarkBlock});
      if (!removed) result = make_error(removed.error());
    }
  }
  return result;
}
}  // namespace

Status LocalProvider::destroy_network(const RunState& state) {
  Status deleted = context_.env->delete_link(bridge_name(state.run_id));
  if (!deleted) return deleted;
  return remove_block_route_if_unused(*context_.env);
}

Status LocalProvider::destroy_host(const ResourceRecord& record, const RunState& state) {
  const std::string& address = record.resource.address;
  std::string errors;
  auto note = [&](const Status& s) {
    if (!s) errors += (errors.empty() ? "" : "; ") + s.error();
  };
  // Whatever still runs inside goes first (delete_cgroup kills its members; a namespace is
  // kept alive by its processes).
  note(context_.env->delete_cgroup(cgroup_path(state.run_id, address)));
  const std::string netns = netns_name(state.run_id, address);
  for (pid_t pid : context_.env->netns_pids(netns)) {
    note(context_.env->stop_process(context_.env->process_id(pid), std::chrono::seconds(2)));
  }
  note(context_.env->delete_netns(netns));
  note(context_.env->delete_link(veth_name(state.run_id, address)));
  if (!errors.empty()) return make_error(errors);
  return Status::Ok();
}

Status LocalProvider::destroy_process(const ResourceRecord& record, const RunState& state) {
  Env& env = *context_.env;
  std::string errors;
  // A frozen process ignores even SIGKILL (a `pause` fault left unresumed): thaw its host.
  const std::string host = get(record.resource.attributes, "host");
  if (host.rfind("host.", 0) == 0) {
    const std::string cgroup = cgroup_path(state.run_id, host);
    if (context_.env->cgroup_exists(cgroup)) (void)context_.env->freeze_cgroup(cgroup, false);
  }
  ProcessId id = recorded_process(record.outputs);
  if (id.valid()) {
    if (Status s = env.stop_process(id, std::chrono::seconds(5)); !s) errors += s.error() + "; ";
  }
  // A process spawned but not yet recorded (crash between spawn and save) is found by its tags.
  for (const auto& process : env.processes()) {
    auto owner = owner_of(process);
    if (!owner || owner->first != state.run_id || owner->second != record.resource.address)
      continue;
    if (Status s = env.stop_process(process.id, std::chrono::seconds(5)); !s) {
      errors += s.error() + "; ";
    }
  }
  std::string dir = resource_dir(state.run_id, record.resource.address);
  if (Status s = env.remove_tree(dir); !s) errors += s.error() + "; ";
  std::string run_dir = context_.data_dir + "/runs/" + state.run_id;
  if (env.path_exists(run_dir) && env.list_dir(run_dir).empty()) (void)env.remove_tree(run_dir);
  if (!errors.empty()) return make_error(errors.substr(0, errors.size() - 2));
  return Status::Ok();
}

Status LocalProvider::destroy_topic(const ResourceRecord& record, const RunState& state) {
  // The topic lives in the run's own brokers: if they are gone, so is the topic.
  for (const auto& r : state.resources) {
    if (r.resource.type != "service") continue;
    if (r.status != "created" && r.status != "deleting") return Status::Ok();
    if (!context_.env->process_alive(recorded_process(r.outputs))) return Status::Ok();
  }
  RunState live = state;
  for (auto& r : live.resources) {
    if (r.resource.type == "service") r.status = "created";
  }
  auto driver = connect_driver(live, get(record.resource.attributes, "driver"));
  if (!driver) return Status::Ok();  // unreachable brokers are destroyed next
  (void)(*driver)->delete_topic(get(record.resource.attributes, "name"));
  return Status::Ok();
}

// ---- refresh ----------------------------------------------------------------------------------

bool LocalProvider::exists(const ResourceRecord& record) {
  const std::string& type = record.resource.type;
  if (type == "network") return context_.env->link_exists(get(record.outputs, "bridge"));
  if (type == "host") {
    std::string netns = get(record.outputs, "netns");
    if (!netns.empty() && !context_.env->netns_exists(netns)) return false;
    std::string cgroup = get(record.outputs, "cgroup");
    return cgroup.empty() || context_.env->cgroup_exists(cgroup);
  }
  if (type == "topic") return true;  // lives and dies with its brokers
  return context_.env->process_alive(recorded_process(record.outputs));
}

Settings LocalProvider::observe(const ResourceRecord& record) {
  Settings found;
  if (record.resource.type != "host" || record.status != "created") return found;
  const Settings& a = record.resource.attributes;
  auto limits = context_.env->cgroup_limits(get(record.outputs, "cgroup"));
  if (limits) {
    std::string cpus = limits->cpus ? format_cpus(*limits->cpus) : "";
    if (cpus != get(a, "cpus")) found["cpus"] = cpus;
    std::string memory = limits->memory_bytes ? std::to_string(*limits->memory_bytes) : "";
    if (memory != get(a, "memory")) found["memory"] = memory;
  }
  std::string veth = get(record.outputs, "veth");
  if (!veth.empty()) {
    auto bits = context_.env->bandwidth("", veth);
    if (bits) {
      uint64_t want = std::stoull(get(a, "bandwidth", "0"));
      // tc stores rates in its own units; within 1% is the same setting.
      bool same = want == 0 ? *bits == 0
                            : std::fabs(static_cast<double>(*bits) - static_cast<double>(want)) <=
                                  0.01 * static_cast<double>(want);
      if (!same) found["bandwidth"] = *bits == 0 ? "" : std::to_string(*bits);
    }
  }
  return found;
}

Result<ServiceEndpoint> LocalProvider::endpoint(const RunState& state) {
  auto endpoint = services_endpoint(state);
  if (!endpoint) return endpoint;
  int hosts = 0;
  std::string limits;
  for (const auto& record : state.resources) {
    if (record.resource.type != "host" || get(record.resource.attributes, "role") != "broker")
      continue;
    ++hosts;
    const Settings& a = record.resource.attributes;
    if (limits.empty()) {
      if (a.count("cpus")) limits += ", " + a.at("cpus") + " cpu";
      if (a.count("memory"))
        limits += ", " + std::to_string(std::stoull(a.at("memory")) >> 20) + " MiB";
      if (a.count("bandwidth")) {
        limits += ", " + format_cpus(std::stod(a.at("bandwidth")) / 1e6) + " Mbit/s";
      }
    }
  }
  endpoint->placement = hosts == 0 ? "loopback processes"
                                   : std::to_string(hosts) + (hosts == 1 ? " host" : " hosts") +
                                         (limits.empty() ? "" : " (" + limits.substr(2) + " each)");
  return endpoint;
}

// ---- discovery --------------------------------------------------------------------------------

std::optional<std::pair<std::string, std::string>> LocalProvider::owner_of(
    const ProcessInfo& process) const {
  auto inst = process.dec_tags.find("DEC_INSTALLATION");
  auto run = process.dec_tags.find("DEC_RUN");
  auto res = process.dec_tags.find("DEC_RESOURCE");
  if (inst != process.dec_tags.end() && inst->second == context_.installation &&
      run != process.dec_tags.end()) {
    return std::pair{run->second, res == process.dec_tags.end() ? std::string() : res->second};
  }
  // Started in <data>/runs/<run>/<resource>/: ours even if it rewrote its environment.
  const std::string prefix = context_.data_dir + "/runs/";
  if (process.cwd.rfind(prefix, 0) == 0) {
    std::string rest = process.cwd.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) return std::pair{rest, std::string()};
    std::string address = rest.substr(slash + 1);
    address = address.substr(0, address.find('/'));
    return std::pair{rest.substr(0, slash), address};
  }
  return std::nullopt;
}

std::vector<DiscoveredResource> LocalProvider::discover() {
  Env& env = *context_.env;
  std::vector<DiscoveredResource> found;
  auto type_of = [](const std::string& address) { return address.substr(0, address.find('.')); };
  // In the order orphans must go: processes, then the cgroups and namespaces they lived in,
  // then links, then directories.
  for (const auto& process : env.processes()) {
    auto owner = owner_of(process);
    if (!owner) continue;
    DiscoveredResource d;
    d.run_id = owner->first;
    d.address = owner->second;
    std::string type = type_of(d.address);
    if (type == "service" || type == "worker") d.type = type;
    d.description = "process " + std::to_string(process.id.pid) + " (" + process.command + ")";
    d.outputs["kind"] = "process";
    d.outputs["pid"] = std::to_string(process.id.pid);
    d.outputs["start_ticks"] = std::to_string(process.id.start_ticks);
    found.push_back(std::move(d));
  }
  const std::string cgroup_root = "dec/" + context_.installation;
  for (const auto& run_id : context_.env->list_cgroups(cgroup_root)) {
    for (const auto& address : context_.env->list_cgroups(cgroup_root + "/" + run_id)) {
      DiscoveredResource d;
      d.run_id = run_id;
      d.address = address;
      d.type = "host";
      d.description = "cgroup " + cgroup_root + "/" + run_id + "/" + address;
      d.outputs["kind"] = "cgroup";
      d.outputs["cgroup"] = cgroup_root + "/" + run_id + "/" + address;
      found.push_back(std::move(d));
    }
    if (context_.env->list_cgroups(cgroup_root + "/" + run_id).empty()) {
      DiscoveredResource d;
      d.run_id = run_id;
      d.description = "cgroup " + cgroup_root + "/" + run_id;
      d.outputs["kind"] = "cgroup";
      d.outputs["cgroup"] = cgroup_root + "/" + run_id;
      found.push_back(std::move(d));
    }
  }
  const std::string netns_prefix = "dec-" + context_.installation + "~";
  for (const auto& netns : context_.env->list_netns()) {
    if (netns.rfind(netns_prefix, 0) != 0) continue;
    std::string rest = netns.substr(netns_prefix.size());
    auto tilde = rest.find('~');
    if (tilde == std::string::npos) continue;
    DiscoveredResource d;
    d.run_id = rest.substr(0, tilde);
    d.address = rest.substr(tilde + 1);
    d.type = "host";
    d.description = "network namespace " + netns;
    d.outputs["kind"] = "netns";
    d.outputs["netns"] = netns;
    found.push_back(std::move(d));
  }
  const std::string alias_prefix = "dec|" + context_.installation + "|";
  for (const auto& link : context_.env->list_links()) {
    if (link.alias.rfind(alias_prefix, 0) != 0) continue;
    std::string rest = link.alias.substr(alias_prefix.size());
    auto bar = rest.find('|');
    if (bar == std::string::npos) continue;
    DiscoveredResource d;
    d.run_id = rest.substr(0, bar);
    d.address = rest.substr(bar + 1);
    d.address = d.address.substr(0, d.address.find('|'));
    d.type = type_of(d.address) == "network" ? "network" : "host";
    d.description = link.kind + " " + link.name;
    d.outputs["kind"] = "link";
    d.outputs["link"] = link.name;
    if (d.type == "network") d.outputs["bridge"] = link.name;
    found.push_back(std::move(d));
  }
  std::string runs_dir = context_.data_dir + "/runs";
  for (const auto& run_id : env.list_dir(runs_dir)) {
    DiscoveredResource d;
    d.run_id = run_id;
    d.address = "";
    d.description = "directory " + runs_dir + "/" + run_id;
    d.outputs["kind"] = "directory";
    d.outputs["path"] = runs_dir + "/" + run_id;
    found.push_back(std::move(d));
  }
  return found;
}

Status LocalProvider::destroy_discovered(const DiscoveredResource& resource) {
  Env& env = *context_.env;
  const std::string& kind = resource.outputs.at("kind");
  if (kind == "process") {
    return env.stop_process(recorded_process(resource.outputs), std::chrono::seconds(5));
  }
  if (kind == "cgroup") return context_.env->delete_cgroup(resource.outputs.at("cgroup"));
  if (kind == "netns") {
    const std::string& netns = resource.outputs.at("netns");
    for (pid_t pid : context_.env->netns_pids(netns)) {
      (void)env.stop_process(env.process_id(pid), std::chrono::seconds(2));
    }
    return context_.env->delete_netns(netns);
  }
  if (kind == "link") {
    Status deleted = context_.env->delete_link(resource.outputs.at("link"));
    if (!deleted || resource.type != "network") return deleted;
    return remove_block_route_if_unused(*context_.env);
  }
  if (kind == "directory") return env.remove_tree(resource.outputs.at("path"));
  return make_error("unknown discovered resource kind " + kind);
}

// ---- usage ------------------------------------------------------------------------------------

std::vector<UsageSample> LocalProvider::usage(const RunState& state) {
  std::vector<UsageSample> out;
  std::set<std::string> measured_hosts;
  // A host's cgroup counts every process on it, exited ones included.
  for (const auto& record : state.resources) {
    if (record.resource.type != "host" || record.status != "created") continue;
    const std::string cgroup = get(record.outputs, "cgroup");
    if (cgroup.empty()) continue;
    auto used = context_.env->cgroup_usage(cgroup);
    if (!used) continue;
    UsageSample sample;
    sample.address = record.resource.address;
    sample.role = get(record.resource.attributes, "role") == "worker" ? "load agent" : "broker";
    if (record.resource.attributes.count("cpus")) {
      sample.cpus_limit = std::stod(record.resource.attributes.at("cpus"));
    }
    sample.cpu_ns = used->cpu_ns;
    sample.memory_bytes = used->memory_bytes;
    sample.memory_peak_bytes = used->memory_peak_bytes;
    out.push_back(std::move(sample));
    measured_hosts.insert(record.resource.address);
  }
  // Without a host (loopback): the process itself (a broker's children, e.g. kinesalite under
  // its quota proxy, are not counted).
  for (const auto& record : state.resources) {
    const std::string& type = record.resource.type;
    if ((type != "service" && type != "worker") || record.status != "created") continue;
    if (measured_hosts.count(get(record.resource.attributes, "host"))) continue;
    const ProcessId id = recorded_process(record.outputs);
    if (!id.valid() || !context_.env->process_alive(id)) continue;
    auto used = context_.env->process_usage(id.pid);
    if (!used) continue;
    UsageSample sample;
    sample.address = record.resource.address;
    sample.role = type == "worker" ? "load agent" : "broker";
    sample.cpu_ns = used->cpu_ns;
    sample.memory_bytes = used->memory_bytes;
    sample.memory_peak_bytes = used->memory_peak_bytes;
    out.push_back(std::move(sample));
  }
  return out;
}

// ---- faults -----------------------------------------------------------------------------------

Status LocalProvider::inject_fault(const RunState& state, const core::Fault& fault) {
  const std::string node = std::to_string(fault.target);
  const ResourceRecord* service = nullptr;
  for (const auto& r : state.resources) {
    if (r.resource.type != "service") continue;
    const bool in_process = r.resource.attributes.count("nodes") > 0;
    if (get(r.resource.attributes, "node") == node || in_process) service = &r;
  }
  if (service == nullptr) return make_error("no node " + node + " in run " + state.run_id);
  const Settings& a = service->resource.attributes;
  const ResourceRecord* host = find_record(state, get(a, "host"));
  const ProcessId pid = recorded_process(service->outputs);
  const std::string& action = fault.action;
  const LocalRecipe* recipe = local_recipe(get(a, "service", get(a, "driver")));
  if (recipe != nullptr && recipe->fault) {
    systems::FaultInput input;
    input.fault = fault;
    input.nodes = std::stoi(get(a, "nodes", get(a, "cluster_size", "1")));
    input.outputs = service->outputs;
    if (std::optional<Status> handled = recipe->fault(input)) return *handled;
  }
  if (action == "kill") {
    if (!pid.valid() || !context_.env->process_alive(pid)) {
      return make_error(service->resource.address + " is not running");
    }
    if (Status s = context_.env->signal_process(pid, SIGKILL); !s) return s;
    return context_.env->stop_process(pid, std::chrono::milliseconds(0));  // reaps it
  }
  if (action == "pause" || action == "resume") {
    const bool frozen = action == "pause";
    if (host != nullptr) {
      return context_.env->freeze_cgroup(cgroup_path(state.run_id, host->resource.address), frozen);
    }
    if (!pid.valid()) return make_error(service->resource.address + " has no process");
    if (!context_.env->signal_process(pid, frozen ? SIGSTOP : SIGCONT)) {
      return make_error(service->resource.address + " is not running");
    }
    return Status::Ok();
  }
  if (host == nullptr || get(host->outputs, "veth").empty()) {
    return make_error(action +
                      " needs hosts with a network of their own (run dec as root, and "
                      "not deploy.settings.hosts: false)");
  }
  const std::string veth = get(host->outputs, "veth");
  if (action == "disconnect" || action == "reconnect") {
    return context_.env->set_link_up(veth, action == "reconnect");
  }
  if (action == "throttle") {
    uint64_t bits = fault.bandwidth.value_or(0);
    if (Status s = context_.env->set_bandwidth("", veth, bits); !s) return s;
    return context_.env->set_bandwidth(get(host->outputs, "netns"), "eth0", bits);
  }
  return make_error("unknown fault action " + action);
}

}  // namespace dec::infra
