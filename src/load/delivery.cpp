#include "load/delivery.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "load/payload.h"

namespace dec::load {

bool SequenceSet::insert(uint64_t sequence) {
  const size_t word = sequence / 64;
  if (word >= words_.size()) {
    // Doubling keeps growth amortised constant while sequences climb one by one.
    words_.resize(std::max(word + 1, words_.size() * 2), 0);
  }
  const uint64_t bit = uint64_t{1} << (sequence % 64);
  if (words_[word] & bit) return false;
  words_[word] |= bit;
  ++size_;
  return true;
}

bool SequenceSet::contains(uint64_t sequence) const {
  const size_t word = sequence / 64;
  return word < words_.size() && (words_[word] >> (sequence % 64)) & 1;
}

uint64_t SequenceSet::count_missing_from(const SequenceSet& other) const {
  return count_missing_from(other, 0, std::numeric_limits<uint64_t>::max());
}

uint64_t SequenceSet::count_missing_from(const SequenceSet& other, uint64_t from,
                                         uint64_t until) const {
  const uint64_t end = std::min(until, static_cast<uint64_t>(words_.size()) * 64);
  if (from >= end) return 0;
  const size_t first = from / 64;
  const size_t last = (end - 1) / 64;
  uint64_t missing = 0;
  for (size_t i = first; i <= last; ++i) {
    uint64_t mask = ~uint64_t{0};
    if (i == first) mask &= ~uint64_t{0} << (from % 64);
    if (i == last && end % 64 != 0) mask &= (uint64_t{1} << (end % 64)) - 1;
    const uint64_t theirs = i < other.words_.size() ? other.words_[i] : 0;
    missing += static_cast<uint64_t>(std::popcount(words_[i] & ~theirs & mask));
  }
  return missing;
}

DeliveryVerifier::DeliveryVerifier(int producers, int keys) {
  shards_.reserve(static_cast<size_t>(std::max(producers, 0)));
  for (int i = 0; i < producers; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->next_after_last.assign(static_cast<size_t>(std::max(keys, 0)), 0);
    shards_.push_back(std::move(shard));
  }
}

ReceiveOutcome DeliveryVerifier::record(uint32_t producer_id, uint32_t key_index,
                                        uint64_t sequence) {
  Shard& shard = *shards_[producer_id];
  ReceiveOutcome outcome;
  std::lock_guard lock(shard.mutex);
  if (!shard.received.insert(sequence)) {
    outcome.duplicate = true;
    ++shard.duplicated;
    return outcome;
  }
  if (key_index != kNoKey && key_index < shard.next_after_last.size()) {
    uint64_t& next_after_last = shard.next_after_last[key_index];
    if (sequence + 1 < next_after_last) {
      outcome.reordered = true;
      ++shard.reordered;
    }
    next_after_last = sequence + 1;
  }
  return outcome;
}

uint64_t DeliveryVerifier::received() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->received.size();
  }
  return total;
}

uint64_t DeliveryVerifier::duplicated() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->duplicated;
  }
  return total;
}

uint64_t DeliveryVerifier::reordered() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->reordered;
  }
  return total;
}

uint64_t DeliveryVerifier::count_lost(uint32_t producer_id, const SequenceSet& acked) const {
  return count_lost(producer_id, acked, 0, std::numeric_limits<uint64_t>::max());
}

uint64_t DeliveryVerifier::count_lost(uint32_t producer_id, const SequenceSet& acked, uint64_t from,
                                      uint64_t until) const {
  if (producer_id >= shards_.size()) return acked.count_missing_from(SequenceSet{}, from, until);
  const Shard& shard = *shards_[producer_id];
  std::lock_guard lock(shard.mutex);
  return acked.count_missing_from(shard.received, from, until);
}

}  // namespace dec::load
