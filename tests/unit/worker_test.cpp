// The worker agent without a broker: JSON codecs (exact round trips, errors that name the
// field), merging several workers' results, and the agent end to end over real HTTP in this
// process, driving the in-memory driver through WorkerClient.
#include "worker/worker.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "infra/env.h"
#include "support/fuzz_seeds.h"
#include "support/in_process_agent.h"
#include "support/memory_driver.h"

namespace dec::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- codecs ----

WorkRequest sample_request() {
  WorkRequest request;
  request.driver = "redis";
  request.addresses = {"10.0.0.1:6379", "10.0.0.2:6379"};
  request.properties = {{"region", "eu-west-1"}, {"token", "a\"b\\c"}};
  request.config = {{"pipeline", "64"}};
  request.engine.producers = 3;
  request.engine.consumers = 2;
  request.engine.consumer_groups = 2;
  request.engine.rate = 1234.5;
  request.engine.warmup = 1500ms;
  request.engine.duration = 7s + 1ns;
  request.engine.drain_timeout = 3s;
  request.engine.message_size = 200;
  request.engine.keys = 16;
  request.engine.topics = {"t-0", "t-1"};
  request.engine.group_prefix = "g";
  request.engine.max_messages = 99;
  request.engine.key_distribution = core::KeyDistribution::kRandom;
  request.engine.key_seed = UINT64_MAX - 1;
  request.engine.payload = {.pool = 7, .random_bytes_ratio = 0.25, .file = ""};
  request.engine.backlog_messages = 123456;
  request.engine.backlog_drain_ratio = 0.75;
  return request;
}

TEST(WorkerJson, RequestRoundTripsEveryField) {
  const WorkRequest request = sample_request();
  auto decoded = work_request_from_json(work_request_to_json(request));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->driver, request.driver);
  EXPECT_EQ(decoded->addresses, request.addresses);
  EXPECT_EQ(decoded->properties, request.properties);
  EXPECT_EQ(decoded->config, request.config);
  const load::EngineOptions& o = decoded->engine;
  EXPECT_EQ(o.producers, 3);
  EXPECT_EQ(o.consumers, 2);
  EXPECT_EQ(o.consumer_groups, 2);
  EXPECT_EQ(o.rate, 1234.5);
  EXPECT_EQ(o.warmup, 1500ms);
  EXPECT_EQ(o.duration, 7s + 1ns);
  EXPECT_EQ(o.drain_timeout, 3s);
  EXPECT_EQ(o.message_size, 200u);
  EXPECT_EQ(o.keys, 16);
  EXPECT_EQ(o.topics, request.engine.topics);
  EXPECT_EQ(o.group_prefix, "g");
  EXPECT_EQ(o.max_messages, 99u);
  EXPECT_EQ(o.key_distribution, core::KeyDistribution::kRandom);
  EXPECT_EQ(o.key_seed, UINT64_MAX - 1);
  EXPECT_EQ(o.payload, request.engine.payload);
  EXPECT_EQ(o.backlog_messages, 123456u);
  EXPECT_EQ(o.backlog_drain_ratio, 0.75);
  WorkRequest from_file = sample_request();
  from_file.engine.payload = {.pool = 0, .random_bytes_ratio = 1.0, .file = "/data/body.json"};
  from_file.engine.key_distribution = core::KeyDistribution::kNone;
  from_file.engine.keys = 0;
  auto decoded_file = work_request_from_json(work_request_to_json(from_file));
  ASSERT_TRUE(decoded_file.ok()) << decoded_file.error();
  EXPECT_EQ(decoded_file->engine.payload.file, "/data/body.json");
  EXPECT_EQ(decoded_file->engine.key_distribution, core::KeyDistribution::kNone);
  // Durations travel as integer nanoseconds.
  auto body = nlohmann::json::parse(work_request_to_json(request));
  EXPECT_EQ(body["engine"]["duration_ns"].get<int64_t>(), 7'000'000'001);
}

TEST(WorkerJson, RequestDefaultsMissingEngineFields) {
  auto decoded = work_request_from_json(R"({"driver": "redis", "engine": {"rate": 10}})");
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->engine.rate, 10);
  EXPECT_EQ(decoded->engine.producers, load::EngineOptions{}.producers);
  EXPECT_EQ(decoded->engine.duration, load::EngineOptions{}.duration);
}

