// The endpoints provider: the system already exists (a real Kafka cluster, AWS Kinesis, a shared
// Redis). dec creates nothing and destroys nothing; the plan records one `endpoint` resource so
// runs, state files and reconcile work the same as for created infrastructure.
//
// deploy.settings:
//   addresses | bootstrap_servers   comma-separated host:port list (Kinesis on AWS needs none)
//   anything else                   handed to the driver as endpoint properties, e.g. Kafka's
//                                   security.protocol, sasl.mechanisms, sasl.username, or
//                                   Kinesis's region
// A value written ${NAME} is read from the environment when the run starts (as the context's
// spec_policy allows: any variable for the CLI, the operator's --secret names for `dec serve`)
// and never stored in a state file, so secrets (sasl.password) stay out of dec's data dir.
#pragma once

#include "infra/provider.h"

namespace dec::infra {

class EndpointsProvider : public Provider {
 public:
  explicit EndpointsProvider(ProviderContext context) : context_(std::move(context)) {}
  std::string name() const override { return "endpoints"; }
  Result<std::vector<Resource>> resources_for(const core::System& system,
                                              const DeployRequest& request) override;
  Status create(ResourceRecord& record, const RunState& state,
                const std::function<Status()>& save) override;
  Status destroy(const ResourceRecord& record, const RunState& state) override;
  bool exists(const ResourceRecord& record) override;
  Result<ServiceEndpoint> endpoint(const RunState& state) override;
  std::vector<DiscoveredResource> discover() override { return {}; }
  Status destroy_discovered(const DiscoveredResource&) override { return Status::Ok(); }

 private:
  ProviderContext context_;
};

}  // namespace dec::infra
