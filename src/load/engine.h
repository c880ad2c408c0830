// The load engine: N producer threads drive a Driver at an open-loop target rate while M consumer
// threads read and verify every message. Latency counts from each message's *intended* send time
// (start + i / rate, as wrk2 does), so a stalled system shows up as latency instead of hiding it.
// Warm-up traffic is sent and verified but excluded from throughput and latency figures.
// No global state: an Engine can run in the CLI, the server or a separate worker process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "drivers/driver.h"
#include "load/ledger.h"
#include "load/payload.h"
#include "metrics/histogram.h"

namespace dec::load {

struct EngineOptions {
  int producers = 1;
  int consumers = 1;  // per consumer group; 0 = produce-only: no drain, and received,
                      // lost, duplicated, reordered stay 0 (nothing is checked)
  int consumer_groups = 1;
  double rate = 0;  // aggregate messages/s; 0 = as fast as possible
  std::chrono::nanoseconds warmup{0};
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};
  std::chrono::nanoseconds drain_timeout{std::chrono::seconds(10)};
  uint64_t message_size = 1024;  // bytes; at least the payload header size
  int keys = 0;                  // 0 = no key
  // How a message picks one of `keys` (ignored when keys is 0; kNone needs keys 0).
  core::KeyDistribution key_distribution = core::KeyDistribution::kRoundRobin;
  uint64_t key_seed = 0;  // seeds each producer's PRNG for kRandom (with its producer id)
  PayloadOptions payload;
  // > 0: consumers read nothing until producers have this many messages acked (a backlog), then
  // catch up while producers go on; the drain ends when every group's lag is at most
  // (1 - backlog_drain_ratio) x the backlog. End-to-end latency then counts only messages
  // intended after the drain ended.
  uint64_t backlog_messages = 0;
  double backlog_drain_ratio = 1.0;
  std::vector<std::string> topics{"dec-topic"};
  std::string group_prefix = "dec-group";
  uint64_t max_messages = 0;  // 0 = unlimited; a hard bound on messages per run
  // Longest the start waits for every consumer to report ready (Consumer::ready()).
  std::chrono::nanoseconds ready_timeout{std::chrono::seconds(60)};

  // A run shared by several engines (load agents), when total_producers > 0: this engine's
  // producers are ids first_producer_id .. first_producer_id + producers - 1 of total_producers
  // (so sequences never collide), its consumers members first_consumer .. of total_consumers in
  // each group; consumers accept every producer of the run, and the result carries a
  // DeliveryLedger for account_shared_delivery() instead of censoring what its own consumers
  // missed. `rate` and `max_messages` are this engine's share.
  uint32_t first_producer_id = 0;
  int total_producers = 0;
  int first_consumer = 0;
  int total_consumers = 0;
  // Added to steady-clock ns in each message's intended time and taken off on receipt, so that
  // engines on different machines stamp messages on one time base (see worker::WorkRequest).
  int64_t payload_clock_shift_ns = 0;
  // > 0: the schedule starts at this steady-clock time (at once if every client is ready only
  // later), so that engines sharing a run start together.
  int64_t start_at_steady_ns = 0;
  bool shared() const { return total_producers > 0; }
};

// Delivery accounting, over the measured window *and* warm-up (every message is checked).
struct DeliveryCounts {
  uint64_t sent = 0;         // send() accepted
  uint64_t acked = 0;        // acknowledged ok by the system
  uint64_t send_errors = 0;  // send() failed or ack reported failure
  uint64_t received = 0;     // distinct messages received (per group, summed over groups)
  uint64_t lost = 0;         // acked, never received by a group, and the system had nothing more
                             // to give at the deadline (every consumer's backlog was 0): gone
                             // (summed over groups)
  uint64_t undelivered = 0;  // acked, not received by the drain deadline, but the system may
                             // still hold them (a backlog, or a driver that cannot tell): not
                             // proven lost; counted as censored latencies (summed over groups)
  uint64_t duplicated = 0;   // received more than once, not flagged as a redelivery: the
                             // system stored or delivered two copies
  uint64_t redelivered = 0;  // a stored message delivered again (at-least-once after a
                             // rebalance or reconnect), as the driver flagged it
  uint64_t reordered = 0;    // received by a consumer from a partition with a lower sequence than
                             // the previous one of the same producer+key there; only checked
                             // when keys > 0 (unkeyed messages have no order promised)
  uint64_t corrupt = 0;      // payload failed to decode, had the wrong size, or was not sent
                             // by this run (e.g. left in a reused topic by an earlier run)
};

// Every message intended inside the measured window, accounted for. `offered` = sent_on_time +
// sent_late + unsent; latency counts each offered message once per consumer group: measured
// when it arrived by the deadline (window end + drain_timeout), else *censored*: recorded as
// deadline - intended, a lower bound. With rate 0 there is no schedule: offered is what was sent
// inside the window and nothing is late or unsent.
struct WindowAccounting {
  uint64_t offered = 0;       // intended inside [window start, window end)
  double offered_per_s = 0;   // the target rate (0 = as fast as possible)
  uint64_t sent_on_time = 0;  // sent before the window ended
  uint64_t sent_late = 0;     // sent after the window ended (the sender fell behind), before
                              // the deadline; latency still counts from the intended time
  uint64_t unsent = 0;        // never sent (deadline passed, run stopped): censored
  double max_send_lag_s = 0;  // furthest any producer fell behind its schedule
  uint64_t acked = 0;         // of the offered, acknowledged ok
  uint64_t received = 0;      // of the offered, received by consumer group 0
  uint64_t undelivered = 0;   // of the offered, acked but not received by group 0 in time
  uint64_t lost = 0;          // of the offered, acked and provably gone (group 0)
  // Throughput counts every completion inside the window (the system's work rate there); these
  // are the ones of messages intended during warm-up, a backlog the system caught up on. Large
  // values mean the warm-up was too short for the system to reach its steady state.
  uint64_t warmup_acked_in_window = 0;
  uint64_t warmup_received_in_window = 0;  // group 0
  // False when the system did not sustain the offered rate: more than 1% of the offered
  // messages went out after the window or never (the sender was held back), or the acked
  // throughput in the window was below 95% of the offered rate. Always true at rate 0.
  bool rate_sustained = true;
};