TEST(WorkerJson, RequestErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"driver": "redis", "engine": {"producers": "two"}})",
       "engine.producers: expected an integer"},
      {R"({"driver": "redis", "engine": {"producers": 1.5}})",
       "engine.producers: expected an integer"},
      {R"({"driver": "redis", "engine": {"producers": 0}})",
       "engine.producers: must be at least 1"},
      {R"({"driver": "redis", "engine": {"duration_ns": "10s"}})",
       "engine.duration_ns: expected an integer (nanoseconds)"},
      {R"({"driver": "redis", "engine": {"duration_ns": 0}})",
       "engine.duration_ns: must be positive"},
      {R"({"driver": "redis", "engine": {"message_size": -5}})",
       "engine.message_size: expected a non-negative integer"},
      {R"({"driver": "redis", "engine": {"message_size": 4}})",
       "engine.message_size: must be at least"},
      {R"({"driver": "redis", "engine": {"topics": []}})", "engine.topics: at least one topic"},
      {R"({"driver": "redis", "engine": {"topics": ["a", 3]}})",
       "engine.topics[1]: expected a string"},
      {R"({"driver": "redis", "engine": {"rate": -1}})", "engine.rate: must be a finite number"},
      {R"({"driver": "redis", "engine": {"key_distribution": "zipf"}})",
       "engine.key_distribution: must be one of none, round_robin, random"},
      {R"({"driver": "redis", "engine": {"keys": 2, "key_distribution": "none"}})",
       "engine.key_distribution: none needs keys 0"},
      {R"({"driver": "redis", "engine": {"payload": {"random_bytes_ratio": 2}}})",
       "engine.payload.random_bytes_ratio: must be from 0.0 to 1.0"},
      {R"({"driver": "redis", "engine": {"payload": {"pool": -1}}})",
       "engine.payload.pool: expected a non-negative integer"},
      {R"({"driver": "redis", "engine": {"payload": {"size": 1}}})",
       "engine.payload.size: unknown field"},
      {R"({"driver": "redis", "engine": {"backlog_drain_ratio": 0}})",
       "engine.backlog_drain_ratio: must be more than 0"},
      {R"({"driver": "redis", "engine": {"duraton_ns": 5}})", "engine.duraton_ns: unknown field"},
      {R"({"driver": "redis", "config": {"pipeline": 64}})", "config.pipeline: expected a string"},
      {R"({"driver": "redis", "addresses": "h:1"})", "addresses: expected an array of strings"},
      {R"({"engine": {}})", "driver: missing"},
      {R"({"driver": "redis", "extra": 1})", "extra: unknown field"},
      {R"([1, 2])", "body: expected a JSON object"},
      {R"({"driver": )", "body: not valid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    auto decoded = work_request_from_json(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.error().rfind(expected, 0), 0u)
        << text << "\n  got:      " << decoded.error() << "\n  expected: " << expected << "...";
  }
}

load::EngineResult sample_result(uint64_t base) {
  load::EngineResult e;
  e.measured_seconds = 10.000123456789;
  e.produced_in_window = 1000 + base;
  e.consumed_in_window = 990 + base;
  e.bytes_produced_in_window = (1000 + base) * 100;
  e.produced_msgs_per_s = 0.1 + 0.2;  // not exactly representable: must still round-trip
  e.consumed_msgs_per_s = 98.7654321;
  e.produced_mb_per_s = 0.0100000001;
  e.consumed_mb_per_s = 1e-9;
  for (uint64_t v = 1; v < 5000; v += 7) e.end_to_end_latency.record(v * 1000 + base);
  e.publish_latency.record_n(123456789, 3);
  e.delivery = {1001, 1000, 1, 999, 1, 7, 2, 9, 3, 4};
  e.payload_compression_ratio = 2.718281828;
  e.key_seed = 77 + base;
  e.backlog = {5000 + base, 0.9, true, 5010, 1.25, true, 501, 0.3333333, 6000, 18000.00018, 7000};
  e.timeline = {{1.0004, 100.5, 99.25, 1200, 0, 0, 0}, {2.0011, 101, 100, 1300, 5 + base, 8, 6}};
  e.window = {1000 + base, 100.5, 990, 6, 4, 0.0123456789, 998, 997, 1, 0, 2, 3, false};
  e.censored_end_to_end = 11;
  e.censored_publish = 12;
  e.partitions = {{"t-0", 0, 500}, {"t-0", -1, 499 + base}};
  e.error = base == 0 ? "" : "kafka: broker went away";
  return e;
}

