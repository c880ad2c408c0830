// Latency by percentile from a run's whole histogram, as HdrHistogram's
// outputPercentileDistribution lists it: percentile levels from 0 % stepping
// `ticks_per_half_distance` times per halving of the distance to 100 % (0, 10, …, 50, 55, …, 75,
// 77.5, …), each read from the histogram's buckets, then 100 % (the maximum). The table's own
// percentiles (p50, p90, p99, p99.9, p99.99) are levels too, so the curve passes through the
// figures the table prints.
//
// A level reads as Histogram::percentile reads it (rank ceil(p/100 · count), bucket midpoint
// clamped to the exact min and max), so a curve point and the table agree to the digit. Censored
// samples (messages not received or acknowledged by the deadline, recorded as deadline − intended
// send time) are in the histogram: a level whose rank falls among them is a lower bound, and so
// is 100 % whenever any sample is censored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "metrics/histogram.h"

namespace dec::report {

inline constexpr int kPercentileTicksPerHalfDistance = 5;

struct PercentilePoint {
  double percentile = 0;     // 0..100
  uint64_t value_ns = 0;     // what the histogram reports at that level
  uint64_t count = 0;        // samples at or below the value's bucket (HdrHistogram's TotalCount)
  bool lower_bound = false;  // the level's rank falls among censored samples
};

// Levels in increasing order, values never decreasing; empty for an empty histogram.
// `censored`: how many of the histogram's samples are lower bounds.
std::vector<PercentilePoint> percentile_distribution(
    const metrics::Histogram& histogram, uint64_t censored,
    int ticks_per_half_distance = kPercentileTicksPerHalfDistance);

// Every run's end-to-end and publish curve from a results document (report::to_json), decoded
// from its "histograms", as JSON (docs/api.md "Percentile curves"): values in microseconds
// rounded as the results round them. A run without histograms (results from before they were
// stored) has null curves. Error: not a results document, or a histogram that does not decode.
Result<std::string> percentile_curves(
    const std::string& results_json, int ticks_per_half_distance = kPercentileTicksPerHalfDistance);

}  // namespace dec::report
