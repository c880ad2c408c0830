#include "infra/kubernetes/manifests.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/hash.h"
#include "core/spec_parser.h"
#include "core/units.h"
#include "systems/kafka/package.h"
#include "systems/registry.h"

namespace dec::infra::kubernetes {
namespace {

using nlohmann::json;

constexpr const char* kDataDir = "/data";
// A pod's time to stop after SIGTERM: short, so `kubectl delete --wait` (25 s) sees it go.
constexpr int kGraceSeconds = 10;

std::string hex_hash(const std::string& text, int digits) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx",
                static_cast<unsigned long long>(core::fnv1a(text)));
  return std::string(buffer).substr(0, static_cast<size_t>(digits));
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

Result<double> parse_cpus(const std::string& key, const std::string& value) {
  char* end = nullptr;
  double cpus = std::strtod(value.c_str(), &end);
  if (value.empty() || end == nullptr || *end != '\0' || !(cpus >= 0.001)) {
    return make_error("deploy.settings." + key +
                      ": expected a number of cores such as 0.5, got \"" + value + "\"");
  }
  return cpus;
}

// Kubernetes quantities: whole millicores, memory in Mi when it divides, else bytes.
std::string cpu_quantity(double cpus) {
  return std::to_string(static_cast<long long>(std::llround(cpus * 1000))) + "m";
}
std::string memory_quantity(uint64_t bytes) {
  constexpr uint64_t kMi = 1024 * 1024;
  if (bytes % kMi == 0) return std::to_string(bytes / kMi) + "Mi";
  return std::to_string(bytes);
}

json container_resources(const std::optional<double>& cpus, const std::optional<uint64_t>& memory) {
  json amounts = json::object();
  if (cpus) amounts["cpu"] = cpu_quantity(*cpus);
  if (memory) amounts["memory"] = memory_quantity(*memory);
  if (amounts.empty()) return json::object();
  return {{"requests", amounts}, {"limits", amounts}};
}

json object_metadata(const RenderInput& in, const std::string& name, const std::string& group) {
  return {{"name", name},
          {"namespace", in.settings.namespace_name},
          {"labels", object_labels(in.run_id, in.installation, group)},
          {"annotations", {{"dec.run-id", in.run_id}}}};
}

json pod_labels(const RenderInput& in, const std::string& group) {
  return {{"dec.run", label_value(in.run_id)}, {"dec.group", group}};
}

// A StatefulSet's pods reach one another by stable names through a headless Service;
// publishNotReadyAddresses lets a cluster form before any member counts as Ready.
json headless_service(const RenderInput& in, const std::string& name, const json& ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", object_metadata(in, name, "brokers")},
          {"spec",
           {{"clusterIP", "None"},
            {"publishNotReadyAddresses", true},
            {"selector", pod_labels(in, "brokers")},
            {"ports", ports}}}};
}

