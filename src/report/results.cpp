#include "report/results.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>

#include "core/units.h"
#include "report/guarded.h"
#include "report/stats.h"

namespace dec::report {

using json = nlohmann::ordered_json;

namespace {

double round_to(double value, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

// Costs span from dollars an hour to millionths of a dollar a message: significant digits.
double round_significant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return value;
  const int magnitude = static_cast<int>(std::floor(std::log10(std::abs(value))));
  return round_to(value, digits - 1 - magnitude);
}

json cost_json(const CostEstimate& cost) {
  json items = json::array();
  for (const CostItem& item : cost.items) {
    items.push_back({{"item", item.name},
                     {"quantity_per_hour", round_significant(item.quantity_per_hour, 6)},
                     {"unit", item.unit},
                     {"unit_price_usd", item.unit_price_usd},
                     {"usd_per_hour", round_significant(item.usd_per_hour, 6)},
                     {"source", item.source}});
  }
  auto or_null = [](const std::string& text) { return text.empty() ? json(nullptr) : json(text); };
  return {{"estimate", true},
          {"model", cost.model},
          {"messages_per_s", round_to(cost.messages_per_s, 1)},
          {"per_hour_usd", round_significant(cost.per_hour_usd, 6)},
          {"per_million_messages_usd", round_significant(cost.per_million_messages_usd, 6)},
          {"items", items},
          {"prices",
           {{"region", or_null(cost.region)},
            {"date", or_null(cost.prices_date)},
            {"sources", cost.sources}}},
          {"notes", cost.notes}};
}

// `censored`: how many of the samples are lower bounds (deadline - intended send time).
json latency_json(const metrics::Histogram& h, uint64_t censored) {
  auto us = [](uint64_t ns) { return round_to(static_cast<double>(ns) / 1000.0, 1); };
  return {{"count", h.count()},
          {"mean", round_to(h.mean() / 1000.0, 1)},
          {"p50", us(h.percentile(50))},
          {"p90", us(h.percentile(90))},
          {"p99", us(h.percentile(99))},
          {"p999", us(h.percentile(99.9))},
          {"p9999", us(h.percentile(99.99))},
          {"max", us(h.max())},
          {"censored", censored}};
}

json window_json(const load::WindowAccounting& window) {
  return {
      {"offered", window.offered},
      {"offered_per_s", round_to(window.offered_per_s, 1)},
      {"sent_on_time", window.sent_on_time},
      {"sent_late", window.sent_late},
      {"unsent", window.unsent},
      {"max_send_lag_ms", round_to(window.max_send_lag_s * 1000.0, 1)},
      {"acked", window.acked},
      {"received", window.received},
      {"undelivered", window.undelivered},
      {"lost", window.lost},
      {"warmup_acked_in_window", window.warmup_acked_in_window},
      {"warmup_received_in_window", window.warmup_received_in_window},
      // Without an offered rate there is nothing to sustain: null, not a vacuous "true".
      {"rate_sustained", window.offered_per_s > 0 ? json(window.rate_sustained) : json(nullptr)}};
}

json resources_json(const RunResult& run) {
  json hosts = json::array();
  for (const HostUsage& host : run.resources) {
    json item = {{"address", host.address},
                 {"role", host.role},
                 {"cpu_seconds", round_to(host.cpu_seconds, 3)},
                 {"cpu_avg_cores", round_to(host.cpu_avg, 3)},
                 {"cpu_peak_cores", round_to(host.cpu_peak, 3)}};
    item["cpus_limit"] = host.cpus_limit ? json(*host.cpus_limit) : json(nullptr);
    item["memory_peak_bytes"] =
        host.memory_peak_bytes ? json(*host.memory_peak_bytes) : json(nullptr);
    hosts.push_back(std::move(item));
  }
  const ResourceVerdict& v = run.resource_verdict;
  return {{"hosts", hosts},
          {"msgs_per_broker_cpu_s",
           v.msgs_per_broker_cpu_s ? json(round_to(*v.msgs_per_broker_cpu_s, 1)) : json(nullptr)},
          {"load_generator_saturated", v.load_generator_saturated},
          {"saturation_reason", v.saturation_reason},
          {"limited_by", v.limited_by},
          {"limited_by_reason", v.limited_by_reason}};
}

json fault_json(const FaultImpact& fault) {
  json out = {
      {"at_s", round_to(fault.at_s, 3)}, {"action", fault.action}, {"target", fault.target}};
  if (fault.bandwidth) out["bandwidth"] = *fault.bandwidth;
  out["applied"] = fault.applied;
  if (!fault.error.empty()) out["error"] = fault.error;
  if (!fault.applied) return out;
  out["applied_at_s"] = round_to(fault.applied_at_s, 3);
  if (fault.ends_fault) {
    out["ends_fault"] = *fault.ends_fault;  // index in this list; the figures are there
    return out;
  }
  out["throughput_before"] = round_to(fault.throughput_before, 1);
  out["throughput_min"] = round_to(fault.throughput_min, 1);
  out["dip_pct"] = round_to(fault.dip_pct, 1);
  out["recovery_s"] = fault.recovery_s ? json(round_to(*fault.recovery_s, 2)) : json(nullptr);
  out["lost"] = fault.lost;
  out["undelivered"] = fault.undelivered;
  out["duplicated"] = fault.duplicated;
  return out;
}

// ---- Sweep statistics ---------------------------------------------------------------------------

// Cost figures are summarized like the others but not tested: they follow from throughput, whose
// comparison is already there.
enum class CostFigure { kNone, kPerHour, kPerMillion };

// A metric summarized across repeats. `per_10000`: the percentile's rank (9900 = p99), to tell
// when a run's figure is only a lower bound; 0 for throughput and cost.
struct SweepMetric {
  const char* key;
  const char* label;  // as the per-run table calls it
  Better better;
  uint64_t per_10000;
  bool needs_consumers;
  bool publish;         // from the publish (acknowledgement) histogram, else end to end
  bool search = false;  // the rate search's answer (only runs with workload.rate: find-max)
  CostFigure cost = CostFigure::kNone;
};

const std::vector<SweepMetric>& sweep_metrics() {
  static const std::vector<SweepMetric> kMetrics = {
      {"produced_msgs_per_s", "produced msg/s", Better::kHigher, 0, false, false},
      {"consumed_msgs_per_s", "consumed msg/s", Better::kHigher, 0, true, false},
      {"latency_p50_us", "latency p50", Better::kLower, 5000, true, false},
      {"latency_p99_us", "latency p99", Better::kLower, 9900, true, false},
      {"latency_p999_us", "latency p99.9", Better::kLower, 9990, true, false},
      {"publish_p99_us", "publish p99", Better::kLower, 9900, false, true},
      {"max_rate_per_s", "max sustainable msg/s", Better::kHigher, 0, false, false, true},
      {"cost_per_hour_usd", "cost/hour (estimate)", Better::kLower, 0, false, false, false,
       CostFigure::kPerHour},
      {"cost_per_million_messages_usd", "cost/1M msgs (estimate)", Better::kLower, 0, false, false,
       false, CostFigure::kPerMillion}};
  return kMetrics;
}

bool metric_applies(const SweepMetric& metric, const core::Workload& workload) {
  if (metric.needs_consumers && workload.consumers == 0) return false;
  return !metric.search || workload.search.has_value();
}

// One run's figure for `metric`, if it has one; `lower_bound` is set when messages missing at
// the deadline make the figure a lower bound.
std::optional<double> metric_value(const RunResult& run, const SweepMetric& metric,
                                   bool& lower_bound) {
  if (run.status != "succeeded") return std::nullopt;
  if (metric.search) {
    if (!run.search || run.search->max_rate <= 0) return std::nullopt;
    return run.search->max_rate;
  }
  if (metric.cost != CostFigure::kNone) {
    if (!run.cost) return std::nullopt;
    return metric.cost == CostFigure::kPerHour ? run.cost->per_hour_usd
                                               : run.cost->per_million_messages_usd;
  }
  const load::EngineResult& e = run.engine;
  if (metric.per_10000 == 0) {
    if (e.measured_seconds <= 0) return std::nullopt;
    return metric.needs_consumers ? e.consumed_msgs_per_s : e.produced_msgs_per_s;
  }
  const metrics::Histogram& h = metric.publish ? e.publish_latency : e.end_to_end_latency;
  const uint64_t count = h.count();
  if (count == 0) return std::nullopt;
  const uint64_t censored =
      std::min(metric.publish ? e.censored_publish : e.censored_end_to_end, count);
  const uint64_t rank = (metric.per_10000 * count + 9999) / 10000;
  lower_bound = lower_bound || (censored > 0 && rank > count - censored);
  return static_cast<double>(h.percentile(static_cast<double>(metric.per_10000) / 100.0)) / 1000.0;
}

struct SampleGroup {
  size_t point = 0;
  std::string system;
  size_t runs = 0;
  size_t succeeded = 0;
  std::vector<std::vector<double>> samples;  // per metric
  std::vector<bool> lower_bound;             // per metric
};

std::vector<SampleGroup> sample_groups(const ExperimentResult& result) {
  const auto& metrics = sweep_metrics();
  std::vector<SampleGroup> groups;
  // Point by point, systems in the order they ran.
  std::vector<const RunResult*> ordered;
  for (const RunResult& run : result.runs) ordered.push_back(&run);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const RunResult* a, const RunResult* b) { return a->point < b->point; });
  for (const RunResult* run : ordered) {
    auto group = std::find_if(groups.begin(), groups.end(), [&](const SampleGroup& g) {
      return g.point == run->point && g.system == run->system;
    });
    if (group == groups.end()) {
      groups.push_back({run->point, run->system, 0, 0,
                        std::vector<std::vector<double>>(metrics.size()),
                        std::vector<bool>(metrics.size(), false)});
      group = groups.end() - 1;
    }
    ++group->runs;
    if (run->status == "succeeded") ++group->succeeded;
    for (size_t m = 0; m < metrics.size(); ++m) {
      if (!metric_applies(metrics[m], result.workload)) continue;
      bool lower_bound = false;
      if (auto value = metric_value(*run, metrics[m], lower_bound)) {
        group->samples[m].push_back(*value);
        group->lower_bound[m] = group->lower_bound[m] || lower_bound;
      }
    }
  }
  return groups;
}

