#include "orchestrator/preflight.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "drivers/address.h"
#include "infra/resource.h"
#include "orchestrator/runner.h"
#include "orchestrator/sweep.h"
#include "systems/registry.h"

namespace dec::orchestrator {
namespace {

// Providers name the field relative to the system ("deploy.nodes: ..."); anything else (a
// missing program, a driver without a local recipe) is about the system's deploy section.
core::FieldError system_error(size_t index, const std::string& message) {
  const std::string system_path = "systems[" + std::to_string(index) + "]";
  const auto colon = message.find(": ");
  const bool names_field =
      colon != std::string::npos && message.starts_with("deploy") &&
      std::all_of(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(colon),
                  [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                           c == '/' || c == '-';
                  });
  if (names_field) return {system_path + "." + message.substr(0, colon), message.substr(colon + 2)};
  return {system_path + ".deploy", message};
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& key) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return systems::server_key_matches(pattern, key);
  });
}

// "host:port" (the driver's usual port when none is written) or a URL's host and port.
Result<drivers::HostPort> endpoint_address(const std::string& item, int default_port) {
  if (const auto scheme = item.find("://"); scheme != std::string::npos) {
    const std::string protocol = item.substr(0, scheme);
    std::string authority = item.substr(scheme + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string::npos) {
      authority = authority.substr(at + 1);
    }
    const int port = protocol == "https" ? 443 : protocol == "http" ? 80 : default_port;
    return drivers::parse_host_port(authority, port, "endpoint");
  }
  return drivers::parse_host_port(item, default_port, "endpoint");
}

// The port a driver's client uses when an address names none.
int default_client_port(const std::string& driver) {
  if (driver == "kinesis") return 80;  // addresses become http://ADDRESS
  const systems::SystemPackage* package = systems::find_system(driver);
  return package != nullptr && package->local ? package->local->default_port : 0;
}

// Every address in `value` (comma-separated) must be one the policy allows.
void check_addresses(const std::string& path, const std::string& value, const std::string& driver,
                     const core::SpecPolicy& policy, std::vector<core::FieldError>& errors) {
  if (value.find("${") != std::string::npos) {
    errors.push_back({path,
                      "an address read from a secret cannot be checked against the server's "
                      "endpoint allowlist; write the address itself"});
    return;
  }
  for (size_t start = 0; start <= value.size();) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string item = value.substr(start, comma - start);
    start = comma + 1;
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    auto address = endpoint_address(item, default_client_port(driver));
    if (!address) {
      errors.push_back({path, address.error()});
      continue;
    }
    if (policy.endpoint_allowed(address->host, address->port)) continue;
    std::string allowed = "it allows none: specs from the API use only infrastructure dec creates";
    if (!policy.endpoints.empty()) {
      allowed = "it allows ";
      for (size_t i = 0; i < policy.endpoints.size(); ++i) {
        allowed += (i ? ", " : "") + policy.endpoints[i].text;
      }
    }
    errors.push_back({path, address->label + " is not an endpoint this server allows (" + allowed +
                                "); its operator can allow it with dec serve "
                                "--allow-endpoint " +
                                address->label});
  }
}

// What a spec from the API may not do that the CLI's user may: read secrets the operator did
// not allow, name files or programs on dec's machine for the client, or point clients at
// addresses outside the operator's allowlist. Nothing for a trusted policy.
std::vector<core::FieldError> policy_errors(const core::Spec& spec,
                                            const core::SpecPolicy& policy) {
  std::vector<core::FieldError> errors;
  if (policy.trusted) return errors;
  for (size_t i = 0; i < spec.systems.size(); ++i) {
    const core::System& system = spec.systems[i];
    const std::string base = "systems[" + std::to_string(i) + "]";
    const drivers::DriverInfo* driver = systems::find_driver(system.driver);
    if (driver == nullptr) continue;
    auto check_client_keys = [&](const core::Settings& settings, const std::string& prefix) {
      for (const auto& [key, value] : settings) {
        const std::string path = base + "." + prefix + "." + key;
        if (matches_any(driver->host_file_keys, key)) {
          errors.push_back({path,
                            "names a file or program on the server's machine, which specs from "
                            "the API may not use — remove it"});
        } else if (matches_any(driver->address_keys, key)) {
          check_addresses(path, value, system.driver, policy, errors);
        }
      }
    };
    check_client_keys(system.config, "config");
    if (system.deploy.provider != "endpoints") continue;
    const core::Settings& settings = system.deploy.settings;
    bool named_address = system.config.count("endpoint") > 0;
    for (const char* key : {"addresses", "bootstrap_servers"}) {
      if (auto it = settings.find(key); it != settings.end()) {
        named_address = true;
        check_addresses(base + ".deploy.settings." + key, it->second, system.driver, policy,
                        errors);
      }
    }
    core::Settings properties = settings;
    properties.erase("addresses");
    properties.erase("bootstrap_servers");
    check_client_keys(properties, "deploy.settings");
    if (!named_address && system.driver == "kinesis") {
      // The driver would call AWS's endpoint for the region.
      std::string region = settings.count("region") ? settings.at("region") : "";
      if (system.config.count("region")) region = system.config.at("region");
      if (region.empty() || region.find("${") != std::string::npos) {
        errors.push_back({base + ".deploy.settings.region",
                          "a spec from the API names its Kinesis region (or address), so the "
                          "endpoint can be checked against the server's allowlist"});
      } else {
        check_addresses(base + ".deploy.settings.region",
                        "kinesis." + region + ".amazonaws.com:443", system.driver, policy, errors);
      }
    }
    for (const auto& [key, value] : properties) {
      // The same answer the run would give: a name the operator did not allow is refused
      // without looking at the environment.
      auto expanded = core::expand_secrets(value, base + ".deploy.settings." + key, policy);
      if (!expanded) {
        const std::string& message = expanded.error();
        const auto colon = message.find(": ");
        errors.push_back({message.substr(0, colon), message.substr(colon + 2)});
      }
    }
  }
  return errors;
}

