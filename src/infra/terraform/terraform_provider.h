// The terraform provider (`deploy: {provider: terraform, settings: {...}}`): a run's AWS
// infrastructure as one Terraform stack, driven through the terraform or tofu CLI.
//
// resources_for renders the configuration (render.h) and returns one resource, type "stack",
// address "stack.<system>", whose attributes carry the rendered configuration and its hash.
// The stack lives in <data_dir>/terraform/<run_id>/: main.tf.json, terraform.tfvars.json,
// stack.json (what discover() needs), terraform.log (progress) and, with the default local
// backend, terraform.tfstate.
//   create   write the files, `init`, `plan -out=tfplan -json`, `apply -json tfplan`, then
//            record `output -json` (broker_addresses, worker_addresses, stream_names)
//   update   the same with the new configuration (Terraform changes what it can in place)
//   destroy  `destroy -auto-approve -json`; the directory goes only when that succeeded
//   exists   the state lists resources (`show -json`; with the local backend the state file
//            must be there too)
//   observe  `plan -refresh-only -json`: resource_drift messages become the "drift" attribute
//   discover stack directories (tagged by their run id), plus, with AWS credentials, what the
//            Resource Groups Tagging API finds tagged dec-installation=<id> that no recorded
//            stack's state holds (reported; Terraform cannot delete what it does not track)
// Errors from the CLI carry its diagnostics ("summary: detail (address)").
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/aws_sigv4.h"
#include "drivers/http_client.h"
#include "infra/provider.h"
#include "infra/terraform/command_runner.h"
#include "infra/terraform/ui_stream.h"

namespace dec::infra::terraform {

struct TerraformOptions {
  std::shared_ptr<CommandRunner> runner;  // runs the CLI
  std::string search_path;                // where terraform / tofu are looked for (a PATH value)
  // Credentials, region and DEC_AWS_TAGGING_ENDPOINT (the tagging API's URL, for a test double
  // or a private endpoint) for discovery.
  drivers::aws::EnvironmentLookup environment;
  drivers::HttpClientFactory http;
  std::function<std::chrono::system_clock::time_point()> clock;
};

// The real CLI from this process's PATH, AWS settings from its environment, libcurl.
TerraformOptions default_options();

class TerraformProvider : public Provider {
 public:
  explicit TerraformProvider(ProviderContext context, TerraformOptions options = default_options());
  std::string name() const override { return "terraform"; }
  Result<std::vector<Resource>> resources_for(const core::System& system,
                                              const DeployRequest& request) override;
  std::vector<std::string> updatable_in_place() const override {
    return {"configuration", "configuration_hash", "drift", "timeout_minutes"};
  }
  Status create(ResourceRecord& record, const RunState& state,
                const std::function<Status()>& save) override;
  Status update(ResourceRecord& record, const Resource& desired, const RunState& state,
                const std::function<Status()>& save) override;
  Status destroy(const ResourceRecord& record, const RunState& state) override;
  bool exists(const ResourceRecord& record) override;
  Settings observe(const ResourceRecord& record) override;
  Result<ServiceEndpoint> endpoint(const RunState& state) override;
  std::vector<DiscoveredResource> discover() override;
  Status destroy_discovered(const DiscoveredResource& resource) override;

  std::string stack_dir(const std::string& run_id) const;
  // The CLI to run: `wanted` ("terraform" or "tofu") or, when empty, the first of them found on
  // the search path; the error names both when neither is there.
  Result<std::string> find_binary(const std::string& wanted) const;
  // What the last discover() could not find out (the tagging API unreachable, ...); "" if none.
  std::string discovery_error() const;

 private:
  struct CliRun {
    CommandOutput output;
    UiReport report;
  };
  Result<CliRun> run_cli(const std::string& dir, const std::string& binary,
                         const std::vector<std::string>& args, int timeout_minutes);
  // Runs and turns a non-zero exit into an error with the diagnostics.
  Result<CliRun> run_ok(const std::string& dir, const std::string& binary,
                        const std::vector<std::string>& args, int timeout_minutes);
  Status write_stack(const std::string& dir, const Resource& resource, const RunState& state);
  Status apply_stack(ResourceRecord& record, const Resource& desired, const RunState& state,
                     const std::function<Status()>& save);
  Status destroy_stack(const std::string& dir, const std::string& binary_name, int timeout_minutes,
                       const std::string& log_name);

  ProviderContext context_;
  TerraformOptions options_;
  mutable std::mutex mutex_;
  std::string discovery_error_;
};

}  // namespace dec::infra::terraform
