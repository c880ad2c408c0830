// JSON codecs of the worker API. Readers name the offending field with its full path
// ("engine.producers: expected an integer") so a person or the orchestrator can fix the request.
// A WorkRequest rejects unknown fields (a misspelt option must not silently fall back to its
// default); results and status ignore them, so an orchestrator can read a newer worker's answer.
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "load/payload.h"
#include "worker/worker.h"

namespace dec::worker {
namespace {

using json = nlohmann::ordered_json;

// Thrown inside this file only; every public function turns it into a Result error.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw FieldError(path + ": " + message);
}

// Reads the fields of one JSON object, remembering which were read so that unknown ones can be
// reported by finish().
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string path) : path_(std::move(path)) {
    if (!value.is_object()) fail(path_.empty() ? "body" : path_, "expected a JSON object");
    object_ = &value;
  }

  // nullptr when the field is absent and optional; fails when absent and required.
  const json* field(const std::string& key, bool required) {
    seen_.insert(key);
    auto it = object_->find(key);
    if (it == object_->end()) {
      if (required) fail(path(key), "missing (required)");
      return nullptr;
    }
    return &*it;
  }

  std::string path(const std::string& key) const { return join_path(path_, key); }

  // Fields the caller never asked for are typos or options this version does not know.
  void reject_unknown() const {
    for (auto it = object_->begin(); it != object_->end(); ++it) {
      if (seen_.count(it.key()) == 0) {
        std::string known;
        for (const auto& key : seen_) known += (known.empty() ? "" : ", ") + key;
        fail(path(it.key()), "unknown field (known: " + known + ")");
      }
    }
  }

  template <class T>
  void read(const std::string& key, T& out, bool required);

 private:
  const json* object_ = nullptr;
  std::string path_;
  std::set<std::string> seen_;
};

int64_t to_int64(const json& value, const std::string& path, const char* what) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(path, "too large");
    return static_cast<int64_t>(v);
  }
  if (!value.is_number_integer()) fail(path, std::string("expected ") + what);
  return value.get<int64_t>();
}

void read_value(const json& value, const std::string& path, int& out) {
  const int64_t v = to_int64(value, path, "an integer");
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    fail(path, "integer out of range");
  }
  out = static_cast<int>(v);
}

void read_value(const json& value, const std::string& path, uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return;
  }
  fail(path, value.is_number_integer() ? "expected a non-negative integer, got a negative one"
                                       : "expected a non-negative integer");
}

void read_value(const json& value, const std::string& path, double& out) {
  if (!value.is_number()) fail(path, "expected a number");
  out = value.get<double>();
}

void read_value(const json& value, const std::string& path, bool& out) {
  if (!value.is_boolean()) fail(path, "expected true or false");
  out = value.get<bool>();
}

void read_value(const json& value, const std::string& path, std::string& out) {
  if (!value.is_string()) fail(path, "expected a string");
  out = value.get<std::string>();
}

void read_value(const json& value, const std::string& path, std::chrono::nanoseconds& out) {
  out = std::chrono::nanoseconds(to_int64(value, path, "an integer (nanoseconds)"));
}

void read_value(const json& value, const std::string& path, std::vector<std::string>& out) {
  if (!value.is_array()) fail(path, "expected an array of strings");
  out.clear();
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    std::string item;
    read_value(value[i], item_path, item);
    out.push_back(std::move(item));
  }
}

void read_value(const json& value, const std::string& path, core::Settings& out) {
  if (!value.is_object()) fail(path, "expected an object of string values");
  out.clear();
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::string item;
    read_value(it.value(), join_path(path, it.key()), item);
    out[it.key()] = std::move(item);
  }
}

void read_value(const json& value, const std::string& path, metrics::Histogram& out) {
  std::string text;
  read_value(value, path, text);
  auto histogram = metrics::Histogram::deserialize(text);
  if (!histogram.ok()) fail(path, histogram.error());
  out = std::move(*histogram);
}

template <class T>
void ObjectReader::read(const std::string& key, T& out, bool required) {
  if (const json* value = field(key, required)) read_value(*value, path(key), out);
}

// ---- engine options ----

