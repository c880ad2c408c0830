// The local provider: every broker is a process on this machine, on a free loopback port with
// its own data directory under <data-dir>/runs/<run>/, tagged through its environment
// (DEC_INSTALLATION, DEC_RUN, DEC_RESOURCE) and by its working directory (the resource's data
// dir), so discovery finds it even if the state file never learned its pid (dec killed between
// spawn and save) and even if the program rewrote its environment (redis-server does).
#pragma once

#include <optional>
#include <utility>

#include "infra/provider.h"

namespace dec::infra {

class LocalProvider : public Provider {
 public:
  explicit LocalProvider(ProviderContext context) : context_(std::move(context)) {}
  std::string name() const override { return "local"; }
  Result<std::vector<Resource>> resources_for(const core::System& system,
                                              const std::string& run_id) override;
  Status create(ResourceRecord& record, const RunState& state,
                const std::function<Status()>& save) override;
  Status destroy(const ResourceRecord& record, const RunState& state) override;
  bool exists(const ResourceRecord& record) override;
  Result<ServiceEndpoint> endpoint(const RunState& state) override;
  std::vector<DiscoveredResource> discover() override;
  Status destroy_discovered(const DiscoveredResource& resource) override;
  // (run id, resource address) of a process this installation started, if it is one.
  std::optional<std::pair<std::string, std::string>> owner_of(const ProcessInfo& process) const;

 private:
  std::string resource_dir(const std::string& run_id, const std::string& address) const;
  ProviderContext context_;
};

}  // namespace dec::infra
