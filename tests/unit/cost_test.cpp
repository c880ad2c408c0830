// Cost estimates: the arithmetic of every model against figures worked out by hand from the
// shipped list prices (core/prices.cpp), spec prices replacing them, and the estimate reaching the
// results JSON and both tables, always labelled an estimate.
#include "report/cost.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/prices.h"
#include "report/results.h"

namespace dec::report {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kKinesisPage = "https://aws.amazon.com/kinesis/data-streams/pricing/";

core::Spec spec_with(const std::string& driver, int nodes = 1) {
  core::Spec spec;
  spec.name = "cost";
  core::System system;
  system.name = "sut";
  system.driver = driver;
  system.deploy.nodes = nodes;
  spec.systems.push_back(system);
  return spec;
}

// `measured_s` of 10 s at these rates.
load::EngineResult measured(double produced_per_s, double consumed_per_s) {
  load::EngineResult engine;
  engine.measured_seconds = 10;
  engine.produced_msgs_per_s = produced_per_s;
  engine.consumed_msgs_per_s = consumed_per_s;
  return engine;
}

CostEstimate estimate(const core::Spec& spec, const load::EngineResult& engine) {
  std::optional<CostEstimate> cost = estimate_cost(spec, spec.systems[0], engine);
  EXPECT_TRUE(cost.has_value());
  return cost.value_or(CostEstimate{});
}

TEST(CostEstimate, KinesisProvisionedIsShardHoursPlusPutPayloadUnits) {
  core::Spec spec = spec_with("kinesis");
  spec.workload.partitions = 4;
  spec.workload.message_size = 1024;
  const CostEstimate cost = estimate(spec, measured(1000, 1000));
  EXPECT_EQ(cost.model, "kinesis-provisioned");
  // 4 shards x $0.015 = $0.06/h; 1 KiB records are 1 PUT payload unit each: 1,000/s x 3,600 s =
  // 3.6 million units/h x $0.014 = $0.0504/h. Total $0.1104/h for 3.6 million messages/h.
  ASSERT_EQ(cost.items.size(), 2u);
  EXPECT_EQ(cost.items[0].name, "shards");
  EXPECT_DOUBLE_EQ(cost.items[0].quantity_per_hour, 4);
  EXPECT_DOUBLE_EQ(cost.items[0].unit_price_usd, 0.015);
  EXPECT_NEAR(cost.items[0].usd_per_hour, 0.06, 1e-12);
  EXPECT_EQ(cost.items[1].name, "PUT payload units");
  EXPECT_NEAR(cost.items[1].quantity_per_hour, 3.6, 1e-12);
  EXPECT_NEAR(cost.items[1].usd_per_hour, 0.0504, 1e-12);
  EXPECT_NEAR(cost.per_hour_usd, 0.1104, 1e-12);
  EXPECT_NEAR(cost.per_million_messages_usd, 0.1104 / 3.6, 1e-12);  // $0.030667
  EXPECT_DOUBLE_EQ(cost.messages_per_s, 1000);
  EXPECT_EQ(cost.region, "us-east-1");
  EXPECT_EQ(cost.prices_date, core::shipped_prices().date);
  EXPECT_THAT(cost.sources, ElementsAre(kKinesisPage));
}

TEST(CostEstimate, KinesisPutPayloadUnitsRoundUpPer25KiBAndShardsCountEveryStream) {
  core::Spec spec = spec_with("kinesis");
  spec.workload.topics = 2;
  spec.workload.partitions = 3;
  spec.workload.message_size = 25 * 1024;  // exactly one unit
  CostEstimate cost = estimate(spec, measured(100, 100));
  EXPECT_DOUBLE_EQ(cost.items[0].quantity_per_hour, 6);  // 2 streams x 3 shards
  EXPECT_NEAR(cost.items[1].quantity_per_hour, 0.36, 1e-12);
  spec.workload.message_size = 25 * 1024 + 1;  // one byte more: two units per record
  cost = estimate(spec, measured(100, 100));
  EXPECT_NEAR(cost.items[1].quantity_per_hour, 0.72, 1e-12);
  // 6 x $0.015 + 0.72 x $0.014 = $0.09 + $0.01008; 360,000 messages/h.
  EXPECT_NEAR(cost.per_hour_usd, 0.10008, 1e-12);
  EXPECT_NEAR(cost.per_million_messages_usd, 0.10008 / 0.36, 1e-12);
}

TEST(CostEstimate, KinesisOnDemandIsStreamHoursPlusGigabytesWrittenAndRead) {
  core::Spec spec = spec_with("kinesis");
  spec.systems[0].config["stream_mode"] = "ON_DEMAND";  // the default model follows the mode
  spec.workload.message_size = 1500;                    // billed as 2 KiB
  spec.workload.consumer_groups = 2;
  const CostEstimate cost = estimate(spec, measured(1000, 1000));
  EXPECT_EQ(cost.model, "kinesis-on-demand");
  // Written: 1,000/s x 2,048 B x 3,600 s = 7,372,800,000 B = 6.866455078125 GiB x $0.08
  // = $0.54931640625/h. Read by 2 groups: 13.73291015625 GB x $0.04 = $0.54931640625/h.
  // Plus 1 stream x $0.04/h.
  ASSERT_EQ(cost.items.size(), 3u);
  EXPECT_DOUBLE_EQ(cost.items[0].usd_per_hour, 0.04);
  EXPECT_NEAR(cost.items[1].quantity_per_hour, 6.866455078125, 1e-12);
  EXPECT_NEAR(cost.items[1].usd_per_hour, 0.54931640625, 1e-12);
  EXPECT_NEAR(cost.items[2].quantity_per_hour, 13.73291015625, 1e-12);
  EXPECT_NEAR(cost.items[2].usd_per_hour, 0.54931640625, 1e-12);
  EXPECT_NEAR(cost.per_hour_usd, 1.1386328125, 1e-12);
  EXPECT_NEAR(cost.per_million_messages_usd, 1.1386328125 / 3.6, 1e-12);

  // The same model chosen in the spec for a provisioned stream: what on-demand would cost.
  spec.systems[0].config.clear();
  spec.pricing.systems["sut"].model = core::PricingModel::kKinesisOnDemand;
  EXPECT_NEAR(estimate(spec, measured(1000, 1000)).per_hour_usd, 1.1386328125, 1e-12);
}

TEST(CostEstimate, MskIsBrokerHoursPlusStorageProratedFromGbMonths) {
  core::Spec spec = spec_with("kafka", 3);
  core::SystemPricing& pricing = spec.pricing.systems["sut"];
  pricing.model = core::PricingModel::kMsk;
  pricing.storage_gb = 100;
  const CostEstimate cost = estimate(spec, measured(50000, 50000));
  EXPECT_EQ(cost.model, "msk");
  // 3 x kafka.m5.large $0.21 = $0.63/h; 3 x 100 GB / 730 h x $0.10 = $0.0410959/h.
  ASSERT_EQ(cost.items.size(), 2u);
  EXPECT_EQ(cost.items[0].name, "brokers (kafka.m5.large)");
  EXPECT_NEAR(cost.items[0].usd_per_hour, 0.63, 1e-12);
  EXPECT_NEAR(cost.items[1].quantity_per_hour, 300.0 / 730, 1e-12);
  EXPECT_NEAR(cost.items[1].usd_per_hour, 30.0 / 730, 1e-12);
  EXPECT_NEAR(cost.per_hour_usd, 0.63 + 30.0 / 730, 1e-12);
  // 50,000/s = 180 million messages/h.
  EXPECT_NEAR(cost.per_million_messages_usd, (0.63 + 30.0 / 730) / 180, 1e-12);
  EXPECT_TRUE(cost.notes.empty());

  // A larger broker type, and no storage: counted as nothing, and said so.
  pricing.instance_type = "kafka.m5.xlarge";
  pricing.storage_gb.reset();
  const CostEstimate larger = estimate(spec, measured(50000, 50000));
  EXPECT_NEAR(larger.per_hour_usd, 1.26, 1e-12);
  EXPECT_THAT(larger.notes, ElementsAre(HasSubstr("pricing.systems.sut.storage_gb")));
}

TEST(CostEstimate, SelfManagedIsNodesTimesTheInstancePrice) {
  core::Spec spec = spec_with("redis", 3);
  // Default: m5.large at $0.096: 3 x $0.096 = $0.288/h; 100,000/s = 360 million/h.
  CostEstimate cost = estimate(spec, measured(100000, 100000));
  EXPECT_EQ(cost.model, "self-managed");
  EXPECT_EQ(cost.items[0].name, "instances (m5.large)");
  EXPECT_NEAR(cost.per_hour_usd, 0.288, 1e-12);
  EXPECT_NEAR(cost.per_million_messages_usd, 0.0008, 1e-12);

  // Top-level defaults: another type from the table, or a price of one's own.
  spec.pricing.instance_type = "c5.large";
  EXPECT_NEAR(estimate(spec, measured(100000, 100000)).per_hour_usd, 0.255, 1e-12);
  spec.pricing.instance_hour = 0.1;
  cost = estimate(spec, measured(100000, 100000));
  EXPECT_NEAR(cost.per_hour_usd, 0.3, 1e-12);
  EXPECT_EQ(cost.items[0].source, "spec pricing.instance_hour");
  EXPECT_EQ(cost.prices_date, "");  // no shipped price used

  // A system's own type brings its own (table) price, not the top-level one.
  core::SystemPricing& own = spec.pricing.systems["sut"];
  own.instance_type = "r5.large";
  EXPECT_NEAR(estimate(spec, measured(100000, 100000)).per_hour_usd, 3 * 0.126, 1e-12);
  own.instance_hour = 0.5;
  EXPECT_NEAR(estimate(spec, measured(100000, 100000)).per_hour_usd, 1.5, 1e-12);
  // Or a type the table does not know, with its price.
  own.instance_type = "my-own-box";
  cost = estimate(spec, measured(100000, 100000));
  EXPECT_EQ(cost.items[0].name, "instances (my-own-box)");
  EXPECT_EQ(cost.items[0].unit, "instance-hour");
  EXPECT_NEAR(cost.per_hour_usd, 1.5, 1e-12);

  // Disks: 3 x 200 GB gp3 at $0.08/GB-month = 48 / 730 per hour.
  own.storage_gb = 200;
  cost = estimate(spec, measured(100000, 100000));
  ASSERT_EQ(cost.items.size(), 2u);
  EXPECT_NEAR(cost.items[1].usd_per_hour, 48.0 / 730, 1e-12);
  EXPECT_NEAR(cost.per_hour_usd, 1.5 + 48.0 / 730, 1e-12);
}

TEST(CostEstimate, SpecPricesReplaceTheTableAndNameTheirField) {
  core::Spec spec = spec_with("kinesis");
  core::SystemPricing& pricing = spec.pricing.systems["sut"];
  pricing.shard_hour = 0.02;
  const CostEstimate cost = estimate(spec, measured(1000, 1000));
  EXPECT_DOUBLE_EQ(cost.items[0].unit_price_usd, 0.02);
  EXPECT_EQ(cost.items[0].source, "spec pricing.systems.sut.shard_hour");
  EXPECT_EQ(cost.items[1].source, kKinesisPage);
  EXPECT_NEAR(cost.per_hour_usd, 0.02 + 0.0504, 1e-12);
  EXPECT_THAT(cost.sources, ElementsAre("spec pricing.systems.sut.shard_hour", kKinesisPage));
}

TEST(CostEstimate, UsesTheConsumedRateOrTheProducedOneWithoutConsumers) {
  core::Spec spec = spec_with("redis");
  // Consumers fell behind: the messages delivered are what the money bought.
  EXPECT_DOUBLE_EQ(estimate(spec, measured(2000, 1000)).messages_per_s, 1000);
  spec.workload.consumers = 0;
  EXPECT_DOUBLE_EQ(estimate(spec, measured(2000, 0)).messages_per_s, 2000);
}

TEST(CostEstimate, NoneWithoutMeasuredMessages) {
  core::Spec spec = spec_with("redis");
  EXPECT_FALSE(estimate_cost(spec, spec.systems[0], measured(1000, 0)).has_value());
  load::EngineResult not_measured = measured(1000, 1000);
  not_measured.measured_seconds = 0;
  EXPECT_FALSE(estimate_cost(spec, spec.systems[0], not_measured).has_value());
  // An unknown instance type without a price (a spec that skipped validation): no guess.
  spec.pricing.instance_type = "x9.huge";
  EXPECT_FALSE(estimate_cost(spec, spec.systems[0], measured(1000, 1000)).has_value());
}

TEST(PriceTable, EveryEntryHasAPositivePriceAUnitAndAPage) {
  const core::PriceTable& table = core::shipped_prices();
  EXPECT_EQ(table.region, "us-east-1");
  EXPECT_EQ(table.date.size(), 7u);  // YYYY-MM
  for (const core::ListPrice& price : table.prices) {
    SCOPED_TRACE(std::string(price.service) + " " + std::string(price.item));
    EXPECT_GT(price.usd, 0);
    EXPECT_FALSE(price.unit.empty());
    EXPECT_TRUE(price.source.starts_with("https://aws.amazon.com/"));
  }
  for (const char* item :
       {"shard-hour", "million-put-units", "stream-hour", "gb-written", "gb-read"}) {
    EXPECT_NE(table.find("kinesis", item), nullptr) << item;
  }
  EXPECT_NE(table.find("msk", "kafka.m5.large"), nullptr);
  EXPECT_NE(table.find("msk", "storage"), nullptr);
  EXPECT_NE(table.find("ec2", "m5.large"), nullptr);
  EXPECT_NE(table.find("ebs", "gp3"), nullptr);
}

// ---- Results: JSON and tables ------------------------------------------------------------------

RunResult priced_run(const std::string& system, const core::Spec& spec, double rate) {
  RunResult run;
  run.run_id = "exp." + system;
  run.system = system;
  run.driver = spec.systems[0].driver;
  run.status = "succeeded";
  run.engine = measured(rate, rate);
  for (int v = 0; v < 100; ++v) run.engine.end_to_end_latency.record(1000000);
  run.cost = estimate_cost(spec, spec.systems[0], run.engine);
  return run;
}

ExperimentResult kinesis_and_redis() {
  ExperimentResult result;
  result.id = "exp";
  result.experiment = "cost";
  core::Spec kinesis = spec_with("kinesis");
  kinesis.workload.partitions = 4;
  result.runs.push_back(priced_run("kinesis", kinesis, 1000));  // $0.1104/h, $0.030667/1M
  result.runs.push_back(priced_run("redis", spec_with("redis", 3), 100000));  // $0.288, $0.0008
  return result;
}

TEST(CostResults, JsonCarriesTheEstimateItemizedAndLabelled) {
  const auto doc = nlohmann::json::parse(to_json(kinesis_and_redis()));
  const auto& cost = doc["runs"][0]["cost"];
  EXPECT_EQ(cost["estimate"], true);
  EXPECT_EQ(cost["model"], "kinesis-provisioned");
  EXPECT_DOUBLE_EQ(cost["per_hour_usd"].get<double>(), 0.1104);
  EXPECT_DOUBLE_EQ(cost["per_million_messages_usd"].get<double>(), 0.0306667);
  ASSERT_EQ(cost["items"].size(), 2u);
  EXPECT_EQ(cost["items"][1]["item"], "PUT payload units");
  EXPECT_EQ(cost["items"][1]["unit"], "million PUT payload units (25 KiB)");
  EXPECT_DOUBLE_EQ(cost["items"][1]["usd_per_hour"].get<double>(), 0.0504);
  EXPECT_EQ(cost["prices"]["region"], "us-east-1");
  EXPECT_EQ(cost["prices"]["date"], std::string(core::shipped_prices().date));
  EXPECT_EQ(cost["prices"]["sources"][0], kKinesisPage);
  EXPECT_DOUBLE_EQ(doc["runs"][1]["cost"]["per_million_messages_usd"].get<double>(), 0.0008);
}

TEST(CostResults, FailedRunsHaveNoCost) {
  ExperimentResult result = kinesis_and_redis();
  result.runs[1].status = "failed";
  const auto doc = nlohmann::json::parse(to_json(result));
  EXPECT_TRUE(doc["runs"][0].contains("cost"));
  EXPECT_FALSE(doc["runs"][1].contains("cost"));
}

TEST(CostResults, TableHasEstimateRowsTheBillAndThePricesSource) {
  const auto table = comparison_table(to_json(kinesis_and_redis()));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_THAT(*table, HasSubstr("cost/hour (estimate)"));
  EXPECT_THAT(*table, HasSubstr("cost/1M msgs (estimate)"));
  EXPECT_THAT(*table, HasSubstr("$0.11 "));     // kinesis per hour
  EXPECT_THAT(*table, HasSubstr("$0.0307"));    // kinesis per million
  EXPECT_THAT(*table, HasSubstr("$0.0008 *"));  // redis per million: the best
  EXPECT_THAT(*table, HasSubstr("Cost: ESTIMATES at each run's measured rate, not quotes"));
  EXPECT_THAT(*table, HasSubstr("  kinesis: kinesis-provisioned at 1,000 msg/s = $0.11/h\n"
                                "    shards 4 × $0.015/shard-hour = $0.06/h\n"
                                "    PUT payload units 3.6 × $0.014/million PUT payload units "
                                "(25 KiB) = $0.0504/h\n"));
  EXPECT_THAT(*table, HasSubstr("  redis: self-managed at 100,000 msg/s = $0.288/h\n"
                                "    instances (m5.large) 3 × $0.096/instance-hour = $0.288/h\n"));
  EXPECT_THAT(*table, HasSubstr("storage not counted: set pricing.systems.sut.storage_gb"));
  EXPECT_THAT(*table, HasSubstr("Prices: AWS us-east-1 list prices as of " +
                                std::string(core::shipped_prices().date)));
  EXPECT_THAT(*table, HasSubstr("\n    " + std::string(kKinesisPage) + "\n"));
  EXPECT_THAT(*table, HasSubstr("set pricing: in the spec to use your own"));

  // Without an estimate there are no cost rows.
  ExperimentResult unpriced = kinesis_and_redis();
  for (RunResult& run : unpriced.runs) run.cost.reset();
  const auto plain = comparison_table(to_json(unpriced));
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(*plain, Not(HasSubstr("estimate")));
}

TEST(CostResults, TableSaysWhichPricesCameFromTheSpec) {
  core::Spec spec = spec_with("redis", 2);
  spec.pricing.instance_hour = 0.05;
  ExperimentResult result;
  result.runs.push_back(priced_run("redis", spec, 1000));
  const auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_THAT(*table,
              HasSubstr("    instances (m5.large) 2 × $0.05/instance-hour = $0.10/h (spec)"));
  EXPECT_THAT(*table, HasSubstr("(spec): a price given in the spec's pricing:"));
  EXPECT_THAT(*table, Not(HasSubstr("list prices as of")));  // no shipped price used
}

TEST(CostResults, SweepStatsSummarizeCostWithoutTestingIt) {
  ExperimentResult result;
  result.id = "exp";
  result.experiment = "sweep";
  result.repeats = 2;
  const core::Spec spec = spec_with("redis", 1);  // $0.096/h
  for (double rate : {1000.0, 1200.0}) result.runs.push_back(priced_run("redis", spec, rate));
  for (int i = 0; i < 2; ++i) result.runs[i].repeat = i;
  const auto doc = nlohmann::json::parse(to_json(result));
  const auto& metrics = doc["stats"][0]["metrics"];
  EXPECT_EQ(metrics["cost_per_hour_usd"]["mean"], 0.096);
  // $0.096 per 3.6 and per 4.32 million messages: 0.0266667 and 0.0222222, mean 0.0244444.
  EXPECT_EQ(metrics["cost_per_million_messages_usd"]["n"], 2);
  EXPECT_NEAR(metrics["cost_per_million_messages_usd"]["mean"].get<double>(), 0.0244444, 1e-7);
  for (const auto& comparison : doc["comparisons"]) {
    EXPECT_THAT(comparison["metric"].get<std::string>(), Not(HasSubstr("cost")));
  }
  const auto table = comparison_table(to_json(result));
  ASSERT_TRUE(table.ok()) << table.error();
  EXPECT_THAT(*table, HasSubstr("cost/1M msgs (estimate)"));
  EXPECT_THAT(*table, HasSubstr("$0.0244 ± $0.0282"));
  EXPECT_THAT(*table, HasSubstr("Prices: AWS us-east-1 list prices"));
}

}  // namespace
}  // namespace dec::report