std::vector<core::FieldError> point_errors(const core::Spec& spec, size_t point,
                                           const infra::ProviderContext& context) {
  std::vector<core::FieldError> errors = policy_errors(spec, context.spec_policy);
  const std::string prefix = run_prefix("<id>", {point, 0, 0}, is_sweep(spec));
  for (size_t i = 0; i < spec.systems.size(); ++i) {
    const core::System& system = spec.systems[i];
    auto provider = infra::make_provider(system.deploy.provider, context);
    if (!provider) {
      errors.push_back({"systems[" + std::to_string(i) + "].deploy.provider", provider.error()});
      continue;
    }
    auto desired = (*provider)->resources_for(system, deploy_request_for(spec, prefix, system));
    if (!desired) {
      errors.push_back(system_error(i, desired.error()));
      continue;
    }
    auto plan = infra::plan_changes(*desired, {}, (*provider)->updatable_in_place());
    if (!plan) errors.push_back(system_error(i, plan.error()));
  }
  return errors;
}

}  // namespace

std::vector<core::FieldError> deployment_errors(const core::Spec& spec,
                                                const infra::ProviderContext& context) {
  auto points = core::expand_matrix(spec, systems::driver_catalog(), context.spec_policy);
  if (!points) return {{"matrix", points.error()}};
  std::vector<std::vector<core::FieldError>> per_point;
  for (const core::SweepPoint& point : *points) {
    per_point.push_back(point_errors(point.spec, point.index, context));
  }
  // An error every point makes is the spec's, named by its field alone; the rest name the point.
  std::map<std::string, size_t> seen;
  for (const auto& errors : per_point) {
    for (const auto& error : errors) ++seen[error.to_string()];
  }
  std::vector<core::FieldError> out;
  for (const core::FieldError& error : per_point.front()) {
    if (seen[error.to_string()] == per_point.size()) out.push_back(error);
  }
  constexpr size_t kMostPointErrors = 10;  // the rest are usually the same mistake again
  size_t points_failed = 0;
  for (size_t p = 0; p < per_point.size(); ++p) {
    bool failed = false;
    for (const core::FieldError& error : per_point[p]) {
      if (seen[error.to_string()] == per_point.size()) continue;
      failed = true;
      if (points_failed >= kMostPointErrors) continue;
      std::string values;
      for (const auto& [path, value] : (*points)[p].values) {
        values += (values.empty() ? "" : ", ") + path + "=" + value;
      }
      out.push_back({"matrix point " + std::to_string(p) + " (" + values + ")", error.to_string()});
    }
    if (failed) ++points_failed;
  }
  if (points_failed > kMostPointErrors) {
    out.push_back({"matrix", std::to_string(points_failed - kMostPointErrors) +
                                 " more points fail in the same way"});
  }
  return out;
}

core::ParseResult validate_spec(const std::string& text, const std::vector<std::string>& overrides,
                                const infra::ProviderContext& context) {
  core::ParseResult parsed =
      core::parse_spec(text, overrides, systems::driver_catalog(), context.spec_policy);
  if (parsed.ok()) parsed.errors = deployment_errors(parsed.spec, context);
  return parsed;
}

core::ParseResult validate_spec_file(const std::string& path,
                                     const std::vector<std::string>& overrides,
                                     const infra::ProviderContext& context) {
  core::ParseResult parsed =
      core::parse_spec_file(path, overrides, systems::driver_catalog(), context.spec_policy);
  if (parsed.ok()) parsed.errors = deployment_errors(parsed.spec, context);
  return parsed;
}

}  // namespace dec::orchestrator
