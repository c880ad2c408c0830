// Statistics across repeats (report/stats.h) against values computed independently: published
// examples (Welch's test on Wikipedia's first example) and Student t quantiles from tables,
// cross-checked by numerically integrating the t density; and the sweep JSON and table.
#include "report/stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/results.h"

namespace dec::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Stats, StudentTCriticalValuesMatchTables) {
  EXPECT_NEAR(student_t_critical(0.05, 1), 12.706204736, 1e-6);
  EXPECT_NEAR(student_t_critical(0.05, 2), 4.302652730, 1e-8);
  EXPECT_NEAR(student_t_critical(0.05, 4), 2.776445105, 1e-8);
  EXPECT_NEAR(student_t_critical(0.05, 9), 2.262157163, 1e-8);
  EXPECT_NEAR(student_t_critical(0.05, 29), 2.045229642, 1e-8);
  EXPECT_NEAR(student_t_critical(0.05, 1e7), 1.959964, 1e-5);
  EXPECT_NEAR(student_t_critical(0.01, 10), 3.169272673, 1e-8);
}

TEST(Stats, StudentTCdfAndIncompleteBeta) {
  EXPECT_NEAR(student_t_cdf(2, 5), 0.9490302606, 1e-9);
  EXPECT_NEAR(student_t_cdf(-2, 5), 1 - 0.9490302606, 1e-9);
  EXPECT_NEAR(student_t_cdf(0, 3), 0.5, 1e-12);
  // I_x(1, 1) = x; I_x(2, 3) = 6x^2(1/2 - 2x/3 + x^2/4) (closed form for whole a, b).
  EXPECT_NEAR(regularized_incomplete_beta(1, 1, 0.3), 0.3, 1e-12);
  const double x = 0.4;
  EXPECT_NEAR(regularized_incomplete_beta(2, 3, x),
              12 * (x * x / 2 - 2 * x * x * x / 3 + x * x * x * x / 4), 1e-12);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 0), 0);
  EXPECT_EQ(regularized_incomplete_beta(2, 3, 1), 1);
}

TEST(Stats, SummaryOfAFixedSample) {
  // mean 11, sd sqrt(2.5) = 1.5811, CI half-width t(0.975, 4) * sd / sqrt(5) = 1.96324.
  const Summary s = summarize({10, 12, 9, 11, 13});
  EXPECT_EQ(s.n, 5u);
  EXPECT_DOUBLE_EQ(s.mean, 11);
  EXPECT_NEAR(s.sd, 1.5811388301, 1e-9);
  ASSERT_TRUE(s.ci95.has_value());
  EXPECT_NEAR(*s.ci95, 1.9632431615, 1e-8);
}

TEST(Stats, OneSampleHasNoInterval) {
  const Summary s = summarize({42});
  EXPECT_EQ(s.mean, 42);
  EXPECT_FALSE(s.ci95.has_value());
  EXPECT_FALSE(summarize({}).ci95.has_value());
}

TEST(Stats, WelchTestMatchesThePublishedExample) {
  // Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 24.9, p = 0.021 (R: t.test).
  const std::vector<double> a = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                                 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  const std::vector<double> b = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                                 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  auto test = welch_t_test(a, b);
  ASSERT_TRUE(test.has_value());
  EXPECT_NEAR(test->t, -2.455356398, 1e-8);
  EXPECT_NEAR(test->df, 24.98852929, 1e-7);
  EXPECT_NEAR(test->p_value, 0.0213780015, 1e-8);
}

TEST(Stats, WelchTestSmallSamples) {
  // Three runs each: t = -9.80306, df = 3.44828, p = 0.0012272 (integrated independently).
  auto test = welch_t_test({1000, 1010, 990}, {1100, 1090, 1120});
  ASSERT_TRUE(test.has_value());
  EXPECT_NEAR(test->t, -9.803060747, 1e-8);
  EXPECT_NEAR(test->df, 3.448275862, 1e-8);
  EXPECT_NEAR(test->p_value, 0.0012271514, 1e-8);
  EXPECT_FALSE(welch_t_test({1}, {1, 2}).has_value());
  EXPECT_FALSE(welch_t_test({5, 5}, {5, 5}).has_value());
}

