// Provider: turns a system's `deploy` section into resources and creates / destroys / discovers
// them on some platform (local processes, existing endpoints, Kubernetes, Terraform).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "infra/env.h"
#include "infra/resource.h"

namespace dec::infra {

// Where the system under test can be reached once applied.
struct ServiceEndpoint {
  std::vector<std::string> addresses;  // host:port per node
  Settings properties;
  bool emulated = false;  // a local stand-in for the product (kafka-mock, kinesalite)
  std::string label;      // what actually serves it ("redis-server 7.0.15", "kinesalite")
};

// Something that exists and carries this installation's tags.
struct DiscoveredResource {
  std::string run_id;
  std::string address;
  std::string description;  // "redis-server pid 1234"
  Settings outputs;         // enough for destroy_discovered()
};

using LogFn = std::function<void(const std::string& line)>;

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // Desired resources for one system of an experiment; errors name the offending field.
  virtual Result<std::vector<Resource>> resources_for(const core::System& system,
                                                      const std::string& run_id) = 0;
  virtual std::vector<std::string> updatable_in_place() const { return {}; }
  // Creates one resource. `save` persists `record` (call it after every externally visible
  // action, e.g. right after a process is spawned, so a crash leaves its pid in the state).
  virtual Status create(ResourceRecord& record, const RunState& state,
                        const std::function<Status()>& save) = 0;
  virtual Status destroy(const ResourceRecord& record, const RunState& state) = 0;
  // True when the recorded resource still exists as recorded.
  virtual bool exists(const ResourceRecord& record) = 0;
  virtual Result<ServiceEndpoint> endpoint(const RunState& state) = 0;
  // Everything this installation's tags mark, whatever the state files say.
  virtual std::vector<DiscoveredResource> discover() = 0;
  virtual Status destroy_discovered(const DiscoveredResource& resource) = 0;
};

struct ProviderContext {
  Env* env = nullptr;
  std::string data_dir;      // absolute
  std::string installation;  // tag value identifying this data dir
  std::string dec_binary;    // path of the running dec, for services dec itself implements
  std::string tools_dir;     // npm-installed helpers (kinesalite); see scripts/setup
};

// Creates the provider named in a spec (`local`, ...); error lists the known ones.
Result<std::unique_ptr<Provider>> make_provider(const std::string& name,
                                                const ProviderContext& context);

}  // namespace dec::infra
