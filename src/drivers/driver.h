// The seam between dec and a messaging system. A Driver knows how to talk to one product; it
// knows nothing about experiments, rates or latency. One Producer / Consumer per thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/spec.h"
#include "core/spec_parser.h"

namespace dec::drivers {

// Where the system under test listens, as produced by the infrastructure provider.
struct Endpoint {
  std::vector<std::string> addresses;  // "host:port", one per node
  core::Settings properties;           // provider outputs (credentials, region, ...)
};

// Called exactly once per accepted send (not when send() itself returns an error), possibly from
// inside a later send()/flush()/poll_acks() on the same thread.
// `ok` false means the system rejected or lost the message; `error` says why.
using AckCallback = std::function<void(bool ok, std::string_view error)>;

class Producer {
 public:
  virtual ~Producer() = default;
  // Queues or sends one message; may block when the driver's in-flight window is full.
  virtual Status send(const std::string& topic, std::string_view key, std::string_view payload,
                      AckCallback on_ack) = 0;
  // Sends everything queued and waits for all outstanding acknowledgements.
  virtual Status flush() = 0;
  // Messages sent whose acknowledgement has not arrived yet.
  virtual size_t in_flight() const = 0;
  // Delivers the acknowledgements that have arrived, waiting up to `max_wait` for one when none
  // has. An open-loop sender calls it instead of sleeping until its next send time, so acks are
  // seen (and timed) when they arrive rather than at the next send(). The default only sleeps,
  // for drivers that have nothing to deliver outside send() and flush().
  virtual Status poll_acks(std::chrono::nanoseconds max_wait) {
    std::this_thread::sleep_for(max_wait);
    return Status::Ok();
  }
  // True when poll_acks() itself writes anything buffered and delivers acks as they arrive.
  // Otherwise an idle sender must flush() (a full round trip) before it waits, or buffered
  // messages would sit in the driver while the sender sleeps.
  virtual bool delivers_acks_while_polling() const { return false; }
};

struct ReceivedMessage {
  std::string_view topic;
  std::string_view key;
  std::string_view payload;
  // The partition (Kafka partition, Redis stream of the topic, Kinesis shard index) the message
  // was read from; -1 when the driver cannot tell. Order is checked per consumer and partition.
  int partition = -1;
  // True when the system delivers a stored message again that this process may have seen
  // before (a reclaimed Redis pending entry, a Kafka offset at or below one already delivered
  // for that partition, e.g. after a rebalance): at-least-once redelivery, reported apart from
  // duplication (two stored copies) and never checked for order.
  bool redelivered = false;
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Waits up to `timeout` for messages and hands each to `on_message`; returns how many.
  virtual Result<size_t> poll(std::chrono::milliseconds timeout,
                              const std::function<void(const ReceivedMessage&)>& on_message) = 0;
  // True once every message sent from now on will reach this consumer's group (e.g. Kafka:
  // the group join finished and partitions are assigned). The engine polls (and discards
  // nothing: no message is sent yet) until every consumer is ready before the schedule starts,
  // so a group join never counts as latency. Drivers whose consumers read from a fixed position
  // are ready at once.
  virtual bool ready() const { return true; }
  // Messages the system still holds for this consumer's group that the group has not read and
  // acknowledged yet (unread + pending), summed over the topics it reads; nullopt when the
  // driver cannot tell. At the drain deadline, a message acked but never received counts as
  // *lost* only when every consumer of its group reports a backlog of 0 (the system has nothing
  // more to give); otherwise it is *undelivered at the deadline*. Called from the consumer's
  // own thread, after polling stopped.
  virtual std::optional<uint64_t> backlog() { return std::nullopt; }
};

struct ConsumerOptions {
  std::string group;                // consumer group name ("" = no group, read everything)
  int member_index = 0;             // this consumer's index within its group
  int group_size = 1;               // consumers in the group
  std::vector<std::string> topics;  // topics to read, from the start of the run
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string name() const = 0;
  // True when the endpoint is a local stand-in for the product (label results "emulated").
  virtual bool emulated() const { return false; }
  virtual Status connect(const Endpoint& endpoint, const core::Settings& config) = 0;
  virtual Status create_topic(const std::string& topic, int partitions) = 0;
  virtual Status delete_topic(const std::string& topic) = 0;
  // Group setup that must exist before producers start (e.g. XGROUP CREATE at "$"/"0").
  virtual Status prepare_consumers(const std::vector<std::string>& topics,
                                   const std::vector<std::string>& groups) = 0;
  virtual Result<std::unique_ptr<Producer>> make_producer() = 0;
  virtual Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) = 0;
  // Driver-specific counters reported with the results (e.g. kinesis.throttled_requests).
  virtual std::vector<std::pair<std::string, uint64_t>> counters() const { return {}; }
};