TEST(Verdict, Wording) {
  EXPECT_EQ(compare_samples("a", {1000, 1010, 990}, "b", {1100, 1090, 1120}, Better::kHigher).text,
            "b is faster by 10.3 % (significant, p=0.0012)");
  // Means 1,000 and 1,103.3: +10.3 % over the slower in throughput; in latency, the faster one
  // is 9.4 % below the slower one.
  EXPECT_EQ(compare_samples("a", {1000, 1010, 990}, "b", {1100, 1090, 1120}, Better::kLower).text,
            "a is faster by 9.4 % (significant, p=0.0012)");
  const Verdict noise = compare_samples("a", {100, 120, 80}, "b", {105, 85, 125}, Better::kHigher);
  EXPECT_FALSE(noise.significant);
  EXPECT_EQ(noise.text, "within noise (p=0.77)");
  EXPECT_EQ(compare_samples("a", {1}, "b", {2}, Better::kHigher).text,
            "one run: no confidence interval or test (set repeats: 2 or more)");
  EXPECT_EQ(compare_samples("a", {5, 5}, "b", {5, 5}, Better::kHigher).text,
            "identical in every run (no variation to test)");
  EXPECT_EQ(format_p_value(0.41), "p=0.41");
  EXPECT_EQ(format_p_value(0.00001), "p<0.0001");
  EXPECT_EQ(format_p_value(0.0213780015), "p=0.021");
}

// Two points of one system, two repeats each; throughput 1,000 vs 2,000 msg/s (plus a little
// spread), latency 1 ms vs 2 ms.
ExperimentResult sweep_result() {
  ExperimentResult result;
  result.id = "exp";
  result.experiment = "sweep";
  result.repeats = 2;
  result.points = {{0, {{"systems[redis].config.pipeline", "1"}}},
                   {1, {{"systems[redis].config.pipeline", "16"}}}};
  for (size_t point = 0; point < 2; ++point) {
    for (int repeat = 0; repeat < 2; ++repeat) {
      RunResult run;
      run.run_id = "exp.p" + std::to_string(point) + ".r" + std::to_string(repeat) + ".redis";
      run.point = point;
      run.repeat = repeat;
      run.system = "redis";
      run.driver = "redis";
      run.status = "succeeded";
      const double rate = (point + 1) * 1000.0 + repeat * 10.0;
      run.engine.measured_seconds = 1;
      run.engine.produced_msgs_per_s = rate;
      run.engine.consumed_msgs_per_s = rate;
      for (int v = 0; v < 100; ++v) {
        run.engine.end_to_end_latency.record((point + 1) * 1000000);
        run.engine.publish_latency.record((point + 1) * 500000);
      }
      result.runs.push_back(run);
    }
  }
  return result;
}

TEST(SweepResults, JsonHasPointsRepeatsAndStats) {
  const auto doc = nlohmann::json::parse(to_json(sweep_result()));
  ASSERT_EQ(doc["points"].size(), 2u);
  EXPECT_EQ(doc["points"][1]["values"]["systems[redis].config.pipeline"], "16");
  EXPECT_EQ(doc["repeats"], 2);
  EXPECT_EQ(doc["runs"][3]["point"], 1);
  EXPECT_EQ(doc["runs"][3]["repeat"], 1);
  ASSERT_EQ(doc["stats"].size(), 2u);
  const auto& consumed = doc["stats"][0]["metrics"]["consumed_msgs_per_s"];
  EXPECT_EQ(consumed["n"], 2);
  EXPECT_DOUBLE_EQ(consumed["mean"].get<double>(), 1005);
  // sd of {1000, 1010} = 7.0711; t(0.975, 1) = 12.7062; half-width 12.7062 * 7.0711 / sqrt 2.
  EXPECT_NEAR(consumed["sd"].get<double>(), 7.071, 1e-3);
  EXPECT_NEAR(consumed["ci95"].get<double>(), 63.531, 1e-3);
  bool found = false;
  for (const auto& comparison : doc["comparisons"]) {
    if (comparison["metric"] != "consumed_msgs_per_s") continue;
    found = true;
    EXPECT_EQ(comparison["a"]["name"], "p0");
    EXPECT_EQ(comparison["b"]["name"], "p1");
    EXPECT_TRUE(comparison["significant"].get<bool>());
    EXPECT_EQ(comparison["faster"], "p1");
  }
  EXPECT_TRUE(found);
}