json stateful_set(const RenderInput& in, const std::string& name, json container,
                  const json& volumes) {
  const core::Deploy& deploy = in.system.deploy;
  container["resources"] = container_resources(deploy.cpus, deploy.memory);
  json volume_mounts = json::array({{{"name", "data"}, {"mountPath", kDataDir}}});
  for (const auto& volume : volumes) {
    if (volume.contains("configMap")) {
      volume_mounts.push_back({{"name", volume["name"]}, {"mountPath", "/etc/dec"}});
    }
  }
  container["volumeMounts"] = volume_mounts;
  json all_volumes = json::array({{{"name", "data"}, {"emptyDir", json::object()}}});
  for (const auto& volume : volumes) all_volumes.push_back(volume);
  json pod_metadata = {{"labels", object_labels(in.run_id, in.installation, "brokers")},
                       {"annotations", {{"dec.run-id", in.run_id}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", object_metadata(in, name, "brokers")},
          {"spec",
           {{"serviceName", name},
            {"replicas", deploy.nodes},
            {"podManagementPolicy", "Parallel"},
            {"selector", {{"matchLabels", pod_labels(in, "brokers")}}},
            {"template",
             {{"metadata", pod_metadata},
              {"spec",
               {{"enableServiceLinks", false},
                {"terminationGracePeriodSeconds", kGraceSeconds},
                {"containers", json::array({container})},
                {"volumes", all_volumes}}}}}}}};
}

json config_map(const RenderInput& in, const std::string& name,
                const std::map<std::string, std::string>& files) {
  json data = json::object();
  for (const auto& [file, content] : files) data[file] = content;
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", object_metadata(in, name, "brokers")},
          {"data", data}};
}

json tcp_probe(int port) {
  return {{"tcpSocket", {{"port", port}}}, {"periodSeconds", 2}, {"failureThreshold", 3}};
}

std::vector<std::string> pod_addresses(const std::string& pod_prefix, const std::string& service,
                                       const std::string& ns, int nodes, int port) {
  std::vector<std::string> out;
  for (int i = 0; i < nodes; ++i) {
    out.push_back(pod_prefix + "-" + std::to_string(i) + "." + service + "." + ns +
                  ".svc:" + std::to_string(port));
  }
  return out;
}

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string broker_image(const RenderInput& in) {
  return in.settings.broker_image.empty() ? default_broker_image(in.system.driver)
                                          : in.settings.broker_image;
}

// The product's local recipe (systems/) renders its own command line or config file where the
// container can take it as is.
Result<systems::Launch> recipe_launch(const RenderInput& in, int port, int control_port,
                                      const std::vector<std::string>& node_hosts) {
  const systems::SystemPackage* package = systems::find_system(in.system.driver);
  if (package == nullptr || !package->local || !package->local->launch) {
    return make_error("driver " + in.system.driver + " has no launch recipe");
  }
  systems::LaunchInput launch;
  launch.listen_host = "0.0.0.0";
  launch.port = port;
  launch.control_port = control_port;
  launch.dir = kDataDir;
  launch.server = in.system.deploy.server;
  launch.nodes = in.system.deploy.nodes;
  launch.node_hosts = node_hosts;
  launch.memory_bytes = in.system.deploy.memory;
  launch.cluster_seed = in.run_id;
  return package->local->launch(launch);
}

Result<GroupManifest> render_redis(const RenderInput& in, const std::string& name) {
  constexpr int kPort = 6379;
  auto launch = recipe_launch(in, kPort, 0, {});
  if (!launch) return make_error(launch.error());
  json container = {{"name", "redis"},
                    {"image", broker_image(in)},
                    {"command", launch->argv},
                    {"ports", json::array({{{"name", "redis"}, {"containerPort", kPort}}})},
                    {"readinessProbe", tcp_probe(kPort)}};
  GroupManifest group;
  group.manifest["items"] =
      json::array({headless_service(in, name, json::array({{{"name", "redis"}, {"port", kPort}}})),
                   stateful_set(in, name, container, json::array())});
  group.kinds = {"statefulset", "service"};
  group.addresses =
      pod_addresses(name, name, in.settings.namespace_name, in.system.deploy.nodes, kPort);
  return group;
}

// nats-server's config file from its recipe (JetStream on, store in /data, deploy.server lines);
// names and routes as arguments, the pod's name through $(POD_NAME).
Result<GroupManifest> render_nats(const RenderInput& in, const std::string& name) {
  constexpr int kPort = 4222, kClusterPort = 6222, kMonitorPort = 8222;
  const int nodes = in.system.deploy.nodes;
  std::vector<std::string> hosts;
  for (int i = 0; i < nodes; ++i) {
    hosts.push_back(name + "-" + std::to_string(i) + "." + name + "." + in.settings.namespace_name +
                    ".svc");
  }
  auto launch = recipe_launch(in, kPort, kClusterPort, hosts);
  if (!launch) return make_error(launch.error());
  // Arguments to the image's own entrypoint (the nats-server binary).
  std::vector<std::string> args = {
      "-c", "/etc/dec/nats-server.conf",  "-a", "0.0.0.0",    "-p", std::to_string(kPort),
      "-m", std::to_string(kMonitorPort), "-n", "$(POD_NAME)"};
  json ports = json::array({{{"name", "client"}, {"port", kPort}}});
  if (nodes > 1) {
    std::vector<std::string> routes;
    for (const auto& host : hosts)
      routes.push_back("nats://" + host + ":" + std::to_string(kClusterPort));
    args.insert(args.end(), {"--cluster_name", "dec-" + hex_hash(in.run_id, 8), "--cluster",
                             "nats://0.0.0.0:" + std::to_string(kClusterPort), "--routes",
                             joined(routes, ",")});
    ports.push_back({{"name", "cluster"}, {"port", kClusterPort}});
  }
  json container_ports = json::array();
  for (const auto& port : ports) {
    container_ports.push_back({{"name", port["name"]}, {"containerPort", port["port"]}});
  }
  json container = {
      {"name", "nats"},
      {"image", broker_image(in)},
      {"args", args},
      {"env", json::array({{{"name", "POD_NAME"},
                            {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}}})},
      {"ports", container_ports},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz?js-enabled-only=true"}, {"port", kMonitorPort}}},
        {"periodSeconds", 2},
        {"failureThreshold", 3}}}};
  std::map<std::string, std::string> files = launch->files;
  json volumes = json::array({{{"name", "config"}, {"configMap", {{"name", name}}}}});
  GroupManifest group;
  group.manifest["items"] =
      json::array({config_map(in, name, files), headless_service(in, name, ports),
                   stateful_set(in, name, container, volumes)});
  group.kinds = {"statefulset", "service", "configmap"};
  group.addresses = pod_addresses(name, name, in.settings.namespace_name, nodes, kPort);
  return group;
}

