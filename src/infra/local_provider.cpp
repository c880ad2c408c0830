#include "infra/local_provider.h"

#include <algorithm>
#include <map>
#include <set>

namespace dec::infra {
namespace {

constexpr const char* kLoopback = "127.0.0.1";
constexpr auto kStartTimeout = std::chrono::seconds(20);

struct LaunchInput {
  int port = 0;
  std::string dir;
  Settings server;  // deploy.server
  int nodes = 1;
  const ProviderContext* context = nullptr;
};

// How to run one system locally. Adding a system means adding an entry here.
struct LocalService {
  std::string program;
  bool emulated = false;  // a stand-in speaking the product's protocol, not the product
  std::string label;
  bool multi_node = false;  // nodes > 1 run inside the one process (mock cluster brokers)
  std::vector<std::string> server_keys;  // allowed deploy.server keys; empty = passed through
  std::function<Result<std::vector<std::string>>(const LaunchInput&)> command;
  // When set, the service is ready once this file (in its data dir) exists, and the file holds
  // its comma-separated addresses; otherwise it is ready when its port accepts connections.
  std::string ready_file;
};

Result<std::vector<std::string>> redis_command(const LaunchInput& in) {
  std::vector<std::string> argv = {"redis-server", "--port",      std::to_string(in.port),
                                   "--bind",       kLoopback,     "--dir",
                                   in.dir,         "--save",      "",
                                   "--appendonly", "no",          "--protected-mode",
                                   "no",           "--daemonize", "no"};
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

Result<std::vector<std::string>> kinesalite_command(const LaunchInput& in) {
  std::string module = in.context->tools_dir + "/node_modules/kinesalite/index.js";
  if (!in.context->env->path_exists(module)) {
    return make_error("kinesalite is not installed (" + module + " missing): run scripts/setup");
  }
  auto limit = in.server.find("shard_limit");
  // kinesalite's cli.js listens on every interface; started through its module it listens on
  // loopback only. In-memory store (no path): the on-disk store needs a native module.
  const char* script =
      "require(process.argv[1])({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0,"
      "shardLimit:Number(process.argv[3])}).listen(Number(process.argv[2]),process.argv[4])";
  return std::vector<std::string>{"node",
                                  "-e",
                                  script,
                                  module,
                                  std::to_string(in.port),
                                  limit == in.server.end() ? "1000" : limit->second,
                                  kLoopback};
}

const LocalService* local_service(const std::string& driver) {
  static const std::map<std::string, LocalService> services = {
      {"redis", {"redis-server", false, "redis-server", false, {}, redis_command, ""}},
      {"kafka",
       {"kafka-mock",
        true,
        "librdkafka mock cluster",
        true,
        {"none"},
        kafka_mock_command,
        "bootstrap"}},
      {"kinesis",
       {"kinesalite", true, "kinesalite", false, {"shard_limit"}, kinesalite_command, ""}},
  };
  auto it = services.find(driver);
  return it == services.end() ? nullptr : &it->second;
}

std::string tail_of_file(Env& env, const std::string& path, size_t max_bytes = 600) {
  auto text = env.read_file(path);
  if (!text) return "";
  std::string s = *text;
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
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

}  // namespace

std::string LocalProvider::resource_dir(const std::string& run_id,
                                        const std::string& address) const {
  return context_.data_dir + "/runs/" + run_id + "/" + slug(address);
}

Result<std::vector<Resource>> LocalProvider::resources_for(const core::System& system,
                                                           const std::string& run_id) {
  (void)run_id;
  const LocalService* service = local_service(system.driver);
  if (service == nullptr) {
    return make_error("driver \"" + system.driver +
                      "\" has no local deployment yet; use deploy.provider: endpoints");
  }
  const core::Deploy& deploy = system.deploy;
  if (deploy.nodes != 1 && !service->multi_node) {
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
  if (deploy.cpus || deploy.memory || deploy.bandwidth) {
    return make_error(
        "deploy.cpus/memory/bandwidth: limits need network-namespace hosts, which the local "
        "provider does not create yet; remove them");
  }
  if (!deploy.settings.empty()) {
    return make_error(
        "deploy.settings." + deploy.settings.begin()->first +
        ": the local provider takes no settings; put broker options in deploy.server");
  }
  Resource resource;
  resource.address = "service." + system.name + ".0";
  resource.type = "service";
  resource.attributes["driver"] = system.driver;
  resource.attributes["program"] = service->program;
  resource.attributes["host"] = kLoopback;
  resource.attributes["nodes"] = std::to_string(deploy.nodes);
  for (const auto& [key, value] : deploy.server) resource.attributes["server." + key] = value;
  return std::vector<Resource>{resource};
}

Status LocalProvider::create(ResourceRecord& record, const RunState& state,
                             const std::function<Status()>& save) {
  Env& env = *context_.env;
  const Resource& resource = record.resource;
  if (resource.type != "service") return make_error("unknown resource type " + resource.type);
  const LocalService* service = local_service(resource.attributes.at("driver"));
  if (service == nullptr) return make_error("no local service for " + resource.address);

  Settings server;
  for (const auto& [key, value] : resource.attributes) {
    if (key.rfind("server.", 0) == 0) server[key.substr(7)] = value;
  }
  auto port = env.free_tcp_port(kLoopback);
  if (!port) return make_error(port.error());
  std::string dir = resource_dir(state.run_id, resource.address);
  record.outputs["data_dir"] = dir;
  record.outputs["log"] = dir + "/service.log";
  if (service->ready_file.empty()) {
    record.outputs["port"] = std::to_string(*port);
    record.outputs["address"] = std::string(kLoopback) + ":" + std::to_string(*port);
  }
  // Recorded before anything exists, so a crash from here on leaves a trace to clean.
  if (Status s = save(); !s) return s;
  if (Status s = env.make_dirs(dir); !s) return s;

  LaunchInput input{*port, dir, server, 1, &context_};
  if (auto nodes = resource.attributes.find("nodes"); nodes != resource.attributes.end()) {
    input.nodes = std::stoi(nodes->second);
  }
  auto argv = service->command(input);
  if (!argv) return make_error(argv.error());
  SpawnOptions spawn;
  spawn.argv = *argv;
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

  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (true) {
    if (!env.process_alive(*pid)) {
      return make_error(service->program + " for " + resource.address +
                        " exited during start-up: " + tail_of_file(env, record.outputs["log"]) +
                        " (log: " + record.outputs["log"] + ")");
    }
    if (service->ready_file.empty()) {
      if (env.tcp_port_open(kLoopback, *port)) break;
    } else if (auto addresses = env.read_file(dir + "/" + service->ready_file);
               addresses && !addresses->empty()) {
      std::string list = *addresses;
      while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.pop_back();
      record.outputs["address"] = list;
      // Side files next to the ready file (e.g. the kafka mock's control port), written first.
      for (const auto& name : env.list_dir(dir)) {
        if (name.rfind(service->ready_file + ".", 0) != 0 || name.find(".tmp") != std::string::npos)
          continue;
        auto side = env.read_file(dir + "/" + name);
        if (!side) continue;
        std::string value = *side;
        while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
        std::string key = name.substr(service->ready_file.size() + 1);
        record.outputs["property." + (key == "control" ? std::string("kafka_mock_control") : key)] =
            value;
      }
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error(service->program + " for " + resource.address +
                        " was not ready within 20 s (log: " + record.outputs["log"] + ")");
    }
    env.sleep_for(std::chrono::milliseconds(20));
  }
  record.outputs["label"] = service->label;
  if (service->emulated) record.outputs["emulated"] = "true";
  return Status::Ok();
}

namespace {
ProcessId recorded_process(const Settings& outputs) {
  ProcessId id;
  auto pid = outputs.find("pid");
  auto ticks = outputs.find("start_ticks");
  if (pid != outputs.end()) id.pid = std::stoi(pid->second);
  if (ticks != outputs.end()) id.start_ticks = std::stoull(ticks->second);
  return id;
}
}  // namespace

Status LocalProvider::destroy(const ResourceRecord& record, const RunState& state) {
  Env& env = *context_.env;
  std::string errors;
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

bool LocalProvider::exists(const ResourceRecord& record) {
  return context_.env->process_alive(recorded_process(record.outputs));
}

Result<ServiceEndpoint> LocalProvider::endpoint(const RunState& state) {
  ServiceEndpoint endpoint;
  for (const auto& record : state.resources) {
    if (record.resource.type != "service") continue;
    if (record.status != "created") {
      return make_error(record.resource.address + " is not created (status " + record.status + ")");
    }
    // "address" may hold several comma-separated addresses (one per mock broker).
    const std::string& list = record.outputs.at("address");
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      if (comma > start) endpoint.addresses.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    endpoint.emulated = endpoint.emulated || record.outputs.count("emulated") > 0;
    for (const auto& [key, value] : record.outputs) {
      if (key.rfind("property.", 0) == 0) endpoint.properties[key.substr(9)] = value;
    }
    auto label = record.outputs.find("label");
    if (label != record.outputs.end()) endpoint.label = label->second;
  }
  if (endpoint.addresses.empty()) return make_error("run " + state.run_id + " has no service");
  if (endpoint.emulated) endpoint.properties["emulated"] = "true";
  return endpoint;
}

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
  for (const auto& process : env.processes()) {
    auto owner = owner_of(process);
    if (!owner) continue;
    DiscoveredResource d;
    d.run_id = owner->first;
    d.address = owner->second;
    d.description = "process " + std::to_string(process.id.pid) + " (" + process.command + ")";
    d.outputs["kind"] = "process";
    d.outputs["pid"] = std::to_string(process.id.pid);
    d.outputs["start_ticks"] = std::to_string(process.id.start_ticks);
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
  if (kind == "directory") return env.remove_tree(resource.outputs.at("path"));
  return make_error("unknown discovered resource kind " + kind);
}

}  // namespace dec::infra
