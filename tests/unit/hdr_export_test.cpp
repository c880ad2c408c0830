// The HdrHistogram export read back by a decoder written from the published format (V2
// encoding, compressed wrapper, interval log), not from dec's encoder.
#include "report/hdr_export.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "report/results.h"

namespace dec::report {
namespace {

// ---- A decoder following HdrHistogram's specification ----

std::string base64_decode(const std::string& text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto at = alphabet.find(c);
    if (at == std::string::npos) ADD_FAILURE() << "not base64: " << c;
    buffer = (buffer << 6) | static_cast<uint32_t>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

struct Cursor {
  const std::string& bytes;
  size_t at = 0;
  uint64_t big_endian(int size) {
    uint64_t value = 0;
    for (int i = 0; i < size; ++i) value = (value << 8) | static_cast<uint8_t>(bytes.at(at++));
    return value;
  }
  // LEB128-64b9B + ZigZag.
  int64_t zigzag() {
    uint64_t value = 0;
    int shift = 0;
    for (int i = 0; i < 8; ++i) {
      const uint8_t byte = static_cast<uint8_t>(bytes.at(at++));
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
    }
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes.at(at++))) << 56;
    return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
  }
};

struct Decoded {
  int significant_digits = 0;
  int64_t lowest = 0;
  int64_t highest = 0;
  std::vector<int64_t> counts;
  int64_t total = 0;
  int sub_bucket_half_count_magnitude = 0;

  // The value at counts index `index` and the width of the values that share it.
  std::pair<int64_t, int64_t> value_and_width(size_t index) const {
    const int64_t half = int64_t{1} << sub_bucket_half_count_magnitude;
    int64_t bucket = static_cast<int64_t>(index >> sub_bucket_half_count_magnitude) - 1;
    int64_t sub_bucket = static_cast<int64_t>(index & (half - 1)) + half;
    if (bucket < 0) {
      sub_bucket -= half;
      bucket = 0;
    }
    return {sub_bucket << bucket, int64_t{1} << bucket};
  }
  // HdrHistogram's getValueAtPercentile: the highest value equivalent to the sample at rank
  // round(p/100 * total), at least 1.
  int64_t value_at_percentile(double p) const {
    const int64_t rank = std::max<int64_t>(1, std::llround(p / 100.0 * static_cast<double>(total)));
    int64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      if (seen >= rank) {
        auto [value, width] = value_and_width(i);
        return value + width - 1;
      }
    }
    return 0;
  }
};

Decoded decode_compressed_base64(const std::string& text) {
  Decoded out;
  const std::string wrapper = base64_decode(text);
  Cursor outer{wrapper};
  const uint32_t cookie = static_cast<uint32_t>(outer.big_endian(4));
  EXPECT_EQ(cookie & ~0xf0u, 0x1c849304u) << "compressed V2 cookie";
  const uint64_t compressed_length = outer.big_endian(4);
  EXPECT_EQ(compressed_length, wrapper.size() - 8);
  std::string encoded(1 << 20, '\0');
  uLongf size = encoded.size();
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(encoded.data()), &size,
                       reinterpret_cast<const Bytef*>(wrapper.data() + 8), compressed_length),
            Z_OK);
  encoded.resize(size);
  Cursor in{encoded};
  EXPECT_EQ(static_cast<uint32_t>(in.big_endian(4)) & ~0xf0u, 0x1c849303u) << "V2 cookie";
  const uint64_t payload_length = in.big_endian(4);
  EXPECT_EQ(in.big_endian(4), 0u) << "normalizing index offset";
  out.significant_digits = static_cast<int>(in.big_endian(4));
  out.lowest = static_cast<int64_t>(in.big_endian(8));
  out.highest = static_cast<int64_t>(in.big_endian(8));
  const uint64_t ratio_bits = in.big_endian(8);
  double ratio = 0;
  std::memcpy(&ratio, &ratio_bits, sizeof ratio);
  EXPECT_EQ(ratio, 1.0);
  EXPECT_EQ(in.at, 40u);
  EXPECT_EQ(payload_length, encoded.size() - 40);
  // Sub-bucket geometry from the significant digits, as HdrHistogram derives it.
  const double largest_single_unit = 2 * std::pow(10, out.significant_digits);
  const int sub_bucket_count_magnitude =
      static_cast<int>(std::ceil(std::log2(largest_single_unit)));
  out.sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  while (in.at < encoded.size()) {
    const int64_t word = in.zigzag();
    if (word < 0) {
      out.counts.insert(out.counts.end(), static_cast<size_t>(-word), 0);
    } else {
      out.counts.push_back(word);
      out.total += word;
    }
  }
  return out;
}

// ---- Tests ----

