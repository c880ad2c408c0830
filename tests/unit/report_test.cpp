#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/faults.h"
#include "report/results.h"

namespace dec::report {
namespace {

ExperimentResult sample(bool emulated) {
  ExperimentResult result;
  result.id = "20261125-000000-abcd";
  result.experiment = "demo";
  result.targets.p99_latency = std::chrono::milliseconds(1);
  for (int i = 0; i < 2; ++i) {
    RunResult run;
    run.system = i == 0 ? "fast" : "slow";
    run.driver = "redis";
    run.status = "succeeded";
    run.emulated = emulated && i == 1;
    run.engine.produced_msgs_per_s = i == 0 ? 2000 : 1000;
    run.engine.consumed_msgs_per_s = i == 0 ? 2000 : 1000;
    for (int v = 1; v <= 1000; ++v)
      run.engine.end_to_end_latency.record(uint64_t(v) * (i + 1) * 1000);
    run.engine.delivery.sent = 100;
    run.engine.delivery.acked = 100;
    run.engine.delivery.received = 100;
    run.phases_s = {{"provision", 0.1}, {"deploy", 0.01}, {"run", 10}, {"destroy", 0.05}};
    result.runs.push_back(run);
  }
  return result;
}

TEST(Report, JsonHasTheDocumentedShape) {
  auto doc = nlohmann::json::parse(to_json(sample(false)));
  EXPECT_EQ(doc["experiment"], "demo");
  ASSERT_EQ(doc["runs"].size(), 2u);
  const auto& run = doc["runs"][0];
  for (const char* key :
       {"system", "driver", "emulated", "throughput", "latency_us", "delivery", "phases_s"}) {
    EXPECT_TRUE(run.contains(key)) << key;
  }
  for (const char* key : {"produced_msgs_per_s", "consumed_msgs_per_s", "produced_mb_per_s"}) {
    EXPECT_TRUE(run["throughput"].contains(key)) << key;
  }
  for (const char* key : {"p50", "p99", "p999", "max"})
    EXPECT_TRUE(run["latency_us"].contains(key));
  for (const char* key : {"sent", "acked", "received", "lost", "duplicated", "reordered"}) {
    EXPECT_TRUE(run["delivery"].contains(key)) << key;
  }
  EXPECT_NEAR(run["latency_us"]["p50"].get<double>(), 500, 5);
  EXPECT_NEAR(run["latency_us"]["max"].get<double>(), 1000, 10);
  EXPECT_TRUE(run["targets"]["p99_latency_met"].get<bool>());
  EXPECT_FALSE(doc["runs"][1]["targets"]["p99_latency_met"].get<bool>());
  EXPECT_EQ(run["phases_s"]["destroy"].get<double>(), 0.05);
}

TEST(Report, TableComparesSideBySideAndMarksEmulation) {
  auto table = comparison_table(to_json(sample(true)));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("fast"), std::string::npos);
  EXPECT_NE(table->find("slow"), std::string::npos);
  EXPECT_NE(table->find("2,000 *"), std::string::npos) << *table;
  EXPECT_NE(table->find("EMULATED"), std::string::npos) << *table;
  EXPECT_NE(table->find("MISSED"), std::string::npos) << *table;
  auto plain = comparison_table(to_json(sample(false)));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->find("EMULATED"), std::string::npos);
  EXPECT_FALSE(comparison_table("{}").ok());
  EXPECT_FALSE(comparison_table("nope").ok());
}

// ---------------------------------------------------------------------------------------------
// Fault analysis over synthetic timelines: point i ends at t_s = i + 1.

std::vector<load::TimePoint> timeline_of(const std::vector<double>& consumed) {
  std::vector<load::TimePoint> points;
  for (size_t i = 0; i < consumed.size(); ++i) {
    load::TimePoint point;
    point.t_s = static_cast<double>(i + 1);
    point.produced_per_s = 1000;
    point.consumed_per_s = consumed[i];
    points.push_back(point);
  }
  return points;
}

FaultImpact applied_fault(const std::string& action, double at_s, int target = 0) {
  FaultImpact fault;
  fault.at_s = at_s;
  fault.action = action;
  fault.target = target;
  fault.applied = true;
  fault.applied_at_s = at_s + 0.01;  // injection takes a moment
  return fault;
}