json options_to_json(const load::EngineOptions& o) {
  return {{"producers", o.producers},
          {"consumers", o.consumers},
          {"consumer_groups", o.consumer_groups},
          {"rate", o.rate},
          {"warmup_ns", o.warmup.count()},
          {"duration_ns", o.duration.count()},
          {"drain_timeout_ns", o.drain_timeout.count()},
          {"message_size", o.message_size},
          {"keys", o.keys},
          {"key_distribution", core::key_distribution_name(o.key_distribution)},
          {"key_seed", o.key_seed},
          {"payload",
           {{"pool", o.payload.pool},
            {"random_bytes_ratio", o.payload.random_bytes_ratio},
            {"file", o.payload.file}}},
          {"backlog_messages", o.backlog_messages},
          {"backlog_drain_ratio", o.backlog_drain_ratio},
          {"topics", o.topics},
          {"group_prefix", o.group_prefix},
          {"max_messages", o.max_messages},
          {"ready_timeout_ns", o.ready_timeout.count()}};
}

// A share of a run driven by several agents; absent for one agent alone.
void add_share(json& body, const load::EngineOptions& o) {
  if (!o.shared()) return;
  body["first_producer_id"] = o.first_producer_id;
  body["total_producers"] = o.total_producers;
  body["first_consumer"] = o.first_consumer;
  body["total_consumers"] = o.total_consumers;
}

// Missing fields keep EngineOptions' defaults. Ranges are checked here, with field names, so a
// bad request is a 400 at once rather than a failed run later (load::Engine checks them again).
load::EngineOptions options_from_json(const json& value, const std::string& path) {
  load::EngineOptions o;
  ObjectReader r(value, path);
  r.read("producers", o.producers, false);
  r.read("consumers", o.consumers, false);
  r.read("consumer_groups", o.consumer_groups, false);
  r.read("rate", o.rate, false);
  r.read("warmup_ns", o.warmup, false);
  r.read("duration_ns", o.duration, false);
  r.read("drain_timeout_ns", o.drain_timeout, false);
  r.read("message_size", o.message_size, false);
  r.read("keys", o.keys, false);
  std::string key_distribution = core::key_distribution_name(o.key_distribution);
  r.read("key_distribution", key_distribution, false);
  r.read("key_seed", o.key_seed, false);
  if (const json* payload = r.field("payload", false)) {
    ObjectReader p(*payload, r.path("payload"));
    p.read("pool", o.payload.pool, false);
    p.read("random_bytes_ratio", o.payload.random_bytes_ratio, false);
    p.read("file", o.payload.file, false);
    p.reject_unknown();
    if (!(o.payload.random_bytes_ratio >= 0 && o.payload.random_bytes_ratio <= 1)) {
      fail(p.path("random_bytes_ratio"), "must be from 0.0 to 1.0");
    }
  }
  r.read("backlog_messages", o.backlog_messages, false);
  r.read("backlog_drain_ratio", o.backlog_drain_ratio, false);
  r.read("topics", o.topics, false);
  r.read("group_prefix", o.group_prefix, false);
  r.read("max_messages", o.max_messages, false);
  r.read("ready_timeout_ns", o.ready_timeout, false);
  int first_producer_id = 0;
  r.read("first_producer_id", first_producer_id, false);
  r.read("total_producers", o.total_producers, false);
  r.read("first_consumer", o.first_consumer, false);
  r.read("total_consumers", o.total_consumers, false);
  r.reject_unknown();
  if (first_producer_id < 0) fail(r.path("first_producer_id"), "must not be negative");
  o.first_producer_id = static_cast<uint32_t>(first_producer_id);
  if (o.total_producers < 0) fail(r.path("total_producers"), "must be 0 (one engine) or more");
  if (o.total_producers > 0 &&
      first_producer_id + static_cast<int64_t>(o.producers) > o.total_producers) {
    fail(r.path("first_producer_id"),
         "producers first_producer_id .. first_producer_id + producers - 1 must lie within "
         "total_producers");
  }
  if (o.first_consumer < 0) fail(r.path("first_consumer"), "must not be negative");
  if (o.total_consumers < 0) fail(r.path("total_consumers"), "must not be negative");
  if (o.total_producers > 0 && o.consumers > 0 &&
      o.first_consumer + static_cast<int64_t>(o.consumers) > o.total_consumers) {
    fail(r.path("first_consumer"),
         "consumers first_consumer .. first_consumer + consumers - 1 must lie within "
         "total_consumers");
  }

  if (o.producers < 1) fail(r.path("producers"), "must be at least 1");
  if (o.consumers < 0) fail(r.path("consumers"), "must be 0 (produce only) or more");
  if (o.consumer_groups < 1) fail(r.path("consumer_groups"), "must be at least 1");
  if (!std::isfinite(o.rate) || o.rate < 0) {
    fail(r.path("rate"), "must be a finite number >= 0 (0 = as fast as possible)");
  }
  if (o.warmup.count() < 0) fail(r.path("warmup_ns"), "must not be negative");
  if (o.duration.count() <= 0) fail(r.path("duration_ns"), "must be positive");
  if (o.drain_timeout.count() < 0) fail(r.path("drain_timeout_ns"), "must not be negative");
  if (o.ready_timeout.count() <= 0) fail(r.path("ready_timeout_ns"), "must be positive");
  if (o.message_size < load::kPayloadHeaderSize) {
    fail(r.path("message_size"), "must be at least " + std::to_string(load::kPayloadHeaderSize) +
                                     " bytes (dec's payload header)");
  }
  if (o.keys < 0) fail(r.path("keys"), "must be 0 (no key) or more");
  if (key_distribution == "none") {
    o.key_distribution = core::KeyDistribution::kNone;
    if (o.keys > 0) fail(r.path("key_distribution"), "none needs keys 0");
  } else if (key_distribution == "round_robin") {
    o.key_distribution = core::KeyDistribution::kRoundRobin;
  } else if (key_distribution == "random") {
    o.key_distribution = core::KeyDistribution::kRandom;
  } else {
    fail(r.path("key_distribution"), "must be one of none, round_robin, random");
  }
  if (!(o.backlog_drain_ratio > 0 && o.backlog_drain_ratio <= 1)) {
    fail(r.path("backlog_drain_ratio"), "must be more than 0 and at most 1");
  }
  if (o.topics.empty()) fail(r.path("topics"), "at least one topic is needed");
  for (size_t i = 0; i < o.topics.size(); ++i) {
    if (o.topics[i].empty()) {
      fail(r.path("topics") + "[" + std::to_string(i) + "]", "must not be empty");
    }
  }
  if (o.group_prefix.empty()) fail(r.path("group_prefix"), "must not be empty");
  return o;
}

