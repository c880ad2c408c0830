#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace dec::report
