// Latency histogram, log-linear like HdrHistogram: values from 1 to ~2^42 (1 ns .. > 1 h when
// recording nanoseconds) with relative error below 1%. record() is a few nanoseconds and
// allocation-free; histograms from many threads (or worker processes) merge exactly.
//
// Bucketing: values below 256 have a bucket each; above, every power of two [2^e, 2^(e+1)) is cut
// into 128 equal sub-buckets, so a bucket is at most 1/128 (0.78%) of its lower bound wide and the
// midpoint reported by percentile() is within 0.4% of any value in it.
// Not thread-safe: give each thread its own and merge().
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::metrics {

class Histogram {
 public:
  Histogram();
  void record(uint64_t value) { record_n(value, 1); }  // values above the range are clamped to it
  void record_n(uint64_t value, uint64_t count) {
    value = std::min(value, kMaxValue);
    counts_[bucket_index(value)] += count;
    total_count_ += count;
    // A zero count must leave min/max untouched; record() passes a constant 1, so once inlined
    // this test folds away on the hot path.
    if (count != 0) {
      min_ = std::min(min_, value);
      max_ = std::max(max_, value);
    }
    sum_ += static_cast<Uint128>(value) * count;
  }
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return total_count_; }
  bool empty() const { return total_count_ == 0; }
  uint64_t min() const;  // 0 when empty
  uint64_t max() const;  // exact maximum recorded (after clamping)
  double mean() const;   // exact (the sum is kept exactly); 0 when empty
  // p in [0, 100]; returns a value within 1% of the exact percentile of the recorded samples,
  // where the exact percentile is the sample of rank ceil(p/100 * count) (at least 1) in sorted
  // order. percentile(0) is min(), percentile(100) is max(); 0 when empty.
  uint64_t percentile(double p) const;
  // Samples in bucket `index` (< kBucketCount); for exporting the buckets to other formats.
  uint64_t count_at_index(size_t index) const { return counts_[index]; }
  // The value percentile() reports for a rank that falls in bucket `index`: the bucket's
  // midpoint, clamped to the exact min and max. For walking the buckets once (report/percentiles).
  uint64_t reported_value_at_index(size_t index) const;

  // Compact text form for shipping between processes; round-trips exactly. Format:
  //   "h1 n=<count> min=<min> max=<max> sum=<sum> b=<index>:<count>,<index>:<count>,..."
  // listing only non-empty buckets in increasing index order.
  std::string serialize() const;
  static Result<Histogram> deserialize(const std::string& text);

  static constexpr uint64_t kMaxValue = (uint64_t{1} << 42) - 1;

  // Bucket geometry, public so tests and tools can reason about resolution.
  static constexpr int kSubBucketBits = 7;  // 128 sub-buckets per power of two
  static constexpr uint64_t kSubBucketCount = uint64_t{1} << kSubBucketBits;
  static constexpr size_t bucket_index(uint64_t value) {
    // Values below 2 * kSubBucketCount map to themselves; above, drop the low bits that are finer
    // than 1/128 of the value. Both cases share one formula (shift = 0 for small values).
    const int width = std::bit_width(value);
    const int shift = std::max(width - (kSubBucketBits + 1), 0);
    return (static_cast<size_t>(shift) << kSubBucketBits) + static_cast<size_t>(value >> shift);
  }
  // One linear run of 2 * 128 buckets below 256, then 128 per power of two up to 2^42.
  static constexpr size_t kBucketCount = size_t{42 - kSubBucketBits + 1} << kSubBucketBits;
  // Smallest value that falls in bucket `index` and the bucket's width.
  static constexpr uint64_t bucket_lowest(size_t index) {
    if (index < 2 * kSubBucketCount) return index;
    const size_t shift = (index >> kSubBucketBits) - 1;
    const uint64_t sub = (index & (kSubBucketCount - 1)) + kSubBucketCount;
    return sub << shift;
  }
  static constexpr uint64_t bucket_width(size_t index) {
    return index < 2 * kSubBucketCount ? 1 : uint64_t{1} << ((index >> kSubBucketBits) - 1);
  }

 private:
  __extension__ typedef unsigned __int128 Uint128;  // exact sum: 2^42 * 2^64 cannot overflow

  std::vector<uint64_t> counts_;  // kBucketCount entries
  uint64_t total_count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  Uint128 sum_ = 0;
};

static_assert(Histogram::kBucketCount == Histogram::bucket_index(Histogram::kMaxValue) + 1);

}  // namespace dec::metrics