// Messages group 0 received per (topic, partition), for partition skew.
struct PartitionCount {
  std::string topic;
  int partition = -1;  // -1: the driver does not say
  uint64_t received = 0;
};

// One point per second of the measured window and warm-up.
struct TimePoint {
  double t_s = 0;  // seconds since the start of warm-up
  double produced_per_s = 0;
  double consumed_per_s = 0;
  uint64_t p99_us = 0;  // end-to-end latency p99 of messages received this second
  uint64_t lost = 0;    // acked messages *sent* this second that group 0 never received, proven
                        // lost (DeliveryCounts::lost)
  uint64_t undelivered = 0;  // the same, not received by the deadline but not proven lost
  uint64_t duplicated = 0;   // second copies received this second (all groups)
};

// The backlog phase (EngineOptions::backlog_messages). Times in seconds.
struct BacklogFigures {
  uint64_t target_messages = 0;  // 0 = no backlog phase (the rest is then all zero)
  double drain_ratio = 1.0;
  bool reached = false;      // producers built the whole target (else consumers started when
                             // producers stopped, with what there was)
  uint64_t messages = 0;     // the backlog when consumers started: acked, not read (per group)
  double build_s = 0;        // from the start of warm-up to the consumers' start
  bool drained = false;      // every group's lag fell to the drain level before the deadline
  uint64_t drain_level = 0;  // lag that counts as drained: (1 - drain_ratio) x messages
  double drain_s = 0;        // consumers' start to drained (to the deadline when not drained)
  uint64_t consumed_while_draining = 0;  // distinct messages group 0 read in drain_s
  double drain_msgs_per_s = 0;           // consumed_while_draining / drain_s
  uint64_t max_lag = 0;  // the largest lag seen (producers go on while consumers catch up)
};

struct EngineResult {
  double measured_seconds = 0;
  uint64_t produced_in_window = 0;  // acks that arrived inside the measured window
  uint64_t consumed_in_window = 0;  // distinct messages received inside the window (group 0)
  uint64_t bytes_produced_in_window = 0;
  double produced_msgs_per_s = 0;
  double consumed_msgs_per_s = 0;
  double produced_mb_per_s = 0;  // 10^6 bytes/s of payload
  double consumed_mb_per_s = 0;
  // Only messages intended inside the window, censored ones included (see WindowAccounting).
  metrics::Histogram end_to_end_latency;  // ns, intended send -> received (every group)
  metrics::Histogram publish_latency;     // ns, intended send -> acknowledged
  uint64_t censored_end_to_end = 0;       // samples that are lower bounds (not received in time)
  uint64_t censored_publish = 0;          // samples that are lower bounds (not acked in time)
  WindowAccounting window;
  DeliveryCounts delivery;
  std::vector<PartitionCount> partitions;  // group 0, sorted by topic then partition
  std::vector<TimePoint> timeline;
  // zlib level-6 ratio (raw / compressed) of a sample of the messages sent, measured before the
  // load starts: 1.0 = incompressible (PayloadContent).
  double payload_compression_ratio = 0;
  uint64_t key_seed = 0;  // EngineOptions::key_seed, as used
  BacklogFigures backlog;
  DeliveryLedger ledger;  // shared runs only (EngineOptions::total_producers > 0)
  std::string error;      // non-empty when the run stopped early
};

enum class Phase { kWarmup, kMeasuring, kDraining, kDone };

// Live figures, delivered about once a second from a monitor thread.
struct Progress {
  Phase phase = Phase::kWarmup;
  bool started = false;  // the schedule runs (every client was ready); elapsed_s counts from it
  double elapsed_s = 0;
  double total_s = 0;  // warm-up + duration
  uint64_t sent = 0;
  uint64_t received = 0;      // distinct, summed over groups (as DeliveryCounts::received)
  double produced_per_s = 0;  // acked, over the last second
  double consumed_per_s = 0;  // received by group 0, over the last second
  uint64_t p99_us = 0;        // over the last second
  uint64_t acked = 0;         // acknowledged so far
};

using ProgressCallback = std::function<void(const Progress&)>;

class Engine {
 public:
  // The driver must be connected; topics and groups are prepared by the caller.
  Engine(drivers::Driver& driver, EngineOptions options);
  // Runs warm-up + measurement + drain. Returns early (with result.error set) when `stop` turns
  // true or a driver call fails. Safe to call once per Engine.
  Result<EngineResult> run(const ProgressCallback& on_progress, const std::atomic<bool>& stop);
  // A shared run: this engine's consumers cannot tell alone when every message has arrived (they
  // read other engines' messages too). When `*drained` turns true the drain ends as if they had;
  // set before run(). Without it the drain lasts until the drain timeout.
  void set_drain_signal(const std::atomic<bool>* drained) { drain_signal_ = drained; }

 private:
  drivers::Driver& driver_;
  EngineOptions options_;
  const std::atomic<bool>* drain_signal_ = nullptr;
};

}  // namespace dec::load
