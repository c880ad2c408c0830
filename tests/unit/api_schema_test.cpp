// The contracts the web app is written against, without a server: the spec and results JSON
// Schemas (checked with a small validator of the subset they use, against every shipped example
// and against report::to_json's output), JSON syntax errors placed where they are, and the plan
// preview `dec plan` and POST /api/plan share.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "core/spec_parser.h"
#include "core/spec_schema.h"
#include "infra/env.h"
#include "orchestrator/plan_preview.h"
#include "report/environment.h"
#include "report/results.h"
#include "report/results_schema.h"
#include "systems/registry.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// JSON Schema 2020-12, the subset the schemas use: type (one or several), properties, required,
// additionalProperties (false or a schema), items, minItems, enum, pattern, minimum, maximum,
// exclusiveMinimum, minLength, anyOf, oneOf and $ref to "#/$defs/..." or "spec.json". Errors
// name the instance path.
class Validator {
 public:
  Validator(json root, json spec_root) : root_(std::move(root)), spec_root_(std::move(spec_root)) {}

  std::vector<std::string> validate(const json& instance) {
    errors_.clear();
    check(instance, root_, root_, "");
    return errors_;
  }

 private:
  static bool has_type(const json& value, const std::string& type) {
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "string") return value.is_string();
    if (type == "boolean") return value.is_boolean();
    if (type == "null") return value.is_null();
    if (type == "integer") {
      return value.is_number_integer() ||
             (value.is_number_float() && value.get<double>() == std::floor(value.get<double>()));
    }
    if (type == "number") return value.is_number();
    ADD_FAILURE() << "unknown type " << type;
    return false;
  }

  bool matches(const json& value, const json& schema, const json& document) {
    const size_t before = errors_.size();
    check(value, schema, document, "");
    const bool ok = errors_.size() == before;
    errors_.resize(before);
    return ok;
  }

  void fail(const std::string& path, const std::string& message) {
    errors_.push_back((path.empty() ? "(root)" : path) + ": " + message);
  }

  void check(const json& value, const json& schema, const json& document, const std::string& path) {
    static const std::set<std::string> kKnown = {"$schema",
                                                 "$id",
                                                 "$defs",
                                                 "title",
                                                 "description",
                                                 "type",
                                                 "properties",
                                                 "required",
                                                 "additionalProperties",
                                                 "items",
                                                 "minItems",
                                                 "enum",
                                                 "pattern",
                                                 "minimum",
                                                 "maximum",
                                                 "exclusiveMinimum",
                                                 "minLength",
                                                 "anyOf",
                                                 "oneOf",
                                                 "$ref",
                                                 "default"};
    for (const auto& [key, unused] : schema.items()) {
      if (!kKnown.contains(key)) ADD_FAILURE() << "the validator does not know " << key;
    }
    if (schema.contains("$ref")) {
      const std::string target = schema["$ref"];
      if (target == "spec.json") {
        check(value, spec_root_, spec_root_, path);
      } else {
        ASSERT_EQ(target.rfind("#/$defs/", 0), 0u) << target;
        ASSERT_TRUE(document["$defs"].contains(target.substr(8))) << target;
        check(value, document["$defs"][target.substr(8)], document, path);
      }
    }
    if (schema.contains("type")) {
      json types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
      bool any = false;
      for (const auto& type : types) any = any || has_type(value, type);
      if (!any) {
        fail(path, "expected " + schema["type"].dump() + ", got " + value.dump());
        return;
      }
    }
    if (schema.contains("enum")) {
      bool found = false;
      for (const auto& option : schema["enum"]) found = found || option == value;
      if (!found) fail(path, value.dump() + " is not one of " + schema["enum"].dump());
    }
    if (value.is_string()) {
      const std::string text = value;
      if (schema.contains("pattern") &&
          !std::regex_search(text, std::regex(schema["pattern"].get<std::string>()))) {
        fail(path, value.dump() + " does not match " + schema["pattern"].get<std::string>());
      }
      if (schema.contains("minLength") && text.size() < schema["minLength"].get<size_t>()) {
        fail(path, "too short");
      }
    }
    if (value.is_number()) {
      const double number = value.get<double>();
      if (schema.contains("minimum") && number < schema["minimum"].get<double>()) {
        fail(path, value.dump() + " below the minimum");
      }
      if (schema.contains("maximum") && number > schema["maximum"].get<double>()) {
        fail(path, value.dump() + " above the maximum");
      }
      if (schema.contains("exclusiveMinimum") &&
          number <= schema["exclusiveMinimum"].get<double>()) {
        fail(path, value.dump() + " not above the exclusive minimum");
      }
    }
    if (value.is_object()) {
      for (const auto& name : schema.value("required", json::array())) {
        if (!value.contains(name.get<std::string>())) fail(path, "missing " + name.dump());
      }
      const json properties = schema.value("properties", json::object());
      for (const auto& [key, item] : value.items()) {
        const std::string item_path = path.empty() ? key : path + "." + key;
        if (properties.contains(key)) {
          check(item, properties[key], document, item_path);
        } else if (schema.contains("additionalProperties")) {
          const json& additional = schema["additionalProperties"];
          if (additional.is_boolean()) {
            if (!additional.get<bool>()) fail(item_path, "not allowed");
          } else {
            check(item, additional, document, item_path);
          }
        }
      }
    }
    if (value.is_array()) {
      if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>()) {
        fail(path, "too few items");
      }
      if (schema.contains("items")) {
        for (size_t i = 0; i < value.size(); ++i) {
          check(value[i], schema["items"], document, path + "[" + std::to_string(i) + "]");
        }
      }
    }
    if (schema.contains("anyOf")) {
      bool any = false;
      for (const auto& option : schema["anyOf"]) any = any || matches(value, option, document);
      if (!any) fail(path, value.dump() + " matches none of " + schema["anyOf"].dump());
    }
    if (schema.contains("oneOf")) {
      int count = 0;
      for (const auto& option : schema["oneOf"]) count += matches(value, option, document);
      if (count != 1) fail(path, value.dump() + " matches " + std::to_string(count) + " of oneOf");
    }
  }

  json root_;
  json spec_root_;
  std::vector<std::string> errors_;
};

