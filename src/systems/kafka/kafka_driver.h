// Kafka driver (librdkafka C API): one librdkafka producer per Producer, one high-level
// consumer per Consumer, and a control client for metadata and topic administration.
//
// Properties: bootstrap.servers is the endpoint's addresses joined with ","; then every endpoint
// property (security.protocol, sasl.*, ...) and every config key except dec's own (see
// kafka_driver_info) is set on each client as a librdkafka property, in that order, so the spec
// overrides the provider. Producers and consumers get the same properties: librdkafka ignores
// the other role's properties (dec drops its "consumer property ... ignored" warnings), so one
// config serves both. dec sets on top: group.id (from the workload; not settable), and for
// consumers auto.offset.reset=earliest and enable.partition.eof=false unless the config says
// otherwise. Anything else keeps librdkafka's default (acks=all, linger.ms=5 in 2.0.2).
// An unknown property or bad value is an error naming the key (from rd_kafka_conf_set).
//
// connect() fetches cluster metadata within timeout_ms, so a wrong address fails quickly with
// the reason (connection refused, authentication) instead of librdkafka retrying forever.
//
// Topics: created with the Admin API (partitions, replication_factor) and deleted with it; an
// existing topic is reused when its partition count matches, and deleting a missing topic is
// fine. Against librdkafka's mock cluster (endpoint property kafka_mock_control, set by the local
// provider; see kafka_mock.h), which has no admin support, topics are created through the
// mock's control port and delete_topic does nothing (the topic ends with the mock process).
//
// Producer: rd_kafka_producev with the message copied; the ack callback waits in a pooled slot
// and is called from the delivery report (served by send, flush and poll_acks). A full local
// queue makes send() serve delivery reports and retry for up to timeout_ms. poll_acks() sleeps on
// an eventfd librdkafka signals when a report arrives, so acks are timed when they arrive; batches
// leave after linger.ms without a flush (delivers_acks_while_polling).
// Consumer: subscribes the group to the topics, starting at the earliest offset, so messages
// produced before the group's partition assignment completes are still read. A consumer without
// a group gets a group of its own and reads everything. ready() is true once the group assigned
// this consumer its partitions (possibly none) in a rebalance that poll() serves, and no
// revocation is pending. Messages carry their partition; one whose offset is at or below the
// highest this driver already delivered for its group and partition (kept per driver, across
// its consumers) is marked redelivered. backlog() is group-wide: over every partition of the
// subscribed topics, the high watermark minus the later of the group's committed offset and
// the offset after the last one delivered; nullopt when a query fails or times out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys, key check and factory of the Kafka driver, for the registry.
DriverInfo kafka_driver_info();

// "" when `key` = `value` is a property librdkafka accepts (or a dec key of this driver), else
// the reason, e.g. `No such configuration property: "lingr.ms"`.
std::string check_kafka_property(const std::string& key, const std::string& value);

// The class is visible so tests and benchmarks can create it without the registry.
class KafkaDriver : public Driver {
 public:
  KafkaDriver();
  ~KafkaDriver() override;

  std::string name() const override { return "kafka"; }
  bool emulated() const override;
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  // Nothing to prepare: consumers of a fresh group start at the earliest offset.
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;

  // Brokers in the cluster's metadata at connect() (0 before).
  int brokers() const;

  struct State;  // properties, dec settings and the control client

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dec::drivers
