// The per-shard quota model of `dec kinesis-quota` without a network (token buckets, which shard
// a record belongs to, how a PutRecords request is split and its answer merged) and the local
// recipe that puts the proxy in front of kinesalite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "infra/env.h"
#include "infra/local_provider.h"
#include "systems/kinesis/package.h"
#include "systems/kinesis/quota.h"

namespace dec::systems::kinesis_quota {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kStart = Clock::time_point{} + std::chrono::hours(1);

std::string base64_of_size(size_t bytes) {
  // Only the length matters to the quotas: 3 bytes per 4 characters, '=' padding.
  std::string text((bytes + 2) / 3 * 4, 'A');
  if (bytes % 3 == 1) text.replace(text.size() - 2, 2, "==");
  if (bytes % 3 == 2) text.back() = '=';
  return text;
}

Json shard(const std::string& id, const std::string& start, const std::string& end,
           bool closed = false) {
  Json sequences = {{"StartingSequenceNumber", "1"}};
  if (closed) sequences["EndingSequenceNumber"] = "2";
  return {{"ShardId", id},
          {"HashKeyRange", {{"StartingHashKey", start}, {"EndingHashKey", end}}},
          {"SequenceNumberRange", sequences}};
}

// Four shards splitting the key space evenly, as CreateStream with ShardCount 4 makes them.
Json four_shards() {
  return Json::array({
      shard("shardId-000000000000", "0", "85070591730234615865843651857942052863"),
      shard("shardId-000000000001", "85070591730234615865843651857942052864",
            "170141183460469231731687303715884105727"),
      shard("shardId-000000000002", "170141183460469231731687303715884105728",
            "255211775190703847597530955573826158591"),
      shard("shardId-000000000003", "255211775190703847597530955573826158592",
            "340282366920938463463374607431768211455"),
  });
}

TEST(KinesisQuotaBucket, HoldsOneSecondsWorthAndRefillsContinuously) {
  TokenBucket bucket(1000, kStart);
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart), 1000);
  EXPECT_TRUE(bucket.try_take(600, kStart));
  EXPECT_FALSE(bucket.try_take(600, kStart)) << "only 400 left";
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart), 400) << "a refused take takes nothing";
  EXPECT_NEAR(bucket.tokens(kStart + milliseconds(100)), 500, 1e-6);
  EXPECT_DOUBLE_EQ(bucket.tokens(kStart + seconds(10)), 1000) << "never more than its capacity";
  // An amount above the capacity passes only from a full bucket and leaves it below zero.
  EXPECT_TRUE(bucket.try_take(1500, kStart + seconds(10)));
  EXPECT_NEAR(bucket.tokens(kStart + seconds(10)), -500, 1e-6);
  EXPECT_FALSE(bucket.available(kStart + seconds(10) + milliseconds(400)));
  EXPECT_TRUE(bucket.available(kStart + seconds(10) + milliseconds(600)));
  // A clock that goes backwards adds nothing.
  EXPECT_NEAR(bucket.tokens(kStart), 100, 1e-6);
}

TEST(KinesisQuotaBucket, ChargeMayGoBelowZero) {
  TokenBucket bytes(2 << 20, kStart);
  bytes.charge(10 << 20, kStart);  // a 10 MiB read from a full 2 MiB budget
  EXPECT_FALSE(bytes.available(kStart + seconds(3)));
  EXPECT_FALSE(bytes.available(kStart + milliseconds(3990)));
  EXPECT_TRUE(bytes.available(kStart + milliseconds(4010)));
}

TEST(KinesisQuotaHashKey, IsTheMd5OfThePartitionKeyBigEndian) {
  // MD5("") = d41d8cd98f00b204e9800998ecf8427e, MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
  EXPECT_EQ(hash_key_to_string(partition_key_hash("")), "281949768489412648962353822266799178366");
  EXPECT_EQ(hash_key_to_string(partition_key_hash("a")), "16955237001963240173058271559858726497");
  EXPECT_EQ(hash_key_to_string(partition_key_hash("k499")),
            "285959879246502810541024223088729983982");
}

