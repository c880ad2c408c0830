// Kubernetes manifests for one system of a run, as pure functions of the spec (no cluster
// access): the brokers (a StatefulSet + headless Service, or Strimzi's Kafka + KafkaNodePool)
// and dec's load agents (a Job or a Deployment running `dec worker`), each group one `List`
// document that `kubectl apply` takes as JSON. Every object carries the labels
// dec.run=<run label>, dec.installation=<installation>, dec.group=brokers|workers and the
// annotation dec.run-id=<run id> (the label value is sanitised; the annotation keeps the run id
// exactly, so discovery maps objects back to runs).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"

namespace dec::infra::kubernetes {

// deploy.settings of `provider: kubernetes`, validated (errors name deploy.settings.<key>).
struct KubernetesSettings {
  std::string namespace_name = "dec";
  std::string context;     // kubectl --context; "" = the kubeconfig's current context
  std::string kubeconfig;  // kubectl --kubeconfig; "" = kubectl's default ($KUBECONFIG, ~/.kube)
  std::string image = "dec:latest";  // the dec image the load agents run
  std::string workers_as = "job";    // job | deployment
  std::string kafka = "auto";        // strimzi | statefulset | auto (strimzi when its CRD exists)
  std::string broker_image;          // "" = the product's default image (default_broker_image)
  int worker_port = 7700;
  std::chrono::seconds ready_timeout{300};
  std::optional<double> worker_cpus;
  std::optional<uint64_t> worker_memory;
};

Result<KubernetesSettings> parse_settings(const core::Settings& settings);
// The keys parse_settings knows, for did-you-mean and the docs.
const std::vector<std::string>& settings_keys();

// The image a product's brokers run unless deploy.settings.broker_image says otherwise.
std::string default_broker_image(const std::string& driver);

// A label value for `text`: at most 63 characters of [A-Za-z0-9_.-], starting and ending with a
// letter or digit. Text that had to change gets a hash suffix, so two run ids never share a label.
std::string label_value(const std::string& text);
// A DNS-1123 label (lowercase letters, digits, '-'), at most `max_length` characters.
std::string dns_label(const std::string& text, size_t max_length = 63);
// The base name of a system's objects in a run: "<system>-<6 hex digits of the run id>".
std::string object_base_name(const std::string& system, const std::string& run_id);

struct RenderInput {
  core::System system;
  std::string run_id;
  std::string installation;
  KubernetesSettings settings;
  bool kafka_strimzi = false;  // Kafka as Strimzi custom resources (decided by the provider)
  bool workers = true;         // deploy load agents
};

// One group of objects applied, waited for and deleted together.
struct GroupManifest {
  std::string group;                   // "brokers" | "workers"
  nlohmann::json manifest;             // a v1 List
  std::vector<std::string> kinds;      // what `kubectl delete` / `get` name ("statefulset", ...)
  std::string wait_for;                // "pods" (Ready pods of the group) or "kafka/<name>"
  int pods = 0;                        // how many Ready pods the group has when up
  std::vector<std::string> addresses;  // brokers: <pod>.<service>.<ns>.svc:<port>
};

struct RenderedSystem {
  nlohmann::json namespace_manifest;  // the namespace, labelled (applied only when absent)
  GroupManifest brokers;
  std::optional<GroupManifest> workers;
};

// Errors name the field (deploy.nodes, deploy.server.<key>, deploy.settings.<key>).
Result<RenderedSystem> render_system(const RenderInput& input);

// The labels every object of (run, installation, group) carries; `group` "" = without dec.group.
nlohmann::json object_labels(const std::string& run_id, const std::string& installation,
                             const std::string& group);
// "dec.run=<label>[,dec.group=<group>]", for kubectl -l.
std::string selector(const std::string& run_id, const std::string& group);

}  // namespace dec::infra::kubernetes
