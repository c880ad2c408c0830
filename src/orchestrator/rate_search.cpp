#include "orchestrator/rate_search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dec::orchestrator {
namespace {

// After a probe at full speed the ramp starts a little below what the system delivered there and
// climbs gently: the capacity is near.
constexpr double kProbeStart = 0.9;
constexpr double kUpAfterProbe = 1.25;
constexpr double kUpBlind = 2.0;
constexpr double kDownBlind = 0.5;
constexpr double kDownAfterProbe = 0.7;
// What creating a step's topics (and deleting the last step's) may take.
constexpr double kStepSetupAllowanceS = 5;

std::string rate_text(double rate) {
  char buffer[64];
  if (rate >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3gM msg/s", rate / 1e6);
  } else if (rate >= 1e3) {
    std::snprintf(buffer, sizeof buffer, "%.3gk msg/s", rate / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.3g msg/s", rate);
  }
  return buffer;
}

std::string latency_text(double ns) {
  char buffer[64];
  if (ns >= 1e9) {
    std::snprintf(buffer, sizeof buffer, "%.3g s", ns / 1e9);
  } else if (ns >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3g ms", ns / 1e6);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.3g µs", ns / 1e3);
  }
  return buffer;
}

}  // namespace

double search_step_seconds(const core::Workload& workload) {
  return std::chrono::duration<double>(workload.warmup + workload.duration + workload.drain_timeout)
             .count() +
         kStepSetupAllowanceS;
}

double search_time_bound_s(const core::Workload& workload) {
  if (!workload.search) return 0;
  if (workload.search->max_time) {
    return std::chrono::duration<double>(*workload.search->max_time).count();
  }
  return search_step_seconds(workload) * workload.search->max_steps;
}

std::string search_plan(const core::Spec& spec) {
  const core::Workload& w = spec.workload;
  if (!w.search) return "";
  const auto bound = static_cast<long long>(std::ceil(search_time_bound_s(w)));
  std::string time = bound < 60
                         ? std::to_string(bound) + " s"
                         : std::to_string(bound / 60) + " min " + std::to_string(bound % 60) + " s";
  char precision[32];
  std::snprintf(precision, sizeof precision, "%.3g %%", w.search->precision * 100);
  const core::Slo slo = spec.slo.value_or(core::Slo{});
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.3g %%", slo.max_loss * 100);
  return "find-max: per system at most " + std::to_string(w.search->max_steps) + " steps and " +
         time + " (" +
         (w.search->start ? "ramp from " + rate_text(*w.search->start) : "probe, ramp") +
         ", bisection to within " + precision + ") against SLO " +
         (slo.p99 ? "p99 <= " + latency_text(static_cast<double>(slo.p99->count()))
                  : "any latency") +
         ", loss <= " + loss + ", rate held";
}

double round_rate(double rate) {
  if (!(rate > 0)) return 0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(rate)) - 2);
  return std::round(rate / magnitude) * magnitude;
}

StepJudgement judge_step(const load::EngineResult& result, const core::Slo& slo,
                         bool has_consumers) {
  StepJudgement judgement;
  const load::WindowAccounting& window = result.window;
  const uint64_t delivered = has_consumers ? window.received : window.acked;
  if (window.offered > 0) {
    judgement.loss = static_cast<double>(window.offered - std::min(window.offered, delivered)) /
                     static_cast<double>(window.offered);
  }
  std::vector<std::string> reasons;
  if (!result.error.empty()) reasons.push_back("the run failed: " + result.error);
  if (window.offered == 0) reasons.push_back("nothing was sent in the measured window");
  if (!window.rate_sustained) {
    char buffer[160];
    std::snprintf(buffer, sizeof buffer,
                  "rate not sustained (%.0f msg/s acked of %.0f offered, sender up to %.3g s "
                  "behind)",
                  result.produced_msgs_per_s, window.offered_per_s, window.max_send_lag_s);
    reasons.push_back(buffer);
  }
  if (judgement.loss > slo.max_loss) {
    char buffer[160];
    std::snprintf(buffer, sizeof buffer, "%.3g %% of the offered messages %s (at most %.3g %%)",
                  judgement.loss * 100, has_consumers ? "not received" : "not acknowledged",
                  slo.max_loss * 100);
    reasons.push_back(buffer);
  }
  if (slo.p99) {
    const metrics::Histogram& latency =
        has_consumers ? result.end_to_end_latency : result.publish_latency;
    if (latency.count() == 0) {
      reasons.push_back("no latency measured");
    } else {
      const auto p99 = static_cast<double>(latency.percentile(99));
      const auto limit = static_cast<double>(slo.p99->count());
      if (p99 > limit) {
        reasons.push_back(std::string(has_consumers ? "p99 " : "publish p99 ") + latency_text(p99) +
                          " > " + latency_text(limit));
      }
    }
  }
  judgement.passed = reasons.empty();
  for (const auto& reason : reasons) {
    judgement.reason += (judgement.reason.empty() ? "" : "; ") + reason;
  }
  return judgement;
}

