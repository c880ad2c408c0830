#include "report/summary.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dec::report {
namespace {

using json = nlohmann::json;

json run(const std::string& system, const std::string& status, json delivery, json targets) {
  return {{"run_id", system + "-r"},
          {"system", system},
          {"driver", "redis"},
          {"status", status},
          {"emulated", system == "kinesis"},
          {"point", 1},
          {"repeat", 2},
          {"throughput", {{"consumed_msgs_per_s", 990.5}, {"produced_msgs_per_s", 1000.0}}},
          {"latency_us", {{"p99", 812.3}}},
          {"delivery", delivery},
          {"targets", targets},
          {"timeline", json::array({{{"t_s", 1}}})},
          {"histograms", {{"end_to_end_ns", "x"}}}};
}

TEST(ResultsSummaryTest, CountsRunsDeliveryAndTargetsAsTheHistoryShowsThem) {
  const json ok_delivery = {{"sent", 10}, {"received", 10}, {"lost", 0}, {"redelivered", 3}};
  const json lost = {{"sent", 10}, {"received", 7}, {"lost", 3}};
  const json doc = {
      {"runs", json::array({run("redis", "succeeded", ok_delivery,
                                {{"p99_latency_met", true}, {"min_throughput_met", false}}),
                            run("kinesis", "succeeded", lost, {{"p99_latency_met", nullptr}}),
                            run("nats", "failed", json::object(), json::object())})},
      {"points", json::array({{{"point", 0}}, {{"point", 1}}})},
      {"repeats", 3}};
  const json summary = json::parse(results_summary(doc.dump()));
  EXPECT_EQ(summary["verdict"], "2/3 runs succeeded, 1 with delivery problems, 1 target(s) missed");
  EXPECT_EQ(summary["points"], 2);
  EXPECT_EQ(summary["repeats"], 3);
  ASSERT_EQ(summary["runs"].size(), 3u);
  const json& first = summary["runs"][0];
  EXPECT_EQ(first["run_id"], "redis-r");
  EXPECT_EQ(first["status"], "succeeded");
  EXPECT_EQ(first["point"], 1);
  EXPECT_EQ(first["repeat"], 2);
  EXPECT_DOUBLE_EQ(first["consumed_msgs_per_s"].get<double>(), 990.5);
  EXPECT_DOUBLE_EQ(first["p99_us"].get<double>(), 812.3);
  EXPECT_EQ(first["delivery_ok"], true);   // redelivery is not a delivery problem
  EXPECT_EQ(first["targets_met"], false);  // one of its two targets missed
  EXPECT_EQ(summary["runs"][1]["delivery_ok"], false);
  EXPECT_EQ(summary["runs"][1]["emulated"], true);
  EXPECT_TRUE(summary["runs"][1]["targets_met"].is_null());  // not measured
  EXPECT_TRUE(summary["runs"][2]["targets_met"].is_null());  // no target set
  EXPECT_EQ(summary["runs"][2]["delivery_ok"], false);       // a failed run delivered nothing
  // The summary leaves the heavy parts out.
  EXPECT_EQ(summary["runs"][0].count("timeline"), 0u);
  EXPECT_EQ(summary["runs"][0].count("histograms"), 0u);
}

TEST(ResultsSummaryTest, AllTargetsMetAndNoTargets) {
  const json ok = {{"lost", 0}};
  json doc = {{"runs", json::array({run("a", "succeeded", ok, {{"p99_latency_met", true}})})}};
  EXPECT_EQ(json::parse(results_summary(doc.dump()))["verdict"], "1/1 runs succeeded, targets met");
  doc = {{"runs", json::array({run("a", "succeeded", ok, json::object())})}};
  const json summary = json::parse(results_summary(doc.dump()));
  EXPECT_EQ(summary["verdict"], "1/1 runs succeeded");
  EXPECT_EQ(summary["points"], 1);
  EXPECT_EQ(summary["repeats"], 1);
  EXPECT_EQ(json::parse(results_summary("{\"runs\":[]}"))["verdict"], "");
  EXPECT_EQ(results_summary("not json"), "");
  EXPECT_EQ(results_summary("[1]"), "");
}

}  // namespace
}  // namespace dec::report
