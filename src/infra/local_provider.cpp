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
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "drivers/driver.h"
#include "drivers/kafka_mock.h"
#include "infra/linux_host.h"

namespace dec::infra {
namespace {

namespace lh = linux_host;

constexpr const char* kLoopback = "127.0.0.1";
constexpr auto kStartTimeout = std::chrono::seconds(20);
// One /24 per run inside 198.18.0.0/15 (RFC 2544 benchmarking space): 512 runs at once.
constexpr int kSubnets = 512;
constexpr const char* kSubnetLock = "/run/lock/dec-subnets.lock";
constexpr const char* kBenchmarkBlock = "198.18.0.0/15";

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

struct LaunchInput {
  std::string listen_host;
  int port = 0;
  int control_port = 0;  // a second port, for services that have one (Kafka's controller)
  std::string dir;
  Settings server;  // deploy.server
  int nodes = 1;
  int node = 0;                          // this node's index
  std::vector<std::string> node_hosts;   // every node's listen address, by node index
  std::optional<uint64_t> memory_bytes;  // the host's memory limit, if any
  std::string cluster_seed;              // stable per run: what a cluster id is derived from
  const ProviderContext* context = nullptr;
};

// How to run one system locally. Adding a system means adding an entry here.
struct LocalService {
  std::string program;
  bool emulated = false;  // a stand-in speaking the product's protocol, not the product
  std::string label;
  bool nodes_in_one_process = false;     // nodes > 1 run inside the one process (mock brokers)
  bool sharded_nodes = false;            // nodes > 1 run as independent processes
  bool own_network = true;               // can listen on a host's address (not loopback-only)
  int default_port = 0;                  // port inside a host of its own
  std::vector<std::string> server_keys;  // allowed deploy.server keys; empty = passed through
  std::function<Result<std::vector<std::string>>(const LaunchInput&)> command;
  // When set, the service is ready once this file (in its data dir) exists, and the file holds
  // its comma-separated addresses; otherwise it is ready when its port accepts connections.
  std::string ready_file;
  int default_control_port = 0;  // a second port inside a host of its own; 0 = none
  // Nodes > 1 need a host each (they address one another at fixed ports on their own IPs).
  bool nodes_need_hosts = false;
  std::chrono::seconds start_timeout = kStartTimeout;
  // The label of what actually runs (e.g. with the version installed), when it can be probed;
  // empty result = `label`.
  std::function<std::string(const ProviderContext&)> probe_label;
};

Result<std::vector<std::string>> redis_command(const LaunchInput& in) {
  std::vector<std::string> argv = {"redis-server", "--port",       std::to_string(in.port),
                                   "--bind",       in.listen_host, "--dir",
                                   in.dir,         "--save",       "",
                                   "--appendonly", "no",           "--protected-mode",
                                   "no",           "--daemonize",  "no"};
  for (const auto& [key, value] : in.server) {
    argv.push_back("--" + key);
    argv.push_back(value);
  }
  return argv;
}

// librdkafka's mock cluster, hosted by `dec kafka-mock` so it is a separate, killable process.
Result<std::vector<std::string>> kafka_mock_command(const LaunchInput& in) {
  if (in.context->dec_binary.empty()) return make_error("cannot locate the dec binary");
  return std::vector<std::string>{
      in.context->dec_binary,   "kafka-mock",       "--brokers",
      std::to_string(in.nodes), "--bootstrap-file", in.dir + "/bootstrap"};
}

std::string kafka_lib_dir(const ProviderContext& context) {
  return context.tools_dir + "/kafka/lib";
}

Status kafka_installed(const ProviderContext& context) {
  if (context.env->path_exists(kafka_lib_dir(context))) return Status::Ok();
  return make_error("Apache Kafka is not installed (tools/kafka/lib missing): run scripts/setup");
}

// The broker's version, from its jar's name (kafka_2.13-4.1.1.jar): what the results name.
std::string apache_kafka_label(const ProviderContext& context) {
  const std::string prefix = "kafka_2.13-";
  const std::string suffix = ".jar";
  for (const auto& name : context.env->list_dir(kafka_lib_dir(context))) {
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string version = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (version.find_first_not_of("0123456789.") != std::string::npos) continue;  // -test etc.
    return "Apache Kafka " + version + " (KRaft)";
  }
  return "";
}

// A KRaft cluster id: 16 bytes as 22 characters of unpadded base64url. Derived from the run so
// every node of a cluster (each formatted on its own) agrees on it without talking.
std::string kafka_cluster_id(const std::string& seed) {
  uint64_t halves[2] = {fnv1a(seed + "|cluster-id|0"), fnv1a(seed + "|cluster-id|1")};
  unsigned char bytes[16];
  for (int i = 0; i < 16; ++i)
    bytes[i] = static_cast<unsigned char>(halves[i / 8] >> (8 * (i % 8)));
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int bits = 0;
  uint32_t buffer = 0;
  for (unsigned char byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
  return out;  // 128 bits = 21 full characters + 2 bits
}

// JVM heap: half of the host's memory (the rest is page cache and the JVM's own memory, and a
// heap as large as the cgroup gets the broker OOM-killed), at least 256 MiB; 512 MiB unlimited.
uint64_t kafka_heap_mib(const std::optional<uint64_t>& memory_bytes) {
  if (!memory_bytes) return 512;
  return std::max<uint64_t>(256, (*memory_bytes >> 20) / 2);
}

// Apache Kafka in KRaft mode: every node is a combined broker + controller, and the controllers
// form a static quorum. Each node formats its own log dir and then starts the broker; both steps
// run under one shell that execs the broker, so the recorded pid is the broker's JVM.
Result<std::vector<std::string>> apache_kafka_command(const LaunchInput& in) {
  const ProviderContext& context = *in.context;
  if (Status s = kafka_installed(context); !s) return make_error(s.error());
  const int replicas = std::min(3, in.nodes);
  const int isr = std::min(2, in.nodes);
  std::string voters;
  for (size_t i = 0; i < in.node_hosts.size(); ++i) {
    voters += (i ? "," : "") + std::to_string(i + 1) + "@" + in.node_hosts[i] + ":" +
              std::to_string(in.control_port);
  }
  const std::string broker = in.listen_host + ":" + std::to_string(in.port);
  const std::string controller = in.listen_host + ":" + std::to_string(in.control_port);
  std::map<std::string, std::string> properties = {
      {"process.roles", "broker,controller"},
      {"node.id", std::to_string(in.node + 1)},
      {"controller.quorum.voters", voters},
      {"listeners", "PLAINTEXT://" + broker + ",CONTROLLER://" + controller},
      {"advertised.listeners", "PLAINTEXT://" + broker},
      {"controller.listener.names", "CONTROLLER"},
      {"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"},
      {"inter.broker.listener.name", "PLAINTEXT"},
      {"log.dirs", in.dir + "/data"},
      {"offsets.topic.replication.factor", std::to_string(replicas)},
      {"transaction.state.log.replication.factor", std::to_string(replicas)},
      {"transaction.state.log.min.isr", std::to_string(isr)},
      {"share.coordinator.state.topic.replication.factor", std::to_string(replicas)},
      {"share.coordinator.state.topic.min.isr", std::to_string(isr)},
      // dec waits for its consumers' assignments itself; the default 3 s only delays them.
      {"group.initial.rebalance.delay.ms", "0"},
  };
  for (const auto& [key, value] : in.server) {
    if (key.find_first_of("\n\r=:") != std::string::npos ||
        value.find_first_of("\n\r") != std::string::npos) {
      return make_error("deploy.server." + key +
                        ": a Kafka server setting is one line key=value; remove the line break");
    }
    properties[key] = value;  // deploy.server wins over dec's defaults
  }
  std::string server_properties = "# Written by dec for this node; deploy.server adds keys.\n";
  for (const auto& [key, value] : properties) server_properties += key + "=" + value + "\n";
  // Warnings and errors only: the process's output is the service log.
  const std::string log4j =
      "status = error\n"
      "appender.console.type = Console\n"
      "appender.console.name = STDOUT\n"
      "appender.console.layout.type = PatternLayout\n"
      "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
      "rootLogger.level = WARN\n"
      "rootLogger.appenderRef.stdout.ref = STDOUT\n";
  const std::string properties_path = in.dir + "/server.properties";
  const std::string log4j_path = in.dir + "/log4j2.properties";
  if (Status s = context.env->write_file_atomic(properties_path, server_properties); !s) {
    return make_error(s.error());
  }
  if (Status s = context.env->write_file_atomic(log4j_path, log4j); !s) {
    return make_error(s.error());
  }

  // Paths travel as positional parameters, never spliced into the script: no quoting to get
  // wrong. --ignore-formatted: a node re-created over its old data dir keeps its data.
  const char* script =
      "java -Xmx\"$5\" -cp \"$1\" -Dlog4j2.configurationFile=\"$2\" kafka.tools.StorageTool "
      "format --ignore-formatted -t \"$3\" -c \"$4\" && "
      "exec java -Xmx\"$5\" -Xms\"$5\" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
      "-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent "
      "-Djava.awt.headless=true -cp \"$1\" -Dlog4j2.configurationFile=\"$2\" kafka.Kafka \"$4\"";
  return std::vector<std::string>{"/bin/sh",
                                  "-c",
                                  script,
                                  "kafka-node",
                                  kafka_lib_dir(context) + "/*",
                                  log4j_path,
                                  kafka_cluster_id(in.cluster_seed),
                                  properties_path,
                                  std::to_string(kafka_heap_mib(in.memory_bytes)) + "m"};
}

Result<std::vector<std::string>> kinesalite_command(const LaunchInput& in) {
  std::string module = in.context->tools_dir + "/node_modules/kinesalite/index.js";
  if (!in.context->env->path_exists(module)) {
    return make_error("kinesalite is not installed (" + module + " missing): run scripts/setup");
  }
  auto limit = in.server.find("shard_limit");
  // kinesalite's cli.js listens on every interface; started through its module it listens on
  // the given address only. In-memory store (no path): the on-disk store needs a native module.
  const char* script =
      "require(process.argv[1])({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,"
      "shardLimit:Number(process.argv[3])}).listen(Number(process.argv[2]),process.argv[4])";
  return std::vector<std::string>{"node",
                                  "-e",
                                  script,
                                  module,
                                  std::to_string(in.port),
                                  limit == in.server.end() ? "1000" : limit->second,
                                  in.listen_host};
}

// Keyed by driver, or by driver + variant where a system has several (kafka-mock).
const LocalService* local_service(const std::string& key) {
  // Built field by field: a designated initializer would have to name every field.
  static const std::map<std::string, LocalService> services = [] {
    std::map<std::string, LocalService> all;
    LocalService& redis = all["redis"];
    redis.program = "redis-server";
    redis.label = "redis-server";
    redis.sharded_nodes = true;
    redis.default_port = 6379;
    redis.command = redis_command;

    LocalService& kafka = all["kafka"];
    kafka.program = "java";
    kafka.label = "Apache Kafka (KRaft)";
    kafka.sharded_nodes = true;
    kafka.default_port = 9092;
    kafka.default_control_port = 9093;
    kafka.nodes_need_hosts = true;
    kafka.command = apache_kafka_command;
    // Several JVMs starting at once on a small machine take far longer than 20 s.
    kafka.start_timeout = std::chrono::seconds(90);
    kafka.probe_label = apache_kafka_label;

    LocalService& mock = all["kafka-mock"];
    mock.program = "kafka-mock";
    mock.emulated = true;
    mock.label = "librdkafka mock cluster";
    mock.nodes_in_one_process = true;
    mock.own_network = false;
    mock.server_keys = {"none"};
    mock.command = kafka_mock_command;
    mock.ready_file = "bootstrap";

    LocalService& kinesis = all["kinesis"];
    kinesis.program = "kinesalite";
    kinesis.emulated = true;
    kinesis.label = "kinesalite";
    kinesis.default_port = 4567;
    kinesis.server_keys = {"shard_limit"};
    kinesis.command = kinesalite_command;
    return all;
  }();
  auto it = services.find(key);
  return it == services.end() ? nullptr : &it->second;
}

// Which local service runs a system: its driver, and for Kafka deploy.settings.kafka.
Result<std::string> local_service_key(const core::System& system) {
  auto variant = system.deploy.settings.find("kafka");
  if (system.driver != "kafka") {
    if (variant != system.deploy.settings.end()) {
      return make_error("deploy.settings.kafka: only for driver: kafka; remove it");
    }
    return system.driver;
  }
  const std::string mode = variant == system.deploy.settings.end() ? "apache" : variant->second;
  if (mode == "apache") return std::string("kafka");
  if (mode == "mock") return std::string("kafka-mock");
  return make_error("deploy.settings.kafka: \"" + mode +
                    "\" is not one of apache (a real Apache Kafka cluster, the default), mock "
                    "(librdkafka's mock cluster)");
}

std::string tail_of_file(Env& env, const std::string& path, size_t max_bytes = 600) {
  auto text = env.read_file(path);
  if (!text) return "";
  std::string s = *text;
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
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
Result<bool> hosts_wanted(const core::Deploy& deploy) {
  std::string mode = get(deploy.settings, "hosts", "auto");
  bool available = lh::is_root() && lh::cgroup_version() != lh::CgroupVersion::kNone;
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

std::string LocalProvider::resource_dir(const std::string& run_id,
                                        const std::string& address) const {
  return context_.data_dir + "/runs/" + run_id + "/" + slug(address);
}

std::string LocalProvider::netns_name(const std::string& run_id, const std::string& address) const {
  return "dec-" + context_.installation + "~" + run_id + "~" + address;
}

std::string LocalProvider::bridge_name(const std::string& run_id) const {
  return "dec" + hex(fnv1a(context_.installation + "|" + run_id), 11);
}

std::string LocalProvider::veth_name(const std::string& run_id, const std::string& address) const {
  return "dv" + hex(fnv1a(context_.installation + "|" + run_id + "|" + address), 12);
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
  const LocalService* service = local_service(*service_key);
  if (service == nullptr) {
    return make_error("driver \"" + system.driver +
                      "\" has no local deployment yet; use deploy.provider: endpoints");
  }
  const core::Deploy& deploy = system.deploy;
  if (deploy.nodes != 1 && !service->nodes_in_one_process && !service->sharded_nodes) {
    return make_error("deploy.nodes: the local provider runs " + system.driver +
                      " as a single node; set nodes: 1");
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
  for (const auto& [key, value] : deploy.settings) {
    if (key != "hosts" && key != "kafka") {
      return make_error("deploy.settings." + key +
                        ": the local provider takes only `hosts` (auto, true, false) and, for "
                        "Kafka, `kafka` (apache, mock); put broker options in deploy.server");
    }
  }
  auto hosts = hosts_wanted(deploy);
  if (!hosts) return make_error(hosts.error());
  if (deploy.nodes > 1 && service->nodes_need_hosts && !*hosts) {
    return make_error("deploy.nodes: several " +
                      (system.driver == "kafka" ? std::string("Apache Kafka") : service->label) +
                      " nodes need a host each (run as root with deploy.settings.hosts: auto)" +
                      (system.driver == "kafka" ? " or use deploy.settings.kafka: mock" : ""));
  }
  if (*service_key == "kafka") {
    // Before anything is provisioned: the fix is a setup step, not a retry.
    if (Status s = kafka_installed(context_); !s) return make_error(s.error());
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
    out.push_back(std::move(topic));
  }
  if (request.workers) {
    std::string host = "host." + sys + ".worker";
    Resource worker{"worker." + sys + ".0", "worker", {}, {}};
    if (*hosts) {
      Resource h{host, "host", {}, on_network};
      h.attributes["role"] = "worker";
      h.attributes["network"] = service->own_network ? "own" : "loopback";
      h.attributes["ip_suffix"] = "200";
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
  ::mkdir("/run/lock", 01777);  // absent on minimal systems; EEXIST otherwise
  int fd = ::open(kSubnetLock, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(std::string("cannot open ") + kSubnetLock);
  ::flock(fd, LOCK_EX);
  std::set<int> used;
  const std::string bridge = bridge_name(state.run_id);
  int mine = -1;
  for (const auto& link : lh::list_links()) {
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
    created = lh::create_bridge(spec);
    // Nothing addressed to 198.18.0.0/15 may leave the machine, even after a bridge is gone
    // (a late connection would otherwise follow the default route): an unreachable route for
    // the whole block, which each bridge's own /24 overrides.
    if (created) {
      auto route = lh::run_command({"ip", "route", "replace", "unreachable", kBenchmarkBlock});
      if (!route) created = make_error(route.error());
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
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
    if (Status s = lh::create_host_net(spec); !s) return s;
    record.outputs["ip"] = ip;
    record.outputs["veth"] = spec.veth_outer;
    if (r.attributes.count("bandwidth")) {
      uint64_t bits = std::stoull(r.attributes.at("bandwidth"));
      // Both directions: into the host on the bridge side, out of it inside the namespace.
      if (Status s = lh::set_bandwidth("", spec.veth_outer, bits); !s) return s;
      if (Status s = lh::set_bandwidth(netns, "eth0", bits); !s) return s;
    }
  } else {
    record.outputs.erase("netns");  // shares the machine's loopback (see LocalService)
    record.outputs["ip"] = kLoopback;
  }
  lh::CgroupLimits limits;
  if (r.attributes.count("cpus")) limits.cpus = std::stod(r.attributes.at("cpus"));
  if (r.attributes.count("memory")) limits.memory_bytes = std::stoull(r.attributes.at("memory"));
  return lh::create_cgroup(cgroup_path(state.run_id, r.address), limits);
}

Status LocalProvider::create_process(ResourceRecord& record, const RunState& state,
                                     const std::function<Status()>& save) {
  Env& env = *context_.env;
  const Resource& resource = record.resource;
  const bool is_worker = resource.type == "worker";
  const LocalService* service = nullptr;
  if (!is_worker) {
    service =
        local_service(get(resource.attributes, "service", get(resource.attributes, "driver")));
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
    spawn.cgroup_procs = lh::cgroup_join_files(cgroup_path(state.run_id, host_address));
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
  if (is_worker) {
    if (context_.dec_binary.empty()) return make_error("cannot locate the dec binary");
    spawn.argv = {context_.dec_binary, "worker",       "--listen",
                  listen + ":0",       "--ready-file", dir + "/" + ready_name};
  } else {
    LaunchInput input;
    input.listen_host = listen;
    input.port = port;
    input.control_port = control_port;
    input.dir = dir;
    input.server = server;
    input.nodes =
        std::stoi(get(resource.attributes, "nodes", get(resource.attributes, "cluster_size", "1")));
    input.node = std::stoi(get(resource.attributes, "node", "0"));
    input.cluster_seed = context_.installation + "|" + state.run_id;
    input.context = &context_;
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
    auto argv = service->command(input);
    if (!argv) return make_error(argv.error());
    spawn.argv = *argv;
  }
  spawn.environment = {{"DEC_INSTALLATION", context_.installation},
                       {"DEC_RUN", state.run_id},
                       {"DEC_RESOURCE", resource.address}};
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
  while (true) {
    if (!env.process_alive(*pid)) {
      return make_error(program + " for " + resource.address +
                        " exited during start-up: " + tail_of_file(env, record.outputs["log"]) +
                        " (log: " + record.outputs["log"] + ")");
    }
    if (ready_name.empty()) {
      if (env.tcp_port_open(listen, port)) break;
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
        record.outputs["property." + (key == "control" ? std::string("kafka_mock_control") : key)] =
            trimmed(*side);
      }
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error(program + " for " + resource.address + " was not ready within " +
                        std::to_string(timeout.count()) + " s (log: " + record.outputs["log"] +
                        ")");
    }
    env.sleep_for(std::chrono::milliseconds(10));
  }
  if (!is_worker) {
    std::string probed = service->probe_label ? service->probe_label(context_) : "";
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
  for (const auto& record : state.resources) {
    if (record.resource.type == "service") services.push_back(&record);
    if (record.resource.type == "worker" && record.status == "created") {
      endpoint.workers.push_back(get(record.outputs, "address"));
    }
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
                                                        const std::string& driver_name) {
  auto endpoint = services_endpoint(state);
  if (!endpoint) return make_error(endpoint.error());
  const drivers::DriverInfo* info = drivers::find_driver(driver_name);
  if (info == nullptr) return make_error("unknown driver " + driver_name);
  auto driver = info->create();
  if (Status s = driver->connect({endpoint->addresses, endpoint->properties}, {}); !s) {
    return make_error(s.error());
  }
  return driver;
}
}  // namespace

Status LocalProvider::create_topic(ResourceRecord& record, const RunState& state) {
  const Settings& a = record.resource.attributes;
  auto driver = connect_driver(state, get(a, "driver"));
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
  if (Status s = lh::set_cgroup_limits(cgroup_path(state.run_id, address), limits); !s) return s;
  if (get(record.resource.attributes, "network") == "own") {
    uint64_t bits = std::stoull(get(desired.attributes, "bandwidth", "0"));
    if (Status s = lh::set_bandwidth("", veth_name(state.run_id, address), bits); !s) return s;
    if (Status s = lh::set_bandwidth(netns_name(state.run_id, address), "eth0", bits); !s) {
      return s;
    }
  }
  return Status::Ok();
}

// ---- destroy ----------------------------------------------------------------------------------

Status LocalProvider::destroy(const ResourceRecord& record, const RunState& state) {
  const std::string& type = record.resource.type;
  // Test hook: a destroy step that fails, to prove the record is kept and retried.
  if (const char* fail = std::getenv("DEC_TEST_FAIL_DESTROY");
      fail != nullptr && record.resource.address == fail) {
    return make_error("injected failure (DEC_TEST_FAIL_DESTROY)");
  }
  if (type == "network") return destroy_network(state);
  if (type == "host") return destroy_host(record, state);
  if (type == "topic") return destroy_topic(record, state);
  return destroy_process(record, state);  // service, worker, and anything unknown with a pid
}

namespace {
// The last dec bridge on the machine takes the block's unreachable route with it.
Status remove_block_route_if_unused() {
  ::mkdir("/run/lock", 01777);  // absent on minimal systems; EEXIST otherwise
  int fd = ::open(kSubnetLock, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(std::string("cannot open ") + kSubnetLock);
  ::flock(fd, LOCK_EX);
  bool others = false;
  for (const auto& link : lh::list_links()) {
    others |= link.kind == "bridge" && link.alias.rfind("dec|", 0) == 0;
  }
  Status result = Status::Ok();
  if (!others) {
    auto routes = lh::run_command({"ip", "route", "show", "type", "unreachable", kBenchmarkBlock});
    if (routes && !routes->empty()) {
      auto removed = lh::run_command({"ip", "route", "del", "unreachable", kBenchmarkBlock});
      if (!removed) result = make_error(removed.error());
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return result;
}
}  // namespace

Status LocalProvider::destroy_network(const RunState& state) {
  Status deleted = lh::delete_link(bridge_name(state.run_id));
  if (!deleted) return deleted;
  return remove_block_route_if_unused();
}

Status LocalProvider::destroy_host(const ResourceRecord& record, const RunState& state) {
  const std::string& address = record.resource.address;
  std::string errors;
  auto note = [&](const Status& s) {
    if (!s) errors += (errors.empty() ? "" : "; ") + s.error();
  };
  // Whatever still runs inside goes first (delete_cgroup kills its members; a namespace is
  // kept alive by its processes).
  note(lh::delete_cgroup(cgroup_path(state.run_id, address)));
  const std::string netns = netns_name(state.run_id, address);
  for (pid_t pid : lh::netns_pids(netns)) {
    note(context_.env->stop_process(ProcessId{pid, process_start_ticks(pid)},
                                    std::chrono::seconds(2)));
  }
  note(lh::delete_netns(netns));
  note(lh::delete_link(veth_name(state.run_id, address)));
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
    if (lh::cgroup_exists(cgroup)) (void)lh::freeze_cgroup(cgroup, false);
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
  if (type == "network") return lh::link_exists(get(record.outputs, "bridge"));
  if (type == "host") {
    std::string netns = get(record.outputs, "netns");
    if (!netns.empty() && !lh::netns_exists(netns)) return false;
    std::string cgroup = get(record.outputs, "cgroup");
    return cgroup.empty() || lh::cgroup_exists(cgroup);
  }
  if (type == "topic") return true;  // lives and dies with its brokers
  return context_.env->process_alive(recorded_process(record.outputs));
}

Settings LocalProvider::observe(const ResourceRecord& record) {
  Settings found;
  if (record.resource.type != "host" || record.status != "created") return found;
  const Settings& a = record.resource.attributes;
  auto limits = lh::cgroup_limits(get(record.outputs, "cgroup"));
  if (limits) {
    std::string cpus = limits->cpus ? format_cpus(*limits->cpus) : "";
    if (cpus != get(a, "cpus")) found["cpus"] = cpus;
    std::string memory = limits->memory_bytes ? std::to_string(*limits->memory_bytes) : "";
    if (memory != get(a, "memory")) found["memory"] = memory;
  }
  std::string veth = get(record.outputs, "veth");
  if (!veth.empty()) {
    auto bits = lh::bandwidth("", veth);
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
  for (const auto& run_id : lh::list_cgroups(cgroup_root)) {
    for (const auto& address : lh::list_cgroups(cgroup_root + "/" + run_id)) {
      DiscoveredResource d;
      d.run_id = run_id;
      d.address = address;
      d.type = "host";
      d.description = "cgroup " + cgroup_root + "/" + run_id + "/" + address;
      d.outputs["kind"] = "cgroup";
      d.outputs["cgroup"] = cgroup_root + "/" + run_id + "/" + address;
      found.push_back(std::move(d));
    }
    if (lh::list_cgroups(cgroup_root + "/" + run_id).empty()) {
      DiscoveredResource d;
      d.run_id = run_id;
      d.description = "cgroup " + cgroup_root + "/" + run_id;
      d.outputs["kind"] = "cgroup";
      d.outputs["cgroup"] = cgroup_root + "/" + run_id;
      found.push_back(std::move(d));
    }
  }
  const std::string netns_prefix = "dec-" + context_.installation + "~";
  for (const auto& netns : lh::list_netns()) {
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
  for (const auto& link : lh::list_links()) {
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
  if (kind == "cgroup") return lh::delete_cgroup(resource.outputs.at("cgroup"));
  if (kind == "netns") {
    const std::string& netns = resource.outputs.at("netns");
    for (pid_t pid : lh::netns_pids(netns)) {
      (void)env.stop_process(ProcessId{pid, process_start_ticks(pid)}, std::chrono::seconds(2));
    }
    return lh::delete_netns(netns);
  }
  if (kind == "link") {
    Status deleted = lh::delete_link(resource.outputs.at("link"));
    if (!deleted || resource.type != "network") return deleted;
    return remove_block_route_if_unused();
  }
  if (kind == "directory") return env.remove_tree(resource.outputs.at("path"));
  return make_error("unknown discovered resource kind " + kind);
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
  const bool mock_cluster = a.count("nodes") > 0;  // the kafka mock: brokers in one process
  const ResourceRecord* host = find_record(state, get(a, "host"));
  const ProcessId pid = recorded_process(service->outputs);
  const std::string& action = fault.action;

  if (mock_cluster) {
    int brokers = std::stoi(get(a, "nodes", "1"));
    if (fault.target >= brokers) {
      return make_error("node " + node + " does not exist (" + std::to_string(brokers) +
                        " brokers)");
    }
    if (action == "disconnect" || action == "reconnect") {
      std::string control = get(service->outputs, "property.kafka_mock_control");
      auto reply = drivers::kafka_mock_request(
          control,
          std::string(action == "disconnect" ? "broker-down " : "broker-up ") +
              std::to_string(fault.target + 1),
          std::chrono::seconds(2));
      if (!reply) return make_error(reply.error());
      return Status::Ok();
    }
    if (action != "pause" && action != "resume") {
      return make_error(action +
                        " is not possible on the librdkafka mock cluster: its brokers share one "
                        "process on loopback; use disconnect/reconnect (broker down/up) or "
                        "pause/resume (the whole cluster)");
    }
  }
  if (action == "kill") {
    if (!pid.valid() || !context_.env->process_alive(pid)) {
      return make_error(service->resource.address + " is not running");
    }
    ::kill(pid.pid, SIGKILL);
    return context_.env->stop_process(pid, std::chrono::milliseconds(0));  // reaps it
  }
  if (action == "pause" || action == "resume") {
    const bool frozen = action == "pause";
    if (host != nullptr) {
      return lh::freeze_cgroup(cgroup_path(state.run_id, host->resource.address), frozen);
    }
    if (!pid.valid()) return make_error(service->resource.address + " has no process");
    if (::kill(pid.pid, frozen ? SIGSTOP : SIGCONT) != 0) {
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
    return lh::set_link_up(veth, action == "reconnect");
  }
  if (action == "throttle") {
    uint64_t bits = fault.bandwidth.value_or(0);
    if (Status s = lh::set_bandwidth("", veth, bits); !s) return s;
    return lh::set_bandwidth(get(host->outputs, "netns"), "eth0", bits);
  }
  return make_error("unknown fault action " + action);
}

}  // namespace dec::infra
