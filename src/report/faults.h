// What each injected fault did to a run, read off the engine's one-point-per-second timeline:
// how far consumption fell, whether and when it came back, and what was lost or duplicated.
//
// Times are seconds since the start of warm-up, the clock of load::TimePoint::t_s. A timeline
// point at t_s covers the second (previous point's t_s, t_s]; the first covers (0, t_s].
//
// Rules, for a fault applied at T (applied_at_s):
// - throughput_before, the same for every fault of the run: the steady state before the FIRST
//   applied fault, at T1: mean consumed msg/s of the points that end at or before T1 and after
//   T1 - 5. A later fault is measured against it too, not against the level an earlier fault
//   left behind (after losing one node of three for good, a second fault must not look like a
//   small dip from an already degraded rate). Warm-up points (more than half before
//   `warmup_s`) count only when no measured point ends in that span.
// - The fault's window ends at N, the time of the next applied fault (other than the one that
//   ends it, below), or never.
// - Recovery: the first two consecutive points that both began at or after S and end by N, with
//   consumed msg/s >= 90% of that baseline. S is T, except for pairs (below). recovery_s is
//   S to the start of the first of them (1 s resolution); nullopt when none exists.
// - The fault's points: those ending after T, up to and including the first recovered point, or
//   up to N when it never recovered. throughput_min is their lowest consumed msg/s, dip_pct
//   = (before - min) / before in percent (0 when before is 0 or min is higher): the fall from
//   the steady state, including what earlier faults had already taken. lost and
//   duplicated their sums (with no point after T, throughput_min is throughput_before).
//   Consecutive faults never share a point: one that spans N belongs to the later fault.
// - Pairs: a pause is ended by the next applied resume of the same node, a disconnect by the
//   next applied reconnect. The opening fault carries the pair's figures: its window runs through
//   the closing fault and S is the closing fault's time, so recovery_s says how long the system
//   took to come back once the node was back. The closing fault gets ends_fault and no figures.
// - A fault that was not applied keeps its error and has no figures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "load/engine.h"

namespace dec::report {

struct FaultImpact {
  // Filled by whoever injected the fault:
  double at_s = 0;  // planned, from the spec
  std::string action;
  int target = 0;
  std::optional<uint64_t> bandwidth;  // bits/s, throttle only
  bool applied = false;
  std::string error;        // why it was not applied
  double applied_at_s = 0;  // when it actually ran

  // Filled by analyze_faults:
  double throughput_before = 0;  // steady consumed msg/s before the run's first applied fault
  double throughput_min = 0;     // lowest consumed msg/s from the fault until recovery or N
  double dip_pct = 0;
  std::optional<double> recovery_s;  // nullopt = not recovered before the next fault or the end
  uint64_t lost = 0;                 // summed over the fault's points
  uint64_t undelivered = 0;          // the same, not received by the deadline but not proven lost
  uint64_t duplicated = 0;
  std::optional<size_t> ends_fault;  // resume/reconnect: index of the pause/disconnect it ended
};

// `applied` is in time order, as the faults ran; returns it with the figures filled in.
// `warmup_s`: length of the warm-up the timeline starts with (0: every point is measured).
std::vector<FaultImpact> analyze_faults(const std::vector<load::TimePoint>& timeline,
                                        std::vector<FaultImpact> applied, double warmup_s = 0);

}  // namespace dec::report
