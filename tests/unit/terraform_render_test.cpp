// The terraform provider's pure parts: settings checks, the rendered Terraform JSON (golden
// files in tests/golden/terraform; UPDATE_GOLDEN=1 rewrites them) and the machine-readable UI
// stream reader.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "infra/terraform/render.h"
#include "infra/terraform/ui_stream.h"

namespace dec::infra::terraform {
namespace {

using nlohmann::json;

const std::string kGoldenDir = std::string(DEC_SOURCE_DIR) + "/tests/golden/terraform";
const std::string kReplayDir = std::string(DEC_SOURCE_DIR) + "/tests/support/terraform_replays";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

core::System kinesis_system() {
  core::System system;
  system.name = "kinesis-aws";
  system.driver = "kinesis";
  system.deploy.provider = "terraform";
  system.deploy.settings = {{"region", "eu-west-1"},
                            {"stream_mode", "provisioned"},
                            {"retention_hours", "48"},
                            {"workers", "false"}};
  return system;
}

core::System msk_system() {
  core::System system;
  system.name = "msk";
  system.driver = "kafka";
  system.deploy.provider = "terraform";
  system.deploy.nodes = 3;
  system.deploy.server = {{"min.insync.replicas", "2"}};
  system.deploy.settings = {{"kind", "msk"},
                            {"region", "eu-west-1"},
                            {"vpc_id", "vpc-0abc"},
                            {"subnet_ids", "subnet-a,subnet-b,subnet-c"},
                            {"allow_cidrs", "203.0.113.7/32"},
                            {"instance_type", "kafka.m5.large"},
                            {"volume_size_gb", "200"},
                            {"client_auth", "tls"},
                            {"backend", "s3"},
                            {"backend_bucket", "dec-state"}};
  return system;
}

core::System ec2_kafka_system() {
  core::System system;
  system.name = "kafka-ec2";
  system.driver = "kafka";
  system.deploy.provider = "terraform";
  system.deploy.nodes = 3;
  system.deploy.server = {{"num.network.threads", "4"}};
  system.deploy.settings = {{"kind", "ec2"},
                            {"region", "us-east-1"},
                            {"vpc_id", "vpc-0abc"},
                            {"subnet_ids", "subnet-a"},
                            {"allow_cidrs", "203.0.113.7/32, 198.51.100.0/24"},
                            {"instance_type", "m5.xlarge"},
                            {"worker_count", "2"},
                            {"dec_url", "https://example.com/dec/dec-linux-amd64"}};
  return system;
}

DeployRequest request(int partitions = 4) {
  DeployRequest r;
  r.run_id = "exp-1.p0.r0.sys";
  r.topics = {"dec-exp-1-0"};
  r.partitions = partitions;
  r.workers = true;
  return r;
}

RenderedStack render(const core::System& system, const DeployRequest& r = request()) {
  auto settings = parse_settings(system);
  EXPECT_TRUE(settings.ok()) << settings.error();
  auto rendered = render_stack(system, r, *settings, "0123456789ab");
  EXPECT_TRUE(rendered.ok()) << rendered.error();
  return *rendered;
}

// Compares with the golden files of `name`, or rewrites them with UPDATE_GOLDEN=1.
void check_golden(const std::string& name, const RenderedStack& stack) {
  const std::string dir = kGoldenDir + "/" + name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/main.tf.json") << file_text(stack.main);
    std::ofstream(dir + "/terraform.tfvars.json") << file_text(stack.variables);
  }
  EXPECT_EQ(read_text(dir + "/main.tf.json"), file_text(stack.main))
      << "rendered configuration differs from " << dir
      << "/main.tf.json; if intended, run with UPDATE_GOLDEN=1";
  EXPECT_EQ(read_text(dir + "/terraform.tfvars.json"), file_text(stack.variables))
      << "variables differ from " << dir << "/terraform.tfvars.json";
}

// Every resource is tagged with the run; the provider block tags by default.
void check_tags(const json& main) {
  const json& tags = main["provider"]["aws"]["default_tags"]["tags"];
  EXPECT_EQ(tags["dec-installation"], "${var.installation}");
  EXPECT_EQ(tags["dec-run"], "${var.run_id}");
  for (const auto& [type, resources] : main["resource"].items()) {
    if (type == "aws_msk_configuration") continue;  // takes no tags
    for (const auto& [name, resource] : resources.items()) {
      ASSERT_TRUE(resource.contains("tags")) << type << "." << name;
      EXPECT_NE(resource["tags"].get<std::string>().find("local.tags"), std::string::npos)
          << type << "." << name;
    }
  }
}

// Ingress comes only from the allowed networks or the run's own security groups.
void check_ingress(const json& main) {
  ASSERT_TRUE(main["resource"].contains("aws_vpc_security_group_ingress_rule"));
  for (const auto& [name, rule] : main["resource"]["aws_vpc_security_group_ingress_rule"].items()) {
    if (rule.contains("cidr_ipv4")) {
      EXPECT_EQ(rule["cidr_ipv4"], "${each.value}") << name;
      EXPECT_EQ(rule["for_each"], "${toset(var.allow_cidrs)}") << name;
    } else {
      EXPECT_NE(
          rule["referenced_security_group_id"].get<std::string>().find("${aws_security_group."),
          std::string::npos)
          << name;
    }
  }
}

TEST(TerraformRender, KinesisGolden) {
  RenderedStack stack = render(kinesis_system());
  check_golden("kinesis", stack);
  check_tags(stack.main);
  const json& stream = stack.main["resource"]["aws_kinesis_stream"]["stream"];
  EXPECT_EQ(stream["shard_count"], "${var.shard_count}");
  EXPECT_EQ(stack.variables["shard_count"], 4);
  EXPECT_EQ(stack.variables["retention_hours"], 48);
  EXPECT_EQ(stack.variables["stream_names"], json::array({"dec-exp-1-0"}));
  EXPECT_TRUE(stack.main["output"].contains("stream_names"));
  EXPECT_FALSE(stack.main["resource"].contains("aws_instance"));  // workers: false
  EXPECT_TRUE(stack.main["terraform"]["backend"].contains("local"));
}

TEST(TerraformRender, KinesisOnDemandHasNoShardCount) {
  core::System system = kinesis_system();
  system.deploy.settings["stream_mode"] = "on_demand";
  RenderedStack stack = render(system);
  const json& stream = stack.main["resource"]["aws_kinesis_stream"]["stream"];
  EXPECT_FALSE(stream.contains("shard_count"));
  EXPECT_EQ(stream["stream_mode_details"]["stream_mode"], "ON_DEMAND");
  EXPECT_FALSE(stack.variables.contains("shard_count"));
}

TEST(TerraformRender, MskGolden) {
  RenderedStack stack = render(msk_system());
  check_golden("msk", stack);
  check_tags(stack.main);
  check_ingress(stack.main);
  const json& cluster = stack.main["resource"]["aws_msk_cluster"]["kafka"];
  EXPECT_EQ(stack.variables["broker_count"], 3);
  EXPECT_EQ(cluster["encryption_info"]["encryption_in_transit"]["client_broker"], "TLS");
  EXPECT_EQ(stack.variables["server_properties"], "min.insync.replicas=2\n");
  const json& s3 = stack.main["terraform"]["backend"]["s3"];
  EXPECT_EQ(s3["bucket"], "dec-state");
  EXPECT_EQ(s3["key"], "dec/0123456789ab/exp-1.p0.r0.sys/terraform.tfstate");
  EXPECT_EQ(s3["region"], "eu-west-1");
}

TEST(TerraformRender, Ec2KafkaWithWorkersGolden) {
  RenderedStack stack = render(ec2_kafka_system());
  check_golden("ec2-kafka-workers", stack);
  check_tags(stack.main);
  check_ingress(stack.main);
  const json& resources = stack.main["resource"];
  EXPECT_EQ(resources["aws_instance"]["broker"]["count"], "${var.broker_count}");
  EXPECT_EQ(resources["aws_instance"]["worker"]["count"], "${var.worker_count}");
  EXPECT_EQ(stack.variables["worker_count"], 2);
  EXPECT_EQ(stack.variables["allow_cidrs"], json::array({"203.0.113.7/32", "198.51.100.0/24"}));
  const std::string user_data = resources["aws_instance"]["broker"]["user_data"];
  EXPECT_NE(user_data.find("num.network.threads=4"), std::string::npos);
  EXPECT_NE(user_data.find("controller.quorum.voters=${local.kafka_voters}"), std::string::npos);
  EXPECT_NE(resources["aws_instance"]["worker"]["user_data"].get<std::string>().find(
                "dec worker --listen 0.0.0.0:7700"),
            std::string::npos);
  EXPECT_TRUE(stack.main["output"].contains("broker_addresses"));
  EXPECT_TRUE(stack.main["output"].contains("worker_addresses"));
  // Brokers admit the workers' group on the Kafka port; workers admit only allowed networks.
  EXPECT_TRUE(resources["aws_vpc_security_group_ingress_rule"].contains("brokers_workers"));
  EXPECT_FALSE(resources["aws_vpc_security_group_ingress_rule"].contains("workers_workers"));
}

TEST(TerraformRender, SpecTextCannotInjectTemplateSyntax) {
  core::System system = ec2_kafka_system();
  system.deploy.server = {{"listener.name", "${file(\"/etc/passwd\")}"}};
  RenderedStack stack = render(system);
  const std::string user_data = stack.main["resource"]["aws_instance"]["broker"]["user_data"];
  EXPECT_NE(user_data.find("listener.name=$${file("), std::string::npos);
}

TEST(TerraformRender, HashFollowsTheConfiguration) {
  RenderedStack a = render(kinesis_system(), request(4));
  RenderedStack b = render(kinesis_system(), request(4));
  RenderedStack c = render(kinesis_system(), request(8));
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_NE(a.hash, c.hash);
  EXPECT_EQ(a.hash.size(), 64u);
}

struct BadSettings {
  std::string key;
  std::string value;
  std::string error;
};

TEST(TerraformRender, SettingsErrorsNameTheField) {
  const std::vector<BadSettings> cases = {
      {"kind", "lambda", "deploy.settings.kind: expected one of kinesis, msk, ec2, got \"lambda\""},
      {"kind", "msk", "deploy.settings.kind: \"msk\" cannot serve driver kinesis"},
      {"region", "europe", "deploy.settings.region: \"europe\" is not an AWS region"},
      {"binary", "pulumi", "deploy.settings.binary: expected one of terraform, tofu"},
      {"backend", "s3", "deploy.settings.backend_bucket: required with backend: s3"},
      {"allow_cidrs", "0.0.0.0/0", "deploy.settings.allow_cidrs: \"0.0.0.0/0\" admits the whole"},
      {"allow_cidrs", "10.0.0.1", "deploy.settings.allow_cidrs: \"10.0.0.1\" is not an IPv4"},
      {"retention_hours", "2", "deploy.settings.retention_hours: expected a whole number from 24"},
      {"stream_mode", "fast",
       "deploy.settings.stream_mode: expected one of provisioned, on_demand"},
      {"dec_url", "http://x/dec", "deploy.settings.dec_url: expected an https:// URL"},
      {"shards", "2", "deploy.settings.shards: not a terraform provider setting"},
  };
  for (const auto& c : cases) {
    core::System system = kinesis_system();
    system.deploy.settings[c.key] = c.value;
    auto settings = parse_settings(system);
    ASSERT_FALSE(settings.ok()) << c.key << "=" << c.value;
    EXPECT_EQ(settings.error().rfind(c.error, 0), 0u) << settings.error();
  }
  core::System no_region = kinesis_system();
  no_region.deploy.settings.erase("region");
  auto missing = parse_settings(no_region);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "deploy.settings.region: required (e.g. region: eu-west-1)");
}

