#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "report/faults.h"
#include "report/hdr_export.h"
#include "report/results.h"
#include "report/summary.h"

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

// Found by fuzz/results_fuzz.cpp: a results document whose fields have the wrong type (from an
// import or a hand edit) made the readers throw out of the JSON library. Each reader now answers
// with an error that says the document is malformed.
TEST(Report, MalformedDocumentsAreErrorsNotExceptions) {
  for (const char* doc : {R"({"runs": [null]})", R"({"runs": [{"system": 3}]})",
                          R"({"runs": [{"latency_us": "fast"}], "workload": {"consumers": "x"}})",
                          R"({"runs": [1, "two"], "stats": 5})"}) {
    SCOPED_TRACE(doc);
    auto table = comparison_table(doc);
    if (!table.ok()) {
      EXPECT_EQ(table.error().rfind("malformed results document", 0), 0u) << table.error();
    }
    auto csv = export_runs_csv(doc);
    if (!csv.ok()) {
      EXPECT_EQ(csv.error().rfind("malformed results document", 0), 0u) << csv.error();
    }
    auto hlog = export_hdr_log(doc);
    if (!hlog.ok()) {
      EXPECT_EQ(hlog.error().find("json.exception"), std::string::npos) << hlog.error();
    }
    EXPECT_NO_THROW((void)missed_targets(doc));
    EXPECT_NO_THROW((void)results_summary(doc));
  }
  auto table = comparison_table(R"({"runs": [null]})");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error(),
            "malformed results document (a field has the wrong type or shape: cannot use value() "
            "with null)");
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

// Backlog figures and payload compressibility reach the JSON and the table; an unfinished drain
// has no rate (a rate over part of a drain would flatter it).
TEST(Report, BacklogDrainAndPayloadCompressibility) {
  ExperimentResult result = sample(false);
  result.workload.backlog.messages = 3000;
  result.workload.keys = 8;
  result.workload.key_distribution = core::KeyDistribution::kRandom;
  result.workload.payload.random_bytes_ratio = 0.3;
  for (size_t i = 0; i < 2; ++i) {
    load::EngineResult& e = result.runs[i].engine;
    e.payload_compression_ratio = 2.2;
    e.key_seed = 99;
    e.backlog.target_messages = 3000;
    e.backlog.reached = true;
    e.backlog.messages = 3010;
    e.backlog.build_s = 1.5;
    e.backlog.drained = i == 0;
    e.backlog.drain_s = i == 0 ? 0.4 : 10.0;
    e.backlog.consumed_while_draining = i == 0 ? 3800 : 9000;
    e.backlog.drain_msgs_per_s = i == 0 ? 9500 : 0;
  }
  const auto doc = nlohmann::json::parse(to_json(result));
  const auto& drained = doc["runs"][0];
  EXPECT_EQ(drained["payload_compression_ratio"], 2.2);
  EXPECT_EQ(drained["key_seed"], 99);
  EXPECT_EQ(drained["backlog"]["messages"], 3010);
  EXPECT_EQ(drained["backlog"]["drain_msgs_per_s"], 9500.0);
  EXPECT_TRUE(doc["runs"][1]["backlog"]["drain_msgs_per_s"].is_null());
  EXPECT_EQ(doc["workload"]["backlog"]["messages"], 3000);
  EXPECT_EQ(doc["workload"]["key_distribution"], "random");
  EXPECT_EQ(doc["workload"]["payload"]["random_bytes_ratio"], 0.3);

  const auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("payload zlib ratio 2.20:1"), std::string::npos) << *table;
  EXPECT_NE(table->find("latency rows count only messages intended after the backlog drained"),
            std::string::npos)
      << *table;
  EXPECT_NE(table->find("3,010 msgs in 1.50 s"), std::string::npos) << *table;
  EXPECT_NE(table->find("0.40 s"), std::string::npos) << *table;
  EXPECT_NE(table->find("NOT DRAINED in 10.00 s"), std::string::npos) << *table;
  EXPECT_NE(table->find("9,500"), std::string::npos) << *table;
  // Without a backlog there are no backlog rows.
  const auto plain = comparison_table(to_json(sample(false)));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->find("backlog drain"), std::string::npos) << *plain;
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
  timeline[11].undelivered = 4;
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
  EXPECT_EQ(kill.undelivered, 4u);
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
  EXPECT_FALSE(faults[0].recovery_s.has_value());       // not before the second kill
  EXPECT_EQ(faults[0].lost, 3u);                        // points ending at 6, 7, 8
  EXPECT_DOUBLE_EQ(faults[1].throughput_before, 1000);  // before the first fault, t = 1..5
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