TEST(FaultAnalysis, DipAndRecovery) {
  //                                   t=1 .. 10: steady          11   12   13   14 ..
  std::vector<load::TimePoint> timeline = timeline_of(
      {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 100, 150, 950, 1000, 1000});
  timeline[10].lost = 50;  // sent in the second after the kill
  timeline[11].lost = 20;
  timeline[12].duplicated = 3;
  timeline[14].lost = 7;  // after recovery: not this fault's
  const auto faults = analyze_faults(timeline, {applied_fault("kill", 10)});
  ASSERT_EQ(faults.size(), 1u);
  const FaultImpact& kill = faults[0];
  EXPECT_DOUBLE_EQ(kill.throughput_before, 1000);
  EXPECT_DOUBLE_EQ(kill.throughput_min, 100);
  EXPECT_DOUBLE_EQ(kill.dip_pct, 90);
  // Two seconds in a row at >= 900 msg/s start at t = 12 (the point ending at 13).
  ASSERT_TRUE(kill.recovery_s.has_value());
  EXPECT_NEAR(*kill.recovery_s, 12 - 10.01, 1e-9);
  EXPECT_EQ(kill.lost, 70u);
  EXPECT_EQ(kill.duplicated, 3u);
  EXPECT_EQ(kill.action, "kill");  // what the caller filled is kept
  EXPECT_FALSE(kill.ends_fault.has_value());
}

TEST(FaultAnalysis, OneGoodSecondIsNotRecovery) {
  const auto faults = analyze_faults(timeline_of({1000, 1000, 1000, 0, 1000, 0, 1000, 1000}),
                                     {applied_fault("kill", 3)});
  ASSERT_TRUE(faults[0].recovery_s.has_value());
  EXPECT_NEAR(*faults[0].recovery_s, 6 - 3.01, 1e-9);
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 100);
}

TEST(FaultAnalysis, NeverRecovers) {
  std::vector<load::TimePoint> timeline =
      timeline_of({1000, 1000, 1000, 1000, 1000, 700, 400, 400, 400, 400});
  for (size_t i = 5; i < timeline.size(); ++i) timeline[i].lost = 10;
  FaultImpact throttle = applied_fault("throttle", 5.5);
  throttle.bandwidth = 10'000'000;
  const auto faults = analyze_faults(timeline, {throttle});
  EXPECT_DOUBLE_EQ(faults[0].throughput_before, 1000);
  EXPECT_DOUBLE_EQ(faults[0].throughput_min, 400);
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 60);
  EXPECT_FALSE(faults[0].recovery_s.has_value());
  EXPECT_EQ(faults[0].lost, 50u);  // every point from the fault to the end
  EXPECT_EQ(faults[0].bandwidth, 10'000'000u);
}

TEST(FaultAnalysis, BaselineIsAtMostFiveSecondsBefore) {
  const auto faults =
      analyze_faults(timeline_of({100, 100, 2000, 2000, 2000, 2000, 1000, 2000, 2000}),
                     {applied_fault("kill", 7)});
  EXPECT_DOUBLE_EQ(faults[0].throughput_before, (2000 * 4 + 1000) / 5.0);  // t = 3..7
}

TEST(FaultAnalysis, FaultThatWasNotAppliedHasOnlyItsError) {
  FaultImpact failed = applied_fault("disconnect", 4);
  failed.applied = false;
  failed.applied_at_s = 0;
  failed.error = "provider endpoints cannot inject disconnect faults";
  const auto faults = analyze_faults(timeline_of({1000, 1000, 1000, 1000, 0, 0, 0}), {failed});
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].error, "provider endpoints cannot inject disconnect faults");
  EXPECT_DOUBLE_EQ(faults[0].throughput_before, 0);
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 0);
  EXPECT_FALSE(faults[0].recovery_s.has_value());
  EXPECT_EQ(faults[0].lost, 0u);
}