// ---- progress ----

const char* phase_name(load::Phase phase) {
  // The same names as the experiment service's progress events (docs/api.md).
  switch (phase) {
    case load::Phase::kWarmup:
      return "warmup";
    case load::Phase::kMeasuring:
      return "running";
    case load::Phase::kDraining:
      return "draining";
    case load::Phase::kDone:
      return "done";
  }
  return "done";
}

json progress_to_json(const load::Progress& p) {
  return {{"phase", phase_name(p.phase)},
          {"started", p.started},
          {"elapsed_s", p.elapsed_s},
          {"total_s", p.total_s},
          {"sent", p.sent},
          {"received", p.received},
          {"produced_per_s", p.produced_per_s},
          {"consumed_per_s", p.consumed_per_s},
          {"p99_us", p.p99_us},
          {"acked", p.acked}};
}

load::Progress progress_from_json(const json& value, const std::string& path) {
  load::Progress p;
  ObjectReader r(value, path);
  std::string phase;
  r.read("phase", phase, true);
  if (phase == "warmup") {
    p.phase = load::Phase::kWarmup;
  } else if (phase == "running") {
    p.phase = load::Phase::kMeasuring;
  } else if (phase == "draining") {
    p.phase = load::Phase::kDraining;
  } else if (phase == "done") {
    p.phase = load::Phase::kDone;
  } else {
    fail(r.path("phase"), "expected one of warmup, running, draining, done; got \"" + phase + "\"");
  }
  r.read("started", p.started, true);
  r.read("elapsed_s", p.elapsed_s, true);
  r.read("total_s", p.total_s, true);
  r.read("sent", p.sent, true);
  r.read("received", p.received, true);
  r.read("produced_per_s", p.produced_per_s, true);
  r.read("consumed_per_s", p.consumed_per_s, true);
  r.read("p99_us", p.p99_us, true);
  r.read("acked", p.acked, false);  // absent from older agents
  return p;
}

// ---- engine result ----