TEST(HdrExport, DecoderReadsBackCountAndPercentilesWithinPrecision) {
  metrics::Histogram histogram;
  std::vector<uint64_t> samples;
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(std::log(200'000.0), 1.2);  // ~200 µs in ns
  for (int i = 0; i < 100'000; ++i) {
    const uint64_t value = std::max<uint64_t>(1, static_cast<uint64_t>(latency(random)));
    samples.push_back(value);
    histogram.record(value);
  }
  for (uint64_t small = 1; small < 300; ++small) {  // the linear range below 256 too
    samples.push_back(small);
    histogram.record(small);
  }
  std::sort(samples.begin(), samples.end());

  const Decoded decoded = decode_compressed_base64(hdr_compressed_base64(histogram));
  EXPECT_EQ(decoded.significant_digits, 2);
  EXPECT_EQ(decoded.lowest, 1);
  EXPECT_EQ(decoded.highest, static_cast<int64_t>(metrics::Histogram::kMaxValue));
  EXPECT_EQ(decoded.total, static_cast<int64_t>(histogram.count()));
  EXPECT_EQ(decoded.counts.size(), metrics::Histogram::bucket_index(histogram.max()) + 1);
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    SCOPED_TRACE(p);
    const double hdr = static_cast<double>(decoded.value_at_percentile(p));
    const double ours = static_cast<double>(histogram.percentile(p));
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * samples.size()));
    const double exact = static_cast<double>(samples[std::max<size_t>(rank, 1) - 1]);
    // Both within the 2-significant-digit precision (1%) of the exact sample, and of each other.
    EXPECT_NEAR(hdr, exact, exact * 0.01);
    EXPECT_NEAR(ours, exact, exact * 0.01);
    EXPECT_NEAR(hdr, ours, ours * 0.01);
  }
}

TEST(HdrExport, EmptyHistogramEncodesNoCounts) {
  const Decoded decoded = decode_compressed_base64(hdr_compressed_base64(metrics::Histogram()));
  EXPECT_EQ(decoded.total, 0);
  EXPECT_TRUE(decoded.counts.empty());
}

TEST(HdrExport, BucketsCopyIndexForIndex) {
  metrics::Histogram histogram;
  // Each in a bucket of its own (from 256 up, buckets are 2 or more values wide).
  const std::vector<uint64_t> values = {1, 127, 128, 255, 256, 258, 1000, 123'456, 987'654'321};
  for (uint64_t v : values) histogram.record(v);
  const Decoded decoded = decode_compressed_base64(hdr_compressed_base64(histogram));
  for (uint64_t v : values) {
    const size_t index = metrics::Histogram::bucket_index(v);
    ASSERT_LT(index, decoded.counts.size());
    EXPECT_EQ(decoded.counts[index], 1) << v;
    auto [lowest, width] = decoded.value_and_width(index);
    EXPECT_LE(static_cast<uint64_t>(lowest), v);
    EXPECT_GT(static_cast<uint64_t>(lowest + width), v);
    EXPECT_EQ(static_cast<uint64_t>(lowest), metrics::Histogram::bucket_lowest(index));
  }
}

ExperimentResult two_runs() {
  ExperimentResult result;
  result.id = "20261125-063512-7f3a";
  result.experiment = "export";
  result.started_at = "2026-11-25T06:35:12Z";
  for (const char* system : {"fast", "slow"}) {
    RunResult run;
    run.run_id = result.id + "." + system;
    run.system = system;
    run.driver = "redis";
    run.client_library = "hiredis 0.14.1";
    run.status = "succeeded";
    run.engine.measured_seconds = 10;
    run.engine.produced_msgs_per_s = 1000;
    run.engine.consumed_msgs_per_s = 1000;
    for (int v = 1; v <= 1000; ++v) {
      run.engine.end_to_end_latency.record(uint64_t(v) * 1000);
      run.engine.publish_latency.record(uint64_t(v) * 500);
    }
    run.engine.delivery.sent = 1000;
    run.engine.delivery.received = 1000;
    result.runs.push_back(run);
  }
  return result;
}

TEST(HdrExport, IntervalLogPerRunInTheLogFormat) {
  const ExperimentResult result = two_runs();
  auto files = export_hdr_logs(to_json(result));
  ASSERT_TRUE(files.ok()) << files.error();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].name, "20261125-063512-7f3a.fast.hlog");
  std::istringstream lines((*files)[0].content);
  std::string line;
  std::vector<std::string> data;
  bool start_time = false, legend = false;
  while (std::getline(lines, line)) {
    if (line.rfind("#[StartTime: 1795588512.000 (seconds since epoch)", 0) == 0) start_time = true;
    if (line.rfind("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\"", 0) == 0)
      legend = true;
    if (line.rfind("Tag=", 0) == 0) data.push_back(line);
  }
  EXPECT_TRUE(start_time) << (*files)[0].content;
  EXPECT_TRUE(legend);
  ASSERT_EQ(data.size(), 2u);
  for (size_t i = 0; i < data.size(); ++i) {
    // Tag=NAME,start,length,max,histogram
    std::vector<std::string> fields;
    std::istringstream in(data[i]);
    for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
    ASSERT_EQ(fields.size(), 5u) << data[i];
    EXPECT_EQ(fields[0], i == 0 ? "Tag=e2e" : "Tag=publish");
    EXPECT_EQ(fields[1], "0.000");
    EXPECT_EQ(fields[2], "10.000");
    EXPECT_EQ(fields[3], i == 0 ? "1.000" : "0.500") << "max in milliseconds";
    const Decoded decoded = decode_compressed_base64(fields[4]);
    EXPECT_EQ(decoded.total, 1000);
    const auto& source =
        i == 0 ? result.runs[0].engine.end_to_end_latency : result.runs[0].engine.publish_latency;
    EXPECT_NEAR(static_cast<double>(decoded.value_at_percentile(99)),
                static_cast<double>(source.percentile(99)), source.percentile(99) * 0.01);
  }
  auto combined = export_hdr_log(to_json(result));
  ASSERT_TRUE(combined.ok());
  EXPECT_NE(combined->find("\nTag=slow/publish,"), std::string::npos) << *combined;
}

