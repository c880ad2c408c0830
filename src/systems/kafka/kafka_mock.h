// librdkafka's mock Kafka cluster (rdkafka_mock.h) as the local stand-in where no Kafka broker
// can be installed. Results against it are labelled emulated.
//
// The mock speaks the Kafka protocol on loopback ports it picks itself, but in librdkafka 2.0.2
// it has no CreateTopics / DeleteTopics handler and reports no controller, so the Admin API cannot
// create topics on it. KafkaMockCluster therefore also listens on a control port (127.0.0.1, one
// request line per connection, answered by one line "ok ..." or "error <why>"):
//   ping                         -> ok
//   create-topic <name> <parts>  -> ok created | ok exists
//   broker-down <id> | broker-up <id>       (ids 1..brokers; partitions led by a down broker
//   broker-rtt <id> <ms>                     stay unavailable: the mock elects no new leader)
// The Kafka driver uses it for create_topic when the endpoint property kafka_mock_control is set.
//
// What the mock does not emulate (so results must not claim it): acks are ignored (a produce is
// answered once the leader appended it in memory; there is no replication, ISR or durability,
// and the replication factor is always min(3, brokers)); no topic deletion; no leader election;
// one thread serves every broker, so its throughput says nothing about a real cluster's.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dec::drivers {

// Where a running mock cluster can be reached.
struct KafkaMockAddresses {
  std::string bootstrap_servers;  // "127.0.0.1:p1,127.0.0.1:p2,..." (one per broker)
  std::string control;            // "127.0.0.1:p", the control port described above
};

// `dec kafka-mock` publishes its addresses in two files, each written atomically (temp + rename):
// first <bootstrap-file>.control with the control address, then <bootstrap-file> with the
// bootstrap servers exactly as rd_kafka_mock_cluster_bootstraps() gives them
// ("127.0.0.1:p1,127.0.0.1:p2,..."). So once <bootstrap-file> exists the mock is ready and both
// files are complete. Both are removed when it stops.
std::string kafka_mock_control_file(const std::string& bootstrap_file);

// A mock cluster with `brokers` brokers and its control port, in this process. Destruction stops
// the control port and destroys the cluster (clients still connected see the brokers go away).
class KafkaMockCluster {
 public:
  static Result<std::unique_ptr<KafkaMockCluster>> start(int brokers);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  const KafkaMockAddresses& addresses() const;
  int brokers() const;
  // True when created now, false when it existed already (its partitions are left as they are).
  Result<bool> create_topic(const std::string& topic, int partitions);
  Status set_broker_up(int broker_id, bool up);
  Status set_broker_rtt(int broker_id, std::chrono::milliseconds rtt);
  // Executes one control request line (see above) and returns the reply line.
  std::string handle_request(std::string_view request);

  struct State;

 private:
  explicit KafkaMockCluster(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Sends one control request to a mock's control port and returns the reply without "ok"; an
// "error" reply, a refused connection or no reply within `timeout` is an error.
Result<std::string> kafka_mock_request(const std::string& control_address,
                                       const std::string& request,
                                       std::chrono::milliseconds timeout);

// `dec kafka-mock --brokers N --bootstrap-file FILE` (args are what follows "kafka-mock"):
// starts the cluster, writes FILE, prints the addresses, then serves until SIGTERM, SIGINT or
// SIGHUP. Returns the process exit code: 0 after a signal, 1 on failure, 2 on bad usage.
int kafka_mock_main(const std::vector<std::string>& args);

}  // namespace dec::drivers