json delivery_to_json(const load::DeliveryCounts& d) {
  return {{"sent", d.sent},
          {"acked", d.acked},
          {"send_errors", d.send_errors},
          {"received", d.received},
          {"lost", d.lost},
          {"undelivered", d.undelivered},
          {"duplicated", d.duplicated},
          {"redelivered", d.redelivered},
          {"reordered", d.reordered},
          {"corrupt", d.corrupt}};
}

load::DeliveryCounts delivery_from_json(const json& value, const std::string& path) {
  load::DeliveryCounts d;
  ObjectReader r(value, path);
  r.read("sent", d.sent, true);
  r.read("acked", d.acked, true);
  r.read("send_errors", d.send_errors, true);
  r.read("received", d.received, true);
  r.read("lost", d.lost, true);
  r.read("undelivered", d.undelivered, true);
  r.read("duplicated", d.duplicated, true);
  r.read("redelivered", d.redelivered, true);
  r.read("reordered", d.reordered, true);
  r.read("corrupt", d.corrupt, true);
  return d;
}

json time_point_to_json(const load::TimePoint& t) {
  return {{"t_s", t.t_s},
          {"produced_per_s", t.produced_per_s},
          {"consumed_per_s", t.consumed_per_s},
          {"p99_us", t.p99_us},
          {"lost", t.lost},
          {"undelivered", t.undelivered},
          {"duplicated", t.duplicated}};
}

load::TimePoint time_point_from_json(const json& value, const std::string& path) {
  load::TimePoint t;
  ObjectReader r(value, path);
  r.read("t_s", t.t_s, true);
  r.read("produced_per_s", t.produced_per_s, true);
  r.read("consumed_per_s", t.consumed_per_s, true);
  r.read("p99_us", t.p99_us, true);
  r.read("lost", t.lost, true);
  r.read("undelivered", t.undelivered, true);
  r.read("duplicated", t.duplicated, true);
  return t;
}

json window_to_json(const load::WindowAccounting& w) {
  return {{"offered", w.offered},
          {"offered_per_s", w.offered_per_s},
          {"sent_on_time", w.sent_on_time},
          {"sent_late", w.sent_late},
          {"unsent", w.unsent},
          {"max_send_lag_s", w.max_send_lag_s},
          {"acked", w.acked},
          {"received", w.received},
          {"undelivered", w.undelivered},
          {"lost", w.lost},
          {"warmup_acked_in_window", w.warmup_acked_in_window},
          {"warmup_received_in_window", w.warmup_received_in_window},
          {"rate_sustained", w.rate_sustained}};
}

load::WindowAccounting window_from_json(const json& value, const std::string& path) {
  load::WindowAccounting w;
  ObjectReader r(value, path);
  r.read("offered", w.offered, true);
  r.read("offered_per_s", w.offered_per_s, true);
  r.read("sent_on_time", w.sent_on_time, true);
  r.read("sent_late", w.sent_late, true);
  r.read("unsent", w.unsent, true);
  r.read("max_send_lag_s", w.max_send_lag_s, true);
  r.read("acked", w.acked, true);
  r.read("received", w.received, true);
  r.read("undelivered", w.undelivered, true);
  r.read("lost", w.lost, true);
  r.read("warmup_acked_in_window", w.warmup_acked_in_window, true);
  r.read("warmup_received_in_window", w.warmup_received_in_window, true);
  r.read("rate_sustained", w.rate_sustained, true);
  return w;
}

json backlog_to_json(const load::BacklogFigures& b) {
  return {{"target_messages", b.target_messages},
          {"drain_ratio", b.drain_ratio},
          {"reached", b.reached},
          {"messages", b.messages},
          {"build_s", b.build_s},
          {"drained", b.drained},
          {"drain_level", b.drain_level},
          {"drain_s", b.drain_s},
          {"consumed_while_draining", b.consumed_while_draining},
          {"drain_msgs_per_s", b.drain_msgs_per_s},
          {"max_lag", b.max_lag}};
}

load::BacklogFigures backlog_from_json(const json& value, const std::string& path) {
  load::BacklogFigures b;
  ObjectReader r(value, path);
  r.read("target_messages", b.target_messages, true);
  r.read("drain_ratio", b.drain_ratio, true);
  r.read("reached", b.reached, true);
  r.read("messages", b.messages, true);
  r.read("build_s", b.build_s, true);
  r.read("drained", b.drained, true);
  r.read("drain_level", b.drain_level, true);
  r.read("drain_s", b.drain_s, true);
  r.read("consumed_while_draining", b.consumed_while_draining, true);
  r.read("drain_msgs_per_s", b.drain_msgs_per_s, true);
  r.read("max_lag", b.max_lag, true);
  return b;
}

