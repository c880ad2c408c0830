#include "infra/terraform/render.h"

#include <arpa/inet.h>

#include <algorithm>
#include <regex>
#include <set>

#include "drivers/aws_sigv4.h"
#include "systems/kafka/package.h"

namespace dec::infra::terraform {
namespace {

using nlohmann::json;

const std::set<std::string> kKnownSettings = {"kind",
                                              "region",
                                              "binary",
                                              "backend",
                                              "backend_bucket",
                                              "backend_key",
                                              "backend_region",
                                              "allow_cidrs",
                                              "vpc_id",
                                              "subnet_ids",
                                              "stream_mode",
                                              "retention_hours",
                                              "instance_type",
                                              "volume_size_gb",
                                              "kafka_version",
                                              "client_auth",
                                              "ami",
                                              "key_name",
                                              "public_addresses",
                                              "first_host_number",
                                              "workers",
                                              "worker_instance_type",
                                              "worker_count",
                                              "dec_url",
                                              "timeout_minutes"};

Error field_error(const std::string& key, const std::string& message) {
  return make_error("deploy.settings." + key + ": " + message);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) items.push_back(item);
    start = comma + 1;
  }
  return items;
}

bool valid_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr address{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &address) != 1) return false;
  const std::string prefix = cidr.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 2 ||
      !std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoi(prefix) <= 32;
}

Result<int> int_setting(const Settings& settings, const std::string& key, int fallback, int low,
                        int high) {
  auto it = settings.find(key);
  if (it == settings.end()) return fallback;
  const std::string& text = it->second;
  bool digits = !text.empty() && text.size() <= 9 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  int value = digits ? std::stoi(text) : -1;
  if (!digits || value < low || value > high) {
    return field_error(key, "expected a whole number from " + std::to_string(low) + " to " +
                                std::to_string(high) + ", got \"" + text + "\"");
  }
  return value;
}

Result<std::string> choice(const Settings& settings, const std::string& key,
                           const std::vector<std::string>& allowed, const std::string& fallback) {
  auto it = settings.find(key);
  if (it == settings.end()) return fallback;
  if (std::find(allowed.begin(), allowed.end(), it->second) != allowed.end()) return it->second;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return field_error(key, "expected one of " + list + ", got \"" + it->second + "\"");
}

Result<bool> bool_setting(const Settings& settings, const std::string& key, bool fallback) {
  auto value = choice(settings, key, {"true", "false"}, fallback ? "true" : "false");
  if (!value) return make_error(value.error());
  return *value == "true";
}

std::string setting(const Settings& settings, const std::string& key,
                    const std::string& fallback = "") {
  auto it = settings.find(key);
  return it == settings.end() ? fallback : it->second;
}

std::string default_kind(const std::string& driver) {
  if (driver == "kinesis") return "kinesis";
  if (driver == "kafka") return "msk";
  return "ec2";
}

// A short name for AWS objects whose names are limited (MSK clusters, security groups).
std::string stack_name(const std::string& run_id) {
  return "dec-" + drivers::aws::sha256_hex(run_id).substr(0, 12);
}

int broker_port(const std::string& driver) {
  if (driver == "redis") return 6379;
  if (driver == "nats") return 4222;
  return 9092;
}

json tags_with_name(const std::string& name_expression) {
  return "${merge(local.tags, {Name = " + name_expression + "})}";
}

// Shell run as root by cloud-init: the address clients reach the broker at, from the instance
// metadata service (IMDSv2): public when dec connects from outside (no workers), private when
// the run's workers, inside the VPC, do (security-group rules match private traffic only).
// Shell variables are written $NAME, never with braces, so Terraform's templates leave them.
const char* kAdvertisedAddress =
    "TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token "
    "-H 'X-aws-ec2-metadata-token-ttl-seconds: 300')\n"
    "ADDRESS=$(curl -fsS -H \"X-aws-ec2-metadata-token: $TOKEN\" "
    "http://169.254.169.254/latest/meta-data/${var.brokers_public ? \"public-ipv4\" : "
    "\"local-ipv4\"})\n";

