// Cost of Histogram::record() against the floor of any histogram: one increment into a plain
// array at a precomputed index. Both read the same pseudo-random latencies, so the difference is
// the bucketing arithmetic plus min/max/sum bookkeeping.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "metrics/histogram.h"

namespace {

constexpr size_t kSampleCount = 4096;  // power of two: the loop index is masked, not divided

std::vector<uint64_t> latency_samples() {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> lognormal(13.0, 1.5);  // ~0.4 ms median, long tail
  std::vector<uint64_t> samples(kSampleCount);
  for (auto& value : samples) value = static_cast<uint64_t>(lognormal(rng));
  return samples;
}

void BM_HistogramRecord(benchmark::State& state) {
  const auto samples = latency_samples();
  dec::metrics::Histogram histogram;
  size_t i = 0;
  for (auto _ : state) {
    histogram.record(samples[i++ & (kSampleCount - 1)]);
  }
  benchmark::DoNotOptimize(histogram.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

void BM_ReferenceArrayIncrement(benchmark::State& state) {
  std::vector<size_t> indexes;
  for (uint64_t value : latency_samples()) {
    indexes.push_back(value % dec::metrics::Histogram::kBucketCount);
  }
  std::vector<uint64_t> counts(dec::metrics::Histogram::kBucketCount, 0);
  size_t i = 0;
  for (auto _ : state) {
    ++counts[indexes[i++ & (kSampleCount - 1)]];
  }
  benchmark::DoNotOptimize(counts.data());
  benchmark::ClobberMemory();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReferenceArrayIncrement);

void BM_HistogramPercentile(benchmark::State& state) {
  dec::metrics::Histogram histogram;
  for (uint64_t value : latency_samples()) histogram.record(value);
  for (auto _ : state) benchmark::DoNotOptimize(histogram.percentile(99.9));
}
BENCHMARK(BM_HistogramPercentile);

}  // namespace

BENCHMARK_MAIN();
