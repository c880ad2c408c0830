// A self-contained HTML comparison report (no external scripts, styles or fonts): the same
// table as the CLI plus inline SVG bar charts of throughput and latency per run. A sweep (results
// with "stats") also gets its points' matrix values, each point and system's mean ± 95 %
// confidence interval (a table, and line charts of throughput and p99 against the varied value
// with whiskers), and the comparisons' verdicts in words. All text from the results is escaped.
//
// With `bundle_path` naming the web app's report bundle (web/dist/report/report.js, built by
// `npm --prefix web run build`), the page also inlines that script and the results with every
// run's percentile curves (report/percentiles.h) as <script type="application/json"
// id="dec-results">, and the bundle draws the web app's interactive charts from them: the file
// still needs no network. The SVG charts then move into <noscript>; the text tables stay either
// way. Without a readable bundle the page is SVG only and says how to get the interactive charts.
#pragma once

#include <string>

#include "core/result.h"

namespace dec::server {

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error,
                                       const std::string& bundle_path = "");

// JSON text made safe inside an HTML <script> element: '<', '>' and '&' (which JSON has only in
// strings) become \u escapes, so no "</script" or "<!--" can end or change the element.
std::string script_safe_json(const std::string& json_text);

}  // namespace dec::server