// One RabbitMQ node (as the local provider runs it): guest may log in from other pods, the
// memory watermark follows deploy.memory, deploy.server adds `key = value` lines.
Result<GroupManifest> render_rabbitmq(const RenderInput& in, const std::string& name) {
  constexpr int kPort = 5672;
  if (in.system.deploy.nodes != 1) {
    return make_error(
        "deploy.nodes: the kubernetes provider runs RabbitMQ as one node; set nodes: 1");
  }
  std::string conf = "loopback_users = none\n";
  if (in.system.deploy.memory) {
    conf +=
        "vm_memory_high_watermark.absolute = " + std::to_string(*in.system.deploy.memory * 4 / 10) +
        "\n";
  }
  for (const auto& [key, value] : in.system.deploy.server) {
    if (key.find_first_of("\r\n=") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return make_error("deploy.server." + key +
                        ": a rabbitmq.conf setting is one `key = value` line; remove the line "
                        "break or '='");
    }
    conf += key + " = " + value + "\n";
  }
  json container = {
      {"name", "rabbitmq"},
      {"image", broker_image(in)},
      {"env",
       json::array({{{"name", "RABBITMQ_CONFIG_FILE"}, {"value", "/etc/dec/rabbitmq.conf"}}})},
      {"ports", json::array({{{"name", "amqp"}, {"containerPort", kPort}}})},
      {"readinessProbe", tcp_probe(kPort)}};
  json volumes = json::array({{{"name", "config"}, {"configMap", {{"name", name}}}}});
  GroupManifest group;
  group.manifest["items"] =
      json::array({config_map(in, name, {{"rabbitmq.conf", conf}}),
                   headless_service(in, name, json::array({{{"name", "amqp"}, {"port", kPort}}})),
                   stateful_set(in, name, container, volumes)});
  group.kinds = {"statefulset", "service", "configmap"};
  group.addresses = pod_addresses(name, name, in.settings.namespace_name, 1, kPort);
  return group;
}

