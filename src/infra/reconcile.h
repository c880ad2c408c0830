// Reconcile: compares what the state files say with what really exists and cleans up.
//  - a run whose owning dec process is gone (crash, kill -9) is destroyed from its state file;
//  - anything carrying this installation's tags that belongs to no live run (an orphan, e.g. a
//    process spawned just before dec died) is deleted;
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
  bool clean() const { return errors.empty(); }
};

ReconcileReport reconcile(const ProviderContext& context, const ReconcileOptions& options,
                          const LogFn& log);

// Runs recorded in the data dir (state files), live or not.
std::vector<std::string> recorded_runs(Env& env, const std::string& data_dir);

}  // namespace dec::infra