// Text from the spec placed in a Terraform template: "${" and "%{" stay literal.
std::string template_literal(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((text[i] == '$' || text[i] == '%') && i + 1 < text.size() && text[i + 1] == '{') {
      out += text[i];
    }
    out += text[i];
  }
  return out;
}

std::string server_lines(const Settings& server, const std::string& separator) {
  std::string lines;
  for (const auto& [key, value] : server) lines += key + separator + value + "\n";
  return lines;
}

std::string kafka_user_data(const core::System& system) {
  return std::string("#!/bin/bash\nset -euxo pipefail\n") +
         "apt-get update\napt-get install -y openjdk-17-jre-headless curl\n"
         "mkdir -p /opt/kafka /var/lib/kafka\n"
         "curl -fsSL https://archive.apache.org/dist/kafka/${var.kafka_version}/"
         "kafka_2.13-${var.kafka_version}.tgz | tar -xz -C /opt/kafka --strip-components=1\n" +
         kAdvertisedAddress +
         "cat > /opt/kafka/server.properties <<EOF\n"
         "process.roles=broker,controller\n"
         "node.id=${count.index + 1}\n"
         "controller.quorum.voters=${local.kafka_voters}\n"
         "controller.listener.names=CONTROLLER\n"
         "listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093,INTERNAL://0.0.0.0:9094\n"
         "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
         "INTERNAL:PLAINTEXT\n"
         "inter.broker.listener.name=INTERNAL\n"
         "advertised.listeners=PLAINTEXT://$ADDRESS:9092,"
         "INTERNAL://${local.broker_private_ips[count.index]}:9094\n"
         "log.dirs=/var/lib/kafka\n"
         "offsets.topic.replication.factor=${min(3, var.broker_count)}\n"
         "transaction.state.log.replication.factor=${min(3, var.broker_count)}\n"
         "transaction.state.log.min.isr=${min(2, var.broker_count)}\n"
         "group.initial.rebalance.delay.ms=0\n" +
         template_literal(server_lines(system.deploy.server, "=")) +
         "EOF\n"
         "/opt/kafka/bin/kafka-storage.sh format --cluster-id=${var.kafka_cluster_id} "
         "-c /opt/kafka/server.properties\n"
         "systemd-run --unit=kafka /opt/kafka/bin/kafka-server-start.sh "
         "/opt/kafka/server.properties\n";
}

std::string redis_user_data(const core::System& system) {
  return std::string("#!/bin/bash\nset -euxo pipefail\n") +
         "apt-get update\napt-get install -y redis-server\n"
         "systemctl stop redis-server || true\n"
         "mkdir -p /var/lib/dec-redis\n"
         "cat > /etc/redis/dec.conf <<'EOF'\n"
         "bind 0.0.0.0\nport 6379\nprotected-mode no\ndir /var/lib/dec-redis\nsave \"\"\n"
         "appendonly no\n" +
         template_literal(server_lines(system.deploy.server, " ")) +
         "EOF\n"
         "systemd-run --unit=dec-redis /usr/bin/redis-server /etc/redis/dec.conf\n";
}

std::string nats_user_data(const core::System& system) {
  return std::string("#!/bin/bash\nset -euxo pipefail\n") +
         "apt-get update\napt-get install -y nats-server\n"
         "mkdir -p /var/lib/dec-nats\n"
         "cat > /etc/dec-nats.conf <<'EOF'\n"
         "port: 4222\nserver_name: dec-nats-${count.index}\n"
         "jetstream {\n  store_dir: /var/lib/dec-nats\n}\n"
         "%{ if var.broker_count > 1 ~}\n"
         "cluster {\n  name: dec\n  listen: 0.0.0.0:6222\n  routes: [${local.nats_routes}]\n}\n"
         "%{ endif ~}\n" +
         template_literal(server_lines(system.deploy.server, ": ")) +
         "EOF\n"
         "systemd-run --unit=dec-nats /usr/bin/nats-server -c /etc/dec-nats.conf\n";
}

const char* kWorkerUserData =
    "#!/bin/bash\nset -euxo pipefail\n"
    "%{ if var.dec_url != \"\" ~}\n"
    "curl -fsSL -o /usr/local/bin/dec '${var.dec_url}'\nchmod 755 /usr/local/bin/dec\n"
    "%{ endif ~}\n"
    "systemd-run --unit=dec-worker /usr/local/bin/dec worker --listen 0.0.0.0:7700\n";

