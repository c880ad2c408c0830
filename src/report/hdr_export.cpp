#include "report/hdr_export.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/guarded.h"

namespace dec::report {
namespace {

using json = nlohmann::ordered_json;

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void put_u64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

// HdrHistogram's "LEB128-64b9B": 7 bits per byte for the first 8 bytes, then a 9th byte with
// the remaining 8 bits, so any 64-bit value takes at most 9 bytes. The value is ZigZag-encoded
// first, so the negative run lengths of zeros stay short.
void put_zigzag(std::string& out, int64_t signed_value) {
  uint64_t value =
      (static_cast<uint64_t>(signed_value) << 1) ^ static_cast<uint64_t>(signed_value >> 63);
  for (int byte = 0; byte < 8; ++byte) {
    if (value < 0x80) {
      out.push_back(static_cast<char>(value));
      return;
    }
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::string encode_v2(const metrics::Histogram& histogram) {
  using metrics::Histogram;
  // Counts up to the bucket of the largest value, as HdrHistogram writes them.
  const size_t limit = histogram.empty() ? 0 : Histogram::bucket_index(histogram.max()) + 1;
  std::string payload;
  for (size_t index = 0; index < limit;) {
    const uint64_t count = histogram.count_at_index(index++);
    if (count != 0) {
      put_zigzag(payload, static_cast<int64_t>(count));
      continue;
    }
    int64_t zeros = 1;
    while (index < limit && histogram.count_at_index(index) == 0) {
      ++zeros;
      ++index;
    }
    put_zigzag(payload, zeros > 1 ? -zeros : 0);
  }
  std::string out;
  put_u32(out, kHdrV2EncodingCookie);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, 0);  // normalizingIndexOffset: dec never shifts its histogram
  put_u32(out, kHdrSignificantDigits);
  put_u64(out, 1);                     // lowestDiscernibleValue
  put_u64(out, Histogram::kMaxValue);  // highestTrackableValue
  double ratio = 1.0;                  // integerToDoubleValueConversionRatio
  uint64_t ratio_bits = 0;
  std::memcpy(&ratio_bits, &ratio, sizeof ratio);
  put_u64(out, ratio_bits);
  return out + payload;
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string fixed3(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", value);
  return buffer;
}

// "2026-11-25T06:35:12Z" -> seconds since the epoch; 0 when unreadable.
double epoch_seconds(const std::string& iso) {
  std::tm tm{};
  std::istringstream in(iso);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return 0;
  return static_cast<double>(timegm(&tm));
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string number_text(const json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number()) {
    std::ostringstream out;
    out << value.get<double>();
    return out.str();
  }
  return "";
}

Result<json> parse_results(const std::string& results_json) {
  json doc = json::parse(results_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("runs") || !doc["runs"].is_array()) {
    return make_error("results are not a dec results document (no \"runs\" list)");
  }
  return doc;
}

}  // namespace

std::string hdr_compressed_base64(const metrics::Histogram& histogram) {
  const std::string encoded = encode_v2(histogram);
  uLongf compressed_size = compressBound(static_cast<uLong>(encoded.size()));
  std::string compressed(compressed_size, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size,
            reinterpret_cast<const Bytef*>(encoded.data()), static_cast<uLong>(encoded.size()),
            Z_DEFAULT_COMPRESSION);
  compressed.resize(compressed_size);
  std::string out;
  put_u32(out, kHdrV2CompressedEncodingCookie);
  put_u32(out, static_cast<uint32_t>(compressed.size()));
  return base64(out + compressed);
}

namespace {

// An interval log holding `runs` of the results; each run's tags are prefixed with `prefix(run)`.
Result<std::string> hdr_log(const json& doc, const std::vector<const json*>& runs,
                            const std::function<std::string(const json&)>& prefix) {
  const std::string started_at = doc.value("started_at", "");
  std::string log = "#[Histogram log format version 1.3]\n";
  log += "#[Logged with dec, experiment " + doc.value("id", std::string()) +
         "; values in nanoseconds, Interval_Max in milliseconds]\n";
  log += "#[StartTime: " + fixed3(epoch_seconds(started_at)) + " (seconds since epoch), " +
         started_at + "]\n";
  log +=
      "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
      "\"Interval_Compressed_Histogram\"\n";
  for (const json* run : runs) {
    const std::string run_id = run->value("run_id", "");
    const json& histograms = run->contains("histograms") ? (*run)["histograms"] : json::object();
    const double measured_s = run->value("measured_s", 0.0);
    for (const auto& [tag, key] :
         {std::pair<const char*, const char*>{"e2e", "end_to_end_ns"}, {"publish", "publish_ns"}}) {
      if (!histograms.contains(key) || !histograms[key].is_string()) continue;
      auto histogram = metrics::Histogram::deserialize(histograms[key].get<std::string>());
      if (!histogram) {
        return make_error("run " + run_id + ": histograms." + key + ": " + histogram.error());
      }
      // The interval is the measured window, relative to StartTime; Interval_Max is in
      // milliseconds, the log writer's default unit ratio (10^6 for nanosecond values).
      log += "Tag=" + prefix(*run) + tag + ",0.000," + fixed3(measured_s) + "," +
             fixed3(static_cast<double>(histogram->max()) / 1e6) + "," +
             hdr_compressed_base64(*histogram) + "\n";
    }
  }
  return log;
}

// Tags may hold neither commas nor white space.
std::string tag_safe(std::string text) {
  for (char& c : text) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) c = '_';
  }
  return text;
}

}  // namespace

static Result<std::vector<ExportFile>> export_hdr_logs_unguarded(const std::string& results_json) {
  auto doc = parse_results(results_json);
  if (!doc) return make_error(doc.error());
  std::vector<ExportFile> files;
  for (const auto& run : (*doc)["runs"]) {
    const std::string run_id = run.value("run_id", "");
    auto log = hdr_log(*doc, {&run}, [](const json&) { return std::string(); });
    if (!log) return make_error(log.error());
    files.push_back({(run_id.empty() ? run.value("system", "run") : run_id) + ".hlog", *log});
  }
  return files;
}

static Result<std::string> export_hdr_log_unguarded(const std::string& results_json) {
  auto doc = parse_results(results_json);
  if (!doc) return make_error(doc.error());
  std::vector<const json*> runs;
  for (const auto& run : (*doc)["runs"]) runs.push_back(&run);
  return hdr_log(*doc, runs,
                 [](const json& run) { return tag_safe(run.value("system", "run")) + "/"; });
}

static Result<std::string> export_runs_csv_unguarded(const std::string& results_json) {
  auto doc = parse_results(results_json);
  if (!doc) return make_error(doc.error());
  const std::vector<std::string> throughput = {"produced_msgs_per_s", "consumed_msgs_per_s",
                                               "produced_mb_per_s", "consumed_mb_per_s"};
  const std::vector<std::string> percentiles = {"mean", "p50",   "p90", "p99",
                                                "p999", "p9999", "max"};
  const std::vector<std::string> delivery = {"sent",        "acked",      "send_errors", "received",
                                             "lost",        "duplicated", "reordered",   "corrupt",
                                             "undelivered", "redelivered"};
  // The first columns are those the server's results.csv always had.
  std::string out =
      "system,driver,emulated,status,provider,served_by,client_library,experiment_id,run_id";
  for (const auto& key : throughput) out += "," + key;
  for (const auto& key : percentiles) out += "," + key + "_us";
  for (const auto& key : percentiles) out += ",publish_" + key + "_us";
  for (const auto& key : delivery) out += "," + key;
  // The spec's targets: each limit, whether the run met it, and all of them at once ("" when the
  // spec set none).
  out +=
      ",target_p99_latency_us,p99_latency_met,target_min_throughput,min_throughput_met,"
      "targets_met";
  out += "\n";
  const json empty = json::object();
  auto section = [&](const json& run, const char* key) -> const json& {
    return run.contains(key) && run[key].is_object() ? run[key] : empty;
  };
  auto cell = [](const json& object, const std::string& key) {
    return object.contains(key) ? number_text(object[key]) : std::string();
  };
  for (const auto& run : (*doc)["runs"]) {
    out += csv_field(run.value("system", "")) + "," + csv_field(run.value("driver", "")) + "," +
           (run.value("emulated", false) ? "true" : "false") + "," +
           csv_field(run.value("status", ""));
    for (const char* key : {"provider", "served_by", "client_library"}) {
      out += "," + csv_field(run.value(key, ""));
    }
    out += "," + csv_field(doc->value("id", "")) + "," + csv_field(run.value("run_id", ""));
    for (const auto& key : throughput) out += "," + cell(section(run, "throughput"), key);
    for (const auto& key : percentiles) out += "," + cell(section(run, "latency_us"), key);
    for (const auto& key : percentiles) out += "," + cell(section(run, "publish_latency_us"), key);
    for (const auto& key : delivery) out += "," + cell(section(run, "delivery"), key);
    const json& targets = section(run, "targets");
    auto met = [&](const char* key) {
      return targets.contains(key) ? std::string(targets[key].get<bool>() ? "true" : "false")
                                   : std::string();
    };
    out += "," + cell(targets, "p99_latency_us") + "," + met("p99_latency_met") + "," +
           cell(targets, "min_throughput") + "," + met("min_throughput_met") + ",";
    bool any_target = false;
    bool all_met = true;
    for (const char* key : {"p99_latency_met", "min_throughput_met"}) {
      if (!targets.contains(key)) continue;
      any_target = true;
      all_met = all_met && targets[key].get<bool>();
    }
    if (any_target) out += all_met ? "true" : "false";
    out += "\n";
  }
  return out;
}

Result<std::vector<ExportFile>> export_hdr_logs(const std::string& results_json) {
  return reading_results<std::vector<ExportFile>>(
      [&] { return export_hdr_logs_unguarded(results_json); });
}

Result<std::string> export_hdr_log(const std::string& results_json) {
  return reading_results<std::string>([&] { return export_hdr_log_unguarded(results_json); });
}

Result<std::string> export_runs_csv(const std::string& results_json) {
  return reading_results<std::string>([&] { return export_runs_csv_unguarded(results_json); });
}

}  // namespace dec::report
