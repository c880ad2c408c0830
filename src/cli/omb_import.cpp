#include "cli/omb_import.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "systems/registry.h"

namespace dec::cli {
namespace {

// OMB's key distributors hand out keys from a fixed set of this many (KEY_ROUND_ROBIN) or
// random ones (RANDOM_NANO); dec cycles through `keys` distinct keys.
constexpr int kOmbDistinctKeys = 10000;
// OMB's randomizedPayloadPoolSize when not given (Workload.java).
constexpr long long kOmbPayloadPool = 1000;
constexpr long long kDecHeaderBytes = 32;
// The largest backlog whose bytes fit in a uint64_t: (2^33 - 1) GiB.
constexpr long long kMaxBacklogGiB = (1LL << 33) - 1;

struct Context {
  std::string file;
  std::vector<std::string>* warnings;
  void warn(const std::string& field, const std::string& why) const {
    warnings->push_back(file + ": " + field + ": " + why);
  }
};

Error field_error(const std::string& file, const std::string& field, const std::string& what) {
  return make_error(file + ": " + field + ": " + what);
}

Result<YAML::Node> load_yaml(const std::string& path) {
  try {
    YAML::Node node = YAML::LoadFile(path);
    if (!node.IsMap()) return make_error(path + ": expected a YAML map of OMB fields");
    return node;
  } catch (const YAML::BadFile&) {
    return make_error(path + ": cannot read the file");
  } catch (const YAML::Exception& e) {
    return make_error(path + ": not valid YAML: " + e.what());
  }
}

Result<long long> integer_of(const Context& ctx, const YAML::Node& node, const std::string& field) {
  try {
    return node.as<long long>();
  } catch (const YAML::Exception&) {
    return field_error(ctx.file, field, "expected an integer, got \"" + node.Scalar() + "\"");
  }
}

Result<double> number_of(const Context& ctx, const YAML::Node& node, const std::string& field) {
  try {
    return node.as<double>();
  } catch (const YAML::Exception&) {
    return field_error(ctx.file, field, "expected a number, got \"" + node.Scalar() + "\"");
  }
}

// "12.5" -> "12.5", "3" -> "3".
std::string trimmed(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// OMB durations are minutes; dec's spec takes "<n>s".
std::string minutes_text(double minutes) {
  return trimmed(std::round(minutes * 60 * 1000) / 1000) + "s";
}

// The "key=value" lines of an OMB properties block (topicConfig, producerConfig, ...).
std::vector<std::pair<std::string, std::string>> properties(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(text);
  std::string line;
  auto trim = [](std::string s) {
    const auto begin = s.find_first_not_of(" \t\r");
    const auto end = s.find_last_not_of(" \t\r");
    return begin == std::string::npos ? std::string() : s.substr(begin, end - begin + 1);
  };
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    const auto eq = line.find_first_of("=:");
    if (eq == std::string::npos) {
      out.emplace_back(line, "");
    } else {
      out.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
    }
  }
  return out;
}

// "2GiB", "512MiB", "715827883B": the largest binary unit that divides the size.
std::string size_text(unsigned long long bytes) {
  for (const auto& [unit, scale] :
       {std::pair{"GiB", 1ULL << 30}, std::pair{"MiB", 1ULL << 20}, std::pair{"KiB", 1ULL << 10}}) {
    if (bytes % scale == 0) return std::to_string(bytes / scale) + unit;
  }
  return std::to_string(bytes) + "B";
}

// OMB's consumerBacklogSizeGB and backlogDrainRatio as workload.backlog. OMB counts the backlog
// in GiB (consumerBacklogSizeGB * 1024 * 1024 * 1024 bytes, WorkloadGenerator) summed over every
// subscription's unread messages; a dec backlog is what each consumer group has to catch up on,
// so the size is divided among the subscriptions (`groups`; 0: nothing consumes).
void import_backlog(const Context& ctx, long long gib, std::optional<double> drain_ratio,
                    long long groups, long long message_size, double rate, YAML::Node& w) {
  if (gib <= 0) {
    if (drain_ratio) {
      ctx.warn("backlogDrainRatio",
               "has no effect without consumerBacklogSizeGB above 0 (as in OMB); "
               "not carried over");
    }
    return;
  }
  if (groups < 1) {
    ctx.warn("consumerBacklogSizeGB",
             "a backlog needs consumers to drain it and this workload has none; not carried over");
    return;
  }
  const unsigned long long total = static_cast<unsigned long long>(gib) << 30;
  const auto group_count = static_cast<unsigned long long>(groups);
  const unsigned long long per_group = (total + group_count - 1) / group_count;
  YAML::Node backlog;
  backlog["size"] = size_text(per_group);
  if (drain_ratio && *drain_ratio <= 0) {
    ctx.warn("backlogDrainRatio",
             "0 (OMB: end on time, drained or not) has no dec equivalent: dec's drain_ratio "
             "must be above 0 and its runs always end on time; using dec's default 1.0");
  } else {
    // OMB's default is 1.0, as dec's; written out so the spec says what it measures.
    std::ostringstream ratio;
    ratio << std::setprecision(12) << drain_ratio.value_or(1.0);
    backlog["drain_ratio"] = ratio.str();
  }
  w["backlog"] = backlog;
  // OMB stretches the test until the backlog drained and then runs testDurationMinutes more;
  // a dec run ends at duration + drain_timeout whatever happened, so the user must size them.
  std::string build;
  if (rate > 0) {
    const double messages = static_cast<double>(per_group) / static_cast<double>(message_size);
    build = " (at producerRate the backlog alone takes about " +
            std::to_string(static_cast<long long>(std::ceil(messages / rate))) + " s to build)";
  }
  ctx.warn("consumerBacklogSizeGB",
           "carried over as workload.backlog (size " + size_text(per_group) +
               " per consumer group), but OMB extends the test until the backlog drained and "
               "then measures testDurationMinutes, while a dec run ends at workload.duration + "
               "drain_timeout" +
               build + ": make duration cover the build and drain_timeout the drain");
}

Status import_workload(const YAML::Node& workload, const Context& ctx, YAML::Node& spec) {
  YAML::Node w;
  long long topics = 1;
  long long producers_per_topic = 1;
  long long consumers_per_subscription = 1;
  long long subscriptions = 1;
  bool has_subscriptions = false;
  bool has_consumers = false;
  std::string key_distributor = "NO_KEY";
  long long message_size = 1024;  // OMB has no default; only the backlog notes need it
  double rate = 0;
  long long backlog_gib = 0;
  std::optional<double> drain_ratio;
  bool randomized = false;
  std::optional<double> random_bytes_ratio;
  std::optional<long long> pool_size;
  std::string payload_file;
  for (const auto& entry : workload) {
    const std::string field = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (field == "name") {
      spec["name"] = value.as<std::string>();
    } else if (field == "topics") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < 1) return field_error(ctx.file, field, "must be at least 1");
      topics = *n;
      w["topics"] = *n;
    } else if (field == "partitionsPerTopic") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < 1) return field_error(ctx.file, field, "must be at least 1");
      w["partitions"] = *n;
    } else if (field == "messageSize") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < kDecHeaderBytes) {
        ctx.warn(field, std::to_string(*n) + " bytes is below dec's smallest message (32 bytes: " +
                            "its header carries sequence, producer and send time); using 32B");
      }
      message_size = std::max(*n, kDecHeaderBytes);
      w["message_size"] = std::to_string(message_size) + "B";
    } else if (field == "subscriptionsPerTopic") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      subscriptions = *n;
      has_subscriptions = true;
    } else if (field == "consumerPerSubscription") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      consumers_per_subscription = *n;
      has_consumers = true;
    } else if (field == "producersPerTopic") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < 1) return field_error(ctx.file, field, "must be at least 1");
      producers_per_topic = *n;
    } else if (field == "producerRate") {
      auto producer_rate = number_of(ctx, value, field);
      if (!producer_rate) return make_error(producer_rate.error());
      rate = std::max(*producer_rate, 0.0);
      if (rate <= 0) {
        // OMB's 0: its rate controller looks for the highest rate the system keeps up with.
        ctx.warn(field,
                 "0 (OMB: find the highest sustainable rate) becomes rate: find-max, a search in "
                 "steps judged on complete delivery; OMB's controller has no latency bound, so "
                 "add slo.p99 to the spec if latency matters");
        w["rate"] = "find-max";
      } else {
        w["rate"] = trimmed(rate) + "/s";
      }
    } else if (field == "testDurationMinutes") {
      auto minutes = number_of(ctx, value, field);
      if (!minutes) return make_error(minutes.error());
      if (*minutes <= 0) return field_error(ctx.file, field, "must be above 0");
      w["duration"] = minutes_text(*minutes);
    } else if (field == "warmupDurationMinutes") {
      auto minutes = number_of(ctx, value, field);
      if (!minutes) return make_error(minutes.error());
      if (*minutes < 0) return field_error(ctx.file, field, "must not be negative");
      w["warmup"] = minutes_text(*minutes);
    } else if (field == "keyDistributor") {
      key_distributor = value.as<std::string>();
    } else if (field == "consumerBacklogSizeGB") {
      auto gib = number_of(ctx, value, field);
      if (!gib) return make_error(gib.error());
      if (*gib > kMaxBacklogGiB) {
        return field_error(ctx.file, field,
                           "too large (at most " + std::to_string(kMaxBacklogGiB) + " GiB)");
      }
      backlog_gib = static_cast<long long>(std::trunc(std::max(*gib, 0.0)));
      if (*gib > 0 && *gib != std::trunc(*gib)) {
        ctx.warn(field, "OMB reads a whole number of GiB (a Java long) and drops the fraction: " +
                            trimmed(*gib) + " is " + std::to_string(backlog_gib) +
                            (backlog_gib == 0 ? ", no backlog" : " GiB"));
      }
    } else if (field == "backlogDrainRatio") {
      auto ratio = number_of(ctx, value, field);
      if (!ratio) return make_error(ratio.error());
      if (*ratio < 0 || *ratio > 1) {
        return field_error(ctx.file, field,
                           "expected a number from 0.0 to 1.0, got " + trimmed(*ratio));
      }
      drain_ratio = *ratio;
    } else if (field == "useRandomizedPayloads") {
      randomized = value.as<std::string>() == "true";
    } else if (field == "randomBytesRatio") {
      auto ratio = number_of(ctx, value, field);
      if (!ratio) return make_error(ratio.error());
      if (*ratio < 0 || *ratio > 1) {
        return field_error(ctx.file, field,
                           "expected a number from 0.0 to 1.0, got " + trimmed(*ratio));
      }
      random_bytes_ratio = *ratio;
    } else if (field == "randomizedPayloadPoolSize") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < 1) return field_error(ctx.file, field, "must be at least 1");
      pool_size = *n;
    } else if (field == "payloadFile") {
      payload_file = value.as<std::string>();
    } else {
      ctx.warn(field, "not supported by dec; not carried over");
    }
  }
  // OMB warms up for a minute unless told otherwise.
  if (!w["warmup"]) w["warmup"] = "60s";
  w["producers"] = producers_per_topic * topics;
  if (has_subscriptions && subscriptions < 1) {
    ctx.warn("subscriptionsPerTopic", "0 subscriptions: produce only (consumers 0)");
    w["consumers"] = 0;
  } else {
    // An OMB consumer reads one topic; a dec consumer reads every topic, so a group gets as many
    // consumers as a subscription has over all topics.
    if (has_subscriptions) w["consumer_groups"] = subscriptions;
    if (has_consumers || has_subscriptions) {
      w["consumers"] = std::max<long long>(consumers_per_subscription, 0) * topics;
    }
  }
  const bool consumes = !(has_subscriptions && subscriptions < 1) &&
                        !(has_consumers && consumers_per_subscription < 1);
  const long long groups = !consumes ? 0 : has_subscriptions ? subscriptions : 1;
  import_backlog(ctx, backlog_gib, drain_ratio, groups, message_size, rate, w);
  // OMB sends one of randomizedPayloadPoolSize bodies, each randomBytesRatio random, when
  // useRandomizedPayloads is true, else the bytes of payloadFile (workload.payload).
  YAML::Node payload;
  if (randomized) {
    payload["pool"] = pool_size.value_or(kOmbPayloadPool);
    if (random_bytes_ratio) payload["random_bytes_ratio"] = trimmed(*random_bytes_ratio);
    if (!payload_file.empty()) {
      ctx.warn("payloadFile", "unused: useRandomizedPayloads is true (as in OMB)");
    }
  } else {
    if (random_bytes_ratio || pool_size) {
      ctx.warn(random_bytes_ratio ? "randomBytesRatio" : "randomizedPayloadPoolSize",
               "unused without useRandomizedPayloads: true (as in OMB)");
    }
    if (!payload_file.empty()) {
      payload["file"] = payload_file;
      ctx.warn("payloadFile",
               "carried over as workload.payload.file; the path is read relative to the "
               "directory dec runs in (OMB reads it relative to its own), and each message "
               "still starts with dec's 32-byte header so it can be verified");
    }
  }
  if (payload.size() > 0) w["payload"] = payload;
  if (key_distributor == "NO_KEY") {
    w["keys"] = 0;
  } else if (key_distributor == "KEY_ROUND_ROBIN") {
    w["keys"] = kOmbDistinctKeys;
  } else if (key_distributor == "RANDOM_NANO") {
    // Random keys, but from a recorded seed, so a run can be repeated key for key.
    w["keys"] = kOmbDistinctKeys;
    w["key_distribution"] = "random";
  } else {
    return field_error(
        ctx.file, "keyDistributor",
        "expected NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO, got \"" + key_distributor + "\"");
  }
  spec["workload"] = w;
  return Status::Ok();
}