// `cost`: dollar figures, rounded to significant digits (a few millionths per message).
json summary_json(const std::vector<double>& samples, bool lower_bound, bool cost) {
  const Summary summary = summarize(samples);
  auto rounded = [cost](double value) {
    return cost ? round_significant(value, 6) : round_to(value, 3);
  };
  json out = {{"n", summary.n}, {"mean", rounded(summary.mean)}};
  out["sd"] = summary.n >= 2 ? json(rounded(summary.sd)) : json(nullptr);
  if (summary.ci95) {
    out["ci95"] = rounded(*summary.ci95);
    out["ci95_low"] = rounded(summary.mean - *summary.ci95);
    out["ci95_high"] = rounded(summary.mean + *summary.ci95);
  } else {
    out["ci95"] = nullptr;  // one run: no interval, never a made-up one
  }
  out["lower_bound"] = lower_bound;
  return out;
}

json comparison_json(const SweepMetric& metric, const SampleGroup& a, const std::string& name_a,
                     const SampleGroup& b, const std::string& name_b, size_t m) {
  json out = {{"metric", metric.key},
              {"a", {{"point", a.point}, {"system", a.system}, {"name", name_a}}},
              {"b", {{"point", b.point}, {"system", b.system}, {"name", name_b}}},
              {"test", "welch"},
              {"alpha", kAlpha}};
  if (a.lower_bound[m] || b.lower_bound[m]) {
    out["significant"] = false;
    out["verdict"] =
        "lower bounds (messages missing at the deadline) in some runs: no test possible";
    return out;
  }
  const Verdict verdict =
      compare_samples(name_a, a.samples[m], name_b, b.samples[m], metric.better);
  if (verdict.test) {
    out["t"] = round_to(verdict.test->t, 4);
    out["df"] = round_to(verdict.test->df, 3);
    out["p_value"] = verdict.test->p_value;
  }
  out["significant"] = verdict.significant;
  out["faster"] = verdict.faster ? json(*verdict.faster) : json(nullptr);
  out["difference_pct"] = round_to(verdict.difference_pct, 2);
  out["verdict"] = verdict.text;
  return out;
}

// "stats" and "comparisons" of a sweep's JSON (see results.h).
std::pair<json, json> sweep_statistics(const ExperimentResult& result) {
  const auto& metrics = sweep_metrics();
  const std::vector<SampleGroup> groups = sample_groups(result);
  json stats = json::array();
  for (const SampleGroup& group : groups) {
    json per_metric = json::object();
    for (size_t m = 0; m < metrics.size(); ++m) {
      if (!metric_applies(metrics[m], result.workload)) continue;
      // No cost figure at all (no run was priced): left out rather than n = 0.
      if (metrics[m].cost != CostFigure::kNone && group.samples[m].empty()) continue;
      per_metric[metrics[m].key] = summary_json(group.samples[m], group.lower_bound[m],
                                                metrics[m].cost != CostFigure::kNone);
    }
    stats.push_back({{"point", group.point},
                     {"system", group.system},
                     {"runs", group.runs},
                     {"succeeded", group.succeeded},
                     {"metrics", per_metric}});
  }
  json comparisons = json::array();
  auto compare_all = [&](const SampleGroup& a, const std::string& name_a, const SampleGroup& b,
                         const std::string& name_b) {
    for (size_t m = 0; m < metrics.size(); ++m) {
      if (!metric_applies(metrics[m], result.workload)) continue;
      if (metrics[m].cost != CostFigure::kNone) continue;
      comparisons.push_back(comparison_json(metrics[m], a, name_a, b, name_b, m));
    }
  };
  // The systems of each point against each other.
  for (size_t i = 0; i < groups.size(); ++i) {
    for (size_t j = i + 1; j < groups.size(); ++j) {
      if (groups[i].point == groups[j].point) {
        compare_all(groups[i], groups[i].system, groups[j], groups[j].system);
      }
    }
  }
  // Each system's consecutive points: what one step of the varied value changed.
  for (size_t i = 0; i < groups.size(); ++i) {
    for (size_t j = i + 1; j < groups.size(); ++j) {
      if (groups[j].system != groups[i].system) continue;
      compare_all(groups[i], "p" + std::to_string(groups[i].point), groups[j],
                  "p" + std::to_string(groups[j].point));
      break;
    }
  }
  return {stats, comparisons};
}

json slo_json(const core::Slo& slo) {
  json out = {{"max_loss", slo.max_loss}};
  out["p99_us"] = slo.p99 ? json(static_cast<double>(slo.p99->count()) / 1000.0) : json(nullptr);
  return out;
}

json search_json(const RateSearchResult& search) {
  json steps = json::array();
  for (const SearchStep& step : search.steps) {
    steps.push_back({{"kind", step.kind},
                     {"offered_per_s", round_to(step.offered_per_s, 1)},
                     {"achieved_per_s", round_to(step.achieved_per_s, 1)},
                     {"p50_us", round_to(step.p50_us, 1)},
                     {"p99_us", round_to(step.p99_us, 1)},
                     {"p999_us", round_to(step.p999_us, 1)},
                     {"latency_lower_bound", step.latency_lower_bound},
                     {"loss", step.loss},
                     {"passed", step.passed},
                     {"reason", step.reason},
                     {"generator_saturated", step.generator_saturated},
                     {"seconds", round_to(step.seconds, 3)}});
  }
  return {{"max_rate", search.max_rate > 0 ? json(round_to(search.max_rate, 1)) : json(nullptr)},
          {"lowest_failed",
           search.lowest_failed > 0 ? json(round_to(search.lowest_failed, 1)) : json(nullptr)},
          {"converged", search.converged},
          {"stopped", search.stopped},
          {"slo", slo_json(search.slo)},
          {"precision", search.precision},
          {"step_bound", search.step_bound},
          {"time_bound_s", round_to(search.time_bound_s, 1)},
          {"seconds", round_to(search.seconds, 3)},
          {"reported_step", search.reported_step},
          {"limited_by_generator", search.limited_by_generator},
          {"steps", steps}};
}

bool is_sweep_result(const ExperimentResult& result) {
  if (result.repeats > 1 || result.points.size() > 1) return true;
  return !result.points.empty() && !result.points.front().values.empty();
}

json environment_json(const Environment& env) {
  json lock = {{"concurrent_runs", env.concurrent_runs},
               {"measured_alongside", env.measured_alongside},
               {"waited_s", round_to(env.lock_wait_s, 3)},
               {"allow_concurrent", env.allow_concurrent}};
  if (!env.concurrent_detail.empty()) lock["detail"] = env.concurrent_detail;
  return {{"dec_version", env.dec_version},
          {"kernel", env.kernel},
          {"os", env.os},
          {"hostname", env.hostname},
          {"cpu_model", env.cpu_model},
          {"cpu_cores", env.cpu_cores},
          {"memory_bytes", env.memory_bytes},
          {"payload_seed", env.payload_seed},
          {"measurement_lock", lock}};
}

}  // namespace