// Ranges travel as [[first, end], ...]: one pair per unbroken run of sequences.
json ranges_to_json(const load::RangeSet& set) {
  json out = json::array();
  for (const auto& r : set.ranges()) out.push_back(json::array({r.first, r.end}));
  return out;
}

load::RangeSet ranges_from_json(const json& value, const std::string& path) {
  if (!value.is_array()) fail(path, "expected an array of [first, end] pairs");
  std::vector<load::SequenceRange> ranges;
  ranges.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!value[i].is_array() || value[i].size() != 2) {
      fail(item_path, "expected a [first, end] pair");
    }
    load::SequenceRange range;
    read_value(value[i][0], item_path + "[0]", range.first);
    read_value(value[i][1], item_path + "[1]", range.end);
    ranges.push_back(range);
  }
  auto set = load::RangeSet::from_ranges(std::move(ranges));
  if (!set.ok()) fail(path, set.error());
  return std::move(*set);
}

json ledger_to_json(const load::DeliveryLedger& ledger) {
  json producers = json::array();
  for (const auto& p : ledger.producers) {
    producers.push_back({{"producer_id", p.producer_id},
                         {"acked", ranges_to_json(p.acked)},
                         {"window_from", p.window_from},
                         {"window_until", p.window_until},
                         {"rate", p.rate},
                         {"phase", p.phase},
                         {"start_ns", p.start_ns},
                         {"end_ns", p.end_ns}});
  }
  json groups = json::array();
  for (const auto& g : ledger.groups) {
    json received = json::array();
    for (const auto& [producer_id, ranges] : g.received) {
      received.push_back({{"producer_id", producer_id}, {"ranges", ranges_to_json(ranges)}});
    }
    groups.push_back({{"group", g.group},
                      {"received", received},
                      {"duplicated", g.duplicated},
                      {"redelivered", g.redelivered},
                      {"drained", g.drained},
                      {"watched_until_ns", g.watched_until_ns}});
  }
  return {{"producers", producers}, {"groups", groups}};
}

uint32_t read_producer_id(ObjectReader& r) {
  uint64_t id = 0;
  r.read("producer_id", id, true);
  if (id > std::numeric_limits<uint32_t>::max()) fail(r.path("producer_id"), "too large");
  return static_cast<uint32_t>(id);
}

int64_t read_int64(ObjectReader& r, const std::string& key) {
  const json* value = r.field(key, true);
  return to_int64(*value, r.path(key), "an integer (nanoseconds)");
}

load::DeliveryLedger ledger_from_json(const json& value, const std::string& path) {
  load::DeliveryLedger ledger;
  ObjectReader r(value, path);
  const json& producers = *r.field("producers", true);
  if (!producers.is_array()) fail(r.path("producers"), "expected an array");
  for (size_t i = 0; i < producers.size(); ++i) {
    const std::string item_path = r.path("producers") + "[" + std::to_string(i) + "]";
    ObjectReader item(producers[i], item_path);
    load::ProducerLedger p;
    p.producer_id = read_producer_id(item);
    p.acked = ranges_from_json(*item.field("acked", true), item.path("acked"));
    item.read("window_from", p.window_from, true);
    item.read("window_until", p.window_until, true);
    item.read("rate", p.rate, true);
    item.read("phase", p.phase, true);
    p.start_ns = read_int64(item, "start_ns");
    p.end_ns = read_int64(item, "end_ns");
    ledger.producers.push_back(std::move(p));
  }
  const json& groups = *r.field("groups", true);
  if (!groups.is_array()) fail(r.path("groups"), "expected an array");
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string item_path = r.path("groups") + "[" + std::to_string(i) + "]";
    ObjectReader item(groups[i], item_path);
    load::GroupLedger g;
    item.read("group", g.group, true);
    if (g.group < 0) fail(item.path("group"), "must not be negative");
    const json& received = *item.field("received", true);
    if (!received.is_array()) fail(item.path("received"), "expected an array");
    for (size_t j = 0; j < received.size(); ++j) {
      const std::string entry_path = item.path("received") + "[" + std::to_string(j) + "]";
      ObjectReader entry(received[j], entry_path);
      const uint32_t producer_id = read_producer_id(entry);
      g.received.emplace_back(producer_id,
                              ranges_from_json(*entry.field("ranges", true), entry.path("ranges")));
    }
    item.read("duplicated", g.duplicated, true);
    item.read("redelivered", g.redelivered, true);
    item.read("drained", g.drained, true);
    g.watched_until_ns = read_int64(item, "watched_until_ns");
    ledger.groups.push_back(std::move(g));
  }
  return ledger;
}