// Kafka broker settings for the topic-level configs OMB sets per topic: dec creates topics with
// the brokers' defaults, so a topic config becomes the broker default of the same meaning.
const std::map<std::string, std::string>& topic_to_broker_keys() {
  static const std::map<std::string, std::string> keys = {
      {"min.insync.replicas", "min.insync.replicas"},
      {"compression.type", "compression.type"},
      {"unclean.leader.election.enable", "unclean.leader.election.enable"},
      {"retention.ms", "log.retention.ms"},
      {"retention.bytes", "log.retention.bytes"},
      {"segment.bytes", "log.segment.bytes"},
      {"segment.ms", "log.roll.ms"},
      {"cleanup.policy", "log.cleanup.policy"},
      {"max.message.bytes", "message.max.bytes"},
      {"flush.messages", "log.flush.interval.messages"},
      {"flush.ms", "log.flush.interval.ms"},
      {"message.timestamp.type", "log.message.timestamp.type"},
  };
  return keys;
}

// Java client properties whose meaning is the Java client's and that dec's librdkafka client
// has no use for: serializers and settings dec owns (where to connect, group and offsets).
bool owned_by_dec(const std::string& key) {
  static const std::set<std::string> keys = {
      "bootstrap.servers",  "key.serializer", "value.serializer", "key.deserializer",
      "value.deserializer", "group.id",       "client.id"};
  return keys.count(key) > 0;
}

