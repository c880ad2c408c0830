// Rendering a run's Terraform configuration: pure functions from a system's deploy section and a
// DeployRequest to Terraform JSON (main.tf.json, built as JSON, never as HCL text) and the
// variables file (terraform.tfvars.json). Nothing here touches the filesystem or the CLI.
//
// deploy.settings.kind chooses what is created (default from the driver: kinesis -> kinesis,
// kafka -> msk, redis and nats -> ec2):
//   kinesis  one aws_kinesis_stream per topic (provisioned with `partitions` shards, or
//            on-demand: settings.stream_mode)
//   msk      an aws_msk_cluster of deploy.nodes brokers (+ aws_msk_configuration for
//            deploy.server)
//   ec2      deploy.nodes aws_instance brokers running Kafka (KRaft), Redis or NATS, installed
//            and started by user_data
// plus, when the run deploys workers, EC2 instances running `dec worker`. Security groups admit
// only the workers' group and settings.allow_cidrs. Every resource carries the tags
// dec-installation and dec-run (the aws provider's default_tags and explicit tags).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "infra/provider.h"

namespace dec::infra::terraform {

// deploy.settings, checked. Errors name the field: "deploy.settings.kind: expected one of ...".
struct StackSettings {
  std::string kind;               // kinesis | msk | ec2
  std::string region;             // AWS region
  std::string binary;             // terraform | tofu | "" (the first found on the search path)
  std::string backend = "local";  // local | s3
  std::string backend_bucket, backend_key, backend_region;
  std::vector<std::string> allow_cidrs;
  std::string vpc_id;
  std::vector<std::string> subnet_ids;
  // kinesis
  std::string stream_mode = "provisioned";  // provisioned | on_demand
  int retention_hours = 24;
  // msk / ec2
  std::string instance_type;              // default per kind
  int volume_size_gb = 0;                 // default per kind
  std::string kafka_version;              // default per kind
  std::string client_auth = "plaintext";  // msk: plaintext | tls
  std::string ami;                        // "" = the latest Debian 12 image
  std::string key_name;
  // Instances get public IPs (to download packages); dec reaches workers at them, and EC2 brokers
  // too when there are no workers (workers reach brokers at private addresses).
  bool public_addresses = true;
  int first_host_number = 10;  // ec2: brokers' private addresses are host N, N+1, ...
  // workers
  bool workers = true;
  std::string worker_instance_type = "c5.large";
  int worker_count = 1;
  std::string dec_url;       // where workers download dec from; "" = already on the image
  int timeout_minutes = 60;  // per CLI command
};

Result<StackSettings> parse_settings(const core::System& system);

struct RenderedStack {
  nlohmann::json main;       // main.tf.json
  nlohmann::json variables;  // terraform.tfvars.json
  std::string hash;          // sha256 of both, as written
};

// `installation` is the tag value of this data dir; `workers`: whether the run deploys agents.
Result<RenderedStack> render_stack(const core::System& system, const DeployRequest& request,
                                   const StackSettings& settings, const std::string& installation);

// Text of a rendered file as written (2-space indent, trailing newline).
std::string file_text(const nlohmann::json& document);

// The port `dec worker` listens on in an instance.
constexpr int kWorkerPort = 7700;

}  // namespace dec::infra::terraform