void expect_same(const load::EngineResult& a, const load::EngineResult& b) {
  EXPECT_EQ(a.measured_seconds, b.measured_seconds);
  EXPECT_EQ(a.produced_in_window, b.produced_in_window);
  EXPECT_EQ(a.consumed_in_window, b.consumed_in_window);
  EXPECT_EQ(a.bytes_produced_in_window, b.bytes_produced_in_window);
  EXPECT_EQ(a.produced_msgs_per_s, b.produced_msgs_per_s);
  EXPECT_EQ(a.consumed_msgs_per_s, b.consumed_msgs_per_s);
  EXPECT_EQ(a.produced_mb_per_s, b.produced_mb_per_s);
  EXPECT_EQ(a.consumed_mb_per_s, b.consumed_mb_per_s);
  EXPECT_EQ(a.end_to_end_latency.serialize(), b.end_to_end_latency.serialize());
  EXPECT_EQ(a.publish_latency.serialize(), b.publish_latency.serialize());
  EXPECT_EQ(a.delivery.sent, b.delivery.sent);
  EXPECT_EQ(a.delivery.acked, b.delivery.acked);
  EXPECT_EQ(a.delivery.send_errors, b.delivery.send_errors);
  EXPECT_EQ(a.delivery.received, b.delivery.received);
  EXPECT_EQ(a.delivery.lost, b.delivery.lost);
  EXPECT_EQ(a.delivery.undelivered, b.delivery.undelivered);
  EXPECT_EQ(a.delivery.duplicated, b.delivery.duplicated);
  EXPECT_EQ(a.delivery.redelivered, b.delivery.redelivered);
  EXPECT_EQ(a.window.offered, b.window.offered);
  EXPECT_EQ(a.window.offered_per_s, b.window.offered_per_s);
  EXPECT_EQ(a.window.sent_on_time, b.window.sent_on_time);
  EXPECT_EQ(a.window.sent_late, b.window.sent_late);
  EXPECT_EQ(a.window.unsent, b.window.unsent);
  EXPECT_EQ(a.window.max_send_lag_s, b.window.max_send_lag_s);
  EXPECT_EQ(a.window.acked, b.window.acked);
  EXPECT_EQ(a.window.received, b.window.received);
  EXPECT_EQ(a.window.undelivered, b.window.undelivered);
  EXPECT_EQ(a.window.lost, b.window.lost);
  EXPECT_EQ(a.window.warmup_acked_in_window, b.window.warmup_acked_in_window);
  EXPECT_EQ(a.window.warmup_received_in_window, b.window.warmup_received_in_window);
  EXPECT_EQ(a.window.rate_sustained, b.window.rate_sustained);
  EXPECT_EQ(a.censored_end_to_end, b.censored_end_to_end);
  EXPECT_EQ(a.censored_publish, b.censored_publish);
  ASSERT_EQ(a.partitions.size(), b.partitions.size());
  for (size_t i = 0; i < a.partitions.size(); ++i) {
    EXPECT_EQ(a.partitions[i].topic, b.partitions[i].topic);
    EXPECT_EQ(a.partitions[i].partition, b.partitions[i].partition);
    EXPECT_EQ(a.partitions[i].received, b.partitions[i].received);
  }
  EXPECT_EQ(a.delivery.reordered, b.delivery.reordered);
  EXPECT_EQ(a.delivery.corrupt, b.delivery.corrupt);
  ASSERT_EQ(a.timeline.size(), b.timeline.size());
  for (size_t i = 0; i < a.timeline.size(); ++i) {
    EXPECT_EQ(a.timeline[i].t_s, b.timeline[i].t_s) << i;
    EXPECT_EQ(a.timeline[i].produced_per_s, b.timeline[i].produced_per_s) << i;
    EXPECT_EQ(a.timeline[i].consumed_per_s, b.timeline[i].consumed_per_s) << i;
    EXPECT_EQ(a.timeline[i].p99_us, b.timeline[i].p99_us) << i;
    EXPECT_EQ(a.timeline[i].undelivered, b.timeline[i].undelivered) << i;
    EXPECT_EQ(a.timeline[i].lost, b.timeline[i].lost) << i;
    EXPECT_EQ(a.timeline[i].duplicated, b.timeline[i].duplicated) << i;
  }
  EXPECT_EQ(a.payload_compression_ratio, b.payload_compression_ratio);
  EXPECT_EQ(a.key_seed, b.key_seed);
  EXPECT_EQ(a.backlog.target_messages, b.backlog.target_messages);
  EXPECT_EQ(a.backlog.drain_ratio, b.backlog.drain_ratio);
  EXPECT_EQ(a.backlog.reached, b.backlog.reached);
  EXPECT_EQ(a.backlog.messages, b.backlog.messages);
  EXPECT_EQ(a.backlog.build_s, b.backlog.build_s);
  EXPECT_EQ(a.backlog.drained, b.backlog.drained);
  EXPECT_EQ(a.backlog.drain_level, b.backlog.drain_level);
  EXPECT_EQ(a.backlog.drain_s, b.backlog.drain_s);
  EXPECT_EQ(a.backlog.consumed_while_draining, b.backlog.consumed_while_draining);
  EXPECT_EQ(a.backlog.drain_msgs_per_s, b.backlog.drain_msgs_per_s);
  EXPECT_EQ(a.backlog.max_lag, b.backlog.max_lag);
  EXPECT_EQ(a.error, b.error);
}

TEST(WorkerJson, ResultRoundTripsExactly) {
  WorkResult result;
  result.engine = sample_result(3);
  result.counters = {{"zeta.requests", 7}, {"alpha.throttled", UINT64_MAX}};
  result.emulated = true;
  auto decoded = work_result_from_json(work_result_to_json(result));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  expect_same(decoded->engine, result.engine);
  EXPECT_EQ(decoded->counters, result.counters) << "order is kept";
  EXPECT_TRUE(decoded->emulated);
}

