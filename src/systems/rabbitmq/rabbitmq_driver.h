// RabbitMQ driver: AMQP 0-9-1 through librabbitmq (rabbitmq-c), one connection per producer and
// per consumer (librabbitmq is not thread-safe), plus one for topic and group administration.
//
// Topic -> exchange and queues: a topic is a durable direct exchange of the topic's name. Each
// (group, partition) is a durable queue "<topic>.<group>.<partition>" bound to it with the routing
// key "<partition>"; queue_type picks classic or quorum queues (x-queue-type). A message goes to
// partition FNV-1a-64(key) % P (round robin when the key is empty), so one key stays in one queue,
// in order. AMQP has no place for a topic's partition count, so create_topic records it on the
// broker as the message count of the durable queue "dec.partitions.<topic>" (P messages, written
// in one transaction): every process (dec workers too) reads it with a passive queue.declare.
// prepare_consumers records each group it sets up as a message in "dec.groups.<topic>", so that
// delete_topic, in any process, finds every queue to delete (AMQP cannot list queues).
//
// create_topic first deletes what an earlier topic of that name left (exchange, queues, records),
// declares the exchange and records P. prepare_consumers declares and binds every group's queues
// before producers start, so nothing sent is dropped for lack of a queue.
//
// Producer: basic.publish to the topic's exchange, routing key = partition, the key in the header
// "k", delivery_mode 2 (persistent) or 1. With confirm=true (publisher confirms) a message is
// acked when the broker confirms it (basic.ack, possibly `multiple`); basic.nack fails it; with
// mandatory set, a message no queue is bound for comes back as basic.return (before its ack) and
// fails with the broker's reason. Its message-id carries its publish sequence number, because a
// basic.return names no delivery tag. Up to max_in_flight publishes await confirms; send() then
// blocks reading confirms. Confirms are read on the producer's own thread, inside send(), flush()
// and poll_acks(). With confirm=false a message is acked once it is written to the socket (not
// when the broker has it), and unroutable messages are dropped by the broker unnoticed.
//
// Consumer: basic.consume (basic.qos prefetch) on its group's queues. With P >= group size,
// member m reads the partitions p with p % group_size == m; otherwise every member subscribes to
// every queue and RabbitMQ spreads the messages among them (competing consumers: each member still
// sees each partition's messages in order, but a key's messages may be spread over members). A
// consumer without a group gets an exclusive server-named queue bound to every partition (it
// receives what is sent after it subscribed, and the queue goes with its connection). Deliveries
// are acknowledged with basic.ack `multiple` (or auto_ack: the broker forgets a message once it
// sent it). A message carries its partition (the routing key) and the deliver frame's
// redelivered flag. ready() is true once basic.consume was confirmed (consume-ok).
// backlog() cancels the consumer's subscriptions and takes in what the broker had already pushed
// to it (every delivery precedes the cancel's confirmation); it reports the ready messages of its
// queues (passive queue.declare) plus those taken in, which a later poll() hands out before it
// subscribes again. Messages a lost connection left unacknowledged are requeued by RabbitMQ and
// come again flagged redelivered.
//
// Failures: a connection that breaks (closed, reset, connection.close from the broker, no confirm
// within timeout_ms, a socket that takes no data for timeout_ms) fails every message awaiting a
// confirm through its callback with the reason; later sends fail the same way at once while the
// driver reconnects at most every 500 ms (120 times in a row at most). Consumers of a lost
// connection receive nothing meanwhile and subscribe again once reconnected. A channel the broker
// closes (a protocol error on a live connection, e.g. NOT_FOUND) is an error with the broker's
// reply text: from poll() for consumers; for producers the awaiting messages fail with it.
// counters(): rabbitmq.connections_lost, rabbitmq.reconnect_attempts, rabbitmq.reconnects,
// rabbitmq.sends_while_down, rabbitmq.returned, rabbitmq.nacked.
//
// Endpoint: the first of the addresses ("host:port") that accepts an AMQP login is used for
// everything (one node). Credentials and virtual host come from the endpoint properties
// "username", "password" and "vhost" (default guest / guest / "/").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys and factory of the RabbitMQ driver, for the registry.
DriverInfo rabbitmq_driver_info();

// Broker-side names (see the mapping above).
std::string rabbitmq_queue_name(const std::string& topic, const std::string& group, int partition);
std::string rabbitmq_partitions_queue(const std::string& topic);
std::string rabbitmq_groups_queue(const std::string& topic);

// Opens an AMQP connection to `address` ("host:port") and logs in with `properties`' credentials
// (as connect() does), then closes it: "" when that worked, else why not. For readiness checks.
std::string rabbitmq_login_check(const std::string& address, const core::Settings& properties,
                                 std::chrono::milliseconds timeout);

// Implementation details (connections, parsed config) live in the .cpp; the class is visible so
// tests can create it without going through the registry.
class RabbitMqDriver : public Driver {
 public:
  RabbitMqDriver();
  ~RabbitMqDriver() override;

  std::string name() const override { return "rabbitmq"; }
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

  struct State;  // address, credentials, parsed config, the control connection, counters

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dec::drivers