// YAML as JSON the way a YAML loader types plain scalars: numbers, booleans and null as such,
// quoted scalars as strings.
json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) out[entry.first.Scalar()] = yaml_to_json(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted
      if (text == "true" || text == "false") return text == "true";
      if (std::regex_match(text, std::regex("-?[0-9]+"))) return std::stoll(text);
      if (std::regex_match(text, std::regex("-?[0-9]*\\.[0-9]+([eE][-+]?[0-9]+)?"))) {
        return std::stod(text);
      }
      return text;
    }
    default:
      return nullptr;
  }
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(DEC_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Validator spec_validator() {
  const json schema = core::spec_json_schema(systems::driver_catalog());
  return Validator(schema, schema);
}

TEST(SpecSchema, EveryExampleAndItsStoredFormValidate) {
  Validator validator = spec_validator();
  const auto files = example_files();
  ASSERT_GE(files.size(), 5u);
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const std::string text = read(file);
    auto errors = validator.validate(yaml_to_json(YAML::Load(text)));
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
    // The stored form (results' "spec") is valid too, and describes the same experiment.
    auto parsed = core::parse_spec(text, {}, systems::driver_catalog());
    ASSERT_TRUE(parsed.ok()) << parsed.errors.front().to_string();
    const std::string stored = core::spec_to_json(parsed.spec);
    errors = validator.validate(json::parse(stored));
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors) << "\n" << stored;
    auto again = core::parse_spec(stored, {}, systems::driver_catalog());
    ASSERT_TRUE(again.ok()) << again.errors.front().to_string();
    EXPECT_TRUE(again.spec == parsed.spec) << stored;
  }
}

TEST(SpecSchema, EveryFieldOfTheParserIsDescribed) {
  Validator validator = spec_validator();
  const json every_field = json::parse(R"({
    "name": "all", "description": "every field",
    "workload": {"message_size": "1KiB", "producers": 2, "consumers": 0, "rate": "find-max",
      "search": {"start": "1k/s", "max": 50000, "precision": 0.05, "max_steps": 12,
                 "max_time": "5m"},
      "duration": "1m30s", "warmup": 0, "drain_timeout": "500ms", "topics": 1, "partitions": 4,
      "keys": 16, "consumer_groups": 1, "key_distribution": "random", "seed": 7,
      "payload": {"pool": 10, "random_bytes_ratio": 0.5},
      "backlog": {"messages": 1000, "drain_ratio": 0.9},
      "client": {"max_in_flight": 64, "linger": "5ms", "fetch_wait": "100ms"}},
    "systems": [{"name": "k.1", "driver": "kafka", "config": {"acks": "all", "linger.ms": 5},
                 "deploy": {"provider": "local", "nodes": 3, "cpus": 1.5, "memory": "1GiB",
                            "bandwidth": "100Mbit", "settings": {"kafka": "mock"},
                            "server": {"num.io.threads": 8}, "workers": 2}}],
    "targets": {"p99_latency": "10ms", "min_throughput": "10k/s"},
    "slo": {"p99": "50ms", "max_loss": "0.1%"},
    "faults": [{"at": "5s", "action": "throttle", "target": 0, "bandwidth": "10Mbit",
                "system": "k.1"}],
    "pricing": {"instance_type": "m5.large", "instance_hour": 0.096,
                "systems": {"k.1": {"model": "msk", "instance_type": "kafka.m5.large",
                                    "storage_gb": 100}}},
    "matrix": {"systems[k.1].config.acks": ["1", "all"], "workload.producers": [1, 2]},
    "repeats": 3})");
  auto errors = validator.validate(every_field);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
}