// A share of a run driven by several agents: its ids, common start, clock and ledger.
WorkRequest sample_shared_request() {
  WorkRequest request = sample_request();
  request.engine.backlog_messages = 0;
  request.engine.first_producer_id = 3;
  request.engine.total_producers = 7;
  request.engine.first_consumer = 2;
  request.engine.total_consumers = 5;
  request.start_at_unix_ns = 1'800'000'000'123'456'789;
  request.clock_offset_ns = -42'000;
  return request;
}

load::DeliveryLedger sample_ledger() {
  load::DeliveryLedger ledger;
  ledger.producers.push_back({.producer_id = 3,
                              .acked = *load::RangeSet::from_ranges({{0, 1000}, {1001, 2000}}),
                              .window_from = 100,
                              .window_until = 1900,
                              .rate = 500.5,
                              .phase = 3.0 / 7,
                              .start_ns = 1'800'000'000'000'000'000,
                              .end_ns = 1'800'000'004'000'000'000});
  ledger.groups.push_back({.group = 0,
                           .received = {{0, *load::RangeSet::from_ranges({{5, 9}})},
                                        {3, *load::RangeSet::from_ranges({{0, 1000}})}},
                           .duplicated = 2,
                           .redelivered = 1,
                           .drained = true,
                           .watched_until_ns = -5});
  return ledger;
}

TEST(WorkerJson, SharedRunFieldsAndLedgerRoundTrip) {
  const WorkRequest request = sample_shared_request();
  auto decoded = work_request_from_json(work_request_to_json(request));
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded->engine.first_producer_id, 3u);
  EXPECT_EQ(decoded->engine.total_producers, 7);
  EXPECT_EQ(decoded->engine.first_consumer, 2);
  EXPECT_EQ(decoded->engine.total_consumers, 5);
  EXPECT_EQ(decoded->start_at_unix_ns, request.start_at_unix_ns);
  EXPECT_EQ(decoded->clock_offset_ns, request.clock_offset_ns);

  WorkResult result;
  result.engine = sample_result(2);
  result.engine.ledger = sample_ledger();
  auto back = work_result_from_json(work_result_to_json(result));
  ASSERT_TRUE(back.ok()) << back.error();
  const load::DeliveryLedger& ledger = back->engine.ledger;
  ASSERT_EQ(ledger.producers.size(), 1u);
  const load::ProducerLedger& p = ledger.producers[0];
  const load::ProducerLedger& q = result.engine.ledger.producers[0];
  EXPECT_EQ(p.producer_id, q.producer_id);
  EXPECT_EQ(p.acked, q.acked);
  EXPECT_EQ(p.window_from, q.window_from);
  EXPECT_EQ(p.window_until, q.window_until);
  EXPECT_EQ(p.rate, q.rate);
  EXPECT_EQ(p.phase, q.phase);
  EXPECT_EQ(p.start_ns, q.start_ns);
  EXPECT_EQ(p.end_ns, q.end_ns);
  ASSERT_EQ(ledger.groups.size(), 1u);
  const load::GroupLedger& g = ledger.groups[0];
  EXPECT_EQ(g.received, result.engine.ledger.groups[0].received);
  EXPECT_EQ(g.duplicated, 2u);
  EXPECT_EQ(g.redelivered, 1u);
  EXPECT_TRUE(g.drained);
  EXPECT_EQ(g.watched_until_ns, -5);
  // One engine alone carries no ledger, and its result reads back without one.
  auto alone = work_result_from_json(work_result_to_json(WorkResult{sample_result(1), {}, false}));
  ASSERT_TRUE(alone.ok()) << alone.error();
  EXPECT_TRUE(alone->engine.ledger.empty());
}