Status import_kafka_driver(const YAML::Node& driver, const Context& ctx, YAML::Node& system) {
  const auto* kafka = systems::find_driver("kafka");
  YAML::Node config;
  YAML::Node server;
  std::map<std::string, std::string> origin;  // config key -> the OMB field it came from
  auto add_client = [&](const std::string& field, const std::string& text) {
    for (const auto& [key, value] : properties(text)) {
      const std::string where = field + "." + key;
      if (owned_by_dec(key)) {
        ctx.warn(where,
                 "set by dec itself (it connects to the brokers it provisions, names "
                 "its own groups and serializes its own payload); not carried over");
        continue;
      }
      const std::string problem =
          kafka && kafka->check_unknown_key ? kafka->check_unknown_key(key, value) : "";
      if (!problem.empty()) {
        ctx.warn(where, "not a librdkafka setting dec's Kafka client accepts (" + problem +
                            "); not carried over");
        continue;
      }
      if (config[key] && config[key].as<std::string>() != value) {
        ctx.warn(where,
                 "dec's Kafka driver has one client configuration for producers and "
                 "consumers; " +
                     origin[key] + " sets " + key + "=" + config[key].as<std::string>() +
                     ", kept over " + value);
        continue;
      }
      config[key] = value;
      origin[key] = where;
    }
  };
  for (const auto& entry : driver) {
    const std::string field = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (field == "name" || field == "driverClass") continue;
    if (field == "replicationFactor") {
      auto n = integer_of(ctx, value, field);
      if (!n) return make_error(n.error());
      if (*n < 1) return field_error(ctx.file, field, "must be at least 1");
      config["replication_factor"] = *n;
      // Enough brokers to hold the replicas, as OMB's deployments have.
      system["deploy"]["nodes"] = *n;
    } else if (field == "topicConfig") {
      for (const auto& [key, setting] : properties(value.as<std::string>())) {
        auto it = topic_to_broker_keys().find(key);
        if (it == topic_to_broker_keys().end()) {
          ctx.warn(field + "." + key,
                   "no broker default of the same meaning that dec knows of; "
                   "not carried over");
          continue;
        }
        server[it->second] = setting;
      }
    } else if (field == "commonConfig" || field == "producerConfig" || field == "consumerConfig") {
      add_client(field, value.as<std::string>());
    } else if (field == "reset") {
      // OMB deletes old topics first; dec creates fresh, uniquely named topics for every run.
    } else {
      ctx.warn(field, "not supported by dec's Kafka import; not carried over");
    }
  }
  if (config.size() > 0) system["config"] = config;
  if (server.size() > 0) system["deploy"]["server"] = server;
  return Status::Ok();
}

