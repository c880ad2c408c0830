// `workload.rate: find-max`: the search's steps against a system of known capacity (a pure model,
// then the real load engine on an in-memory system whose latency rises past a set rate), its
// bounds in steps and time, the SLO judgement of a step, and the spec fields.
#include "orchestrator/rate_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/spec_parser.h"
#include "report/results.h"
#include "support/memory_driver.h"

namespace dec {
namespace {

using orchestrator::RateSearch;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Drives a search against a model: a step passes when its rate is at most `capacity`; the probe
// at full speed delivers `capacity` x `probe_share`. Returns the search after it stopped.
struct ModelRun {
  RateSearch search;
  std::vector<RateSearch::Step> steps;
};
ModelRun run_model(const core::RateSearch& config, double capacity, double step_seconds = 1,
                   double probe_share = 1.0) {
  ModelRun run{RateSearch(config, step_seconds), {}};
  double elapsed = 0;
  while (auto step = run.search.next(elapsed)) {
    run.steps.push_back(*step);
    if (step->kind == "probe") {
      run.search.record(*step, false, capacity * probe_share);
    } else {
      const bool passed = step->rate <= capacity;
      run.search.record(*step, passed, passed ? step->rate : capacity);
    }
    elapsed += step_seconds;
    if (run.steps.size() > 100) break;  // a bug: the bound did not hold
  }
  return run;
}

TEST(RateSearchTest, ConvergesOnAKnownCapacityWithinPrecisionAndStepBound) {
  for (double capacity : {37.0, 1'000.0, 48'213.0, 2'500'000.0}) {
    for (double probe_share : {1.0, 0.7, 1.3}) {  // the probe under- or overshooting
      SCOPED_TRACE("capacity " + std::to_string(capacity) + " probe share " +
                   std::to_string(probe_share));
      core::RateSearch config;  // probe first, 5 %, 12 steps
      ModelRun run = run_model(config, capacity, 1, probe_share);
      EXPECT_TRUE(run.search.converged()) << run.search.stop_reason();
      EXPECT_LE(run.search.steps(), config.max_steps);
      EXPECT_EQ(run.steps.front().kind, "probe");
      EXPECT_GT(run.search.best_rate(), 0);
      EXPECT_LE(run.search.best_rate(), capacity);
      EXPECT_GT(run.search.lowest_failed(), capacity);
      EXPECT_LE(run.search.lowest_failed() / run.search.best_rate() - 1, 0.05 + 1e-9);
      EXPECT_THAT(run.search.stop_reason(), HasSubstr("converged"));
    }
  }
}

TEST(RateSearchTest, AProbeSavesStepsOverABlindRamp) {
  core::RateSearch blind;
  blind.start = 1000;
  blind.max_steps = 40;
  core::RateSearch probed;
  probed.max_steps = 40;
  const double capacity = 480'000;
  ModelRun from_start = run_model(blind, capacity);
  ModelRun from_probe = run_model(probed, capacity);
  ASSERT_TRUE(from_start.search.converged());
  ASSERT_TRUE(from_probe.search.converged());
  EXPECT_EQ(from_start.steps.front().kind, "ramp");
  EXPECT_EQ(from_start.steps.front().rate, 1000);
  EXPECT_LT(from_probe.search.steps(), from_start.search.steps());
  EXPECT_LE(from_probe.search.steps(), 7);
}

TEST(RateSearchTest, RampsDownWhenTheStartIsTooHigh) {
  core::RateSearch config;
  config.start = 100'000;
  ModelRun run = run_model(config, 3'000);
  EXPECT_TRUE(run.search.converged());
  EXPECT_EQ(run.steps[0].rate, 100'000);
  EXPECT_EQ(run.steps[1].rate, 50'000);  // halving until a step passes
  EXPECT_LE(run.search.best_rate(), 3'000);
  EXPECT_GT(run.search.lowest_failed(), 3'000);
}

TEST(RateSearchTest, StopsAtTheStepBound) {
  core::RateSearch config;
  config.start = 1;
  config.max_steps = 4;
  config.precision = 0.01;
  ModelRun run = run_model(config, 1'000'000);
  EXPECT_EQ(run.search.steps(), 4);
  EXPECT_FALSE(run.search.converged());
  EXPECT_THAT(run.search.stop_reason(), HasSubstr("step bound"));
  EXPECT_EQ(run.search.best_rate(), 8);  // 1, 2, 4, 8: all passed
}

TEST(RateSearchTest, NeverStartsAStepThatCouldEndPastTheTimeBound) {
  core::RateSearch config;
  config.max_time = 35s;
  ModelRun run = run_model(config, 10'000, /*step_seconds=*/10);
  EXPECT_EQ(run.search.steps(), 3);  // a 4th step could end at 40 s
  EXPECT_THAT(run.search.stop_reason(), HasSubstr("time bound"));
  EXPECT_EQ(run.search.time_bound_s(), 35);
  // Without max_time the bound is max_steps steps.
  EXPECT_EQ(RateSearch(core::RateSearch{}, 10).time_bound_s(), 120);
}

TEST(RateSearchTest, TheCapEndsTheRampWithTheSloMet) {
  core::RateSearch config;
  config.start = 1'000;
  config.max = 5'000;
  ModelRun run = run_model(config, 1e9);
  EXPECT_EQ(run.steps.back().rate, 5'000);  // 1000, 2000, 4000, 5000
  EXPECT_EQ(run.search.best_rate(), 5'000);
  EXPECT_THAT(run.search.stop_reason(), HasSubstr("search.max"));
  for (const auto& step : run.steps) EXPECT_LE(step.rate, 5'000);
}

TEST(RateSearchTest, NoRatePassing) {
  core::RateSearch config;
  config.start = 8;
  config.max_steps = 40;
  ModelRun run = run_model(config, 0.5);
  EXPECT_EQ(run.search.best_rate(), 0);
  EXPECT_THAT(run.search.stop_reason(), HasSubstr("no rate met the SLO"));
}

TEST(RateSearchTest, RoundsRatesToThreeFigures) {
  EXPECT_EQ(orchestrator::round_rate(48'213), 48'200);
  EXPECT_DOUBLE_EQ(orchestrator::round_rate(1.2345), 1.23);
  EXPECT_EQ(orchestrator::round_rate(999.6), 1'000);
  EXPECT_EQ(orchestrator::round_rate(0), 0);
}

load::EngineResult step_result(uint64_t offered, uint64_t received, uint64_t p99_ns) {
  load::EngineResult e;
  e.window.offered = offered;
  e.window.acked = offered;
  e.window.received = received;
  e.window.rate_sustained = true;
  for (uint64_t i = 0; i < 100; ++i) e.end_to_end_latency.record(i < 98 ? 1000 : p99_ns);
  return e;
}

TEST(StepJudgementTest, PassesOnlyWithinTheSlo) {
  core::Slo slo;
  slo.p99 = 50ms;
  slo.max_loss = 0.001;
  EXPECT_TRUE(orchestrator::judge_step(step_result(10'000, 10'000, 40'000'000), slo, true).passed);

  auto slow = orchestrator::judge_step(step_result(10'000, 10'000, 80'000'000), slo, true);
  EXPECT_FALSE(slow.passed);
  EXPECT_THAT(slow.reason, HasSubstr("p99"));
  EXPECT_THAT(slow.reason, HasSubstr("> 50 ms"));

  auto lossy = orchestrator::judge_step(step_result(10'000, 9'980, 1'000), slo, true);
  EXPECT_FALSE(lossy.passed);
  EXPECT_DOUBLE_EQ(lossy.loss, 0.002);
  EXPECT_THAT(lossy.reason, HasSubstr("not received"));
  EXPECT_TRUE(orchestrator::judge_step(step_result(10'000, 9'995, 1'000), slo, true).passed);

  load::EngineResult behind = step_result(10'000, 10'000, 1'000);
  behind.window.rate_sustained = false;
  auto held_back = orchestrator::judge_step(behind, slo, true);
  EXPECT_FALSE(held_back.passed);
  EXPECT_THAT(held_back.reason, HasSubstr("rate not sustained"));

  load::EngineResult failed = step_result(10'000, 10'000, 1'000);
  failed.error = "broker gone";
  EXPECT_FALSE(orchestrator::judge_step(failed, slo, true).passed);

  // Without consumers the acknowledgements are what was delivered, and publish latency counts.
  load::EngineResult produce_only = step_result(10'000, 0, 1'000);
  for (int i = 0; i < 100; ++i) produce_only.publish_latency.record(1'000);
  EXPECT_TRUE(orchestrator::judge_step(produce_only, slo, false).passed);
}

// The real engine against an in-memory system that passes on 4,000 msg/s: beyond that a queue
// builds and latency rises. The search must find the capacity within its bounds.
TEST(RateSearchEngineTest, FindsTheCapacityOfASyntheticSystemThroughTheEngine) {
  constexpr double kCapacity = 4'000;
  testing::MemoryDriver driver({.capacity = kCapacity});
  core::Workload workload;
  workload.message_size = 64;
  workload.warmup = 200ms;
  workload.duration = 1s;
  workload.drain_timeout = 1s;
  workload.search = core::RateSearch{};
  workload.search->precision = 0.1;
  workload.search->max_steps = 10;
  core::Slo slo;
  slo.p99 = 50ms;  // 1 s at 5 % over capacity queues 50 ms
  std::atomic<bool> stop{false};
  std::vector<std::string> lines;
  auto measure = [&](int index,
                     const RateSearch::Step& step) -> Result<orchestrator::MeasuredStep> {
    const std::string topic = "search-" + std::to_string(index);
    if (Status s = driver.create_topic(topic, 1); !s) return make_error(s.error());
    load::EngineOptions options;
    options.rate = step.rate;
    options.warmup = workload.warmup;
    options.duration = workload.duration;
    options.drain_timeout = workload.drain_timeout;
    options.message_size = workload.message_size;
    options.keys = 0;
    options.key_distribution = core::KeyDistribution::kNone;
    options.topics = {topic};
    load::Engine engine(driver, options);
    auto result = engine.run(nullptr, stop);
    if (!result) return make_error(result.error());
    return orchestrator::MeasuredStep{std::move(*result), false};
  };
  const auto start = std::chrono::steady_clock::now();
  auto search = orchestrator::run_rate_search(
      workload, slo, measure, &stop, [&](const std::string& line) { lines.push_back(line); });
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(search.ok()) << search.error();
  SCOPED_TRACE(::testing::PrintToString(lines));
  EXPECT_EQ(search->steps.front().kind, "probe");
  // The probe at full speed shows the capacity (the queue drains at exactly that rate).
  EXPECT_NEAR(search->steps.front().achieved_per_s, kCapacity, kCapacity * 0.15);
  EXPECT_LE(static_cast<int>(search->steps.size()), 10);
  EXPECT_LE(took, search->time_bound_s);
  // The answer brackets the capacity: the SLO allows up to ~5 % over it for a 1 s window, and
  // the search stops within 10 % below what it found to fail.
  EXPECT_GE(search->max_rate, kCapacity * 0.8);
  EXPECT_LE(search->max_rate, kCapacity * 1.06);
  if (search->lowest_failed > 0) {
    EXPECT_GT(search->lowest_failed, search->max_rate);
  }
  ASSERT_GE(search->reported_step, 0);
  EXPECT_TRUE(search->steps[static_cast<size_t>(search->reported_step)].passed);
  EXPECT_EQ(search->steps[static_cast<size_t>(search->reported_step)].offered_per_s,
            search->max_rate);
  for (const auto& step : search->steps) {
    if (step.kind == "probe") continue;
    // Far over capacity a step fails on latency; well under it a step passes.
    if (step.offered_per_s > kCapacity * 1.2) {
      EXPECT_FALSE(step.passed) << step.offered_per_s;
    }
    if (step.offered_per_s < kCapacity * 0.7) {
      EXPECT_TRUE(step.passed) << step.offered_per_s;
    }
  }
}

// The results: JSON carries the curve, the table shows the answer and every step.
TEST(RateSearchReportTest, TableAndJsonShowTheAnswerAndTheCurve) {
  report::ExperimentResult result;
  result.id = "e1";
  result.experiment = "find";
  result.workload.search = core::RateSearch{};
  report::RunResult run;
  run.run_id = "e1.redis";
  run.system = "redis";
  run.driver = "redis";
  run.status = "succeeded";
  run.engine.measured_seconds = 2;
  run.engine.consumed_msgs_per_s = 4000;
  run.engine.end_to_end_latency.record(1000);
  report::RateSearchResult search;
  search.max_rate = 4000;
  search.lowest_failed = 4200;
  search.converged = true;
  search.stopped = "converged: 4k msg/s passed, 4.2k msg/s failed (within 5 %)";
  search.slo.p99 = 50ms;
  search.step_bound = 12;
  search.time_bound_s = 120;
  search.reported_step = 1;
  search.steps = {{"probe", 0, 4400, 20'000, 90'000, 95'000, false, 0, false, "", false, 2},
                  {"ramp", 4000, 4000, 100, 900, 1000, false, 0, true, "", false, 2},
                  {"ramp", 5000, 4400, 30'000, 120'000, 130'000, false, 0, false,
                   "p99 120 ms > 50 ms", false, 2}};
  run.search = search;
  result.runs.push_back(run);
  const std::string json = report::to_json(result);
  EXPECT_THAT(json, HasSubstr("\"max_rate\": 4000"));
  EXPECT_THAT(json, HasSubstr("\"rate_mode\": \"find-max\""));
  auto table = report::comparison_table(json);
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_THAT(*table, HasSubstr("max sustainable msg/s"));
  EXPECT_THAT(*table, HasSubstr("4,000 msg/s sustained, 4,200 msg/s failed"));
  EXPECT_THAT(*table, HasSubstr("failed: p99 120 ms > 50 ms"));
  EXPECT_THAT(*table, HasSubstr("probe at full speed"));
  EXPECT_THAT(*table, HasSubstr("rate: find-max"));
}

core::DriverCatalog redis_only() {
  core::DriverCatalog catalog;
  catalog.names = {"redis"};
  catalog.validate_config = [](const std::string&, const core::Settings&, const std::string&) {
    return std::vector<core::FieldError>{};
  };
  return catalog;
}

TEST(RateSearchSpecTest, ParsesValidatesAndRoundTrips) {
  const std::string base = R"(
name: s
systems: [{name: r, driver: redis}]
)";
  auto parsed = core::parse_spec(base + R"(
workload:
  rate: find-max
  search: {start: 1k/s, max: 2M/s, precision: 0.02, max_steps: 20, max_time: 10m}
slo: {p99: 50ms, max_loss: 0.1%}
)",
                                 {}, redis_only());
  ASSERT_TRUE(parsed.ok()) << parsed.errors.front().to_string();
  ASSERT_TRUE(parsed.spec.workload.search);
  EXPECT_EQ(parsed.spec.workload.search->start, 1000);
  EXPECT_EQ(parsed.spec.workload.search->max, 2e6);
  EXPECT_EQ(parsed.spec.workload.search->precision, 0.02);
  EXPECT_EQ(parsed.spec.workload.search->max_steps, 20);
  EXPECT_EQ(parsed.spec.workload.search->max_time, std::chrono::minutes(10));
  ASSERT_TRUE(parsed.spec.slo);
  EXPECT_EQ(parsed.spec.slo->p99, 50ms);
  EXPECT_DOUBLE_EQ(parsed.spec.slo->max_loss, 0.001);
  auto again = core::parse_spec(core::spec_to_json(parsed.spec), {}, redis_only());
  ASSERT_TRUE(again.ok()) << again.errors.front().to_string();
  EXPECT_EQ(again.spec, parsed.spec);

  // Defaults: a bare find-max probes, 5 %, 12 steps; without slo.p99 a warning says so.
  auto bare = core::parse_spec(base + "workload: {rate: find-max}\n", {}, redis_only());
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare.spec.workload.search, core::RateSearch{});
  ASSERT_FALSE(bare.warnings.empty());
  EXPECT_EQ(bare.warnings.front().path, "slo.p99");

  auto errors = [&](const std::string& extra) {
    std::string all;
    for (const auto& e : core::parse_spec(base + extra, {}, redis_only()).errors)
      all += e.to_string() + "\n";
    return all;
  };
  EXPECT_THAT(errors("workload: {search: {max_steps: 5}}\n"),
              HasSubstr("workload.search: only applies with rate: find-max"));
  EXPECT_THAT(errors("workload: {rate: find-max, search: {max_steps: 1000}}\n"),
              HasSubstr("workload.search.max_steps: must be at most 40"));
  EXPECT_THAT(errors("workload: {rate: find-max, search: {precison: 0.1}}\n"),
              HasSubstr("workload.search.precison: unknown field (did you mean \"precision\"?)"));
  EXPECT_THAT(errors("workload: {rate: find-max, search: {start: 5k/s, max: 1k/s}}\n"),
              HasSubstr("workload.search.start: must not be above search.max"));
  EXPECT_THAT(errors("workload: {rate: find-max}\nfaults: [{at: 1s, action: kill}]\n"),
              HasSubstr("faults: not with workload.rate: find-max"));
  EXPECT_THAT(errors("workload: {rate: find-max, backlog: {messages: 10}}\n"),
              HasSubstr("workload.backlog: not with rate: find-max"));
  EXPECT_THAT(errors("workload: {rate: find-max}\nslo: {max_loss: 2}\n"),
              HasSubstr("slo.max_loss: must be from 0.0 to 1.0"));
  EXPECT_THAT(errors("workload: {rate: fast}\n"), HasSubstr("workload.rate:"));
}

}  // namespace
}  // namespace dec