TEST(WorkerJson, SharedRunErrorsNameTheField) {
  const auto request_error = [](const std::function<void(nlohmann::json&)>& edit) {
    auto body = nlohmann::json::parse(work_request_to_json(sample_shared_request()));
    edit(body);
    auto decoded = work_request_from_json(body.dump());
    return decoded.ok() ? std::string("accepted") : decoded.error();
  };
  EXPECT_NE(request_error([](auto& b) {
              b["engine"]["first_producer_id"] = 5;
            }).find("engine.first_producer_id: producers"),
            std::string::npos);
  EXPECT_NE(request_error([](auto& b) {
              b["engine"]["first_consumer"] = -1;
            }).find("engine.first_consumer: must not be negative"),
            std::string::npos);
  EXPECT_NE(request_error([](auto& b) {
              b["start_at_unix_ns"] = "soon";
            }).find("start_at_unix_ns: expected an integer"),
            std::string::npos);

  const auto result_error = [](const std::function<void(nlohmann::json&)>& edit) {
    WorkResult result;
    result.engine = sample_result(1);
    result.engine.ledger = sample_ledger();
    auto body = nlohmann::json::parse(work_result_to_json(result));
    edit(body);
    auto decoded = work_result_from_json(body.dump());
    return decoded.ok() ? std::string("accepted") : decoded.error();
  };
  EXPECT_NE(result_error([](auto& b) {
              b["engine"]["ledger"]["producers"][0]["acked"] = {{5, 9}, {0, 3}};
            }).find("engine.ledger.producers[0].acked: [1]: ranges must be sorted"),
            std::string::npos);
  EXPECT_NE(result_error([](auto& b) {
              b["engine"]["ledger"]["groups"][0]["received"][0]["ranges"] = {{7, 7}};
            }).find("engine.ledger.groups[0].received[0].ranges: [0]"),
            std::string::npos);
  EXPECT_NE(result_error([](auto& b) {
              b["engine"]["ledger"]["groups"][0]["received"][0]["ranges"][0] = {1};
            }).find("engine.ledger.groups[0].received[0].ranges[0]: expected a [first, end] pair"),
            std::string::npos);
}

// fuzz/worker_json_fuzz.cpp's seeds: a selector byte (0 request, 1 result, 2 status), then the
// document as the codecs write it.
TEST(WorkerJson, FuzzSeedsAreCurrent) {
  WorkResult result;
  result.engine = sample_result(3);
  result.counters = {{"zeta.requests", 7}};
  WorkResult shared_result;
  shared_result.engine = sample_result(1);
  shared_result.engine.ledger = sample_ledger();
  WorkerStatus status;
  status.state = "running";
  status.progress = {load::Phase::kMeasuring, true, 1.25, 12.5, 1000, 990, 101.5, 99.5, 1234};
  testing::check_fuzz_seeds(
      "worker_json",
      {{"request", std::string(1, '\0') + work_request_to_json(sample_request())},
       {"result", std::string(1, '\1') + work_result_to_json(result)},
       {"status", std::string(1, '\2') + worker_status_to_json(status)},
       {"request-shared", std::string(1, '\0') + work_request_to_json(sample_shared_request())},
       {"result-shared", std::string(1, '\1') + work_result_to_json(shared_result)}});
}

TEST(WorkerJson, ResultErrorsNameTheField) {
  WorkResult result;
  result.engine = sample_result(0);
  auto body = nlohmann::json::parse(work_result_to_json(result));

  auto with = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json copy = body;
    change(copy);
    auto decoded = work_result_from_json(copy.dump());
    return decoded.ok() ? std::string("ok") : decoded.error();
  };
  EXPECT_EQ(with([](auto& j) {
              j["engine"]["timeline"][1]["lost"] = -1;
            }).rfind("engine.timeline[1].lost: expected a non-negative integer", 0),
            0u);
  EXPECT_EQ(with([](auto& j) {
              j["engine"]["end_to_end_latency"] = "h1 garbage";
            }).rfind("engine.end_to_end_latency: ", 0),
            0u);
  EXPECT_EQ(with([](auto& j) { j["engine"]["delivery"].erase("acked"); }),
            "engine.delivery.acked: missing (required)");
  EXPECT_EQ(with([](auto& j) { j["counters"]["x"] = "3"; }),
            "counters.x: expected a non-negative integer");
  EXPECT_EQ(with([](auto& j) { j["engine"]["newer_field"] = 1; }), "ok")
      << "fields of a newer worker are ignored";
}