// Killing one node of three: 5k/s falls to 3.7k/s for good. A second fault 5 s later must be
// measured against the 5k/s before the faults, not the 3.7k/s the first one left behind (which
// read "dip 9%, recovered 0.0 s").
std::vector<load::TimePoint> one_of_three_killed() {
  std::vector<double> consumed(10, 5000);                                           // t = 1..10
  for (double v : {4000.0, 3700.0, 3700.0, 3700.0, 3700.0}) consumed.push_back(v);  // 11..15
  for (double v : {3400.0, 3700.0, 3700.0, 3700.0, 3700.0}) consumed.push_back(v);  // 16..20
  return timeline_of(consumed);
}

TEST(FaultAnalysis, EveryFaultIsMeasuredAgainstTheSteadyStateBeforeTheFirst) {
  const auto faults = analyze_faults(one_of_three_killed(),
                                     {applied_fault("kill", 10, 0), applied_fault("kill", 15, 1)});
  ASSERT_EQ(faults.size(), 2u);
  EXPECT_DOUBLE_EQ(faults[0].throughput_before, 5000);
  EXPECT_DOUBLE_EQ(faults[0].throughput_min, 3700);
  EXPECT_DOUBLE_EQ(faults[0].dip_pct, 26);
  EXPECT_FALSE(faults[0].recovery_s.has_value());  // 3.7k/s < 90% of 5k/s
  EXPECT_DOUBLE_EQ(faults[1].throughput_before, 5000);
  EXPECT_DOUBLE_EQ(faults[1].throughput_min, 3400);
  EXPECT_DOUBLE_EQ(faults[1].dip_pct, 32);
  EXPECT_FALSE(faults[1].recovery_s.has_value());
}

TEST(FaultAnalysis, WarmupPointsMakeTheBaselineOnlyWithoutMeasuredOnes) {
  // Warm-up ramps up over the first 3 s.
  const auto timeline = timeline_of({100, 200, 300, 1000, 1000, 1000, 1000, 1000});
  EXPECT_DOUBLE_EQ(analyze_faults(timeline, {applied_fault("kill", 5)}, 3)[0].throughput_before,
                   1000);  // t = 4..5 measured; 1..3 are warm-up
  EXPECT_DOUBLE_EQ(analyze_faults(timeline, {applied_fault("kill", 5)})[0].throughput_before,
                   (100 + 200 + 300 + 1000 + 1000) / 5.0);  // no warm-up: all of t = 1..5
  EXPECT_DOUBLE_EQ(analyze_faults(timeline, {applied_fault("kill", 2)}, 3)[0].throughput_before,
                   150);  // nothing measured yet: the warm-up is all there is
}

TEST(Report, TableShowsTheDipFromTheSteadyState) {
  ExperimentResult result = sample(false);
  result.runs[0].engine.timeline = one_of_three_killed();
  result.runs[0].faults = analyze_faults(
      result.runs[0].engine.timeline, {applied_fault("kill", 10, 0), applied_fault("kill", 15, 1)});
  auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_NE(table->find("dip 26%, not recovered"), std::string::npos) << *table;
  EXPECT_NE(table->find("dip 32%, not recovered"), std::string::npos) << *table;
}

