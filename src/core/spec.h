// The experiment spec: what to compare (systems), on what infrastructure (deploy), under which
// load (workload), and what "good" means (targets). Parsed from YAML or JSON by spec_parser.h;
// every field here is already validated and in base units (bytes, nanoseconds, messages/s).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dec::core {

// Free-form string settings handed to a driver or provider untouched (validated by their owner).
using Settings = std::map<std::string, std::string>;

// Client settings every driver maps onto its own keys (drivers/client_settings.h), so that the
// systems compared get the same client window: at rate 0, throughput and latency depend on how
// many messages each client keeps in flight as much as on the product. Unset = driver default.
struct ClientSettings {
  std::optional<int> max_in_flight;  // messages a producer has sent but not yet seen acknowledged
  std::optional<std::chrono::nanoseconds> linger;      // longest a message waits to fill a batch
  std::optional<std::chrono::nanoseconds> fetch_wait;  // longest a fetch waits in the server

  bool empty() const { return !max_in_flight && !linger && !fetch_wait; }
  bool operator==(const ClientSettings&) const = default;
};

// What follows dec's header in each message (OpenMessaging Benchmark: randomizedPayloadPoolSize,
// randomBytesRatio, payloadFile). The default is a distinct, incompressible body per message.
struct Payload {
  uint64_t pool = 0;                // N > 0: N distinct bodies, message i carries body i mod N
  double random_bytes_ratio = 1.0;  // share of each body that is random; the rest is text
  std::string file;                 // bodies from this file (cycled or cut to the body size)

  bool operator==(const Payload&) const = default;
};

// How messages pick a key (OpenMessaging Benchmark: keyDistributor).
enum class KeyDistribution { kNone, kRoundRobin, kRandom };

// Consumers wait until producers have built this backlog, then catch up while producers go on
// (OpenMessaging Benchmark: consumerBacklogSizeGB, backlogDrainRatio). Off when both are 0.
struct Backlog {
  uint64_t size = 0;         // bytes (converted to whole messages of message_size)
  uint64_t messages = 0;     // or a message count
  double drain_ratio = 1.0;  // share of the backlog that must be consumed to count as drained
  bool enabled() const { return size > 0 || messages > 0; }

  bool operator==(const Backlog&) const = default;
};

// `workload.rate: find-max`: instead of one run at one rate, a search for the highest rate the
// system sustains within the SLO (Spec::slo). Steps of the workload (warm-up + duration each) at
// fixed rates on one deployment: a probe at full speed (unless `start` is given), a ramp, then
// bisection of the bracket [highest rate that passed, lowest that failed].
constexpr int kMaxSearchSteps = 40;

struct RateSearch {
  std::optional<double> start;  // first rate tried; unset = probe at full speed, start below it
  std::optional<double> max;    // no step offers more than this (unset = no cap)
  double precision = 0.05;      // stop once lowest failed / highest passed - 1 is at most this
  int max_steps = 12;           // steps, the probe included
  // Stop before a step that could end after this; unset = max_steps x the longest a step takes.
  std::optional<std::chrono::nanoseconds> max_time;

  bool operator==(const RateSearch&) const = default;
};

struct Workload {
  uint64_t message_size = 1024;      // bytes, including dec's 32-byte header
  int producers = 1;                 // producer threads (or worker instances)
  int consumers = 1;                 // consumer threads
  double rate = 0;                   // aggregate target messages/s; 0 = as fast as possible
  std::optional<RateSearch> search;  // `rate: find-max` (rate is then 0 and unused)
  std::chrono::nanoseconds duration = std::chrono::seconds(10);       // measured part
  std::chrono::nanoseconds warmup = std::chrono::seconds(2);          // excluded from results
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(10);  // wait for consumers
  int topics = 1;
  int partitions = 1;  // partitions (Kafka), shards (Kinesis), streams per topic elsewhere
  int keys = 0;        // distinct message keys; 0 = no key (round-robin)
  // Unset: round_robin when keys > 0, else none.
  std::optional<KeyDistribution> key_distribution;
  std::optional<uint64_t> seed;  // for random keys; unset = chosen per run and reported
  Payload payload;
  Backlog backlog;
  int consumer_groups = 1;  // each group receives every message
  ClientSettings client;

  KeyDistribution effective_key_distribution() const {
    if (key_distribution) return *key_distribution;
    return keys > 0 ? KeyDistribution::kRoundRobin : KeyDistribution::kNone;
  }
  // The backlog in whole messages (a byte size rounded up to messages of message_size).
  uint64_t backlog_messages() const {
    if (backlog.messages > 0) return backlog.messages;
    if (backlog.size == 0 || message_size == 0) return 0;
    return (backlog.size + message_size - 1) / message_size;
  }

  bool operator==(const Workload&) const = default;
};

const char* key_distribution_name(KeyDistribution distribution);

struct Deploy {
  std::string provider = "local";  // local | endpoints | kubernetes | terraform
  int nodes = 1;
  std::optional<double> cpus;         // CPU cores per node
  std::optional<uint64_t> memory;     // bytes per node
  std::optional<uint64_t> bandwidth;  // bits/s per node
  Settings settings;                  // provider-specific (e.g. bootstrap_servers, image)
  Settings server;                    // broker configuration (e.g. redis appendonly: "yes")
  // Load agents driving this system at once: `workers: N` deploys N (where the provider
  // deploys agents); `workers: [host:port, ...]` uses agents already running there instead
  // (then worker_addresses is set and workers is its size).
  int workers = 1;
  std::vector<std::string> worker_addresses;