std::string to_json(const ExperimentResult& result, bool pretty) {
  json runs = json::array();
  for (const auto& run : result.runs) {
    const auto& e = run.engine;
    json phases = json::object();
    for (const auto& [name, seconds] : run.phases_s) phases[name] = round_to(seconds, 3);
    json counters = json::object();
    for (const auto& [name, value] : run.counters) counters[name] = value;
    json timeline = json::array();
    for (const auto& point : e.timeline) {
      timeline.push_back({{"t_s", round_to(point.t_s, 2)},
                          {"produced_per_s", round_to(point.produced_per_s, 1)},
                          {"consumed_per_s", round_to(point.consumed_per_s, 1)},
                          {"p99_us", point.p99_us},
                          {"lost", point.lost},
                          {"undelivered", point.undelivered},
                          {"duplicated", point.duplicated}});
    }
    json faults = json::array();
    for (const auto& fault : run.faults) faults.push_back(fault_json(fault));
    json partitions = json::array();
    for (const auto& count : e.partitions) {
      partitions.push_back(
          {{"topic", count.topic}, {"partition", count.partition}, {"received", count.received}});
    }
    json item = {
        {"run_id", run.run_id},
        {"point", run.point},
        {"repeat", run.repeat},
        {"system", run.system},
        {"driver", run.driver},
        {"provider", run.provider},
        {"emulated", run.emulated},
        {"served_by", run.served_by},
        {"client_library", run.client_library},
        {"status", run.status},
        {"error", run.error},
        {"config", run.config},
        {"measured_s", round_to(e.measured_seconds, 3)},
        {"throughput",
         {{"produced_msgs_per_s", round_to(e.produced_msgs_per_s, 1)},
          {"consumed_msgs_per_s", round_to(e.consumed_msgs_per_s, 1)},
          {"produced_mb_per_s", round_to(e.produced_mb_per_s, 3)},
          {"consumed_mb_per_s", round_to(e.consumed_mb_per_s, 3)}}},
        {"window", window_json(e.window)},
        {"latency_us", latency_json(e.end_to_end_latency, e.censored_end_to_end)},
        {"publish_latency_us", latency_json(e.publish_latency, e.censored_publish)},
        {"delivery",
         {{"sent", e.delivery.sent},
          {"acked", e.delivery.acked},
          {"send_errors", e.delivery.send_errors},
          {"received", e.delivery.received},
          {"lost", e.delivery.lost},
          {"duplicated", e.delivery.duplicated},
          {"reordered", e.delivery.reordered},
          {"corrupt", e.delivery.corrupt},
          {"undelivered", e.delivery.undelivered},
          {"redelivered", e.delivery.redelivered}}},
        {"partitions", partitions},
        {"client", run.client},
        {"phases_s", phases},
        {"counters", counters},
        {"resources", resources_json(run)},
        {"timeline", timeline},
        {"faults", faults},
        {"histograms",
         {{"end_to_end_ns", e.end_to_end_latency.serialize()},
          {"publish_ns", e.publish_latency.serialize()}}},
    };
    item["payload_compression_ratio"] = round_to(e.payload_compression_ratio, 3);
    if (!run.load_agents.empty()) {
      const auto us = [](int64_t ns) { return round_to(static_cast<double>(ns) / 1000.0, 1); };
      json agents = json::array();
      for (const auto& agent : run.load_agents) {
        agents.push_back({{"name", agent.name},
                          {"address", agent.address},
                          {"producers", agent.producers},
                          {"consumers", agent.consumers},
                          {"clock_offset_us", us(agent.clock_offset_ns)},
                          {"clock_uncertainty_us", us(agent.clock_uncertainty_ns)},
                          {"error", agent.error}});
      }
      item["load_agents"] = std::move(agents);
      item["clock_agreement_us"] = us(run.clock_agreement_ns);
    }
    if (result.workload.effective_key_distribution() == core::KeyDistribution::kRandom) {
      item["key_seed"] = e.key_seed;
    }
    if (e.backlog.target_messages > 0) {
      const load::BacklogFigures& b = e.backlog;
      item["backlog"] = {
          {"target_messages", b.target_messages},
          {"drain_ratio", b.drain_ratio},
          {"reached", b.reached},
          {"messages", b.messages},
          {"build_s", round_to(b.build_s, 3)},
          {"drained", b.drained},
          {"drain_level", b.drain_level},
          {"drain_s", round_to(b.drain_s, 3)},
          {"consumed_while_draining", b.consumed_while_draining},
          {"drain_msgs_per_s", b.drained ? json(round_to(b.drain_msgs_per_s, 1)) : json(nullptr)},
          {"max_lag", b.max_lag}};
    }
    json targets = json::object();
    if (result.targets.p99_latency) {
      double limit_us = static_cast<double>(result.targets.p99_latency->count()) / 1000.0;
      targets["p99_latency_us"] = limit_us;
      // A censored p99 is a lower bound: above the limit it is a miss for certain, and within
      // it nothing is proven, so only an exact p99 can meet the target.
      const uint64_t samples = e.end_to_end_latency.count();
      const bool p99_is_lower_bound =
          e.censored_end_to_end > 0 && samples > 0 &&
          0.99 > 1.0 - static_cast<double>(e.censored_end_to_end) / static_cast<double>(samples);
      targets["p99_latency_met"] =
          run.status == "succeeded" && !p99_is_lower_bound &&
          static_cast<double>(e.end_to_end_latency.percentile(99)) / 1000.0 <= limit_us;
    }
    if (result.targets.min_throughput) {
      targets["min_throughput"] = *result.targets.min_throughput;
      // Throughput measured while the sender fell behind its schedule is not the rate the spec
      // asked for, so it cannot meet a target set for that rate.
      const bool rate_held = e.window.offered_per_s == 0 || e.window.rate_sustained;
      targets["min_throughput_met"] = run.status == "succeeded" && rate_held &&
                                      e.consumed_msgs_per_s >= *result.targets.min_throughput;
    }
    item["targets"] = targets;
    if (run.search) item["search"] = search_json(*run.search);
    if (!run.infrastructure_from.empty()) item["infrastructure_from"] = run.infrastructure_from;
    if (run.cost && run.status == "succeeded") item["cost"] = cost_json(*run.cost);
    runs.push_back(item);
  }
  const auto& w = result.workload;
  json doc = {
      {"id", result.id},
      {"experiment", result.experiment},
      {"started_at", result.started_at},
      {"workload",
       {{"message_size", w.message_size},
        {"producers", w.producers},
        {"consumers", w.consumers},
        {"consumer_groups", w.consumer_groups},
        {"rate", w.rate},
        {"duration_s", std::chrono::duration<double>(w.duration).count()},
        {"warmup_s", std::chrono::duration<double>(w.warmup).count()},
        {"drain_timeout_s", std::chrono::duration<double>(w.drain_timeout).count()},
        {"topics", w.topics},
        {"partitions", w.partitions},
        {"keys", w.keys},
        {"key_distribution", core::key_distribution_name(w.effective_key_distribution())},
        {"payload",
         {{"pool", w.payload.pool},
          {"random_bytes_ratio", w.payload.random_bytes_ratio},
          {"file", w.payload.file}}}}},
      {"runs", runs},
      {"warnings", result.warnings},
      {"concurrent_runs", result.environment.concurrent_runs},
      {"environment", environment_json(result.environment)},
  };
  if (w.seed) doc["workload"]["seed"] = *w.seed;
  if (w.search) {
    json search = {{"precision", w.search->precision}, {"max_steps", w.search->max_steps}};
    if (w.search->start) search["start"] = *w.search->start;
    if (w.search->max) search["max"] = *w.search->max;
    if (w.search->max_time) {
      search["max_time_s"] = std::chrono::duration<double>(*w.search->max_time).count();
    }
    doc["workload"]["rate_mode"] = "find-max";
    doc["workload"]["search"] = std::move(search);
  }
  if (w.backlog.enabled()) {
    doc["workload"]["backlog"] = {{"messages", w.backlog_messages()},
                                  {"drain_ratio", w.backlog.drain_ratio}};
  }
  json points = json::array();
  for (const PointInfo& point : result.points) {
    json values = json::object();
    for (const auto& [path, value] : point.values) values[path] = value;
    points.push_back({{"point", point.index}, {"values", values}});
  }
  if (points.empty()) points.push_back({{"point", 0}, {"values", json::object()}});
  doc["points"] = points;
  doc["repeats"] = result.repeats;
  if (is_sweep_result(result)) {
    auto [stats, comparisons] = sweep_statistics(result);
    doc["stats"] = std::move(stats);
    doc["comparisons"] = std::move(comparisons);
  }
  if (!result.spec_json.empty()) {
    doc["spec"] = json::parse(result.spec_json, nullptr, /*allow_exceptions=*/false);
  }
  return pretty ? doc.dump(2) : doc.dump();
}

