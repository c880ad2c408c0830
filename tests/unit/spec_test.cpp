#include "core/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "core/spec_parser.h"

namespace dec::core {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Knows two drivers; rejects the config key "bogus" like a real driver rejects unknown keys.
DriverCatalog fake_catalog() {
  DriverCatalog catalog;
  catalog.names = {"redis", "kafka"};
  catalog.validate_config = [](const std::string& driver, const Settings& config,
                               const std::string& path_prefix) {
    std::vector<FieldError> errors;
    if (config.contains("bogus")) {
      errors.push_back({path_prefix + ".bogus", "unknown " + driver + " setting"});
    }
    return errors;
  };
  return catalog;
}

ParseResult parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return parse_spec(text, overrides, fake_catalog());
}

std::vector<std::string> messages(const ParseResult& result) {
  std::vector<std::string> out;
  for (const FieldError& error : result.errors) out.push_back(error.to_string());
  return out;
}

std::vector<std::string> paths(const ParseResult& result) {
  std::vector<std::string> out;
  for (const FieldError& error : result.errors) out.push_back(error.path);
  return out;
}

Spec parse_ok(const std::string& text, const std::vector<std::string>& overrides = {}) {
  ParseResult result = parse(text, overrides);
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(messages(result));
  return result.spec;
}

constexpr const char* kMinimal = R"(
name: minimal
systems:
  - name: a
    driver: redis
)";

constexpr const char* kFullYaml = R"(
# Redis with and without an append-only file.
name: redis-durability
description: Does fsync on every write cost latency?
workload:
  message_size: 1KiB
  producers: 4
  consumers: 2
  rate: 50k/s
  duration: 1m30s
  warmup: 5s
  drain_timeout: 500ms
  topics: 2
  partitions: 3
  keys: 100
  consumer_groups: 2
  client:
    max_in_flight: 64
    linger: 5ms
    fetch_wait: 100ms
systems:
  - name: redis-memory
    driver: redis
    config:
      pipeline: 64
      read_mode: group
    deploy:
      provider: local
      nodes: 1
      cpus: 2
      memory: 1GiB
      bandwidth: 1Gbit
      server:
        appendonly: "no"
  - name: redis-aof
    driver: redis
    config:
      pipeline: 64
    deploy:
      cpus: 0.5
      server:
        appendonly: "yes"
        appendfsync: always
targets:
  p99_latency: 5ms
  min_throughput: 40k/s
faults:
  - {at: 30s, action: throttle, bandwidth: 10Mbit, system: redis-aof}
  - at: 20s
    action: kill
  - {at: 20s, action: pause, target: 0}
  - {at: 25s, action: resume}
pricing:
  instance_type: c5.large
  systems:
    redis-aof: {instance_type: r5.large, storage_gb: 50, storage_gb_month: 0.1}
)";

constexpr const char* kFullJson = R"({
  "name": "redis-durability",
  "description": "Does fsync on every write cost latency?",
  "workload": {
    "message_size": "1KiB", "producers": 4, "consumers": 2, "rate": 50000,
    "duration": "90s", "warmup": "5s", "drain_timeout": "500ms", "topics": 2,
    "partitions": 3, "keys": 100, "consumer_groups": 2,
    "client": {"max_in_flight": "64", "linger": "5000us", "fetch_wait": "0.1s"}
  },
  "systems": [
    {"name": "redis-memory", "driver": "redis",
     "config": {"pipeline": 64, "read_mode": "group"},
     "deploy": {"provider": "local", "nodes": 1, "cpus": 2, "memory": 1073741824,
                "bandwidth": "1000Mbit", "server": {"appendonly": "no"}}},
    {"name": "redis-aof", "driver": "redis", "config": {"pipeline": "64"},
     "deploy": {"cpus": 0.5, "server": {"appendonly": "yes", "appendfsync": "always"}}}
  ],
  "targets": {"p99_latency": "5ms", "min_throughput": "40k"},
  "faults": [
    {"at": "30s", "action": "throttle", "bandwidth": "10000kbit", "system": "redis-aof"},
    {"at": "20000ms", "action": "kill"},
    {"at": "20s", "action": "pause", "target": 0},
    {"at": "25s", "action": "resume"}
  ],
  "pricing": {"instance_type": "c5.large",
              "systems": {"redis-aof": {"instance_type": "r5.large", "storage_gb": "50",
                                        "storage_gb_month": 0.10}}}
})";

