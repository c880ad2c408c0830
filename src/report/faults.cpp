#include "report/faults.h"

#include <algorithm>
#include <limits>

namespace dec::report {
namespace {

constexpr double kBaselineSeconds = 5;
// Back to 90% of before, for two seconds in a row: one good second can be a burst of backlog.
constexpr double kRecoveredFraction = 0.9;
constexpr size_t kRecoveredPoints = 2;
constexpr double kNever = std::numeric_limits<double>::infinity();

// The action that ends `action`, or "" when it is not the opening half of a pair.
std::string closing_action(const std::string& action) {
  if (action == "pause") return "resume";
  if (action == "disconnect") return "reconnect";
  return "";
}

class Timeline {
 public:
  explicit Timeline(const std::vector<load::TimePoint>& points) : points_(points) {}

  size_t size() const { return points_.size(); }
  const load::TimePoint& operator[](size_t i) const { return points_[i]; }
  double begins(size_t i) const { return i == 0 ? 0 : points_[i - 1].t_s; }
  double ends(size_t i) const { return points_[i].t_s; }

  // Mean consumed msg/s of the points ending in (t - kBaselineSeconds, t]; warm-up points (most
  // of their second before `warmup_s`) only when no measured point is there, since warm-up
  // traffic may still be ramping up.
  double mean_consumed_before(double t, double warmup_s) const {
    double sum[2] = {0, 0};  // [warm-up, measured]
    size_t count[2] = {0, 0};
    for (size_t i = 0; i < size(); ++i) {
      if (ends(i) <= t && ends(i) > t - kBaselineSeconds) {
        const size_t measured = (begins(i) + ends(i)) / 2 >= warmup_s ? 1 : 0;
        sum[measured] += points_[i].consumed_per_s;
        ++count[measured];
      }
    }
    const size_t use = count[1] > 0 ? 1 : 0;
    return count[use] == 0 ? 0 : sum[use] / static_cast<double>(count[use]);
  }

  // The first point of a run of kRecoveredPoints at or above `threshold`, all beginning at or
  // after `from` and ending by `until`.
  std::optional<size_t> first_recovered(double from, double until, double threshold) const {
    for (size_t i = 0; i + kRecoveredPoints <= size(); ++i) {
      if (begins(i) < from) continue;
      if (ends(i + kRecoveredPoints - 1) > until) break;
      bool healthy = true;
      for (size_t k = i; k < i + kRecoveredPoints; ++k) {
        healthy = healthy && points_[k].consumed_per_s >= threshold;
      }
      if (healthy) return i;
    }
    return std::nullopt;
  }

 private:
  const std::vector<load::TimePoint>& points_;
};

}  // namespace

std::vector<FaultImpact> analyze_faults(const std::vector<load::TimePoint>& timeline,
                                        std::vector<FaultImpact> applied, double warmup_s) {
  const Timeline points(timeline);
  const size_t count = applied.size();

  std::vector<std::optional<size_t>> closed_by(count);
  for (FaultImpact& fault : applied) fault.ends_fault.reset();
  for (size_t i = 0; i < count; ++i) {
    const std::string closing = closing_action(applied[i].action);
    if (!applied[i].applied || closing.empty()) continue;
    for (size_t j = i + 1; j < count; ++j) {
      FaultImpact& candidate = applied[j];
      if (candidate.applied && !candidate.ends_fault && candidate.action == closing &&
          candidate.target == applied[i].target) {
        closed_by[i] = j;
        candidate.ends_fault = i;
        break;
      }
    }
  }

  double baseline = 0;
  for (const FaultImpact& fault : applied) {
    if (!fault.applied) continue;
    baseline = points.mean_consumed_before(fault.applied_at_s, warmup_s);
    break;
  }

  for (size_t i = 0; i < count; ++i) {
    FaultImpact& fault = applied[i];
    if (!fault.applied || fault.ends_fault) continue;
    const double start = fault.applied_at_s;
    double window_end = kNever;
    for (size_t k = i + 1; k < count; ++k) {
      if (applied[k].applied && closed_by[i] != k) {
        window_end = applied[k].applied_at_s;
        break;
      }
    }
    const double recovery_from = closed_by[i] ? applied[*closed_by[i]].applied_at_s : start;

    fault.throughput_before = baseline;
    const std::optional<size_t> recovered = points.first_recovered(
        recovery_from, window_end, kRecoveredFraction * fault.throughput_before);
    if (recovered) {
      fault.recovery_s = std::max(0.0, points.begins(*recovered) - recovery_from);
    }

    bool any_point = false;
    fault.throughput_min = fault.throughput_before;
    for (size_t p = 0; p < points.size(); ++p) {
      if (points.ends(p) <= start) continue;
      if (recovered ? p > *recovered : points.ends(p) > window_end) break;
      fault.throughput_min = any_point ? std::min(fault.throughput_min, points[p].consumed_per_s)
                                       : points[p].consumed_per_s;
      any_point = true;
      fault.lost += points[p].lost;
      fault.undelivered += points[p].undelivered;
      fault.duplicated += points[p].duplicated;
    }
    // Throughput that never fell below the recovery threshold needed no recovering, even when
    // the window was too short to show two good seconds after the fault.
    if (!recovered && any_point && fault.throughput_before > 0 &&
        fault.throughput_min >= kRecoveredFraction * fault.throughput_before) {
      fault.recovery_s = 0.0;
    }
    if (fault.throughput_before > 0 && fault.throughput_min < fault.throughput_before) {
      fault.dip_pct =
          (fault.throughput_before - fault.throughput_min) / fault.throughput_before * 100;
    }
  }
  return applied;
}

}  // namespace dec::report
