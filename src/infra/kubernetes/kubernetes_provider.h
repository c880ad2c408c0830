// The Kubernetes provider: a system's brokers and dec's load agents run as pods of a cluster,
// driven with kubectl (kubectl.h) from manifests rendered by manifests.h.
//
// Resources of one system S (one per group of objects applied and deleted together):
//   namespace.S ─┬─ brokers.S   StatefulSet + headless Service (+ ConfigMap), or Strimzi's
//                │              Kafka + KafkaNodePool; created = applied and every pod Ready
//                └─ workers.S   `dec worker` as a Job or Deployment; created = its pod Ready
// namespace.S applies the namespace only when it is absent and records whether dec created it;
// only then does its destroy delete the namespace (and not while objects of another run are in
// it). Each group's manifest is a resource attribute (a change shows in the plan and replaces the
// group) and is written to <data>/runs/<run>/<address>.json, which `kubectl apply
// --server-side --field-manager=dec -f` reads. Readiness is `kubectl wait --for=condition=Ready`
// in slices of at most 20 s until deploy.settings.ready_timeout; a group not Ready by then fails
// naming its pods and their conditions. Destroy deletes by label (dec.run + dec.group), so it
// needs nothing but the record and is idempotent (NotFound is success).
//
// Endpoints: brokers are the pods' stable DNS names (<pod>.<service>.<ns>.svc:<port>), load
// agents their pod IPs (<ip>:<worker_port>). Both are reachable from inside the cluster only, so
// a run needs dec itself in the cluster (or a network routed to the pod network and cluster
// DNS); from outside, the orchestrator cannot reach the agents and says so.
//
// Discovery: the clusters (context, kubeconfig) this data dir has deployed to are listed in
// <data>/kubernetes/clusters.json; discover() asks each for objects labelled
// dec.installation=<installation> and groups them by run (annotation dec.run-id) and namespace.
// A data dir that never used this provider makes no kubectl call at all.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "infra/kubernetes/kubectl.h"
#include "infra/kubernetes/manifests.h"
#include "infra/provider.h"

namespace dec::infra {

class KubernetesProvider : public Provider {
 public:
  KubernetesProvider(ProviderContext context, std::unique_ptr<kubernetes::CommandRunner> runner)
      : context_(std::move(context)), runner_(std::move(runner)) {}
  std::string name() const override { return "kubernetes"; }
  Result<std::vector<Resource>> resources_for(const core::System& system,
                                              const DeployRequest& request) override;
  int max_parallel() const override { return 2; }  // brokers and workers start side by side
  Status create(ResourceRecord& record, const RunState& state,
                const std::function<Status()>& save) override;
  Status destroy(const ResourceRecord& record, const RunState& state) override;
  bool exists(const ResourceRecord& record) override;
  Result<ServiceEndpoint> endpoint(const RunState& state) override;
  std::vector<DiscoveredResource> discover() override;
  Status destroy_discovered(const DiscoveredResource& resource) override;

 private:
  kubernetes::Kubectl kubectl_for(const Settings& attributes);
  Status create_namespace(ResourceRecord& record, const RunState& state);
  Status create_group(ResourceRecord& record, const RunState& state,
                      const std::function<Status()>& save);
  Status wait_until_ready(const ResourceRecord& record, const RunState& state);
  std::string not_ready_pods(kubernetes::Kubectl& kubectl, const std::string& ns,
                             const std::string& selector);
  Status remember_cluster(const std::string& context, const std::string& kubeconfig);
  std::vector<std::pair<std::string, std::string>> known_clusters();

  ProviderContext context_;
  std::unique_ptr<kubernetes::CommandRunner> runner_;
  std::mutex clusters_mutex_;
};

}  // namespace dec::infra