json engine_result_fields(const load::EngineResult& e) {
  json timeline = json::array();
  for (const auto& point : e.timeline) timeline.push_back(time_point_to_json(point));
  json partitions = json::array();
  for (const auto& p : e.partitions) {
    partitions.push_back(
        {{"topic", p.topic}, {"partition", p.partition}, {"received", p.received}});
  }
  return {{"measured_seconds", e.measured_seconds},
          {"produced_in_window", e.produced_in_window},
          {"consumed_in_window", e.consumed_in_window},
          {"bytes_produced_in_window", e.bytes_produced_in_window},
          {"produced_msgs_per_s", e.produced_msgs_per_s},
          {"consumed_msgs_per_s", e.consumed_msgs_per_s},
          {"produced_mb_per_s", e.produced_mb_per_s},
          {"consumed_mb_per_s", e.consumed_mb_per_s},
          {"end_to_end_latency", e.end_to_end_latency.serialize()},
          {"publish_latency", e.publish_latency.serialize()},
          {"censored_end_to_end", e.censored_end_to_end},
          {"censored_publish", e.censored_publish},
          {"window", window_to_json(e.window)},
          {"delivery", delivery_to_json(e.delivery)},
          {"partitions", partitions},
          {"timeline", timeline},
          {"payload_compression_ratio", e.payload_compression_ratio},
          {"key_seed", e.key_seed},
          {"backlog", backlog_to_json(e.backlog)},
          {"error", e.error}};
}

// A shared run's ledger is added only when there is one.
json engine_result_to_json(const load::EngineResult& e) {
  json body = engine_result_fields(e);
  if (!e.ledger.empty()) body["ledger"] = ledger_to_json(e.ledger);
  return body;
}

load::EngineResult engine_result_from_json(const json& value, const std::string& path) {
  load::EngineResult e;
  ObjectReader r(value, path);
  r.read("measured_seconds", e.measured_seconds, true);
  r.read("produced_in_window", e.produced_in_window, true);
  r.read("consumed_in_window", e.consumed_in_window, true);
  r.read("bytes_produced_in_window", e.bytes_produced_in_window, true);
  r.read("produced_msgs_per_s", e.produced_msgs_per_s, true);
  r.read("consumed_msgs_per_s", e.consumed_msgs_per_s, true);
  r.read("produced_mb_per_s", e.produced_mb_per_s, true);
  r.read("consumed_mb_per_s", e.consumed_mb_per_s, true);
  r.read("end_to_end_latency", e.end_to_end_latency, true);
  r.read("publish_latency", e.publish_latency, true);
  r.read("censored_end_to_end", e.censored_end_to_end, true);
  r.read("censored_publish", e.censored_publish, true);
  e.window = window_from_json(*r.field("window", true), r.path("window"));
  e.delivery = delivery_from_json(*r.field("delivery", true), r.path("delivery"));
  const json& partitions = *r.field("partitions", true);
  if (!partitions.is_array()) fail(r.path("partitions"), "expected an array");
  for (size_t i = 0; i < partitions.size(); ++i) {
    const std::string item_path = r.path("partitions") + "[" + std::to_string(i) + "]";
    ObjectReader item(partitions[i], item_path);
    load::PartitionCount count;
    item.read("topic", count.topic, true);
    item.read("partition", count.partition, true);
    item.read("received", count.received, true);
    e.partitions.push_back(std::move(count));
  }
  const json& timeline = *r.field("timeline", true);
  if (!timeline.is_array()) fail(r.path("timeline"), "expected an array");
  for (size_t i = 0; i < timeline.size(); ++i) {
    e.timeline.push_back(
        time_point_from_json(timeline[i], r.path("timeline") + "[" + std::to_string(i) + "]"));
  }
  r.read("payload_compression_ratio", e.payload_compression_ratio, false);
  r.read("key_seed", e.key_seed, false);
  if (const json* backlog = r.field("backlog", false)) {
    e.backlog = backlog_from_json(*backlog, r.path("backlog"));
  }
  if (const json* ledger = r.field("ledger", false); ledger != nullptr && !ledger->is_null()) {
    e.ledger = ledger_from_json(*ledger, r.path("ledger"));
  }
  r.read("error", e.error, true);
  return e;
}

