// The percentile curve decoded from a run's histogram: HdrHistogram's levels, values that agree
// with the table's figures, and censored samples marked as lower bounds.
#include "report/percentiles.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/results.h"

namespace dec::report {
namespace {

using json = nlohmann::json;

// 1, 2, …, 1000 µs, one sample each.
metrics::Histogram uniform_1_to_1000_us() {
  metrics::Histogram histogram;
  for (uint64_t us = 1; us <= 1000; ++us) histogram.record(us * 1000);
  return histogram;
}

const PercentilePoint* at_level(const std::vector<PercentilePoint>& points, double level) {
  for (const auto& point : points) {
    if (std::abs(point.percentile - level) < 1e-9) return &point;
  }
  return nullptr;
}

// Within the histogram's bucket precision (a bucket's midpoint is within 0.4 % of its values).
void expect_near_ns(uint64_t value, double expected_ns) {
  EXPECT_LE(std::abs(static_cast<double>(value) - expected_ns), expected_ns * 0.004)
      << value << " vs " << expected_ns;
}

TEST(PercentileDistribution, UniformValuesGiveTheirOwnPercentiles) {
  const metrics::Histogram histogram = uniform_1_to_1000_us();
  const auto points = percentile_distribution(histogram, 0);
  ASSERT_GT(points.size(), 40u);

  // HdrHistogram's levels with 5 ticks per half distance.
  const std::vector<double> first = {0, 10, 20, 30, 40, 50, 55, 60, 65, 70, 75, 77.5, 80};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_DOUBLE_EQ(points[i].percentile, first[i]);

  const PercentilePoint* p0 = at_level(points, 0);
  const PercentilePoint* p50 = at_level(points, 50);
  const PercentilePoint* p99 = at_level(points, 99);
  const PercentilePoint* p999 = at_level(points, 99.9);
  ASSERT_TRUE(p0 && p50 && p99 && p999);
  EXPECT_EQ(p0->value_ns, 1000u) << "0 % is the exact minimum";
  expect_near_ns(p50->value_ns, 500'000);  // the 500th of 1000 samples
  expect_near_ns(p99->value_ns, 990'000);
  expect_near_ns(p999->value_ns, 999'000);
  // The same reading as the table's figures, to the nanosecond.
  EXPECT_EQ(p50->value_ns, histogram.percentile(50));
  EXPECT_EQ(p99->value_ns, histogram.percentile(99));
  EXPECT_EQ(p999->value_ns, histogram.percentile(99.9));
  // Counts are HdrHistogram's TotalCount: samples up to the value's bucket.
  EXPECT_GE(p50->count, 500u);
  EXPECT_LE(p50->count, 503u);
  EXPECT_EQ(points.back().percentile, 100);
  EXPECT_EQ(points.back().value_ns, 1'000'000u) << "100 % is the exact maximum";
  EXPECT_EQ(points.back().count, 1000u);

  for (size_t i = 1; i < points.size(); ++i) {
    EXPECT_GT(points[i].percentile, points[i - 1].percentile) << i;
    EXPECT_GE(points[i].value_ns, points[i - 1].value_ns) << i;
    EXPECT_GE(points[i].count, points[i - 1].count) << i;
    EXPECT_FALSE(points[i].lower_bound);
  }
  // The walk ends at the last bucket: one level there (HdrHistogram's rule), then 100 %.
  EXPECT_EQ(points[points.size() - 2].count, 1000u);
  EXPECT_LT(points[points.size() - 3].count, 1000u);
}

TEST(PercentileDistribution, CensoredSamplesMakeTheTailALowerBound) {
  metrics::Histogram histogram = uniform_1_to_1000_us();
  // The last 20 samples stand for messages missing at the deadline: ranks 981..1000.
  const auto points = percentile_distribution(histogram, 20);
  const PercentilePoint* p50 = at_level(points, 50);
  const PercentilePoint* p975 = at_level(points, 97.5);
  const PercentilePoint* p98125 = at_level(points, 98.125);  // rank 982
  const PercentilePoint* p99 = at_level(points, 99);
  ASSERT_TRUE(p50 && p975 && p98125 && p99);
  EXPECT_FALSE(p50->lower_bound);
  EXPECT_FALSE(p975->lower_bound);
  EXPECT_TRUE(p98125->lower_bound);
  EXPECT_TRUE(p99->lower_bound);
  EXPECT_TRUE(points.back().lower_bound);
}

TEST(PercentileDistribution, EmptyAndSingleSampleHistograms) {
  EXPECT_TRUE(percentile_distribution(metrics::Histogram(), 0).empty());
  metrics::Histogram one;
  one.record(12'345);
  const auto points = percentile_distribution(one, 0);
  ASSERT_EQ(points.size(), 2u);  // 0 % reaches the only bucket; then 100 %
  EXPECT_EQ(points[0].value_ns, 12'345u);
  EXPECT_EQ(points[1].value_ns, 12'345u);
}

TEST(PercentileCurves, FromResultsAgreeWithTheTableAndSayWhatTheyHold) {
  ExperimentResult result;
  result.id = "20261202-000000-curve";
  result.experiment = "curve";
  RunResult run;
  run.run_id = result.id + ".redis";
  run.system = "redis";
  run.status = "succeeded";
  run.engine.end_to_end_latency = uniform_1_to_1000_us();
  for (uint64_t us = 1; us <= 100; ++us) run.engine.publish_latency.record(us * 500);
  run.engine.censored_end_to_end = 20;
  result.runs = {run};
  const json doc = json::parse(to_json(result));

  auto curves = percentile_curves(doc.dump());
  ASSERT_TRUE(curves.ok()) << curves.error();
  const json out = json::parse(*curves);
  EXPECT_EQ(out["id"], result.id);
  EXPECT_EQ(out["unit"], "us");
  EXPECT_EQ(out["ticks_per_half_distance"], 5);
  EXPECT_NE(out["contains"].get<std::string>().find("lower_bound"), std::string::npos);
  ASSERT_EQ(out["runs"].size(), 1u);
  const json& e2e = out["runs"][0]["end_to_end"];
  EXPECT_EQ(out["runs"][0]["run_id"], run.run_id);
  EXPECT_EQ(e2e["count"], 1000);
  EXPECT_EQ(e2e["censored"], 20);
  EXPECT_DOUBLE_EQ(e2e["lower_bound_from"].get<double>(), 98.125);
  const json& summary = doc["runs"][0]["latency_us"];
  for (const auto& [level, key] : std::vector<std::pair<double, const char*>>{
           {50, "p50"}, {90, "p90"}, {99, "p99"}, {99.9, "p999"}, {100, "max"}}) {
    bool found = false;
    for (const auto& point : e2e["points"]) {
      if (std::abs(point["percentile"].get<double>() - level) > 1e-9) continue;
      found = true;
      EXPECT_EQ(point["value_us"], summary[key]) << key << " as the table has it";
    }
    EXPECT_TRUE(found) << key;
  }
  const json& publish = out["runs"][0]["publish"];
  EXPECT_EQ(publish["count"], 100);
  EXPECT_TRUE(publish["lower_bound_from"].is_null());
  EXPECT_EQ(publish["points"].back()["value_us"], 50.0);  // 100 × 500 ns

  // Results stored before histograms were: no curves, not an error.
  json old = doc;
  old["runs"][0].erase("histograms");
  auto old_curves = percentile_curves(old.dump());
  ASSERT_TRUE(old_curves.ok()) << old_curves.error();
  EXPECT_TRUE(json::parse(*old_curves)["runs"][0]["end_to_end"].is_null());

  json broken = doc;
  broken["runs"][0]["histograms"]["publish_ns"] = "h1 n=garbage";
  auto refused = percentile_curves(broken.dump());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("histograms.publish_ns"), std::string::npos) << refused.error();
  EXPECT_NE(refused.error().find(run.run_id), std::string::npos) << refused.error();
  EXPECT_FALSE(percentile_curves("[1, 2]").ok());
}

}  // namespace
}  // namespace dec::report
