#include "report/results_schema.h"

#include <initializer_list>
#include <string>
#include <utility>

namespace dec::report {
namespace {

using Json = nlohmann::ordered_json;

const Json kNumber = {{"type", "number"}};
const Json kInteger = {{"type", "integer"}, {"minimum", 0}};
const Json kString = {{"type", "string"}};
const Json kBoolean = {{"type", "boolean"}};
const Json kNumberOrNull = {{"type", Json::array({"number", "null"})}};
const Json kStringOrNull = {{"type", Json::array({"string", "null"})}};

Json ref(const std::string& name) { return {{"$ref", "#/$defs/" + name}}; }

Json with_description(Json schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

Json array_of(Json items) { return {{"type", "array"}, {"items", std::move(items)}}; }

Json map_of(Json values) {
  return {{"type", "object"}, {"additionalProperties", std::move(values)}};
}

// An object with exactly these fields; `optional` ones may be absent, the rest are required.
Json object(Json properties, std::initializer_list<const char*> optional = {}) {
  Json required = Json::array();
  for (const auto& [key, value] : properties.items()) {
    bool is_optional = false;
    for (const char* name : optional) is_optional = is_optional || key == name;
    if (!is_optional) required.push_back(key);
  }
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

Json latency() {
  return object({{"count", kInteger},
                 {"mean", kNumber},
                 {"p50", kNumber},
                 {"p90", kNumber},
                 {"p99", kNumber},
                 {"p999", kNumber},
                 {"p9999", kNumber},
                 {"max", kNumber},
                 {"censored", kInteger}});
}

Json window() {
  return object({{"offered", kInteger},
                 {"offered_per_s", kNumber},
                 {"sent_on_time", kInteger},
                 {"sent_late", kInteger},
                 {"unsent", kInteger},
                 {"max_send_lag_ms", kNumber},
                 {"acked", kInteger},
                 {"received", kInteger},
                 {"undelivered", kInteger},
                 {"lost", kInteger},
                 {"warmup_acked_in_window", kInteger},
                 {"warmup_received_in_window", kInteger},
                 {"rate_sustained", {{"type", Json::array({"boolean", "null"})}}}});
}

Json resources() {
  Json host = object({{"address", kString},
                      {"role", kString},
                      {"cpu_seconds", kNumber},
                      {"cpu_avg_cores", kNumber},
                      {"cpu_peak_cores", kNumber},
                      {"cpus_limit", kNumberOrNull},
                      {"memory_peak_bytes", {{"type", Json::array({"integer", "null"})}}}});
  return object({{"hosts", array_of(host)},
                 {"msgs_per_broker_cpu_s", kNumberOrNull},
                 {"load_generator_saturated", kBoolean},
                 {"saturation_reason", kString},
                 {"limited_by", kString},
                 {"limited_by_reason", kString}});
}

Json fault() {
  return object({{"at_s", kNumber},
                 {"action", kString},
                 {"target", kInteger},
                 {"bandwidth", kInteger},
                 {"applied", kBoolean},
                 {"error", kString},
                 {"applied_at_s", kNumber},
                 {"ends_fault", kInteger},
                 {"throughput_before", kNumber},
                 {"throughput_min", kNumber},
                 {"dip_pct", kNumber},
                 {"recovery_s", kNumberOrNull},
                 {"lost", kInteger},
                 {"undelivered", kInteger},
                 {"duplicated", kInteger}},
                {"bandwidth", "error", "applied_at_s", "ends_fault", "throughput_before",
                 "throughput_min", "dip_pct", "recovery_s", "lost", "undelivered", "duplicated"});
}

Json search() {
  Json step = object({{"kind", {{"enum", Json::array({"probe", "ramp", "bisect"})}}},
                      {"offered_per_s", kNumber},
                      {"achieved_per_s", kNumber},
                      {"p50_us", kNumber},
                      {"p99_us", kNumber},
                      {"p999_us", kNumber},
                      {"latency_lower_bound", kBoolean},
                      {"loss", kNumber},
                      {"passed", kBoolean},
                      {"reason", kString},
                      {"generator_saturated", kBoolean},
                      {"seconds", kNumber}});
  return object({{"max_rate", kNumberOrNull},
                 {"lowest_failed", kNumberOrNull},
                 {"converged", kBoolean},
                 {"stopped", kString},
                 {"slo", object({{"max_loss", kNumber}, {"p99_us", kNumberOrNull}})},
                 {"precision", kNumber},
                 {"step_bound", kInteger},
                 {"time_bound_s", kNumber},
                 {"seconds", kNumber},
                 {"reported_step", {{"type", "integer"}}},
                 {"limited_by_generator", kBoolean},
                 {"steps", array_of(step)}});
}

Json cost() {
  Json item = object({{"item", kString},
                      {"quantity_per_hour", kNumber},
                      {"unit", kString},
                      {"unit_price_usd", kNumber},
                      {"usd_per_hour", kNumber},
                      {"source", kString}});
  return object({{"estimate", {{"enum", Json::array({true})}}},
                 {"model",
                  {{"enum", Json::array({"kinesis-provisioned", "kinesis-on-demand", "msk",
                                         "self-managed"})}}},
                 {"messages_per_s", kNumber},
                 {"per_hour_usd", kNumber},
                 {"per_million_messages_usd", kNumber},
                 {"items", array_of(item)},
                 {"prices", object({{"region", kStringOrNull},
                                    {"date", kStringOrNull},
                                    {"sources", array_of(kString)}})},
                 {"notes", array_of(kString)}});
}

Json run() {
  Json backlog = object({{"target_messages", kInteger},
                         {"drain_ratio", kNumber},
                         {"reached", kBoolean},
                         {"messages", kInteger},
                         {"build_s", kNumber},
                         {"drained", kBoolean},
                         {"drain_level", kInteger},
                         {"drain_s", kNumber},
                         {"consumed_while_draining", kInteger},
                         {"drain_msgs_per_s", kNumberOrNull},
                         {"max_lag", kInteger}});
  Json targets =
      object({{"p99_latency_us", kNumber},
              {"p99_latency_met", kBoolean},
              {"min_throughput", kNumber},
              {"min_throughput_met", kBoolean}},
             {"p99_latency_us", "p99_latency_met", "min_throughput", "min_throughput_met"});
  Json timeline_point = object({{"t_s", kNumber},
                                {"produced_per_s", kNumber},
                                {"consumed_per_s", kNumber},
                                {"p99_us", kNumber},
                                {"lost", kInteger},
                                {"undelivered", kInteger},
                                {"duplicated", kInteger}});
  return object(
      {{"run_id", kString},
       {"point", kInteger},
       {"repeat", kInteger},
       {"system", kString},
       {"driver", kString},
       {"provider", kString},
       {"emulated", kBoolean},
       {"served_by", kString},
       {"client_library", kString},
       {"status", {{"enum", Json::array({"succeeded", "failed", "cancelled"})}}},
       {"error", kString},
       {"config", map_of(kString)},
       {"measured_s", kNumber},
       {"throughput", object({{"produced_msgs_per_s", kNumber},
                              {"consumed_msgs_per_s", kNumber},
                              {"produced_mb_per_s", kNumber},
                              {"consumed_mb_per_s", kNumber}})},
       {"window", window()},
       {"latency_us", with_description(latency(), "end-to-end, microseconds")},
       {"publish_latency_us", with_description(latency(), "send to acknowledgement")},
       {"delivery", object({{"sent", kInteger},
                            {"acked", kInteger},
                            {"send_errors", kInteger},
                            {"received", kInteger},
                            {"lost", kInteger},
                            {"duplicated", kInteger},
                            {"reordered", kInteger},
                            {"corrupt", kInteger},
                            {"undelivered", kInteger},
                            {"redelivered", kInteger}})},
       {"partitions", array_of(object({{"topic", kString},
                                       {"partition", {{"type", "integer"}, {"minimum", -1}}},
                                       {"received", kInteger}}))},
       {"client", map_of(kString)},
       {"phases_s", map_of(kNumber)},
       {"counters", map_of(kInteger)},
       {"resources", resources()},
       {"timeline", array_of(timeline_point)},
       {"faults", array_of(fault())},
       {"histograms", object({{"end_to_end_ns", kString}, {"publish_ns", kString}})},
       {"payload_compression_ratio", kNumber},
       {"key_seed", kInteger},
       {"backlog", backlog},
       {"targets", targets},
       {"search", search()},
       {"cost", cost()},
       {"infrastructure_from", kString},
       {"load_agents",
        with_description(array_of(object({{"name", kString},
                                          {"address", kString},
                                          {"producers", kInteger},
                                          {"consumers", kInteger},
                                          {"clock_offset_us", kNumber},
                                          {"clock_uncertainty_us", kNumber},
                                          {"error", kString}})),
                         "several load agents: each one's share and measured clock offset")},
       {"clock_agreement_us",
        with_description(kNumber,
                         "the agents' clocks agree within +- this: cross-agent end-to-end latency "
                         "is only as good")}},
      {"key_seed", "backlog", "search", "cost", "infrastructure_from", "load_agents",
       "clock_agreement_us"});
}

Json workload() {
  return object({{"message_size", kInteger},
                 {"producers", kInteger},
                 {"consumers", kInteger},
                 {"consumer_groups", kInteger},
                 {"rate", kNumber},
                 {"duration_s", kNumber},
                 {"warmup_s", kNumber},
                 {"drain_timeout_s", kNumber},
                 {"topics", kInteger},
                 {"partitions", kInteger},
                 {"keys", kInteger},
                 {"key_distribution", {{"enum", Json::array({"none", "round_robin", "random"})}}},
                 {"payload",
                  object({{"pool", kInteger}, {"random_bytes_ratio", kNumber}, {"file", kString}})},
                 {"seed", kInteger},
                 {"rate_mode", {{"enum", Json::array({"find-max"})}}},
                 {"search", object({{"precision", kNumber},
                                    {"max_steps", kInteger},
                                    {"start", kNumber},
                                    {"max", kNumber},
                                    {"max_time_s", kNumber}},
                                   {"start", "max", "max_time_s"})},
                 {"backlog", object({{"messages", kInteger}, {"drain_ratio", kNumber}})}},
                {"seed", "rate_mode", "search", "backlog"});
}

Json environment() {
  return object({{"dec_version", kString},
                 {"kernel", kString},
                 {"os", kString},
                 {"hostname", kString},
                 {"cpu_model", kString},
                 {"cpu_cores", kInteger},
                 {"memory_bytes", kInteger},
                 {"payload_seed", kString},
                 {"measurement_lock", object({{"concurrent_runs", kBoolean},
                                              {"measured_alongside", kBoolean},
                                              {"waited_s", kNumber},
                                              {"allow_concurrent", kBoolean},
                                              {"detail", kString}},
                                             {"detail"})}});
}

Json stats() {
  Json summary = object({{"n", kInteger},
                         {"mean", kNumber},
                         {"sd", kNumberOrNull},
                         {"ci95", kNumberOrNull},
                         {"ci95_low", kNumber},
                         {"ci95_high", kNumber},
                         {"lower_bound", kBoolean}},
                        {"ci95_low", "ci95_high"});
  Json metrics = Json::object();
  for (const char* key : {"produced_msgs_per_s", "consumed_msgs_per_s", "latency_p50_us",
                          "latency_p99_us", "latency_p999_us", "publish_p99_us", "max_rate_per_s",
                          "cost_per_hour_usd", "cost_per_million_messages_usd"}) {
    metrics[key] = summary;
  }
  Json metric_summaries = {
      {"type", "object"}, {"properties", metrics}, {"additionalProperties", false}};
  return array_of(object({{"point", kInteger},
                          {"system", kString},
                          {"runs", kInteger},
                          {"succeeded", kInteger},
                          {"metrics", metric_summaries}}));
}

Json comparisons() {
  Json side = object({{"point", kInteger}, {"system", kString}, {"name", kString}});
  return array_of(object({{"metric", kString},
                          {"a", side},
                          {"b", side},
                          {"test", {{"enum", Json::array({"welch"})}}},
                          {"alpha", kNumber},
                          {"t", kNumber},
                          {"df", kNumber},
                          {"p_value", kNumber},
                          {"significant", kBoolean},
                          {"faster", kStringOrNull},
                          {"difference_pct", kNumber},
                          {"verdict", kString}},
                         {"t", "df", "p_value", "faster", "difference_pct"}));
}

}  // namespace

nlohmann::ordered_json results_json_schema() {
  Json root =
      object({{"id", kString},
              {"experiment", kString},
              {"started_at", kString},
              {"workload", workload()},
              {"runs", array_of(ref("run"))},
              {"warnings", array_of(kString)},
              {"concurrent_runs", kBoolean},
              {"environment", environment()},
              {"points", array_of(object({{"point", kInteger}, {"values", map_of(kString)}}))},
              {"repeats", {{"type", "integer"}, {"minimum", 1}}},
              {"stats", stats()},
              {"comparisons", comparisons()},
              {"spec", {{"$ref", "spec.json"}}}},
             {"stats", "comparisons", "spec"});
  Json schema = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                 {"$id", "/api/schema/results.json"},
                 {"title", "dec results document"},
                 {"description", "docs/results.md; `spec` is the spec as it ran (spec.json)"}};
  for (auto& [key, value] : root.items()) schema[key] = value;
  schema["$defs"] = {{"run", run()}};
  return schema;
}

}  // namespace dec::report