void add_variable(json& main, json& values, const std::string& name, const std::string& type,
                  json value) {
  main["variable"][name] = {{"type", type}};
  values[name] = std::move(value);
}

// An ingress rule per CIDR of var.allow_cidrs, and one from the workers' group when it exists.
void add_ingress(json& resources, const std::string& name, const std::string& group, int from,
                 int to, bool from_workers) {
  json rule = {{"for_each", "${toset(var.allow_cidrs)}"},
               {"security_group_id", "${aws_security_group." + group + ".id}"},
               {"ip_protocol", "tcp"},
               {"from_port", from},
               {"to_port", to},
               {"cidr_ipv4", "${each.value}"},
               {"description", "from an allowed network"},
               {"tags", "${local.tags}"}};
  resources["aws_vpc_security_group_ingress_rule"][name + "_allowed"] = rule;
  if (from_workers) {
    json from_agents = rule;
    from_agents.erase("for_each");
    from_agents.erase("cidr_ipv4");
    from_agents["referenced_security_group_id"] = "${aws_security_group.workers.id}";
    from_agents["description"] = "from the run's load agents";
    resources["aws_vpc_security_group_ingress_rule"][name + "_workers"] = from_agents;
  }
}

void add_security_group(json& resources, const std::string& group, const std::string& what) {
  resources["aws_security_group"][group] = {
      {"name_prefix", "${var.name}-" + group + "-"},
      {"description", what + " of dec run ${var.run_id}"},
      {"vpc_id", "${var.vpc_id}"},
      {"tags", tags_with_name("\"${var.name}-" + group + "\"")}};
  resources["aws_vpc_security_group_egress_rule"][group + "_all"] = {
      {"security_group_id", "${aws_security_group." + group + ".id}"},
      {"ip_protocol", "-1"},
      {"cidr_ipv4", "0.0.0.0/0"},
      {"description", "packages, peers and the system under test"},
      {"tags", "${local.tags}"}};
}

json instance(const std::string& count, const std::string& instance_type, const std::string& group,
              const std::string& user_data, const std::string& name) {
  return {{"count", count},
          {"ami", "${local.ami}"},
          {"instance_type", instance_type},
          {"subnet_id", "${var.subnet_ids[0]}"},
          {"vpc_security_group_ids", {"${aws_security_group." + group + ".id}"}},
          {"associate_public_ip_address", "${var.public_addresses}"},
          {"key_name", "${var.key_name == \"\" ? null : var.key_name}"},
          {"user_data", user_data},
          {"user_data_replace_on_change", true},
          {"metadata_options", {{"http_tokens", "required"}}},
          {"tags", tags_with_name(name)},
          {"volume_tags", "${local.tags}"}};
}

}  // namespace

