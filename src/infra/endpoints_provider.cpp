#include "infra/endpoints_provider.h"

#include "drivers/driver.h"
#include "systems/registry.h"

namespace dec::infra {

Result<std::vector<Resource>> EndpointsProvider::resources_for(const core::System& system,
                                                               const DeployRequest& request) {
  const core::Deploy& deploy = system.deploy;
  if (deploy.nodes != 1 || deploy.cpus || deploy.memory || deploy.bandwidth) {
    return make_error(
        "deploy.nodes/cpus/memory/bandwidth: an existing endpoint is not created by dec, so "
        "these do not apply; remove them");
  }
  if (!deploy.server.empty()) {
    return make_error(
        "deploy.server: dec does not configure an existing system's brokers; "
        "remove deploy.server");
  }
  bool has_addresses =
      deploy.settings.count("addresses") || deploy.settings.count("bootstrap_servers");
  if (!has_addresses && system.driver != "kinesis") {
    return make_error(
        "deploy.settings.addresses: required for provider endpoints (e.g. "
        "addresses: \"broker1:9092,broker2:9092\")");
  }
  for (const auto& [key, value] : deploy.settings) {
    auto references = core::secret_references(value, "deploy.settings." + key);
    if (!references) return make_error(references.error());
  }
  Resource resource;
  resource.address = "endpoint." + system.name;
  resource.type = "endpoint";
  resource.attributes = deploy.settings;  // ${VAR} kept unexpanded: no secrets in state files
  resource.attributes["driver"] = system.driver;
  std::vector<Resource> out{resource};
  // The workload's topics are dec's own even on someone else's cluster: recorded, so that a
  // run that dies leaves reconcile what it needs to delete them.
  for (size_t t = 0; t < request.topics.size(); ++t) {
    Resource topic{
        "topic." + system.name + "." + std::to_string(t), "topic", {}, {resource.address}};
    topic.attributes["name"] = request.topics[t];
    topic.attributes["partitions"] = std::to_string(request.partitions);
    topic.attributes["driver"] = system.driver;
    add_topic_config(system, topic.attributes);
    out.push_back(std::move(topic));
  }
  return out;
}

namespace {
Result<std::unique_ptr<drivers::Driver>> connect_driver(EndpointsProvider& provider,
                                                        const RunState& state,
                                                        const std::string& driver_name,
                                                        const Settings& config = {}) {
  auto endpoint = provider.endpoint(state);
  if (!endpoint) return make_error(endpoint.error());
  const drivers::DriverInfo* info = systems::find_driver(driver_name);
  if (info == nullptr) return make_error("unknown driver " + driver_name);
  auto driver = info->create();
  if (Status s = driver->connect({endpoint->addresses, endpoint->properties}, config); !s) {
    return make_error(s.error());
  }
  return driver;
}
}  // namespace

Status EndpointsProvider::create(ResourceRecord& record, const RunState& state,
                                 const std::function<Status()>&) {
  if (record.resource.type == "topic") {
    const Settings& a = record.resource.attributes;
    auto driver = connect_driver(*this, state, a.at("driver"), topic_config(a));
    if (!driver) return make_error(driver.error());
    return (*driver)->create_topic(a.at("name"), std::stoi(a.at("partitions")));
  }
  // Nothing to create; check now that every referenced variable is set.
  for (const auto& [key, value] : record.resource.attributes) {
    auto expanded = core::expand_secrets(value, "deploy.settings." + key, context_.spec_policy);
    if (!expanded) return make_error(expanded.error());
  }
  return Status::Ok();
}

Status EndpointsProvider::destroy(const ResourceRecord& record, const RunState& state) {
  if (record.resource.type != "topic") return Status::Ok();  // the system is not ours to destroy
  // The topic is: an unreachable cluster keeps it recorded, for the next destroy or reconcile.
  const Settings& a = record.resource.attributes;
  auto driver = connect_driver(*this, state, a.at("driver"));
  if (!driver) return make_error("cannot delete topic " + a.at("name") + ": " + driver.error());
  return (*driver)->delete_topic(a.at("name"));
}

bool EndpointsProvider::exists(const ResourceRecord&) { return true; }

Result<ServiceEndpoint> EndpointsProvider::endpoint(const RunState& state) {
  ServiceEndpoint endpoint;
  for (const auto& record : state.resources) {
    if (record.resource.type != "endpoint") continue;
    for (const auto& [key, raw] : record.resource.attributes) {
      if (key == "driver") continue;
      auto value = core::expand_secrets(raw, "deploy.settings." + key, context_.spec_policy);
      if (!value) return make_error(value.error());
      if (key == "addresses" || key == "bootstrap_servers") {
        size_t start = 0;
        const std::string& list = *value;
        while (start <= list.size()) {
          size_t comma = list.find(',', start);
          if (comma == std::string::npos) comma = list.size();
          std::string item = list.substr(start, comma - start);
          while (!item.empty() && item.front() == ' ') item.erase(item.begin());
          while (!item.empty() && item.back() == ' ') item.pop_back();
          if (!item.empty()) endpoint.addresses.push_back(item);
          start = comma + 1;
        }
      } else {
        endpoint.properties[key] = *value;
      }
    }
    endpoint.label = "existing endpoint";
  }
  return endpoint;
}

}  // namespace dec::infra
