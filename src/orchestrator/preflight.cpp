#include "orchestrator/preflight.h"

#include <algorithm>
#include <cctype>
#include <map>

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

std::vector<core::FieldError> point_errors(const core::Spec& spec, size_t point,
                                           const infra::ProviderContext& context) {
  std::vector<core::FieldError> errors;
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
  auto points = core::expand_matrix(spec, systems::driver_catalog());
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
  core::ParseResult parsed = core::parse_spec(text, overrides, systems::driver_catalog());
  if (parsed.ok()) parsed.errors = deployment_errors(parsed.spec, context);
  return parsed;
}

core::ParseResult validate_spec_file(const std::string& path,
                                     const std::vector<std::string>& overrides,
                                     const infra::ProviderContext& context) {
  core::ParseResult parsed = core::parse_spec_file(path, overrides, systems::driver_catalog());
  if (parsed.ok()) parsed.errors = deployment_errors(parsed.spec, context);
  return parsed;
}

}  // namespace dec::orchestrator