TEST(KinesisQuotaHashKey, ParsesDecimalsBelowTwoToThe128) {
  EXPECT_EQ(parse_hash_key("0"), HashKey{0});
  auto max = parse_hash_key("340282366920938463463374607431768211455");
  ASSERT_TRUE(max.has_value());
  EXPECT_EQ(*max, ~HashKey{0});
  EXPECT_EQ(hash_key_to_string(*max), "340282366920938463463374607431768211455");
  EXPECT_FALSE(parse_hash_key("340282366920938463463374607431768211456").has_value());
  EXPECT_FALSE(parse_hash_key("").has_value());
  EXPECT_FALSE(parse_hash_key("-1").has_value());
  EXPECT_FALSE(parse_hash_key("12a").has_value());
  EXPECT_FALSE(parse_hash_key("1000000000000000000000000000000000000000").has_value());
}

TEST(KinesisQuotaShardMap, FindsTheOpenShardWhoseRangeHoldsTheKey) {
  auto map = ShardMap::from_shards(four_shards());
  ASSERT_TRUE(map.ok()) << map.error();
  EXPECT_EQ(map->size(), 4u);
  auto shard_of = [&](HashKey key) {
    const ShardMap::Range* range = map->find(key);
    return range ? range->shard_id : "none";
  };
  EXPECT_EQ(shard_of(0), "shardId-000000000000");
  EXPECT_EQ(shard_of(*parse_hash_key("85070591730234615865843651857942052863")),
            "shardId-000000000000");
  EXPECT_EQ(shard_of(*parse_hash_key("85070591730234615865843651857942052864")),
            "shardId-000000000001");
  EXPECT_EQ(shard_of(~HashKey{0}), "shardId-000000000003");
  EXPECT_EQ(shard_of(partition_key_hash("a")), "shardId-000000000000");
  EXPECT_EQ(shard_of(partition_key_hash("")), "shardId-000000000003");
}

TEST(KinesisQuotaShardMap, LeavesClosedShardsOutAndReportsGaps) {
  // Shard 0 was split into 2 and 3; shard 1 holds the upper half.
  Json shards = Json::array({
      shard("shardId-000000000000", "0", "170141183460469231731687303715884105727", true),
      shard("shardId-000000000001", "170141183460469231731687303715884105728",
            "340282366920938463463374607431768211455"),
      shard("shardId-000000000002", "0", "99"),
      shard("shardId-000000000003", "100", "170141183460469231731687303715884105727"),
  });
  auto map = ShardMap::from_shards(shards);
  ASSERT_TRUE(map.ok()) << map.error();
  EXPECT_EQ(map->size(), 3u);
  EXPECT_EQ(map->find(50)->shard_id, "shardId-000000000002");
  EXPECT_EQ(map->find(100)->shard_id, "shardId-000000000003");

  auto partial = ShardMap::from_shards(Json::array({shard("shardId-000000000007", "10", "20")}));
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->find(9), nullptr);
  EXPECT_EQ(partial->find(21), nullptr);
  EXPECT_NE(partial->find(20), nullptr);

  EXPECT_FALSE(ShardMap::from_shards(Json::array({shard("s", "20", "10")})).ok());
  EXPECT_FALSE(ShardMap::from_shards(Json::array({shard("s", "x", "10")})).ok());
  EXPECT_FALSE(ShardMap::from_shards(Json::object()).ok());
}

