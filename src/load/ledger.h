// Delivery ledgers: what one engine of a run shared by several engines (load agents) saw, in a
// compact form another process can merge. A consumer on agent A receives messages produced on
// agent B, so no agent alone can tell lost from received; the orchestrator merges every agent's
// ledger with account_shared_delivery() and gets the counts one engine would have computed.
// Sequences travel as run-length ranges: one range per unbroken run, not one entry per message.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "load/delivery.h"
#include "metrics/histogram.h"

namespace dec::load {

struct SequenceRange {
  uint64_t first = 0;
  uint64_t end = 0;  // exclusive
  bool operator==(const SequenceRange&) const = default;
};

// Sorted, disjoint, non-adjacent half-open ranges of sequence numbers.
class RangeSet {
 public:
  RangeSet() = default;
  static RangeSet of(const SequenceSet& set);
  // Ranges as sent by another process; an error names what is wrong (unsorted, overlapping,
  // empty) so a malformed ledger is refused, not miscounted.
  static Result<RangeSet> from_ranges(std::vector<SequenceRange> ranges);

  // Adds [first, end) anywhere, merging with what touches it.
  void insert(uint64_t first, uint64_t end);
  void insert(const RangeSet& other);
  uint64_t size() const;  // sequences
  uint64_t overlap(const RangeSet& other) const;
  // Members of this set in [from, until) that `other` lacks.
  uint64_t count_missing_from(const RangeSet& other, uint64_t from = 0,
                              uint64_t until = UINT64_MAX) const;
  // Calls visit(sequence) for each member of this set in [from, until) that `other` lacks.
  void for_each_missing_from(const RangeSet& other, uint64_t from, uint64_t until,
                             const std::function<void(uint64_t)>& visit) const;
  const std::vector<SequenceRange>& ranges() const { return ranges_; }
  bool operator==(const RangeSet&) const = default;

 private:
  std::vector<SequenceRange> ranges_;
};

// One producer of the engine that ran it.
struct ProducerLedger {
  uint32_t producer_id = 0;
  RangeSet acked;
  uint64_t window_from = 0;  // the sequences intended inside the window: [from, until)
  uint64_t window_until = 0;
  // To recompute a window message's intended time (rate 0: the window's end is used), on the
  // shared time base (EngineOptions::payload_clock_shift_ns applied).
  double rate = 0;
  double phase = 0;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

// One consumer group as the engine's consumers of it saw it.
struct GroupLedger {
  int group = 0;
  std::vector<std::pair<uint32_t, RangeSet>> received;  // by producer id, ascending
  uint64_t duplicated = 0;       // second copies seen by this engine's consumers
  uint64_t redelivered = 0;      // of those, flagged as redeliveries
  bool drained = false;          // every consumer of the group here ended with nothing left to read
  int64_t watched_until_ns = 0;  // consumers stopped (shared time base)
};

struct DeliveryLedger {
  std::vector<ProducerLedger> producers;
  std::vector<GroupLedger> groups;
  bool empty() const { return producers.empty() && groups.empty(); }
};

// The run's delivery figures from every engine's ledger, as one engine holding all producers and
// consumers would count them. Copies of one message received by consumers of a group on two
// engines count as duplicated (neither engine saw both; a redelivery flag is known only for
// copies one engine saw). Messages of producers whose ledger is missing are not counted.
// `latency_from_ns` (shared time base) limits censored samples as EngineOptions' backlog mode does;
// INT64_MIN = all.
struct SharedDelivery {
  uint64_t acked = 0;
  uint64_t received = 0;  // distinct, summed over groups
  uint64_t lost = 0;
  uint64_t undelivered = 0;
  uint64_t duplicated = 0;
  uint64_t redelivered = 0;
  uint64_t window_received = 0;  // group 0, of the messages intended in the window
  uint64_t window_lost = 0;
  uint64_t window_undelivered = 0;
  // One censored end-to-end sample (watched_until - intended) per window message a group
  // never received, as the engine records them.
  metrics::Histogram censored_end_to_end;
  uint64_t censored_count = 0;
};

// `groups` is the run's number of consumer groups (0 = produce only). A group counts as drained
// only when every ledger says so and none is missing (`complete`: every engine reported).
SharedDelivery account_shared_delivery(const std::vector<const DeliveryLedger*>& ledgers,
                                       int groups, bool complete);

}  // namespace dec::load
