// Delivery verification: which messages each consumer group received, how many twice, and how
// many out of order, checked against what producers had acknowledged.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace dec::load {

// A set of sequence numbers as a growable bitset: one bit per message, so tens of millions of
// messages per producer cost megabytes, not a node per message. Sequences are dense from 0.
// A full prefix is dropped as it forms (sequences below base_ * 64 are all members, no bits
// kept): while messages arrive without holes, memory stays that of the out-of-order window
// instead of growing with the run (a 10-minute full-rate run is tens of millions of messages
// per set). A hole (a lost message) keeps everything after it stored. Not thread-safe.
class SequenceSet {
 public:
  // Adds `sequence`; false when it was already present.
  bool insert(uint64_t sequence);
  bool contains(uint64_t sequence) const;
  uint64_t size() const { return size_; }
  // How many members of this set `other` lacks.
  uint64_t count_missing_from(const SequenceSet& other) const;
  // The same, counting only members in [from, until): a word at a time, never bit by bit.
  uint64_t count_missing_from(const SequenceSet& other, uint64_t from, uint64_t until) const;
  // Calls `visit(sequence)` for each sequence in [from, until) that this set lacks.
  void for_each_absent(uint64_t from, uint64_t until,
                       const std::function<void(uint64_t)>& visit) const;
  // Calls `visit(first, end)` for each maximal run [first, end) of members, in order: a word at
  // a time where words are all set or all clear.
  void for_each_run(const std::function<void(uint64_t first, uint64_t end)>& visit) const;
  // Bytes held for bits (capacity included): what the set costs in memory.
  uint64_t stored_bytes() const { return words_.capacity() * sizeof(uint64_t); }

 private:
  // Word `i` of the whole set (bits 64i .. 64i+63): all ones below base_, zero past the end.
  uint64_t word(uint64_t i) const {
    if (i < base_) return ~uint64_t{0};
    return i - base_ < words_.size() ? words_[i - base_] : 0;
  }
  uint64_t end_word() const { return base_ + words_.size(); }

  std::vector<uint64_t> words_;  // words base_, base_ + 1, ...
  uint64_t base_ = 0;            // words before it are full and no longer stored
  size_t full_ = 0;              // how many leading words of words_ are full
  uint64_t size_ = 0;
};

struct ReceiveOutcome {
  bool duplicate = false;  // this producer's sequence was already received by the group
};

// The view of one consumer group. record() may be called from every consumer thread of the group
// at once: state is sharded per producer, each shard behind its own mutex, so threads only meet
// when they handle messages of the same producer at the same instant.
class DeliveryVerifier {
 public:
  // Producer ids are 0..producers-1.
  explicit DeliveryVerifier(int producers);

  // Callers validate producer_id < producers first. A second copy counts as duplicated unless
  // `redelivery` (the driver said the system delivered a stored message again).
  ReceiveOutcome record(uint32_t producer_id, uint64_t sequence, bool redelivery = false);

  uint64_t received() const;  // distinct messages
  uint64_t duplicated() const;
  uint64_t redelivered() const;  // second copies flagged as redeliveries
  // Sequences of `producer_id` in `acked` that this group never received.
  uint64_t count_lost(uint32_t producer_id, const SequenceSet& acked) const;
  // The same, only sequences in [from, until): attributes loss to when it was sent.
  uint64_t count_lost(uint32_t producer_id, const SequenceSet& acked, uint64_t from,
                      uint64_t until) const;
  // The sequences of `producer_id` this group received. Not to be called while consumers record.
  const SequenceSet* received_of(uint32_t producer_id) const;
  uint64_t producers() const { return shards_.size(); }
  // Calls `visit(sequence)` for each sequence of `producer_id` in [from, until) this group never
  // received. Not to be called while consumers still record.
  void for_each_not_received(uint32_t producer_id, uint64_t from, uint64_t until,
                             const std::function<void(uint64_t)>& visit) const;

 private:
  // Cache-line aligned so that two producers' shards never share a line between consumer threads.
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    SequenceSet received;
    uint64_t duplicated = 0;
    uint64_t redelivered = 0;
  };
  std::vector<std::unique_ptr<Shard>> shards_;
};

// Order as a consumer sees it: per (producer, key, partition), each sequence must be higher than
// the previous one this consumer received for the same triple; 1 3 2 4 counts one reordering.
// No messaging system orders messages across consumers or partitions, so checking in the order
// several consumer threads happened to record (as a group-wide check would) reports artefacts.
// One per consumer thread; not thread-safe. Unkeyed messages (kNoKey) and redeliveries are not
// checked: no order is promised for them.
class OrderChecker {
 public:
  // True when `sequence` arrived out of order.
  bool record(uint32_t producer_id, uint32_t key_index, int partition, uint64_t sequence);
  uint64_t reordered() const { return reordered_; }

 private:
  std::unordered_map<uint64_t, uint64_t> next_after_last_;  // (producer, key, partition) ->
                                                            // last sequence + 1
  uint64_t reordered_ = 0;
};

}  // namespace dec::load