TEST(TerraformRender, MskNeedsNodesPerSubnetAndANetwork) {
  core::System system = msk_system();
  system.deploy.nodes = 4;
  auto settings = parse_settings(system);
  ASSERT_FALSE(settings.ok());
  EXPECT_NE(settings.error().find("deploy.nodes: MSK needs a multiple of the number of subnets"),
            std::string::npos);

  core::System no_vpc = msk_system();
  no_vpc.deploy.settings.erase("vpc_id");
  auto parsed = parse_settings(no_vpc);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  auto rendered = render_stack(no_vpc, request(), *parsed, "0123456789ab");
  ASSERT_FALSE(rendered.ok());
  EXPECT_EQ(rendered.error().rfind("deploy.settings.vpc_id: required", 0), 0u) << rendered.error();
}

TEST(TerraformUiStream, ReadsRecordedApplyFailure) {
  UiReport report = read_ui_stream(read_text(kReplayDir + "/apply_fails/apply.jsonl"));
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0],
            "creating EC2 Instance: operation error EC2: RunInstances, https response error "
            "StatusCode: 400: api error InvalidAMIID.NotFound: The image id '[ami-00000000]' does "
            "not exist (aws_instance.worker[0]) [main.tf.json:97]");
  EXPECT_EQ(report.completed, std::vector<std::string>{"aws_kinesis_stream.stream[\"orders\"]"});
  EXPECT_EQ(report.failed, std::vector<std::string>{"aws_instance.worker[0]"});
  // Every message but the version line is a progress line.
  EXPECT_EQ(report.progress.size(), 5u);
  EXPECT_EQ(report.progress[0], "aws_kinesis_stream.stream[\"orders\"]: Creating...");
  EXPECT_EQ(describe_errors(report, "stderr text"), report.errors[0]);
}