TEST(SweepResults, SingleRunJsonHasNoStats) {
  ExperimentResult single = sweep_result();
  single.repeats = 1;
  single.points = {};
  single.runs.resize(1);
  const auto doc = nlohmann::json::parse(to_json(single));
  EXPECT_FALSE(doc.contains("stats"));
  EXPECT_EQ(doc["points"].size(), 1u);
  EXPECT_EQ(doc["runs"][0]["point"], 0);
  // The single-run table is the per-system one.
  auto table = comparison_table(to_json(single));
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(*table, Not(HasSubstr("Sweep:")));
  EXPECT_THAT(*table, HasSubstr("delivery check"));
}

TEST(SweepResults, TableShowsMeansIntervalsAndVerdicts) {
  auto table = comparison_table(to_json(sweep_result()));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_THAT(*table, HasSubstr("Sweep: 2 points × 2 repeats × 1 system = 4 runs (4 succeeded)"));
  EXPECT_THAT(*table, HasSubstr("systems[redis].config.pipeline"));
  EXPECT_THAT(*table, HasSubstr("1,005 ± 64"));
  EXPECT_THAT(*table, HasSubstr("2,005 ± 64"));
  EXPECT_THAT(*table, HasSubstr("runs succeeded"));
  EXPECT_THAT(*table, HasSubstr("Comparisons (Welch's t-test, two-sided, α = 0.05):"));
  EXPECT_THAT(*table, HasSubstr("redis p0 vs p1, consumed msg/s: p1 is faster by 99.5 % "
                                "(significant, p<0.0001)"));
  // Every repeat gave the same latency: no variation, said as such rather than a p-value.
  EXPECT_THAT(*table, HasSubstr("redis p0 vs p1, latency p99: p0 is faster by 50.0 % in every run "
                                "(no variation, so no p-value)"));
}

TEST(SweepResults, RepeatsOfTwoSystemsAreComparedWithEachOther) {
  // No matrix, repeats 2: one point, columns named by system, "fast vs slow" verdicts.
  ExperimentResult result = sweep_result();
  result.points = {};
  for (RunResult& run : result.runs) {
    run.system = run.point == 0 ? "slow" : "fast";
    run.point = 0;
  }
  const auto doc = nlohmann::json::parse(to_json(result));
  ASSERT_EQ(doc["stats"].size(), 2u);
  auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(*table, HasSubstr("Sweep: 1 point × 2 repeats × 2 systems = 4 runs"));
  EXPECT_THAT(*table, HasSubstr("  slow vs fast, consumed msg/s: fast is faster by 99.5 % "
                                "(significant, p<0.0001)"));
  // A miss is reported per run, not per system.
  result.targets.p99_latency = std::chrono::microseconds(1);
  EXPECT_THAT(missed_targets(to_json(result)),
              testing::Contains("exp.p1.r1.redis: p99 latency target missed"));
}

TEST(SweepResults, OneRunPerPointShowsNoInterval) {
  ExperimentResult result = sweep_result();
  result.repeats = 1;
  std::erase_if(result.runs, [](const RunResult& run) { return run.repeat == 1; });
  const auto doc = nlohmann::json::parse(to_json(result));
  EXPECT_TRUE(doc["stats"][0]["metrics"]["consumed_msgs_per_s"]["ci95"].is_null());
  auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(*table, HasSubstr("A figure without ± comes from one run: no confidence interval."));
  EXPECT_THAT(*table, Not(HasSubstr("1,000 ±")));
  EXPECT_THAT(*table, HasSubstr("one run: no confidence interval or test"));
}

}  // namespace
}  // namespace dec::report