ExperimentResult with_faults() {
  ExperimentResult result = sample(false);
  result.runs[0].engine.timeline = timeline_of(
      {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 100, 150, 950, 1000, 1000});
  result.runs[0].engine.timeline[10].lost = 120;
  result.runs[0].engine.timeline[11].undelivered = 30;
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
  EXPECT_EQ(applied[0]["undelivered"], 30);
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
  EXPECT_NE(table->find("dip 90%, recovered 2.0 s, lost 120, undelivered 30"), std::string::npos)
      << *table;
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

// ---------------------------------------------------------------------------------------------
// Window accounting, censoring and the table's honesty rules.

// The cells of the table row labelled `label`, split where two or more spaces separate them;
// a best mark stays with its cell ("2,000 *").
std::vector<std::string> cells_of(const std::string& table, const std::string& label) {
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(label + "  ", 0) != 0) continue;
    std::vector<std::string> cells;
    const std::string rest = line.substr(label.size());
    size_t i = 0;
    while (i < rest.size()) {
      while (i < rest.size() && rest[i] == ' ') ++i;
      size_t end = rest.find("  ", i);
      if (end == std::string::npos) end = rest.size();
      if (end > i) cells.push_back(rest.substr(i, end - i));
      i = end;
    }
    return cells;
  }
  return {};
}

// One cell of that row; "<missing>" when the row or column is not there.
std::string cell(const std::string& table, const std::string& label, size_t column) {
  const auto cells = cells_of(table, label);
  return column < cells.size() ? cells[column] : "<missing>";
}

std::string table_of(const ExperimentResult& result) {
  auto table = comparison_table(to_json(result));
  EXPECT_TRUE(table.ok()) << table.error();
  return table.ok() ? *table : "";
}

// Every run offered `rate` msg/s for 10 s and kept up with it.
void offer_rate(ExperimentResult& result, double rate) {
  result.workload.rate = rate;
  for (auto& run : result.runs) {
    load::WindowAccounting& window = run.engine.window;
    window.offered_per_s = rate;
    window.offered = static_cast<uint64_t>(rate * 10);
    window.sent_on_time = window.offered;
    window.acked = window.offered;
    window.received = window.offered;
    window.rate_sustained = true;
  }
}

// End-to-end latencies 1..1000 us, times `factor`.
void spread_latency(RunResult& run, double factor) {
  run.engine.end_to_end_latency.reset();
  for (int v = 1; v <= 1000; ++v) {
    run.engine.end_to_end_latency.record(static_cast<uint64_t>(v * 1000 * factor));
  }
}

TEST(Report, JsonCarriesWindowCensoringPartitionsClientAndWarnings) {
  ExperimentResult result = sample(false);
  load::EngineResult& e = result.runs[0].engine;
  e.window.offered = 1000;
  e.window.offered_per_s = 100;
  e.window.sent_on_time = 990;
  e.window.sent_late = 6;
  e.window.unsent = 4;
  e.window.max_send_lag_s = 0.25;
  e.window.acked = 995;
  e.window.received = 990;
  e.window.undelivered = 3;
  e.window.lost = 2;
  e.window.rate_sustained = false;
  e.censored_end_to_end = 7;
  e.censored_publish = 4;
  e.delivery.undelivered = 3;
  e.delivery.redelivered = 9;
  e.partitions = {{"dec-topic", 0, 600}, {"dec-topic", 1, 390}};
  load::TimePoint second;
  second.t_s = 1;
  second.lost = 2;
  second.undelivered = 3;
  e.timeline = {second};
  result.runs[0].client = {{"acks", "all"}, {"linger.ms", "5"}};
  result.warnings = {"workload.keys: 2 keys for 4 partitions: 2 partitions get no messages"};

  const auto doc = nlohmann::json::parse(to_json(result));
  const auto& run = doc["runs"][0];
  const auto& window = run["window"];
  EXPECT_EQ(window["offered"], 1000);
  EXPECT_DOUBLE_EQ(window["offered_per_s"].get<double>(), 100);
  EXPECT_EQ(window["sent_on_time"], 990);
  EXPECT_EQ(window["sent_late"], 6);
  EXPECT_EQ(window["unsent"], 4);
  EXPECT_DOUBLE_EQ(window["max_send_lag_ms"].get<double>(), 250);
  EXPECT_EQ(window["acked"], 995);
  EXPECT_EQ(window["received"], 990);
  EXPECT_EQ(window["undelivered"], 3);
  EXPECT_EQ(window["lost"], 2);
  EXPECT_EQ(window["rate_sustained"], false);
  // No rate offered: nothing was sustained or not.
  EXPECT_TRUE(doc["runs"][1]["window"]["rate_sustained"].is_null());
  EXPECT_EQ(run["latency_us"]["censored"], 7);
  EXPECT_EQ(run["publish_latency_us"]["censored"], 4);
  EXPECT_EQ(doc["runs"][1]["latency_us"]["censored"], 0);
  EXPECT_EQ(run["delivery"]["undelivered"], 3);
  EXPECT_EQ(run["delivery"]["redelivered"], 9);
  ASSERT_EQ(run["timeline"].size(), 1u);
  EXPECT_EQ(run["timeline"][0]["lost"], 2);
  EXPECT_EQ(run["timeline"][0]["undelivered"], 3);
  ASSERT_EQ(run["partitions"].size(), 2u);
  EXPECT_EQ(run["partitions"][1]["topic"], "dec-topic");
  EXPECT_EQ(run["partitions"][1]["partition"], 1);
  EXPECT_EQ(run["partitions"][1]["received"], 390);
  EXPECT_EQ(run["client"]["acks"], "all");
  EXPECT_EQ(run["client"]["linger.ms"], "5");
  EXPECT_TRUE(doc["runs"][1]["client"].is_object());
  ASSERT_EQ(doc["warnings"].size(), 1u);
  EXPECT_EQ(doc["warnings"][0], result.warnings[0]);
  // What was there before stays.
  for (const char* key : {"throughput", "latency_us", "delivery", "timeline", "histograms"}) {
    EXPECT_TRUE(run.contains(key)) << key;
  }
}

