#include "infra/kubernetes/kubernetes_provider.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/units.h"

namespace dec::infra {
namespace {

using kubernetes::Kubectl;
using nlohmann::json;

// One `kubectl wait` call lasts at most this long (the runner kills a call after 30 s).
constexpr std::chrono::seconds kWaitSlice{20};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string attribute(const Settings& attributes, const std::string& key) {
  auto it = attributes.find(key);
  return it == attributes.end() ? "" : it->second;
}

Result<json> parse_json(const Result<std::string>& text, const std::string& what) {
  if (!text) return make_error(text.error());
  json parsed = json::parse(*text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return make_error(what + " printed output that is not a JSON object: " + text->substr(0, 200));
  }
  return parsed;
}

bool pod_ready(const json& pod) {
  for (const auto& condition : pod.value("/status/conditions"_json_pointer, json::array())) {
    if (condition.value("type", "") == "Ready") return condition.value("status", "") == "True";
  }
  return false;
}

std::string describe_product(const std::string& driver) {
  if (driver == "redis") return "Redis";
  if (driver == "nats") return "NATS JetStream";
  if (driver == "rabbitmq") return "RabbitMQ";
  if (driver == "kafka") return "Apache Kafka";
  return driver;
}

}  // namespace

Kubectl KubernetesProvider::kubectl_for(const Settings& attributes) {
  return Kubectl(*runner_, attribute(attributes, "context"), attribute(attributes, "kubeconfig"));
}

Result<std::vector<Resource>> KubernetesProvider::resources_for(const core::System& system,
                                                                const DeployRequest& request) {
  auto settings = kubernetes::parse_settings(system.deploy.settings);
  if (!settings) return make_error(settings.error());
  // A spec posted to `dec serve` uses the server's own cluster access, never another file or
  // cluster of the server's configuration.
  for (const char* key : {"kubeconfig", "context"}) {
    if (!context_.spec_policy.trusted && system.deploy.settings.count(key)) {
      return make_error(std::string("deploy.settings.") + key +
                        ": a spec from the API uses the server's kubectl configuration; remove it");
    }
  }
  kubernetes::RenderInput input{system,    request.run_id, context_.installation,
                                *settings, false,          request.workers};
  if (system.driver == "kafka") {
    input.kafka_strimzi = settings->kafka == "strimzi";
    if (settings->kafka == "auto") {
      Kubectl kubectl(*runner_, settings->context, settings->kubeconfig);
      auto crd = kubectl.run({"get", "crd", "kafkas.kafka.strimzi.io", "-o", "name"});
      if (!crd && !kubernetes::is_not_found(crd.error())) {
        return make_error(
            "deploy.settings.kafka: auto asks the cluster whether Strimzi is installed, and "
            "kubectl failed (" +
            crd.error() + "); fix the cluster access or set kafka: strimzi or statefulset");
      }
      input.kafka_strimzi = crd.ok();
    }
  }
  auto rendered = kubernetes::render_system(input);
  if (!rendered) return make_error(rendered.error());

  Settings common = {{"namespace", settings->namespace_name}};
  if (!settings->context.empty()) common["context"] = settings->context;
  if (!settings->kubeconfig.empty()) common["kubeconfig"] = settings->kubeconfig;
  std::vector<Resource> out;
  Resource ns{"namespace." + system.name, "namespace", common, {}};
  ns.attributes["manifest"] = rendered->namespace_manifest.dump();
  out.push_back(ns);
  auto group_resource = [&](const kubernetes::GroupManifest& group) {
    Resource resource{group.group + "." + system.name, group.group, common, {ns.address}};
    Settings& a = resource.attributes;
    std::string kinds;
    for (const auto& kind : group.kinds) kinds += (kinds.empty() ? "" : ",") + kind;
    a["kinds"] = kinds;
    a["wait_for"] = group.wait_for;
    a["pods"] = std::to_string(group.pods);
    a["ready_timeout"] = std::to_string(settings->ready_timeout.count());
    a["manifest"] = group.manifest.dump();
    return resource;
  };
  Resource brokers = group_resource(rendered->brokers);
  std::string addresses;
  for (const auto& address : rendered->brokers.addresses) {
    addresses += (addresses.empty() ? "" : ",") + address;
  }
  brokers.attributes["addresses"] = addresses;
  brokers.attributes["driver"] = system.driver;
  brokers.attributes["image"] = settings->broker_image.empty()
                                    ? kubernetes::default_broker_image(system.driver)
                                    : settings->broker_image;
  if (system.driver == "kafka") {
    brokers.attributes["kafka"] = input.kafka_strimzi ? "strimzi" : "statefulset";
  }
  std::string placement =
      std::to_string(system.deploy.nodes) + (system.deploy.nodes == 1 ? " pod" : " pods");
  std::string limits;  // "2 pods (0.5 cpu, 256.0 MiB each) in namespace dec"
  if (system.deploy.cpus) {
    char cpus[32];
    std::snprintf(cpus, sizeof cpus, "%g", *system.deploy.cpus);
    limits = std::string(cpus) + " cpu";
  }
  if (system.deploy.memory) {
    limits += (limits.empty() ? "" : ", ") + core::format_size(*system.deploy.memory);
  }
  if (!limits.empty()) placement += " (" + limits + (system.deploy.nodes == 1 ? ")" : " each)");
  brokers.attributes["placement"] = placement + " in namespace " + settings->namespace_name;
  out.push_back(brokers);
  if (rendered->workers) {
    Resource workers = group_resource(*rendered->workers);
    workers.attributes["port"] = std::to_string(settings->worker_port);
    workers.attributes["image"] = settings->image;
    out.push_back(workers);
  }
  return out;
}

Status KubernetesProvider::create(ResourceRecord& record, const RunState& state,
                                  const std::function<Status()>& save) {
  if (record.resource.type == "namespace") return create_namespace(record, state);
  return create_group(record, state, save);
}

Status KubernetesProvider::create_namespace(ResourceRecord& record, const RunState& state) {
  const Settings& a = record.resource.attributes;
  if (Status s = remember_cluster(attribute(a, "context"), attribute(a, "kubeconfig")); !s) {
    return s;
  }
  Kubectl kubectl = kubectl_for(a);
  const std::string ns = attribute(a, "namespace");
  auto found = kubectl.run({"get", "namespace", ns, "-o", "name"});
  if (found) {
    record.outputs["created_by_dec"] = "false";
    return Status::Ok();
  }
  if (!kubernetes::is_not_found(found.error())) return make_error(found.error());
  const std::string dir = context_.data_dir + "/runs/" + state.run_id;
  const std::string path = dir + "/" + record.resource.address + ".json";
  if (Status s = context_.env->make_dirs(dir); !s) return s;
  if (Status s = context_.env->write_file_atomic(path, attribute(a, "manifest") + "\n"); !s) {
    return s;
  }
  // Recorded before the apply: a crash right after it still lets destroy delete the namespace.
  record.outputs["created_by_dec"] = "true";
  return kubectl.apply_file(path);
}

Status KubernetesProvider::create_group(ResourceRecord& record, const RunState& state,
                                        const std::function<Status()>& save) {
  const Settings& a = record.resource.attributes;
  const std::string dir = context_.data_dir + "/runs/" + state.run_id;
  const std::string path = dir + "/" + record.resource.address + ".json";
  if (Status s = context_.env->make_dirs(dir); !s) return s;
  json manifest = json::parse(attribute(a, "manifest"), nullptr, false);
  if (manifest.is_discarded()) return make_error("the recorded manifest is not JSON");
  if (Status s = context_.env->write_file_atomic(path, manifest.dump(2) + "\n"); !s) return s;
  record.outputs["manifest_file"] = path;
  if (Status s = save(); !s) return s;
  Kubectl kubectl = kubectl_for(a);
  if (Status s = kubectl.apply_file(path); !s) {
    return make_error("kubectl apply of " + path + " failed: " + s.error());
  }
  return wait_until_ready(record, state);
}

Status KubernetesProvider::wait_until_ready(const ResourceRecord& record, const RunState& state) {
  const Settings& a = record.resource.attributes;
  Kubectl kubectl = kubectl_for(a);
  const std::string ns = attribute(a, "namespace");
  const std::string wait_for = attribute(a, "wait_for");
  const std::string pod_selector = kubernetes::selector(state.run_id, record.resource.type);
  const std::vector<std::string> target = wait_for == "pods"
                                              ? std::vector<std::string>{"pod", "-l", pod_selector}
                                              : std::vector<std::string>{wait_for};
  const int pods = std::atoi(attribute(a, "pods").c_str());
  const std::chrono::seconds timeout(std::max(1, std::atoi(attribute(a, "ready_timeout").c_str())));
  Env& env = *context_.env;
  const auto deadline = env.now() + timeout;
  std::string last_error;
  // Bounded by the deadline; the attempt count bounds it too if a clock misbehaves.
  for (int attempt = 0; attempt < timeout.count() + 10; ++attempt) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - env.now());
    if (left.count() < 1) break;
    Status ready = kubectl.wait_ready(ns, target, std::min(left, kWaitSlice));
    if (ready && wait_for == "pods" && pods > 0) {
      // A selector matches the pods that exist so far: count them all Ready.
      auto listed = parse_json(kubectl.get_json(ns, "pods", pod_selector), "kubectl get pods");
      if (!listed) return make_error(listed.error());
      int count = 0;
      for (const auto& pod : listed->value("items", json::array())) count += pod_ready(pod);
      if (count >= pods) return Status::Ok();
      last_error = std::to_string(count) + " of " + std::to_string(pods) + " pods Ready";
    } else if (ready) {
      return Status::Ok();
    } else {
      last_error = ready.error();
    }
    env.sleep_for(std::chrono::milliseconds(1000));
  }
  std::string message =
      record.resource.address + ": not Ready within " + std::to_string(timeout.count()) +
      " s (deploy.settings.ready_timeout); kubectl wait --for=condition=Ready " +
      (wait_for == "pods" ? "pod -l " + pod_selector : wait_for) + " -n " + ns + ": " + last_error;
  if (wait_for == "pods") {
    std::string pods_detail = not_ready_pods(kubectl, ns, pod_selector);
    if (!pods_detail.empty()) message += "; " + pods_detail;
  }
  return make_error(message);
}

