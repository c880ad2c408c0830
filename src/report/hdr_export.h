// Export of results in formats other tools read: HdrHistogram's interval log (.hlog, read by
// HdrHistogram's HistogramLogProcessor / plotter and HistogramLogAnalyzer) and a CSV of runs.
//
// dec's histogram (metrics/histogram.h) has HdrHistogram's exact bucket layout for
// lowestDiscernibleValue 1, numberOfSignificantValueDigits 2 (256 sub-buckets, 128 per half)
// and highestTrackableValue 2^42 - 1, so the export copies counts index for index; nothing is
// re-binned. What differs is how a percentile is read from a bucket: dec reports the bucket's
// midpoint (clamped to the exact min and max), HdrHistogram its highest equivalent value, so
// HdrHistogram tools show values up to one bucket width (under 0.8%) above dec's table. dec's
// exact min, max and sum are not part of the encoding (the interval line carries the exact max).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "metrics/histogram.h"

namespace dec::report {

inline constexpr int kHdrSignificantDigits = 2;
inline constexpr uint32_t kHdrV2EncodingCookie = 0x1c849303 | 0x10;            // 0x1c849313
inline constexpr uint32_t kHdrV2CompressedEncodingCookie = 0x1c849304 | 0x10;  // 0x1c849314

// The V2 encoding ("HISTFAAA..."): big-endian header, ZigZag LEB128 counts with runs of
// zeros as negative numbers, zlib-compressed behind the compressed cookie, in base64.
std::string hdr_compressed_base64(const metrics::Histogram& histogram);

struct ExportFile {
  std::string name;  // file name, no directory
  std::string content;
};

// One "<run id>.hlog" per run of the results JSON (report::to_json): tag "e2e" (end-to-end
// latency) and "publish" (send to acknowledgement), one interval covering the measured window,
// values in nanoseconds, Interval_Max in milliseconds (the log writer's default ratio).
Result<std::vector<ExportFile>> export_hdr_logs(const std::string& results_json);
// All runs in one interval log, tags "<system>/e2e" and "<system>/publish" (what the server
// serves: one file per request).
Result<std::string> export_hdr_log(const std::string& results_json);
// One row per run: system, driver, throughput (msg/s and MB/s, produced and consumed), latency
// percentiles (µs, p50 to p99.99 and max), delivery counts, and the spec's targets: each limit,
// whether it was met, and targets_met ("" without targets).
Result<std::string> export_runs_csv(const std::string& results_json);

}  // namespace dec::report
