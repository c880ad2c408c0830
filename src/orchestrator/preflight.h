// Everything `dec run` would reject in a spec, found before anything is created: the spec
// parser's checks plus each system's provider planning every matrix point (resources_for is pure
// computation, so this creates nothing). `dec validate`, `dec plan`, `dec run` and the API's
// submit all call validate_spec, so a spec that validates is one that runs.
#pragma once

#include <string>
#include <vector>

#include "core/spec_parser.h"
#include "infra/provider.h"

namespace dec::orchestrator {

// The provider's objections to `spec` (already parsed without errors), and for a spec that is
// not trusted (context.spec_policy: one posted to `dec serve`) what its policy refuses: secrets
// the operator did not allow, client options naming files or programs on dec's machine, and
// addresses outside the endpoint allowlist. As field errors:
// "systems[1].deploy.settings.hosts: ..." or, for an error only some matrix points make,
// path "matrix point 2 (deploy.nodes=3)" and message "systems[1].deploy.nodes: ...".
std::vector<core::FieldError> deployment_errors(const core::Spec& spec,
                                                const infra::ProviderContext& context);

// parse_spec, then deployment_errors when the spec parsed cleanly (appended to `errors`).
core::ParseResult validate_spec(const std::string& text, const std::vector<std::string>& overrides,
                                const infra::ProviderContext& context);
core::ParseResult validate_spec_file(const std::string& path,
                                     const std::vector<std::string>& overrides,
                                     const infra::ProviderContext& context);

}  // namespace dec::orchestrator
