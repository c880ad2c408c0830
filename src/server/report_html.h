// A self-contained HTML comparison report (no external scripts, styles or fonts): the same
// table as the CLI plus inline SVG bar charts of throughput and latency per system.
#pragma once

#include <string>

#include "core/result.h"

namespace dec::server {

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error);

}  // namespace dec::server
