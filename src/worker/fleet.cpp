// Several agents driving one system at once: the split, the common start, the parallel drive
// and the merge of their results.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "worker/worker.h"

namespace dec::worker {
namespace {

// How far ahead of now the common start is set: enough for every agent to receive its request,
// connect and make its clients (an agent not ready by then starts as soon as it is).
constexpr auto kStartLead = std::chrono::seconds(2);
constexpr int kClockSamples = 8;

int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The share of `total` that agent `i` of `agents` gets, and the first index of that share.
std::pair<int, int> share(int total, int agents, int i) {
  const int base = total / agents;
  const int extra = total % agents;
  const int count = base + (i < extra ? 1 : 0);
  const int first = i * base + std::min(i, extra);
  return {first, count};
}

}  // namespace

Result<std::vector<load::EngineOptions>> split_engine_options(const load::EngineOptions& run,
                                                              int agents) {
  if (agents < 1) return make_error("deploy.workers: at least one load agent is needed");
  if (agents > run.producers) {
    return make_error("deploy.workers: " + std::to_string(agents) + " load agents but only " +
                      std::to_string(run.producers) +
                      " producers; each agent needs at least one (raise workload.producers or "
                      "lower deploy.workers)");
  }
  if (agents > 1 && run.backlog_messages > 0) {
    return make_error(
        "deploy.workers: a backlog phase (workload.backlog) needs a single load agent, because "
        "the agents would each hold their consumers back on their own count");
  }
  std::vector<load::EngineOptions> out;
  for (int i = 0; i < agents; ++i) {
    load::EngineOptions o = run;
    const auto [first_producer, producers] = share(run.producers, agents, i);
    const auto [first_consumer, consumers] = share(run.consumers, agents, i);
    o.producers = producers;
    o.first_producer_id = static_cast<uint32_t>(first_producer);
    o.consumers = consumers;
    o.first_consumer = first_consumer;
    if (agents > 1) {
      o.total_producers = run.producers;
      o.total_consumers = run.consumers;
    }
    o.rate = run.rate * producers / run.producers;
    if (run.max_messages > 0) {
      // What the same producers' quotas add up to in one engine.
      const uint64_t all = static_cast<uint64_t>(run.producers);
      uint64_t cap = 0;
      for (int p = first_producer; p < first_producer + producers; ++p) {
        cap += run.max_messages / all + (static_cast<uint64_t>(p) < run.max_messages % all);
      }
      o.max_messages = std::max<uint64_t>(cap, 1);
    }
    out.push_back(std::move(o));
  }
  return out;
}

Result<FleetResult> run_fleet(const std::vector<FleetAgent>& agents, const WorkRequest& run,
                              const std::function<void(const load::Progress&)>& on_progress,
                              const std::atomic<bool>& stop,
                              std::chrono::seconds unreachable_timeout) {
  auto split = split_engine_options(run.engine, static_cast<int>(agents.size()));
  if (!split) return make_error(split.error());
  const bool shared = agents.size() > 1;
  FleetResult out;
  std::vector<WorkerClient> clients;
  for (const auto& agent : agents) {
    const size_t colon = agent.address.rfind(':');
    if (colon == std::string::npos) {
      return make_error(agent.name + ": bad agent address \"" + agent.address +
                        "\" (expected host:port)");
    }
    std::string host = agent.address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    clients.emplace_back(host, std::atoi(agent.address.c_str() + colon + 1), agent.token);
    FleetAgentReport report;
    report.name = agent.name;
    report.address = agent.address;
    report.producers = (*split)[out.agents.size()].producers;
    report.consumers = (*split)[out.agents.size()].consumers;
    out.agents.push_back(std::move(report));
  }

  std::vector<WorkRequest> requests(agents.size(), run);
  if (shared) {
    // Offsets first, so that the common start means the same instant on every agent.
    for (size_t i = 0; i < agents.size(); ++i) {
      auto clock = clients[i].clock_offset(kClockSamples);
      if (!clock) return make_error(agents[i].name + ": measuring its clock: " + clock.error());
      out.agents[i].clock = *clock;
      out.agents[i].clock_measured = true;
      // An offset within the measurement's own uncertainty is noise, not a correction.
      const bool significant = std::llabs(clock->offset_ns) > clock->uncertainty_ns;
      requests[i].clock_offset_ns = significant ? clock->offset_ns : 0;
      out.clock_agreement_ns = std::max(
          out.clock_agreement_ns,
          significant ? clock->uncertainty_ns
                      : std::max<int64_t>(std::llabs(clock->offset_ns), clock->uncertainty_ns));
    }
    const int64_t start_at =
        unix_now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(kStartLead).count();
    for (auto& request : requests) request.start_at_unix_ns = start_at;
  }
  for (size_t i = 0; i < agents.size(); ++i) requests[i].engine = (*split)[i];

  // Progress: each agent's latest, merged into one view of the run. It also tells when the
  // drain is over: no agent alone can (its consumers read every agent's messages).
  std::mutex progress_mutex;
  std::vector<std::optional<load::Progress>> latest(agents.size());
  const int groups = run.engine.consumers > 0 ? run.engine.consumer_groups : 0;
  bool drain_released = false;
  const auto release_drain_if_done = [&] {
    {
      std::lock_guard lock(progress_mutex);
      if (!shared || groups == 0 || drain_released) return;
      uint64_t sent = 0;
      uint64_t acked = 0;
      uint64_t received = 0;
      for (const auto& p : latest) {
        if (!p || p->phase < load::Phase::kDraining) return;
        sent += p->sent;
        acked += p->acked;
        received += p->received;
      }
      // Every acknowledged message in every group (copies on two agents could hide a missing
      // one; the merged ledgers still count it), and nothing awaiting an acknowledgement.
      if (acked != sent || received < acked * static_cast<uint64_t>(groups)) return;
      drain_released = true;
    }
    for (auto& client : clients) (void)client.release_drain();
  };
  const auto report_progress = [&](size_t agent, const load::Progress& progress) {
    std::unique_lock lock(progress_mutex);
    latest[agent] = progress;
    load::Progress merged;
    bool first = true;
    for (const auto& p : latest) {
      if (!p) continue;
      merged.phase = first ? p->phase : std::min(merged.phase, p->phase);
      merged.started = merged.started || p->started;
      merged.elapsed_s = std::max(merged.elapsed_s, p->elapsed_s);
      merged.total_s = std::max(merged.total_s, p->total_s);
      merged.sent += p->sent;
      merged.received += p->received;
      merged.produced_per_s += p->produced_per_s;
      merged.consumed_per_s += p->consumed_per_s;
      merged.p99_us = std::max(merged.p99_us, p->p99_us);
      first = false;
    }
    if (on_progress) on_progress(merged);
    lock.unlock();
    release_drain_if_done();
  };

  std::vector<Result<WorkResult>> outcomes(agents.size(), make_error("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < agents.size(); ++i) {
    threads.emplace_back([&, i] {
      outcomes[i] = clients[i].run(
          requests[i], [&, i](const load::Progress& p) { report_progress(i, p); }, stop,
          unreachable_timeout);
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<load::EngineResult> parts;
  std::string lost;
  for (size_t i = 0; i < agents.size(); ++i) {
    if (!outcomes[i]) {
      FleetAgentReport& report = out.agents[i];
      report.error = outcomes[i].error();
      const auto& engine = requests[i].engine;
      lost +=
          (lost.empty() ? "" : "; ") + std::string("load agent ") + report.name + " (" +
          report.address + ") was lost mid-run: " + report.error + "; its producers " +
          std::to_string(engine.first_producer_id) + ".." +
          std::to_string(engine.first_producer_id + static_cast<uint32_t>(engine.producers) - 1) +
          " are unaccounted for and their messages are not counted as delivered";
      continue;
    }
    out.emulated = out.emulated || outcomes[i]->emulated;
    for (const auto& [name, value] : outcomes[i]->counters) {
      auto it = std::find_if(out.counters.begin(), out.counters.end(),
                             [&](const auto& counter) { return counter.first == name; });
      if (it == out.counters.end()) {
        out.counters.emplace_back(name, value);
      } else {
        it->second += value;
      }
    }
    parts.push_back(std::move(outcomes[i]->engine));
  }
  if (parts.empty()) {
    return make_error(lost.empty() ? std::string("no load agent returned a result") : lost);
  }
  out.engine = merge_results(parts, lost.empty());
  if (!lost.empty())
    out.engine.error = lost + (out.engine.error.empty() ? "" : "; " + out.engine.error);
  return out;
}

}  // namespace dec::worker
