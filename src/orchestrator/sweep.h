// A sweep as runs: the order they run in (every point, every repeat, the systems interleaved so
// drift over time hits each system alike), how each is named, how long the whole takes, and
// whether a point's infrastructure equals the previous point's. Used by `dec plan`, `dec run`
// and the runner alike, so the plan describes what runs.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/spec.h"
#include "core/spec_parser.h"

namespace dec::orchestrator {

struct PlannedRun {
  size_t point = 0;
  int repeat = 0;
  size_t system = 0;  // index in the point's systems
};

// Point by point; within a point repeat by repeat; within a repeat every system once:
// p0 r0 A, p0 r0 B, p0 r1 A, p0 r1 B, ... (A B A B, never A A B B).
std::vector<PlannedRun> run_order(size_t points, int repeats, size_t systems);

// A spec is a sweep when it has a matrix or repeats > 1; only then do ids carry the point and
// repeat, so single-run experiments keep their ids ("<experiment>.<system>").
bool is_sweep(const core::Spec& spec);

// What the run's ids and topic names start with: "<experiment>" for a single run,
// "<experiment>.p<point>.r<repeat>" in a sweep. A run id is this + "." + system name.
std::string run_prefix(const std::string& experiment_id, const PlannedRun& run, bool sweep);

// "3 points × 3 repeats × 1 system = 9 runs, about 1 min 30 s": warm-up plus measured time of
// every run, plus a set-up and teardown allowance per run.
std::string sweep_headline(const std::vector<core::SweepPoint>& points);
std::chrono::seconds estimated_duration(const std::vector<core::SweepPoint>& points);

// What changed in a system's infrastructure (`deploy.*`, and its driver) from one point to the
// next: "deploy.nodes", "deploy.server.appendonly"; empty = the same infrastructure.
std::vector<std::string> infrastructure_changes(const core::System& before,
                                                const core::System& after);

// Per run of `order`: whether it runs on the infrastructure of the run just before it, which is
// kept up instead of destroyed. Only consecutive runs of one system share infrastructure (with
// several systems interleaved, that would leave one system's idle brokers on the machine while
// another is measured): same system, equal infrastructure (infrastructure_changes empty), and
// spec.reuse_infrastructure. The runner still recreates when the run before failed.
std::vector<bool> reuse_plan(const std::vector<core::SweepPoint>& points,
                             const std::vector<PlannedRun>& order);

// Per point, per system: new, reused from the run before, or recreated and why; then how many
// runs reuse infrastructure. One line per point and system, indented under a line naming the
// point.
std::string infrastructure_plan(const std::vector<core::SweepPoint>& points);

}  // namespace dec::orchestrator
