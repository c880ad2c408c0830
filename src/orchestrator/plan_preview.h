// What a spec would do, computed without creating anything: how many runs and how long, the
// rate search's bounds, and per system (per point in a sweep, when its infrastructure differs
// from the previous point's) the resources a run would create, terraform-plan style. `dec plan`
// prints it; the server's POST /api/plan answers it as JSON.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "infra/provider.h"
#include "infra/resource.h"

namespace dec::orchestrator {

struct SystemPlanPreview {
  size_t index = 0;  // in the spec's systems
  std::string system;
  std::string driver;
  std::string provider;
  std::optional<size_t> point;  // set in a sweep
  infra::Plan plan;
  std::string error;  // the resources could not be planned (provider, recipe); plan is empty
};

struct PlanPreview {
  size_t runs = 0;  // points × repeats × systems
  std::chrono::seconds estimated{0};
  std::string headline;        // "3 points × 3 repeats × 1 system = 9 runs, about 1 min 30 s"
  std::string search;          // orchestrator::search_plan; "" without workload.rate: find-max
  std::string infrastructure;  // a sweep's per-point infrastructure (sweep.h); "" otherwise
  bool sweep = false;
  std::vector<SystemPlanPreview> systems;
  bool ok() const;  // no system failed to plan
};

struct PlanPreviewOptions {
  // Names the resources; a kept run's experiment id when comparing with it.
  std::string experiment_id = "<id>";
  // A kept run (`dec apply`): only its system is planned, as changes to its recorded state.
  const infra::RunState* recorded = nullptr;
};

// `spec` must be valid (core::parse_spec). Errors: the matrix cannot be expanded, or a kept run
// was given for a sweep. A system whose resources cannot be planned is reported in its entry.
Result<PlanPreview> preview_plan(const core::Spec& spec, const infra::ProviderContext& context,
                                 const PlanPreviewOptions& options = {});

}  // namespace dec::orchestrator
