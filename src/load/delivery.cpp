#include "load/delivery.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "load/payload.h"

namespace dec::load {

namespace {
// A full prefix is dropped once it is this many words (64 Ki sequences, 8 KiB): moving the
// words left behind it then costs little per sequence.
constexpr size_t kDropWords = 1024;
constexpr uint64_t kFull = ~uint64_t{0};
}  // namespace

bool SequenceSet::insert(uint64_t sequence) {
  const uint64_t global = sequence / 64;
  if (global < base_) return false;
  const size_t index = static_cast<size_t>(global - base_);
  if (index >= words_.size()) {
    // Doubling keeps growth amortised constant while sequences climb one by one.
    words_.resize(std::max(index + 1, words_.size() * 2), 0);
  }
  const uint64_t bit = uint64_t{1} << (sequence % 64);
  if (words_[index] & bit) return false;
  words_[index] |= bit;
  ++size_;
  if (index == full_ && words_[index] == kFull) {
    while (full_ < words_.size() && words_[full_] == kFull) ++full_;
    if (full_ >= kDropWords) {
      words_.erase(words_.begin(), words_.begin() + static_cast<std::ptrdiff_t>(full_));
      base_ += full_;
      full_ = 0;
    }
  }
  return true;
}

bool SequenceSet::contains(uint64_t sequence) const {
  return (word(sequence / 64) >> (sequence % 64)) & 1;
}

uint64_t SequenceSet::count_missing_from(const SequenceSet& other) const {
  return count_missing_from(other, 0, std::numeric_limits<uint64_t>::max());
}

uint64_t SequenceSet::count_missing_from(const SequenceSet& other, uint64_t from,
                                         uint64_t until) const {
  const uint64_t end = std::min(until, end_word() * 64);
  if (from >= end) return 0;
  const uint64_t first = from / 64;
  const uint64_t last = (end - 1) / 64;
  uint64_t missing = 0;
  // Words below both sets' dropped prefixes are full in both: nothing can be missing there.
  for (uint64_t i = std::max(first, std::min(base_, other.base_)); i <= last; ++i) {
    uint64_t mask = kFull;
    if (i == first) mask &= kFull << (from % 64);
    if (i == last && end % 64 != 0) mask &= (uint64_t{1} << (end % 64)) - 1;
    missing += static_cast<uint64_t>(std::popcount(word(i) & ~other.word(i) & mask));
  }
  return missing;
}

void SequenceSet::for_each_absent(uint64_t from, uint64_t until,
                                  const std::function<void(uint64_t)>& visit) const {
  for (uint64_t sequence = std::max(from, base_ * 64); sequence < until;) {
    const uint64_t global = sequence / 64;
    if (global >= end_word()) {
      for (; sequence < until; ++sequence) visit(sequence);
      return;
    }
    // Skip whole words that are full, then test bit by bit inside the others.
    const uint64_t bits = word(global);
    if (sequence % 64 == 0 && bits == kFull && sequence + 64 <= until) {
      sequence += 64;
      continue;
    }
    if (!((bits >> (sequence % 64)) & 1)) visit(sequence);
    ++sequence;
  }
}

void SequenceSet::for_each_run(
    const std::function<void(uint64_t first, uint64_t end)>& visit) const {
  // The dropped prefix is one run from 0.
  bool in_run = base_ > 0;
  uint64_t run_first = 0;
  for (size_t i = 0; i < words_.size(); ++i) {
    const uint64_t bits = words_[i];
    const uint64_t start = (base_ + i) * 64;
    if ((bits == 0 && !in_run) || (bits == kFull && in_run)) continue;
    for (uint64_t bit = 0; bit < 64;) {
      const uint64_t rest = bits >> bit;
      if (in_run) {
        // Ones from here on: the run goes on for countr_one(rest) bits.
        const int ones = std::countr_one(rest);
        if (bit + static_cast<uint64_t>(ones) >= 64) break;
        visit(run_first, start + bit + static_cast<uint64_t>(ones));
        in_run = false;
        bit += static_cast<uint64_t>(ones);
      } else {
        if (rest == 0) break;
        bit += static_cast<uint64_t>(std::countr_zero(rest));
        in_run = true;
        run_first = start + bit;
      }
    }
  }
  if (in_run) visit(run_first, end_word() * 64);
}

DeliveryVerifier::DeliveryVerifier(int producers) {
  shards_.reserve(static_cast<size_t>(std::max(producers, 0)));
  for (int i = 0; i < producers; ++i) shards_.push_back(std::make_unique<Shard>());
}

ReceiveOutcome DeliveryVerifier::record(uint32_t producer_id, uint64_t sequence, bool redelivery) {
  Shard& shard = *shards_[producer_id];
  ReceiveOutcome outcome;
  std::lock_guard lock(shard.mutex);
  if (!shard.received.insert(sequence)) {
    outcome.duplicate = true;
    ++(redelivery ? shard.redelivered : shard.duplicated);
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

uint64_t DeliveryVerifier::redelivered() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->redelivered;
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

const SequenceSet* DeliveryVerifier::received_of(uint32_t producer_id) const {
  return producer_id < shards_.size() ? &shards_[producer_id]->received : nullptr;
}

void DeliveryVerifier::for_each_not_received(uint32_t producer_id, uint64_t from, uint64_t until,
                                             const std::function<void(uint64_t)>& visit) const {
  if (producer_id >= shards_.size()) {
    for (uint64_t sequence = from; sequence < until; ++sequence) visit(sequence);
    return;
  }
  const Shard& shard = *shards_[producer_id];
  std::lock_guard lock(shard.mutex);
  shard.received.for_each_absent(from, until, visit);
}

bool OrderChecker::record(uint32_t producer_id, uint32_t key_index, int partition,
                          uint64_t sequence) {
  if (key_index == kNoKey) return false;
  // 24 bits of producer, 24 of key, 16 of partition + 1: far beyond what a run uses.
  const uint64_t slot = (uint64_t{producer_id} << 40) ^ (uint64_t{key_index} << 16) ^
                        static_cast<uint64_t>(static_cast<uint16_t>(partition + 1));
  uint64_t& next_after_last = next_after_last_[slot];
  const bool reordered = sequence + 1 < next_after_last;
  if (reordered) {
    ++reordered_;
  } else {
    next_after_last = sequence + 1;
  }
  return reordered;
}

}  // namespace dec::load