namespace {

std::string with_commas(double value) {
  auto n = static_cast<long long>(std::llround(value));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// "$1.50", "$0.0654", "$0.000133": dollars to 2 decimals, cents and below to 3 significant digits.
std::string usd_text(double usd) {
  if (usd >= 1 || usd <= 0) return "$" + fixed(usd, 2);
  const int digits = 2 - static_cast<int>(std::floor(std::log10(usd)));
  std::string text = fixed(usd, digits);
  while (text.size() - text.find('.') > 3 && text.back() == '0') text.pop_back();
  return "$" + text;
}

std::string latency_text(double us) {
  if (us >= 1e6) return fixed(us / 1e6, 2) + " s";
  if (us >= 1e3) return fixed(us / 1e3, 2) + " ms";
  return fixed(us, 0) + " us";
}

// 2 decimals at most and no trailing zeros: "20", "20.5", as people write them in specs.
std::string trimmed(double value) {
  std::string text = fixed(value, 2);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string fault_name(const json& fault) {
  std::string name =
      fault.value("action", "?") + " node " + std::to_string(fault.value("target", 0));
  if (fault.contains("bandwidth") && fault["bandwidth"].is_number()) {
    name += " to " + trimmed(fault["bandwidth"].get<double>() / 1e6) + "Mbit";
  }
  return name + " @" + trimmed(fault.value("at_s", 0.0)) + "s";
}

// One fault's figures for a table cell.
std::string fault_figures(const json& fault) {
  if (!fault.value("applied", false)) return "NOT APPLIED (below)";
  if (fault.contains("ends_fault") && fault["ends_fault"].is_number()) {
    return "ends fault " + std::to_string(fault["ends_fault"].get<size_t>() + 1);
  }
  std::string text = "dip " + fixed(fault.value("dip_pct", 0.0), 0) + "%, ";
  const bool paired =
      fault.value("action", "") == "pause" || fault.value("action", "") == "disconnect";
  if (fault.contains("recovery_s") && fault["recovery_s"].is_number()) {
    text += "recovered " + fixed(fault["recovery_s"].get<double>(), 1) + " s";
    // A pause or disconnect that was undone measures recovery from its undoing.
    if (paired)
      text +=
          " after " + std::string(fault.value("action", "") == "pause" ? "resume" : "reconnect");
  } else {
    text += "not recovered";
  }
  text += ", lost " + with_commas(static_cast<double>(fault.value("lost", uint64_t{0})));
  if (uint64_t undelivered = fault.value("undelivered", uint64_t{0}); undelivered > 0) {
    text += ", undelivered " + with_commas(static_cast<double>(undelivered));
  }
  if (uint64_t duplicated = fault.value("duplicated", uint64_t{0}); duplicated > 0) {
    text += ", dup " + with_commas(static_cast<double>(duplicated));
  }
  return text;
}

const json& faults_of(const json& run) {
  static const json kNone = json::array();
  return run.contains("faults") && run["faults"].is_array() ? run["faults"] : kNone;
}

// Marks only differences a rerun would not undo: run-to-run noise is a few percent.
constexpr double kThroughputNoise = 0.02;
constexpr double kLatencyNoise = 0.05;

// A run's "nothing to show here": a plain ASCII dash, one column wide on every terminal.
const char* const kNoFigure = "-";

const json& member(const json& object, const char* key) {
  static const json kMissing;
  return object.is_object() && object.contains(key) ? object[key] : kMissing;
}

uint64_t count_of(const json& object, const char* key) {
  const json& value = member(object, key);
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  return value.is_number() ? static_cast<uint64_t>(std::max(0.0, value.get<double>())) : 0;
}

double number_of(const json& object, const char* key) {
  const json& value = member(object, key);
  return value.is_number() ? value.get<double>() : 0;
}

std::string count_text(uint64_t count) { return with_commas(static_cast<double>(count)); }

std::string percent_text(double fraction) {
  const double percent = fraction * 100;
  return fixed(percent, percent < 1 ? 2 : percent < 10 ? 1 : 0) + "%";
}

// Columns of UTF-8 text: one per code point (no wide characters in the table), so names such
// as "kafka-ü" do not shift the columns after them as std::setw, which counts bytes, would.
size_t display_width(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string align_right(const std::string& text, size_t width) {
  const size_t used = display_width(text);
  return used >= width ? text : std::string(width - used, ' ') + text;
}

std::string align_left(const std::string& text, size_t width) {
  const size_t used = display_width(text);
  return used >= width ? text : text + std::string(width - used, ' ');
}

// Counts in a run's "delivery" that fail its delivery check (undelivered is incomplete, not
// failed; redelivered is at-least-once working as designed).
constexpr std::array<const char*, 5> kDeliveryFailures = {"lost", "duplicated", "reordered",
                                                          "corrupt", "send_errors"};

// What the table needs to know about a run before it shows any figure of it.
struct RunFacts {
  bool succeeded = false;
  bool measured = false;         // succeeded and recorded latency samples: its figures exist
  bool delivery_checked = true;  // consumers read and verified the messages
  bool delivery_failed = false;  // lost, duplicated, reordered, corrupt or rejected messages
  bool rate_offered = false;
  bool rate_sustained = true;
  // Less than kUnsettledShare of what it completed in the window was warm-up's: not a system
  // still working off a backlog (whose throughput exceeds the offered rate, for a while).
  bool settled = true;

  // Only a figure the run can stand behind may be called the best.
  bool markable() const { return measured && !delivery_failed && rate_sustained && settled; }
};

// More than this share of a window's completions intended during warm-up is a backlog, not the
// few messages in flight when the window opened.
constexpr double kUnsettledShare = 0.10;

RunFacts facts_of(const json& run, bool produce_only) {
  RunFacts facts;
  facts.succeeded = run.value("status", "") == "succeeded";
  facts.measured = facts.succeeded && (count_of(member(run, "latency_us"), "count") > 0 ||
                                       count_of(member(run, "publish_latency_us"), "count") > 0);
  facts.delivery_checked = !produce_only;
  const json& delivery = member(run, "delivery");
  for (const char* failure : kDeliveryFailures) {
    facts.delivery_failed = facts.delivery_failed || count_of(delivery, failure) > 0;
  }
  const json& window = member(run, "window");
  facts.rate_offered = number_of(window, "offered_per_s") > 0;
  facts.rate_sustained = member(window, "rate_sustained") != json(false);
  const double measured_s = run.value("measured_s", 0.0);
  for (const auto& [warmup_key, rate_key] :
       {std::pair{"warmup_acked_in_window", "produced_msgs_per_s"},
        std::pair{"warmup_received_in_window", "consumed_msgs_per_s"}}) {
    const double completed = number_of(member(run, "throughput"), rate_key) * measured_s;
    const auto from_warmup = static_cast<double>(count_of(window, warmup_key));
    if (completed > 0 && from_warmup > kUnsettledShare * completed) facts.settled = false;
  }
  return facts;
}

// A latency percentile whose rank falls among the censored samples (messages not received or
// acknowledged by the deadline, recorded as deadline - intended send time) is only a lower
// bound; the maximum is one whenever any sample is censored. `per_10000`: 9900 for p99.
bool is_lower_bound(const json& latency, uint64_t per_10000) {
  const uint64_t count = count_of(latency, "count");
  const uint64_t censored = std::min(count_of(latency, "censored"), count);
  if (censored == 0) return false;
  const uint64_t rank = (per_10000 * count + 9999) / 10000;  // as Histogram::percentile ranks
  return rank > count - censored;
}

struct Cell {
  std::string text;
  std::optional<double> value;  // the figure compared for the best mark; none: not comparable
  bool lower_bound = false;     // the true value is at least `value`
};

Cell no_figure() { return {kNoFigure, std::nullopt, false}; }

struct Row {
  std::string label;
  std::vector<Cell> cells;
  int better = 0;    // +1 higher is better, -1 lower is better, 0 no mark
  double noise = 0;  // smallest relative lead over the runner-up that earns a mark
};

// The column of the row's best figure, or -1 when no run earns the mark: the best must be a
// figure the run can stand behind (not a lower bound, run markable) and ahead of the runner-up
// by more than noise. Runs that cannot be marked still compete: beating a run that lost
// messages by a hair is not "best", and neither is a lead over nothing.
int best_column(const Row& row, const std::vector<RunFacts>& facts) {
  if (row.better == 0) return -1;
  std::vector<size_t> ranked;
  for (size_t c = 0; c < row.cells.size(); ++c) {
    if (row.cells[c].value) ranked.push_back(c);
  }
  if (ranked.size() < 2) return -1;
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
    return row.better > 0 ? *row.cells[a].value > *row.cells[b].value
                          : *row.cells[a].value < *row.cells[b].value;
  });
  const Cell& best = row.cells[ranked[0]];
  const double runner_up = *row.cells[ranked[1]].value;
  if (!facts[ranked[0]].markable() || best.lower_bound) return -1;
  const double lead = row.better > 0 ? *best.value - runner_up : runner_up - *best.value;
  if (lead <= 0 || lead < row.noise * std::abs(runner_up)) return -1;
  return static_cast<int>(ranked[0]);
}

// "NO: 4,751 unsent, 12% late": why the offered rate was not held.
std::string rate_sustained_text(const json& run) {
  const json& window = member(run, "window");
  if (member(window, "rate_sustained") != json(false)) return "yes";
  const double offered = number_of(window, "offered");
  std::string reasons;
  if (uint64_t unsent = count_of(window, "unsent"); unsent > 0)
    reasons = count_text(unsent) + " unsent";
  if (uint64_t late = count_of(window, "sent_late"); late > 0 && offered > 0) {
    reasons +=
        (reasons.empty() ? "" : ", ") + percent_text(static_cast<double>(late) / offered) + " late";
  }
  if (reasons.empty()) {
    // Everything went out on time, but the system acknowledged too little of it.
    const double rate = number_of(window, "offered_per_s");
    const double acked_per_s = number_of(member(run, "throughput"), "produced_msgs_per_s");
    reasons = "acked " + percent_text(rate > 0 ? acked_per_s / rate : 0) + " of the rate";
  }
  return "NO: " + reasons;
}

// "ok", "ok, 120 redelivered", "incomplete: 24,176 undelivered at deadline", "FAILED: 3 lost".
// Undelivered messages may still be in the system (a backlog at the deadline): incomplete, not
// failed. Redelivery is what at-least-once systems do after a rebalance: information.
std::string delivery_text(const json& run, const RunFacts& facts) {
  const json& delivery = member(run, "delivery");
  std::string failures;
  for (const auto& [key, label] :
       std::vector<std::pair<const char*, const char*>>{{"lost", "lost"},
                                                        {"duplicated", "dup"},
                                                        {"reordered", "reordered"},
                                                        {"corrupt", "corrupt"},
                                                        {"send_errors", "send errors"}}) {
    if (uint64_t n = count_of(delivery, key); n > 0) {
      failures += (failures.empty() ? "" : ", ") + count_text(n) + " " + label;
    }
  }
  if (!facts.delivery_checked) return failures.empty() ? kNoFigure : "FAILED: " + failures;
  const uint64_t undelivered = count_of(delivery, "undelivered");
  std::string text;
  if (!failures.empty()) {
    text = "FAILED: " + failures;
    if (undelivered > 0) text += ", " + count_text(undelivered) + " undelivered";
  } else if (undelivered > 0) {
    text = "incomplete: " + count_text(undelivered) + " undelivered at deadline";
  } else {
    text = "ok";
  }
  if (uint64_t redelivered = count_of(delivery, "redelivered"); redelivered > 0) {
    text += ", " + count_text(redelivered) + " redelivered";
  }
  return text;
}

// Received per partition, as "min / max over N": partitions that received nothing are not
// reported by the engine, so when every reported index is one the workload created, the
// missing ones count as 0 (the skew users most need to see).
std::optional<std::string> partition_spread(const json& run, const json& workload) {
  std::vector<uint64_t> received;
  const int partitions_per_topic = workload.value("partitions", 1);
  bool indices_known = true;
  for (const auto& entry : member(run, "partitions")) {
    const int partition = entry.value("partition", -1);
    indices_known = indices_known && partition >= 0 && partition < partitions_per_topic;
    if (partition >= 0) received.push_back(count_of(entry, "received"));
  }
  if (received.empty()) return std::nullopt;
  const size_t expected = static_cast<size_t>(std::max(1, workload.value("topics", 1))) *
                          static_cast<size_t>(std::max(1, partitions_per_topic));
  if (indices_known && received.size() < expected) received.resize(expected, 0);
  const auto [min, max] = std::minmax_element(received.begin(), received.end());
  double total = 0;
  for (uint64_t n : received) total += static_cast<double>(n);
  const double mean = total / static_cast<double>(received.size());
  std::string text =
      count_text(*min) + " / " + count_text(*max) + " over " + std::to_string(received.size());
  if (static_cast<double>(*min) < 0.5 * mean) text += ", SKEWED";
  return text;
}

// "Workload: 1KiB messages, 1 producers, ...": the line under the title of both tables.
std::string workload_line(const json& workload, bool produce_only, const json& runs) {
  std::ostringstream out;
  const double rate = workload.value("rate", 0.0);
  out << "Workload: " << core::format_size(workload.value("message_size", uint64_t{0}))
      << " messages, " << workload.value("producers", 0) << " producers, "
      << workload.value("consumers", 0) << " consumers" << (produce_only ? " (produce-only)" : "")
      << ", "
      << (workload.value("rate_mode", "") == "find-max" ? std::string("rate: find-max (steps of")
          : rate == 0                                   ? std::string("max rate")
                                                        : core::format_rate(rate))
      << ", " << fixed(workload.value("duration_s", 0.0), 0) << " s measured after "
      << fixed(workload.value("warmup_s", 0.0), 0) << " s warm-up"
      << (workload.value("rate_mode", "") == "find-max" ? " each)" : "") << ", "
      << workload.value("partitions", 1) << " partition(s)";
  // Compressibility is a property of the messages, the same for every system.
  for (const auto& r : runs) {
    const double ratio = number_of(r, "payload_compression_ratio");
    if (ratio <= 0) continue;
    out << ", payload zlib ratio " << fixed(ratio, 2) << ":1";
    break;
  }
  if (workload.contains("backlog")) {
    out << "\nBacklog: consumers start after "
        << count_text(count_of(workload["backlog"], "messages"))
        << " messages; latency rows count only messages intended after the backlog drained";
  }
  out << "\n";
  return out.str();
}

// A latency mean and interval half-width in the mean's unit, so the two read together.
std::string latency_with_interval(double mean_us, std::optional<double> ci_us) {
  double scale = 1;
  const char* unit = " us";
  int digits = mean_us < 100 ? 1 : 0;
  if (mean_us >= 1e6) {
    scale = 1e6, unit = " s", digits = 2;
  } else if (mean_us >= 1e3) {
    scale = 1e3, unit = " ms", digits = 2;
  }
  std::string text = fixed(mean_us / scale, digits);
  if (ci_us) text += " ± " + fixed(*ci_us / scale, digits);
  return text + unit;
}

// A quantity in a bill: "4", "6.87", "0.411".
std::string quantity_text(double value) {
  if (value >= 1 || value <= 0) return trimmed(value);
  return usd_text(value).substr(1);
}

// Under the cost rows: what they rest on (itemized: each run's model and bill, as in the single-run
// table), the prices' region, date and sources, and what no estimate counts. Empty when no run
// was priced.
std::string cost_footnote(const json& runs, bool itemized) {
  std::string bills;
  std::vector<std::string> sources;
  std::string region;
  std::string date;
  bool any_cost = false;
  bool spec_prices = false;
  for (const auto& r : runs) {
    const json& cost = member(r, "cost");
    if (r.value("status", "") != "succeeded" || !cost.is_object()) continue;
    any_cost = true;
    const json& prices = member(cost, "prices");
    if (member(prices, "date").is_string()) {
      date = prices["date"].get<std::string>();
      region = prices.value("region", "");
    }
    for (const auto& source : member(prices, "sources")) {
      if (!source.is_string()) continue;
      const std::string text = source.get<std::string>();
      if (text.starts_with("spec ")) {
        spec_prices = true;
      } else if (std::find(sources.begin(), sources.end(), text) == sources.end()) {
        sources.push_back(text);
      }
    }
    if (!itemized) continue;
    bills += "  " + r.value("system", "?") + ": " + cost.value("model", "") + " at " +
             with_commas(number_of(cost, "messages_per_s")) +
             " msg/s = " + usd_text(number_of(cost, "per_hour_usd")) + "/h\n";
    for (const auto& item : member(cost, "items")) {
      bills += "    " + item.value("item", "") + " " +
               quantity_text(number_of(item, "quantity_per_hour")) + " × " +
               usd_text(number_of(item, "unit_price_usd")) + "/" + item.value("unit", "") + " = " +
               usd_text(number_of(item, "usd_per_hour")) + "/h" +
               (item.value("source", "").starts_with("spec ") ? " (spec)" : "") + "\n";
    }
    for (const auto& note : member(cost, "notes")) {
      if (note.is_string()) bills += "    " + note.get<std::string>() + "\n";
    }
  }
  if (!any_cost) return "";
  std::string out =
      "\nCost: ESTIMATES at each run's measured rate, not quotes; data transfer, load agents,"
      " support\n  and taxes are not counted.\n" +
      bills;
  if (!sources.empty()) {
    out += "  Prices: AWS " + region + " list prices as of " + date + ", from\n";
    for (const std::string& source : sources) out += "    " + source + "\n";
    out += "  They change and may be out of date: set pricing: in the spec to use your own.\n";
  }
  if (spec_prices) out += "  (spec): a price given in the spec's pricing:.\n";
  return out;
}

// The table of a sweep: metric names down the left, one column per point and system, each
// figure the mean over the repeats ± its 95 % confidence interval; then the verdicts.
std::string sweep_table(const json& doc) {
  const json& stats = doc["stats"];
  const json& workload = doc.value("workload", json::object());
  const bool produce_only = workload.value("consumers", 1) == 0;
  const json& points = member(doc, "points");
  std::vector<std::string> systems;
  std::vector<size_t> point_indices;
  for (const auto& entry : stats) {
    const std::string system = entry.value("system", "?");
    if (std::find(systems.begin(), systems.end(), system) == systems.end()) {
      systems.push_back(system);
    }
    const size_t point = entry.value("point", size_t{0});
    if (std::find(point_indices.begin(), point_indices.end(), point) == point_indices.end()) {
      point_indices.push_back(point);
    }
  }
  const bool many_points = point_indices.size() > 1;
  const bool many_systems = systems.size() > 1;
  auto point_values = [&](size_t point) -> const json& {
    static const json kNone = json::object();
    if (!points.is_array()) return kNone;
    for (const auto& p : points) {
      if (p.value("point", size_t{0}) == point) return member(p, "values");
    }
    return kNone;
  };

  std::vector<std::string> headers;
  for (const auto& entry : stats) {
    const std::string point = "p" + std::to_string(entry.value("point", size_t{0}));
    const std::string system = entry.value("system", "?");
    headers.push_back(many_points && many_systems ? point + " " + system
                      : many_points               ? point
                                                  : system);
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  // The varied values first: what each column is.
  std::vector<std::string> axes;
  if (points.is_array() && !points.empty()) {
    for (const auto& [path, value] : member(points[0], "values").items()) axes.push_back(path);
  }
  for (const std::string& axis : axes) {
    std::vector<std::string> cells;
    for (const auto& entry : stats) {
      const json& value = member(point_values(entry.value("point", size_t{0})), axis.c_str());
      cells.push_back(value.is_string() ? value.get<std::string>() : kNoFigure);
    }
    rows.emplace_back(axis, std::move(cells));
  }
  {
    std::vector<std::string> cells;
    for (const auto& entry : stats) {
      cells.push_back(std::to_string(entry.value("succeeded", 0)) + "/" +
                      std::to_string(entry.value("runs", 0)));
    }
    rows.emplace_back("runs succeeded", std::move(cells));
  }
  bool any_single = false;
  bool any_lower_bound = false;
  const bool searched = workload.value("rate_mode", "") == "find-max";
  for (const SweepMetric& metric : sweep_metrics()) {
    if (metric.needs_consumers && produce_only) continue;
    if (metric.search && !searched) continue;
    const bool priced = std::any_of(stats.begin(), stats.end(), [&](const json& entry) {
      return member(member(entry, "metrics"), metric.key).is_object();
    });
    if (metric.cost != CostFigure::kNone && !priced) continue;
    std::vector<std::string> cells;
    for (const auto& entry : stats) {
      const json& summary = member(member(entry, "metrics"), metric.key);
      const uint64_t n = count_of(summary, "n");
      if (n == 0) {
        cells.emplace_back(kNoFigure);
        continue;
      }
      const double mean = number_of(summary, "mean");
      std::optional<double> ci;
      if (member(summary, "ci95").is_number()) ci = number_of(summary, "ci95");
      any_single = any_single || !ci;
      const bool lower_bound = member(summary, "lower_bound") == json(true);
      any_lower_bound = any_lower_bound || lower_bound;
      std::string text =
          metric.cost != CostFigure::kNone ? usd_text(mean) + (ci ? " ± " + usd_text(*ci) : "")
          : metric.per_10000 == 0 ? with_commas(mean) + (ci ? " ± " + with_commas(*ci) : "")
                                  : latency_with_interval(mean, ci);
      cells.push_back((lower_bound ? ">= " : "") + text);
    }
    rows.emplace_back(metric.label, std::move(cells));
  }

  size_t label_width = 16;
  for (const auto& [label, cells] : rows) label_width = std::max(label_width, display_width(label));
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    widths[c] = display_width(headers[c]);
    for (const auto& [label, cells] : rows)
      widths[c] = std::max(widths[c], display_width(cells[c]));
  }
  const json& runs = doc["runs"];
  size_t succeeded = 0;
  for (const auto& r : runs) succeeded += r.value("status", "") == "succeeded";
  const int repeats = doc.value("repeats", 1);
  std::ostringstream out;
  out << "Experiment " << doc.value("experiment", "") << "  (id " << doc.value("id", "") << ")\n";
  if (!workload.empty()) out << workload_line(workload, produce_only, runs);
  const size_t point_count = points.is_array() ? std::max<size_t>(points.size(), 1) : 1;
  out << "Sweep: " << point_count << " point" << (point_count == 1 ? "" : "s") << " × " << repeats
      << " repeat" << (repeats == 1 ? "" : "s") << " × " << systems.size() << " system"
      << (systems.size() == 1 ? "" : "s") << " = " << runs.size() << " runs (" << succeeded
      << " succeeded)\n";
  out << "\n" << std::string(label_width + 2, ' ');
  for (size_t c = 0; c < headers.size(); ++c) out << align_right(headers[c], widths[c] + 2);
  out << "\n";
  for (const auto& [label, cells] : rows) {
    out << align_left(label, label_width + 2);
    for (size_t c = 0; c < cells.size(); ++c) out << align_right(cells[c], widths[c] + 2);
    out << "\n";
  }
  out << "\nFigures are means over each column's succeeded runs; ± is the 95 % confidence"
         " interval\nof the mean (Student t, n-1 degrees of freedom).";
  if (any_single) out << " A figure without ± comes from one run: no confidence interval.";
  if (any_lower_bound) {
    out << "\n>= a lower bound: in some runs messages were missing at the deadline.";
  }
  out << "\n" << cost_footnote(runs, /*itemized=*/false);
  // The verdicts users act on: throughput and tail latency; every metric's are in the JSON.
  const std::string throughput_key = produce_only ? "produced_msgs_per_s" : "consumed_msgs_per_s";
  const std::string latency_key = produce_only ? "publish_p99_us" : "latency_p99_us";
  std::string verdicts;
  for (const auto& comparison : member(doc, "comparisons")) {
    const std::string key = comparison.value("metric", "");
    if (key != throughput_key && key != latency_key && !(searched && key == "max_rate_per_s")) {
      continue;
    }
    const json& a = member(comparison, "a");
    const json& b = member(comparison, "b");
    std::string label;
    for (const SweepMetric& metric : sweep_metrics()) {
      if (key == metric.key) label = metric.label;
    }
    std::string subject;
    if (a.value("system", "") == b.value("system", "")) {
      subject = a.value("system", "") + " " + a.value("name", "") + " vs " + b.value("name", "");
    } else {
      subject = (many_points ? "p" + std::to_string(a.value("point", size_t{0})) + " " : "") +
                a.value("name", "") + " vs " + b.value("name", "");
    }
    verdicts += "  " + subject + ", " + label + ": " + comparison.value("verdict", "") + "\n";
  }
  if (!verdicts.empty()) {
    out << "\nComparisons (Welch's t-test, two-sided, α = " << trimmed(kAlpha) << "):\n"
        << verdicts;
  }
  std::string errors;
  for (const auto& r : runs) {
    if (!r.value("error", "").empty()) {
      errors +=
          "  " + r.value("run_id", r.value("system", "?")) + ": " + r.value("error", "") + "\n";
    }
  }
  if (!errors.empty()) out << "\nErrors:\n" << errors;
  const json& warnings = member(doc, "warnings");
  if (warnings.is_array() && !warnings.empty()) {
    out << "\nWarnings:\n";
    for (const auto& warning : warnings) {
      out << "  " << (warning.is_string() ? warning.get<std::string>() : warning.dump()) << "\n";
    }
  }
  return out.str();
}

}  // namespace

namespace {

// "Environment: dec v1-3-gabc, Linux 6.1.0 x86_64, Intel Xeon ... (2 cores), 7.8 GiB" plus a
// line when another measurement shared the machine; empty for results that predate it.
std::string environment_footer(const json& env) {
  if (!env.is_object()) return "";
  std::ostringstream out;
  out << "\nEnvironment: dec " << env.value("dec_version", "unknown") << ", " << env.value("os", "")
      << " " << env.value("kernel", "") << ", " << env.value("cpu_model", "unknown CPU") << " ("
      << env.value("cpu_cores", 0) << " cores), "
      << fixed(static_cast<double>(env.value("memory_bytes", uint64_t{0})) / (1024.0 * 1024 * 1024),
               1)
      << " GiB memory\n";
  const json& lock = member(env, "measurement_lock");
  if (lock.is_object() && lock.value("measured_alongside", false)) {
    out << "CONCURRENT: another dec measurement ran on this machine at the same time ("
        << lock.value("detail", "no detail") << "); figures may be contaminated.\n";
  } else if (lock.is_object() && lock.value("concurrent_runs", false)) {
    out << "Another dec measurement waited for this one to finish ("
        << lock.value("detail", "no detail") << ").\n";
  } else if (lock.is_object() && lock.value("waited_s", 0.0) >= 1) {
    out << "Waited " << fixed(lock.value("waited_s", 0.0), 0)
        << " s for another dec measurement to finish first.\n";
  }
  return out.str();
}

}  // namespace

namespace {

// Each searched run's steps: the latency-vs-rate curve the search measured, with its verdicts.
std::string search_section(const json& runs, bool produce_only) {
  std::ostringstream out;
  bool header = false;
  for (const auto& r : runs) {
    const json& search = member(r, "search");
    if (!search.is_object()) continue;
    if (!header) {
      const json& slo = member(search, "slo");
      out << "\nRate search (find-max): SLO "
          << (member(slo, "p99_us").is_number()
                  ? std::string(produce_only ? "publish p99 <= " : "p99 <= ") +
                        latency_text(number_of(slo, "p99_us")) + ", "
                  : std::string("no latency bound, "))
          << "loss <= " << percent_text(number_of(slo, "max_loss"))
          << ", the rate held; figures above are each system's highest passing step.\n";
      header = true;
    }
    const std::string system = r.value("run_id", r.value("system", "?"));
    out << "  " << system << ": ";
    if (member(search, "max_rate").is_number()) {
      out << with_commas(number_of(search, "max_rate")) << " msg/s sustained";
    } else {
      out << "no rate met the SLO";
    }
    if (member(search, "lowest_failed").is_number()) {
      out << ", " << with_commas(number_of(search, "lowest_failed")) << " msg/s failed";
    }
    out << "; " << search.value("stopped", std::string())
        << " (bound: " << search.value("step_bound", 0) << " steps, "
        << fixed(number_of(search, "time_bound_s"), 0) << " s)\n";
    if (search.value("limited_by_generator", false)) {
      out << "    load generator saturated at the limit: the system may sustain more (a lower "
             "bound)\n";
    }
    out << "    step  kind    offered msg/s  achieved msg/s     p50       p99    loss  verdict\n";
    const json& steps = member(search, "steps");
    for (size_t i = 0; i < steps.size(); ++i) {
      const json& step = steps[i];
      const bool probe = step.value("kind", "") == "probe";
      const std::string bound = step.value("latency_lower_bound", false) ? ">=" : "";
      std::string verdict = probe                         ? "probe at full speed"
                            : step.value("passed", false) ? "passed"
                                                          : "failed: " + step.value("reason", "");
      if (step.value("generator_saturated", false)) verdict += " (load generator saturated)";
      out << "    " << align_left(std::to_string(i), 6) << align_left(step.value("kind", ""), 6)
          << align_right(probe ? "max" : with_commas(number_of(step, "offered_per_s")), 15)
          << align_right(with_commas(number_of(step, "achieved_per_s")), 16)
          << align_right(bound + latency_text(number_of(step, "p50_us")), 10)
          << align_right(bound + latency_text(number_of(step, "p99_us")), 10)
          << align_right(percent_text(number_of(step, "loss")), 8) << "  " << verdict << "\n";
    }
  }
  return out.str();
}

}  // namespace

static Result<std::string> comparison_table_unguarded(const std::string& results_json) {
  json doc;
  try {
    doc = json::parse(results_json);
  } catch (const std::exception& e) {
    return make_error(std::string("results are not valid JSON: ") + e.what());
  }
  if (!doc.contains("runs") || !doc["runs"].is_array()) {
    return make_error("results JSON has no \"runs\" list");
  }
  if (doc.contains("stats") && doc["stats"].is_array() && !doc["stats"].empty()) {
    return sweep_table(doc);
  }
  const json& runs = doc["runs"];
  const json& workload = doc.value("workload", json::object());
  const bool produce_only = workload.value("consumers", 1) == 0;
  const bool searched = workload.value("rate_mode", "") == "find-max";
  const bool max_rate = workload.value("rate", 0.0) == 0 && !searched;
  std::vector<RunFacts> facts;
  for (const auto& run : runs) facts.push_back(facts_of(run, produce_only));
  auto any_run = [&](auto predicate) {
    for (size_t c = 0; c < runs.size(); ++c) {
      if (predicate(runs[c], facts[c])) return true;
    }
    return false;
  };

  std::vector<Row> rows;
  auto add = [&](const std::string& label, int better, double noise, auto cell_of) {
    Row row{label, {}, better, noise};
    for (size_t c = 0; c < runs.size(); ++c) row.cells.push_back(cell_of(runs[c], facts[c]));
    rows.push_back(std::move(row));
  };
  auto text_cell = [](std::string text) { return Cell{std::move(text), std::nullopt, false}; };

  add("driver", 0, 0, [&](const json& r, const RunFacts&) {
    return text_cell(r.value("driver", "") + (r.value("emulated", false) ? " (EMULATED)" : ""));
  });
  add("served by", 0, 0,
      [&](const json& r, const RunFacts&) { return text_cell(r.value("served_by", "")); });
  if (any_run(
          [](const json& r, const RunFacts&) { return !r.value("client_library", "").empty(); })) {
    add("client library", 0, 0,
        [&](const json& r, const RunFacts&) { return text_cell(r.value("client_library", "")); });
  }
  add("status", 0, 0,
      [&](const json& r, const RunFacts&) { return text_cell(r.value("status", "")); });
  if (searched) {
    // The answer of a rate search first; the rows below are its highest passing step's figures.
    add("max sustainable msg/s", +1, kThroughputNoise, [&](const json& r, const RunFacts& f) {
      const json& search = member(r, "search");
      if (!f.succeeded || !search.is_object()) return no_figure();
      if (!member(search, "max_rate").is_number()) return text_cell("none");
      const double rate = number_of(search, "max_rate");
      return Cell{with_commas(rate), rate, false};
    });
    add("search", 0, 0, [&](const json& r, const RunFacts&) {
      const json& search = member(r, "search");
      if (!search.is_object()) return no_figure();
      const size_t steps = member(search, "steps").size();
      return text_cell(std::string(search.value("converged", false) ? "converged" : "bounded") +
                       ", " + std::to_string(steps) + " step" + (steps == 1 ? "" : "s") + ", " +
                       fixed(number_of(search, "seconds"), 0) + " s");
    });
  }

  const bool any_measured = any_run([](const json&, const RunFacts& f) { return f.measured; });
  bool any_censored = false;
  if (any_measured) {
    const bool has_window =
        any_run([](const json& r, const RunFacts&) { return member(r, "window").is_object(); });
    const bool rate_offered =
        any_run([](const json&, const RunFacts& f) { return f.rate_offered; });
    if (has_window) {
      add("offered msg/s", 0, 0, [&](const json& r, const RunFacts& f) {
        if (!f.measured || !member(r, "window").is_object()) return no_figure();
        const double rate = number_of(member(r, "window"), "offered_per_s");
        return text_cell(rate > 0 ? with_commas(rate) : "max");
      });
    }
    // Throughput: "consumed" means nothing when nobody consumed.
    for (const auto& [key, label, is_consumed, digits] :
         std::vector<std::tuple<const char*, const char*, bool, int>>{
             {"produced_msgs_per_s", "produced msg/s", false, 0},
             {"consumed_msgs_per_s", "consumed msg/s", true, 0},
             {"produced_mb_per_s", "produced MB/s", false, 2},
             {"consumed_mb_per_s", "consumed MB/s", true, 2}}) {
      add(label, +1, kThroughputNoise,
          [&, key = key, is_consumed = is_consumed, digits = digits](const json& r,
                                                                     const RunFacts& f) {
            if (!f.measured || (is_consumed && produce_only)) return no_figure();
            const double v = number_of(member(r, "throughput"), key);
            return Cell{digits == 0 ? with_commas(v) : fixed(v, digits), v, false};
          });
    }
    if (has_window && rate_offered) {
      add("offered / sent late / unsent", 0, 0, [&](const json& r, const RunFacts& f) {
        if (!f.measured || !f.rate_offered) return no_figure();
        const json& window = member(r, "window");
        return text_cell(count_text(count_of(window, "offered")) + " / " +
                         count_text(count_of(window, "sent_late")) + " / " +
                         count_text(count_of(window, "unsent")));
      });
      add("rate sustained", 0, 0, [&](const json& r, const RunFacts& f) {
        if (!f.measured || !f.rate_offered) return no_figure();
        return text_cell(rate_sustained_text(r));
      });
    }
    // Throughput is every completion inside the window; when a visible share of it was of
    // messages intended during warm-up (in flight when the window opened, or a backlog the
    // system was still working off), say so next to the figure.
    const auto warmup_share = [&](const json& r, const char* key, const char* per_s) {
      const json& window = member(r, "window");
      const double in_window =
          number_of(member(r, "throughput"), per_s) * r.value("measured_s", 0.0);
      const auto warmup = static_cast<double>(count_of(window, key));
      return in_window > 0 && warmup > 0.01 * in_window ? warmup : 0.0;
    };
    const bool any_warmup_backlog = any_run([&](const json& r, const RunFacts& f) {
      return f.measured &&
             (warmup_share(r, "warmup_acked_in_window", "produced_msgs_per_s") > 0 ||
              warmup_share(r, "warmup_received_in_window", "consumed_msgs_per_s") > 0);
    });
    if (has_window && any_warmup_backlog) {
      add("of which intended in warm-up", 0, 0, [&](const json& r, const RunFacts& f) {
        if (!f.measured) return no_figure();
        const double acked = warmup_share(r, "warmup_acked_in_window", "produced_msgs_per_s");
        const double received = warmup_share(r, "warmup_received_in_window", "consumed_msgs_per_s");
        if (acked == 0 && received == 0) return text_cell("none");
        return text_cell(count_text(static_cast<uint64_t>(acked)) + " acked / " +
                         count_text(static_cast<uint64_t>(received)) + " received");
      });
    }
    // At max rate, latency is how long messages queue in the client, not a property of the
    // product: shown, never marked.
    const int latency_better = max_rate ? 0 : -1;
    auto latency_cell = [&](const json& latency, const char* key, uint64_t per_10000) {
      if (count_of(latency, "count") == 0) return no_figure();
      const double v = number_of(latency, key);
      const bool lower_bound = is_lower_bound(latency, per_10000);
      any_censored = any_censored || lower_bound;
      return Cell{(lower_bound ? ">= " : "") + latency_text(v), v, lower_bound};
    };
    for (const auto& [key, label, per_10000] :
         std::vector<std::tuple<const char*, const char*, uint64_t>>{
             {"p50", "latency p50", 5000},
             {"p90", "latency p90", 9000},
             {"p99", "latency p99", 9900},
             {"p999", "latency p99.9", 9990},
             {"p9999", "latency p99.99", 9999},
             {"max", "latency max", 10000}}) {
      add(label, latency_better, kLatencyNoise,
          [&, key = key, per_10000 = per_10000](const json& r, const RunFacts& f) {
            if (!f.measured || produce_only) return no_figure();
            return latency_cell(member(r, "latency_us"), key, per_10000);
          });
    }
    add("publish p99", latency_better, kLatencyNoise, [&](const json& r, const RunFacts& f) {
      if (!f.measured) return no_figure();
      return latency_cell(member(r, "publish_latency_us"), "p99", 9900);
    });
    // Backlog mode: the catch-up, apart from the latency rows (which count only messages intended
    // after it ended).
    const bool any_backlog =
        any_run([](const json& r, const RunFacts&) { return member(r, "backlog").is_object(); });
    if (any_backlog) {
      add("backlog built", 0, 0, [&](const json& r, const RunFacts& f) {
        const json& b = member(r, "backlog");
        if (!f.succeeded || !b.is_object()) return no_figure();
        const std::string built = count_text(count_of(b, "messages")) + " msgs in " +
                                  fixed(number_of(b, "build_s"), 2) + " s";
        if (b.value("reached", false)) return text_cell(built);
        return text_cell("SHORT: " + built + " of " + count_text(count_of(b, "target_messages")));
      });
      add("backlog drain time", -1, kLatencyNoise, [&](const json& r, const RunFacts& f) {
        const json& b = member(r, "backlog");
        if (!f.succeeded || !b.is_object()) return no_figure();
        const double seconds = number_of(b, "drain_s");
        if (!b.value("drained", false)) {
          return Cell{"NOT DRAINED in " + fixed(seconds, 2) + " s", std::nullopt, false};
        }
        return Cell{fixed(seconds, 2) + " s", seconds, false};
      });
      add("backlog drain msg/s", +1, kThroughputNoise, [&](const json& r, const RunFacts& f) {
        const json& b = member(r, "backlog");
        if (!f.succeeded || !b.is_object() || !b.value("drained", false)) return no_figure();
        const double rate = number_of(b, "drain_msgs_per_s");
        return Cell{with_commas(rate), rate, false};
      });
    }
    add("sent / received", 0, 0, [&](const json& r, const RunFacts& f) {
      if (!f.measured) return no_figure();
      const json& delivery = member(r, "delivery");
      return text_cell(count_text(count_of(delivery, "sent")) + " / " +
                       (produce_only ? kNoFigure : count_text(count_of(delivery, "received"))));
    });
    add("delivery check", 0, 0, [&](const json& r, const RunFacts& f) {
      if (!f.measured) return no_figure();
      return text_cell(delivery_text(r, f));
    });
    const bool spread = any_run([](const json& r, const RunFacts&) {
      size_t known = 0;
      for (const auto& entry : member(r, "partitions")) known += entry.value("partition", -1) >= 0;
      return known > 1;
    });
    if (spread && !produce_only) {
      add("min/max per partition", 0, 0, [&](const json& r, const RunFacts& f) {
        if (!f.measured) return no_figure();
        auto text = partition_spread(r, workload);
        return text ? text_cell(*text) : no_figure();
      });
    }
    // Throttling, where a driver reports it (Kinesis): users compare systems on exactly this.
    auto has_counter = [&](const char* name) {
      return any_run([name](const json& r, const RunFacts&) {
        return member(r, "counters").is_object() && r["counters"].contains(name);
      });
    };
    auto counter_row = [&](const char* name, const char* label) {
      add(label, -1, kLatencyNoise, [name](const json& r, const RunFacts& f) {
        // A driver that does not report the counter did not count zero: nothing to compare.
        if (!f.measured || !member(member(r, "counters"), name).is_number()) return no_figure();
        const double v = number_of(member(r, "counters"), name);
        return Cell{with_commas(v), v, false};
      });
    };
    if (has_counter("kinesis.throttled_requests")) {
      counter_row("kinesis.throttled_requests", "throttled requests");
      // Per-shard quotas refuse single records of a request, not the request.
      if (has_counter("kinesis.throttled_records")) {
        counter_row("kinesis.throttled_records", "throttled records");
      }
      counter_row("kinesis.retried_records", "retried records");
    }
    if (has_counter("kinesis.get_throttled"))
      counter_row("kinesis.get_throttled", "throttled reads");
    // Resources, where the provider could see them (dec's own hosts and processes).
    auto hosts_of = [](const json& r) -> const json& {
      return member(member(r, "resources"), "hosts");
    };
    const bool any_resources = any_run([&](const json& r, const RunFacts&) {
      return hosts_of(r).is_array() && !hosts_of(r).empty();
    });
    if (any_resources) {
      auto role_cpu = [&](const char* role) {
        return [&, role](const json& r, const RunFacts& f) {
          double avg = 0, peak = 0;
          int hosts = 0;
          for (const auto& h : hosts_of(r)) {
            if (h.value("role", "") != role) continue;
            ++hosts;
            avg += h.value("cpu_avg_cores", 0.0);
            peak = std::max(peak, h.value("cpu_peak_cores", 0.0));
          }
          if (!f.measured || hosts == 0) return no_figure();
          // Several hosts (a 3-broker cluster, several load agents): their averages add up to
          // what the role used, but peaks need not coincide, so the peak is one host's and
          // says so (a sum of averages above a lone "peak" would read as a contradiction).
          char text[96];
          if (hosts == 1) {
            std::snprintf(text, sizeof text, "%.2f / %.2f", avg, peak);
          } else {
            std::snprintf(text, sizeof text, "%.2f total / %.2f busiest of %d", avg, peak, hosts);
          }
          return text_cell(text);
        };
      };
      add("broker CPU cores avg / peak", 0, 0, role_cpu("broker"));
      add("broker peak memory MiB", -1, kLatencyNoise, [&](const json& r, const RunFacts& f) {
        double peak = 0;
        for (const auto& h : hosts_of(r)) {
          if (h.value("role", "") == "broker" && h["memory_peak_bytes"].is_number()) {
            peak = std::max(peak, h["memory_peak_bytes"].get<double>() / 1048576.0);
          }
        }
        if (!f.measured || peak <= 0) return no_figure();
        return Cell{with_commas(peak), peak, false};
      });
      add("msg per broker CPU-second", +1, kThroughputNoise, [&](const json& r, const RunFacts& f) {
        const json& v = member(member(r, "resources"), "msgs_per_broker_cpu_s");
        if (!f.measured || !v.is_number()) return no_figure();
        return Cell{with_commas(v.get<double>()), v.get<double>(), false};
      });
      add("load agent CPU cores avg / peak", 0, 0, role_cpu("load agent"));
      add("load generator", 0, 0, [&](const json& r, const RunFacts& f) {
        const json& res = member(r, "resources");
        if (!f.measured || !hosts_of(r).is_array()) return no_figure();
        return text_cell(res.value("load_generator_saturated", false)
                             ? "SATURATED: figures are a lower bound"
                             : "ok");
      });
      const bool any_limit = any_run([](const json& r, const RunFacts&) {
        return !member(r, "resources").value("limited_by", std::string()).empty();
      });
      if (any_limit) {
        add("rate limited by", 0, 0, [&](const json& r, const RunFacts& f) {
          const std::string by = member(r, "resources").value("limited_by", std::string());
          if (!f.measured || by.empty()) return no_figure();
          return text_cell(by);
        });
      }
    }
    // What the run would cost at its measured rate: an estimate, and labelled one.
    if (any_run([](const json& r, const RunFacts& f) {
          return f.succeeded && member(r, "cost").is_object();
        })) {
      add("cost/hour (estimate)", 0, 0, [&](const json& r, const RunFacts& f) {
        const json& cost = member(r, "cost");
        if (!f.succeeded || !cost.is_object()) return no_figure();
        return text_cell(usd_text(number_of(cost, "per_hour_usd")));
      });
      add("cost/1M msgs (estimate)", -1, kThroughputNoise, [&](const json& r, const RunFacts& f) {
        const json& cost = member(r, "cost");
        if (!f.succeeded || !cost.is_object()) return no_figure();
        const double usd = number_of(cost, "per_million_messages_usd");
        return Cell{usd_text(usd), usd, false};
      });
    }
    for (const char* target : {"p99_latency_met", "min_throughput_met"}) {
      const bool any = any_run([target](const json& r, const RunFacts&) {
        return member(r, "targets").is_object() && r["targets"].contains(target);
      });
      if (!any) continue;
      add(std::string(target) == "p99_latency_met" ? "target p99" : "target throughput", 0, 0,
          [&, target](const json& r, const RunFacts&) {
            const json& targets = member(r, "targets");
            const bool met = targets.is_object() && targets.value(target, false);
            return text_cell(met ? "met" : "MISSED");
          });
    }
  }
  // One row per fault. Systems may have different faults (a fault can name its system), so the
  // label says what the fault was only when every run that has it agrees.
  size_t most_faults = 0;
  for (const auto& r : runs) most_faults = std::max(most_faults, faults_of(r).size());
  for (size_t f = 0; f < most_faults; ++f) {
    std::optional<std::string> common;
    bool same = true;
    for (const auto& r : runs) {
      if (f >= faults_of(r).size()) continue;
      const std::string name = fault_name(faults_of(r)[f]);
      same = same && (!common || *common == name);
      common = name;
    }
    std::string label = "fault " + std::to_string(f + 1);
    if (same && common) label += " " + *common;
    add(label, 0, 0, [&, f, same](const json& r, const RunFacts&) {
      if (f >= faults_of(r).size()) return no_figure();
      const json& fault = faults_of(r)[f];
      return text_cell((same ? "" : fault_name(fault) + ": ") + fault_figures(fault));
    });
  }
  // The client settings in force, one row per key (their values differ in length too much to
  // share a cell without widening every column).
  std::vector<std::string> client_keys;
  for (const auto& r : runs) {
    if (!member(r, "client").is_object()) continue;
    for (const auto& [key, value] : r["client"].items()) {
      if (std::find(client_keys.begin(), client_keys.end(), key) == client_keys.end()) {
        client_keys.push_back(key);
      }
    }
  }
  std::sort(client_keys.begin(), client_keys.end());
  for (const auto& key : client_keys) {
    add("client " + key, 0, 0, [&](const json& r, const RunFacts&) {
      const json& value = member(member(r, "client"), key.c_str());
      if (value.is_null()) return no_figure();
      return text_cell(value.is_string() ? value.get<std::string>() : value.dump());
    });
  }

  // Phase names in the label, figures in the cells, so columns stay narrow.
  std::string phase_names;
  for (const auto& r : runs) {
    if (!r.contains("phases_s")) continue;
    std::string names;
    for (const auto& [name, value] : r["phases_s"].items())
      names += (names.empty() ? "" : "/") + name;
    if (names.size() > phase_names.size()) phase_names = names;
  }
  add("s " + phase_names, 0, 0, [&](const json& r, const RunFacts&) {
    std::string text;
    if (r.contains("phases_s")) {
      for (const auto& [name, value] : r["phases_s"].items()) {
        text += (text.empty() ? "" : "/") + fixed(value.get<double>(), 2);
      }
    }
    return text_cell(text);
  });
  bool any_error = false;
  for (const auto& r : runs) any_error = any_error || !r.value("error", "").empty();

  // Layout: metric names down the left, one column per system.
  std::vector<std::string> headers;
  for (const auto& run : runs) headers.push_back(run.value("system", "?"));
  size_t label_width = 16;
  for (const auto& row : rows) label_width = std::max(label_width, display_width(row.label));
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    widths[c] = display_width(headers[c]);
    for (const auto& row : rows) {
      widths[c] = std::max(widths[c], display_width(row.cells[c].text) + 2);
    }
  }
  std::ostringstream out;
  out << "Experiment " << doc.value("experiment", "") << "  (id " << doc.value("id", "") << ")\n";
  if (!workload.empty()) out << workload_line(workload, produce_only, runs);
  out << "\n" << std::string(label_width + 2, ' ');
  for (size_t c = 0; c < headers.size(); ++c) out << align_right(headers[c], widths[c] + 2);
  out << "\n";
  for (const auto& row : rows) {
    out << align_left(row.label, label_width + 2);
    const int best = best_column(row, facts);
    for (size_t c = 0; c < row.cells.size(); ++c) {
      out << align_right(row.cells[c].text + (static_cast<int>(c) == best ? " *" : "  "),
                         widths[c] + 2);
    }
    out << "\n";
  }
  out << "\n* best in row, beyond noise: at least " << fixed(kThroughputNoise * 100, 0)
      << "% ahead of the runner-up in throughput, " << fixed(kLatencyNoise * 100, 0)
      << "% in latency\n  and counts; never a run that failed, lost, duplicated, reordered or"
         " corrupted messages,\n  fell behind the offered rate or was still working off"
         " warm-up backlog.";
  if (max_rate) {
    out << " No latency marks at max rate: there latency is how long\n  messages queue in the"
           " client, not a property of the system.";
  }
  bool emulated = false;
  for (const auto& r : runs) emulated = emulated || r.value("emulated", false);
  if (emulated) {
    out << "\nEMULATED: a local stand-in speaking the product's protocol; its figures are not"
           " the product's.";
  }
  if (any_censored) {
    const double drain_s = workload.value("drain_timeout_s", 0.0);
    out << "\n>= a lower bound: some messages were not received (or acknowledged) by the deadline,"
           "\n  the end of the window plus the drain timeout"
        << (drain_s > 0 ? " (" + trimmed(drain_s) + " s)" : std::string())
        << "; their latency counts as deadline -\n  intended send time, so percentiles that"
           " reach into them are at least the value shown.";
  }
  out << "\n";
  // Why a load generator counts as saturated, and what limited a rate that was not sustained.
  std::string resource_notes;
  for (const auto& r : runs) {
    const json& res = member(r, "resources");
    if (!res.is_object()) continue;
    const std::string system = r.value("system", "?");
    if (res.value("load_generator_saturated", false)) {
      resource_notes += "  " + system + ": load generator saturated (" +
                        res.value("saturation_reason", std::string()) +
                        "): its figures are a lower bound\n";
    }
    if (const std::string by = res.value("limited_by", std::string()); !by.empty()) {
      resource_notes += "  " + system +
                        ": the offered rate was not sustained; likely limit: " + by + " (" +
                        res.value("limited_by_reason", std::string()) + ")\n";
    }
  }
  if (!resource_notes.empty()) out << "\nResources:\n" << resource_notes;
  // Several agents: a message sent by one and received by another is timed across two clocks.
  std::string agent_notes;
  for (const auto& r : runs) {
    const json& agents = member(r, "load_agents");
    if (!agents.is_array() || agents.empty()) continue;
    std::ostringstream line;
    line << "  " << r.value("system", "?") << ": " << agents.size()
         << " load agents; their clocks agree within +-"
         << fixed(r.value("clock_agreement_us", 0.0) / 1000.0, 3)
         << " ms (measured):\n    end-to-end latency between agents is only as good as that\n";
    agent_notes += line.str();
  }
  if (!agent_notes.empty()) out << "\nLoad agents:\n" << agent_notes;
  if (searched) out << search_section(runs, produce_only);
  out << cost_footnote(runs, /*itemized=*/true);
  if (any_error) {
    out << "\nErrors:\n";
    for (const auto& r : runs) {
      if (!r.value("error", "").empty()) {
        out << "  " << r.value("system", "?") << ": " << r.value("error", "") << "\n";
      }
    }
  }
  std::string fault_errors;
  for (const auto& r : runs) {
    const json& faults = faults_of(r);
    for (size_t f = 0; f < faults.size(); ++f) {
      if (faults[f].value("applied", false)) continue;
      fault_errors += "  " + r.value("system", "?") + ": fault " + std::to_string(f + 1) + " (" +
                      fault_name(faults[f]) + "): " + faults[f].value("error", "no reason given") +
                      "\n";
    }
  }
  if (!fault_errors.empty()) out << "\nFaults not applied:\n" << fault_errors;
  out << environment_footer(member(doc, "environment"));
  const json& warnings = member(doc, "warnings");
  if (warnings.is_array() && !warnings.empty()) {
    out << "\nWarnings:\n";
    for (const auto& warning : warnings) {
      out << "  " << (warning.is_string() ? warning.get<std::string>() : warning.dump()) << "\n";
    }
  }
  return out.str();
}

