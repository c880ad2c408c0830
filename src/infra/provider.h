// Provider: turns a system's `deploy` section into resources and creates / destroys / discovers
// them on some platform (local processes, existing endpoints, Kubernetes, Terraform).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "core/spec_policy.h"
#include "infra/env.h"
#include "infra/resource.h"

namespace dec::infra {

// Where the system under test can be reached once applied.
struct ServiceEndpoint {
  std::vector<std::string> addresses;  // host:port per node
  Settings properties;
  bool emulated = false;  // a local stand-in for the product (kafka-mock, kinesalite)
  std::string label;      // what actually serves it ("redis-server 7.0.15", "kinesalite")
  std::vector<std::string> workers;       // host:port of deployed `dec worker` agents; empty = the
                                          // orchestrator drives the load from its own process
  std::vector<std::string> worker_names;  // their resource addresses, as workers
  std::vector<std::string> worker_token_files;  // as workers: a file (0600) with the agent's
                                                // bearer token, "" = none
  std::string placement;  // how it is laid out, for results ("3 hosts, 1 cpu ...")
};

// What a run deploys besides the system's own `deploy` section.
struct DeployRequest {
  std::string run_id;               // "<experiment id>.<system name>"
  std::vector<std::string> topics;  // topic/stream names the workload uses
  int partitions = 1;
  bool workers = true;   // deploy worker agents where the provider can
  int worker_count = 1;  // how many (deploy.workers), each on a host of its own where hosts exist
};

// Something that exists and carries this installation's tags.
struct DiscoveredResource {
  std::string run_id;
  std::string address;
  std::string type;         // resource type when it is a whole resource reconcile may adopt
                            // into its run's state ("host"); "" for leftovers (directories)
  std::string description;  // "redis-server pid 1234"
  Settings outputs;         // enough for destroy_discovered()
  std::string provider;     // the provider that found it (set by reconcile)
};

using LogFn = std::function<void(const std::string& line)>;

// What one host (or, without hosts, one process) of a run has used so far: cumulative CPU time
// and memory, sampled during a run to report the system's and the load agent's resources.
struct UsageSample {
  std::string address;               // the resource measured ("host.kafka.0", "service.redis.0")
  std::string role;                  // "broker" or "load agent"
  std::optional<double> cpus_limit;  // the host's CPU limit in cores, if any
  uint64_t cpu_ns = 0;               // CPU time used since it was created
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> memory_peak_bytes;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // Desired resources for one system of an experiment; errors name the offending field.
  virtual Result<std::vector<Resource>> resources_for(const core::System& system,
                                                      const DeployRequest& request) = 0;
  // Attribute names a change of which update() applies without replacing the resource.
  virtual std::vector<std::string> updatable_in_place() const { return {}; }
  // How many independent steps apply/destroy may run at once (1 = strictly one by one).
  // create/update/destroy must then be safe to call from several threads at a time.
  virtual int max_parallel() const { return 1; }
  // Creates one resource. `save` persists `record` (call it after every externally visible
  // action, e.g. right after a process is spawned, so a crash leaves its pid in the state).
  virtual Status create(ResourceRecord& record, const RunState& state,
                        const std::function<Status()>& save) = 0;
  // Changes `updatable_in_place()` attributes of a created resource to `desired`'s values.
  virtual Status update(ResourceRecord& record, const Resource& desired, const RunState& state,
                        const std::function<Status()>& save) {
    (void)record, (void)desired, (void)state, (void)save;
    return make_error(name() + " cannot update resources in place");
  }
  virtual Status destroy(const ResourceRecord& record, const RunState& state) = 0;
  // True when the recorded resource still exists as recorded.
  virtual bool exists(const ResourceRecord& record) = 0;
  // The values the platform really has for the recorded attributes that can drift (a host's
  // CPU limit, ...). Attributes absent from the answer are not observable. Drift = a value
  // that differs from the record.
  virtual Settings observe(const ResourceRecord& record) {
    (void)record;
    return {};
  }
  virtual Result<ServiceEndpoint> endpoint(const RunState& state) = 0;
  // Everything this installation's tags mark, whatever the state files say.
  virtual std::vector<DiscoveredResource> discover() = 0;
  virtual Status destroy_discovered(const DiscoveredResource& resource) = 0;
  // Resource usage of the run's hosts (or processes) now; empty when the provider cannot see it
  // (a cluster that is not dec's own).
  virtual std::vector<UsageSample> usage(const RunState& state) {
    (void)state;
    return {};
  }
  // Applies a fault to one node of a created run. Error when the provider or the resource
  // cannot do it (the run records the failed fault and goes on).
  virtual Status inject_fault(const RunState& state, const core::Fault& fault) {
    (void)state;
    return make_error("provider " + name() + " cannot inject " + fault.action + " faults");
  }
};

struct ProviderContext {
  Env* env = nullptr;
  std::string data_dir;      // absolute
  std::string installation;  // tag value identifying this data dir
  std::string dec_binary;    // path of the running dec, for services dec itself implements
  std::string tools_dir;     // npm-installed helpers (kinesalite); see scripts/setup
  // The user the local provider runs brokers as ("" = dec's own user). dec as root sets
  // core::kBrokerUser, so a broker option a spec sets never acts with root's rights.
  std::string broker_user;
  // What specs may reach: the secrets `${NAME}` reads and the endpoints clients connect to
  // (trusted for the CLI's own user, the operator's allowlists for `dec serve`).
  core::SpecPolicy spec_policy;
  // Replaces make_provider's built-in providers when set (tests plug scripted providers in).
  std::function<Result<std::unique_ptr<Provider>>(const std::string& name)> factory;
  // The providers reconcile asks to discover orphans; empty = every registered one.
  std::vector<std::string> providers;
  // Progress of long provider steps (terraform apply's resources as they are created), for the
  // run's log and event stream; unset = not reported.
  LogFn log;
};

// A topic resource carries the system's topic-shaping config keys (DriverInfo::topic_keys) as
// "config.<key>" attributes, so a provider creates the topic the spec asks for (replication,
// storage) and a changed setting shows in the plan.
void add_topic_config(const core::System& system, Settings& topic_attributes);
Settings topic_config(const Settings& topic_attributes);

// Creates the provider named in a spec (`local`, ...) from the registry
// (provider_registry.h); error lists the known ones.
Result<std::unique_ptr<Provider>> make_provider(const std::string& name,
                                                const ProviderContext& context);

}  // namespace dec::infra