TEST(KinesisQuotaRecords, SizeIsDecodedDataPlusPartitionKey) {
  EXPECT_EQ(base64_decoded_size(""), 0u);
  EXPECT_EQ(base64_decoded_size("eA=="), 1u);
  EXPECT_EQ(base64_decoded_size("eHk="), 2u);
  EXPECT_EQ(base64_decoded_size("eHl6"), 3u);
  EXPECT_FALSE(base64_decoded_size("eHl").has_value());

  Json body = {{"StreamName", "s"},
               {"Records",
                {{{"Data", base64_of_size(1000)}, {"PartitionKey", "abc"}},
                 {{"Data", "eA=="}, {"PartitionKey", "a"}, {"ExplicitHashKey", "42"}}}}};
  auto records = parse_write_records(body, false);
  ASSERT_TRUE(records.ok()) << records.error();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].bytes, 1003u);
  EXPECT_EQ((*records)[0].hash, partition_key_hash("abc"));
  EXPECT_EQ((*records)[1].bytes, 2u);
  EXPECT_EQ((*records)[1].hash, HashKey{42}) << "ExplicitHashKey wins over the partition key";

  auto single =
      parse_write_records({{"StreamName", "s"}, {"Data", "eA=="}, {"PartitionKey", "k"}}, true);
  ASSERT_TRUE(single.ok()) << single.error();
  EXPECT_EQ(single->at(0).bytes, 2u);

  // What the emulator must refuse itself is not judged here.
  EXPECT_FALSE(parse_write_records({{"Records", Json::array()}}, false).ok());
  EXPECT_FALSE(parse_write_records({{"Records", {{{"Data", "eA=="}}}}}, false).ok());
  EXPECT_FALSE(
      parse_write_records({{"Records", {{{"Data", "eA="}, {"PartitionKey", "k"}}}}}, false).ok());
  EXPECT_FALSE(
      parse_write_records(
          {{"Records", {{{"Data", "eA=="}, {"PartitionKey", std::string(257, 'k')}}}}}, false)
          .ok());
  EXPECT_FALSE(
      parse_write_records(
          {{"Records", {{{"Data", "eA=="}, {"PartitionKey", "k"}, {"ExplicitHashKey", "-1"}}}}},
          false)
          .ok());
  Json too_many = {{"Records", Json::array()}};
  for (int i = 0; i < 501; ++i)
    too_many["Records"].push_back({{"Data", ""}, {"PartitionKey", "k"}});
  EXPECT_FALSE(parse_write_records(too_many, false).ok());
}

TEST(KinesisQuotaRecords, ReadBytesCountDataAndKeys) {
  Json response = {{"Records",
                    {{{"Data", base64_of_size(300)}, {"PartitionKey", "key"}},
                     {{"Data", base64_of_size(1)}, {"PartitionKey", "k"}}}},
                   {"NextShardIterator", "it"}};
  EXPECT_EQ(read_bytes(response), 305u);
  EXPECT_EQ(read_bytes({{"Records", Json::array()}}), 0u);
}

