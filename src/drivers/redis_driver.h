// Redis Streams driver (hiredis, one blocking connection per producer and per consumer).
//
// Topic -> streams: a topic with 1 partition is the stream "<topic>"; with P > 1 partitions it is
// the streams "<topic>-0" .. "<topic>-<P-1>", and the key "dec:partitions:<topic>" holds P so
// that producers and consumers in other processes (dec workers) find the same streams.
// create_topic empties the streams, so a stream's first entry is the start of the run.
//
// Producer: XADD <stream> [MAXLEN ~|= n] * [k <key>] p <payload>; the partition is
// FNV-1a(key) % P (same key -> same stream -> ordered), round robin when the key is empty. Up to
// `pipeline` commands are outstanding, written in batches while replies are pending (at once on
// an idle connection); acks are delivered in order from send(), flush() and poll_acks().
//
// Consumer, read_mode=group: XREADGROUP GROUP <group> dec-<member_index> ... ">" then XACK
// (pipelined with the next read). With P >= group_size, member m reads the partitions p with
// p % group_size == m; otherwise every member reads every partition and Redis spreads entries
// (so per-key order across members is not kept, as Redis does not keep it).
// read_mode=plain: XREAD from the stream's start with no server-side group state; members of a
// group split the partitions as above, so each message still reaches a group once; a member
// without a partition (P < group_size) receives nothing, as with Kafka.
// A consumer with no group (ConsumerOptions::group empty) XREADs every partition in either mode.
// The consumer groups are created by prepare_consumers at "0" (the start of the emptied stream).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/driver.h"

namespace dec::drivers {

// Name, config keys and factory of the Redis driver, for the registry.
DriverInfo redis_driver_info();

// Stream names of a topic with `partitions` partitions (see the mapping above).
std::vector<std::string> redis_stream_names(const std::string& topic, int partitions);

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

  struct State;  // connection settings, parsed config and the control connection

 private:
  std::unique_ptr<State> state_;
};

}  // namespace dec::drivers