std::string system_name(const std::string& omb_name, const std::string& fallback) {
  std::string out;
  for (char c : omb_name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? fallback : out;
}

}  // namespace

Result<OmbImport> import_omb(const std::string& workload_path, const std::string& driver_path) {
  OmbImport result;
  auto workload = load_yaml(workload_path);
  if (!workload) return make_error(workload.error());
  YAML::Node spec;
  // Keys in the order a person writes a spec; values come later.
  spec["name"] = "omb-import";
  spec["description"] = "";
  std::string current_file = workload_path;  // named when a value has the wrong shape
  try {
    Context ctx{workload_path, &result.warnings};
    if (Status s = import_workload(*workload, ctx, spec); !s) return make_error(s.error());
    spec["description"] = "Imported from the OpenMessaging Benchmark workload " + workload_path +
                          (driver_path.empty() ? "" : " and driver " + driver_path);

    YAML::Node system;
    system["name"] = "kafka";
    system["driver"] = "kafka";
    system["deploy"]["provider"] = "local";
    if (!driver_path.empty()) {
      current_file = driver_path;
      auto driver = load_yaml(driver_path);
      if (!driver) return make_error(driver.error());
      Context dctx{driver_path, &result.warnings};
      const std::string driver_class =
          (*driver)["driverClass"] ? (*driver)["driverClass"].as<std::string>() : "";
      std::string lower = driver_class;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      std::string dec_driver;
      for (const char* known : {"kafka", "rabbitmq", "nats", "redis", "mqtt", "kinesis"}) {
        if (lower.find(std::string(".") + known) != std::string::npos) {
          dec_driver = known;
          break;
        }
      }
      if (lower.find("natsstreaming") != std::string::npos) dec_driver.clear();
      if (dec_driver.empty()) {
        return field_error(
            driver_path, "driverClass",
            (driver_class.empty() ? std::string("missing") : "\"" + driver_class + "\"") +
                ": dec has drivers for Kafka, RabbitMQ, NATS (JetStream), Redis, "
                "MQTT and Kinesis only");
      }
      system["driver"] = dec_driver;
      system["name"] = system_name(
          (*driver)["name"] ? (*driver)["name"].as<std::string>() : dec_driver, dec_driver);
      if (dec_driver == "kafka") {
        if (Status s = import_kafka_driver(*driver, dctx, system); !s) return make_error(s.error());
      } else {
        for (const auto& entry : *driver) {
          const std::string field = entry.first.as<std::string>();
          if (field == "name" || field == "driverClass") continue;
          dctx.warn(field, "settings of OMB's " + dec_driver +
                               " driver are not mapped onto dec's (see `dec drivers`); "
                               "not carried over");
        }
      }
    }
    spec["systems"].push_back(system);
  } catch (const YAML::Exception& e) {
    return make_error(current_file +
                      ": a field has a value of the wrong shape (expected a number " +
                      "or text): " + e.what());
  }
  YAML::Emitter out;
  out << spec;
  std::string header = "# dec spec imported from OpenMessaging Benchmark (docs/import.md)\n";
  for (const auto& warning : result.warnings) header += "# not carried over: " + warning + "\n";
  result.spec_yaml = header + out.c_str() + std::string("\n");
  return result;
}

}  // namespace dec::cli