TEST(KinesisQuotaPutRecords, SplitAndMergeKeepOrderAndCounts) {
  Json request = {{"StreamName", "orders"}, {"Records", Json::array()}};
  for (int i = 0; i < 5; ++i) {
    request["Records"].push_back({{"Data", "eA=="}, {"PartitionKey", "k" + std::to_string(i)}});
  }
  WriteSplit split;
  split.forwarded = {0, 2, 3};
  split.refused = {1, 4};
  split.refused_shards = {"shardId-000000000001", "shardId-000000000003"};

  Json sent = Json::parse(forwarded_body(request, split.forwarded));
  EXPECT_EQ(sent["StreamName"], "orders");
  ASSERT_EQ(sent["Records"].size(), 3u);
  EXPECT_EQ(sent["Records"][0]["PartitionKey"], "k0");
  EXPECT_EQ(sent["Records"][1]["PartitionKey"], "k2");
  EXPECT_EQ(sent["Records"][2]["PartitionKey"], "k3");

  // The emulator failed one of the three itself: it stays failed, with its own code.
  Json upstream = {{"FailedRecordCount", 1},
                   {"EncryptionType", "NONE"},
                   {"Records",
                    {{{"ShardId", "shardId-000000000000"}, {"SequenceNumber", "100"}},
                     {{"ErrorCode", "InternalFailure"}, {"ErrorMessage", "boom"}},
                     {{"ShardId", "shardId-000000000002"}, {"SequenceNumber", "103"}}}}};
  auto merged = merge_put_records(5, split, &upstream, "orders", "123456789012");
  ASSERT_TRUE(merged.ok()) << merged.error();
  Json answer = Json::parse(*merged);
  EXPECT_EQ(answer["FailedRecordCount"], 3);
  EXPECT_EQ(answer["EncryptionType"], "NONE");
  ASSERT_EQ(answer["Records"].size(), 5u);
  EXPECT_EQ(answer["Records"][0]["SequenceNumber"], "100");
  EXPECT_EQ(answer["Records"][1]["ErrorCode"], "ProvisionedThroughputExceededException");
  EXPECT_EQ(answer["Records"][1]["ErrorMessage"],
            "Rate exceeded for shard shardId-000000000001 in stream orders under account "
            "123456789012.");
  EXPECT_EQ(answer["Records"][2]["ErrorCode"], "InternalFailure");
  EXPECT_EQ(answer["Records"][3]["SequenceNumber"], "103");
  EXPECT_EQ(answer["Records"][4]["ErrorCode"], "ProvisionedThroughputExceededException");
  EXPECT_NE(answer["Records"][4]["ErrorMessage"].get<std::string>().find("shardId-000000000003"),
            std::string::npos);

  // An answer that does not match what was sent is an error, not a guess.
  Json short_answer = {{"FailedRecordCount", 0}, {"Records", Json::array({Json::object()})}};
  EXPECT_FALSE(merge_put_records(5, split, &short_answer, "orders", "1").ok());
  EXPECT_FALSE(merge_put_records(5, split, nullptr, "orders", "1").ok());

  // Nothing forwarded: every record refused.
  WriteSplit none;
  none.refused = {0, 1};
  none.refused_shards = {"a", "b"};
  auto all_refused = merge_put_records(2, none, nullptr, "orders", "1");
  ASSERT_TRUE(all_refused.ok());
  Json refused = Json::parse(*all_refused);
  EXPECT_EQ(refused["FailedRecordCount"], 2);
  EXPECT_EQ(refused["Records"].size(), 2u);
}

TEST(KinesisQuotaState, WritesPassInOrderUpToEachShardsQuota) {
  QuotaState state(Quotas{});
  std::vector<WriteRecord> records(1500, WriteRecord{0, 100});
  std::vector<std::string> shards(1500, "shardId-000000000000");
  // Every other record to a second shard: each shard sees 750, all pass.
  for (size_t i = 1; i < shards.size(); i += 2) shards[i] = "shardId-000000000001";
  auto admitted = state.admit_writes("s", shards, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 1500);

  // One shard, 1500 more records at once: 250 left on shard 0, and they are the first 250.
  std::vector<std::string> one(1500, "shardId-000000000000");
  admitted = state.admit_writes("s", one, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 250);
  EXPECT_TRUE(admitted[249]);
  EXPECT_FALSE(admitted[250]);
  // A tenth of a second later: 100 more.
  admitted = state.admit_writes("s", one, records, kStart + milliseconds(100));
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 100);
  // Another stream's shard of the same id has a bucket of its own.
  admitted = state.admit_writes("t", one, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 1000);
  // A record of no known shard is not charged (the emulator places it).
  admitted = state.admit_writes("s", {""}, {WriteRecord{0, 100}}, kStart);
  EXPECT_TRUE(admitted[0]);
  auto counts = state.counts();
  EXPECT_EQ(counts.records_admitted, 1500u + 250 + 100 + 1000);
  EXPECT_EQ(counts.records_refused, 1250u + 1400 + 500);
}