TEST(FaultAnalysis, PauseIsMeasuredThroughItsResume) {
  //                               1     2     3     4     5   6  7  8   9    10    11    12
  std::vector<load::TimePoint> timeline =
      timeline_of({1000, 1000, 1000, 1000, 1000, 0, 0, 0, 500, 2000, 1000, 1000});
  timeline[8].duplicated = 40;
  const auto faults =
      analyze_faults(timeline, {applied_fault("pause", 5, 1), applied_fault("resume", 8, 1)});
  ASSERT_EQ(faults.size(), 2u);
  const FaultImpact& pause = faults[0];
  EXPECT_DOUBLE_EQ(pause.throughput_before, 1000);
  EXPECT_DOUBLE_EQ(pause.throughput_min, 0);
  EXPECT_DOUBLE_EQ(pause.dip_pct, 100);
  // Counted from the resume (8.01): healthy from the point that starts at 9.
  ASSERT_TRUE(pause.recovery_s.has_value());
  EXPECT_NEAR(*pause.recovery_s, 9 - 8.01, 1e-9);
  EXPECT_EQ(pause.duplicated, 40u);
  EXPECT_EQ(faults[1].ends_fault, 0u);
  EXPECT_FALSE(faults[1].recovery_s.has_value());
  EXPECT_DOUBLE_EQ(faults[1].dip_pct, 0);
}

TEST(FaultAnalysis, PairsNeedTheSameNodeAndAnAppliedEnd) {
  FaultImpact failed_resume = applied_fault("resume", 6, 0);
  failed_resume.applied = false;
  const auto faults =
      analyze_faults(timeline_of({1000, 1000, 1000, 0, 0, 0, 0, 0, 1000, 1000}),
                     {applied_fault("disconnect", 3, 0), applied_fault("reconnect", 5, 1),
                      failed_resume, applied_fault("reconnect", 8, 0)});
  EXPECT_FALSE(faults[1].ends_fault.has_value());  // another node
  EXPECT_FALSE(faults[2].ends_fault.has_value());  // not applied, and not the right action
  EXPECT_EQ(faults[3].ends_fault, 0u);
  // The reconnect of node 1 at 5 is a fault of its own, so it ends the disconnect's window.
  EXPECT_FALSE(faults[0].recovery_s.has_value());
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 100);
}

TEST(FaultAnalysis, TheNextFaultEndsTheWindow) {
  std::vector<load::TimePoint> timeline =
      timeline_of({1000, 1000, 1000, 1000, 1000, 0, 0, 0, 0, 1000, 1000, 1000});
  for (auto& point : timeline) point.lost = 1;
  const auto faults =
      analyze_faults(timeline, {applied_fault("kill", 5, 0), applied_fault("kill", 8, 1)});
  EXPECT_FALSE(faults[0].recovery_s.has_value());      // not before the second kill
  EXPECT_EQ(faults[0].lost, 3u);                       // points ending at 6, 7, 8
  EXPECT_DOUBLE_EQ(faults[1].throughput_before, 400);  // t = 4..8
  ASSERT_TRUE(faults[1].recovery_s.has_value());
  EXPECT_NEAR(*faults[1].recovery_s, 9 - 8.01, 1e-9);
  EXPECT_EQ(faults[1].lost, 2u);  // points ending at 9, 10
}

TEST(FaultAnalysis, NoDipNeedsNoRecoveryEvenInAShortWindow) {
  // The next fault comes one second later: too soon for two good seconds, but throughput never
  // fell, so there was nothing to recover from.
  const auto faults = analyze_faults(timeline_of({1000, 1000, 1000, 1000, 990, 1000, 1000}),
                                     {applied_fault("kill", 4, 0), applied_fault("kill", 5, 1)});
  ASSERT_TRUE(faults[0].recovery_s.has_value());
  EXPECT_DOUBLE_EQ(*faults[0].recovery_s, 0.0);
  EXPECT_NEAR(faults[0].dip_pct, 1.0, 1e-9);
}

TEST(FaultAnalysis, FaultInTheFirstSecondHasNoBaseline) {
  const auto faults = analyze_faults(timeline_of({0, 0, 500, 500}), {applied_fault("kill", 0)});
  EXPECT_DOUBLE_EQ(faults[0].throughput_before, 0);
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 0);
}