std::string results_with_spec(const std::string& results_json, const std::string& spec_json) {
  json doc = json::parse(results_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.contains("spec")) return results_json;
  json spec = json::parse(spec_json, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) return results_json;
  doc["spec"] = std::move(spec);
  return doc.dump(2);
}

static std::vector<std::string> missed_targets_unguarded(const std::string& results_json);

std::vector<std::string> missed_targets(const std::string& results_json) {
  try {
    return missed_targets_unguarded(results_json);
  } catch (const nlohmann::json::exception& e) {
    return {malformed_results_message(e.what())};
  }
}

static std::vector<std::string> missed_targets_unguarded(const std::string& results_json) {
  std::vector<std::string> missed;
  const json doc = json::parse(results_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("runs") || !doc["runs"].is_array()) {
    return {"results are not readable"};
  }
  // In a sweep a system runs many times: name the run (point, repeat, system) instead.
  const bool sweep = doc.contains("stats");
  for (const auto& run : doc["runs"]) {
    const std::string system =
        sweep ? run.value("run_id", run.value("system", "?")) : run.value("system", "?");
    const json& targets = member(run, "targets");
    const auto missed_target = [&](const char* key) { return member(targets, key) == json(false); };
    if (missed_target("p99_latency_met")) missed.push_back(system + ": p99 latency target missed");
    if (missed_target("min_throughput_met")) {
      missed.push_back(system + ": throughput target missed");
    }
    const json& delivery = member(run, "delivery");
    std::string failures;
    for (const char* failure : kDeliveryFailures) {
      if (uint64_t n = count_of(delivery, failure); n > 0) {
        failures += (failures.empty() ? "" : ", ") + std::to_string(n) + " " + failure;
      }
    }
    if (!failures.empty()) missed.push_back(system + ": delivery check failed (" + failures + ")");
  }
  return missed;
}

Result<std::string> comparison_table(const std::string& results_json) {
  return reading_results<std::string>([&] { return comparison_table_unguarded(results_json); });
}

}  // namespace dec::report