TEST(HdrExport, CsvHasOneRowPerRun) {
  auto csv = export_runs_csv(to_json(two_runs()));
  ASSERT_TRUE(csv.ok()) << csv.error();
  std::istringstream lines(*csv);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 3u) << *csv;
  EXPECT_EQ(rows[0].rfind("system,driver,emulated,status,", 0), 0u) << rows[0];
  EXPECT_NE(rows[0].find(",p99_us,"), std::string::npos);
  EXPECT_NE(rows[0].find(",lost,"), std::string::npos);
  EXPECT_EQ(rows[1].rfind("fast,redis,false,succeeded,", 0), 0u) << rows[1];
  EXPECT_NE(rows[1].find("hiredis 0.14.1"), std::string::npos);
  const auto columns = [](const std::string& row) {
    return std::count(row.begin(), row.end(), ',');
  };
  EXPECT_EQ(columns(rows[0]), columns(rows[1]));
}

// The CSV carries what the table shows: p99.99, consumed MB/s and whether each target was met.
TEST(HdrExport, CsvHasTheTailConsumedBandwidthAndTargets) {
  ExperimentResult result = two_runs();
  result.targets.p99_latency = std::chrono::milliseconds(1);  // both runs: p99 about 990 us
  result.targets.min_throughput = 900;
  result.runs[0].engine.consumed_mb_per_s = 1.25;
  result.runs[1].engine.consumed_msgs_per_s = 500;  // misses the throughput target
  auto csv = export_runs_csv(to_json(result));
  ASSERT_TRUE(csv.ok()) << csv.error();
  std::istringstream lines(*csv);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  ASSERT_EQ(rows.size(), 3u) << *csv;
  auto column = [&](const std::string& name) {
    auto it = std::find(rows[0].begin(), rows[0].end(), name);
    EXPECT_NE(it, rows[0].end()) << name << " missing from " << *csv;
    return static_cast<size_t>(it - rows[0].begin());
  };
  for (const auto& row : rows) ASSERT_EQ(row.size(), rows[0].size()) << *csv;
  EXPECT_EQ(rows[1][column("consumed_mb_per_s")], "1.25");
  EXPECT_FALSE(rows[1][column("p9999_us")].empty());
  EXPECT_FALSE(rows[1][column("publish_p9999_us")].empty());
  EXPECT_EQ(rows[1][column("target_p99_latency_us")], "1000");
  EXPECT_EQ(rows[1][column("p99_latency_met")], "true");
  EXPECT_EQ(rows[1][column("target_min_throughput")], "900");
  EXPECT_EQ(rows[1][column("min_throughput_met")], "true");
  EXPECT_EQ(rows[1][column("targets_met")], "true");
  EXPECT_EQ(rows[2][column("min_throughput_met")], "false");
  EXPECT_EQ(rows[2][column("targets_met")], "false");
  // Without targets the columns are empty, not "false".
  auto untargeted = export_runs_csv(to_json(two_runs()));
  ASSERT_TRUE(untargeted.ok());
  EXPECT_NE(untargeted->find(",,,,,\n"), std::string::npos) << *untargeted;
}

TEST(HdrExport, NotAResultIsAnError) {
  EXPECT_FALSE(export_hdr_logs("{}").ok());
  EXPECT_FALSE(export_runs_csv("not json").ok());
}

}  // namespace
}  // namespace dec::report
