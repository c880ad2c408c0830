// A self-contained HTML comparison report (no external scripts, styles or fonts): the same
// table as the CLI plus inline SVG bar charts of throughput and latency per run. A sweep (results
// with "stats") also gets its points' matrix values, each point and system's mean ± 95 %
// confidence interval (a table, and line charts of throughput and p99 against the varied value
// with whiskers), and the comparisons' verdicts in words. All text from the results is escaped.
#pragma once

#include <string>

#include "core/result.h"

namespace dec::server {

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error);

}  // namespace dec::server