Result<StackSettings> parse_settings(const core::System& system) {
  const Settings& s = system.deploy.settings;
  for (const auto& [key, value] : s) {
    if (!kKnownSettings.count(key)) {
      std::string known;
      for (const auto& k : kKnownSettings) known += (known.empty() ? "" : ", ") + k;
      return field_error(key, "not a terraform provider setting; known settings: " + known);
    }
  }
  StackSettings out;
  auto kind = choice(s, "kind", {"kinesis", "msk", "ec2"}, default_kind(system.driver));
  if (!kind) return make_error(kind.error());
  out.kind = *kind;
  const bool fits = (out.kind == "kinesis" && system.driver == "kinesis") ||
                    (out.kind == "msk" && system.driver == "kafka") ||
                    (out.kind == "ec2" && (system.driver == "kafka" || system.driver == "redis" ||
                                           system.driver == "nats"));
  if (!fits) {
    return field_error("kind", "\"" + out.kind + "\" cannot serve driver " + system.driver +
                                   " (kinesis serves kinesis, msk serves kafka, ec2 serves "
                                   "kafka, redis and nats)");
  }
  out.region = setting(s, "region");
  static const std::regex kRegion("[a-z]{2}(-[a-z]+)+-[0-9]+");
  if (out.region.empty()) return field_error("region", "required (e.g. region: eu-west-1)");
  if (!std::regex_match(out.region, kRegion)) {
    return field_error("region", "\"" + out.region + "\" is not an AWS region like eu-west-1");
  }
  auto binary = choice(s, "binary", {"terraform", "tofu"}, "");
  if (!binary) return make_error(binary.error());
  out.binary = *binary;
  auto backend = choice(s, "backend", {"local", "s3"}, "local");
  if (!backend) return make_error(backend.error());
  out.backend = *backend;
  out.backend_bucket = setting(s, "backend_bucket");
  out.backend_key = setting(s, "backend_key");
  out.backend_region = setting(s, "backend_region", out.region);
  if (out.backend == "s3" && out.backend_bucket.empty()) {
    return field_error("backend_bucket", "required with backend: s3 (the bucket holding state)");
  }
  if (out.backend == "local") {
    for (const char* key : {"backend_bucket", "backend_key", "backend_region"}) {
      if (s.count(key)) return field_error(key, "only applies to backend: s3");
    }
  }
  out.allow_cidrs = split_list(setting(s, "allow_cidrs"));
  for (const auto& cidr : out.allow_cidrs) {
    if (!valid_cidr(cidr)) {
      return field_error("allow_cidrs",
                         "\"" + cidr + "\" is not an IPv4 network like 203.0.113.7/32");
    }
    if (cidr.ends_with("/0")) {
      return field_error("allow_cidrs", "\"" + cidr +
                                            "\" admits the whole internet; name the networks dec "
                                            "connects from (e.g. 203.0.113.7/32)");
    }
  }
  out.vpc_id = setting(s, "vpc_id");
  out.subnet_ids = split_list(setting(s, "subnet_ids"));

  auto stream_mode = choice(s, "stream_mode", {"provisioned", "on_demand"}, "provisioned");
  if (!stream_mode) return make_error(stream_mode.error());
  out.stream_mode = *stream_mode;
  auto retention = int_setting(s, "retention_hours", 24, 24, 8760);
  if (!retention) return make_error(retention.error());
  out.retention_hours = *retention;

  out.instance_type =
      setting(s, "instance_type", out.kind == "msk" ? "kafka.m5.large" : "m5.large");
  auto volume = int_setting(s, "volume_size_gb", out.kind == "msk" ? 100 : 20, 1, 16384);
  if (!volume) return make_error(volume.error());
  out.volume_size_gb = *volume;
  out.kafka_version = setting(s, "kafka_version", out.kind == "msk" ? "3.6.0" : "3.9.1");
  static const std::regex kVersion("[0-9]+\\.[0-9]+\\.[0-9]+(\\.[a-z0-9]+)?");
  if (!std::regex_match(out.kafka_version, kVersion)) {
    return field_error("kafka_version",
                       "\"" + out.kafka_version + "\" is not a version like 3.6.0");
  }
  auto auth = choice(s, "client_auth", {"plaintext", "tls"}, "plaintext");
  if (!auth) return make_error(auth.error());
  out.client_auth = *auth;
  out.ami = setting(s, "ami");
  out.key_name = setting(s, "key_name");
  auto public_addresses = bool_setting(s, "public_addresses", true);
  if (!public_addresses) return make_error(public_addresses.error());
  out.public_addresses = *public_addresses;
  auto first_host = int_setting(s, "first_host_number", 10, 4, 250);
  if (!first_host) return make_error(first_host.error());
  out.first_host_number = *first_host;
  auto workers = bool_setting(s, "workers", true);
  if (!workers) return make_error(workers.error());
  out.workers = *workers;
  out.worker_instance_type = setting(s, "worker_instance_type", "c5.large");
  auto worker_count = int_setting(s, "worker_count", 1, 1, 32);
  if (!worker_count) return make_error(worker_count.error());
  out.worker_count = *worker_count;
  out.dec_url = setting(s, "dec_url");
  if (!out.dec_url.empty() && !out.dec_url.starts_with("https://")) {
    return field_error("dec_url", "expected an https:// URL of a dec binary for the workers");
  }
  auto timeout = int_setting(s, "timeout_minutes", 60, 1, 1440);
  if (!timeout) return make_error(timeout.error());
  out.timeout_minutes = *timeout;

  if (system.deploy.cpus || system.deploy.memory || system.deploy.bandwidth) {
    return make_error(
        "deploy.cpus/memory/bandwidth: cloud resources are sized by deploy.settings "
        "(instance_type, volume_size_gb, stream_mode); remove them");
  }
  if (out.kind == "kinesis" && system.deploy.nodes != 1) {
    return make_error("deploy.nodes: Kinesis has no nodes; shards come from workload.partitions");
  }
  if (out.kind == "kinesis" && !system.deploy.server.empty()) {
    return make_error("deploy.server: Kinesis has no broker configuration; remove deploy.server");
  }
  if (out.kind == "msk" && out.subnet_ids.size() > 0 &&
      system.deploy.nodes % static_cast<int>(out.subnet_ids.size()) != 0) {
    return make_error("deploy.nodes: MSK needs a multiple of the number of subnets (" +
                      std::to_string(out.subnet_ids.size()) + " in deploy.settings.subnet_ids)");
  }
  if (out.kind == "msk" && system.deploy.nodes < 2) {
    return make_error("deploy.nodes: an MSK cluster has at least 2 brokers (one per subnet)");
  }
  return out;
}

