#include "systems/kafka/package.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <map>

#include "core/hash.h"
#include "systems/kafka/kafka_driver.h"
#include "systems/kafka/kafka_mock.h"

namespace dec::systems {
namespace {

std::string kafka_lib_dir(const RecipeContext& context) { return context.tools_dir + "/kafka/lib"; }

Status kafka_installed(const RecipeContext& context) {
  if (context.path_exists(kafka_lib_dir(context))) return Status::Ok();
  return make_error("Apache Kafka is not installed (tools/kafka/lib missing): run scripts/setup");
}

// The broker's version, from its jar's name (kafka_2.13-4.1.1.jar): what the results name.
std::string apache_kafka_label(const RecipeContext& context) {
  const std::string prefix = "kafka_2.13-";
  const std::string suffix = ".jar";
  for (const auto& name : context.list_dir(kafka_lib_dir(context))) {
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

// Apache Kafka in KRaft mode: every node is a combined broker + controller, and the controllers
// form a static quorum. Each node formats its own log dir and then starts the broker; both steps
// run under one shell that execs the broker, so the recorded pid is the broker's JVM.
Result<Launch> apache_kafka_launch(const LaunchInput& in) {
  const RecipeContext& context = *in.context;
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
  Launch launch;
  std::string& server_properties = launch.files["server.properties"];
  server_properties = "# Written by dec for this node; deploy.server adds keys.\n";
  for (const auto& [key, value] : properties) server_properties += key + "=" + value + "\n";
  // Warnings and errors only: the process's output is the service log.
  launch.files["log4j2.properties"] =
      "status = error\n"
      "appender.console.type = Console\n"
      "appender.console.name = STDOUT\n"
      "appender.console.layout.type = PatternLayout\n"
      "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
      "rootLogger.level = WARN\n"
      "rootLogger.appenderRef.stdout.ref = STDOUT\n";

  // Paths travel as positional parameters, never spliced into the script: no quoting to get
  // wrong. --ignore-formatted: a node re-created over its old data dir keeps its data.
  // --cluster-id=ID in one word: an id may start with '-' (base64url), which the tool's argument
  // parser would otherwise take for an option (1 run in 64 failed that way).
  const char* script =
      "java -Xmx\"$5\" -cp \"$1\" -Dlog4j2.configurationFile=\"$2\" kafka.tools.StorageTool "
      "format --ignore-formatted --cluster-id=\"$3\" -c \"$4\" && "
      "exec java -Xmx\"$5\" -Xms\"$5\" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
      "-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent "
      "-Djava.awt.headless=true -cp \"$1\" -Dlog4j2.configurationFile=\"$2\" kafka.Kafka \"$4\"";
  launch.argv = {"/bin/sh",
                 "-c",
                 script,
                 "kafka-node",
                 kafka_lib_dir(context) + "/*",
                 in.dir + "/log4j2.properties",
                 kafka_cluster_id(in.cluster_seed),
                 in.dir + "/server.properties",
                 std::to_string(kafka_heap_mib(in.memory_bytes)) + "m"};
  return launch;
}

// A node of a cluster is ready once the cluster's metadata, as this node serves it, lists every
// broker: before that a topic created with replication 3 fails or gets fewer replicas, and the
// driver would size its default replication from a partial cluster.
std::string every_broker_registered(const LaunchInput& in) {
  if (in.nodes <= 1) return "";
  std::array<char, 256> reason{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::string bootstrap = in.listen_host + ":" + std::to_string(in.port);
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), reason.data(), reason.size());
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
  if (client == nullptr) {
    rd_kafka_conf_destroy(conf);
    return std::string("cannot create a metadata client: ") + reason.data();
  }
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t error = rd_kafka_metadata(client, 0, nullptr, &metadata, 2000);
  std::string missing;
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    missing = std::string("no cluster metadata yet: ") + rd_kafka_err2str(error);
  } else {
    if (metadata->broker_cnt < in.nodes) {
      missing = std::to_string(metadata->broker_cnt) + " of " + std::to_string(in.nodes) +
                " brokers registered";
    }
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_destroy(client);
  return missing;
}

// librdkafka's mock cluster, hosted by `dec kafka-mock` so it is a separate, killable process.
Result<Launch> kafka_mock_launch(const LaunchInput& in) {
  if (in.context->dec_binary.empty()) return make_error("cannot locate the dec binary");
  Launch launch;
  launch.argv = {in.context->dec_binary,   "kafka-mock",       "--brokers",
                 std::to_string(in.nodes), "--bootstrap-file", in.dir + "/bootstrap"};
  return launch;
}

// The mock cluster's brokers share one process on loopback: a broker goes down and up through
// the mock's control port; pausing freezes the whole cluster (the provider's generic handling).
std::optional<Status> kafka_mock_fault(const FaultInput& in) {
  const core::Fault& fault = in.fault;
  if (fault.target >= in.nodes) {
    return Status(make_error("node " + std::to_string(fault.target) + " does not exist (" +
                             std::to_string(in.nodes) + " brokers)"));
  }
  if (fault.action == "disconnect" || fault.action == "reconnect") {
    auto control = in.outputs.find("property.kafka_mock_control");
    auto reply = drivers::kafka_mock_request(
        control == in.outputs.end() ? "" : control->second,
        std::string(fault.action == "disconnect" ? "broker-down " : "broker-up ") +
            std::to_string(fault.target + 1),
        std::chrono::seconds(2));
    if (!reply) return Status(make_error(reply.error()));
    return Status::Ok();
  }
  if (fault.action != "pause" && fault.action != "resume") {
    return Status(make_error(
        fault.action +
        " is not possible on the librdkafka mock cluster: its brokers share one process on "
        "loopback; use disconnect/reconnect (broker down/up) or pause/resume (the whole "
        "cluster)"));
  }
  return std::nullopt;
}

// server.properties keys that place files on the host (log dirs, key stores), load classes or
// read files through config providers, or make the broker call out (OAuth endpoints, remote
// storage). Patterns cover the per-listener forms (listener.name.<l>.ssl.keystore.location).
std::vector<ForbiddenServerKey> kafka_forbidden_server_keys() {
  using enum HostReach;
  return {
      {"log.dir", kPath},          {"log.dirs", kPath},
      {"metadata.log.dir", kPath}, {"*.location", kPath},
      {"*.keytab", kPath},         {"*.dir", kPath},
      {"*.dirs", kPath},           {"*.file", kPath},
      {"*.path", kPath},           {"*.class", kCode},
      {"*.class.name", kCode},     {"*.classes", kCode},
      {"*reporters", kCode},       {"config.providers*", kCode},
      {"*.jaas.config", kCode},    {"*.kinit.cmd", kCode},
      {"*.url", kNetwork},         {"*.urls", kNetwork},
      {"remote.log.*", kNetwork},  {"controller.quorum.bootstrap.servers", kNetwork},
  };
}

}  // namespace

std::string kafka_cluster_id(const std::string& seed) {
  uint64_t halves[2] = {core::fnv1a(seed + "|cluster-id|0", core::kFnv1aNamesBasis),
                        core::fnv1a(seed + "|cluster-id|1", core::kFnv1aNamesBasis)};
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

// Half of the host's memory (the rest is page cache and the JVM's own memory, and a heap as
// large as the cgroup gets the broker OOM-killed), at least 256 MiB; 512 MiB unlimited.
uint64_t kafka_heap_mib(const std::optional<uint64_t>& memory_bytes) {
  if (!memory_bytes) return 512;
  return std::max<uint64_t>(256, (*memory_bytes >> 20) / 2);
}

SystemPackage kafka_package() {
  SystemPackage package;
  package.driver = drivers::kafka_driver_info();

  LocalRecipe apache;
  apache.program = "java";
  apache.label = "Apache Kafka (KRaft)";
  apache.sharded_nodes = true;
  apache.default_port = 9092;
  apache.default_control_port = 9093;
  apache.nodes_need_hosts = true;
  apache.installed = kafka_installed;
  apache.launch = apache_kafka_launch;
  apache.forbidden_server_keys = kafka_forbidden_server_keys();
  apache.ready_probe = every_broker_registered;
  // Several JVMs starting at once on a small machine take far longer than 20 s.
  apache.start_timeout = std::chrono::seconds(90);
  apache.probe_label = apache_kafka_label;
  package.local = apache;
  package.default_variant_name = "apache";

  LocalRecipe mock;
  mock.program = "kafka-mock";
  mock.emulated = true;
  mock.label = "librdkafka mock cluster";
  mock.nodes_in_one_process = true;
  mock.own_network = false;
  mock.server_keys = {"none"};
  mock.launch = kafka_mock_launch;
  mock.ready_file = "bootstrap";
  mock.side_properties = {{"control", "kafka_mock_control"}};
  mock.fault = kafka_mock_fault;
  package.local_variants["mock"] = mock;
  return package;
}

}  // namespace dec::systems