// The apache/kafka image's convention: KAFKA_<property>, '.' -> '_', '_' -> '__', '-' -> '___'.
std::string kafka_env_name(const std::string& property) {
  std::string out = "KAFKA_";
  for (char c : property) {
    if (c == '.') {
      out += '_';
    } else if (c == '_') {
      out += "__";
    } else if (c == '-') {
      out += "___";
    } else {
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::map<std::string, std::string> kafka_defaults(int nodes) {
  return {{"offsets.topic.replication.factor", std::to_string(std::min(3, nodes))},
          {"transaction.state.log.replication.factor", std::to_string(std::min(3, nodes))},
          {"transaction.state.log.min.isr", std::to_string(std::min(2, nodes))},
          {"group.initial.rebalance.delay.ms", "0"}};
}

// KRaft, every pod a combined broker + controller with node.id = its ordinal; the image's own
// entrypoint (/etc/kafka/docker/run) formats the log dir and starts the broker.
Result<GroupManifest> render_kafka_statefulset(const RenderInput& in, const std::string& name) {
  constexpr int kPort = 9092, kControllerPort = 9093;
  const int nodes = in.system.deploy.nodes;
  const std::string domain = name + "." + in.settings.namespace_name + ".svc";
  std::vector<std::string> voters;
  for (int i = 0; i < nodes; ++i) {
    voters.push_back(std::to_string(i) + "@" + name + "-" + std::to_string(i) + "." + domain + ":" +
                     std::to_string(kControllerPort));
  }
  std::map<std::string, std::string> env = {
      {"CLUSTER_ID", systems::kafka_cluster_id(in.run_id)},
      {"KAFKA_PROCESS_ROLES", "broker,controller"},
      {"KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093"},
      {"KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"},
      {"KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"},
      {"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
      {"KAFKA_CONTROLLER_QUORUM_VOTERS", joined(voters, ",")},
      {"KAFKA_LOG_DIRS", std::string(kDataDir) + "/kafka"},
  };
  const uint64_t heap = systems::kafka_heap_mib(in.system.deploy.memory);
  env["KAFKA_HEAP_OPTS"] = "-Xmx" + std::to_string(heap) + "m -Xms" + std::to_string(heap) + "m";
  for (const auto& [key, value] : kafka_defaults(nodes)) env[kafka_env_name(key)] = value;
  for (const auto& [key, value] : in.system.deploy.server) env[kafka_env_name(key)] = value;
  json env_list = json::array();
  for (const auto& [key, value] : env) env_list.push_back({{"name", key}, {"value", value}});
  const std::string start =
      "export KAFKA_NODE_ID=${HOSTNAME##*-}; export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://"
      "${HOSTNAME}." +
      domain + ":" + std::to_string(kPort) + "; exec /etc/kafka/docker/run";
  json container = {
      {"name", "kafka"},
      {"image", broker_image(in)},
      {"command", json::array({"/bin/sh", "-c", start})},
      {"env", env_list},
      {"ports", json::array({{{"name", "kafka"}, {"containerPort", kPort}},
                             {{"name", "controller"}, {"containerPort", kControllerPort}}})},
      {"readinessProbe", tcp_probe(kPort)}};
  GroupManifest group;
  group.manifest["items"] = json::array(
      {headless_service(in, name,
                        json::array({{{"name", "kafka"}, {"port", kPort}},
                                     {{"name", "controller"}, {"port", kControllerPort}}})),
       stateful_set(in, name, container, json::array())});
  group.kinds = {"statefulset", "service"};
  group.addresses = pod_addresses(name, name, in.settings.namespace_name, nodes, kPort);
  return group;
}

// Strimzi's operator runs the cluster: a Kafka resource (KRaft, node pools) and one
// KafkaNodePool of combined broker + controller nodes on ephemeral storage.
Result<GroupManifest> render_kafka_strimzi(const RenderInput& in, const std::string& name) {
  constexpr int kPort = 9092;
  const core::Deploy& deploy = in.system.deploy;
  const std::string pool = "nodes";
  json config = json::object();
  for (const auto& [key, value] : kafka_defaults(deploy.nodes)) config[key] = value;
  for (const auto& [key, value] : deploy.server) config[key] = value;
  json kafka_metadata = object_metadata(in, name, "brokers");
  kafka_metadata["annotations"]["strimzi.io/node-pools"] = "enabled";
  kafka_metadata["annotations"]["strimzi.io/kraft"] = "enabled";
  json kafka = {
      {"apiVersion", "kafka.strimzi.io/v1beta2"},
      {"kind", "Kafka"},
      {"metadata", kafka_metadata},
      {"spec",
       {{"kafka",
         {{"listeners",
           json::array(
               {{{"name", "plain"}, {"port", kPort}, {"type", "internal"}, {"tls", false}}})},
          {"config", config}}}}}};
  json pool_metadata = object_metadata(in, name + "-" + pool, "brokers");
  pool_metadata["labels"]["strimzi.io/cluster"] = name;
  const uint64_t heap = systems::kafka_heap_mib(deploy.memory);
  json pool_spec = {
      {"replicas", deploy.nodes},
      {"roles", json::array({"controller", "broker"})},
      {"storage", {{"type", "ephemeral"}}},
      {"jvmOptions", {{"-Xmx", std::to_string(heap) + "m"}, {"-Xms", std::to_string(heap) + "m"}}}};
  json resources = container_resources(deploy.cpus, deploy.memory);
  if (!resources.empty()) pool_spec["resources"] = resources;
  json node_pool = {{"apiVersion", "kafka.strimzi.io/v1beta2"},
                    {"kind", "KafkaNodePool"},
                    {"metadata", pool_metadata},
                    {"spec", pool_spec}};
  GroupManifest group;
  group.manifest["items"] = json::array({node_pool, kafka});
  group.kinds = {"kafkas.kafka.strimzi.io", "kafkanodepools.kafka.strimzi.io"};
  group.wait_for = "kafka/" + name;
  // Strimzi names the pods <cluster>-<pool>-<node id> behind <cluster>-kafka-brokers.
  group.addresses = pod_addresses(name + "-" + name + "-" + pool, name + "-kafka-brokers",
                                  in.settings.namespace_name, deploy.nodes, kPort);
  return group;
}

// dec's load agent: `dec worker` listening on all of the pod's addresses, Ready once its
// health endpoint answers.
GroupManifest render_workers(const RenderInput& in, const std::string& base) {
  const KubernetesSettings& s = in.settings;
  const std::string name = base + "-workers";
  json container = {{"name", "worker"},
                    {"image", s.image},
                    {"command", json::array({"dec", "worker", "--listen",
                                             "0.0.0.0:" + std::to_string(s.worker_port)})},
                    {"ports", json::array({{{"name", "http"}, {"containerPort", s.worker_port}}})},
                    {"readinessProbe",
                     {{"httpGet", {{"path", "/v1/health"}, {"port", s.worker_port}}},
                      {"periodSeconds", 2},
                      {"failureThreshold", 3}}},
                    {"resources", container_resources(s.worker_cpus, s.worker_memory)}};
  json pod_metadata = {{"labels", object_labels(in.run_id, in.installation, "workers")},
                       {"annotations", {{"dec.run-id", in.run_id}}}};
  json pod_spec = {{"enableServiceLinks", false},
                   {"terminationGracePeriodSeconds", kGraceSeconds},
                   {"containers", json::array({container})}};
  json object;
  GroupManifest group;
  group.group = "workers";
  if (s.workers_as == "deployment") {
    object = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", object_metadata(in, name, "workers")},
              {"spec",
               {{"replicas", 1},
                {"selector", {{"matchLabels", pod_labels(in, "workers")}}},
                {"template", {{"metadata", pod_metadata}, {"spec", pod_spec}}}}}};
    group.kinds = {"deployment"};
  } else {
    pod_spec["restartPolicy"] = "Never";
    object = {
        {"apiVersion", "batch/v1"},
        {"kind", "Job"},
        {"metadata", object_metadata(in, name, "workers")},
        {"spec",
         {{"backoffLimit", 0}, {"template", {{"metadata", pod_metadata}, {"spec", pod_spec}}}}}};
    group.kinds = {"job"};
  }
  group.manifest = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array({object})}};
  group.wait_for = "pods";
  group.pods = 1;
  return group;
}

Status check_server_keys(const core::System& system) {
  const systems::SystemPackage* package = systems::find_system(system.driver);
  if (package == nullptr || !package->local) return Status::Ok();
  const systems::LocalRecipe& recipe = *package->local;
  for (const auto& [key, value] : system.deploy.server) {
    if (const auto* forbidden =
            systems::find_forbidden_server_key(recipe.forbidden_server_keys, key)) {
      return make_error("deploy.server." + key + ": " +
                        systems::forbidden_server_key_message(forbidden->reach));
    }
  }
  if (recipe.check_server) return recipe.check_server(system.deploy.server);
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& settings_keys() {
  static const std::vector<std::string> keys = {
      "namespace",    "context",     "kubeconfig",    "image",       "workers_as",   "kafka",
      "broker_image", "worker_port", "ready_timeout", "worker_cpus", "worker_memory"};
  return keys;
}

Result<KubernetesSettings> parse_settings(const core::Settings& settings) {
  KubernetesSettings out;
  for (const auto& [key, value] : settings) {
    const std::string path = "deploy.settings." + key;
    if (std::find(settings_keys().begin(), settings_keys().end(), key) == settings_keys().end()) {
      std::string message = path + ": unknown setting of provider kubernetes";
      if (auto match = core::closest_match(key, settings_keys())) {
        message += " (did you mean \"" + *match + "\"?)";
      } else {
        message += "; known: " + joined(settings_keys(), ", ");
      }
      return make_error(message);
    }
    if (key == "namespace") {
      if (value.empty() || value.size() > 63 || dns_label(value) != value) {
        return make_error(path + ": \"" + value +
                          "\" is not a namespace name (lowercase letters, digits and '-', at most "
                          "63, starting and ending with a letter or digit)");
      }
      out.namespace_name = value;
    } else if (key == "context") {
      out.context = value;
    } else if (key == "kubeconfig") {
      out.kubeconfig = value;
    } else if (key == "image" || key == "broker_image") {
      if (value.empty() || value.find_first_of(" \t\r\n\"'") != std::string::npos) {
        return make_error(path + ": expected a container image reference such as repo/name:tag");
      }
      (key == "image" ? out.image : out.broker_image) = value;
    } else if (key == "workers_as") {
      if (value != "job" && value != "deployment") {
        return make_error(path + ": expected job or deployment, got \"" + value + "\"");
      }
      out.workers_as = value;
    } else if (key == "kafka") {
      if (value != "strimzi" && value != "statefulset" && value != "auto") {
        return make_error(path + ": expected strimzi, statefulset or auto, got \"" + value + "\"");
      }
      out.kafka = value;
    } else if (key == "worker_port") {
      int port = 0;
      if (std::sscanf(value.c_str(), "%d", &port) != 1 || port < 1 || port > 65535 ||
          std::to_string(port) != value) {
        return make_error(path + ": expected a TCP port (1-65535), got \"" + value + "\"");
      }
      out.worker_port = port;
    } else if (key == "ready_timeout") {
      auto duration = core::parse_duration(value);
      if (!duration || *duration < std::chrono::seconds(1)) {
        return make_error(path + ": expected a duration of at least 1s such as 300s or 5m, got \"" +
                          value + "\"");
      }
      out.ready_timeout = std::chrono::duration_cast<std::chrono::seconds>(*duration);
    } else if (key == "worker_cpus") {
      auto cpus = parse_cpus(key, value);
      if (!cpus) return make_error(cpus.error());
      out.worker_cpus = *cpus;
    } else if (key == "worker_memory") {
      auto bytes = core::parse_size(value);
      if (!bytes || *bytes == 0) {
        return make_error(path + ": expected a size such as 512MiB, got \"" + value + "\"");
      }
      out.worker_memory = *bytes;
    }
  }
  return out;
}

std::string default_broker_image(const std::string& driver) {
  if (driver == "redis") return "redis:7.2";
  if (driver == "nats") return "nats:2.10";
  if (driver == "rabbitmq") return "rabbitmq:3.13";
  if (driver == "kafka") return "apache/kafka:4.1.1";
  return "";
}

std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) out += (is_alnum(c) || c == '_' || c == '.' || c == '-') ? c : '-';
  bool changed = out != text;
  while (!out.empty() && !is_alnum(out.front())) out.erase(out.begin()), changed = true;
  while (!out.empty() && !is_alnum(out.back())) out.pop_back(), changed = true;
  if (out.size() > 63) changed = true;
  if (!changed) return out;
  const std::string suffix = hex_hash(text, 8);
  out = out.substr(0, 63 - suffix.size() - 1);
  while (!out.empty() && !is_alnum(out.back())) out.pop_back();
  return out.empty() ? suffix : out + "-" + suffix;
}

