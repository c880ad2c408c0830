#include "server/report_html.h"

#include <algorithm>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/results.h"

namespace dec::server {
namespace {

using json = nlohmann::ordered_json;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One bar: a figure the run measured (possibly only a lower bound), or nothing to draw.
struct Bar {
  std::string name;
  double value = 0;
  bool measured = false;
  bool lower_bound = false;  // censored samples reach this percentile: the value is a minimum
};

// Horizontal bars, one per system, scaled to the largest value. A run that measured nothing
// gets no bar (a zero-length bar would read as the best latency); a lower bound is marked ">=".
std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<Bar>& bars) {
  const int bar_height = 22, label_width = 180, chart_width = 420, gap = 8;
  double max_value = 0;
  for (const auto& bar : bars) {
    if (bar.measured) max_value = std::max(max_value, bar.value);
  }
  const int height = static_cast<int>(bars.size()) * (bar_height + gap) + 30;
  std::ostringstream svg;
  svg << "<figure><figcaption>" << escape(title)
      << "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
      << label_width + chart_width + 120 << "\" height=\"" << height << "\" role=\"img\">";
  int y = 10;
  for (const auto& bar : bars) {
    const double width = bar.measured && max_value > 0 ? chart_width * bar.value / max_value : 0;
    std::ostringstream figure;
    if (bar.measured) {
      figure << (bar.lower_bound ? "\u2265 " : "") << std::fixed
             << std::setprecision(bar.value >= 100 ? 0 : 2) << bar.value << " " << unit;
    } else {
      figure << "not measured";
    }
    svg << "<text x=\"0\" y=\"" << y + 15 << "\" font-size=\"13\">" << escape(bar.name)
        << "</text>";
    if (bar.measured) {
      svg << "<rect x=\"" << label_width << "\" y=\"" << y << "\" width=\"" << std::max(1.0, width)
          << "\" height=\"" << bar_height << "\" fill=\""
          << (bar.lower_bound ? "#a8663b" : "#3b6ea8") << "\"/>";
    }
    svg << "<text x=\"" << label_width + width + 6 << "\" y=\"" << y + 15 << "\" font-size=\"12\">"
        << escape(figure.str()) << "</text>";
    y += bar_height + gap;
  }
  svg << "</svg></figure>";
  return svg.str();
}

// The same rule as the table's: percentile p is a lower bound when its rank falls among the
// censored samples.
bool percentile_is_lower_bound(const json& latency, double percentile) {
  const double count = latency.value("count", 0.0);
  const double censored = latency.value("censored", 0.0);
  return censored > 0 && count > 0 && percentile / 100.0 > 1.0 - censored / count;
}

}  // namespace

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error) {
  if (results_json.empty()) return make_error("no results yet");
  json doc = json::parse(results_json, nullptr, false);
  if (doc.is_discarded()) return make_error("stored results are not valid JSON");
  auto table = report::comparison_table(results_json);
  if (!table.ok()) return make_error(table.error());
  std::vector<Bar> throughput, p99, p50;
  bool emulated = false;
  const bool consumed = doc.value("workload", json::object()).value("consumers", 1) > 0;
  // A sweep has several runs per system: each bar names its point and repeat too.
  const bool sweep = doc.contains("stats");
  for (const auto& run : doc.value("runs", json::array())) {
    std::string name = run.value("system", "?");
    if (sweep) {
      name = "p" + std::to_string(run.value("point", 0)) + ".r" +
             std::to_string(run.value("repeat", 0)) + " " + name;
    }
    if (run.value("emulated", false)) {
      name += " (EMULATED)";
      emulated = true;
    }
    const bool succeeded = run.value("status", "") == "succeeded";
    const json& t = run.value("throughput", json::object());
    const json& l = run.value("latency_us", json::object());
    const bool has_latency = succeeded && consumed && l.value("count", 0) > 0;
    throughput.push_back({name, t.value("consumed_msgs_per_s", 0.0), succeeded && consumed, false});
    p50.push_back(
        {name, l.value("p50", 0.0) / 1000.0, has_latency, percentile_is_lower_bound(l, 50)});
    p99.push_back(
        {name, l.value("p99", 0.0) / 1000.0, has_latency, percentile_is_lower_bound(l, 99)});
  }
  std::ostringstream html;
  const std::string title = "dec: " + doc.value("experiment", std::string("experiment"));
  html << "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape(title)
       << "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
          "pre{background:#f4f4f4;padding:1em;overflow-x:auto}figure{margin:1em 0}"
          "figcaption{font-weight:bold;margin-bottom:.3em}.warn{color:#a33}</style></head><body>"
       << "<h1>" << escape(title) << "</h1><p>Experiment <code>" << escape(doc.value("id", ""))
       << "</code>, state <b>" << escape(state) << "</b>"
       << (error.empty() ? "" : " (" + escape(error) + ")") << "</p>";
  if (emulated) {
    html << "<p class=\"warn\">Systems marked EMULATED ran on a local stand-in that speaks the "
            "product's protocol; their figures are not the product's performance.</p>";
  }
  html << bar_chart("Consumed throughput (higher is better)", "msg/s", throughput)
       << bar_chart("End-to-end latency p50 (lower is better)", "ms", p50)
       << bar_chart("End-to-end latency p99 (lower is better)", "ms", p99)
       << "<h2>Comparison</h2><pre>" << escape(*table) << "</pre></body></html>\n";
  return html.str();
}

}  // namespace dec::server
