// Latency histogram, log-linear like HdrHistogram: values from 1 to ~2^42 (1 ns .. > 1 h when
// recording nanoseconds) with relative error below 1%. record() is a few nanoseconds and
// allocation-free; histograms from many threads (or worker processes) merge exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::metrics {

class Histogram {
 public:
  Histogram();
  void record(uint64_t value);                   // values above the range are clamped to it
  void record_n(uint64_t value, uint64_t count);
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return total_count_; }
  uint64_t min() const;                  // 0 when empty
  uint64_t max() const;                  // exact maximum recorded (after clamping)
  double mean() const;
  // p in [0, 100]; returns a value within 1% of the exact percentile of the recorded samples.
  uint64_t percentile(double p) const;

  // Compact text form for shipping between processes; round-trips exactly.
  std::string serialize() const;
  static Result<Histogram> deserialize(const std::string& text);

  static constexpr uint64_t kMaxValue = (uint64_t{1} << 42) - 1;

 private:
  // Layout chosen by the implementation (see histogram.cpp).
  std::vector<uint64_t> counts_;
  uint64_t total_count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace dec::metrics
