#include "orchestrator/plan_preview.h"

#include <algorithm>

#include "core/spec_parser.h"
#include "orchestrator/rate_search.h"
#include "orchestrator/runner.h"
#include "orchestrator/sweep.h"
#include "systems/registry.h"

namespace dec::orchestrator {

bool PlanPreview::ok() const {
  return std::all_of(systems.begin(), systems.end(),
                     [](const SystemPlanPreview& system) { return system.error.empty(); });
}

Result<PlanPreview> preview_plan(const core::Spec& spec, const infra::ProviderContext& context,
                                 const PlanPreviewOptions& options) {
  auto points = core::expand_matrix(spec, systems::driver_catalog(), context.spec_policy);
  if (!points) return make_error(points.error());
  PlanPreview preview;
  preview.sweep = is_sweep(spec);
  if (preview.sweep && options.recorded != nullptr) {
    return make_error("--run compares one kept run with one configuration; a sweep has " +
                      std::to_string(points->size()) +
                      " points (pick one with --set, or drop the matrix and repeats)");
  }
  preview.runs = points->size() * static_cast<size_t>(spec.repeats) * spec.systems.size();
  preview.estimated = estimated_duration(*points);
  preview.headline = sweep_headline(*points);
  preview.search = search_plan(spec);
  if (preview.sweep) preview.infrastructure = infrastructure_plan(*points);
  const infra::RunState none;
  const infra::RunState& recorded = options.recorded != nullptr ? *options.recorded : none;
  for (size_t p = 0; p < points->size(); ++p) {
    const core::SweepPoint& point = (*points)[p];
    for (size_t i = 0; i < point.spec.systems.size(); ++i) {
      const core::System& system = point.spec.systems[i];
      if (options.recorded != nullptr && system.name != recorded.system) continue;
      // A point's resources are listed when they differ from the previous point's.
      if (p > 0 && infrastructure_changes((*points)[p - 1].spec.systems[i], system).empty()) {
        continue;
      }
      SystemPlanPreview entry;
      entry.index = i;
      entry.system = system.name;
      entry.driver = system.driver;
      entry.provider = system.deploy.provider;
      if (preview.sweep) entry.point = p;
      const std::string prefix = run_prefix(options.experiment_id, {p, 0, i},
                                            preview.sweep && options.recorded == nullptr);
      auto provider = infra::make_provider(system.deploy.provider, context);
      Result<std::vector<infra::Resource>> desired =
          provider
              ? (*provider)->resources_for(system, deploy_request_for(point.spec, prefix, system))
              : Result<std::vector<infra::Resource>>(make_error(provider.error()));
      if (!desired) {
        entry.error = desired.error();
      } else if (auto plan =
                     infra::plan_changes(*desired, recorded, (*provider)->updatable_in_place())) {
        entry.plan = std::move(*plan);
      } else {
        entry.error = plan.error();
      }
      preview.systems.push_back(std::move(entry));
    }
  }
  return preview;
}

}  // namespace dec::orchestrator
