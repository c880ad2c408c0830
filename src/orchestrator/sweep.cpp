#include "orchestrator/sweep.h"

#include <map>

#include "orchestrator/rate_search.h"

namespace dec::orchestrator {
namespace {

// Provision, deploy, topic creation and destroy of a local system: a few seconds each run.
constexpr std::chrono::seconds kSetUpPerRun{5};

std::string plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string duration_text(std::chrono::seconds total) {
  const long long s = total.count();
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string((s % 3600) / 60) + " min";
}

void diff_settings(const std::string& prefix, const core::Settings& before,
                   const core::Settings& after, std::vector<std::string>& out) {
  std::map<std::string, bool> keys;
  for (const auto& [key, value] : before) keys[key] = true;
  for (const auto& [key, value] : after) keys[key] = true;
  for (const auto& [key, unused] : keys) {
    auto b = before.find(key);
    auto a = after.find(key);
    if (b == before.end() || a == after.end() || b->second != a->second) {
      out.push_back(prefix + "." + key);
    }
  }
}

}  // namespace

std::vector<PlannedRun> run_order(size_t points, int repeats, size_t systems) {
  std::vector<PlannedRun> order;
  for (size_t point = 0; point < points; ++point) {
    for (int repeat = 0; repeat < repeats; ++repeat) {
      for (size_t system = 0; system < systems; ++system) order.push_back({point, repeat, system});
    }
  }
  return order;
}

bool is_sweep(const core::Spec& spec) { return !spec.matrix.empty() || spec.repeats > 1; }

std::string run_prefix(const std::string& experiment_id, const PlannedRun& run, bool sweep) {
  if (!sweep) return experiment_id;
  return experiment_id + ".p" + std::to_string(run.point) + ".r" + std::to_string(run.repeat);
}

std::chrono::seconds estimated_duration(const std::vector<core::SweepPoint>& points) {
  std::chrono::nanoseconds total{0};
  for (const core::SweepPoint& point : points) {
    const core::Workload& w = point.spec.workload;
    // A rate search runs steps until its bound: the bound is the estimate.
    const auto per_run = w.search ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::duration<double>(search_time_bound_s(w))) +
                                        kSetUpPerRun
                                  : w.warmup + w.duration + kSetUpPerRun;
    total += per_run * static_cast<int64_t>(point.spec.systems.size()) * point.spec.repeats;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(total);
}

std::string sweep_headline(const std::vector<core::SweepPoint>& points) {
  const size_t systems = points.empty() ? 0 : points.front().spec.systems.size();
  const int repeats = points.empty() ? 1 : points.front().spec.repeats;
  const size_t runs = points.size() * static_cast<size_t>(repeats) * systems;
  return plural(points.size(), "point") + " × " + plural(static_cast<size_t>(repeats), "repeat") +
         " × " + plural(systems, "system") + " = " + plural(runs, "run") + ", about " +
         duration_text(estimated_duration(points)) + " (warm-up + measured time + ~" +
         std::to_string(kSetUpPerRun.count()) + " s set-up and teardown per run)";
}

std::vector<std::string> infrastructure_changes(const core::System& before,
                                                const core::System& after) {
  std::vector<std::string> changes;
  if (before.driver != after.driver) changes.push_back("driver");
  const core::Deploy& b = before.deploy;
  const core::Deploy& a = after.deploy;
  if (b.provider != a.provider) changes.push_back("deploy.provider");
  if (b.nodes != a.nodes) changes.push_back("deploy.nodes");
  if (b.cpus != a.cpus) changes.push_back("deploy.cpus");
  if (b.memory != a.memory) changes.push_back("deploy.memory");
  if (b.bandwidth != a.bandwidth) changes.push_back("deploy.bandwidth");
  diff_settings("deploy.settings", b.settings, a.settings, changes);
  diff_settings("deploy.server", b.server, a.server, changes);
  return changes;
}

std::vector<bool> reuse_plan(const std::vector<core::SweepPoint>& points,
                             const std::vector<PlannedRun>& order) {
  std::vector<bool> reuse(order.size(), false);
  for (size_t i = 1; i < order.size(); ++i) {
    const PlannedRun& before = order[i - 1];
    const PlannedRun& now = order[i];
    if (before.system != now.system) continue;
    const core::Spec& spec = points[now.point].spec;
    if (!spec.reuse_infrastructure) continue;
    const core::System& a = points[before.point].spec.systems[before.system];
    const core::System& b = spec.systems[now.system];
    reuse[i] = a.name == b.name && infrastructure_changes(a, b).empty();
  }
  return reuse;
}

std::string infrastructure_plan(const std::vector<core::SweepPoint>& points) {
  if (points.empty()) return "";
  const int repeats = points.front().spec.repeats;
  const size_t systems = points.front().spec.systems.size();
  const std::vector<PlannedRun> order = run_order(points.size(), repeats, systems);
  const std::vector<bool> reuse = reuse_plan(points, order);
  auto index_of = [&](size_t point, int repeat, size_t system) {
    return (point * static_cast<size_t>(repeats) + static_cast<size_t>(repeat)) * systems + system;
  };
  const bool reuse_allowed = points.front().spec.reuse_infrastructure;
  std::string out;
  size_t reused = 0;
  for (bool r : reuse) reused += r;
  for (size_t p = 0; p < points.size(); ++p) {
    const core::SweepPoint& point = points[p];
    std::string values;
    for (const auto& [path, value] : point.values) {
      values += (values.empty() ? "" : ", ") + path + "=" + value;
    }
    out += "point " + std::to_string(point.index) + (values.empty() ? "" : " (" + values + ")") +
           ":\n";
    for (size_t s = 0; s < point.spec.systems.size(); ++s) {
      const core::System& system = point.spec.systems[s];
      out += "  " + system.name + ": ";
      const core::System* previous = p > 0 ? &points[p - 1].spec.systems[s] : nullptr;
      std::vector<std::string> changes;
      if (previous != nullptr) changes = infrastructure_changes(*previous, system);
      if (reuse[index_of(p, 0, s)]) {
        out += "reuses point " + std::to_string(points[p - 1].index) +
               "'s infrastructure (same driver and deploy; fresh topics)";
      } else if (previous == nullptr) {
        out += "new infrastructure";
      } else if (!changes.empty()) {
        std::string changed;
        for (const std::string& change : changes) {
          changed += (changed.empty() ? "" : ", ") + change;
        }
        out += "recreated: " + changed + " changed";
      } else if (!reuse_allowed) {
        out += "same infrastructure as point " + std::to_string(points[p - 1].index) +
               ", recreated (reuse_infrastructure: false)";
      } else {
        out += "same infrastructure as point " + std::to_string(points[p - 1].index) +
               ", recreated: other systems run in between (infrastructure is kept for the "
               "next run of the same system only, so no idle brokers share the machine)";
      }
      if (repeats > 1) {
        out += reuse[index_of(p, 1, s)] ? "; its repeats reuse it" : "; each repeat recreates it";
      }
      out += "\n";
    }
  }
  out += std::to_string(reused) + " of " + std::to_string(order.size()) + " run" +
         (order.size() == 1 ? "" : "s") +
         " reuse the infrastructure of the run before them (kept up instead of destroyed); the "
         "others provision and destroy their own.\n";
  return out;
}

}  // namespace dec::orchestrator