// "pod X: Ready=False (ContainersNotReady), container redis waiting: ImagePullBackOff" for every
// pod of the group that is not Ready.
std::string KubernetesProvider::not_ready_pods(Kubectl& kubectl, const std::string& ns,
                                               const std::string& selector) {
  auto listed = parse_json(kubectl.get_json(ns, "pods", selector), "kubectl get pods");
  if (!listed) return "";
  std::string out;
  for (const auto& pod : listed->value("items", json::array())) {
    if (pod_ready(pod)) continue;
    std::string line = "pod " + pod.value("/metadata/name"_json_pointer, std::string("?")) + ":";
    bool any_condition = false;
    for (const auto& condition : pod.value("/status/conditions"_json_pointer, json::array())) {
      if (condition.value("type", "") != "Ready") continue;
      any_condition = true;
      line += " Ready=" + condition.value("status", std::string("?"));
      if (condition.contains("reason")) line += " (" + condition.value("reason", "") + ")";
    }
    if (!any_condition) {
      line += " phase " + pod.value("/status/phase"_json_pointer, std::string("unknown"));
    }
    for (const auto& status : pod.value("/status/containerStatuses"_json_pointer, json::array())) {
      if (!status.contains("state") || !status["state"].contains("waiting")) continue;
      const json& waiting = status["state"]["waiting"];
      line += ", container " + status.value("name", std::string("?")) +
              " waiting: " + waiting.value("reason", std::string("?"));
      if (waiting.contains("message")) line += " (" + waiting.value("message", "") + ")";
    }
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

Status KubernetesProvider::destroy(const ResourceRecord& record, const RunState& state) {
  const Settings& a = record.resource.attributes;
  Kubectl kubectl = kubectl_for(a);
  const std::string ns = attribute(a, "namespace");
  if (record.resource.type != "namespace") {
    return kubectl.delete_labelled(ns, attribute(a, "kinds"),
                                   kubernetes::selector(state.run_id, record.resource.type));
  }
  if (attribute(record.outputs, "created_by_dec") != "true") return Status::Ok();
  // Another run's objects keep the namespace.
  auto others = parse_json(
      kubectl.get_json(ns, "statefulsets,deployments,jobs,services,configmaps", "dec.run"),
      "kubectl get");
  if (!others) {
    if (kubernetes::is_not_found(others.error())) return Status::Ok();
    return make_error(others.error());
  }
  const std::string own = kubernetes::label_value(state.run_id);
  for (const auto& item : others->value("items", json::array())) {
    if (item.value("/metadata/labels/dec.run"_json_pointer, own) != own) return Status::Ok();
  }
  auto out =
      kubectl.run({"delete", "namespace", ns, "--ignore-not-found", "--wait", "--timeout=25s"});
  if (!out && !kubernetes::is_not_found(out.error())) return make_error(out.error());
  return Status::Ok();
}

bool KubernetesProvider::exists(const ResourceRecord& record) {
  const Settings& a = record.resource.attributes;
  Kubectl kubectl = kubectl_for(a);
  const std::string ns = attribute(a, "namespace");
  if (record.resource.type == "namespace") {
    return kubectl.run({"get", "namespace", ns, "-o", "name"}).ok();
  }
  // The run id is not in the record; the manifest's labels carry its label value.
  json manifest = json::parse(attribute(a, "manifest"), nullptr, false);
  if (manifest.is_discarded()) return false;
  const json items = manifest.value("items", json::array());
  if (items.empty()) return false;
  const std::string run_label =
      items[0].value("/metadata/labels/dec.run"_json_pointer, std::string());
  auto listed =
      parse_json(kubectl.get_json(ns, attribute(a, "kinds"),
                                  "dec.run=" + run_label + ",dec.group=" + record.resource.type),
                 "kubectl get");
  return listed && !listed->value("items", json::array()).empty();
}

Result<ServiceEndpoint> KubernetesProvider::endpoint(const RunState& state) {
  ServiceEndpoint endpoint;
  for (const auto& record : state.resources) {
    const Settings& a = record.resource.attributes;
    if (record.resource.type == "brokers") {
      endpoint.addresses = split(attribute(a, "addresses"), ',');
      endpoint.label = describe_product(attribute(a, "driver")) + " (" + attribute(a, "image") +
                       (attribute(a, "kafka") == "strimzi" ? ", Strimzi" : "") + ") on Kubernetes";
      endpoint.placement = attribute(a, "placement");
    } else if (record.resource.type == "workers") {
      Kubectl kubectl = kubectl_for(a);
      const std::string selector = kubernetes::selector(state.run_id, "workers");
      auto listed = parse_json(kubectl.get_json(attribute(a, "namespace"), "pods", selector),
                               "kubectl get pods");
      if (!listed) return make_error(record.resource.address + ": " + listed.error());
      for (const auto& pod : listed->value("items", json::array())) {
        std::string ip = pod.value("/status/podIP"_json_pointer, std::string());
        if (pod_ready(pod) && !ip.empty())
          endpoint.workers.push_back(ip + ":" + attribute(a, "port"));
      }
      if (endpoint.workers.empty()) {
        return make_error(record.resource.address +
                          ": no Ready load agent pod with an IP (kubectl get pods -l " + selector +
                          " -n " + attribute(a, "namespace") + ")");
      }
    }
  }
  return endpoint;
}

Status KubernetesProvider::remember_cluster(const std::string& context,
                                            const std::string& kubeconfig) {
  std::lock_guard<std::mutex> lock(clusters_mutex_);
  for (const auto& known : known_clusters()) {
    if (known.first == context && known.second == kubeconfig) return Status::Ok();
  }
  json clusters = json::array();
  for (const auto& [c, k] : known_clusters())
    clusters.push_back({{"context", c}, {"kubeconfig", k}});
  clusters.push_back({{"context", context}, {"kubeconfig", kubeconfig}});
  const std::string dir = context_.data_dir + "/kubernetes";
  if (Status s = context_.env->make_dirs(dir); !s) return s;
  return context_.env->write_file_atomic(dir + "/clusters.json", clusters.dump(2) + "\n");
}

std::vector<std::pair<std::string, std::string>> KubernetesProvider::known_clusters() {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string path = context_.data_dir + "/kubernetes/clusters.json";
  if (!context_.env->path_exists(path)) return out;
  auto text = context_.env->read_file(path);
  if (!text) return out;
  json clusters = json::parse(*text, nullptr, false);
  if (!clusters.is_array()) return out;
  for (const auto& cluster : clusters) {
    out.emplace_back(cluster.value("context", ""), cluster.value("kubeconfig", ""));
  }
  return out;
}

std::vector<DiscoveredResource> KubernetesProvider::discover() {
  std::vector<std::pair<std::string, std::string>> clusters;
  {
    std::lock_guard<std::mutex> lock(clusters_mutex_);
    clusters = known_clusters();
  }
  const std::string selector = "dec.installation=" + kubernetes::label_value(context_.installation);
  std::vector<DiscoveredResource> out;
  for (const auto& [context, kubeconfig] : clusters) {
    Kubectl kubectl(*runner_, context, kubeconfig);
    std::vector<json> items;
    for (const char* kinds : {"namespaces,statefulsets,services,configmaps,jobs,deployments",
                              "kafkas.kafka.strimzi.io,kafkanodepools.kafka.strimzi.io"}) {
      // An unreachable cluster or absent Strimzi CRDs: nothing found there now.
      auto listed = parse_json(kubectl.get_json("", kinds, selector), "kubectl get");
      if (!listed) continue;
      for (const auto& item : listed->value("items", json::array())) items.push_back(item);
    }
    // (run id, namespace) -> what is there
    std::map<std::pair<std::string, std::string>, DiscoveredResource> groups;
    for (const auto& item : items) {
      std::string run = item.value("/metadata/annotations/dec.run-id"_json_pointer, std::string());
      const std::string label = item.value("/metadata/labels/dec.run"_json_pointer, std::string());
      if (run.empty()) run = label;
      if (run.empty()) continue;
      const std::string kind = item.value("kind", std::string());
      const std::string name = item.value("/metadata/name"_json_pointer, std::string());
      const bool is_namespace = kind == "Namespace";
      const std::string ns =
          is_namespace ? name : item.value("/metadata/namespace"_json_pointer, std::string());
      DiscoveredResource& d = groups[{run, ns}];
      d.run_id = run;
      d.address = "kubernetes/" + ns;
      d.outputs["namespace"] = ns;
      d.outputs["selector"] = "dec.run=" + label;
      if (!context.empty()) d.outputs["context"] = context;
      if (!kubeconfig.empty()) d.outputs["kubeconfig"] = kubeconfig;
      std::string lower = kind;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (is_namespace) {
        if (item.value("/metadata/annotations/dec.created"_json_pointer, std::string()) == "true") {
          d.outputs["delete_namespace"] = "true";
        }
      } else {
        std::string qualified = lower;
        if (kind == "Kafka" || kind == "KafkaNodePool") qualified += "s.kafka.strimzi.io";
        std::string& kinds = d.outputs["kinds"];
        if (kinds.find(qualified) == std::string::npos) {
          kinds += (kinds.empty() ? "" : ",") + qualified;
        }
      }
      d.description +=
          std::string(d.description.empty() ? "kubernetes objects in namespace " + ns + ": "
                                            : ", ") +
          lower + "/" + name;
    }
    for (auto& [key, d] : groups) out.push_back(std::move(d));
  }
  return out;
}

Status KubernetesProvider::destroy_discovered(const DiscoveredResource& resource) {
  const Settings& o = resource.outputs;
  Kubectl kubectl = kubectl_for(o);
  const std::string ns = attribute(o, "namespace");
  if (!attribute(o, "kinds").empty()) {
    if (Status s = kubectl.delete_labelled(ns, attribute(o, "kinds"), attribute(o, "selector"));
        !s) {
      return s;
    }
  }
  if (attribute(o, "delete_namespace") == "true") {
    auto others = parse_json(
        kubectl.get_json(ns, "statefulsets,deployments,jobs,services,configmaps", "dec.run"),
        "kubectl get");
    if (!others)
      return kubernetes::is_not_found(others.error()) ? Status::Ok() : make_error(others.error());
    if (!others->value("items", json::array()).empty()) return Status::Ok();  // another run's
    auto out =
        kubectl.run({"delete", "namespace", ns, "--ignore-not-found", "--wait", "--timeout=25s"});
    if (!out && !kubernetes::is_not_found(out.error())) return make_error(out.error());
  }
  return Status::Ok();
}

}  // namespace dec::infra