TEST(WorkerJson, StatusRoundTripsEveryPhase) {
  for (load::Phase phase : {load::Phase::kWarmup, load::Phase::kMeasuring, load::Phase::kDraining,
                            load::Phase::kDone}) {
    WorkerStatus status;
    status.state = "running";
    status.progress = {phase, true, 1.25, 12.5, 1000, 990, 101.5, 99.5, 1234};
    status.error = "e";
    auto decoded = worker_status_from_json(worker_status_to_json(status));
    ASSERT_TRUE(decoded.ok()) << decoded.error();
    EXPECT_EQ(decoded->state, "running");
    EXPECT_EQ(decoded->error, "e");
    EXPECT_EQ(decoded->progress.phase, phase);
    EXPECT_TRUE(decoded->progress.started);
    EXPECT_EQ(decoded->progress.elapsed_s, 1.25);
    EXPECT_EQ(decoded->progress.total_s, 12.5);
    EXPECT_EQ(decoded->progress.sent, 1000u);
    EXPECT_EQ(decoded->progress.received, 990u);
    EXPECT_EQ(decoded->progress.produced_per_s, 101.5);
    EXPECT_EQ(decoded->progress.consumed_per_s, 99.5);
    EXPECT_EQ(decoded->progress.p99_us, 1234u);
  }
  auto bad = worker_status_from_json(R"({"state": "sleeping", "progress": {}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().rfind("state: expected one of", 0), 0u) << bad.error();
}

// ---- merge ----

TEST(WorkerMerge, OneInputIsReturnedUnchanged) {
  const load::EngineResult only = sample_result(5);
  expect_same(merge_results({only}), only);
}

TEST(WorkerMerge, CountsAddHistogramsMergeTimelinesAddBySecond) {
  load::EngineResult a;
  load::EngineResult b;
  metrics::Histogram everything;
  for (uint64_t v = 1; v <= 3000; ++v) {
    a.end_to_end_latency.record(v * 1000);
    everything.record(v * 1000);
  }
  for (uint64_t v = 1; v <= 1000; ++v) {
    b.end_to_end_latency.record(v * 50'000);  // a slower worker: its tail dominates p99
    everything.record(v * 50'000);
  }
  a.publish_latency.record(10);
  b.publish_latency.record(20);
  a.measured_seconds = 10;
  b.measured_seconds = 9.5;  // started a little later: the longest window counts
  a.produced_in_window = 20'000;
  b.produced_in_window = 10'000;
  a.consumed_in_window = 19'000;
  b.consumed_in_window = 9'000;
  a.bytes_produced_in_window = 2'000'000;
  b.bytes_produced_in_window = 1'000'000;
  a.consumed_mb_per_s = 0.19;  // 1.9 MB over 10 s
  b.consumed_mb_per_s = 0.1;   // 0.95 MB over 9.5 s
  a.delivery = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  b.delivery = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  a.timeline = {{1.001, 100, 90, 500, 1, 5, 2}, {2.002, 110, 95, 700, 0, 0, 0}};
  b.timeline = {
      {0.998, 50, 40, 900, 3, 1, 4}, {2.0, 60, 55, 600, 1, 0, 1}, {3.01, 70, 65, 800, 0, 0, 0}};
  a.window = {1000, 100, 900, 50, 50, 0.5, 990, 980, 5, 5, 3, 2, false};
  b.window = {2000, 200, 2000, 0, 0, 0.1, 2000, 2000, 0, 0, 4, 1, true};
  a.censored_end_to_end = 3;
  b.censored_end_to_end = 4;
  a.partitions = {{"t", 0, 10}, {"t", 1, 20}};
  b.partitions = {{"t", 1, 5}, {"u", 0, 7}};
  a.error = "stopped";
  b.error = "stopped";

  const load::EngineResult m = merge_results({a, b});
  EXPECT_EQ(m.end_to_end_latency.count(), everything.count());
  for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(m.end_to_end_latency.percentile(p), everything.percentile(p)) << "p" << p;
  }
  EXPECT_EQ(m.end_to_end_latency.serialize(), everything.serialize());
  EXPECT_EQ(m.publish_latency.count(), 2u);
  EXPECT_EQ(m.publish_latency.max(), 20u);

  EXPECT_EQ(m.measured_seconds, 10);
  EXPECT_EQ(m.produced_in_window, 30'000u);
  EXPECT_EQ(m.consumed_in_window, 28'000u);
  EXPECT_EQ(m.bytes_produced_in_window, 3'000'000u);
  EXPECT_DOUBLE_EQ(m.produced_msgs_per_s, 3'000);
  EXPECT_DOUBLE_EQ(m.consumed_msgs_per_s, 2'800);
  EXPECT_DOUBLE_EQ(m.produced_mb_per_s, 0.3);
  EXPECT_DOUBLE_EQ(m.consumed_mb_per_s, 0.285);

  EXPECT_EQ(m.delivery.sent, 11u);
  EXPECT_EQ(m.delivery.acked, 22u);
  EXPECT_EQ(m.delivery.send_errors, 33u);
  EXPECT_EQ(m.delivery.received, 44u);
  EXPECT_EQ(m.delivery.lost, 55u);
  EXPECT_EQ(m.delivery.undelivered, 66u);
  EXPECT_EQ(m.delivery.duplicated, 77u);
  EXPECT_EQ(m.delivery.redelivered, 88u);
  EXPECT_EQ(m.delivery.reordered, 99u);
  EXPECT_EQ(m.delivery.corrupt, 110u);

  EXPECT_EQ(m.window.offered, 3000u);
  EXPECT_EQ(m.window.offered_per_s, 300);
  EXPECT_EQ(m.window.sent_late, 50u);
  EXPECT_EQ(m.window.unsent, 50u);
  EXPECT_EQ(m.window.max_send_lag_s, 0.5);
  EXPECT_EQ(m.window.received, 2980u);
  EXPECT_EQ(m.window.warmup_acked_in_window, 7u);
  EXPECT_EQ(m.window.warmup_received_in_window, 3u);
  EXPECT_FALSE(m.window.rate_sustained) << "one worker fell behind: the run did";
  EXPECT_EQ(m.censored_end_to_end, 7u);
  ASSERT_EQ(m.partitions.size(), 3u);
  EXPECT_EQ(m.partitions[1].topic, "t");
  EXPECT_EQ(m.partitions[1].partition, 1);
  EXPECT_EQ(m.partitions[1].received, 25u);

  ASSERT_EQ(m.timeline.size(), 3u);
  EXPECT_EQ(m.timeline[0].t_s, 1);
  EXPECT_EQ(m.timeline[0].produced_per_s, 150);
  EXPECT_EQ(m.timeline[0].consumed_per_s, 130);
  EXPECT_EQ(m.timeline[0].p99_us, 900u) << "the worst worker's p99";
  EXPECT_EQ(m.timeline[0].lost, 4u);
  EXPECT_EQ(m.timeline[0].undelivered, 6u);
  EXPECT_EQ(m.timeline[0].duplicated, 6u);
  EXPECT_EQ(m.timeline[1].t_s, 2);
  EXPECT_EQ(m.timeline[1].produced_per_s, 170);
  EXPECT_EQ(m.timeline[1].p99_us, 700u);
  EXPECT_EQ(m.timeline[1].lost, 1u);
  EXPECT_EQ(m.timeline[2].t_s, 3);
  EXPECT_EQ(m.timeline[2].produced_per_s, 70);

  EXPECT_EQ(m.error, "stopped") << "the same error is reported once";
  b.error = "redis: connection reset";
  EXPECT_EQ(merge_results({a, b}).error, "stopped; redis: connection reset");
  a.error.clear();
  EXPECT_EQ(merge_results({a, b}).error, "redis: connection reset");
}

// ---- the agent, in process ----

// A driver whose connect() always fails, as an unreachable broker's would.
class UnreachableDriver : public testing::MemoryDriver {
 public:
  Status connect(const drivers::Endpoint& endpoint, const core::Settings&) override {
    return make_error("cannot reach " + endpoint.addresses.at(0));
  }
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-worker-unit-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_TRUE(memory_.create_topic("w-0", 2).ok());

    drivers::DriverInfo memory;
    memory.name = "memory";
    memory.description = "in-memory test driver";
    // Every driver the agent creates shares this one's topics.
    memory.create = [shared = memory_] { return std::make_unique<testing::MemoryDriver>(shared); };
    drivers::DriverInfo unreachable;
    unreachable.name = "unreachable";
    unreachable.create = [] { return std::make_unique<UnreachableDriver>(); };

    AgentOptions options;
    options.ready_file = (dir_ / "ready").string();
    options.drivers = {memory, unreachable};
    ready_file_ = options.ready_file;
    port_ = testing::start_in_process_agent(options, agent_, &exit_code_);
    ASSERT_GT(port_, 0) << "the agent never wrote a loopback address to its ready file";
  }

  void TearDown() override {
    if (agent_.joinable()) {
      (void)client().shutdown();
      agent_.join();
    }
    fs::remove_all(dir_);
  }

  WorkerClient client() { return WorkerClient("127.0.0.1", port_); }
  httplib::Client http() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    return c;
  }

  WorkRequest request(std::chrono::nanoseconds duration, std::string driver = "memory") {
    WorkRequest r;
    r.driver = std::move(driver);
    r.addresses = {"memory:0"};
    r.engine.producers = 2;
    r.engine.consumers = 1;
    r.engine.rate = 2000;
    r.engine.warmup = 200ms;
    r.engine.duration = duration;
    r.engine.drain_timeout = 2s;
    r.engine.message_size = 64;
    r.engine.topics = {"w-0"};
    return r;
  }

  std::string wait_for_final_state() {
    for (int i = 0; i < 500; ++i) {
      auto status = client().status();
      if (status.ok() && (status->state == "done" || status->state == "failed")) {
        return status->state;
      }
      std::this_thread::sleep_for(20ms);
    }
    return "timeout";
  }

  fs::path dir_;
  std::string ready_file_;
  testing::MemoryDriver memory_;
  std::thread agent_;
  int exit_code_ = -1;
  int port_ = 0;
};

TEST_F(AgentTest, RunsAWorkloadAndReturnsItsResult) {
  EXPECT_TRUE(client().health().ok());
  auto early = http().Get("/v1/result");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 409) << "no result before a run";

  std::vector<load::Progress> progress;
  std::atomic<bool> never{false};
  auto result = client().run(
      request(1s), [&](const load::Progress& p) { progress.push_back(p); }, never);
  ASSERT_TRUE(result.ok()) << result.error();
  const load::EngineResult& e = result->engine;
  EXPECT_EQ(e.error, "");
  EXPECT_GT(e.delivery.sent, 1000u);
  EXPECT_EQ(e.delivery.received, e.delivery.acked);
  EXPECT_EQ(e.delivery.lost, 0u);
  EXPECT_GT(e.end_to_end_latency.count(), 0u);
  EXPECT_FALSE(e.timeline.empty());
  EXPECT_TRUE(result->emulated) << "the memory driver says it is an emulator";
  EXPECT_FALSE(progress.empty()) << "progress is relayed while the run goes on";

  auto status = client().status();
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->state, "done");

  // The worker takes another run once the previous one is done.
  auto again = client().run(request(300ms), nullptr, never);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_GT(again->engine.delivery.sent, 0u);
}

// Whoever schedules faults anchors on the engine's elapsed time: a status answer must give it as
// of the answer, not as of the last once-a-second tick, or faults fire up to a second late.
TEST_F(AgentTest, StatusGivesTheElapsedTimeAsOfTheAnswer) {
  ASSERT_TRUE(client().start(request(3s)).ok());
  std::optional<WorkerStatus> first;
  for (int i = 0; i < 300 && !first; ++i) {
    auto status = client().status();
    ASSERT_TRUE(status.ok()) << status.error();
    if (status->progress.started) first = *status;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(first) << "the engine never reported its start";
  const auto first_at = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(300ms);
  auto second = client().status();
  ASSERT_TRUE(second.ok()) << second.error();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - first_at).count();
  // Within 100 ms of the time that really passed (a tick in between would also be exact).
  EXPECT_NEAR(second->progress.elapsed_s - first->progress.elapsed_s, waited, 0.1);
  ASSERT_TRUE(client().stop().ok());
  EXPECT_EQ(wait_for_final_state(), "done");
}

TEST_F(AgentTest, OneRunAtATimeAndStopEndsItEarly) {
  ASSERT_TRUE(client().start(request(60s)).ok());
  auto second = http().Post("/v1/run", work_request_to_json(request(1s)), "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;
  EXPECT_NE(second->body.find("a run is active"), std::string::npos) << second->body;

  std::this_thread::sleep_for(500ms);
  const auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(client().stop().ok());
  EXPECT_EQ(wait_for_final_state(), "done");
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 5s);
  auto result = client().result();
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->engine.error, "stopped");
  EXPECT_GT(result->engine.delivery.sent, 0u);
}

TEST_F(AgentTest, RunStopsWhenTheCallerStops) {
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(700ms);
    stop = true;
  });
  const auto started = std::chrono::steady_clock::now();
  auto result = client().run(request(60s), nullptr, stop);
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result->engine.error, "stopped");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST_F(AgentTest, AFailedConnectEndsTheRunFailed) {
  std::atomic<bool> never{false};
  auto result = client().run(request(1s, "unreachable"), nullptr, never);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().find("connect: cannot reach memory:0"), std::string::npos)
      << result.error();
  auto status = client().status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, "failed");
  auto collected = client().result();
  ASSERT_TRUE(collected.ok()) << collected.error();
  EXPECT_NE(collected->engine.error.find("cannot reach"), std::string::npos);
}

