// The result of an experiment: one RunResult per system, rendered as JSON (stored, served,
// printed with --json) and as a side-by-side comparison table. The table is rendered from the
// JSON so `dec run` and `dec results show` print the same thing.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/spec.h"
#include "load/engine.h"
#include "report/cost.h"
#include "report/environment.h"
#include "report/faults.h"
#include "report/resources.h"

namespace dec::report {

// One step of a rate search (`workload.rate: find-max`, orchestrator/rate_search.h): the
// workload at one fixed rate, judged against the SLO.
struct SearchStep {
  std::string kind;           // probe (full speed) | ramp | bisect
  double offered_per_s = 0;   // 0 for the probe
  double achieved_per_s = 0;  // consumed msg/s in the window (produced without consumers)
  double p50_us = 0;          // end-to-end (publish without consumers), censored included
  double p99_us = 0;
  double p999_us = 0;
  bool latency_lower_bound = false;  // some messages missing at the deadline
  double loss = 0;                   // share of the offered not received
  bool passed = false;
  std::string reason;                // why it failed
  bool generator_saturated = false;  // the load agent was the limit in this step
  double seconds = 0;                // the step's wall time, set-up included
};

struct RateSearchResult {
  double max_rate = 0;       // highest offered rate that passed; 0 = none did
  double lowest_failed = 0;  // the true limit is below this (0 = no step failed)
  bool converged = false;
  std::string stopped;  // why the search ended, in words
  core::Slo slo;
  double precision = 0;
  int step_bound = 0;
  double time_bound_s = 0;
  double seconds = 0;  // the whole search
  // The step whose figures the run reports (the highest passed, else the last one), and whether
  // the load agent was saturated in the step that set the limit (the figures are then the
  // generator's limit, a lower bound on the system's).
  int reported_step = -1;
  bool limited_by_generator = false;
  std::vector<SearchStep> steps;  // in the order run: the latency-vs-rate curve
};

// One of several load agents that drove a run at once, as the orchestrator saw it.
struct LoadAgentReport {
  std::string name;     // "worker.redis.1"
  std::string address;  // host:port
  int producers = 0;
  int consumers = 0;  // per consumer group
  // Its wall clock minus the orchestrator's, +- uncertainty (half the smallest round trip of
  // the NTP-style probes); end-to-end latency between agents is only as good as this.
  int64_t clock_offset_ns = 0;
  int64_t clock_uncertainty_ns = 0;
  std::string error;  // its result is missing (lost mid-run)
};

struct RunResult {
  std::string
      run_id;  // "<experiment>.<system>", in a sweep "<experiment>.p<point>.r<repeat>.<system>"
  size_t point = 0;  // index into ExperimentResult::points
  int repeat = 0;    // 0-based
  std::string system;
  std::string driver;
  std::string provider;
  bool emulated = false;
  std::string served_by;       // what actually ran ("redis-server", "librdkafka mock cluster")
  std::string client_library;  // the driver's client library and version ("librdkafka 2.0.2")
  std::string status;          // "succeeded" | "failed" | "cancelled"
  std::string error;
  core::Settings config;
  // The client settings in force for this run's driver (common `workload.client` settings
  // mapped onto the driver's keys, explicit config, or the driver's defaults), so two systems'
  // clients can be compared; see drivers/client_settings.h.
  core::Settings client;
  load::EngineResult engine;
  std::vector<std::pair<std::string, double>> phases_s;    // provision, deploy, run, destroy
  std::vector<std::pair<std::string, uint64_t>> counters;  // driver-specific (throttling, ...)
  std::vector<FaultImpact> faults;                         // injected into this run, in time order
  // What the system and the load agent used in the measured window, and what that says.
  std::vector<HostUsage> resources;
  ResourceVerdict resource_verdict;
  // The run whose infrastructure this one ran on, kept up for it (sweep.h reuse_plan); "" =
  // provisioned for this run.
  std::string infrastructure_from;
  // `workload.rate: find-max`: the search; `engine` then holds the reported step's figures.
  std::optional<RateSearchResult> search;
  // What the system would cost at the measured rate (report/cost.h); succeeded runs only.
  std::optional<CostEstimate> cost;
  // Several load agents (deploy.workers > 1): each one's share and clock, and how closely their
  // clocks agree (the largest uncertainty), which bounds cross-agent end-to-end latency.
  std::vector<LoadAgentReport> load_agents;
  int64_t clock_agreement_ns = 0;
};

// One point of a sweep: the matrix values it ran with (none without a matrix).
struct PointInfo {
  size_t index = 0;
  std::vector<std::pair<std::string, std::string>> values;  // matrix path → value
};

struct ExperimentResult {
  std::string id;
  std::string experiment;  // spec name
  std::string started_at;
  core::Workload workload;
  core::Targets targets;
  std::vector<std::string> warnings;  // spec warnings (path: message), shown with the table
  std::vector<PointInfo> points;      // empty: one point without values
  int repeats = 1;
  std::vector<RunResult> runs;
  // What reproduces the result besides dec itself: the full spec after --set overrides (JSON,
  // as core::spec_to_json writes it) and the machine it ran on.
  std::string spec_json;
  Environment environment;
};

// A sweep's JSON (several points or repeats) also has "stats": per point and system, mean, sd and
// 95 % confidence interval of each metric over the succeeded runs, and "comparisons": Welch's
// t-test between the systems of each point and between consecutive points of each system.
std::string to_json(const ExperimentResult& result, bool pretty = true);
// Side-by-side table from the JSON produced by to_json; error if the JSON is not a result. A sweep
// gets one column per point and system (mean ± confidence interval) and the comparisons' verdicts;
// a single run keeps the per-run table.
Result<std::string> comparison_table(const std::string& results_json);
// The results document with its "spec": as stored when it has one, else with `spec_json` (the
// experiment's stored spec) added, so results stored before they carried the spec can still be
// run again as they are. Text that is not a JSON object is returned unchanged.
std::string results_with_spec(const std::string& results_json, const std::string& spec_json);
// Why `--fail-on-target-miss` fails: one line per run that missed a target of the spec or failed
// its delivery check (what the table shows as MISSED and FAILED). Empty: nothing was missed.
std::vector<std::string> missed_targets(const std::string& results_json);

}  // namespace dec::report