// Static description of a driver: its config keys, for validation and documentation.
struct ConfigKey {
  std::string name;
  std::string description;
  std::string default_value;
  // Returns "" if `value` is acceptable, else what was expected ("a positive integer").
  std::function<std::string(const std::string& value)> check;
};

// The spec's common client settings (workload.client) a driver key is mapped from.
enum class ClientField { kMaxInFlight, kLinger, kFetchWait };

// One client-relevant driver key (drivers/client_settings.h): mapped from a workload.client field,
// or only reported with the results. `aliases` are other names the driver accepts for the same
// setting (librdkafka has several), so a user's value under any of them counts as set.
struct ClientKey {
  std::string name;
  std::vector<std::string> aliases;
  std::optional<ClientField> mapped_from;  // the workload.client field mapped onto it, if any
  long long min = 0;                       // range the driver accepts for a mapped value
  long long max = 0;
};

inline ClientKey mapped_client_key(ClientField field, std::string name, long long min,
                                   long long max, std::vector<std::string> aliases = {}) {
  return ClientKey{std::move(name), std::move(aliases), field, min, max};
}

inline ClientKey reported_client_key(std::string name, std::vector<std::string> aliases = {}) {
  return ClientKey{std::move(name), std::move(aliases), std::nullopt, 0, 0};
}

struct DriverInfo {
  std::string name;
  std::string description;
  std::vector<ConfigKey> config_keys;
  // Config keys that shape a topic (replication, storage): a provider that creates the workload's
  // topics before the run connects its driver with these keys of the system's config, so the
  // topics it creates are the ones the spec asks for.
  std::vector<std::string> topic_keys;
  // The keys workload.client maps onto (mapped ones first) and the client-relevant keys reported
  // with every result; see drivers/client_settings.h.
  std::vector<ClientKey> client_keys;
  // The value in force for a key that is not in config_keys when the user sets none (librdkafka's
  // own defaults); empty function or nullopt = unknown.
  std::function<std::optional<std::string>(const std::string& key)> default_of;
  // Keys the driver passes through without checking (e.g. librdkafka properties); empty = none.
  bool accepts_unknown_keys = false;
  // With accepts_unknown_keys, checks each key not in config_keys (e.g. against librdkafka's
  // property table): "" when fine, else the message reported at the key's path. Empty: no check.
  std::function<std::string(const std::string& key, const std::string& value)> check_unknown_key;
  // Keys (in config, or in deploy.settings of provider endpoints, which reach the client as
  // endpoint properties) whose value is a host, host:port or URL the client connects to; `*`
  // matches any run of characters. A spec from the API may name only allowed endpoints there.
  std::vector<std::string> address_keys;
  // Keys whose value names a file or program on dec's machine (client key stores, plugins,
  // commands); refused in specs from the API.
  std::vector<std::string> host_file_keys;
  std::function<std::unique_ptr<Driver>()> create;
  // The client library and version this build links ("librdkafka 2.0.2"), recorded with every
  // result so a run can be reproduced with the same client. Empty function: not reported.
  std::function<std::string()> client_library;
};

// Checks each key of `config` against the driver's config_keys (unknown keys are errors unless
// the driver accepts them); errors carry paths "<path_prefix>.<key>".
std::vector<core::FieldError> validate_driver_config(const DriverInfo& driver,
                                                     const core::Settings& config,
                                                     const std::string& path_prefix);

// The catalog of `drivers` the spec parser uses to validate `driver` and `config` fields.
core::DriverCatalog driver_catalog(const std::vector<DriverInfo>& drivers);

}  // namespace dec::drivers