TEST(TerraformUiStream, ReadsSummaryDriftAndForeignLines) {
  UiReport applied = read_ui_stream(read_text(kReplayDir + "/success/apply.jsonl"));
  ASSERT_TRUE(applied.summary.has_value());
  EXPECT_EQ(applied.summary->add, 2);
  EXPECT_EQ(applied.summary->operation, "apply");
  EXPECT_TRUE(applied.errors.empty());

  UiReport drift = read_ui_stream(read_text(kReplayDir + "/drift/refresh.jsonl"));
  ASSERT_EQ(drift.drift.size(), 1u);
  EXPECT_EQ(drift.drift[0].address, "aws_kinesis_stream.stream[\"orders\"]");
  EXPECT_EQ(drift.drift[0].action, "update");

  UiReport foreign = read_ui_stream("panic: runtime error\n{\"type\":\"log\"}\n\n");
  EXPECT_EQ(foreign.progress, std::vector<std::string>{"panic: runtime error"});
  EXPECT_EQ(describe_errors(foreign, "Error: bad\n"), "Error: bad");
  EXPECT_EQ(describe_errors(foreign, "Warning: no CLI configuration\n\nError: Failed to query\n"),
            "Error: Failed to query");
}

}  // namespace
}  // namespace dec::infra::terraform
