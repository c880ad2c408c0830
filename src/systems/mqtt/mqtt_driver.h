// MQTT driver (libmosquitto, MQTT 5 or 3.1.1), for Eclipse Mosquitto or any MQTT broker.
//
// Topic -> MQTT topics: a topic T with P partitions is the MQTT topics "T/0" .. "T/<P-1>". A keyed
// message goes to T/<FNV-1a(key) % P>, unkeyed ones round robin: MQTT keeps the order of one
// publisher's messages per topic (and QoS), so one topic per key keeps per-key order. MQTT has no
// topic creation and no metadata: create_topic records P as a retained message on
// "dec/partitions/T" (QoS 1), which a producer in any process (dec workers) reads on its first
// send to T; without a record a topic has 1 partition. delete_topic clears the record.
// MQTT messages have no key: the key travels in front of the payload (its length as a varint,
// then its bytes) and consumers take it off again.
//
// Producer: libmosquitto's non-threaded API on the caller's thread: publish writes at once, and
// send() / flush() / poll_acks() read the acknowledgements (poll() on the client's socket, so
// poll_acks() really waits). The ack means, by `qos`: 0 - the message was written to the socket
// (the broker confirms nothing at QoS 0); 1 - PUBACK; 2 - PUBCOMP. A reason code >= 0x80 from an
// MQTT 5 broker fails the message. At most `max_inflight` messages await their ack (send() waits
// for one when the window is full); libmosquitto's own window is set to the same size.
//
// Consumer: subscribes to "T/+" at `qos` (messages arrive at the lower of the two QoS). A consumer
// of group G with protocol 5 subscribes to the shared subscription "$share/G/T/+": the members of
// a group split the messages (the broker hands them out in turn; each member still sees every
// partition's messages in order, per-key order *across* members is not kept), and every group,
// being a subscription of its own, receives everything. MQTT 3.1.1 has no shared subscriptions: a
// group of more than one member is refused there. A consumer without a group reads everything.
// ready() is true once the broker acknowledged the subscription (SUBACK). Each message reports
// the partition from its topic's last level. libmosquitto does not expose the DUP flag, so
// `redelivered` is always false: a message the broker sends again after a reconnection counts as
// a duplicate.
//
// Sessions: with clean_session true (the default) a consumer's subscription lives as long as its
// connection: messages published before it subscribed, or while it was disconnected, never reach
// it (the engine waits for every consumer's ready() before sending, so a run loses nothing to
// this). With clean_session false the broker keeps a session per consumer (client id
// "dec-<group>-<member>"), queues QoS >= 1 messages for it while it is disconnected and delivers
// them when it comes back; prepare_consumers resets member 0's session of each group and
// subscribes it, so messages sent before any consumer connected are queued for the group too.
// With MQTT 5 the session needs an expiry (session_expiry_s); 3.1.1 sessions never expire.
//
// backlog(): MQTT has no way to ask the broker what it still holds for a subscription, so it is
// always nullopt ("cannot tell"): at the drain deadline, messages acked but not received count
// as undelivered, never as lost.
//
// Failures: a connection that breaks (closed, reset, refused, keepalive missed, or no ack for
// timeout_ms while messages await one) fails every message awaiting its ack through its callback;
// later sends fail the same way, at once, while the client reconnects in the background (a
// non-blocking TCP connect first, so an unreachable broker never blocks a send), at most every
// 500 ms and at most 120 times in a row. Consumers reconnect the same way and subscribe again.
// counters(): mqtt.connections_lost, mqtt.reconnect_attempts, mqtt.reconnects,
// mqtt.sends_while_disconnected.
//
// One broker per endpoint: bridged or clustered brokers are not supported.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys and factory of the MQTT driver, for the registry.
DriverInfo mqtt_driver_info();

// The MQTT topics of a topic with `partitions` partitions (see the mapping above).
std::vector<std::string> mqtt_topic_names(const std::string& topic, int partitions);

// The retained message that records a topic's partitions.
std::string mqtt_partitions_record(const std::string& topic);

// The class is visible so tests and benchmarks can create it without going through the registry.
class MqttDriver : public Driver {
 public:
  MqttDriver();
  ~MqttDriver() override;

  std::string name() const override { return "mqtt"; }
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

  struct State;  // broker address, parsed config, partition records seen, counters

 private:
  std::shared_ptr<State> state_;
};

}  // namespace dec::drivers
