// What the system under test and the load agent used during a run's measured window, and what
// that says about the figures: a load agent near its CPU limit (or a send schedule that fell
// behind) makes every figure a lower bound; a rate short of its target is explained by the
// likeliest limit — the load agent's CPU, the client's in-flight window, or the system itself.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "load/engine.h"

namespace dec::report {

// One host's (or process's) use of CPU and memory over the measured window.
struct HostUsage {
  std::string address;  // "host.kafka.0", or "service.redis.0" without hosts
  std::string role;     // "broker" | "load agent"
  std::optional<double> cpus_limit;
  double cpu_seconds = 0;  // CPU time used inside the window
  double cpu_avg = 0;      // cores: cpu_seconds / window length
  double cpu_peak = 0;     // cores: the busiest sampling interval inside the window
  std::optional<uint64_t> memory_peak_bytes;
};

struct ResourceVerdict {
  std::optional<double> msgs_per_broker_cpu_s;  // received in the window / broker CPU-seconds
  bool load_generator_saturated = false;
  std::string saturation_reason;  // why, when saturated
  // When the offered rate was not sustained: "load agent CPU", "client in-flight window" or
  // "system under test", and the evidence; empty otherwise.
  std::string limited_by;
  std::string limited_by_reason;
};

// What the analysis needs from the run besides the usage.
struct ResourceFacts {
  load::WindowAccounting window;
  double measured_seconds = 0;
  uint64_t received_in_window = 0;
  int producers = 1;
  int consumers = 0;
  int machine_cores = 1;
  std::optional<long long> max_in_flight;       // per producer, the client's window
  std::optional<double> publish_latency_p50_s;  // acknowledgement latency
};

// A load agent counts as saturated when it used >= 90 % of what it could (its CPU limit, else
// one core per producer and consumer thread, at most the machine's cores) or when its send
// schedule fell behind (more than 1 % of the window's messages sent late or never).
ResourceVerdict analyze_resources(const std::vector<HostUsage>& hosts, const ResourceFacts& facts);

}  // namespace dec::report