  bool operator==(const Deploy&) const = default;
};

struct System {
  std::string name;    // unique within the experiment, shown in results
  std::string driver;  // redis | kafka | kinesis | nats | rabbitmq | mqtt
  Settings config;     // passed to the driver; keys validated by the driver
  Deploy deploy;

  bool operator==(const System&) const = default;
};

struct Targets {
  std::optional<std::chrono::nanoseconds> p99_latency;  // SLO on end-to-end latency
  std::optional<double> min_throughput;                 // messages/s consumed

  bool operator==(const Targets&) const = default;
};

// What a step of a rate search must meet to count as sustained (besides the engine's own
// rate_sustained check: the sender kept its schedule and acks kept up).
struct Slo {
  std::optional<std::chrono::nanoseconds> p99;  // end-to-end p99 (publish p99 without consumers),
                                                // censored latencies included
  double max_loss = 0;  // share of the offered messages not received by the deadline

  bool operator==(const Slo&) const = default;
};

// A fault injected while a system runs, to compare resilience. Executed by the orchestrator
// through the provider (kill a node's broker, freeze it, cut or shape its network).
struct Fault {
  std::chrono::nanoseconds at{0};     // since the start of the run phase (warm-up included)
  std::string action;                 // kill | pause | resume | disconnect | reconnect | throttle
  int target = 0;                     // node index, 0-based
  std::optional<uint64_t> bandwidth;  // throttle only: bits/s (required there)
  std::string system;                 // only this system; "" = every system in turn

  bool operator==(const Fault&) const = default;
};

// How a system's cost is estimated (report/cost.h): Kinesis by shards (provisioned) or by
// streams and data (on-demand), Kafka as Amazon MSK brokers, anything as self-managed nodes
// (deploy.nodes EC2 instances).
enum class PricingModel { kKinesisProvisioned, kKinesisOnDemand, kMsk, kSelfManaged };

const char* pricing_model_name(PricingModel model);
// The model a system gets when `pricing.systems.<name>.model` is not given: Kinesis by its
// `stream_mode` config (ON_DEMAND or provisioned), every other driver self-managed.
PricingModel default_pricing_model(const System& system);

// One system's `pricing.systems.<name>`. Prices in USD, each named after its unit; unset = the
// shipped table's (core/prices.h). Only the fields of the system's model are allowed.
struct SystemPricing {
  std::optional<PricingModel> model;
  // msk and self-managed: per node (broker).
  std::optional<std::string> instance_type;  // EC2 type, or MSK broker type (kafka.m5.large)
  std::optional<double> instance_hour;       // per instance (broker) and hour
  std::optional<double> storage_gb;          // disk per node; unset: storage not counted
  std::optional<double> storage_gb_month;    // per GB-month of that disk
  // kinesis-provisioned
  std::optional<double> shard_hour;
  std::optional<double> million_put_units;  // per million 25 KiB PUT payload units
  // kinesis-on-demand
  std::optional<double> stream_hour;
  std::optional<double> gb_written;
  std::optional<double> gb_read;

  bool operator==(const SystemPricing&) const = default;
};

// `pricing:`: prices for the cost estimates instead of (or besides) the shipped table.
struct Pricing {
  std::optional<std::string> instance_type;      // self-managed nodes' default EC2 type
  std::optional<double> instance_hour;           // and its price per instance-hour
  std::map<std::string, SystemPricing> systems;  // by system name

  bool empty() const { return !instance_type && !instance_hour && systems.empty(); }
  bool operator==(const Pricing&) const = default;
};

// One `matrix:` entry: a field path (as `--set` takes it, systems also by name:
// "systems[kafka].config.acks") and the values it takes, in the order written.
struct MatrixAxis {
  std::string path;
  std::vector<std::string> values;

  bool operator==(const MatrixAxis&) const = default;
};

// Most repeats of one point: beyond this a sweep takes days, and the interval stops narrowing
// usefully (it shrinks with the square root of the number of runs).
constexpr int kMaxRepeats = 100;

struct Spec {
  std::string name;
  std::string description;
  Workload workload;
  std::vector<System> systems;
  Targets targets;
  std::optional<Slo> slo;     // for `workload.rate: find-max`
  std::vector<Fault> faults;  // in time order
  Pricing pricing;
  // Sweep: the cross product of the axes' values, each combination ("point") a run of the spec
  // with those values set; first axis outermost. Empty = one point, the spec as written.
  std::vector<MatrixAxis> matrix;
  int repeats = 1;  // runs of every point and system, interleaved across systems
  // A run whose system and infrastructure (driver, deploy.*) equal the run's before it keeps
  // that run's infrastructure (brokers, hosts, load agent) and gets fresh topics; false: every
  // run provisions and destroys its own (runs fully independent, slower).
  bool reuse_infrastructure = true;

  bool operator==(const Spec&) const = default;
};

}  // namespace dec::core
