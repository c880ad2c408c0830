#include "drivers/client_settings.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {
namespace {

enum class ClientField { kMaxInFlight, kLinger, kFetchWait };

// One client-relevant driver key. `aliases` are other names the driver accepts for the same
// setting (librdkafka has several), so a user's value under any of them counts as set.
struct ClientKey {
  std::string name;
  std::vector<std::string> aliases;
  std::optional<ClientField> mapped_from;  // the workload.client field mapped onto it, if any
  long long min = 0;                       // range the driver accepts for a mapped value
  long long max = 0;
};

ClientKey mapped(ClientField field, std::string name, long long min, long long max,
                 std::vector<std::string> aliases = {}) {
  return ClientKey{std::move(name), std::move(aliases), field, min, max};
}

ClientKey reported(std::string name, std::vector<std::string> aliases = {}) {
  return ClientKey{std::move(name), std::move(aliases), std::nullopt, 0, 0};
}

// Per driver: the keys effective_client_settings reports, mapped ones first. Ranges follow the
// drivers' config_keys checks (redis_driver.cpp, kinesis_driver.cpp) and librdkafka's property
// table; the spec already limits linger and fetch_wait to 60 s.
const std::vector<ClientKey>* client_keys(const std::string& driver) {
  using enum ClientField;
  static const std::vector<ClientKey> kRedis = {
      mapped(kMaxInFlight, "pipeline", 1, 10000),
      // BLOCK returns as soon as an entry arrives: the same bound as Kafka's fetch wait. 0 would
      // mean "block forever" to Redis, hence at least 1.
      mapped(kFetchWait, "block_ms", 1, 60000),
      reported("read_mode"),
      reported("read_count"),
  };
  static const std::vector<ClientKey> kKafka = {
      // librdkafka's max.in.flight counts produce *requests* per broker connection (each a batch
      // of many messages), not messages. The bound on messages a producer has sent but not yet
      // seen acknowledged is its local queue, which holds each message until its delivery report;
      // when it is full dec's send() waits for acks.
      mapped(kMaxInFlight, "queue.buffering.max.messages", 1, 2147483647),
      mapped(kLinger, "linger.ms", 0, 900000, {"queue.buffering.max.ms"}),
      mapped(kFetchWait, "fetch.wait.max.ms", 0, 300000),
      reported("acks", {"request.required.acks"}),
      reported("enable.idempotence"),
      reported("max.in.flight.requests.per.connection", {"max.in.flight"}),
      reported("batch.num.messages"),
      reported("batch.size"),
      reported("compression.type", {"compression.codec"}),
      reported("fetch.min.bytes"),
  };
  static const std::vector<ClientKey> kKinesis = {
      // The producer sends one synchronous PutRecords at a time, so a full batch is all it has in
      // flight; 500 records is the API's limit per request.
      mapped(kMaxInFlight, "batch_size", 1, 500),
      mapped(kLinger, "linger_ms", 0, 60000),
      // Kinesis has no long poll: after an empty GetRecords the consumer sleeps this long, which
      // bounds the wait added to a record the way a server-side fetch wait does.
      mapped(kFetchWait, "poll_interval_ms", 1, 60000),
      reported("max_batch_bytes"),
      reported("read_limit"),
  };
  if (driver == "redis") return &kRedis;
  if (driver == "kafka") return &kKafka;
  if (driver == "kinesis") return &kKinesis;
  return nullptr;
}

// The value the user gave for `key` under its name or an alias, if any.
std::optional<std::string> configured_value(const ClientKey& key, const core::Settings& config) {
  if (auto it = config.find(key.name); it != config.end()) return it->second;
  for (const std::string& alias : key.aliases) {
    if (auto it = config.find(alias); it != config.end()) return it->second;
  }
  return std::nullopt;
}

// Whole milliseconds, rounded up so a short wait never becomes "send at once" (100us -> 1).
long long whole_milliseconds(std::chrono::nanoseconds duration) {
  return std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(duration).count());
}

std::optional<long long> requested_value(ClientField field, const core::ClientSettings& client) {
  switch (field) {
    case ClientField::kMaxInFlight:
      return client.max_in_flight;
    case ClientField::kLinger:
      if (client.linger) return whole_milliseconds(*client.linger);
      return std::nullopt;
    case ClientField::kFetchWait:
      if (client.fetch_wait) return whole_milliseconds(*client.fetch_wait);
      return std::nullopt;
  }
  return std::nullopt;
}

// librdkafka's built-in default for a property (dec sets none of the client keys itself: its own
// defaults are log_level and, for consumers, auto.offset.reset and enable.partition.eof). Asking
// the library keeps the value right for the installed version.
std::optional<std::string> librdkafka_default(const std::string& property) {
  std::array<char, 512> value{};
  size_t size = value.size();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_res_t result = rd_kafka_conf_get(conf, property.c_str(), value.data(), &size);
  rd_kafka_conf_destroy(conf);
  if (result != RD_KAFKA_CONF_OK) {
    // Topic-level properties (acks, compression.type) live in the default topic configuration.
    size = value.size();
    rd_kafka_topic_conf_t* topic_conf = rd_kafka_topic_conf_new();
    result = rd_kafka_topic_conf_get(topic_conf, property.c_str(), value.data(), &size);
    rd_kafka_topic_conf_destroy(topic_conf);
  }
  if (result != RD_KAFKA_CONF_OK) return std::nullopt;
  return std::string(value.data());
}

std::optional<std::string> default_value(const std::string& driver, const std::string& key) {
  if (const DriverInfo* info = find_driver(driver)) {
    auto listed = std::find_if(info->config_keys.begin(), info->config_keys.end(),
                               [&](const ConfigKey& config_key) { return config_key.name == key; });
    if (listed != info->config_keys.end()) return listed->default_value;
  }
  if (driver == "kafka") return librdkafka_default(key);
  return std::nullopt;
}

}  // namespace

core::Settings apply_client_settings(const std::string& driver, const core::ClientSettings& client,
                                     const core::Settings& config) {
  core::Settings merged = config;
  const std::vector<ClientKey>* keys = client_keys(driver);
  if (keys == nullptr) return merged;
  for (const ClientKey& key : *keys) {
    if (!key.mapped_from || configured_value(key, config)) continue;
    std::optional<long long> value = requested_value(*key.mapped_from, client);
    if (!value) continue;
    merged[key.name] = std::to_string(std::clamp(*value, key.min, key.max));
  }
  return merged;
}

core::Settings effective_client_settings(const std::string& driver,
                                         const core::Settings& merged_config) {
  core::Settings effective;
  const std::vector<ClientKey>* keys = client_keys(driver);
  if (keys == nullptr) return effective;
  for (const ClientKey& key : *keys) {
    std::optional<std::string> value = configured_value(key, merged_config);
    if (!value) value = default_value(driver, key.name);
    if (value) effective[key.name] = *value;
  }
  return effective;
}

}  // namespace dec::drivers