TEST(ParseSpec, FullYamlSpec) {
  Spec spec = parse_ok(kFullYaml);
  EXPECT_EQ(spec.name, "redis-durability");
  EXPECT_EQ(spec.description, "Does fsync on every write cost latency?");
  const Workload& w = spec.workload;
  EXPECT_EQ(w.message_size, 1024u);
  EXPECT_EQ(w.producers, 4);
  EXPECT_EQ(w.consumers, 2);
  EXPECT_EQ(w.rate, 50000);
  EXPECT_EQ(w.duration, seconds(90));
  EXPECT_EQ(w.warmup, seconds(5));
  EXPECT_EQ(w.drain_timeout, milliseconds(500));
  EXPECT_EQ(w.topics, 2);
  EXPECT_EQ(w.partitions, 3);
  EXPECT_EQ(w.keys, 100);
  EXPECT_EQ(w.consumer_groups, 2);
  EXPECT_EQ(w.client.max_in_flight, 64);
  EXPECT_EQ(w.client.linger, milliseconds(5));
  EXPECT_EQ(w.client.fetch_wait, milliseconds(100));
  ASSERT_EQ(spec.systems.size(), 2u);
  const System& memory = spec.systems[0];
  EXPECT_EQ(memory.name, "redis-memory");
  EXPECT_EQ(memory.driver, "redis");
  EXPECT_EQ(memory.config, (Settings{{"pipeline", "64"}, {"read_mode", "group"}}));
  EXPECT_EQ(memory.deploy.provider, "local");
  EXPECT_EQ(memory.deploy.nodes, 1);
  EXPECT_EQ(memory.deploy.cpus, 2.0);
  EXPECT_EQ(memory.deploy.memory, uint64_t{1} << 30);
  EXPECT_EQ(memory.deploy.bandwidth, 1'000'000'000u);
  EXPECT_EQ(memory.deploy.server, (Settings{{"appendonly", "no"}}));
  const System& aof = spec.systems[1];
  EXPECT_EQ(aof.deploy.cpus, 0.5);
  EXPECT_FALSE(aof.deploy.memory.has_value());
  EXPECT_EQ(aof.deploy.server, (Settings{{"appendonly", "yes"}, {"appendfsync", "always"}}));
  EXPECT_EQ(spec.targets.p99_latency, milliseconds(5));
  EXPECT_EQ(spec.targets.min_throughput, 40000);
  // Sorted by time; the kill and the pause at 20s keep the order they were written in.
  ASSERT_EQ(spec.faults.size(), 4u);
  EXPECT_EQ(spec.faults[0], (Fault{seconds(20), "kill", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[1], (Fault{seconds(20), "pause", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[2], (Fault{seconds(25), "resume", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[3], (Fault{seconds(30), "throttle", 0, 10'000'000u, "redis-aof"}));
}

TEST(ParseSpec, SameSpecInJsonIsEqual) { EXPECT_EQ(parse_ok(kFullJson), parse_ok(kFullYaml)); }

TEST(ParseSpec, DefaultsApplyToEverythingLeftOut) {
  Spec spec = parse_ok(kMinimal);
  EXPECT_EQ(spec.description, "");
  EXPECT_EQ(spec.workload, Workload{});
  EXPECT_EQ(spec.workload.message_size, 1024u);
  EXPECT_EQ(spec.workload.duration, seconds(10));
  EXPECT_EQ(spec.workload.warmup, seconds(2));
  EXPECT_EQ(spec.workload.rate, 0);
  EXPECT_TRUE(spec.workload.client.empty());
  ASSERT_EQ(spec.systems.size(), 1u);
  EXPECT_TRUE(spec.systems[0].config.empty());
  EXPECT_EQ(spec.systems[0].deploy, Deploy{});
  EXPECT_EQ(spec.systems[0].deploy.provider, "local");
  EXPECT_EQ(spec.targets, Targets{});
  EXPECT_TRUE(spec.faults.empty());
}

TEST(ParseSpec, EmptyValuesKeepDefaults) {
  Spec spec = parse_ok(R"(
name: empty-values
description:
workload:
targets:
faults:
systems:
  - name: a
    driver: redis
    config:
    deploy:
)");
  EXPECT_EQ(spec.workload, Workload{});
  EXPECT_EQ(spec.systems[0].deploy, Deploy{});
  EXPECT_TRUE(spec.faults.empty());
}

TEST(ParseSpec, NumbersAndStringsAreInterchangeable) {
  Spec spec = parse_ok(R"(
name: 123
workload:
  producers: "4"
  message_size: 2048
  rate: 1000
  duration: "2s"
systems:
  - name: 7
    driver: redis
    config: {pipeline: 64, enabled: true, mode: no, ratio: 0.5}
    deploy: {nodes: "2", cpus: "1.5"}
)");
  EXPECT_EQ(spec.name, "123");
  EXPECT_EQ(spec.workload.producers, 4);
  EXPECT_EQ(spec.workload.message_size, 2048u);
  EXPECT_EQ(spec.workload.rate, 1000);
  EXPECT_EQ(spec.workload.duration, seconds(2));
  EXPECT_EQ(spec.systems[0].name, "7");
  EXPECT_EQ(spec.systems[0].config,
            (Settings{{"pipeline", "64"}, {"enabled", "true"}, {"mode", "no"}, {"ratio", "0.5"}}));
  EXPECT_EQ(spec.systems[0].deploy.nodes, 2);
  EXPECT_EQ(spec.systems[0].deploy.cpus, 1.5);
}

TEST(ParseSpec, EveryUnitFormInAField) {
  struct Case {
    std::string duration;
    nanoseconds expected;
  };
  for (const Case& c : {Case{"250ns", nanoseconds(250)}, Case{"10us", microseconds(10)},
                        Case{"10\xC2\xB5s", microseconds(10)}, Case{"500ms", milliseconds(500)},
                        Case{"1.5s", milliseconds(1500)}, Case{"2m", minutes(2)},
                        Case{"1h", minutes(60)}, Case{"1m30s", seconds(90)}}) {
    Spec spec = parse_ok(kMinimal, {"workload.duration=" + c.duration});
    EXPECT_EQ(spec.workload.duration, c.expected) << c.duration;
  }
  EXPECT_EQ(parse_ok(kMinimal, {"workload.warmup=0"}).workload.warmup, nanoseconds(0));
  for (auto [text, bytes] :
       {std::pair{"32", 32u}, std::pair{"100B", 100u}, std::pair{"4KB", 4000u},
        std::pair{"4KiB", 4096u}, std::pair{"1MB", 1'000'000u}, std::pair{"1MiB", 1u << 20}}) {
    EXPECT_EQ(
        parse_ok(kMinimal, {std::string("workload.message_size=") + text}).workload.message_size,
        bytes)
        << text;
  }
  for (auto [text, rate] : {std::pair{"0", 0.0}, std::pair{"50000", 5e4}, std::pair{"50k/s", 5e4},
                            std::pair{"1.5k", 1.5e3}, std::pair{"2M/s", 2e6}}) {
    EXPECT_EQ(parse_ok(kMinimal, {std::string("workload.rate=") + text}).workload.rate, rate)
        << text;
  }
  for (auto [text, bits] :
       {std::pair{"500kbit", 500'000u}, std::pair{"100Mbit", 100'000'000u},
        std::pair{"100Mbps", 100'000'000u}, std::pair{"1Gbit", 1'000'000'000u}}) {
    EXPECT_EQ(parse_ok(kMinimal, {std::string("systems[0].deploy.bandwidth=") + text})
                  .systems[0]
                  .deploy.bandwidth,
              bits)
        << text;
  }
  EXPECT_EQ(parse_ok(kMinimal, {"systems[0].deploy.memory=512MiB"}).systems[0].deploy.memory,
            uint64_t{512} << 20);
}

// One broken field per spec: exactly one error, at exactly this path.
struct BadSpec {
  std::string text;
  std::string path;
  std::string message;  // a part of the message
};

std::string with_workload(const std::string& workload_yaml) {
  return "name: t\nworkload:\n" + workload_yaml + "\nsystems:\n  - name: a\n    driver: redis\n";
}

std::string with_system(const std::string& system_yaml) {
  return "name: t\nsystems:\n  - name: a\n" + system_yaml + "\n";
}

// Two systems, with 3 nodes and 1 node, running 2s warm-up + 10s measured; `faults_yaml` is the
// body of the faults list.
std::string with_faults(const std::string& faults_yaml) {
  return "name: t\n"
         "workload: {warmup: 2s, duration: 10s}\n"
         "systems:\n"
         "  - {name: redis-a, driver: redis, deploy: {nodes: 3}}\n"
         "  - {name: redis-b, driver: redis}\n"
         "faults:\n" +
         faults_yaml + "\n";
}

void PrintTo(const BadSpec& bad, std::ostream* out) { *out << bad.path << " <- " << bad.text; }

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, ReportsOneErrorAtItsPath) {
  const BadSpec& bad = GetParam();
  ParseResult result = parse(bad.text);
  ASSERT_EQ(result.errors.size(), 1u) << bad.text << ::testing::PrintToString(messages(result));
  EXPECT_EQ(result.errors[0].path, bad.path) << bad.text;
  EXPECT_THAT(result.errors[0].message, HasSubstr(bad.message)) << bad.text;
}

INSTANTIATE_TEST_SUITE_P(
    Validation, BadSpecTest,
    ::testing::Values(
        BadSpec{"systems:\n  - name: a\n    driver: redis\n", "name", "required field missing"},
        BadSpec{"name: t\n", "systems", "required field missing"},
        BadSpec{"name: t\nsystems: []\n", "systems", "must list at least one system"},
        BadSpec{"name: t\nsystems:\n  a: {driver: redis}\n", "systems",
                "expected a list of systems, got a map"},
        BadSpec{"name: [a, b]\nsystems:\n  - {name: a, driver: redis}\n", "name",
                "expected a string, got a list"},
        BadSpec{"nmae: t\nname: t\nsystems:\n  - {name: a, driver: redis}\n", "nmae",
                "unknown field (did you mean \"name\"?)"},
        BadSpec{"name: t\nworkload: [1]\nsystems:\n  - {name: a, driver: redis}\n", "workload",
                "expected a map with fields message_size, producers"},
        BadSpec{with_workload("  durtion: 5s"), "workload.durtion",
                "unknown field (did you mean \"duration\"?)"},
        BadSpec{with_workload("  rate: -5/s"), "workload.rate",
                "invalid rate \"-5/s\": must be 0 (as fast as possible) or positive"},
        BadSpec{with_workload("  rate: lots"), "workload.rate", "invalid rate \"lots\""},
        BadSpec{with_workload("  duration: 10"), "workload.duration",
                "\"10\" has no unit: write 10s or 10ms"},
        BadSpec{with_workload("  duration: 0s"), "workload.duration", "must be longer than 0"},
        BadSpec{with_workload("  warmup: -1s"), "workload.warmup", "must not be negative"},
        BadSpec{with_workload("  drain_timeout: 5 minutes"), "workload.drain_timeout",
                "invalid duration"},
        BadSpec{with_workload("  message_size: 16"), "workload.message_size",
                "must be at least 32B"},
        BadSpec{with_workload("  message_size: 65MiB"), "workload.message_size",
                "must be at most 64MiB"},
        BadSpec{with_workload("  message_size: 12XB"), "workload.message_size",
                "invalid size \"12XB\": expected a number followed by B, KB, KiB, MB, MiB, GB "
                "or GiB"},
        BadSpec{with_workload("  producers: 0"), "workload.producers", "must be at least 1, got 0"},
        BadSpec{with_workload("  producers: 1.5"), "workload.producers",
                "expected a whole number, got \"1.5\""},
        BadSpec{with_workload("  consumers: -1"), "workload.consumers", "must be at least 0"},
        BadSpec{with_workload("  topics: many"), "workload.topics", "expected a whole number"},
        BadSpec{with_workload("  partitions: 0"), "workload.partitions", "must be at least 1"},
        BadSpec{with_workload("  keys: -2"), "workload.keys", "must be at least 0"},
        BadSpec{with_workload("  consumer_groups: 0"), "workload.consumer_groups",
                "must be at least 1"},
        BadSpec{with_workload("  producers: 99999999999"), "workload.producers", "too large"},
        BadSpec{with_workload("  rate: 1\n  rate: 2"), "workload.rate", "given more than once"},
        BadSpec{with_workload("  client: [64]"), "workload.client",
                "expected a map with fields max_in_flight, linger or fetch_wait, got a list"},
        BadSpec{with_workload("  client: {max_inflight: 64}"), "workload.client.max_inflight",
                "unknown field (did you mean \"max_in_flight\"?)"},
        BadSpec{with_workload("  client: {fetch_wiat: 1ms}"), "workload.client.fetch_wiat",
                "unknown field (did you mean \"fetch_wait\"?)"},
        BadSpec{with_workload("  client: {max_in_flight: 0}"), "workload.client.max_in_flight",
                "must be at least 1, got 0"},
        BadSpec{with_workload("  client: {max_in_flight: many}"), "workload.client.max_in_flight",
                "expected a whole number"},
        BadSpec{with_workload("  client: {linger: 5}"), "workload.client.linger",
                "\"5\" has no unit: write 5s or 5ms"},
        BadSpec{with_workload("  client: {linger: -1ms}"), "workload.client.linger",
                "must not be negative"},
        BadSpec{with_workload("  client: {fetch_wait: 2m}"), "workload.client.fetch_wait",
                "must be at most 60s (the longest every driver accepts), got \"2m\""},
        BadSpec{"name: t\nsystems:\n  - just-a-name\n", "systems[0]",
                "expected a map with fields name, driver, config or deploy, got \"just-a-name\""},
        BadSpec{"name: t\nsystems:\n  - ~\n", "systems[0]", "got nothing"},
        BadSpec{"name: t\nsystems:\n  - {name: [x], driver: redis}\n", "systems[0].name",
                "expected a string, got a list"},
        BadSpec{"name: \"\"\nsystems:\n  - {name: a, driver: redis}\n", "name",
                "must not be empty"},
        BadSpec{"name: t\nsystems:\n  - driver: redis\n", "systems[0].name",
                "required field missing"},
        BadSpec{with_system(""), "systems[0].driver", "required field missing"},
        BadSpec{with_system("    driver: redsi"), "systems[0].driver",
                "unknown driver \"redsi\" (did you mean \"redis\"?)"},
        BadSpec{with_system("    driver: Kafka"), "systems[0].driver",
                "unknown driver \"Kafka\" (did you mean \"kafka\"?)"},
        BadSpec{with_system("    driver: pulsar"), "systems[0].driver",
                "unknown driver \"pulsar\" (known drivers: redis or kafka)"},
        BadSpec{"name: t\nsystems:\n  - {name: my redis, driver: redis}\n", "systems[0].name",
                "\"my redis\" is not a valid name"},
        BadSpec{"name: t\nsystems:\n  - {name: a, driver: redis}\n  - {name: a, driver: kafka}\n",
                "systems[1].name", "duplicate name \"a\" (also used by systems[0])"},
        BadSpec{with_system("    driver: redis\n    confg: {}"), "systems[0].confg",
                "unknown field (did you mean \"config\"?)"},
        BadSpec{with_system("    driver: redis\n    config: {nested: {a: 1}}"),
                "systems[0].config.nested", "expected a single value"},
        BadSpec{with_system("    driver: redis\n    config: {pipeline: [1, 2]}"),
                "systems[0].config.pipeline", "got a list"},
        BadSpec{with_system("    driver: redis\n    config: {pipeline: }"),
                "systems[0].config.pipeline", "has no value"},
        BadSpec{with_system("    driver: redis\n    config: [pipeline]"), "systems[0].config",
                "expected a map of names to values, got a list"},
        BadSpec{with_system("    driver: redis\n    config: {bogus: 1}"), "systems[0].config.bogus",
                "unknown redis setting"},
        BadSpec{with_system("    driver: redis\n    deploy: {provider: lcoal}"),
                "systems[0].deploy.provider",
                "unknown provider \"lcoal\" (did you mean \"local\"?)"},
        BadSpec{with_system("    driver: redis\n    deploy: {provider: aws}"),
                "systems[0].deploy.provider",
                "unknown provider \"aws\": expected local, endpoints, kubernetes or terraform"},
        BadSpec{with_system("    driver: redis\n    deploy: {nodes: 0}"), "systems[0].deploy.nodes",
                "must be at least 1"},
        BadSpec{with_system("    driver: redis\n    deploy: {cpus: 0}"), "systems[0].deploy.cpus",
                "must be greater than 0"},
        BadSpec{with_system("    driver: redis\n    deploy: {cpus: two}"), "systems[0].deploy.cpus",
                "expected a number, got \"two\""},
        BadSpec{with_system("    driver: redis\n    deploy: {memory: 1XB}"),
                "systems[0].deploy.memory", "invalid size \"1XB\""},
        BadSpec{with_system("    driver: redis\n    deploy: {bandwidth: 100}"),
                "systems[0].deploy.bandwidth", "invalid bandwidth \"100\""},
        BadSpec{with_system("    driver: redis\n    deploy: {server: [appendonly]}"),
                "systems[0].deploy.server", "expected a map of names to values"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: 0}"),
                "systems[0].deploy.workers", "must be at least 1"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: 51}"),
                "systems[0].deploy.workers", "at most 50 load agents"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: []}"),
                "systems[0].deploy.workers", "list at least one agent address"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: [\"10.0.0.7\"]}"),
                "systems[0].deploy.workers[0]", "expected host:port"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: [\"a:7400\", \"b:0\"]}"),
                "systems[0].deploy.workers[1]", "port from 1 to 65535"},
        BadSpec{with_system("    driver: redis\n    deploy: {workers: [\"a:7400\", \"a:7400\"]}"),
                "systems[0].deploy.workers[1]", "twice"},
        BadSpec{with_system("    driver: redis\n    workers: 3"), "systems[0].workers",
                "did you mean deploy.workers?"},
        BadSpec{with_system("    driver: redis\n    deploy: {colour: blue}"),
                "systems[0].deploy.colour", "unknown field"},
        // A bare number is bytes: no broker starts in 100 of them.
        BadSpec{with_system("    driver: redis\n    deploy: {memory: 100}"),
                "systems[0].deploy.memory",
                "must be at least 32MiB (a bare number is bytes), got \"100\"; write a unit"},
        BadSpec{with_system("    driver: redis\n    deploy: {memory: 31MiB}"),
                "systems[0].deploy.memory", "must be at least 32MiB"},
        // Mis-indented: `nodes:` at the system's level instead of under deploy.
        BadSpec{with_system("    driver: redis\n    deploy: {provider: local}\n    nodes: 3"),
                "systems[0].nodes", "did you mean deploy.nodes? indent nodes: under deploy:"},
        BadSpec{"name: t\nsystems: [{name: a, driver: redis}]\ntargets: {p99_latency: 5}\n",
                "targets.p99_latency", "\"5\" has no unit: write 5s or 5ms"},
        BadSpec{"name: t\nsystems: [{name: a, driver: redis}]\ntargets: {min_throughput: 0}\n",
                "targets.min_throughput", "must be greater than 0"},
        BadSpec{"name: t\nsystems: [{name: a, driver: redis}]\ntargets: {p95_latency: 5ms}\n",
                "targets.p95_latency", "unknown field (did you mean \"p99_latency\"?)"},
        BadSpec{"name: t\nsystems: [{name: a, driver: redis}]\nfaults: {at: 1s, action: kill}\n",
                "faults", "expected a list of faults (each a map with at and action), got a map"},
        BadSpec{with_faults("  - ~"), "faults[0]",
                "expected a map with fields at, action, target, bandwidth or system, got nothing"},
        BadSpec{with_faults("  - kill"), "faults[0]",
                "expected a map with fields at, action, target, bandwidth or system, got "
                "\"kill\""},
        BadSpec{with_faults("  - {action: kill}"), "faults[0].at", "required field missing"},
        BadSpec{with_faults("  - {at: 1s}"), "faults[0].action",
                "required field missing: one of kill, pause, resume, disconnect, reconnect or "
                "throttle"},
        BadSpec{with_faults("  - {at: -1s, action: kill}"), "faults[0].at", "must not be negative"},
        BadSpec{with_faults("  - {at: 5, action: kill}"), "faults[0].at",
                "\"5\" has no unit: write 5s or 5ms"},
        BadSpec{with_faults("  - {at: 1s, action: kill}\n  - {at: 12s, action: kill}"),
                "faults[1].at",
                "12s is not inside the run, which ends at 12s (workload.warmup 2s + "
                "workload.duration 10s; faults count from the start of warm-up)"},
        BadSpec{with_faults("  - {at: 1s, action: kil}"), "faults[0].action",
                "unknown action \"kil\" (did you mean \"kill\"?)"},
        BadSpec{with_faults("  - {at: 1s, action: Pause}"), "faults[0].action",
                "unknown action \"Pause\" (did you mean \"pause\"?)"},
        BadSpec{with_faults("  - {at: 1s, action: explode}"), "faults[0].action",
                "unknown action \"explode\": expected kill, pause, resume, disconnect, reconnect "
                "or throttle"},
        BadSpec{with_faults("  - {at: 1s, action: [kill]}"), "faults[0].action",
                "expected a string, got a list"},
        BadSpec{with_faults("  - {at: 1s, action: kill, target: -1}"), "faults[0].target",
                "must be at least 0, got -1"},
        BadSpec{with_faults("  - {at: 1s, action: kill, target: first}"), "faults[0].target",
                "expected a whole number, got \"first\""},
        BadSpec{with_faults("  - {at: 1s, action: kill, target: 1, system: redis-b}"),
                "faults[0].target", "1 is out of range: system \"redis-b\" has 1 node (0)"},
        // Without `system` a fault runs on every system, so every one must have the node.
        BadSpec{with_faults("  - {at: 1s, action: kill, target: 1}"), "faults[0].target",
                "1 is out of range: system \"redis-b\" has 1 node (0)"},
        BadSpec{with_faults("  - {at: 1s, action: throttle}"), "faults[0].bandwidth",
                "required field missing: throttle needs the bandwidth to shape the link to"},
        BadSpec{with_faults("  - {at: 1s, action: kill, bandwidth: 10Mbit}"), "faults[0].bandwidth",
                "only throttle takes a bandwidth; remove it or use action: throttle"},
        BadSpec{with_faults("  - {at: 1s, action: throttle, bandwidth: 10}"), "faults[0].bandwidth",
                "invalid bandwidth \"10\""},
        BadSpec{with_faults("  - {at: 1s, action: throttle, bandwidth: 0Mbit}"),
                "faults[0].bandwidth", "must be greater than 0 (use disconnect to cut the link)"},
        BadSpec{with_faults("  - {at: 1s, action: kill, system: redsi-a}"), "faults[0].system",
                "no system named \"redsi-a\" (did you mean \"redis-a\"?)"},
        BadSpec{with_faults("  - {at: 1s, action: kill, system: kafka}"), "faults[0].system",
                "no system named \"kafka\" (systems: redis-a or redis-b)"},
        BadSpec{with_faults("  - {at: 1s, action: kill, system: \"\"}"), "faults[0].system",
                "must not be empty (leave it out to apply to every system)"},
        BadSpec{with_faults("  - {at: 1s, action: kill, taget: 1}"), "faults[0].taget",
                "unknown field (did you mean \"target\"?)"}));

TEST(ParseSpec, FaultTargetOutOfRangeNamesTheSystemAndItsNodes) {
  ParseResult result = parse(with_faults(R"(
  - {at: 3s, action: pause, target: 2, system: redis-a}
  - {at: 4s, action: kill, target: 3, system: redis-a})"));
  EXPECT_THAT(messages(result),
              ElementsAre("faults[1].target: 3 is out of range: system \"redis-a\" has 3 nodes "
                          "(0..2)"));
}

TEST(ParseSpec, FaultsOnEveryActionAndNodeOfTheirSystem) {
  Spec spec = parse_ok(with_faults(R"(
  - {at: 11.5s, action: reconnect, target: 2, system: redis-a}
  - {at: 0, action: kill}
  - {at: 3s, action: disconnect, target: 2, system: redis-a}
  - {at: 1s, action: pause}
  - {at: 2s, action: resume}
  - {at: 4s, action: throttle, bandwidth: 500kbit, system: redis-b})"));
  ASSERT_EQ(spec.faults.size(), 6u);
  EXPECT_EQ(spec.faults[0], (Fault{seconds(0), "kill", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[1], (Fault{seconds(1), "pause", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[2], (Fault{seconds(2), "resume", 0, std::nullopt, ""}));
  EXPECT_EQ(spec.faults[3], (Fault{seconds(3), "disconnect", 2, std::nullopt, "redis-a"}));
  EXPECT_EQ(spec.faults[4], (Fault{seconds(4), "throttle", 0, 500'000u, "redis-b"}));
  EXPECT_EQ(spec.faults[5], (Fault{milliseconds(11500), "reconnect", 2, std::nullopt, "redis-a"}));
}

TEST(ParseSpec, FaultsAreNotCheckedAgainstABrokenWorkloadOrSystemList) {
  // Only the real mistakes are reported, not faults that merely look wrong because of them.
  EXPECT_THAT(paths(parse(R"(
name: t
workload: {duration: 0s}
systems: [{name: a, driver: redis}]
faults: [{at: 30s, action: kill}]
)")),
              ElementsAre("workload.duration"));
  EXPECT_THAT(paths(parse(R"(
name: t
systems: [{name: a, driver: redsi, deploy: {nodes: 0}}]
faults: [{at: 1s, action: kill, target: 2, system: a}]
)")),
              ElementsAre("systems[0].driver", "systems[0].deploy.nodes"));
}

TEST(ParseSpec, OverridesReachFaults) {
  const std::string text = with_faults("  - {at: 1s, action: kill}\n  - {at: 2s, action: pause}");
  Spec spec = parse_ok(text, {"faults[0].at=5s", "faults[1].target=2", "faults[1].system=redis-a"});
  ASSERT_EQ(spec.faults.size(), 2u);
  EXPECT_EQ(spec.faults[0], (Fault{seconds(2), "pause", 2, std::nullopt, "redis-a"}));
  EXPECT_EQ(spec.faults[1], (Fault{seconds(5), "kill", 0, std::nullopt, ""}));

  // A shorter run moves the end before a fault: the fault is reported, not silently dropped.
  EXPECT_THAT(paths(parse(text, {"workload.warmup=0", "workload.duration=1500ms"})),
              ElementsAre("faults[1].at"));
  EXPECT_THAT(messages(parse(text, {"faults[0].action=kil"})),
              ElementsAre("faults[0].action: unknown action \"kil\" (did you mean \"kill\"?)"));
  EXPECT_THAT(messages(parse(text, {"faults[2].at=1s"})),
              ElementsAre("--set faults[2].at=1s: index 2 is out of range: faults has 2 entries"));
}

TEST(ParseSpec, UnknownFieldFarFromAnyNameHasNoSuggestion) {
  ParseResult result = parse(with_workload("  zzzzzz: 1"));
  EXPECT_THAT(messages(result), ElementsAre("workload.zzzzzz: unknown field"));
}

TEST(ParseSpec, ReportsAllErrorsTogether) {
  ParseResult result = parse(R"(
name: many-problems
workload:
  durtion: 5s
  rate: -5/s
  producers: 0
systems:
  - name: a
    driver: redsi
  - name: a
    driver: redis
    config: {bogus: x}
    deploy: {nodes: 0}
targets: {p99_latency: 5}
)");
  EXPECT_THAT(messages(result),
              ElementsAre("workload.durtion: unknown field (did you mean \"duration\"?)",
                          "workload.rate: invalid rate \"-5/s\": must be 0 (as fast as possible) "
                          "or positive",
                          "workload.producers: must be at least 1, got 0",
                          "systems[0].driver: unknown driver \"redsi\" (did you mean \"redis\"?)",
                          "systems[1].deploy.nodes: must be at least 1, got 0",
                          "systems[1].config.bogus: unknown redis setting",
                          "systems[1].name: duplicate name \"a\" (also used by systems[0]); each "
                          "system needs its own name",
                          "targets.p99_latency: \"5\" has no unit: write 5s or 5ms"));
}

TEST(ParseSpec, DriverConfigIsCheckedOnlyForKnownDrivers) {
  ParseResult result = parse(with_system("    driver: nope\n    config: {bogus: 1}"));
  EXPECT_THAT(paths(result), ElementsAre("systems[0].driver"));
}

TEST(ParseSpec, CatalogErrorWithoutPathIsPlacedOnTheConfig) {
  DriverCatalog catalog = fake_catalog();
  catalog.validate_config = [](const std::string&, const Settings&, const std::string&) {
    return std::vector<FieldError>{{"", "needs a stream name"}};
  };
  ParseResult result = parse_spec(kMinimal, {}, catalog);
  EXPECT_THAT(messages(result), ElementsAre("systems[0].config: needs a stream name"));
}

TEST(ParseSpec, CatalogWithoutValidatorIsFine) {
  DriverCatalog catalog{{"redis"}, nullptr};
  EXPECT_TRUE(
      parse_spec(with_system("    driver: redis\n    config: {bogus: 1}"), {}, catalog).ok());
}

TEST(ParseSpec, EmptyDocumentIsAClearError) {
  for (const char* text : {"", "   \n", "# nothing but a comment\n", "~"}) {
    ParseResult result = parse(text);
    EXPECT_THAT(messages(result),
                ElementsAre("the spec is empty: it needs at least a name and a list of systems"))
        << text;
  }
}

TEST(ParseSpec, TopLevelMustBeAMap) {
  EXPECT_THAT(messages(parse("- a\n- b\n")),
              ElementsAre(HasSubstr("expected a map with fields name, description, workload, "
                                    "systems, targets and faults at the top level, got a list")));
  EXPECT_THAT(messages(parse("hello")), ElementsAre(HasSubstr("got \"hello\"")));
}

TEST(ParseSpec, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_THAT(messages(parse("name: t\nsystems: [\n")),
              ElementsAre("syntax error at line 3, column 1: end of sequence flow not found"));
  // JSON is reported by a JSON parser: the position of the token that broke it.
  EXPECT_THAT(messages(parse(R"({"name": "x" "systems": []})")),
              ElementsAre("JSON syntax error at line 1, column 22: syntax error while parsing "
                          "object - unexpected string literal; expected '}'"));
  EXPECT_THAT(messages(parse("{\n  \"name\": \"x\",\n  \"systems\" []\n}")),
              ElementsAre(HasSubstr("JSON syntax error at line 3, column 13: ")));
  EXPECT_THAT(messages(parse("name: t\nsystems: b: c\n")),
              ElementsAre(HasSubstr("syntax error at line 2, column")));
}

TEST(ParseSpec, OverridesApplyBeforeValidation) {
  Spec spec =
      parse_ok(kFullYaml, {"workload.duration=50s", "name=foo", "systems[0].config.pipeline=128",
                           "systems[1].deploy.server.appendonly=no",
                           "systems[1].deploy.server.appendfsync=everysec",
                           "description=a=b contains equals"});
  EXPECT_EQ(spec.workload.duration, seconds(50));
  EXPECT_EQ(spec.name, "foo");
  EXPECT_EQ(spec.systems[0].config.at("pipeline"), "128");
  EXPECT_EQ(spec.systems[1].deploy.server,
            (Settings{{"appendonly", "no"}, {"appendfsync", "everysec"}}));
  EXPECT_EQ(spec.description, "a=b contains equals");
}

TEST(ParseSpec, OverridesCreateMissingMaps) {
  Spec spec = parse_ok(kMinimal, {"workload.rate=1k", "systems[0].deploy.server.appendonly=yes",
                                  "systems[0].config.linger.ms=5", "targets.p99_latency=2ms",
                                  "systems[0].deploy.settings.image=redis:7"});
  EXPECT_EQ(spec.workload.rate, 1000);
  EXPECT_EQ(spec.systems[0].deploy.server, (Settings{{"appendonly", "yes"}}));
  EXPECT_EQ(spec.systems[0].config, (Settings{{"linger.ms", "5"}}));
  EXPECT_EQ(spec.systems[0].deploy.settings, (Settings{{"image", "redis:7"}}));
  EXPECT_EQ(spec.targets.p99_latency, milliseconds(2));
}

TEST(ParseSpec, LaterOverrideWins) {
  EXPECT_EQ(parse_ok(kMinimal, {"workload.producers=2", "workload.producers=3"}).workload.producers,
            3);
}

TEST(ParseSpec, OverriddenValuesAreValidatedLikeTheFile) {
  EXPECT_THAT(messages(parse(kMinimal, {"workload.rate=-5/s"})),
              ElementsAre("workload.rate: invalid rate \"-5/s\": must be 0 (as fast as possible) "
                          "or positive"));
  EXPECT_THAT(messages(parse(kMinimal, {"workload.durtion=5s"})),
              ElementsAre("workload.durtion: unknown field (did you mean \"duration\"?)"));
  EXPECT_THAT(messages(parse(kMinimal, {"systems[0].driver=redsi"})),
              ElementsAre("systems[0].driver: unknown driver \"redsi\" (did you mean \"redis\"?)"));
}

TEST(ParseSpec, MalformedOverridesNameTheOverride) {
  struct Case {
    std::string override_text;
    std::string message;
  };
  for (const Case& c : {
           Case{"workload.duration", "expected path=value, e.g. workload.duration=5s"},
           Case{"=5", "the path before '=' is empty"},
           Case{"systems[x].name=a", "systems has no entry named \"x\""},
           Case{"systems[#].name=a", "invalid index \"#\": expected a number such as [0]"},
           Case{"systems[-1].name=a", "invalid index \"-1\""},
           Case{"systems[0.name=a", "missing ']' after '['"},
           Case{"systems[5].name=a", "index 5 is out of range: systems has 1 entry"},
           Case{"systems[0]x=a", "unexpected \"x\" at position 11 of the path"},
           Case{"workload..rate=1", "expected a field name at position 10 of the path"},
           Case{"name[0]=a", "name is \"minimal\", not a list"},
           Case{"name.first=a", "name is \"minimal\", not a map, so name.first cannot be set"},
           Case{"targets[0]=a", "targets does not exist, so it has no entry [0]"},
           Case{"systems[0].config.=1", "a setting name is missing after the last '.'"},
       }) {
    ParseResult result = parse(kMinimal, {c.override_text});
    ASSERT_EQ(result.errors.size(), 1u) << c.override_text;
    EXPECT_EQ(result.errors[0].path, "--set " + c.override_text);
    EXPECT_THAT(result.errors[0].message, HasSubstr(c.message)) << c.override_text;
  }
}

TEST(ParseSpec, OverrideErrorsAndSpecErrorsAreReportedTogether) {
  ParseResult result = parse(with_workload("  producers: 0"), {"bad", "systems[3].name=x"});
  EXPECT_THAT(paths(result),
              ElementsAre("--set bad", "--set systems[3].name=x", "workload.producers"));
}

TEST(ParseSpecFile, ReadsAFile) {
  const std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) / "dec_spec_test_full.yaml";
  {
    std::ofstream out(path);
    out << kFullYaml;
  }
  ParseResult result = parse_spec_file(path.string(), {"workload.keys=7"}, fake_catalog());
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(messages(result));
  EXPECT_EQ(result.spec.workload.keys, 7);
  std::filesystem::remove(path);
}

TEST(ParseSpecFile, MissingFileNamesThePath) {
  ParseResult result = parse_spec_file("/nonexistent/dir/spec.yaml", {}, fake_catalog());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].path, "");
  EXPECT_EQ(result.errors[0].message,
            "cannot read spec file \"/nonexistent/dir/spec.yaml\": No such file or directory");
}

TEST(ParseSpecFile, DirectoryIsRejected) {
  ParseResult result = parse_spec_file(::testing::TempDir(), {}, fake_catalog());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message, HasSubstr("it is a directory"));
}

// ---- pricing: ----------------------------------------------------------------------------------

DriverCatalog catalog_with_kinesis() {
  DriverCatalog catalog = fake_catalog();
  catalog.names.push_back("kinesis");
  return catalog;
}

constexpr const char* kPricedSystems = R"(
name: priced
systems:
  - {name: kafka, driver: kafka, deploy: {nodes: 3}}
  - {name: kinesis, driver: kinesis}
  - {name: redis, driver: redis}
)";

ParseResult parse_priced(const std::string& pricing,
                         const std::vector<std::string>& overrides = {}) {
  return parse_spec(std::string(kPricedSystems) + pricing, overrides, catalog_with_kinesis());
}

TEST(ParseOverrides, SpacesAroundTheEqualsSignGetAHint) {
  ParseResult result = parse(kMinimal, {"workload.duration = 5s"});
  ASSERT_EQ(result.errors.size(), 1u) << ::testing::PrintToString(messages(result));
  EXPECT_EQ(result.errors[0].path, "--set workload.duration = 5s");
  EXPECT_THAT(result.errors[0].message, HasSubstr("use --set workload.duration=5s without spaces"));
  EXPECT_EQ(parse_ok(kMinimal, {"workload.duration=5s"}).workload.duration,
            std::chrono::seconds(5));
}

TEST(ClosestMatch, FindsLikelyTyposOnly) {
  const std::vector<std::string> commands = {"run", "validate", "plan", "serve"};
  EXPECT_EQ(closest_match("runn", commands), "run");
  EXPECT_EQ(closest_match("valdiate", commands), "validate");
  EXPECT_EQ(closest_match("deploy", commands), std::nullopt);
}

TEST(ParsePricing, ModelsAndPricesPerSystemAndTopLevelDefaults) {
  ParseResult result = parse_priced(R"(
pricing:
  instance_type: c5.large
  systems:
    kafka: {model: msk, instance_type: kafka.m5.xlarge, storage_gb: 100}
    kinesis: {model: kinesis-on-demand, gb_written: 0.09}
    redis: {instance_hour: 0.2, storage_gb: 20, storage_gb_month: 0.1}
)");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(messages(result));
  const Pricing& pricing = result.spec.pricing;
  EXPECT_EQ(pricing.instance_type, "c5.large");
  EXPECT_FALSE(pricing.instance_hour.has_value());
  ASSERT_EQ(pricing.systems.size(), 3u);
  const SystemPricing& kafka = pricing.systems.at("kafka");
  EXPECT_EQ(kafka.model, PricingModel::kMsk);
  EXPECT_EQ(kafka.instance_type, "kafka.m5.xlarge");
  EXPECT_EQ(kafka.storage_gb, 100);
  EXPECT_EQ(pricing.systems.at("kinesis").model, PricingModel::kKinesisOnDemand);
  EXPECT_EQ(pricing.systems.at("kinesis").gb_written, 0.09);
  EXPECT_FALSE(pricing.systems.at("redis").model.has_value());  // self-managed by default
  EXPECT_EQ(pricing.systems.at("redis").instance_hour, 0.2);
  // Like any field: set from the command line and stored in the canonical form.
  Spec spec = parse_priced("", {"pricing.systems.kafka.model=msk",
                                "pricing.systems.kafka.instance_hour=0.25"})
                  .spec;
  EXPECT_EQ(spec.pricing.systems.at("kafka").instance_hour, 0.25);
  EXPECT_THAT(spec_to_json(spec), HasSubstr(R"("pricing": {
    "systems": {
      "kafka": {
        "model": "msk",
        "instance_hour": 0.25
      }
    }
  })"));
  EXPECT_THAT(spec_to_json(parse_ok(kMinimal)), Not(HasSubstr("pricing")));
}

TEST(ParsePricing, DefaultModelFollowsTheDriverAndKinesisStreamMode) {
  System kinesis{"k", "kinesis", {}, {}};
  EXPECT_EQ(default_pricing_model(kinesis), PricingModel::kKinesisProvisioned);
  kinesis.config["stream_mode"] = "ON_DEMAND";
  EXPECT_EQ(default_pricing_model(kinesis), PricingModel::kKinesisOnDemand);
  EXPECT_EQ(default_pricing_model(System{"k", "kafka", {}, {}}), PricingModel::kSelfManaged);
  EXPECT_EQ(default_pricing_model(System{"r", "redis", {}, {}}), PricingModel::kSelfManaged);
}

TEST(ParsePricing, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"pricing: {systems: {kafka: {model: mks}}}",
       "pricing.systems.kafka.model: expected one of kinesis-provisioned, kinesis-on-demand, msk "
       "or self-managed, got \"mks\" (did you mean \"msk\"?)"},
      {"pricing: {systems: {kafka: {instance_hours: 1}}}",
       "pricing.systems.kafka.instance_hours: unknown field (did you mean \"instance_hour\"?)"},
      {"pricing: {instance_typ: m5.large}",
       "pricing.instance_typ: unknown field (did you mean \"instance_type\"?)"},
      {"pricing: {systems: {kafak: {model: msk}}}",
       "pricing.systems.kafak: no system named \"kafak\" (did you mean \"kafka\"?)"},
      {"pricing: {systems: {pulsar: {}}}",
       "pricing.systems.pulsar: no system named \"pulsar\" (systems: kafka, kinesis or redis)"},
      {"pricing: {systems: {redis: {model: msk}}}",
       "pricing.systems.redis.model: msk does not price driver \"redis\": expected self-managed"},
      {"pricing: {systems: {kinesis: {model: self-managed}}}",
       "pricing.systems.kinesis.model: self-managed does not price driver \"kinesis\": expected "
       "kinesis-provisioned or kinesis-on-demand"},
      {"pricing: {systems: {kafka: {shard_hour: 0.01}}}",
       "pricing.systems.kafka.shard_hour: not a price of model self-managed (it takes "
       "instance_type, instance_hour, storage_gb and storage_gb_month)"},
      {"pricing: {systems: {kinesis: {instance_hour: 1}}}",
       "pricing.systems.kinesis.instance_hour: not a price of model kinesis-provisioned (it takes "
       "shard_hour and million_put_units)"},
      {"pricing: {systems: {kinesis: {model: kinesis-on-demand, shard_hour: 1}}}",
       "pricing.systems.kinesis.shard_hour: not a price of model kinesis-on-demand (it takes "
       "stream_hour, gb_written and gb_read)"},
      {"pricing: {systems: {redis: {instance_type: m5.lareg}}}",
       "pricing.systems.redis.instance_type: no shipped price for instance type \"m5.lareg\" (did "
       "you mean \"m5.large\"?): give its instance_hour too, or use one of t3.medium, m5.large, "
       "m5.xlarge, m5.2xlarge, m6i.large, m7g.large, c5.large, c5.xlarge, c5.2xlarge, r5.large "
       "or r5.xlarge"},
      {"pricing: {systems: {kafka: {model: msk, instance_type: m5.large}}}",
       "pricing.systems.kafka.instance_type: no shipped price for MSK broker type \"m5.large\" "
       "(did you mean \"kafka.m5.large\"? MSK broker types start with kafka.)"},
      {"pricing: {instance_type: huge}",
       "pricing.instance_type: no shipped price for instance type \"huge\""},
      {"pricing: {systems: {redis: {instance_hour: -1}}}",
       "pricing.systems.redis.instance_hour: must be 0 or more, got -1"},
      {"pricing: {instance_hour: cheap}",
       "pricing.instance_hour: expected a number, got \"cheap\""},
      {"pricing: {systems: [redis]}",
       "pricing.systems: expected a map of system names to their pricing"},
      {"pricing: msk",
       "pricing: expected a map with fields instance_type, instance_hour or "
       "systems, got \"msk\""},
  };
  for (const auto& [pricing, expected] : cases) {
    SCOPED_TRACE(pricing);
    ParseResult result = parse_priced(pricing);
    ASSERT_EQ(result.errors.size(), 1u) << ::testing::PrintToString(messages(result));
    EXPECT_THAT(result.errors[0].to_string(), HasSubstr(expected));
  }
  // An instance type of one's own is fine with its price.
  EXPECT_TRUE(parse_priced("pricing: {instance_type: huge, instance_hour: 9}").ok());
  EXPECT_TRUE(
      parse_priced("pricing: {systems: {redis: {instance_type: huge, instance_hour: 0}}}").ok());
}

TEST(ParsePricing, MatrixCanVaryPricesAndModels) {
  ParseResult result = parse_priced(R"(
pricing: {systems: {kafka: {model: msk}}}
matrix:
  pricing.systems.kafka.instance_type: [kafka.m5.large, kafka.m5.xlarge]
)");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(messages(result));
  result = parse_priced(R"(
matrix:
  pricing.systems.kafka.model: [msk, kinesis-on-demand]
)");
  ASSERT_EQ(result.errors.size(), 1u) << ::testing::PrintToString(messages(result));
  EXPECT_THAT(result.errors[0].to_string(),
              HasSubstr("matrix[\"pricing.systems.kafka.model\"][1]: kinesis-on-demand does not "
                        "price driver \"kafka\""));
}

TEST(SpecToJson, RoundTripsTheFullSpec) {
  Spec spec = parse_ok(kFullYaml);
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec);
}

TEST(ParseSpec, DeployWorkersAsACountOrAsAgentAddresses) {
  Spec spec = parse_ok(with_system("    driver: redis\n    deploy: {workers: 3}"));
  EXPECT_EQ(spec.systems[0].deploy.workers, 3);
  EXPECT_TRUE(spec.systems[0].deploy.worker_addresses.empty());
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec) << spec_to_json(spec);

  spec =
      parse_ok(with_system("    driver: redis\n    deploy: {workers: [\"10.0.0.7:7400\", "
                           "\"[fd00::7]:7400\", agent-3.example:7400]}"));
  EXPECT_EQ(spec.systems[0].deploy.workers, 3);
  EXPECT_EQ(spec.systems[0].deploy.worker_addresses,
            (std::vector<std::string>{"10.0.0.7:7400", "[fd00::7]:7400", "agent-3.example:7400"}));
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec) << spec_to_json(spec);

  // The default leaves the stored form as it was.
  spec = parse_ok(with_system("    driver: redis"));
  EXPECT_EQ(spec.systems[0].deploy.workers, 1);
  EXPECT_EQ(spec_to_json(spec).find("workers"), std::string::npos);
}

TEST(SpecToJson, RoundTripsDefaultsAndAwkwardValues) {
  Spec spec = parse_ok(kMinimal);
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec);

  spec.description = "quotes \" backslash \\ newline\n tab\t unicode \xC3\xA9 colon: # hash";
  spec.workload.rate = 12.345678901234567;
  spec.workload.duration = milliseconds(1500);
  spec.workload.warmup = nanoseconds(0);
  spec.workload.drain_timeout = nanoseconds(123'456'789);
  spec.workload.message_size = 1'000'003;
  spec.systems[0].config = {{"linger.ms", "5"}, {"empty", ""}, {"flag", "yes"}, {"num", "007"}};
  spec.systems[0].deploy.provider = "endpoints";
  spec.systems[0].deploy.nodes = 3;
  spec.systems[0].deploy.cpus = 0.1;
  spec.systems[0].deploy.memory = (uint64_t{3} << 30) + 1;
  spec.systems[0].deploy.bandwidth = 1'500'001;
  spec.systems[0].deploy.settings = {{"addresses", "127.0.0.1:6379,127.0.0.1:6380"}};
  spec.targets.p99_latency = microseconds(2500);
  spec.targets.min_throughput = 0.5;
  spec.faults = {Fault{nanoseconds(1'000'001), "kill", 2, std::nullopt, ""},
                 Fault{milliseconds(1499), "throttle", 0, 1'500'001, spec.systems[0].name}};
  spec.pricing.instance_type = "my-own-box";
  spec.pricing.instance_hour = 0.123456789012345;
  SystemPricing& pricing = spec.pricing.systems[spec.systems[0].name];
  pricing.model = PricingModel::kSelfManaged;
  pricing.instance_type = "m5.xlarge";
  pricing.instance_hour = 0;
  pricing.storage_gb = 1e-3;
  pricing.storage_gb_month = 12345.5;
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec) << spec_to_json(spec);

  spec.faults.clear();  // the durations below are shorter than the faults' times
  for (nanoseconds d : std::vector<nanoseconds>{nanoseconds(1), microseconds(7), seconds(59),
                                                minutes(61), std::chrono::hours(25)}) {
    spec.workload.duration = d;
    EXPECT_EQ(parse_ok(spec_to_json(spec)).workload.duration, d);
  }
}

TEST(SpecToJson, WritesDurationsWithUnitsAndSizesInBytes) {
  const std::string json = spec_to_json(parse_ok(kFullYaml));
  EXPECT_THAT(json, HasSubstr("\"duration\": \"90s\""));
  EXPECT_THAT(json, HasSubstr("\"drain_timeout\": \"500ms\""));
  EXPECT_THAT(json, HasSubstr("\"message_size\": 1024"));
  EXPECT_THAT(json, HasSubstr("\"bandwidth\": \"1Gbit\""));
  EXPECT_THAT(json, HasSubstr("\"p99_latency\": \"5ms\""));
  EXPECT_THAT(json, HasSubstr(R"("at": "30s",
      "action": "throttle",
      "target": 0,
      "bandwidth": "10Mbit",
      "system": "redis-aof")"));
  EXPECT_THAT(spec_to_json(parse_ok(kMinimal)), HasSubstr("\"faults\": []"));
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(spec_to_json(parse_ok(kFullYaml)), json);  // deterministic
}

TEST(ParseSpec, ClientSettingsAreOptionalAndSettableOneByOne) {
  Spec spec = parse_ok(kMinimal, {"workload.client.linger=5ms"});
  EXPECT_EQ(spec.workload.client.linger, milliseconds(5));
  EXPECT_FALSE(spec.workload.client.max_in_flight.has_value());
  EXPECT_FALSE(spec.workload.client.fetch_wait.has_value());
  spec = parse_ok(kMinimal, {"workload.client.max_in_flight=1", "workload.client.fetch_wait=0",
                             "workload.client.linger=60s"});
  EXPECT_EQ(spec.workload.client.max_in_flight, 1);
  EXPECT_EQ(spec.workload.client.fetch_wait, nanoseconds(0));
  EXPECT_EQ(spec.workload.client.linger, seconds(60));
  EXPECT_EQ(parse_ok("name: t\nworkload: {client: }\nsystems: [{name: a, driver: redis}]\n")
                .workload.client,
            ClientSettings{});
  ParseResult bad = parse(kMinimal, {"workload.client.max_in_flight=-4"});
  EXPECT_THAT(paths(bad), ElementsAre("workload.client.max_in_flight"));
}

// ---- warnings -------------------------------------------------------------------------------

std::vector<std::string> warnings(const ParseResult& result) {
  std::vector<std::string> out;
  for (const FieldError& warning : result.warnings) out.push_back(warning.to_string());
  return out;
}

std::string keyed_spec(int keys, int partitions) {
  return "name: t\nworkload: {keys: " + std::to_string(keys) +
         ", partitions: " + std::to_string(partitions) + "}\nsystems: [{name: a, driver: redis}]\n";
}

TEST(SpecWarnings, FewKeysOverManyPartitions) {
  ParseResult result = parse(keyed_spec(4, 4));
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(warnings(result),
              ElementsAre("workload.keys: 4 keys over 4 partitions: a hash partitioner can leave "
                          "partitions empty or uneven (Kafka's puts 4 keys on 4 partitions into "
                          "2); use at least 4×partitions keys (16) or keys: 0"));
  EXPECT_THAT(warnings(parse(keyed_spec(15, 4))), ElementsAre(HasSubstr("workload.keys: 15 keys")));
  EXPECT_THAT(warnings(parse(keyed_spec(16, 4))), IsEmpty());
  EXPECT_THAT(warnings(parse(keyed_spec(0, 4))), IsEmpty());  // no keys: round-robin
  EXPECT_THAT(warnings(parse(keyed_spec(4, 1))), IsEmpty());
  EXPECT_THAT(warnings(parse(kMinimal)), IsEmpty());
}

TEST(SpecWarnings, MoreNodesThanPartitionsForShardingDrivers) {
  ParseResult result = parse(R"(
name: t
workload: {topics: 2, partitions: 1}
systems:
  - {name: redis-3, driver: redis, deploy: {nodes: 3}}
  - {name: redis-2, driver: redis, deploy: {nodes: 2}}
  - {name: kafka-5, driver: kafka, deploy: {nodes: 5}}
)");
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(warnings(result),
              ElementsAre("systems[0].deploy.nodes: 3 nodes but only 2 partitions: only 2 "
                          "node(s) will hold data",
                          "systems[2].deploy.nodes: 5 nodes but only 2 partitions: only 2 "
                          "node(s) will lead a partition and take writes (the others at most "
                          "hold replicas)"));
  // Drivers that do not place partitions on dec's nodes are not warned about.
  DriverCatalog catalog = fake_catalog();
  catalog.names.push_back("kinesis");
  EXPECT_THAT(
      warnings(parse_spec("name: t\nsystems: [{name: k, driver: kinesis, deploy: {nodes: 3}}]\n",
                          {}, catalog)),
      IsEmpty());
}

TEST(SpecWarnings, AreNotErrorsAndFollowOverrides) {
  ParseResult result = parse(keyed_spec(4, 4), {"workload.keys=64"});
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(warnings(result), IsEmpty());
  result = parse(kMinimal, {"workload.partitions=2", "systems[0].deploy.nodes=4"});
  EXPECT_TRUE(result.ok());
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].path, "systems[0].deploy.nodes");
  // A broken workload gives no warnings about it, only its error.
  result = parse(keyed_spec(4, 4), {"workload.partitions=zero"});
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(warnings(result), IsEmpty());
}

TEST(SpecToJson, WritesClientSettingsOnlyWhenGiven) {
  EXPECT_THAT(spec_to_json(parse_ok(kMinimal)), Not(HasSubstr("client")));
  Spec spec = parse_ok(kMinimal, {"workload.client.fetch_wait=1500us"});
  const std::string json = spec_to_json(spec);
  EXPECT_THAT(json, HasSubstr(R"("client": {
      "fetch_wait": "1500us"
    })"));
  EXPECT_EQ(parse_ok(json), spec);
  spec = parse_ok(kFullYaml);
  EXPECT_THAT(spec_to_json(spec), HasSubstr(R"("client": {
      "max_in_flight": 64,
      "linger": "5ms",
      "fetch_wait": "100ms"
    })"));
}

TEST(ParseSpec, PayloadKeysAndBacklog) {
  const std::string file = ::testing::TempDir() + "dec-spec-payload.json";
  std::ofstream(file) << "{\"order\": 1}";
  Spec spec =
      parse_ok(with_workload("  message_size: 1KiB\n  keys: 16\n"
                             "  key_distribution: random\n  seed: 18446744073709551615\n"
                             "  payload: {pool: 100, random_bytes_ratio: 0.3}\n"
                             "  backlog: {size: 1MiB, drain_ratio: 0.9}"));
  const Workload& w = spec.workload;
  EXPECT_EQ(w.payload.pool, 100u);
  EXPECT_DOUBLE_EQ(w.payload.random_bytes_ratio, 0.3);
  EXPECT_EQ(w.key_distribution, KeyDistribution::kRandom);
  EXPECT_EQ(w.seed, UINT64_MAX);
  EXPECT_EQ(w.backlog.size, uint64_t{1} << 20);
  EXPECT_EQ(w.backlog_messages(), 1024u);  // 1 MiB of 1 KiB messages
  EXPECT_DOUBLE_EQ(w.backlog.drain_ratio, 0.9);
  EXPECT_EQ(parse_ok(spec_to_json(spec)), spec) << spec_to_json(spec);

  Spec from_file =
      parse_ok(with_workload("  payload: {file: " + file + "}\n  backlog: {messages: 5000}"));
  EXPECT_EQ(from_file.workload.payload.file, file);
  EXPECT_EQ(from_file.workload.backlog_messages(), 5000u);
  EXPECT_DOUBLE_EQ(from_file.workload.backlog.drain_ratio, 1.0);
  EXPECT_EQ(parse_ok(spec_to_json(from_file)), from_file);

  // Defaults: today's behaviour; the key distribution follows `keys`.
  const Workload defaults = parse_ok(kMinimal).workload;
  EXPECT_EQ(defaults.payload, Payload{});
  EXPECT_FALSE(defaults.backlog.enabled());
  EXPECT_EQ(defaults.effective_key_distribution(), KeyDistribution::kNone);
  EXPECT_EQ(parse_ok(with_workload("  keys: 4")).workload.effective_key_distribution(),
            KeyDistribution::kRoundRobin);
  std::filesystem::remove(file);
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, BadSpecTest,
    ::testing::Values(
        BadSpec{with_workload("  payload: {random_bytes_ratio: 1.5}"),
                "workload.payload.random_bytes_ratio", "must be from 0.0 to 1.0"},
        BadSpec{with_workload("  payload: {random_bytes_ratio: -0.1}"),
                "workload.payload.random_bytes_ratio", "must be from 0.0 to 1.0"},
        BadSpec{with_workload("  payload: {random_bytes_ratio: lots}"),
                "workload.payload.random_bytes_ratio", "expected a number from 0.0 to 1.0"},
        BadSpec{with_workload("  payload: {pool: 0}"), "workload.payload.pool",
                "must be at least 1"},
        BadSpec{with_workload("  message_size: 1MiB\n  payload: {pool: 5000}"),
                "workload.payload.pool", "exceed the 1GiB"},
        BadSpec{with_workload("  payload: {file: /nonexistent/dec-payload}"),
                "workload.payload.file", "cannot read \"/nonexistent/dec-payload\""},
        BadSpec{with_workload("  payload: {file: /dev/null}"), "workload.payload.file", "is empty"},
        BadSpec{with_workload("  payload: {file: /etc/passwd, pool: 3}"), "workload.payload.file",
                "leave out pool"},
        BadSpec{with_workload("  payload: {poole: 3}"), "workload.payload.poole", "unknown field"},
        BadSpec{with_workload("  key_distribution: zipf"), "workload.key_distribution",
                "expected one of none, round_robin, random"},
        BadSpec{with_workload("  key_distribution: random"), "workload.key_distribution",
                "needs keys"},
        BadSpec{with_workload("  keys: 3\n  key_distribution: none"), "workload.key_distribution",
                "set keys: 0"},
        BadSpec{with_workload("  seed: -1"), "workload.seed", "expected a whole number"},
        BadSpec{with_workload("  backlog: {size: 1GiB, messages: 10}"), "workload.backlog",
                "either size or messages"},
        BadSpec{with_workload("  backlog: {drain_ratio: 0.5}"), "workload.backlog", "needs size"},
        BadSpec{with_workload("  backlog: {size: lots}"), "workload.backlog.size",
                "invalid size \"lots\""},
        BadSpec{with_workload("  backlog: {messages: 10, drain_ratio: 0}"),
                "workload.backlog.drain_ratio", "must be more than 0"},
        BadSpec{with_workload("  backlog: {messages: 10, drain_ratio: 2}"),
                "workload.backlog.drain_ratio", "from 0.0 to 1.0"},
        BadSpec{with_workload("  consumers: 0\n  backlog: {messages: 10}"), "workload.backlog",
                "needs consumers"}));

}  // namespace
}  // namespace dec::core

namespace dec::core {
namespace {

// Found by fuzz/spec_fuzz.cpp: a stray byte in a string value was accepted, and storing the spec
// (JSON) then threw. A spec is UTF-8 text: the error says where the bad byte is.
TEST(ParseSpec, InvalidUtf8IsAnErrorThatSaysWhere) {
  const DriverCatalog catalog = fake_catalog();
  ParseResult parsed = parse_spec(
      "name: a\ndescription: caf\xe9\nsystems:\n  - {name: r, driver: redis}\n", {}, catalog);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(
      parsed.errors[0].message,
      "not UTF-8 text: invalid byte at line 2, column 17 (byte 0xe9); save the spec as UTF-8");
  parsed = parse_spec("name: a\nsystems:\n  - {name: r, driver: redis}\n", {"name=x\xff"}, catalog);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].message,
            "--set 1: not UTF-8 text: invalid byte at line 1, column 7 (byte 0xff)");
  EXPECT_TRUE(
      parse_spec("name: caf\xc3\xa9\nsystems:\n  - {name: r, driver: redis}\n", {}, catalog).ok());
}

}  // namespace
}  // namespace dec::core

namespace dec::core {
namespace {

// Found by fuzz/spec_fuzz.cpp: a JSON-looking spec with a YAML syntax error and a number too
// large for a double made the JSON re-parse (which locates the syntax error) throw.
TEST(ParseSpec, HugeNumberInABrokenJsonSpecIsASyntaxError) {
  const ParseResult parsed = parse_spec("{\"name\": 1e30916 \"systems\": []}", {}, fake_catalog());
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].path, "");
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("syntax error"));
}

}  // namespace
}  // namespace dec::core
