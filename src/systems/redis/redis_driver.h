// Redis Streams driver (hiredis, one blocking connection per node for each producer and consumer).
//
// Topic -> streams: a topic with 1 partition is the stream "<topic>"; with P > 1 partitions it is
// the streams "<topic>-0" .. "<topic>-<P-1>", and the key "dec:partitions:<topic>" holds P so
// that producers and consumers in other processes (dec workers) find the same streams.
// create_topic empties the streams, so a stream's first entry is the start of the run.
//
// Nodes: the endpoint's N addresses are independent redis-servers (no Redis Cluster, no
// replication). Partition p of a topic lives on node (FNV-1a-64(topic) + p) mod N, counting
// nodes in the endpoint's order (redis_stream_node), so consecutive partitions go to consecutive
// nodes and every process computes the same placement. The partitions record is kept on every
// node. With one address everything is on that node.
//
// Producer: XADD <stream> [MAXLEN ~|= n] * [k <key>] p <payload> on the stream's node; the
// partition is FNV-1a(key) % P (same key -> same stream -> ordered), round robin when the key is
// empty. Per node, up to `pipeline` commands are outstanding, written in batches while replies
// are pending (at once on an idle connection); acks are delivered in order per node from send(),
// flush() and poll_acks().
//
// Consumer, read_mode=group: XREADGROUP GROUP <group> dec-<member_index> ... ">" then XACK
// (pipelined with the next read). With P >= group_size, member m reads the partitions p with
// p % group_size == m; otherwise every member reads every partition and Redis spreads entries
// (so per-key order across members is not kept, as Redis does not keep it).
// read_mode=plain: XREAD from the stream's start with no server-side group state; members of a
// group split the partitions as above, so each message still reaches a group once; a member
// without a partition (P < group_size) receives nothing, as with Kafka.
// A consumer with no group (ConsumerOptions::group empty) XREADs every partition in either mode.
// A consumer reads its streams on each of their nodes at once (one blocking read per node).
// The consumer groups are created by prepare_consumers at "0" (the start of the emptied stream).
// Each message reports its partition (the stream's index within its topic).
// In group mode, on each (re)connection to a node a consumer first reads back its own pending
// entries (XREADGROUP ... 0, paged by read_count), reports them redelivered and acks them, then
// goes on with ">"; so entries whose reply or XACK a lost connection swallowed are not lost.
// backlog(): group mode sums XINFO GROUPS lag + pending of the consumer's group over its streams
// (the whole group's, so every member reports the same); plain mode can tell only 0, once the
// consumer has read up to each stream's last entry; nullopt when a node cannot be reached.
//
// A node that breaks a producer's or consumer's connection (closed, reset, or no reply within
// timeout_ms) is down for that client, and the other nodes carry on: the messages awaiting its
// replies fail through their callbacks, later sends to its streams fail at once through theirs
// (send() itself still succeeds), and consumers skip it. Reconnection is attempted without
// blocking, at most every 500 ms and at most 120 times in a row; then the node stays down.
// counters() reports redis.connections_lost, redis.reconnect_attempts, redis.reconnects and
// redis.sends_to_down_node. Entries a node held when it died are gone (no replication). A producer
// that cannot reach any node holding a new topic's partition record fails that topic's messages the
// same way and looks again on a later send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys and factory of the Redis driver, for the registry.
DriverInfo redis_driver_info();

// Stream names of a topic with `partitions` partitions (see the mapping above).
std::vector<std::string> redis_stream_names(const std::string& topic, int partitions);

// Index of the node, among `nodes`, that holds partition `partition` of `topic`.
size_t redis_stream_node(const std::string& topic, int partition, size_t nodes);

// Implementation details (connection handling, parsed config) live in the .cpp; the class is
// visible so tests and benchmarks can create it without going through the registry.
class RedisDriver : public Driver {
 public:
  RedisDriver();
  ~RedisDriver() override;

  std::string name() const override { return "redis"; }
  Status connect(const Endpoint& endpoint, const core::Settings& config) override;
  Status create_topic(const std::string& topic, int partitions) override;
  Status delete_topic(const std::string& topic) override;
  Status prepare_consumers(const std::vector<std::string>& topics,
                           const std::vector<std::string>& groups) override;
  Result<std::unique_ptr<Producer>> make_producer() override;
  Result<std::unique_ptr<Consumer>> make_consumer(const ConsumerOptions& options) override;
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

  struct State;  // node addresses, parsed config, control connections and node counters

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dec::drivers
