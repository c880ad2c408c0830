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
  std::vector<std::string> topics{"dec-topic"};
  std::string group_prefix = "dec-group";
  uint64_t max_messages = 0;  // 0 = unlimited; a hard bound on messages per run
};

// Delivery accounting, over the measured window *and* warm-up (every message is checked).
struct DeliveryCounts {
  uint64_t sent = 0;         // send() accepted
  uint64_t acked = 0;        // acknowledged ok by the system
  uint64_t send_errors = 0;  // send() failed or ack reported failure
  uint64_t received = 0;     // distinct messages received (per group, summed over groups)
  uint64_t lost = 0;         // acked but never received by a group (summed over groups); when
                             // the run stopped early this includes messages still in flight
  uint64_t duplicated = 0;   // received more than once
  uint64_t reordered = 0;    // received with a lower sequence than the previous one of the same
                             // producer+key; only checked when keys > 0 (unkeyed messages
                             // are spread over partitions with no order promised)
  uint64_t corrupt = 0;      // payload failed to decode, had the wrong size, or was not sent
                             // by this run (e.g. left in a reused topic by an earlier run)
};

// One point per second of the measured window and warm-up.
struct TimePoint {
  double t_s = 0;  // seconds since the start of warm-up
  double produced_per_s = 0;
  double consumed_per_s = 0;
  uint64_t p99_us = 0;      // end-to-end latency p99 of messages received this second
  uint64_t lost = 0;        // acked messages *sent* this second that group 0 never received
  uint64_t duplicated = 0;  // second copies received this second (all groups)
};

struct EngineResult {
  double measured_seconds = 0;
  uint64_t produced_in_window = 0;  // acked messages intended inside the measured window
  uint64_t consumed_in_window = 0;  // received messages intended inside the window (one group)
  uint64_t bytes_produced_in_window = 0;
  double produced_msgs_per_s = 0;
  double consumed_msgs_per_s = 0;
  double produced_mb_per_s = 0;  // 10^6 bytes/s of payload
  double consumed_mb_per_s = 0;
  metrics::Histogram end_to_end_latency;  // ns, intended send -> received
  metrics::Histogram publish_latency;     // ns, intended send -> acknowledged
  DeliveryCounts delivery;
  std::vector<TimePoint> timeline;
  std::string error;  // non-empty when the run stopped early
};

enum class Phase { kWarmup, kMeasuring, kDraining, kDone };

// Live figures, delivered about once a second from a monitor thread.
struct Progress {
  Phase phase = Phase::kWarmup;
  double elapsed_s = 0;
  double total_s = 0;  // warm-up + duration
  uint64_t sent = 0;
  uint64_t received = 0;      // distinct, summed over groups (as DeliveryCounts::received)
  double produced_per_s = 0;  // acked, over the last second
  double consumed_per_s = 0;  // received by group 0, over the last second
  uint64_t p99_us = 0;        // over the last second
};

using ProgressCallback = std::function<void(const Progress&)>;

class Engine {
 public:
  // The driver must be connected; topics and groups are prepared by the caller.
  Engine(drivers::Driver& driver, EngineOptions options);
  // Runs warm-up + measurement + drain. Returns early (with result.error set) when `stop` turns
  // true or a driver call fails. Safe to call once per Engine.
  Result<EngineResult> run(const ProgressCallback& on_progress, const std::atomic<bool>& stop);

 private:
  drivers::Driver& driver_;
  EngineOptions options_;
};

}  // namespace dec::load
