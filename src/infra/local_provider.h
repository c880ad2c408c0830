// The local provider: a system's brokers and dec's worker agents run on this machine.
//
// With hosts (the default when dec runs as root), every node of a system is a "host": a network
// namespace joined by a veth pair to a bridge of its own (one /24 of 198.18.0.0/15 per run), and
// a cgroup holding its CPU and memory limits; bandwidth is shaped with tc on both ends of the
// veth. Workers get a host of their own, apart from the brokers, so the load generator never
// competes with the system under test for its CPU limit. Without root (or with
// deploy.settings.hosts: false) brokers listen on free loopback ports and limits are refused.
//
// Resource graph of one system (nodes: 3):
//   network.S ─┬─ host.S.0 ── service.S.0 ─┐
//              ├─ host.S.1 ── service.S.1 ─┼─ topic.S.0 ...
//              ├─ host.S.2 ── service.S.2 ─┘
//              └─ host.S.worker ── worker.S.0
// What a service runs is a LocalService entry (local_provider.cpp): redis-server, Apache Kafka in
// KRaft mode (one combined broker + controller JVM per node; several nodes need hosts, as they
// reach one another at fixed ports) or librdkafka's mock cluster (deploy.settings.kafka: mock),
// kinesalite.
// Everything dec starts is tagged: processes by environment (DEC_INSTALLATION, DEC_RUN,
// DEC_RESOURCE) and working directory (<data>/runs/<run>/<resource>/), namespaces by name
// (dec-<installation>~<run>~<address>), links by interface alias, cgroups by path
// (dec/<installation>/<run>/<address>), so discover() finds all of it with or without a state
// file.
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
                                              const DeployRequest& request) override;
  std::vector<std::string> updatable_in_place() const override {
    return {"cpus", "memory", "bandwidth"};
  }
  int max_parallel() const override { return 8; }
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
  std::vector<UsageSample> usage(const RunState& state) override;
  Status inject_fault(const RunState& state, const core::Fault& fault) override;
  // (run id, resource address) of a process this installation started, if it is one.
  std::optional<std::pair<std::string, std::string>> owner_of(const ProcessInfo& process) const;

  // Names of the kernel objects of a resource (derived, so destroy works from the address
  // alone even when a crash kept outputs from being recorded).
  std::string netns_name(const std::string& run_id, const std::string& address) const;
  std::string bridge_name(const std::string& run_id) const;
  std::string veth_name(const std::string& run_id, const std::string& address) const;
  std::string cgroup_path(const std::string& run_id, const std::string& address) const;
  std::string link_alias(const std::string& run_id, const std::string& address) const;

 private:
  std::string resource_dir(const std::string& run_id, const std::string& address) const;
  // `what` went wrong starting a process, with the last lines of its log (or that it is empty)
  // and a memory-limit kill if its host's cgroup counted one. The log is first copied to
  // <data>/logs/<experiment id>/<run id>-<resource>.log, where it outlives the run's teardown.
  std::string start_failure(const ResourceRecord& record, const RunState& state,
                            const std::string& what) const;
  Status create_network(ResourceRecord& record, const RunState& state);
  Status create_host(ResourceRecord& record, const RunState& state);
  Status create_process(ResourceRecord& record, const RunState& state,
                        const std::function<Status()>& save);
  Status create_topic(ResourceRecord& record, const RunState& state);
  Status destroy_network(const RunState& state);
  Status destroy_host(const ResourceRecord& record, const RunState& state);
  Status destroy_process(const ResourceRecord& record, const RunState& state);
  Status destroy_topic(const ResourceRecord& record, const RunState& state);
  ProviderContext context_;
};

}  // namespace dec::infra
