#include "core/spec_schema.h"

#include <string>

#include "core/spec.h"

namespace dec::core {
namespace {

using Json = nlohmann::ordered_json;

// The number syntax of units.cpp (take_number): digits, an optional fraction, an optional
// exponent; no sign.
const std::string kNumber = "[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?";
const std::string kBlank = "[ \\t]*";

Json ref(const std::string& name) { return {{"$ref", "#/$defs/" + name}}; }

Json integer(int minimum, const std::string& description) {
  return {{"type", "integer"}, {"minimum", minimum}, {"description", description}};
}

Json text(const std::string& description) {
  return {{"type", "string"}, {"description", description}};
}

Json with_description(Json schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

// A map whose keys are all known: unknown fields are errors, as in the parser.
Json object(Json properties, Json required = Json::array()) {
  Json out = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) out["required"] = std::move(required);
  out["additionalProperties"] = false;
  return out;
}

Json definitions() {
  Json defs = Json::object();
  defs["size"] = {
      {"description",
       "bytes: a whole number, or a number and a unit B, KB, MB, GB (powers of 1000), KiB, MiB, "
       "GiB (powers of 1024), case-insensitive: 512B, 1KiB, 4MB"},
      {"anyOf", Json::array({{{"type", "integer"}, {"minimum", 0}},
                             {{"type", "string"},
                              {"pattern", "^" + kBlank + kNumber + kBlank +
                                              "([bB]|[kKmMgG][iI]?[bB])?" + kBlank + "$"}}})}};
  defs["duration"] = {
      {"description",
       "a number and a unit ns, us (µs), ms, s, m or h, segments may follow one another "
       "(1m30s); 0 needs no unit"},
      {"anyOf",
       Json::array({{{"type", "integer"}, {"enum", Json::array({0})}},
                    {{"type", "string"},
                     {"pattern", "^" + kBlank + "(0+(\\.0+)?|(" + kNumber + kBlank +
                                     "(ns|us|\xC2\xB5s|\xCE\xBCs|ms|s|m|h)" + kBlank + ")+)$"}}})}};
  defs["rate"] = {
      {"description",
       "messages per second: a number, optionally with k, M or G and /s: 5000, 50k/s, 2M/s"},
      {"anyOf", Json::array({{{"type", "number"}, {"minimum", 0}},
                             {{"type", "string"},
                              {"pattern", "^" + kBlank + kNumber + kBlank + "[kKMG]?" + kBlank +
                                              "(/s)?" + kBlank + "$"}}})}};
  defs["bandwidth"] = {
      {"description",
       "bits per second: a number and bit, kbit, Mbit, Gbit (or bit/s forms, bps, kbps, Mbps, "
       "Gbps), case-insensitive: 100Mbit"},
      {"type", "string"},
      {"pattern", "^" + kBlank + kNumber + kBlank +
                      "([kKmMgG]?[bB][iI][tT](/[sS])?|[kKmMgG]?[bB][pP][sS])" + kBlank + "$"}};
  defs["fraction"] = {{"type", "number"}, {"minimum", 0}, {"maximum", 1}};
  defs["scalar"] = {{"type", Json::array({"string", "number", "boolean"})}};
  defs["settings"] = {{"type", "object"},
                      {"description", "names to single values, passed to their owner untouched"},
                      {"additionalProperties", ref("scalar")}};
  defs["price"] = {{"type", "number"}, {"minimum", 0}, {"description", "USD"}};
  return defs;
}

Json workload_schema() {
  Json search = object({
      {"start", with_description(ref("rate"),
                                 "first rate tried (more than 0); unset = probe at "
                                 "full speed")},
      {"max", with_description(ref("rate"), "no step offers more (more than 0)")},
      {"precision",
       {{"type", "number"},
        {"minimum", 0.005},
        {"maximum", 0.5},
        {"description",
         "stop once lowest failed / highest passed - 1 is at most "
         "this (default 0.05)"}}},
      {"max_steps",
       {{"type", "integer"},
        {"minimum", 2},
        {"maximum", kMaxSearchSteps},
        {"description", "steps, the probe included (default 12)"}}},
      {"max_time", with_description(ref("duration"),
                                    "stop before a step that could end after "
                                    "this")},
  });
  Json payload = object({
      {"pool", integer(1, "N distinct bodies, message i carries body i mod N")},
      {"random_bytes_ratio", with_description(ref("fraction"),
                                              "share of each body that is "
                                              "random (default 1.0)")},
      {"file", text("bodies from this file, relative to where dec runs")},
  });
  Json backlog = object({
      {"size", with_description(ref("size"), "backlog in bytes (not with messages)")},
      {"messages", integer(1, "backlog in messages (not with size)")},
      {"drain_ratio",
       {{"type", "number"},
        {"exclusiveMinimum", 0},
        {"maximum", 1},
        {"description", "share of the backlog that must be consumed"}}},
  });
  Json client = object({
      {"max_in_flight", integer(1, "messages a producer keeps unacknowledged")},
      {"linger", with_description(ref("duration"),
                                  "longest a message waits to fill a batch "
                                  "(at most 60s)")},
      {"fetch_wait", with_description(ref("duration"),
                                      "longest a fetch waits in the server (at "
                                      "most 60s)")},
  });
  return object({
      {"message_size", with_description(ref("size"), "32B (dec's header) to 64MiB; default 1KiB")},
      {"producers", integer(1, "producer threads (default 1)")},
      {"consumers", integer(0, "consumer threads (default 1; 0 = produce only)")},
      {"rate",
       {{"description",
         "aggregate target messages/s (0 = as fast as possible), or "
         "find-max to search for the highest rate within slo"},
        {"anyOf", Json::array({ref("rate"), {{"enum", Json::array({"find-max"})}}})}}},
      {"search", with_description(search, "with rate: find-max only")},
      {"duration", with_description(ref("duration"),
                                    "measured part, longer than 0 (default "
                                    "10s)")},
      {"warmup", with_description(ref("duration"), "excluded from results (default 2s)")},
      {"drain_timeout", with_description(ref("duration"),
                                         "how long consumers may catch up "
                                         "(default 10s)")},
      {"topics", integer(1, "default 1")},
      {"partitions", integer(1, "partitions, shards or streams per topic (default 1)")},
      {"keys", integer(0, "distinct message keys; 0 = no key")},
      {"consumer_groups", integer(1, "each group receives every message (default 1)")},
      {"key_distribution", {{"enum", Json::array({"none", "round_robin", "random"})}}},
      {"seed", {{"type", "integer"}, {"minimum", 0}, {"description", "for random keys"}}},
      {"payload", payload},
      {"backlog", with_description(backlog, "needs size or messages")},
      {"client", client},
  });
}

Json system_schema(const DriverCatalog& catalog) {
  Json deploy = object({
      {"provider",
       {{"enum", Json::array({"local", "endpoints", "kubernetes", "terraform"})},
        {"description", "default local"}}},
      {"nodes", integer(1, "default 1")},
      {"cpus", {{"type", "number"}, {"exclusiveMinimum", 0}, {"description", "cores per node"}}},
      {"memory", with_description(ref("size"), "per node, more than 0")},
      {"bandwidth", with_description(ref("bandwidth"), "per node, more than 0")},
      {"settings", with_description(ref("settings"), "provider settings (docs/providers.md)")},
      {"server", with_description(ref("settings"), "broker configuration")},
      {"workers",
       {{"description",
         "load agents driving the system at once: a number (default 1, at most 50) the provider "
         "deploys, or the host:port addresses of `dec worker` agents already running"},
        {"anyOf",
         Json::array({{{"type", "integer"}, {"minimum", 1}, {"maximum", 50}},
                      {{"type", "array"},
                       {"minItems", 1},
                       {"items",
                        {{"type", "string"},
                         {"pattern", "^(\\[[^\\]]+\\]|[^:\\s/\\[\\]]+):[0-9]{1,5}$"}}}}})}}},
  });
  return object(
      {
          {"name",
           {{"type", "string"},
            {"pattern", "^[A-Za-z0-9_.-]+$"},
            {"description", "unique within the experiment"}}},
          {"driver", {{"enum", catalog.names}}},
          {"config", with_description(ref("settings"), "driver keys: GET /api/drivers")},
          {"deploy", deploy},
      },
      Json::array({"name", "driver"}));
}

Json pricing_schema() {
  Json system = object({
      {"model",
       {{"enum",
         Json::array({"kinesis-provisioned", "kinesis-on-demand", "msk", "self-managed"})}}},
      {"instance_type", text("EC2 type, or MSK broker type (kafka.m5.large)")},
      {"instance_hour", ref("price")},
      {"storage_gb", {{"type", "number"}, {"minimum", 0}}},
      {"storage_gb_month", ref("price")},
      {"shard_hour", ref("price")},
      {"million_put_units", ref("price")},
      {"stream_hour", ref("price")},
      {"gb_written", ref("price")},
      {"gb_read", ref("price")},
  });
  return object({
      {"instance_type", text("self-managed nodes' EC2 type")},
      {"instance_hour", ref("price")},
      {"systems",
       {{"type", "object"}, {"description", "by system name"}, {"additionalProperties", system}}},
  });
}

}  // namespace

nlohmann::ordered_json spec_json_schema(const DriverCatalog& catalog) {
  Json fault = object(
      {
          {"at", with_description(ref("duration"), "since the start of warm-up")},
          {"action",
           {{"enum",
             Json::array({"kill", "pause", "resume", "disconnect", "reconnect", "throttle"})}}},
          {"target", integer(0, "node index")},
          {"bandwidth", with_description(ref("bandwidth"), "throttle only (required there)")},
          {"system", {{"type", "string"}, {"minLength", 1}, {"description", "only this system"}}},
      },
      Json::array({"at", "action"}));
  Json properties = {
      {"name", {{"type", "string"}, {"minLength", 1}}},
      {"description", {{"type", "string"}}},
      {"workload", workload_schema()},
      {"systems", {{"type", "array"}, {"minItems", 1}, {"items", system_schema(catalog)}}},
      {"targets", object({
                      {"p99_latency", with_description(ref("duration"), "end-to-end p99 SLO")},
                      {"min_throughput", with_description(ref("rate"), "consumed msg/s")},
                  })},
      {"slo",
       object({
           {"p99", with_description(ref("duration"),
                                    "end-to-end p99 a search step must "
                                    "meet")},
           {"max_loss",
            {{"description",
              "share of offered messages that may be lost: "
              "0.0 to 1.0, or a percentage"},
             {"anyOf", Json::array({ref("fraction"),
                                    {{"type", "string"}, {"pattern", "^[0-9]+(\\.[0-9]+)?%$"}}})}}},
       })},
      {"faults", {{"type", "array"}, {"items", fault}}},
      {"pricing", pricing_schema()},
      {"matrix",
       {{"type", "object"},
        {"description", "field path (as --set takes it) to the values it takes"},
        {"additionalProperties", {{"type", "array"}, {"minItems", 1}, {"items", ref("scalar")}}}}},
      {"repeats", {{"type", "integer"}, {"minimum", 1}, {"maximum", kMaxRepeats}}},
  };
  Json schema = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                 {"$id", "/api/schema/spec.json"},
                 {"title", "dec experiment spec"},
                 {"description",
                  "docs/spec.md; the parser also accepts numbers written as "
                  "strings and null for an absent field"}};
  Json root = object(properties, Json::array({"name", "systems"}));
  for (auto& [key, value] : root.items()) schema[key] = value;
  schema["$defs"] = definitions();
  return schema;
}

}  // namespace dec::core
