#include "load/ledger.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>

#include "load/payload.h"
#include "load/rate_limiter.h"

namespace dec::load {

RangeSet RangeSet::of(const SequenceSet& set) {
  RangeSet out;
  set.for_each_run([&](uint64_t first, uint64_t end) { out.ranges_.push_back({first, end}); });
  return out;
}

Result<RangeSet> RangeSet::from_ranges(std::vector<SequenceRange> ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    const std::string where = "[" + std::to_string(i) + "]";
    if (ranges[i].first >= ranges[i].end) {
      return make_error(where + ": a range [first, end) must not be empty");
    }
    if (i > 0 && ranges[i].first <= ranges[i - 1].end) {
      return make_error(where + ": ranges must be sorted, disjoint and not adjacent");
    }
  }
  RangeSet out;
  out.ranges_ = std::move(ranges);
  return out;
}

void RangeSet::insert(uint64_t first, uint64_t end) {
  if (first >= end) return;
  // The ranges that touch or overlap [first, end) are merged into one.
  auto begin =
      std::lower_bound(ranges_.begin(), ranges_.end(), first,
                       [](const SequenceRange& r, uint64_t value) { return r.end < value; });
  auto stop = begin;
  while (stop != ranges_.end() && stop->first <= end) {
    first = std::min(first, stop->first);
    end = std::max(end, stop->end);
    ++stop;
  }
  const auto at = ranges_.erase(begin, stop);
  ranges_.insert(at, SequenceRange{first, end});
}

void RangeSet::insert(const RangeSet& other) {
  if (ranges_.empty()) {
    ranges_ = other.ranges_;
    return;
  }
  std::vector<SequenceRange> merged;
  merged.reserve(ranges_.size() + other.ranges_.size());
  std::merge(ranges_.begin(), ranges_.end(), other.ranges_.begin(), other.ranges_.end(),
             std::back_inserter(merged),
             [](const SequenceRange& a, const SequenceRange& b) { return a.first < b.first; });
  ranges_.clear();
  for (const SequenceRange& r : merged) {
    if (!ranges_.empty() && r.first <= ranges_.back().end) {
      ranges_.back().end = std::max(ranges_.back().end, r.end);
    } else {
      ranges_.push_back(r);
    }
  }
}

uint64_t RangeSet::size() const {
  uint64_t total = 0;
  for (const SequenceRange& r : ranges_) total += r.end - r.first;
  return total;
}

uint64_t RangeSet::overlap(const RangeSet& other) const {
  uint64_t total = 0;
  size_t i = 0;
  size_t j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    const SequenceRange& a = ranges_[i];
    const SequenceRange& b = other.ranges_[j];
    const uint64_t first = std::max(a.first, b.first);
    const uint64_t end = std::min(a.end, b.end);
    if (first < end) total += end - first;
    (a.end < b.end ? i : j) += 1;
  }
  return total;
}

void RangeSet::for_each_missing_from(const RangeSet& other, uint64_t from, uint64_t until,
                                     const std::function<void(uint64_t)>& visit) const {
  size_t j = 0;
  for (const SequenceRange& r : ranges_) {
    uint64_t cursor = std::max(r.first, from);
    const uint64_t end = std::min(r.end, until);
    while (cursor < end) {
      while (j < other.ranges_.size() && other.ranges_[j].end <= cursor) ++j;
      const uint64_t covered_from =
          j < other.ranges_.size() ? std::max(other.ranges_[j].first, cursor) : end;
      const uint64_t gap_end = std::min(covered_from, end);
      for (uint64_t s = cursor; s < gap_end; ++s) visit(s);
      if (gap_end >= end) break;
      cursor = std::min(other.ranges_[j].end, end);
    }
  }
}

uint64_t RangeSet::count_missing_from(const RangeSet& other, uint64_t from, uint64_t until) const {
  // |this ∩ [from, until)| - |this ∩ other ∩ [from, until)|, range by range.
  RangeSet clipped;
  for (const SequenceRange& r : ranges_) {
    const uint64_t first = std::max(r.first, from);
    const uint64_t end = std::min(r.end, until);
    if (first < end) clipped.ranges_.push_back({first, end});
  }
  return clipped.size() - clipped.overlap(other);
}

SharedDelivery account_shared_delivery(const std::vector<const DeliveryLedger*>& ledgers,
                                       int groups, bool complete) {
  SharedDelivery out;
  std::map<uint32_t, const ProducerLedger*> producers;
  for (const DeliveryLedger* ledger : ledgers) {
    for (const ProducerLedger& producer : ledger->producers) {
      producers[producer.producer_id] = &producer;
      out.acked += producer.acked.size();
    }
  }
  for (int g = 0; g < groups; ++g) {
    // Union of what every engine's consumers of the group received, per producer; a message in
    // two engines' sets is a copy neither engine saw twice.
    std::map<uint32_t, RangeSet> received;
    uint64_t per_engine_total = 0;
    bool drained = complete;
    int64_t watched_until_ns = std::numeric_limits<int64_t>::min();
    bool seen = false;
    for (const DeliveryLedger* ledger : ledgers) {
      const GroupLedger* group = nullptr;
      for (const GroupLedger& candidate : ledger->groups) {
        if (candidate.group == g) group = &candidate;
      }
      if (group == nullptr) continue;  // this engine ran no consumer of the group
      seen = true;
      drained = drained && group->drained;
      watched_until_ns = std::max(watched_until_ns, group->watched_until_ns);
      out.duplicated += group->duplicated;
      out.redelivered += group->redelivered;
      for (const auto& [producer_id, ranges] : group->received) {
        // A producer whose engine's ledger is missing has no known acks: what came from it is
        // not counted as delivered.
        if (producers.count(producer_id) == 0) continue;
        per_engine_total += ranges.size();
        received[producer_id].insert(ranges);
      }
    }
    drained = drained && seen;
    uint64_t distinct = 0;
    for (const auto& [producer_id, ranges] : received) distinct += ranges.size();
    out.received += distinct;
    out.duplicated += per_engine_total - distinct;

    static const RangeSet kNothing;
    for (const auto& [producer_id, producer] : producers) {
      const auto found = received.find(producer_id);
      const RangeSet& got = found == received.end() ? kNothing : found->second;
      const uint64_t missing = producer->acked.count_missing_from(got);
      (drained ? out.lost : out.undelivered) += missing;

      const uint64_t from = producer->window_from;
      const uint64_t until = std::max(from, producer->window_until);
      RangeSet window;
      window.insert(from, until);
      // Censored samples: window messages the group never received, as the engine records them.
      std::optional<RateLimiter> limiter;
      SystemClock clock;
      if (producer->rate > 0) {
        limiter.emplace(clock, producer->rate,
                        SteadyTime{std::chrono::nanoseconds(producer->start_ns)}, producer->phase);
      }
      uint64_t not_received = 0;
      window.for_each_missing_from(got, from, until, [&](uint64_t sequence) {
        ++not_received;
        const int64_t intended =
            limiter ? to_steady_ns(limiter->intended_time(sequence)) : producer->end_ns;
        out.censored_end_to_end.record(
            static_cast<uint64_t>(std::max<int64_t>(watched_until_ns - intended, 0)));
        ++out.censored_count;
      });
      if (g == 0) {
        out.window_received += (until - from) - not_received;
        const uint64_t window_missing = producer->acked.count_missing_from(got, from, until);
        (drained ? out.window_lost : out.window_undelivered) += window_missing;
      }
    }
  }
  return out;
}

}  // namespace dec::load