TEST(SpecSchema, RefusesWhatTheParserRefuses) {
  Validator validator = spec_validator();
  const std::string systems = R"("systems": [{"name": "r", "driver": "redis"}])";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({)" + systems + "}", "missing \"name\""},
      {R"({"name": "x"})", "missing \"systems\""},
      {R"({"name": "x", "bogus": 1, )" + systems + "}", "bogus: not allowed"},
      {R"({"name": "x", "workload": {"producers": 0}, )" + systems + "}", "workload.producers"},
      {R"({"name": "x", "workload": {"duration": "10"}, )" + systems + "}", "workload.duration"},
      {R"({"name": "x", "workload": {"duration": "10 sec"}, )" + systems + "}",
       "workload.duration"},
      {R"({"name": "x", "workload": {"rate": "fast"}, )" + systems + "}", "workload.rate"},
      {R"({"name": "x", "workload": {"message_size": "4XB"}, )" + systems + "}",
       "workload.message_size"},
      {R"({"name": "x", "workload": {"durtion": "1s"}, )" + systems + "}", "workload.durtion"},
      {R"({"name": "x", "systems": []})", "systems: too few"},
      {R"({"name": "x", "systems": [{"name": "r", "driver": "redsi"}]})", "systems[0].driver"},
      {R"({"name": "x", "systems": [{"name": "r s", "driver": "redis"}]})", "systems[0].name"},
      {R"({"name": "x", "systems": [{"name": "r", "driver": "redis",
           "deploy": {"bandwidth": "100"}}]})",
       "systems[0].deploy.bandwidth"},
      {R"({"name": "x", "systems": [{"name": "r", "driver": "redis", "config": {"a": [1]}}]})",
       "systems[0].config.a"},
      {R"({"name": "x", "systems": [{"name": "r", "driver": "redis",
           "deploy": {"workers": 0}}]})",
       "systems[0].deploy.workers"},
      {R"({"name": "x", "systems": [{"name": "r", "driver": "redis",
           "deploy": {"workers": ["10.0.0.7"]}}]})",
       "systems[0].deploy.workers"},
      {R"({"name": "x", "faults": [{"action": "kill"}], )" + systems + "}", "missing \"at\""},
      {R"({"name": "x", "slo": {"max_loss": 2}, )" + systems + "}", "slo.max_loss"},
      {R"({"name": "x", "repeats": 101, )" + systems + "}", "repeats"},
      {R"({"name": "x", "matrix": {"workload.producers": []}, )" + systems + "}",
       "matrix.workload.producers"},
  };
  for (const auto& [text, says] : cases) {
    SCOPED_TRACE(text);
    auto errors = validator.validate(json::parse(text));
    ASSERT_FALSE(errors.empty());
    bool named = false;
    for (const auto& error : errors) named = named || error.find(says) != std::string::npos;
    EXPECT_TRUE(named) << says << " not in " << ::testing::PrintToString(errors);
    // The parser refuses it too: the schema is never stricter than dec on these.
    EXPECT_FALSE(core::parse_spec(text, {}, systems::driver_catalog()).ok());
  }
}

