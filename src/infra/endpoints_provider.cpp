#include "infra/endpoints_provider.h"

#include <cstdlib>

namespace dec::infra {

Result<std::string> expand_environment(const std::string& value, const std::string& field) {
  std::string out;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t start = value.find("${", pos);
    if (start == std::string::npos) {
      out += value.substr(pos);
      break;
    }
    size_t end = value.find('}', start);
    if (end == std::string::npos) {
      return make_error(field + ": unterminated ${ in \"" + value + "\"");
    }
    out += value.substr(pos, start - pos);
    std::string name = value.substr(start + 2, end - start - 2);
    const char* env = std::getenv(name.c_str());
    if (env == nullptr) {
      return make_error(field + ": environment variable " + name +
                        " is not set (export it before running dec)");
    }
    out += env;
    pos = end + 1;
  }
  return out;
}

Result<std::vector<Resource>> EndpointsProvider::resources_for(const core::System& system,
                                                               const DeployRequest& request) {
  (void)request;
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
    if (value.find("${") != std::string::npos && value.find('}') == std::string::npos) {
      return make_error("deploy.settings." + key + ": unterminated ${ in \"" + value + "\"");
    }
  }
  Resource resource;
  resource.address = "endpoint." + system.name;
  resource.type = "endpoint";
  resource.attributes = deploy.settings;  // ${VAR} kept unexpanded: no secrets in state files
  resource.attributes["driver"] = system.driver;
  return std::vector<Resource>{resource};
}

Status EndpointsProvider::create(ResourceRecord& record, const RunState&,
                                 const std::function<Status()>&) {
  // Nothing to create; check now that every referenced variable is set.
  for (const auto& [key, value] : record.resource.attributes) {
    auto expanded = expand_environment(value, "deploy.settings." + key);
    if (!expanded) return make_error(expanded.error());
  }
  return Status::Ok();
}

Status EndpointsProvider::destroy(const ResourceRecord&, const RunState&) {
  return Status::Ok();  // not ours to destroy
}

bool EndpointsProvider::exists(const ResourceRecord&) { return true; }

Result<ServiceEndpoint> EndpointsProvider::endpoint(const RunState& state) {
  ServiceEndpoint endpoint;
  for (const auto& record : state.resources) {
    if (record.resource.type != "endpoint") continue;
    for (const auto& [key, raw] : record.resource.attributes) {
      if (key == "driver") continue;
      auto value = expand_environment(raw, "deploy.settings." + key);
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
