// The search behind `workload.rate: find-max`: which rate to try next, given what the steps so far
// showed, and when to stop. No I/O and no clock of its own, so a test drives it with a synthetic
// system; the runner drives it with real steps (runner.cpp).
//
// The search, each step a full measured run of the workload at a fixed rate:
//   1. probe (when search.start is unset): one step at full speed (rate 0). What the system
//      delivered there bounds what it can sustain, so the ramp starts at 90 % of it and climbs
//      by 25 % instead of doubling from a guess, which saves the steps a blind ramp spends.
//   2. ramp: up while steps pass (x1.25 after a probe, x2 from a given start), down while they
//      fail (x0.7 after a probe, /2 from a start), until the bracket [highest passed, lowest
//      failed] exists.
//   3. bisection of the bracket at its geometric mean, until lowest failed / highest passed - 1
//      is at most search.precision.
// It stops at convergence, at search.max (the cap passed), after search.max_steps steps, or
// before a step that could end past search.max_time. The answer is the highest rate that passed;
// the true limit lies in [that, lowest failed).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "load/engine.h"
#include "report/results.h"

namespace dec::orchestrator {

// Whether one step met the SLO, and if not, why. A step passes when the engine ran without
// error, kept its schedule (WindowAccounting::rate_sustained), lost at most slo.max_loss of the
// offered messages, and its p99 (censored latencies included) was within slo.p99.
struct StepJudgement {
  bool passed = false;
  std::string reason;  // why it failed ("p99 84.1 ms > 50 ms"); "" when it passed
  double loss = 0;     // share of the offered messages not received (not acked without consumers)
  bool generator_limited = false;  // set by the caller when the load agent was saturated
};
StepJudgement judge_step(const load::EngineResult& result, const core::Slo& slo,
                         bool has_consumers);

class RateSearch {
 public:
  // `step_seconds`: the longest one step may take (warm-up + duration + drain + set-up), used
  // for the time bound and, when search.max_time is unset, to state one.
  RateSearch(const core::RateSearch& config, double step_seconds);

  // The next step's kind and rate (0 = full speed, the probe), or nullopt when the search is
  // over. `elapsed_s`: time since the search started.
  struct Step {
    std::string kind;  // probe | ramp | bisect
    double rate = 0;
  };
  std::optional<Step> next(double elapsed_s);
  // The outcome of the step next() returned: `achieved` = the rate the system delivered
  // (consumed msg/s, produced without consumers).
  void record(const Step& step, bool passed, double achieved);

  double best_rate() const { return best_; }        // highest passed; 0 = none passed
  double lowest_failed() const { return failed_; }  // 0 = none failed
  int steps() const { return steps_; }
  double precision() const { return config_.precision; }
  double time_bound_s() const { return time_bound_s_; }
  int step_bound() const { return config_.max_steps; }
  // Why it stopped, in words ("converged: 48,200 passed, 50,600 failed (within 5 %)").
  const std::string& stop_reason() const { return stop_reason_; }
  bool converged() const { return converged_; }

 private:
  std::optional<Step> stop(std::string reason, bool converged = false);
  double capped(double rate) const;

  core::RateSearch config_;
  double step_seconds_;
  double time_bound_s_;
  int steps_ = 0;
  bool probed_ = false;
  double up_factor_ = 2.0;
  double down_factor_ = 0.5;
  double next_ramp_ = 0;  // the ramp's next rate (before a bracket exists)
  double best_ = 0;
  double failed_ = 0;
  bool done_ = false;
  bool converged_ = false;
  std::string stop_reason_;
};

// The longest one step of `workload`'s search can take (warm-up + duration + drain deadline +
// fresh topics), and the longest the whole search may take (search.max_time, else max_steps
// steps). Only for a workload with a search.
double search_step_seconds(const core::Workload& workload);
double search_time_bound_s(const core::Workload& workload);
// "find-max: per system at most 12 steps and 6 min 0 s (probe, ramp, bisection to within 5 %)
// against SLO p99 <= 50 ms, loss <= 0 %"; "" without a search.
std::string search_plan(const core::Spec& spec);

// One step as measured by whoever runs the search.
struct MeasuredStep {
  load::EngineResult engine;
  bool generator_saturated = false;  // the load agent was the limit (report::analyze_resources)
};
using StepFn = std::function<Result<MeasuredStep>(int index, const RateSearch::Step& step)>;

// Runs the whole search: `measure` runs step `index` (0, 1, ...) at step.rate (0 = full speed)
// on fresh topics; its error ends the search with that error. The result's reported_step is the
// step whose figures the run reports (the highest passing, else the last). `stop` cancels
// between steps (and the engine within one). `log` gets a line per step.
Result<report::RateSearchResult> run_rate_search(
    const core::Workload& workload, const core::Slo& slo, const StepFn& measure,
    const std::atomic<bool>* stop, const std::function<void(const std::string&)>& log);

// Rounds a rate to three significant figures (what a report can show without pretending).
double round_rate(double rate);

}  // namespace dec::orchestrator