std::string dns_label(const std::string& text, size_t max_length) {
  std::string out;
  for (char c : text) {
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += is_alnum(lower) ? lower : '-';
  }
  if (out.size() > max_length) out.resize(max_length);
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string object_base_name(const std::string& system, const std::string& run_id) {
  std::string base = dns_label(system, 30);
  return (base.empty() ? "dec" : base) + "-" + hex_hash(run_id, 6);
}

nlohmann::json object_labels(const std::string& run_id, const std::string& installation,
                             const std::string& group) {
  json labels = {{"app.kubernetes.io/managed-by", "dec"},
                 {"dec.run", label_value(run_id)},
                 {"dec.installation", label_value(installation)}};
  if (!group.empty()) labels["dec.group"] = group;
  return labels;
}

std::string selector(const std::string& run_id, const std::string& group) {
  return "dec.run=" + label_value(run_id) + (group.empty() ? "" : ",dec.group=" + group);
}

Result<RenderedSystem> render_system(const RenderInput& in) {
  const core::System& system = in.system;
  if (system.deploy.nodes < 1) return make_error("deploy.nodes: expected at least 1");
  if (system.deploy.bandwidth) {
    return make_error(
        "deploy.bandwidth: the kubernetes provider does not shape pod bandwidth; remove it");
  }
  if (Status s = check_server_keys(system); !s) return make_error(s.error());
  const std::string base = object_base_name(system.name, in.run_id);
  Result<GroupManifest> brokers = make_error("");
  if (system.driver == "redis") {
    brokers = render_redis(in, base);
  } else if (system.driver == "nats") {
    brokers = render_nats(in, base);
  } else if (system.driver == "rabbitmq") {
    brokers = render_rabbitmq(in, base);
  } else if (system.driver == "kafka") {
    brokers =
        in.kafka_strimzi ? render_kafka_strimzi(in, base) : render_kafka_statefulset(in, base);
  } else {
    return make_error("driver: provider kubernetes deploys redis, nats, rabbitmq and kafka, not " +
                      system.driver + " (use provider endpoints for an existing " + system.driver +
                      ")");
  }
  if (!brokers) return make_error(brokers.error());
  RenderedSystem out;
  out.brokers = std::move(*brokers);
  out.brokers.group = "brokers";
  out.brokers.manifest["apiVersion"] = "v1";
  out.brokers.manifest["kind"] = "List";
  if (out.brokers.wait_for.empty()) {
    out.brokers.wait_for = "pods";
    out.brokers.pods = system.deploy.nodes;
  }
  json ns_labels = object_labels(in.run_id, in.installation, "");
  out.namespace_manifest = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata",
       {{"name", in.settings.namespace_name},
        {"labels", ns_labels},
        {"annotations", {{"dec.run-id", in.run_id}, {"dec.created", "true"}}}}}};
  if (in.workers) out.workers = render_workers(in, base);
  return out;
}

}  // namespace dec::infra::kubernetes