TEST(KinesisQuotaState, BytesPerSecondBindLargeRecords) {
  QuotaState state(Quotas{});
  const uint64_t big = 600 << 10;  // 600 KiB: one fits in 1 MiB, two do not
  std::vector<std::string> shard(3, "shardId-000000000000");
  auto admitted = state.admit_writes(
      "s", shard, {WriteRecord{0, big}, WriteRecord{0, big}, WriteRecord{0, 1000}}, kStart);
  EXPECT_TRUE(admitted[0]);
  EXPECT_FALSE(admitted[1]);
  EXPECT_TRUE(admitted[2]) << "a refused record takes nothing from the buckets";
  // A record larger than one second's worth waits for a full bucket.
  QuotaState small(Quotas{1000, 1000, 5, 2000});
  std::vector<std::string> one(1, "x");
  EXPECT_TRUE(small.admit_writes("s", one, {WriteRecord{0, 1500}}, kStart)[0]);
  EXPECT_FALSE(small.admit_writes("s", one, {WriteRecord{0, 1500}}, kStart + seconds(1))[0]);
  EXPECT_TRUE(small.admit_writes("s", one, {WriteRecord{0, 1500}}, kStart + seconds(2))[0]);
}

TEST(KinesisQuotaState, ReadsAreFivePerSecondAndALargeReadBlocksTheNext) {
  QuotaState state(Quotas{});
  state.remember_iterator("it-0", "s", "shardId-000000000000", kStart);
  int passed = 0;
  for (int i = 0; i < 10; ++i) passed += state.admit_read("it-0", kStart).admitted ? 1 : 0;
  EXPECT_EQ(passed, 5);
  EXPECT_FALSE(state.admit_read("it-0", kStart + milliseconds(150)).admitted);
  EXPECT_TRUE(state.admit_read("it-0", kStart + milliseconds(250)).admitted);

  // 6 MiB returned at once from a 2 MiB budget: the next calls fail for 2 s although call tokens
  // are back, then pass.
  auto admission = state.admit_read("it-0", kStart + seconds(5));
  ASSERT_TRUE(admission.shard);
  ASSERT_TRUE(admission.admitted);
  EXPECT_EQ(admission.shard->shard_id, "shardId-000000000000");
  state.charge_read(*admission.shard, 6 << 20, kStart + seconds(5));
  EXPECT_FALSE(state.admit_read("it-0", kStart + seconds(6)).admitted);
  EXPECT_FALSE(state.admit_read("it-0", kStart + milliseconds(6900)).admitted);
  EXPECT_TRUE(state.admit_read("it-0", kStart + milliseconds(7100)).admitted);

  // The next iterator reads the same shard; an unknown one is not attributed.
  state.remember_iterator("it-1", admission.shard, kStart + seconds(8));
  EXPECT_EQ(state.admit_read("it-1", kStart + seconds(8)).shard, admission.shard);
  auto unknown = state.admit_read("never-handed-out", kStart);
  EXPECT_FALSE(unknown.shard);
  EXPECT_TRUE(unknown.admitted);
  EXPECT_EQ(state.counts().reads_unattributed, 1u);

  // Each shard has its own read quota.
  state.remember_iterator("other", "s", "shardId-000000000001", kStart);
  passed = 0;
  for (int i = 0; i < 10; ++i) passed += state.admit_read("other", kStart).admitted ? 1 : 0;
  EXPECT_EQ(passed, 5);
}

TEST(KinesisQuotaState, IteratorsAreForgottenAfterFiveMinutesOrBeyondTheBound) {
  QuotaState state(Quotas{}, /*max_iterators=*/3);
  for (int i = 0; i < 5; ++i) {
    state.remember_iterator("it-" + std::to_string(i), "s", "shardId-000000000000",
                            kStart + milliseconds(i));
  }
  EXPECT_EQ(state.iterators(), 3u);
  EXPECT_FALSE(state.admit_read("it-0", kStart).shard) << "the oldest went first";
  EXPECT_TRUE(state.admit_read("it-4", kStart).shard);
  // Remembered again later: the older slot does not take the newer entry with it.
  state.remember_iterator("it-2", "s", "shardId-000000000000", kStart + seconds(200));
  state.remember_iterator("new", "s", "shardId-000000000000", kStart + seconds(400));
  EXPECT_FALSE(state.admit_read("it-3", kStart + seconds(400)).shard) << "over 5 minutes old";
  EXPECT_TRUE(state.admit_read("it-2", kStart + seconds(400)).shard);
}