TEST(Report, ThroughputTargetNeedsTheOfferedRateSustained) {
  ExperimentResult result = sample(false);
  result.targets.min_throughput = 500;
  offer_rate(result, 2000);
  result.runs[0].engine.window.rate_sustained = false;
  const auto doc = nlohmann::json::parse(to_json(result));
  EXPECT_FALSE(doc["runs"][0]["targets"]["min_throughput_met"].get<bool>());  // 2,000 >= 500
  EXPECT_TRUE(doc["runs"][1]["targets"]["min_throughput_met"].get<bool>());
}

TEST(Report, CensoredP99AboveTheTargetIsAMiss) {
  ExperimentResult result = sample(false);  // target p99 1 ms
  load::EngineResult& e = result.runs[0].engine;
  e.end_to_end_latency.reset();
  e.end_to_end_latency.record_n(100'000, 980);        // 100 us
  e.end_to_end_latency.record_n(10'000'000'000, 20);  // not received: at least 10 s
  e.censored_end_to_end = 20;
  const auto doc = nlohmann::json::parse(to_json(result));
  EXPECT_FALSE(doc["runs"][0]["targets"]["p99_latency_met"].get<bool>());
}

TEST(Table, RunsThatDidNotRunShowNoFigures) {
  ExperimentResult result = sample(false);
  result.runs[1].status = "failed";
  result.runs[1].error = "connection refused";
  result.runs[1].engine = {};
  std::string table = table_of(result);
  for (const char* label : {"produced msg/s", "consumed MB/s", "latency p50", "latency max",
                            "publish p99", "sent / received", "delivery check"}) {
    const auto cells = cells_of(table, label);
    ASSERT_EQ(cells.size(), 2u) << label << "\n" << table;
    EXPECT_EQ(cells[1], "-") << label << "\n" << table;
  }
  EXPECT_EQ(cell(table, "delivery check", 0), "ok") << table;
  // Succeeded, but not one latency sample: nothing was measured either.
  result.runs[1].status = "succeeded";
  result.runs[1].error = "";
  table = table_of(result);
  EXPECT_EQ(cell(table, "latency p99", 1), "-") << table;
  EXPECT_EQ(cell(table, "delivery check", 1), "-") << table;
}

TEST(Table, ProduceOnlyRunsHaveNoConsumerFigures) {
  ExperimentResult result = sample(false);
  result.workload.consumers = 0;
  for (auto& run : result.runs) {
    run.engine.end_to_end_latency.reset();
    run.engine.publish_latency.record(2'000'000);
    run.engine.consumed_msgs_per_s = 0;
    run.engine.delivery.received = 0;
  }
  const std::string table = table_of(result);
  for (const char* label :
       {"consumed msg/s", "consumed MB/s", "latency p50", "latency p99", "delivery check"}) {
    EXPECT_EQ(cells_of(table, label), (std::vector<std::string>{"-", "-"})) << label << table;
  }
  EXPECT_EQ(cell(table, "publish p99", 0), "2.00 ms") << table;
  EXPECT_EQ(cell(table, "sent / received", 0), "100 / -") << table;
  EXPECT_EQ(cell(table, "produced msg/s", 0), "2,000 *") << table;
  EXPECT_NE(table.find("0 consumers (produce-only)"), std::string::npos) << table;
}

TEST(Table, CensoredPercentilesAreLowerBounds) {
  ExperimentResult result = sample(false);
  load::EngineResult& e = result.runs[0].engine;
  e.end_to_end_latency.reset();
  e.end_to_end_latency.record_n(1'000'000, 980);      // 1 ms
  e.end_to_end_latency.record_n(10'200'000'000, 20);  // not received by the deadline
  e.censored_end_to_end = 20;
  std::string table = table_of(result);
  EXPECT_EQ(cell(table, "latency p90", 0), "1.00 ms") << table;
  EXPECT_EQ(cell(table, "latency p99", 0).rfind(">= 10.", 0), 0u) << table;  // rank 990
  EXPECT_EQ(cell(table, "latency p99.9", 0).rfind(">= 10.", 0), 0u) << table;
  EXPECT_EQ(cell(table, "latency max", 0).rfind(">= 10.", 0), 0u) << table;
  EXPECT_EQ(cell(table, "latency max", 1), "2.00 ms") << table;  // nothing censored there
  EXPECT_NE(table.find(">= a lower bound"), std::string::npos) << table;

  // Five censored samples of 1,000 bound only the ranks above 995.
  e.end_to_end_latency.reset();
  e.end_to_end_latency.record_n(1'000'000, 995);
  e.end_to_end_latency.record_n(10'200'000'000, 5);
  e.censored_end_to_end = 5;
  table = table_of(result);
  EXPECT_EQ(cell(table, "latency p99", 0), "1.00 ms") << table;
  EXPECT_EQ(cell(table, "latency p99.9", 0).rfind(">= 10.", 0), 0u) << table;
  EXPECT_EQ(cell(table, "latency max", 0).rfind(">= ", 0), 0u) << table;

  EXPECT_EQ(table_of(sample(false)).find(">="), std::string::npos);
}

TEST(Table, OfferedRateAndWhetherItWasSustained) {
  ExperimentResult result = sample(false);
  std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "offered msg/s"), (std::vector<std::string>{"max", "max"})) << table;
  EXPECT_TRUE(cells_of(table, "rate sustained").empty()) << table;  // no rate, nothing to hold

  offer_rate(result, 20000);
  load::WindowAccounting& behind = result.runs[1].engine.window;
  behind.sent_late = 24000;
  behind.unsent = 4751;
  behind.sent_on_time = behind.offered - behind.sent_late - behind.unsent;
  behind.rate_sustained = false;
  table = table_of(result);
  EXPECT_EQ(cells_of(table, "offered msg/s"), (std::vector<std::string>{"20,000", "20,000"}));
  EXPECT_EQ(cells_of(table, "offered / sent late / unsent"),
            (std::vector<std::string>{"200,000 / 0 / 0", "200,000 / 24,000 / 4,751"}))
      << table;
  EXPECT_EQ(cells_of(table, "rate sustained"),
            (std::vector<std::string>{"yes", "NO: 4,751 unsent, 12% late"}))
      << table;

  // Everything sent on time, but the system acknowledged only 1,000 of 20,000 msg/s.
  behind.sent_late = 0;
  behind.unsent = 0;
  table = table_of(result);
  EXPECT_EQ(cell(table, "rate sustained", 1), "NO: acked 5.0% of the rate") << table;
}

// Throughput counts every completion in the window; a visible share of warm-up backlog in it
// is pointed out, and a negligible one is not.
TEST(Table, WarmupBacklogInTheWindowIsPointedOut) {
  ExperimentResult result = sample(false);
  for (auto& run : result.runs) run.engine.measured_seconds = 10;
  result.runs[0].engine.window.warmup_received_in_window = 100;  // 0.5% of 20,000: noise
  std::string table = table_of(result);
  EXPECT_TRUE(cells_of(table, "of which intended in warm-up").empty()) << table;
  result.runs[1].engine.window.warmup_received_in_window = 5000;  // half of its 10,000
  table = table_of(result);
  EXPECT_EQ(cells_of(table, "of which intended in warm-up"),
            (std::vector<std::string>{"none", "0 acked / 5,000 received"}))
      << table;

  // A run still working off warm-up backlog completes more than the offered rate for a while:
  // its throughput is not marked best (3,000 msg/s vs the settled run's 2,000).
  result.runs[1].engine.consumed_msgs_per_s = 3000;
  result.runs[1].engine.produced_msgs_per_s = 3000;
  result.runs[1].engine.window.warmup_received_in_window = 15000;
  table = table_of(result);
  EXPECT_EQ(cells_of(table, "consumed msg/s"), (std::vector<std::string>{"2,000", "3,000"}))
      << table;
  result.runs[1].engine.window.warmup_received_in_window = 1000;  // 3%: in flight, settled
  table = table_of(result);
  EXPECT_EQ(cells_of(table, "consumed msg/s"), (std::vector<std::string>{"2,000", "3,000 *"}))
      << table;
}

TEST(Table, DeliveryCheckTellsIncompleteFromFailed) {
  ExperimentResult result = sample(false);
  result.runs[0].engine.delivery.undelivered = 24176;
  result.runs[1].engine.delivery.redelivered = 120;
  std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "delivery check"),
            (std::vector<std::string>{"incomplete: 24,176 undelivered at deadline",
                                      "ok, 120 redelivered"}))
      << table;
  result.runs[1].engine.delivery.lost = 3;
  result.runs[1].engine.delivery.undelivered = 5;
  table = table_of(result);
  EXPECT_EQ(cell(table, "delivery check", 1), "FAILED: 3 lost, 5 undelivered, 120 redelivered")
      << table;
}

