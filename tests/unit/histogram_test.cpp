#include "metrics/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace dec::metrics {
namespace {

// The definition Histogram::percentile documents: the sample of rank ceil(p/100 * n), at least 1.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double p) {
  if (p <= 0) return sorted.front();
  if (p >= 100) return sorted.back();
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_percentiles_within_1_percent(std::vector<uint64_t> samples, const std::string& name) {
  Histogram histogram;
  for (uint64_t value : samples) histogram.record(value);
  std::sort(samples.begin(), samples.end());
  ASSERT_EQ(histogram.count(), samples.size());
  EXPECT_EQ(histogram.min(), samples.front()) << name;
  EXPECT_EQ(histogram.max(), samples.back()) << name;
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(samples, p));
    const double got = static_cast<double>(histogram.percentile(p));
    EXPECT_LE(std::abs(got - exact), 0.01 * exact)
        << name << " p" << p << ": exact " << exact << ", histogram " << got;
  }
  long double sum = 0;
  for (uint64_t value : samples) sum += value;
  EXPECT_NEAR(histogram.mean(), static_cast<double>(sum / samples.size()), 1e-6 * histogram.mean())
      << name;
}

TEST(HistogramTest, BucketsCoverTheRangeWithFineResolution) {
  EXPECT_EQ(Histogram::bucket_index(0), 0u);
  EXPECT_EQ(Histogram::bucket_index(255), 255u);
  EXPECT_EQ(Histogram::kBucketCount, Histogram::bucket_index(Histogram::kMaxValue) + 1);
  // Every bucket's width is at most 1/128 of its lowest value, and buckets tile without gaps.
  for (size_t i = 1; i < Histogram::kBucketCount; ++i) {
    const uint64_t low = Histogram::bucket_lowest(i);
    const uint64_t width = Histogram::bucket_width(i);
    EXPECT_EQ(low, Histogram::bucket_lowest(i - 1) + Histogram::bucket_width(i - 1)) << i;
    EXPECT_LE(width * 128, std::max<uint64_t>(low, 128)) << i;
    EXPECT_EQ(Histogram::bucket_index(low), i);
    EXPECT_EQ(Histogram::bucket_index(low + width - 1), i);
  }
  EXPECT_GT(Histogram::kMaxValue, uint64_t{3600} * 1'000'000'000);  // more than an hour in ns
}

TEST(HistogramTest, UniformDistribution) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(1, 10'000'000);
  std::vector<uint64_t> samples(200'000);
  for (auto& value : samples) value = dist(rng);
  expect_percentiles_within_1_percent(samples, "uniform");
}

TEST(HistogramTest, LongTailDistribution) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> exponential(1.0 / 200'000);  // mean 200 µs
  std::lognormal_distribution<double> lognormal(12.0, 2.0);
  std::vector<uint64_t> samples;
  for (int i = 0; i < 300'000; ++i) {
    samples.push_back(1 + static_cast<uint64_t>(exponential(rng)));
    samples.push_back(1 + static_cast<uint64_t>(std::min(lognormal(rng), 1e12)));
  }
  expect_percentiles_within_1_percent(samples, "long tail");
}

TEST(HistogramTest, ConstantDistribution) {
  expect_percentiles_within_1_percent(std::vector<uint64_t>(1000, 123'456'789), "constant");
  expect_percentiles_within_1_percent(std::vector<uint64_t>(10, 1), "constant one");
}

TEST(HistogramTest, SpanFromMicrosecondToHour) {
  // Log-uniform from 1 µs to 1 h: every octave of the range is populated.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> exponent(std::log(1e3), std::log(3.6e12));
  std::vector<uint64_t> samples(200'000);
  for (auto& value : samples) value = static_cast<uint64_t>(std::exp(exponent(rng)));
  samples.push_back(1'000);
  samples.push_back(3'600'000'000'000);
  expect_percentiles_within_1_percent(samples, "1us..1h");
}

TEST(HistogramTest, SmallSampleCounts) {
  expect_percentiles_within_1_percent({5}, "one sample");
  expect_percentiles_within_1_percent({1000, 2000}, "two samples");
  expect_percentiles_within_1_percent({1, 10, 100, 1000, 10000, 100000, 1000000}, "decades");
}

TEST(HistogramTest, MergeOfPerThreadHistogramsEqualsOneHistogram) {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> lognormal(10.0, 1.5);
  Histogram single;
  std::vector<Histogram> per_thread(4);
  for (int i = 0; i < 100'000; ++i) {
    const auto value = static_cast<uint64_t>(lognormal(rng));
    single.record(value);
    per_thread[i % 4].record(value);
  }
  Histogram merged;
  for (const auto& histogram : per_thread) merged.merge(histogram);
  EXPECT_EQ(merged.serialize(), single.serialize());
  EXPECT_EQ(merged.count(), single.count());
  EXPECT_EQ(merged.min(), single.min());
  EXPECT_EQ(merged.max(), single.max());
  EXPECT_EQ(merged.mean(), single.mean());
  for (double p : {50.0, 99.0, 99.99}) EXPECT_EQ(merged.percentile(p), single.percentile(p));

  Histogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.serialize(), single.serialize());
}

TEST(HistogramTest, SerializeRoundTripsExactly) {
  Histogram histogram;
  histogram.record(0);
  histogram.record(7);
  histogram.record_n(1'234'567, 1000);
  histogram.record(Histogram::kMaxValue);
  histogram.record_n(Histogram::kMaxValue, uint64_t{1} << 40);  // sum needs more than 64 bits
  const std::string text = histogram.serialize();
  auto restored = Histogram::deserialize(text);
  ASSERT_TRUE(restored.ok()) << restored.error();
  EXPECT_EQ(restored->serialize(), text);
  EXPECT_EQ(restored->count(), histogram.count());
  EXPECT_EQ(restored->min(), 0u);
  EXPECT_EQ(restored->max(), Histogram::kMaxValue);
  EXPECT_EQ(restored->mean(), histogram.mean());
  EXPECT_EQ(restored->percentile(1e-9), histogram.percentile(1e-9));

  auto empty = Histogram::deserialize(Histogram().serialize());
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_EQ(empty->count(), 0u);
}

TEST(HistogramTest, DeserializeRejectsGarbage) {
  Histogram histogram;
  histogram.record(10);
  histogram.record(1000);
  const std::string good = histogram.serialize();
  ASSERT_EQ(good, "h1 n=2 min=10 max=1000 sum=1010 b=10:1,506:1");
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "h2 n=2 min=10 max=1000 sum=1010 b=10:1,506:1",
      "h1 n=3 min=10 max=1000 sum=1010 b=10:1,506:1",    // counts disagree
      "h1 n=2 min=10 max=1000 sum=1010 b=506:1,10:1",    // not increasing
      "h1 n=2 min=10 max=1000 sum=1010 b=10:1,99999:1",  // index out of range
      "h1 n=2 min=10 max=1000 sum=1010 b=10:1,506:1,",   // trailing comma
      "h1 n=2 min=10 max=1000 sum=1010 b=10:1,506:1 ",   // trailing space
      "h1 n=2 min=11 max=1000 sum=1010 b=10:1,506:1",    // min not in first bucket
      "h1 n=2 min=10 max=1000 sum=9 b=10:1,506:1",       // sum too small
      "h1 n=2 min=10 max=1000 sum=-1 b=10:1,506:1",
      "h1 n=2 min=10 max=1000 sum=1010 b=10:1,506:x",
      "h1 n=0 min=5 max=0 sum=0 b=",
      "h1 n=2 min=10 max=1000 sum=99999999999999999999999999999999999999999 b=10:1,506:1",
  };
  for (const auto& text : bad) {
    auto result = Histogram::deserialize(text);
    EXPECT_FALSE(result.ok()) << "accepted: " << text;
    if (!result.ok()) {
      EXPECT_NE(result.error().find("invalid serialized histogram"), std::string::npos);
    }
  }
}

TEST(HistogramTest, EmptyHistogram) {
  Histogram histogram;
  EXPECT_TRUE(histogram.empty());
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_EQ(histogram.mean(), 0.0);
  EXPECT_EQ(histogram.percentile(50), 0u);
  EXPECT_EQ(histogram.percentile(100), 0u);
  EXPECT_EQ(histogram.serialize(), "h1 n=0 min=0 max=0 sum=0 b=");
}

TEST(HistogramTest, ClampsValuesAboveTheRange) {
  Histogram histogram;
  histogram.record(UINT64_MAX);
  histogram.record(Histogram::kMaxValue + 1);
  EXPECT_EQ(histogram.count(), 2u);
  EXPECT_EQ(histogram.max(), Histogram::kMaxValue);
  EXPECT_EQ(histogram.percentile(50), Histogram::kMaxValue);
  EXPECT_EQ(histogram.percentile(100), Histogram::kMaxValue);
}

TEST(HistogramTest, ResetAndZeroCountRecords) {
  Histogram histogram;
  histogram.record_n(500, 0);
  EXPECT_TRUE(histogram.empty());
  EXPECT_EQ(histogram.max(), 0u);
  histogram.record(42);
  histogram.reset();
  EXPECT_TRUE(histogram.empty());
  EXPECT_EQ(histogram.serialize(), Histogram().serialize());
  histogram.record(42);
  EXPECT_EQ(histogram.min(), 42u);
  EXPECT_EQ(histogram.percentile(50), 42u);
}

}  // namespace
}  // namespace dec::metrics