ExperimentResult with_faults() {
  ExperimentResult result = sample(false);
  result.runs[0].engine.timeline = timeline_of(
      {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 100, 150, 950, 1000, 1000});
  result.runs[0].engine.timeline[10].lost = 120;
  result.runs[0].faults =
      analyze_faults(result.runs[0].engine.timeline, {applied_fault("kill", 10)});
  FaultImpact failed = applied_fault("kill", 10);
  failed.applied = false;
  failed.error = "provider endpoints cannot inject kill faults";
  result.runs[1].faults = {failed};
  return result;
}

TEST(Report, FaultsInJson) {
  auto doc = nlohmann::json::parse(to_json(with_faults()));
  const auto& applied = doc["runs"][0]["faults"];
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0]["action"], "kill");
  EXPECT_EQ(applied[0]["target"], 0);
  EXPECT_TRUE(applied[0]["applied"].get<bool>());
  EXPECT_DOUBLE_EQ(applied[0]["at_s"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(applied[0]["applied_at_s"].get<double>(), 10.01);
  EXPECT_DOUBLE_EQ(applied[0]["throughput_before"].get<double>(), 1000);
  EXPECT_DOUBLE_EQ(applied[0]["throughput_min"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(applied[0]["dip_pct"].get<double>(), 90);
  EXPECT_DOUBLE_EQ(applied[0]["recovery_s"].get<double>(), 1.99);
  EXPECT_EQ(applied[0]["lost"], 120);
  EXPECT_EQ(applied[0]["duplicated"], 0);
  EXPECT_FALSE(applied[0].contains("bandwidth"));

  const auto& failed = doc["runs"][1]["faults"][0];
  EXPECT_FALSE(failed["applied"].get<bool>());
  EXPECT_EQ(failed["error"], "provider endpoints cannot inject kill faults");
  EXPECT_FALSE(failed.contains("dip_pct"));
  EXPECT_FALSE(failed.contains("recovery_s"));

  EXPECT_EQ(doc["runs"][0]["timeline"][10]["lost"], 120);
  EXPECT_TRUE(doc["runs"][0]["timeline"][10].contains("duplicated"));
  EXPECT_TRUE(nlohmann::json::parse(to_json(sample(false)))["runs"][0]["faults"].empty());

  ExperimentResult never = with_faults();
  never.runs[0].faults[0].recovery_s.reset();
  EXPECT_TRUE(
      nlohmann::json::parse(to_json(never))["runs"][0]["faults"][0]["recovery_s"].is_null());
}

TEST(Report, TableHasARowPerFault) {
  auto table = comparison_table(to_json(with_faults()));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("fault 1 kill node 0 @10s"), std::string::npos) << *table;
  EXPECT_NE(table->find("dip 90%, recovered 2.0 s, lost 120"), std::string::npos) << *table;
  EXPECT_NE(table->find("NOT APPLIED (below)"), std::string::npos) << *table;
  EXPECT_NE(table->find("Faults not applied:\n  slow: fault 1 (kill node 0 @10s): provider "
                        "endpoints cannot inject kill faults"),
            std::string::npos)
      << *table;

  // No faults, no rows.
  auto plain = comparison_table(to_json(sample(false)));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->find("fault"), std::string::npos) << *plain;
}

TEST(Report, TableNamesFaultsPerCellWhenSystemsDiffer) {
  ExperimentResult result = with_faults();
  result.runs[1].faults[0] = applied_fault("throttle", 12);
  result.runs[1].faults[0].bandwidth = 10'000'000;
  FaultImpact pause = applied_fault("pause", 3);
  FaultImpact resume = applied_fault("resume", 4);
  result.runs[0].faults = analyze_faults(result.runs[0].engine.timeline, {pause, resume});
  result.runs[1].faults = analyze_faults({}, {result.runs[1].faults[0]});
  auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("pause node 0 @3s: dip 0%, recovered"), std::string::npos) << *table;
  EXPECT_NE(table->find("after resume"), std::string::npos) << *table;
  EXPECT_NE(table->find("throttle node 0 to 10Mbit @12s: dip 0%, not recovered"), std::string::npos)
      << *table;
  EXPECT_NE(table->find("fault 2 resume node 0 @4s"), std::string::npos) << *table;
  EXPECT_NE(table->find("ends fault 1"), std::string::npos) << *table;
}

}  // namespace
}  // namespace dec::report