Result<RenderedStack> render_stack(const core::System& system, const DeployRequest& request,
                                   const StackSettings& settings, const std::string& installation) {
  const bool workers = request.workers && settings.workers;
  const bool needs_vpc = workers || settings.kind != "kinesis";
  if (needs_vpc && settings.vpc_id.empty()) {
    return field_error("vpc_id", std::string("required for ") +
                                     (settings.kind == "kinesis" ? "the load agents' instances"
                                                                 : settings.kind + " brokers") +
                                     " (or workers: false)");
  }
  if (needs_vpc && settings.subnet_ids.empty()) {
    return field_error("subnet_ids",
                       "required: comma-separated subnet ids of deploy.settings.vpc_id");
  }
  if (settings.kind == "kinesis" && request.topics.empty()) {
    return make_error("workload: Kinesis needs at least one stream (topic)");
  }
  RenderedStack out;
  json& main = out.main;
  json& values = out.variables;
  main["terraform"]["required_version"] = ">= 1.5.0";
  main["terraform"]["required_providers"]["aws"] = {{"source", "hashicorp/aws"},
                                                    {"version", ">= 5.30"}};
  if (settings.backend == "s3") {
    std::string key = settings.backend_key.empty()
                          ? "dec/" + installation + "/" + request.run_id + "/terraform.tfstate"
                          : settings.backend_key;
    main["terraform"]["backend"]["s3"] = {
        {"bucket", settings.backend_bucket}, {"key", key}, {"region", settings.backend_region}};
  } else {
    main["terraform"]["backend"]["local"] = {{"path", "terraform.tfstate"}};
  }
  add_variable(main, values, "region", "string", settings.region);
  add_variable(main, values, "installation", "string", installation);
  add_variable(main, values, "run_id", "string", request.run_id);
  add_variable(main, values, "name", "string", stack_name(request.run_id));
  main["provider"]["aws"] = {
      {"region", "${var.region}"},
      {"default_tags",
       {{"tags", {{"dec-installation", "${var.installation}"}, {"dec-run", "${var.run_id}"}}}}}};
  main["locals"]["tags"] = {{"dec-installation", "${var.installation}"},
                            {"dec-run", "${var.run_id}"}};
  json& resources = main["resource"];
  json& outputs = main["output"];
  const bool brokers_on_ec2 = settings.kind == "ec2";

  if (needs_vpc) {
    add_variable(main, values, "vpc_id", "string", settings.vpc_id);
    add_variable(main, values, "subnet_ids", "list(string)", settings.subnet_ids);
    add_variable(main, values, "allow_cidrs", "list(string)", settings.allow_cidrs);
  }
  if (workers || brokers_on_ec2) {
    add_variable(main, values, "ami", "string", settings.ami);
    add_variable(main, values, "key_name", "string", settings.key_name);
    add_variable(main, values, "public_addresses", "bool", settings.public_addresses);
    // The latest Debian 12 image published by Debian's own AWS account, unless settings.ami.
    main["data"]["aws_ami"]["debian"] = {{"most_recent", true},
                                         {"owners", {"136693071363"}},
                                         {"filter",
                                          {{{"name", "name"}, {"values", {"debian-12-amd64-*"}}},
                                           {{"name", "architecture"}, {"values", {"x86_64"}}}}}};
    main["locals"]["ami"] = "${var.ami != \"\" ? var.ami : data.aws_ami.debian.id}";
  }
  if (workers) {
    add_variable(main, values, "worker_instance_type", "string", settings.worker_instance_type);
    add_variable(main, values, "worker_count", "number", settings.worker_count);
    add_variable(main, values, "dec_url", "string", settings.dec_url);
    add_security_group(resources, "workers", "load agents");
    add_ingress(resources, "workers", "workers", kWorkerPort, kWorkerPort, false);
    resources["aws_instance"]["worker"] =
        instance("${var.worker_count}", "${var.worker_instance_type}", "workers", kWorkerUserData,
                 "\"${var.name}-worker-${count.index}\"");
    outputs["worker_addresses"] = {
        {"value", "${[for i in aws_instance.worker : format(\"%s:" + std::to_string(kWorkerPort) +
                      "\", var.public_addresses ? i.public_ip : i.private_ip)]}"},
        {"description", "host:port of each dec worker agent"}};
  }

  if (settings.kind == "kinesis") {
    add_variable(main, values, "stream_names", "list(string)", request.topics);
    add_variable(main, values, "retention_hours", "number", settings.retention_hours);
    json stream = {{"for_each", "${toset(var.stream_names)}"},
                   {"name", "${each.value}"},
                   {"retention_period", "${var.retention_hours}"},
                   {"tags", tags_with_name("each.value")}};
    if (settings.stream_mode == "on_demand") {
      stream["stream_mode_details"] = {{"stream_mode", "ON_DEMAND"}};
    } else {
      add_variable(main, values, "shard_count", "number", request.partitions);
      stream["shard_count"] = "${var.shard_count}";
      stream["stream_mode_details"] = {{"stream_mode", "PROVISIONED"}};
    }
    resources["aws_kinesis_stream"]["stream"] = stream;
    outputs["stream_names"] = {{"value", "${[for s in aws_kinesis_stream.stream : s.name]}"},
                               {"description", "the workload's Kinesis streams"}};
  } else if (settings.kind == "msk") {
    const bool tls = settings.client_auth == "tls";
    add_variable(main, values, "broker_count", "number", system.deploy.nodes);
    add_variable(main, values, "broker_instance_type", "string", settings.instance_type);
    add_variable(main, values, "volume_size_gb", "number", settings.volume_size_gb);
    add_variable(main, values, "kafka_version", "string", settings.kafka_version);
    add_security_group(resources, "brokers", "Kafka brokers");
    const int port = tls ? 9094 : 9092;
    add_ingress(resources, "brokers", "brokers", port, port, workers);
    json cluster = {
        {"cluster_name", "${var.name}"},
        {"kafka_version", "${var.kafka_version}"},
        {"number_of_broker_nodes", "${var.broker_count}"},
        {"broker_node_group_info",
         {{"instance_type", "${var.broker_instance_type}"},
          {"client_subnets", "${var.subnet_ids}"},
          {"security_groups", {"${aws_security_group.brokers.id}"}},
          {"storage_info", {{"ebs_storage_info", {{"volume_size", "${var.volume_size_gb}"}}}}}}},
        {"encryption_info",
         {{"encryption_in_transit",
           {{"client_broker", tls ? "TLS" : "PLAINTEXT"}, {"in_cluster", true}}}}},
        {"client_authentication", {{"unauthenticated", true}}},
        {"tags", tags_with_name("var.name")}};
    if (!system.deploy.server.empty()) {
      add_variable(main, values, "server_properties", "string",
                   server_lines(system.deploy.server, "="));
      resources["aws_msk_configuration"]["kafka"] = {
          {"name", "${var.name}"},
          {"kafka_versions", {"${var.kafka_version}"}},
          {"server_properties", "${var.server_properties}"}};
      cluster["configuration_info"] = {
          {"arn", "${aws_msk_configuration.kafka.arn}"},
          {"revision", "${aws_msk_configuration.kafka.latest_revision}"}};
    }
    resources["aws_msk_cluster"]["kafka"] = cluster;
    outputs["broker_addresses"] = {
        {"value", std::string("${split(\",\", aws_msk_cluster.kafka.") +
                      (tls ? "bootstrap_brokers_tls" : "bootstrap_brokers") + ")}"},
        {"description", "the cluster's bootstrap brokers"}};
  } else {
    const int port = broker_port(system.driver);
    add_variable(main, values, "broker_count", "number", system.deploy.nodes);
    add_variable(main, values, "broker_instance_type", "string", settings.instance_type);
    add_variable(main, values, "volume_size_gb", "number", settings.volume_size_gb);
    add_variable(main, values, "first_host_number", "number", settings.first_host_number);
    main["data"]["aws_subnet"]["brokers"] = {{"id", "${var.subnet_ids[0]}"}};
    // Fixed private addresses, so every node's configuration can name its peers up front.
    main["locals"]["broker_private_ips"] =
        "${[for i in range(var.broker_count) : cidrhost(data.aws_subnet.brokers.cidr_block, "
        "var.first_host_number + i)]}";
    add_variable(main, values, "brokers_public", "bool", settings.public_addresses && !workers);
    std::string user_data;
    if (system.driver == "kafka") {
      add_variable(main, values, "kafka_version", "string", settings.kafka_version);
      add_variable(main, values, "kafka_cluster_id", "string",
                   systems::kafka_cluster_id(request.run_id));
      main["locals"]["kafka_voters"] =
          "${join(\",\", [for i, ip in local.broker_private_ips : format(\"%d@%s:9093\", i + 1, "
          "ip)])}";
      user_data = kafka_user_data(system);
    } else if (system.driver == "redis") {
      user_data = redis_user_data(system);
    } else {
      main["locals"]["nats_routes"] =
          "${join(\", \", [for ip in local.broker_private_ips : format(\"nats://%s:6222\", "
          "ip)])}";
      user_data = nats_user_data(system);
    }
    add_security_group(resources, "brokers", system.driver + " brokers");
    add_ingress(resources, "brokers", "brokers", port, port, workers);
    if (system.driver != "redis") {
      // Kafka: controller quorum (9093) and replication (9094); NATS: cluster routes.
      const int peer_port = system.driver == "kafka" ? 9093 : 6222;
      resources["aws_vpc_security_group_ingress_rule"]["brokers_cluster"] = {
          {"security_group_id", "${aws_security_group.brokers.id}"},
          {"ip_protocol", "tcp"},
          {"from_port", peer_port},
          {"to_port", system.driver == "kafka" ? 9094 : peer_port},
          {"referenced_security_group_id", "${aws_security_group.brokers.id}"},
          {"description", "cluster traffic between the run's brokers"},
          {"tags", "${local.tags}"}};
    }
    json broker = instance("${var.broker_count}", "${var.broker_instance_type}", "brokers",
                           user_data, "\"${var.name}-broker-${count.index}\"");
    broker["subnet_id"] = "${data.aws_subnet.brokers.id}";
    broker["private_ip"] = "${local.broker_private_ips[count.index]}";
    broker["root_block_device"] = {{"volume_size", "${var.volume_size_gb}"},
                                   {"volume_type", "gp3"}};
    resources["aws_instance"]["broker"] = broker;
    outputs["broker_addresses"] = {
        {"value", "${[for i in aws_instance.broker : format(\"%s:" + std::to_string(port) +
                      "\", var.brokers_public ? i.public_ip : i.private_ip)]}"},
        {"description", "host:port of each broker"}};
  }
  out.hash = drivers::aws::sha256_hex(file_text(out.main) + file_text(out.variables));
  return out;
}

std::string file_text(const nlohmann::json& document) { return document.dump(2) + "\n"; }

}  // namespace dec::infra::terraform
