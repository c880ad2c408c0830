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

// Horizontal bars, one per system, scaled to the largest value.
std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<std::pair<std::string, double>>& bars) {
  const int bar_height = 22, label_width = 180, chart_width = 420, gap = 8;
  double max_value = 0;
  for (const auto& [name, value] : bars) max_value = std::max(max_value, value);
  const int height = static_cast<int>(bars.size()) * (bar_height + gap) + 30;
  std::ostringstream svg;
  svg << "<figure><figcaption>" << escape(title)
      << "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
      << label_width + chart_width + 120 << "\" height=\"" << height << "\" role=\"img\">";
  int y = 10;
  for (const auto& [name, value] : bars) {
    const double width = max_value > 0 ? chart_width * value / max_value : 0;
    std::ostringstream figure;
    figure << std::fixed << std::setprecision(value >= 100 ? 0 : 2) << value << " " << unit;
    svg << "<text x=\"0\" y=\"" << y + 15 << "\" font-size=\"13\">" << escape(name) << "</text>"
        << "<rect x=\"" << label_width << "\" y=\"" << y << "\" width=\"" << std::max(1.0, width)
        << "\" height=\"" << bar_height << "\" fill=\"#3b6ea8\"/>"
        << "<text x=\"" << label_width + width + 6 << "\" y=\"" << y + 15 << "\" font-size=\"12\">"
        << escape(figure.str()) << "</text>";
    y += bar_height + gap;
  }
  svg << "</svg></figure>";
  return svg.str();
}

}  // namespace

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error) {
  if (results_json.empty()) return make_error("no results yet");
  json doc = json::parse(results_json, nullptr, false);
  if (doc.is_discarded()) return make_error("stored results are not valid JSON");
  auto table = report::comparison_table(results_json);
  if (!table.ok()) return make_error(table.error());
  std::vector<std::pair<std::string, double>> throughput, p99, p50;
  bool emulated = false;
  for (const auto& run : doc.value("runs", json::array())) {
    std::string name = run.value("system", "?");
    if (run.value("emulated", false)) {
      name += " (EMULATED)";
      emulated = true;
    }
    const json& t = run.value("throughput", json::object());
    const json& l = run.value("latency_us", json::object());
    throughput.emplace_back(name, t.value("consumed_msgs_per_s", 0.0));
    p50.emplace_back(name, l.value("p50", 0.0) / 1000.0);
    p99.emplace_back(name, l.value("p99", 0.0) / 1000.0);
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