RateSearch::RateSearch(const core::RateSearch& config, double step_seconds)
    : config_(config), step_seconds_(std::max(step_seconds, 0.0)) {
  time_bound_s_ = config.max_time ? std::chrono::duration<double>(*config.max_time).count()
                                  : step_seconds_ * config.max_steps;
  if (config.start) {
    next_ramp_ = capped(round_rate(*config.start));
    up_factor_ = kUpBlind;
    probed_ = true;  // nothing to probe: the user gave the start
  }
}

double RateSearch::capped(double rate) const {
  return config_.max ? std::min(rate, *config_.max) : rate;
}

std::optional<RateSearch::Step> RateSearch::stop(std::string reason, bool converged) {
  done_ = true;
  converged_ = converged;
  stop_reason_ = std::move(reason);
  return std::nullopt;
}

std::optional<RateSearch::Step> RateSearch::next(double elapsed_s) {
  if (done_) return std::nullopt;
  const bool bracketed = best_ > 0 && failed_ > 0;
  if (bracketed && failed_ / best_ - 1 <= config_.precision + 1e-9) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, " (within %.3g %%)", config_.precision * 100);
    return stop(
        "converged: " + rate_text(best_) + " passed, " + rate_text(failed_) + " failed" + buffer,
        true);
  }
  if (config_.max && best_ >= *config_.max) {
    return stop("reached search.max (" + rate_text(*config_.max) +
                    ") with the SLO met: the system may sustain more",
                true);
  }
  if (steps_ >= config_.max_steps) {
    return stop("step bound reached (search.max_steps " + std::to_string(config_.max_steps) + ")");
  }
  if (elapsed_s + step_seconds_ > time_bound_s_) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer,
                  "time bound reached (%.0f s of %.0f s used; a step takes up to %.0f s)",
                  elapsed_s, time_bound_s_, step_seconds_);
    return stop(buffer);
  }
  Step step;
  if (!probed_) {
    step = {"probe", 0};
  } else if (bracketed) {
    double rate = round_rate(std::sqrt(best_ * failed_));
    // Rounding can land on a bound when the bracket is narrow: step inside it instead.
    if (rate <= best_ || rate >= failed_) rate = (best_ + failed_) / 2;
    if (rate <= best_ || rate >= failed_) {
      return stop("converged: " + rate_text(best_) + " passed, " + rate_text(failed_) +
                      " failed (no rate between them)",
                  true);
    }
    step = {"bisect", rate};
  } else {
    if (next_ramp_ < 1) {
      return stop(best_ > 0 ? "ramp ended" : "no rate met the SLO, down to 1 msg/s");
    }
    step = {"ramp", next_ramp_};
  }
  return step;
}

void RateSearch::record(const Step& step, bool passed, double achieved) {
  ++steps_;
  if (step.kind == "probe") {
    probed_ = true;
    up_factor_ = kUpAfterProbe;
    down_factor_ = kDownAfterProbe;
    if (achieved <= 0) {
      (void)stop("the probe at full speed delivered nothing: no rate to search from");
      return;
    }
    next_ramp_ = capped(round_rate(achieved * kProbeStart));
    return;
  }
  if (passed) {
    best_ = std::max(best_, step.rate);
  } else {
    failed_ = failed_ > 0 ? std::min(failed_, step.rate) : step.rate;
  }
  if (step.kind == "ramp") {
    if (passed && failed_ == 0) {
      const double up = capped(round_rate(step.rate * up_factor_));
      next_ramp_ = up;
      if (up <= step.rate) next_ramp_ = 0;  // at the cap: next() reports reaching search.max
    } else if (!passed && best_ == 0) {
      next_ramp_ = round_rate(step.rate * down_factor_);
    }
  }
}

}  // namespace dec::orchestrator