report::ExperimentResult rich_result() {
  auto parsed = core::parse_spec(read(fs::path(DEC_SOURCE_DIR) / "examples/redis-find-max.yaml"),
                                 {"repeats=2"}, systems::driver_catalog());
  EXPECT_TRUE(parsed.ok());
  report::ExperimentResult result;
  result.id = "20261202-071500-abcd";
  result.experiment = parsed.spec.name;
  result.started_at = "2026-12-02T07:15:00Z";
  result.workload = parsed.spec.workload;
  result.workload.seed = 7;
  result.workload.key_distribution = core::KeyDistribution::kRandom;
  result.workload.keys = 8;
  result.targets.p99_latency = std::chrono::milliseconds(10);
  result.targets.min_throughput = 1000;
  result.repeats = 2;
  result.points.push_back({0, {}});
  result.warnings = {"slo: only used with workload.rate: find-max"};
  result.spec_json = core::spec_to_json(parsed.spec);
  result.environment = report::collect_environment();
  result.environment.concurrent_detail = "pid 1";
  for (int repeat = 0; repeat < 2; ++repeat) {
    for (const char* system : {"a", "b"}) {
      report::RunResult run;
      run.run_id = result.id + ".p0.r" + std::to_string(repeat) + "." + system;
      run.repeat = repeat;
      run.system = system;
      run.driver = "redis";
      run.provider = "local";
      run.served_by = "redis-server";
      run.client_library = "hiredis 0.14.1";
      run.status = "succeeded";
      run.config = {{"pipeline", "16"}};
      run.client = {{"pipeline", "16"}};
      run.phases_s = {{"provision", 0.5}, {"run", 12.0}};
      run.counters = {{"redis.retries", 2}};
      run.engine.measured_seconds = 10;
      run.engine.produced_msgs_per_s = 1000 + repeat;
      run.engine.consumed_msgs_per_s = 1000 + repeat;
      run.engine.window.offered_per_s = 1000;
      run.engine.window.rate_sustained = true;
      for (int v = 1; v <= 1000; ++v) {
        run.engine.end_to_end_latency.record(uint64_t(v) * 1000 * (repeat + 1));
        run.engine.publish_latency.record(uint64_t(v) * 500);
      }
      run.engine.delivery.sent = 10000;
      run.engine.delivery.received = 10000;
      run.engine.timeline.push_back({});
      run.engine.partitions.push_back({"dec-t0", 0, 10000});
      run.engine.backlog.target_messages = 100;
      run.engine.backlog.drained = true;
      run.resources.push_back({});
      run.resources.back().address = "service.a.0";
      run.resources.back().cpus_limit = 1.0;
      report::FaultImpact applied;
      applied.action = "kill";
      applied.applied = true;
      applied.recovery_s = 1.5;
      report::FaultImpact skipped;
      skipped.action = "throttle";
      skipped.bandwidth = 1000000;
      skipped.error = "not supported";
      run.faults = {applied, skipped};
      report::RateSearchResult search;
      search.max_rate = 1000;
      search.stopped = "converged";
      search.reported_step = 0;
      search.slo.p99 = std::chrono::milliseconds(50);
      search.steps.push_back({"probe", 0, 1200, 100, 900, 2000, false, 0, true, "", false, 10});
      run.search = search;
      report::CostEstimate cost;
      cost.model = "self-managed";
      cost.items.push_back({"m5.large", 1, "instance-hour", 0.096, 0.096, "shipped table"});
      cost.region = "us-east-1";
      cost.sources = {"shipped table"};
      run.cost = cost;
      run.infrastructure_from = "e1.p0.r0.redis";  // a run on kept infrastructure
      result.runs.push_back(run);
    }
  }
  return result;
}

Validator results_validator() {
  return Validator(report::results_json_schema(),
                   core::spec_json_schema(systems::driver_catalog()));
}

TEST(ResultsSchema, ASweepWithSearchCostFaultsAndTargetsValidates) {
  Validator validator = results_validator();
  const json doc = json::parse(report::to_json(rich_result()));
  ASSERT_TRUE(doc.contains("stats") && doc.contains("comparisons") && doc.contains("spec"));
  ASSERT_TRUE(doc["runs"][0].contains("search") && doc["runs"][0].contains("cost") &&
              doc["runs"][0].contains("backlog") && doc["runs"][0].contains("key_seed"));
  auto errors = validator.validate(doc);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);

  // A single run without extras validates too.
  report::ExperimentResult plain;
  plain.id = "x";
  plain.runs.push_back({});
  plain.runs.back().status = "failed";
  errors = validator.validate(json::parse(report::to_json(plain)));
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
}

TEST(ResultsSchema, RefusesDocumentsThatAreNotResults) {
  Validator validator = results_validator();
  const json good = json::parse(report::to_json(rich_result()));
  auto refused = [&](const std::function<void(json&)>& change, const std::string& says) {
    json doc = good;
    change(doc);
    auto errors = validator.validate(doc);
    bool named = false;
    for (const auto& error : errors) named = named || error.find(says) != std::string::npos;
    EXPECT_TRUE(named) << says << " not in " << ::testing::PrintToString(errors);
  };
  refused([](json& d) { d.erase("runs"); }, "missing \"runs\"");
  refused([](json& d) { d["runs"][0]["latency_us"]["p99"] = "fast"; }, "runs[0].latency_us.p99");
  refused([](json& d) { d["runs"][0]["status"] = "done"; }, "runs[0].status");
  refused([](json& d) { d["runs"][0]["surprise"] = 1; }, "runs[0].surprise: not allowed");
  refused([](json& d) { d["runs"][0]["throughput"].erase("consumed_mb_per_s"); },
          "missing \"consumed_mb_per_s\"");
  refused([](json& d) { d["spec"]["workload"]["producers"] = 0; }, "spec.workload.producers");
}