TEST(KinesisQuotaState, ARecreatedStreamStartsWithFullBuckets) {
  QuotaState state(Quotas{});
  std::vector<WriteRecord> records(1000, WriteRecord{0, 10});
  std::vector<std::string> shards(1000, "shardId-000000000000");
  auto admitted = state.admit_writes("s", shards, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 1000);
  admitted = state.admit_writes("s", shards, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 0);
  state.forget_stream("s");
  admitted = state.admit_writes("s", shards, records, kStart);
  EXPECT_EQ(std::count(admitted.begin(), admitted.end(), true), 1000);
}

// ---- the local recipe ----

struct RecipeFixture {
  RecipeContext context;
  LocalRecipe recipe = *kinesis_package().local;
  RecipeFixture() {
    context.tools_dir = "/opt/dec/tools";
    context.dec_binary = "/opt/dec/dec";
    context.path_exists = [](const std::string&) { return true; };
    context.list_dir = [](const std::string&) { return std::vector<std::string>{}; };
  }
  Result<Launch> launch(core::Settings server) {
    LaunchInput input;
    input.listen_host = "10.0.0.5";
    input.port = 4567;
    input.dir = "/tmp/node";
    input.server = std::move(server);
    input.context = &context;
    return recipe.launch(input);
  }
};

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) out += (out.empty() ? "" : " ") + arg;
  return out;
}

TEST(KinesisQuotaRecipe, RunsKinesaliteBehindTheProxyByDefault) {
  RecipeFixture fixture;
  EXPECT_TRUE(fixture.recipe.emulated);
  auto launch = fixture.launch({});
  ASSERT_TRUE(launch.ok()) << launch.error();
  ASSERT_GE(launch->argv.size(), 3u);
  EXPECT_EQ(launch->argv[0], "/opt/dec/dec");
  EXPECT_EQ(launch->argv[1], "kinesis-quota");
  std::string command = joined(launch->argv);
  EXPECT_NE(command.find("--listen 10.0.0.5:4567"), std::string::npos) << command;
  EXPECT_NE(command.find("--write-records-per-s 1000 --write-bytes-per-s 1048576 "
                         "--read-calls-per-s 5 --read-bytes-per-s 2097152 -- node -e"),
            std::string::npos)
      << command;
  // kinesalite itself listens on the proxy's loopback port, never on the node's address.
  EXPECT_NE(command.find("/opt/dec/tools/node_modules/kinesalite/index.js {port} 1000 127.0.0.1"),
            std::string::npos)
      << command;
  EXPECT_EQ(launch->label, "kinesalite behind dec's AWS per-shard quota proxy");
}

TEST(KinesisQuotaRecipe, QuotasOffRunsBareKinesalite) {
  RecipeFixture fixture;
  auto launch = fixture.launch({{"quotas", "off"}, {"shard_limit", "50"}});
  ASSERT_TRUE(launch.ok()) << launch.error();
  EXPECT_EQ(launch->argv[0], "node");
  std::string command = joined(launch->argv);
  EXPECT_NE(command.find("kinesalite/index.js 4567 50 10.0.0.5"), std::string::npos) << command;
  EXPECT_EQ(launch->label, "kinesalite");
}

TEST(KinesisQuotaRecipe, CustomQuotasReachTheProxyAndTheLabel) {
  RecipeFixture fixture;
  auto launch = fixture.launch({{"shard_write_records_per_s", "250"},
                                {"shard_read_bytes_per_s", "4MiB"},
                                {"quotas", "aws"}});
  ASSERT_TRUE(launch.ok()) << launch.error();
  std::string command = joined(launch->argv);
  EXPECT_NE(command.find("--write-records-per-s 250 "), std::string::npos) << command;
  EXPECT_NE(command.find("--read-bytes-per-s 4194304 "), std::string::npos) << command;
  EXPECT_NE(launch->label.find("not AWS's quotas"), std::string::npos) << launch->label;
  EXPECT_NE(launch->label.find("shard_write_records_per_s 250"), std::string::npos)
      << launch->label;
}

