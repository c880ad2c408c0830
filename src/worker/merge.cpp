// Combining the results of several workers of one run into the figures of the whole run.
#include <algorithm>
#include <cmath>
#include <map>

#include "worker/worker.h"

namespace dec::worker {

load::EngineResult merge_results(const std::vector<load::EngineResult>& results, bool complete) {
  if (results.size() == 1 && complete) return results.front();
  load::EngineResult merged;
  // Consumed bytes are not carried in a result; each worker's are recovered from its rate and
  // window so the merged MB/s weighs workers by what they really consumed.
  double consumed_bytes = 0;
  std::map<long long, load::TimePoint> timeline;  // by whole second since the start of warm-up
  std::vector<std::string> errors;
  std::map<std::pair<std::string, int>, uint64_t> partitions;
  for (const auto& r : results) {
    merged.measured_seconds = std::max(merged.measured_seconds, r.measured_seconds);
    merged.produced_in_window += r.produced_in_window;
    merged.consumed_in_window += r.consumed_in_window;
    merged.bytes_produced_in_window += r.bytes_produced_in_window;
    consumed_bytes += r.consumed_mb_per_s * 1e6 * r.measured_seconds;
    merged.end_to_end_latency.merge(r.end_to_end_latency);
    merged.publish_latency.merge(r.publish_latency);
    merged.censored_end_to_end += r.censored_end_to_end;
    merged.censored_publish += r.censored_publish;

    load::WindowAccounting& w = merged.window;
    w.offered += r.window.offered;
    w.offered_per_s += r.window.offered_per_s;  // each worker was offered its share
    w.sent_on_time += r.window.sent_on_time;
    w.sent_late += r.window.sent_late;
    w.unsent += r.window.unsent;
    w.max_send_lag_s = std::max(w.max_send_lag_s, r.window.max_send_lag_s);
    w.acked += r.window.acked;
    w.received += r.window.received;
    w.undelivered += r.window.undelivered;
    w.lost += r.window.lost;
    w.warmup_acked_in_window += r.window.warmup_acked_in_window;
    w.warmup_received_in_window += r.window.warmup_received_in_window;
    w.rate_sustained = w.rate_sustained && r.window.rate_sustained;
    for (const auto& p : r.partitions) partitions[{p.topic, p.partition}] += p.received;

    load::DeliveryCounts& d = merged.delivery;
    d.sent += r.delivery.sent;
    d.acked += r.delivery.acked;
    d.send_errors += r.delivery.send_errors;
    d.received += r.delivery.received;
    d.lost += r.delivery.lost;
    d.undelivered += r.delivery.undelivered;
    d.duplicated += r.delivery.duplicated;
    d.redelivered += r.delivery.redelivered;
    d.reordered += r.delivery.reordered;
    d.corrupt += r.delivery.corrupt;

    for (const auto& point : r.timeline) {
      const long long second = std::llround(point.t_s);
      auto [it, inserted] = timeline.try_emplace(second);
      load::TimePoint& m = it->second;
      m.t_s = static_cast<double>(second);
      m.produced_per_s += point.produced_per_s;
      m.consumed_per_s += point.consumed_per_s;
      m.p99_us = std::max(m.p99_us, point.p99_us);
      m.lost += point.lost;
      m.undelivered += point.undelivered;
      m.duplicated += point.duplicated;
    }

    if (!r.error.empty() && std::find(errors.begin(), errors.end(), r.error) == errors.end()) {
      errors.push_back(r.error);
    }
  }
  // Each worker builds and drains a backlog of its own clients: the merged backlog is their sum,
  // built and drained when the slowest worker's was.
  load::BacklogFigures& backlog = merged.backlog;
  for (size_t i = 0; i < results.size(); ++i) {
    const load::BacklogFigures& b = results[i].backlog;
    if (i == 0) {
      merged.payload_compression_ratio = results[i].payload_compression_ratio;
      merged.key_seed = results[i].key_seed;
      backlog.drain_ratio = b.drain_ratio;
      backlog.reached = b.reached;
      backlog.drained = b.drained;
    }
    backlog.target_messages += b.target_messages;
    backlog.reached = backlog.reached && b.reached;
    backlog.drained = backlog.drained && b.drained;
    backlog.messages += b.messages;
    backlog.drain_level += b.drain_level;
    backlog.max_lag += b.max_lag;
    backlog.consumed_while_draining += b.consumed_while_draining;
    backlog.build_s = std::max(backlog.build_s, b.build_s);
    backlog.drain_s = std::max(backlog.drain_s, b.drain_s);
  }
  if (backlog.drained && backlog.drain_s > 0) {
    backlog.drain_msgs_per_s =
        static_cast<double>(backlog.consumed_while_draining) / backlog.drain_s;
  }
  if (merged.measured_seconds > 0) {
    const double seconds = merged.measured_seconds;
    merged.produced_msgs_per_s = static_cast<double>(merged.produced_in_window) / seconds;
    merged.consumed_msgs_per_s = static_cast<double>(merged.consumed_in_window) / seconds;
    merged.produced_mb_per_s = static_cast<double>(merged.bytes_produced_in_window) / seconds / 1e6;
    merged.consumed_mb_per_s = consumed_bytes / seconds / 1e6;
  }
  for (auto& [second, point] : timeline) merged.timeline.push_back(point);
  for (const auto& [where, received] : partitions) {
    merged.partitions.push_back({where.first, where.second, received});
  }
  for (const auto& error : errors) merged.error += (merged.error.empty() ? "" : "; ") + error;

  // A shared run: no agent alone knows what happened to its messages; the ledgers together do.
  const bool shared =
      !results.empty() &&
      std::all_of(results.begin(), results.end(), [](const auto& r) { return !r.ledger.empty(); });
  if (shared) {
    std::vector<const load::DeliveryLedger*> ledgers;
    int groups = 0;
    for (const auto& r : results) {
      ledgers.push_back(&r.ledger);
      for (const auto& group : r.ledger.groups) groups = std::max(groups, group.group + 1);
    }
    const load::SharedDelivery shared_delivery =
        load::account_shared_delivery(ledgers, groups, complete);
    load::DeliveryCounts& d = merged.delivery;
    d.received = shared_delivery.received;
    d.lost = shared_delivery.lost;
    d.undelivered = shared_delivery.undelivered;
    d.duplicated = shared_delivery.duplicated;
    d.redelivered = shared_delivery.redelivered;
    merged.window.received = shared_delivery.window_received;
    merged.window.lost = shared_delivery.window_lost;
    merged.window.undelivered = shared_delivery.window_undelivered;
    merged.end_to_end_latency.merge(shared_delivery.censored_end_to_end);
    merged.censored_end_to_end += shared_delivery.censored_count;
  }
  return merged;
}

}  // namespace dec::worker
