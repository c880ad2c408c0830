// NATS JetStream driver (libnats). Every producer and consumer has a connection of its own, and
// none of them receives anything through libnats's callback threads: replies and messages are
// read from synchronous subscriptions on the client's own thread, so acks reach the engine on the
// producer's thread and nothing outlives a destroyed client.
//
// Topic -> stream: one JetStream stream per topic, named after the topic made safe for
// JetStream (nats_stream_name: letters, digits, '-' and '_' kept, anything else '_', plus a hash
// suffix when something was replaced so that different topics never share a name). Its subjects
// are "<name>.*"; partition p is the subject "<name>.<p>". The partition count is kept in the
// stream's description ("dec topic <topic>; partitions=<P>"), where producers in other processes
// (dec workers) read it. Retention is "limits" (every message stays for every group).
// create_topic creates the stream; if it already exists with the same partitions, storage and
// replicas it is purged (the run starts from an empty stream), otherwise it is deleted and
// created again. delete_topic deletes it (a missing stream is not an error).
//
// Stream settings: `replicas` (default min(3, servers): the servers the connection knows, given
// in the endpoint or discovered from the cluster) and `storage` (file or memory). Topics the
// local provider creates are created before the run's config is known, with the defaults;
// prepare_consumers therefore re-creates a stream whose replicas or storage differ from the
// config, as long as it holds no message yet, and reports an error otherwise.
//
// Producer: the partition of a keyed message is FNV-1a(key) % P (same key, same subject, same
// order), unkeyed messages go round robin. The key travels in the header "Dec-Key". A publish is
// a JetStream publish (a NATS message with a reply subject the stream answers with its PubAck),
// sent without waiting; up to `max_in_flight` await their PubAck, beyond that send() waits.
// PubAcks are read from the producer's reply inbox in send(), flush() and poll_acks(), which
// blocks on the inbox until one arrives. A publish that JetStream rejects fails with its error; one
// not acknowledged within `timeout_ms` (lost with a connection, no stream leader, ...) fails as a
// timeout; one libnats refuses at once (connection closed, reconnect buffer full, payload larger
// than the server's max_payload) fails at once; each through its callback. `linger_ms` 0 writes
// every publish to the socket at once (natsOptions_SetSendAsap); 1 lets libnats's flusher gather
// writes for up to 1 ms, its default.
//
// Consumer: one durable pull consumer per (group, topic), named after the group (made safe like
// stream names), created by prepare_consumers with deliver-all and explicit acks (`ack_wait_ms`,
// `max_ack_pending`). The members of a group share the durable, so JetStream splits the messages
// between them; per-partition order holds within each member's share. A consumer without a group
// reads everything through an ephemeral pull consumer of its own, deleted with it. Each consumer
// keeps one pull request per topic open in the server (`fetch_batch` messages, expiring after
// `fetch_wait_ms`) and renews it when it is used up, expired or lost with a reconnection; a poll
// returns as soon as messages have arrived. Every message is acknowledged on its own (+ACK) once
// handed over; group members may not use ack-all, which would acknowledge messages that another
// member holds. A message carries its partition (from its subject) and is redelivered when
// JetStream delivered it more than once (the delivery count in its ack subject). backlog() is the
// consumer's NumPending + NumAckPending summed over its topics.
//
// Connections: every endpoint address is a server of one cluster (libnats picks one at random
// and fails over to the others); reconnection is attempted every 250 ms without limit, and a
// server is declared unreachable after two unanswered pings 1 s apart. counters():
// nats.publish_timeouts, nats.publish_errors, nats.publish_send_failures,
// nats.publish_no_responders, nats.pull_no_responders, nats.pull_interruptions, nats.reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys and factory of the NATS JetStream driver, for the registry.
DriverInfo nats_driver_info();

// The JetStream stream (and subject prefix) of `topic`; durable consumer names are made the same
// way from group names.
std::string nats_stream_name(const std::string& topic);

// "" once the server at `address` ("host:port") accepts a connection and answers a JetStream
// account info request (in a cluster: once it has a meta leader), else what is still missing.
std::string nats_jetstream_ready(const std::string& address, std::chrono::milliseconds timeout);

class NatsDriver : public Driver {
 public:
  NatsDriver();
  ~NatsDriver() override;

  std::string name() const override { return "nats"; }
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

  struct State;  // server URLs, parsed config, the control connection and counters

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dec::drivers