TEST(KinesisQuotaRecipe, BadServerSettingsNameTheirKey) {
  RecipeFixture fixture;
  ASSERT_TRUE(fixture.recipe.check_server);
  struct Case {
    core::Settings server;
    std::string key;
  };
  std::vector<Case> cases = {
      {{{"quotas", "on"}}, "deploy.server.quotas"},
      {{{"shard_write_records_per_s", "0"}}, "deploy.server.shard_write_records_per_s"},
      {{{"shard_write_records_per_s", "1.5"}}, "deploy.server.shard_write_records_per_s"},
      {{{"shard_read_calls_per_s", "-5"}}, "deploy.server.shard_read_calls_per_s"},
      {{{"shard_write_bytes_per_s", "lots"}}, "deploy.server.shard_write_bytes_per_s"},
      {{{"shard_read_bytes_per_s", "0B"}}, "deploy.server.shard_read_bytes_per_s"},
      {{{"shard_limit", "none"}}, "deploy.server.shard_limit"},
      {{{"quotas", "off"}, {"shard_read_calls_per_s", "10"}},
       "deploy.server.shard_read_calls_per_s"},
  };
  for (const Case& c : cases) {
    Status checked = fixture.recipe.check_server(c.server);
    ASSERT_FALSE(checked.ok()) << c.key;
    EXPECT_NE(checked.error().find(c.key), std::string::npos) << checked.error();
    auto launch = fixture.launch(c.server);
    ASSERT_FALSE(launch.ok()) << c.key;
    EXPECT_NE(launch.error().find(c.key), std::string::npos) << launch.error();
  }
  EXPECT_TRUE(fixture.recipe.check_server({{"shard_write_bytes_per_s", "512KiB"}}).ok());
  for (const char* key :
       {"quotas", "shard_limit", "shard_write_records_per_s", "shard_write_bytes_per_s",
        "shard_read_calls_per_s", "shard_read_bytes_per_s"}) {
    EXPECT_NE(std::find(fixture.recipe.server_keys.begin(), fixture.recipe.server_keys.end(), key),
              fixture.recipe.server_keys.end())
        << key;
  }
}

TEST(KinesisQuotaRecipe, ThePlanRefusesBadServerSettingsBeforeAnythingStarts) {
  const std::string tools = ::testing::TempDir() + "dec-kinesis-tools-" + std::to_string(getpid());
  std::filesystem::create_directories(tools + "/node_modules/kinesalite");
  std::ofstream(tools + "/node_modules/kinesalite/index.js") << "";
  infra::PosixEnv env;
  infra::ProviderContext context;
  context.env = &env;
  context.data_dir = "/tmp/none";
  context.installation = "inst";
  context.dec_binary = "/bin/dec";
  context.tools_dir = tools;
  infra::LocalProvider provider(context);
  core::System system;
  system.name = "k";
  system.driver = "kinesis";
  system.deploy.settings["hosts"] = "false";
  infra::DeployRequest request{"e.k", {"t0"}, 4, false};
  EXPECT_TRUE(provider.resources_for(system, request).ok());
  system.deploy.server["shard_read_calls_per_s"] = "fast";
  auto refused = provider.resources_for(system, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("deploy.server.shard_read_calls_per_s"), std::string::npos)
      << refused.error();
  system.deploy.server = {{"shard_read_calls_per_s", "10"}, {"quotas", "off"}};
  refused = provider.resources_for(system, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("quotas: off"), std::string::npos) << refused.error();
  std::filesystem::remove_all(tools);
}

}  // namespace
}  // namespace dec::systems::kinesis_quota
