// Delivery verification: which messages each consumer group received, how many twice, and how
// many out of order, checked against what producers had acknowledged.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace dec::load {

// A set of sequence numbers as a growable bitset: one bit per message, so tens of millions of
// messages per producer cost megabytes, not a node per message. Sequences are dense from 0.
// Not thread-safe.
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

 private:
  std::vector<uint64_t> words_;
  uint64_t size_ = 0;
};

struct ReceiveOutcome {
  bool duplicate = false;  // this producer's sequence was already received by the group
  bool reordered = false;  // lower sequence than the last one received for the same producer+key
};

// The view of one consumer group. record() may be called from every consumer thread of the group
// at once: state is sharded per producer, each shard behind its own mutex, so threads only meet
// when they handle messages of the same producer at the same instant.
//
// Ordering is checked per (producer, key) against the previous message received for that pair:
// sequences 1 3 2 4 count one reordering. Duplicates neither count as reordered nor move the
// "previous" marker. Messages without a key (kNoKey) are not checked for order: partitioned
// systems spread them over partitions and promise no order between them.
class DeliveryVerifier {
 public:
  // Producer ids are 0..producers-1; key indexes 0..keys-1 (or kNoKey).
  DeliveryVerifier(int producers, int keys);

  // Callers validate producer_id < producers and key_index < keys (or kNoKey) first.
  ReceiveOutcome record(uint32_t producer_id, uint32_t key_index, uint64_t sequence);

  uint64_t received() const;  // distinct messages
  uint64_t duplicated() const;
  uint64_t reordered() const;
  // Sequences of `producer_id` in `acked` that this group never received.
  uint64_t count_lost(uint32_t producer_id, const SequenceSet& acked) const;
  // The same, only sequences in [from, until): attributes loss to when it was sent.
  uint64_t count_lost(uint32_t producer_id, const SequenceSet& acked, uint64_t from,
                      uint64_t until) const;

 private:
  // Cache-line aligned so that two producers' shards never share a line between consumer threads.
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    SequenceSet received;
    std::vector<uint64_t> next_after_last;  // per key: last sequence + 1 (0 = nothing yet)
    uint64_t duplicated = 0;
    uint64_t reordered = 0;
  };
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace dec::load