TEST(Table, PartitionSpreadShowsSkew) {
  ExperimentResult result = sample(false);
  EXPECT_TRUE(cells_of(table_of(result), "min/max per partition").empty());
  result.workload.partitions = 4;
  // Partition 3 received nothing, so the engine has no entry for it.
  result.runs[0].engine.partitions = {
      {"dec-topic", 0, 15000}, {"dec-topic", 1, 15000}, {"dec-topic", 2, 15000}};
  for (int p = 0; p < 4; ++p) result.runs[1].engine.partitions.push_back({"dec-topic", p, 11250});
  const std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "min/max per partition"),
            (std::vector<std::string>{"0 / 15,000 over 4, SKEWED", "11,250 / 11,250 over 4"}))
      << table;
}

TEST(Table, KinesisReadThrottlingAndClientSettingsHaveRows) {
  ExperimentResult result = sample(false);
  result.runs[1].counters = {{"kinesis.get_throttled", 7}};
  result.runs[0].client = {{"acks", "all"}, {"linger.ms", "5"}};
  result.runs[1].client = {{"pipeline", "16"}};
  const std::string table = table_of(result);
  // Only one run reports it: nothing to compare, so no mark.
  EXPECT_EQ(cells_of(table, "throttled reads"), (std::vector<std::string>{"-", "7"})) << table;
  EXPECT_TRUE(cells_of(table, "throttled requests").empty()) << table;
  EXPECT_EQ(cells_of(table, "client acks"), (std::vector<std::string>{"all", "-"})) << table;
  result.runs[1].counters = {{"kinesis.throttled_requests", 0},
                             {"kinesis.throttled_records", 2500},
                             {"kinesis.retried_records", 2500}};
  const std::string throttled = table_of(result);
  EXPECT_EQ(cells_of(throttled, "throttled records"), (std::vector<std::string>{"-", "2,500"}))
      << throttled;
  EXPECT_EQ(cells_of(table, "client linger.ms"), (std::vector<std::string>{"5", "-"})) << table;
  EXPECT_EQ(cells_of(table, "client pipeline"), (std::vector<std::string>{"-", "16"})) << table;
}

