#include "report/resources.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dec::report {
namespace {

constexpr double kBusy = 0.9;  // share of its capacity at which a CPU counts as the limit

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char text[256];
  std::snprintf(text, sizeof text, pattern, a, b, c);
  return text;
}

// Cores a host could use: its limit, else one per engine thread, at most the machine's.
double capacity(const HostUsage& host, const ResourceFacts& facts) {
  if (host.cpus_limit) return *host.cpus_limit;
  if (host.role == "load agent") {
    return std::max(1, std::min(facts.machine_cores, facts.producers + facts.consumers));
  }
  return facts.machine_cores;
}

}  // namespace

ResourceVerdict analyze_resources(const std::vector<HostUsage>& hosts, const ResourceFacts& facts) {
  ResourceVerdict verdict;
  double broker_cpu_s = 0;
  const HostUsage* busiest_agent = nullptr;
  const HostUsage* busiest_broker = nullptr;
  auto load = [&](const HostUsage& h) { return h.cpu_avg / std::max(capacity(h, facts), 1e-9); };
  for (const HostUsage& host : hosts) {
    if (host.role == "broker") {
      broker_cpu_s += host.cpu_seconds;
      if (!busiest_broker || load(host) > load(*busiest_broker)) busiest_broker = &host;
    } else if (host.role == "load agent") {
      if (!busiest_agent || load(host) > load(*busiest_agent)) busiest_agent = &host;
    }
  }
  if (broker_cpu_s > 0 && facts.received_in_window > 0) {
    verdict.msgs_per_broker_cpu_s = static_cast<double>(facts.received_in_window) / broker_cpu_s;
  }
  if (busiest_agent && load(*busiest_agent) >= kBusy) {
    verdict.load_generator_saturated = true;
    verdict.saturation_reason = busiest_agent->address + " used " +
                                format("%.2f of %.2f cores (%.0f %%)", busiest_agent->cpu_avg,
                                       capacity(*busiest_agent, facts), 100 * load(*busiest_agent));
  }

  const load::WindowAccounting& w = facts.window;
  if (w.offered_per_s <= 0 || w.rate_sustained) return verdict;
  // Not sustained: name the likeliest limit, from the strongest evidence down.
  if (verdict.load_generator_saturated) {
    verdict.limited_by = "load agent CPU";
    verdict.limited_by_reason = verdict.saturation_reason;
    return verdict;
  }
  // Little's law: a client with W messages in flight per producer at a publish latency L cannot
  // send more than producers x W / L messages per second.
  if (facts.max_in_flight && facts.publish_latency_p50_s && *facts.publish_latency_p50_s > 0) {
    const double ceiling = static_cast<double>(facts.producers) *
                           static_cast<double>(*facts.max_in_flight) / *facts.publish_latency_p50_s;
    if (ceiling < w.offered_per_s * 1.1) {
      verdict.limited_by = "client in-flight window";
      verdict.limited_by_reason =
          format("%.0f producer(s) x %.0f in flight / publish p50 %.3f ms", facts.producers,
                 static_cast<double>(*facts.max_in_flight), *facts.publish_latency_p50_s * 1e3) +
          format(" allow about %.0f msg/s of the %.0f offered; raise workload.client.max_in_flight",
                 ceiling, w.offered_per_s);
      return verdict;
    }
  }
  verdict.limited_by = "system under test";
  if (busiest_broker) {
    verdict.limited_by_reason =
        busiest_broker->address + " used " +
        format("%.2f of %.2f cores (%.0f %%)", busiest_broker->cpu_avg,
               capacity(*busiest_broker, facts), 100 * load(*busiest_broker)) +
        (load(*busiest_broker) >= kBusy ? ": CPU-bound" : ": not CPU-bound (disk, network, locks)");
  } else {
    verdict.limited_by_reason = "neither the load agent's CPU nor the client's window explain it";
  }
  return verdict;
}

}  // namespace dec::report
