// Applies plans and destroys runs, writing the run's state file atomically after every step.
// Layout under the data dir: state/<run>.json, runs/<run>/<resource>/ (data, logs).
#pragma once

#include <string>

#include "infra/provider.h"

namespace dec::infra {

std::string installation_id(const std::string& data_dir);
std::string state_path(const std::string& data_dir, const std::string& run_id);

// The state file of one run, written through the Env (so a test's Env can fail or "crash" any
// write and prove every intermediate state can be reconciled).
class StateFile {
 public:
  StateFile(Env& env, std::string path);
  Status save(const RunState& state);
  Result<RunState> load();
  Status remove();
  const std::string& path() const { return path_; }

 private:
  Env& env_;
  std::string path_;
};

// Executes each change in order. Stops at the first failure (the state says what exists);
// the caller then destroys.
Status apply_plan(Provider& provider, const Plan& plan, RunState& state, StateFile& file,
                  const LogFn& log);

// Destroys every recorded resource in reverse order, continuing past failures, then removes
// the state file if all went. Idempotent.
Status destroy_run(Provider& provider, RunState& state, StateFile& file, const LogFn& log);

}  // namespace dec::infra