TEST(Table, NoBestMarkForARunThatFailedDelivery) {
  ExperimentResult result = sample(false);
  result.runs[0].engine.delivery.duplicated = 5;
  const std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "produced msg/s"), (std::vector<std::string>{"2,000", "1,000"}))
      << table;
  EXPECT_EQ(cell(table, "delivery check", 0), "FAILED: 5 dup") << table;
}

TEST(Table, NoBestMarkForARunThatFellBehindTheRate) {
  ExperimentResult result = sample(false);
  offer_rate(result, 2000);
  result.runs[0].engine.window.unsent = 500;
  result.runs[0].engine.window.rate_sustained = false;
  std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "consumed msg/s"), (std::vector<std::string>{"2,000", "1,000"}))
      << table;
  EXPECT_EQ(cells_of(table, "latency p50"), (std::vector<std::string>{"501 us", "1.00 ms"}))
      << table;
  result.runs[0].engine.window.rate_sustained = true;
  table = table_of(result);
  EXPECT_EQ(cell(table, "consumed msg/s", 0), "2,000 *") << table;
  EXPECT_EQ(cell(table, "latency p50", 0), "501 us *") << table;
}

TEST(Table, LatencyIsMarkedOnlyAtAFixedRate) {
  ExperimentResult result = sample(false);  // rate 0
  std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "latency p50"), (std::vector<std::string>{"501 us", "1.00 ms"}))
      << table;
  EXPECT_EQ(cells_of(table, "latency max"), (std::vector<std::string>{"1.00 ms", "2.00 ms"}))
      << table;
  EXPECT_NE(table.find("No latency marks at max rate"), std::string::npos) << table;
  offer_rate(result, 2000);
  table = table_of(result);
  EXPECT_EQ(cell(table, "latency p50", 0), "501 us *") << table;
  EXPECT_EQ(table.find("No latency marks at max rate"), std::string::npos) << table;
}