json parse(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw FieldError("body: not valid JSON");
  return value;
}

// Runs a reader, turning its FieldError into a Result error.
template <class T, class F>
Result<T> decode(const F& reader) {
  try {
    return reader();
  } catch (const FieldError& e) {
    return make_error(e.what());
  } catch (const json::exception& e) {  // defensive: readers check types before get<>
    return make_error(std::string("body: ") + e.what());
  }
}

}  // namespace

std::string work_request_to_json(const WorkRequest& request) {
  json body = {{"driver", request.driver},
               {"addresses", request.addresses},
               {"properties", request.properties},
               {"config", request.config},
               {"engine", options_to_json(request.engine)}};
  add_share(body["engine"], request.engine);
  if (request.start_at_unix_ns != 0) body["start_at_unix_ns"] = request.start_at_unix_ns;
  if (request.clock_offset_ns != 0) body["clock_offset_ns"] = request.clock_offset_ns;
  return body.dump();
}

Result<WorkRequest> work_request_from_json(const std::string& text) {
  return decode<WorkRequest>([&] {
    const json body = parse(text);
    WorkRequest request;
    ObjectReader r(body, "");
    r.read("driver", request.driver, true);
    if (request.driver.empty()) fail("driver", "must name a driver (one of `dec drivers`)");
    r.read("addresses", request.addresses, false);
    r.read("properties", request.properties, false);
    r.read("config", request.config, false);
    if (const json* engine = r.field("engine", false)) {
      request.engine = options_from_json(*engine, "engine");
    }
    if (const json* start = r.field("start_at_unix_ns", false)) {
      request.start_at_unix_ns = to_int64(*start, "start_at_unix_ns", "an integer (nanoseconds)");
      if (request.start_at_unix_ns < 0) fail("start_at_unix_ns", "must not be negative");
    }
    if (const json* offset = r.field("clock_offset_ns", false)) {
      request.clock_offset_ns = to_int64(*offset, "clock_offset_ns", "an integer (nanoseconds)");
    }
    r.reject_unknown();
    return request;
  });
}

std::string work_result_to_json(const WorkResult& result) {
  json counters = json::object();
  for (const auto& [name, value] : result.counters) counters[name] = value;
  json body = {{"engine", engine_result_to_json(result.engine)},
               {"counters", counters},
               {"emulated", result.emulated}};
  return body.dump();
}

Result<WorkResult> work_result_from_json(const std::string& text) {
  return decode<WorkResult>([&] {
    const json body = parse(text);
    WorkResult result;
    ObjectReader r(body, "");
    result.engine = engine_result_from_json(*r.field("engine", true), "engine");
    const json& counters = *r.field("counters", true);
    if (!counters.is_object()) fail("counters", "expected an object of non-negative integers");
    for (auto it = counters.begin(); it != counters.end(); ++it) {
      uint64_t value = 0;
      read_value(it.value(), join_path("counters", it.key()), value);
      result.counters.emplace_back(it.key(), value);
    }
    r.read("emulated", result.emulated, true);
    return result;
  });
}

std::string worker_status_to_json(const WorkerStatus& status) {
  json body = {{"state", status.state},
               {"progress", progress_to_json(status.progress)},
               {"error", status.error}};
  return body.dump();
}

Result<WorkerStatus> worker_status_from_json(const std::string& text) {
  return decode<WorkerStatus>([&] {
    const json body = parse(text);
    WorkerStatus status;
    ObjectReader r(body, "");
    r.read("state", status.state, true);
    static const std::set<std::string> kStates = {"idle", "starting", "running", "done", "failed"};
    if (kStates.count(status.state) == 0) {
      fail("state",
           "expected one of idle, starting, running, done, failed; got \"" + status.state + "\"");
    }
    status.progress = progress_from_json(*r.field("progress", true), "progress");
    r.read("error", status.error, false);
    return status;
  });
}

}  // namespace dec::worker
