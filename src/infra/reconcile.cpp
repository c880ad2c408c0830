#include "infra/reconcile.h"

#include <set>

#include "infra/endpoints_provider.h"
#include "infra/executor.h"
#include "infra/local_provider.h"

namespace dec::infra {

Result<std::unique_ptr<Provider>> make_provider(const std::string& name,
                                                const ProviderContext& context) {
  if (name == "local") return std::unique_ptr<Provider>(new LocalProvider(context));
  if (name == "endpoints") return std::unique_ptr<Provider>(new EndpointsProvider(context));
  return make_error("provider \"" + name +
                    "\" is not available in this build; available providers: local, endpoints");
}

std::vector<std::string> recorded_runs(Env& env, const std::string& data_dir) {
  std::vector<std::string> runs;
  for (const auto& name : env.list_dir(data_dir + "/state")) {
    const std::string suffix = ".json";
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      runs.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  return runs;
}

ReconcileReport reconcile(const ProviderContext& context, const ReconcileOptions& options,
                          const LogFn& log) {
  Env& env = *context.env;
  ReconcileReport report;
  auto act = [&](const std::string& action) {
    report.actions.push_back(action);
    if (log) log((options.dry_run ? "would " : "") + action);
  };
  const ProcessId self = env.self();
  std::set<std::string> live;

  for (const auto& run_id : recorded_runs(env, context.data_dir)) {
    StateFile file(env, state_path(context.data_dir, run_id));
    auto state = file.load();
    if (!state) {
      report.errors.push_back(run_id + ": " + state.error() + " (" + file.path() + ")");
      live.insert(run_id);  // unknown contents: never delete what it might describe
      continue;
    }
    bool owner_alive = state->owner.valid() && env.process_alive(state->owner);
    bool owner_is_self =
        state->owner.pid == self.pid && state->owner.start_ticks == self.start_ticks;
    if (owner_alive && !owner_is_self) {
      live.insert(run_id);
      report.live_runs.push_back(run_id);
      continue;
    }
    act("destroy interrupted run " + run_id + " (" + std::to_string(state->resources.size()) +
        " recorded resources)");
    if (options.dry_run) continue;
    auto provider = make_provider(state->provider, context);
    if (!provider) {
      report.errors.push_back(run_id + ": " + provider.error());
      continue;
    }
    if (Status s = destroy_run(**provider, *state, file, log); !s) {
      report.errors.push_back(run_id + ": " + s.error());
      live.insert(run_id);
    } else {
      report.cleaned_runs.push_back(run_id);
    }
  }

  // Orphans: tagged by this installation, but no live run claims them.
  auto local = make_provider("local", context);
  if (local) {
    for (const auto& found : (*local)->discover()) {
      if (live.count(found.run_id)) continue;
      act("delete orphan " + found.description + " of run " + found.run_id);
      if (options.dry_run) continue;
      if (Status s = (*local)->destroy_discovered(found); !s) {
        report.errors.push_back(found.description + ": " + s.error());
      }
    }
  }
  return report;
}

}  // namespace dec::infra
