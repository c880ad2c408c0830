#include "report/percentiles.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "report/guarded.h"

namespace dec::report {

using json = nlohmann::ordered_json;

namespace {

// The table's percentiles (report/results.cpp latency_json), visited besides HdrHistogram's.
constexpr std::array<double, 5> kTableLevels = {50, 90, 99, 99.9, 99.99};

// HdrHistogram's PercentileIterator: after `level`, the next one is a 1/ticks step of the
// current half-distance to 100 %.
double next_hdr_level(double level, int ticks_per_half_distance) {
  const double halvings = std::floor(std::log2(100.0 / (100.0 - level)));
  const double ticks = ticks_per_half_distance * std::pow(2.0, halvings + 1);
  return level + 100.0 / ticks;
}

// Microseconds as latency_json writes them (one decimal), so curve and table agree exactly.
double microseconds(uint64_t ns) {
  const double scale = std::pow(10.0, 1);
  return std::round(static_cast<double>(ns) / 1000.0 * scale) / scale;
}

json curve_json(const metrics::Histogram& histogram, uint64_t censored, int ticks) {
  const uint64_t count = histogram.count();
  censored = std::min(censored, count);
  json points = json::array();
  json lower_bound_from = nullptr;
  for (const PercentilePoint& point : percentile_distribution(histogram, censored, ticks)) {
    if (point.lower_bound && lower_bound_from.is_null()) lower_bound_from = point.percentile;
    points.push_back({{"percentile", point.percentile},
                      {"value_us", microseconds(point.value_ns)},
                      {"count", point.count},
                      {"lower_bound", point.lower_bound}});
  }
  return {{"count", count},
          {"censored", censored},
          {"lower_bound_from", lower_bound_from},
          {"points", std::move(points)}};
}

uint64_t censored_of(const json& run, const char* summary_key) {
  if (!run.contains(summary_key) || !run[summary_key].is_object()) return 0;
  const json& censored = run[summary_key].value("censored", json(0));
  return censored.is_number_unsigned() ? censored.get<uint64_t>() : 0;
}

}  // namespace

std::vector<PercentilePoint> percentile_distribution(const metrics::Histogram& histogram,
                                                     uint64_t censored,
                                                     int ticks_per_half_distance) {
  std::vector<PercentilePoint> points;
  const uint64_t count = histogram.count();
  if (count == 0) return points;
  censored = std::min(censored, count);
  ticks_per_half_distance = std::max(ticks_per_half_distance, 1);
  auto is_lower_bound = [&](uint64_t rank) { return censored > 0 && rank > count - censored; };

  double hdr_level = 0;
  size_t table_level = 0;
  uint64_t cumulative = 0;
  size_t next_index = 0;
  size_t bucket = 0;
  // Bounded: levels approach 100 % geometrically, and the last bucket ends the walk long before
  // the steps drop below a double's precision; the cap only guards against that never happening.
  for (int step = 0; step < 100000; ++step) {
    const double level = table_level < kTableLevels.size()
                             ? std::min(hdr_level, kTableLevels[table_level])
                             : hdr_level;
    // The rank Histogram::percentile takes for this level.
    uint64_t rank = static_cast<uint64_t>(std::ceil(level / 100.0 * static_cast<double>(count)));
    rank = std::clamp<uint64_t>(rank, 1, count);
    while (cumulative < rank && next_index < metrics::Histogram::kBucketCount) {
      const uint64_t here = histogram.count_at_index(next_index);
      if (here != 0) {
        cumulative += here;
        bucket = next_index;
      }
      ++next_index;
    }
    const uint64_t value = level <= 0 ? histogram.min() : histogram.reported_value_at_index(bucket);
    points.push_back({level, value, cumulative, is_lower_bound(rank)});
    if (cumulative >= count) break;  // the last bucket: HdrHistogram's one step left is 100 %
    constexpr double kSame = 1e-9;
    if (hdr_level <= level + kSame) hdr_level = next_hdr_level(hdr_level, ticks_per_half_distance);
    while (table_level < kTableLevels.size() && kTableLevels[table_level] <= level + kSame) {
      ++table_level;
    }
  }
  points.push_back({100.0, histogram.max(), count, censored > 0});
  return points;
}

static Result<std::string> percentile_curves_unguarded(const std::string& results_json,
                                                       int ticks_per_half_distance);

Result<std::string> percentile_curves(const std::string& results_json,
                                      int ticks_per_half_distance) {
  return reading_results<std::string>(
      [&] { return percentile_curves_unguarded(results_json, ticks_per_half_distance); });
}

static Result<std::string> percentile_curves_unguarded(const std::string& results_json,
                                                       int ticks_per_half_distance) {
  const json doc = json::parse(results_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("runs") || !doc["runs"].is_array()) {
    return make_error("results are not a dec results document (no \"runs\" list)");
  }
  json runs = json::array();
  for (const json& run : doc["runs"]) {
    if (!run.is_object()) return make_error("results: a run is not an object");
    const std::string run_id = run.value("run_id", "");
    json entry = {{"run_id", run_id},
                  {"system", run.value("system", "")},
                  {"point", run.value("point", 0)},
                  {"repeat", run.value("repeat", 0)},
                  {"status", run.value("status", "")}};
    const json histograms =
        run.contains("histograms") && run["histograms"].is_object() ? run["histograms"] : json();
    for (const auto& [name, key, summary] : {std::tuple<const char*, const char*, const char*>{
                                                 "end_to_end", "end_to_end_ns", "latency_us"},
                                             {"publish", "publish_ns", "publish_latency_us"}}) {
      if (!histograms.is_object() || !histograms.contains(key) || !histograms[key].is_string()) {
        entry[name] = nullptr;
        continue;
      }
      auto histogram = metrics::Histogram::deserialize(histograms[key].get<std::string>());
      if (!histogram) {
        return make_error("run " + run_id + ": histograms." + key + ": " + histogram.error());
      }
      entry[name] = curve_json(*histogram, censored_of(run, summary), ticks_per_half_distance);
    }
    runs.push_back(std::move(entry));
  }
  json out = {
      {"id", doc.value("id", "")},
      {"experiment", doc.value("experiment", "")},
      {"contains",
       "Latency by percentile from each run's whole histogram (end-to-end: intended send to "
       "received; publish: intended send to acknowledged), HdrHistogram-style: levels from 0 % "
       "in " +
           std::to_string(ticks_per_half_distance) +
           " steps per halving of the distance to 100 %, plus the table's p50, p90, p99, p99.9 and "
           "p99.99, then 100 % (the maximum). Values are read as the table reads them (bucket "
           "midpoint, within 0.4 %; exact min and max), in microseconds. Messages not received "
           "or acknowledged by the deadline are counted as deadline minus intended send time: "
           "a point whose rank falls among them has lower_bound true (the true latency is at "
           "least the value), and lower_bound_from is the first such percentile."},
      {"unit", "us"},
      {"ticks_per_half_distance", ticks_per_half_distance},
      {"runs", std::move(runs)}};
  return out.dump();
}

}  // namespace dec::report