TEST(Table, DifferencesWithinNoiseAreNotMarked) {
  ExperimentResult result = sample(false);
  offer_rate(result, 2000);
  result.runs[1].engine.produced_msgs_per_s = 1970;  // 1.5% behind
  result.runs[1].engine.consumed_msgs_per_s = 1950;  // 2.6% behind
  spread_latency(result.runs[1], 1.03);              // 3% slower
  std::string table = table_of(result);
  EXPECT_EQ(cells_of(table, "produced msg/s"), (std::vector<std::string>{"2,000", "1,970"}))
      << table;
  EXPECT_EQ(cell(table, "consumed msg/s", 0), "2,000 *") << table;
  EXPECT_EQ(cell(table, "latency p50", 0), "501 us") << table;
  spread_latency(result.runs[1], 1.08);  // 8% slower
  table = table_of(result);
  EXPECT_EQ(cell(table, "latency p50", 0), "501 us *") << table;
  EXPECT_NE(table.find("* best in row, beyond noise"), std::string::npos) << table;
}

TEST(Table, WarningsArePrintedUnderTheTable) {
  ExperimentResult result = sample(false);
  result.warnings = {"workload.keys: 2 keys for 4 partitions: 2 partitions get no messages"};
  EXPECT_NE(table_of(result).find("\nWarnings:\n  workload.keys: 2 keys for 4 partitions: 2 "
                                  "partitions get no messages\n"),
            std::string::npos);
  EXPECT_EQ(table_of(sample(false)).find("Warnings"), std::string::npos);
}

}  // namespace
}  // namespace dec::report
