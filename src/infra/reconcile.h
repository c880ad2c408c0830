// Reconcile: compares what the state files say with what really exists, and converges.
//  - `discover` lists everything carrying this installation's tags;
//  - adopt: a discovered resource of a recorded run that its state lacks is added to the state
//    (so it is destroyed or kept with the rest of its run, in dependency order);
//  - a run whose owning dec process is gone (crash, kill -9) is destroyed from its state file;
//  - a kept run (`dec apply`) is repaired: resources that vanished are recreated, drift (an
//    attribute the platform reports differently from the record) is fixed in place or by
//    replacement;
//  - anything tagged that belongs to no run at all (an orphan) is deleted;
//  - runs owned by another live dec process are left alone;
//  - with dry_run, the actions are listed and nothing is changed.
#pragma once

#include <string>
#include <vector>

#include "infra/provider.h"

namespace dec::infra {

struct ReconcileOptions {
  bool dry_run = false;
};

struct ReconcileReport {
  std::vector<std::string> actions;  // what was (or, dry run, would be) done
  std::vector<std::string> errors;   // what could not be done; run reconcile again
  std::vector<std::string> live_runs;
  std::vector<std::string> cleaned_runs;
  std::vector<std::string> adopted;    // "run/address"
  std::vector<std::string> recreated;  // "run/address"
  std::vector<std::string> drift;      // "run/address: attribute recorded X, found Y"
  bool clean() const { return errors.empty(); }
};

ReconcileReport reconcile(const ProviderContext& context, const ReconcileOptions& options,
                          const LogFn& log);

// Destroys one recorded run (a kept run of `dec apply`, or what an interrupted run left) from its
// state file; refused while the dec process that owns it is alive. Used by `dec destroy` and the
// API. From the first step the run counts as being destroyed, not kept: if this dec dies,
// reconcile finishes the job.
Status destroy_recorded_run(const ProviderContext& context, const std::string& run_id,
                            const LogFn& log);

// Runs recorded in the data dir (state files), live or not.
std::vector<std::string> recorded_runs(Env& env, const std::string& data_dir);

}  // namespace dec::infra
