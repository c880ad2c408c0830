// Runs one experiment: for each point, repeat and system in turn (never two at once, so they do not
// compete for the machine) provision -> deploy -> warm up -> run -> collect -> destroy. Destroy
// always happens, whatever fails, and every lifecycle transition is stored before it is acted on.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "core/result.h"
#include "core/spec.h"
#include "infra/provider.h"
#include "load/engine.h"
#include "report/results.h"
#include "store/store.h"

namespace dec::orchestrator {

// Lifecycle states (DESIGN.md): queued -> provisioning -> deploying -> warming -> running ->
// collecting -> destroying -> succeeded | failed | cancelled.
bool is_terminal_state(const std::string& state);
const std::vector<std::string>& lifecycle_states();

struct RunnerEvents {
  // The experiment entered `state` while working on `system` ("" for experiment-wide states).
  std::function<void(const std::string& system, const std::string& state)> on_state;
  std::function<void(const std::string& system, const load::Progress& progress)> on_progress;
  std::function<void(const std::string& line)> on_log;
};

struct RunnerContext {
  infra::ProviderContext provider_context;
  store::Store* store = nullptr;
  const std::atomic<bool>* stop = nullptr;  // set by Ctrl-C / cancel; teardown still runs
  RunnerEvents events;
};

struct ExperimentOutcome {
  report::ExperimentResult result;
  std::string state;  // succeeded | failed | cancelled
  std::string error;
};

// What a system's run deploys besides its `deploy` section (topic names, workers), shared by
// `dec plan`, `dec apply` and runs so that all three describe the same resources. `run_prefix`
// is the experiment id, or in a sweep "<experiment id>.p<point>.r<repeat>" (sweep.h).
infra::DeployRequest deploy_request_for(const core::Spec& spec, const std::string& run_prefix,
                                        const core::System& system);

// `experiment_id` must already exist in the store (state queued). A sweep (matrix, repeats)
// runs every point, repeat and system in sweep.h's run_order, one run at a time; each run is
// "<experiment id>.p<point>.r<repeat>.<system>" (a single run keeps "<experiment id>.<system>").
ExperimentOutcome run_experiment(const core::Spec& spec, const std::string& experiment_id,
                                 RunnerContext& context);

}  // namespace dec::orchestrator