// nlohmann's parse error names the byte; yaml-cpp would say line 1, column 1 for any mistake in
// a JSON document.
TEST(SpecJsonSyntax, ErrorsSayTheLineAndColumn) {
  const std::string text =
      "{\n  \"name\": \"x\",\n  \"systems\": [\n    {\"name\": \"a\" \"driver\": \"redis\"}\n  "
      "]\n}\n";
  auto parsed = core::parse_spec(text, {}, systems::driver_catalog());
  ASSERT_EQ(parsed.errors.size(), 1u);
  const std::string message = parsed.errors[0].message;
  EXPECT_EQ(message.rfind("JSON syntax error at line 4, column ", 0), 0u) << message;
  EXPECT_NE(message.find("syntax error while parsing object"), std::string::npos) << message;
  // Truncated: the error is at the end of the text.
  auto truncated =
      core::parse_spec("{\"name\": \"x\",\n \"systems\": [", {}, systems::driver_catalog());
  ASSERT_EQ(truncated.errors.size(), 1u);
  EXPECT_NE(truncated.errors[0].message.find("line 2, column 14"), std::string::npos)
      << truncated.errors[0].message;
  // YAML's flow style is not JSON: its errors stay yaml-cpp's.
  auto flow = core::parse_spec("{name: x, systems: [", {}, systems::driver_catalog());
  ASSERT_EQ(flow.errors.size(), 1u);
  EXPECT_EQ(flow.errors[0].message.rfind("syntax error", 0), 0u) << flow.errors[0].message;
}

TEST(PlanPreview, CountsRunsAndListsResourcesWithoutCreatingAnything) {
  const fs::path data = fs::temp_directory_path() / ("dec-plan-" + std::to_string(getpid()));
  fs::remove_all(data);
  infra::PosixEnv env;
  infra::ProviderContext context;
  context.env = &env;
  context.data_dir = data.string();
  context.installation = "plan-test";
  auto sweep =
      core::parse_spec_file(std::string(DEC_SOURCE_DIR) + "/examples/redis-pipeline-sweep.yaml", {},
                            systems::driver_catalog());
  ASSERT_TRUE(sweep.ok());
  auto preview = orchestrator::preview_plan(sweep.spec, context);
  ASSERT_TRUE(preview.ok()) << preview.error();
  EXPECT_TRUE(preview->sweep);
  EXPECT_TRUE(preview->ok());
  size_t points = 1;
  for (const auto& axis : sweep.spec.matrix) points *= axis.values.size();
  EXPECT_EQ(preview->runs, points * sweep.spec.repeats * sweep.spec.systems.size());
  EXPECT_GT(preview->estimated.count(), 0);
  EXPECT_NE(preview->headline.find(std::to_string(preview->runs) + " runs"), std::string::npos)
      << preview->headline;
  EXPECT_FALSE(preview->infrastructure.empty());
  ASSERT_FALSE(preview->systems.empty());
  EXPECT_TRUE(preview->systems[0].point.has_value());
  EXPECT_FALSE(preview->systems[0].plan.empty());
  for (const auto& change : preview->systems[0].plan.changes) {
    EXPECT_EQ(change.kind, infra::ChangeKind::kCreate);
  }
  // A system its provider cannot plan is reported in its entry; the others are still planned.
  auto mixed = core::parse_spec(
      "name: m\nsystems:\n  - {name: ok, driver: redis}\n"
      "  - {name: bad, driver: redis, deploy: {provider: endpoints}}\n",
      {}, systems::driver_catalog());
  if (mixed.ok()) {  // (validation may learn to refuse it first)
    auto partial = orchestrator::preview_plan(mixed.spec, context);
    ASSERT_TRUE(partial.ok());
    EXPECT_FALSE(partial->ok());
    ASSERT_EQ(partial->systems.size(), 2u);
    EXPECT_TRUE(partial->systems[0].error.empty());
    EXPECT_NE(partial->systems[1].error.find("addresses"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(data)) << "a plan creates nothing, not even the data dir";
}

}  // namespace
}  // namespace dec