namespace dec::orchestrator {

Result<report::RateSearchResult> run_rate_search(
    const core::Workload& workload, const core::Slo& slo, const StepFn& measure,
    const std::atomic<bool>* stop, const std::function<void(const std::string&)>& log) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  auto stopped = [&] { return stop != nullptr && stop->load(); };
  const bool has_consumers = workload.consumers > 0;
  RateSearch search(workload.search.value_or(core::RateSearch{}), search_step_seconds(workload));
  report::RateSearchResult out;
  out.slo = slo;
  out.precision = search.precision();
  out.step_bound = search.step_bound();
  out.time_bound_s = search.time_bound_s();
  const auto search_start = Clock::now();
  while (!stopped()) {
    auto step = search.next(since(search_start));
    if (!step) break;
    const auto step_start = Clock::now();
    const int index = search.steps();
    Result<MeasuredStep> measured = measure(index, *step);
    if (!measured) {
      return make_error("find-max step " + std::to_string(index) + ": " + measured.error());
    }
    if (stopped()) break;
    const load::EngineResult& e = measured->engine;
    report::SearchStep s;
    s.kind = step->kind;
    s.offered_per_s = step->rate;
    s.achieved_per_s = has_consumers ? e.consumed_msgs_per_s : e.produced_msgs_per_s;
    const metrics::Histogram& latency = has_consumers ? e.end_to_end_latency : e.publish_latency;
    if (latency.count() > 0) {
      s.p50_us = static_cast<double>(latency.percentile(50)) / 1e3;
      s.p99_us = static_cast<double>(latency.percentile(99)) / 1e3;
      s.p999_us = static_cast<double>(latency.percentile(99.9)) / 1e3;
    }
    s.latency_lower_bound = (has_consumers ? e.censored_end_to_end : e.censored_publish) > 0;
    const StepJudgement judgement = judge_step(e, slo, has_consumers);
    const bool probe = step->kind == "probe";
    s.loss = judgement.loss;
    s.passed = !probe && judgement.passed;
    s.reason = probe ? "" : judgement.reason;
    s.generator_saturated = measured->generator_saturated;
    s.seconds = since(step_start);
    search.record(*step, s.passed, s.achieved_per_s);
    if (log) {
      char line[160];
      std::snprintf(line, sizeof line, "find-max step %d (%s): %s -> %.0f msg/s, p99 %s: ", index,
                    s.kind.c_str(), probe ? "full speed" : rate_text(s.offered_per_s).c_str(),
                    s.achieved_per_s, latency_text(s.p99_us * 1e3).c_str());
      log(line + (probe ? std::string("measured") : s.passed ? "passed" : "failed: " + s.reason));
    }
    if (s.passed && s.offered_per_s >= out.max_rate) {
      out.max_rate = s.offered_per_s;
      out.reported_step = index;
    }
    out.steps.push_back(std::move(s));
  }
  if (out.steps.empty()) return make_error(stopped() ? "cancelled" : "find-max: no step ran");
  out.lowest_failed = search.lowest_failed();
  out.converged = search.converged();
  out.stopped = stopped() ? "cancelled" : search.stop_reason();
  out.seconds = since(search_start);
  if (out.reported_step < 0) out.reported_step = static_cast<int>(out.steps.size()) - 1;
  // The limit is the load generator's when the agent was saturated in the step that set it:
  // the lowest failing one, or with no failure the highest passing one.
  for (const auto& s : out.steps) {
    if (s.kind == "probe" || !s.generator_saturated) continue;
    const double limit = out.lowest_failed > 0 ? out.lowest_failed : out.max_rate;
    if (s.offered_per_s == limit) out.limited_by_generator = true;
  }
  return out;
}

}  // namespace dec::orchestrator