TEST_F(AgentTest, BadRequestsAreAnswered400NamingTheField) {
  auto bad_type = http().Post("/v1/run", R"({"driver": "memory", "engine": {"producers": "x"}})",
                              "application/json");
  ASSERT_TRUE(bad_type);
  EXPECT_EQ(bad_type->status, 400);
  EXPECT_NE(bad_type->body.find("engine.producers: expected an integer"), std::string::npos)
      << bad_type->body;

  auto unknown_driver = client().start(request(1s, "nats"));
  ASSERT_FALSE(unknown_driver.ok());
  EXPECT_NE(unknown_driver.error().find("driver: unknown driver \"nats\" (known: memory"),
            std::string::npos)
      << unknown_driver.error();

  auto missing = http().Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("no such endpoint"), std::string::npos);

  auto status = client().status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, "idle") << "a rejected request starts nothing";
}

TEST_F(AgentTest, ShutdownStopsTheRunAndReturnsZero) {
  ASSERT_TRUE(client().start(request(60s)).ok());
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(client().shutdown().ok());
  agent_.join();
  EXPECT_EQ(exit_code_, 0);
  EXPECT_FALSE(fs::exists(ready_file_)) << "the ready file goes with the agent";
  EXPECT_FALSE(client().health().ok());
}

TEST(WorkerClientTest, GivesUpOnAnUnreachableWorkerAfterTheTimeout) {
  infra::PosixEnv env;
  auto port = env.free_tcp_port("127.0.0.1");  // nothing listens there
  ASSERT_TRUE(port.ok()) << port.error();
  WorkerClient client("127.0.0.1", *port);
  std::atomic<bool> never{false};
  const auto started = std::chrono::steady_clock::now();
  auto result = client.run(WorkRequest{}, nullptr, never, std::chrono::seconds(1));
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().find("did not answer POST /v1/run"), std::string::npos)
      << result.error();
  EXPECT_GE(waited, 900ms) << "connection failures are retried for the timeout";
  EXPECT_LT(waited, 5s);
}

}  // namespace
}  // namespace dec::worker
