#include "server/report_html.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "report/guarded.h"
#include "report/percentiles.h"
#include "report/results.h"
#include "report/stats.h"
#include "server/html.h"

namespace dec::server {
namespace {

using json = nlohmann::ordered_json;

std::string escape(const std::string& text) { return html_escape(text); }

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

// ---- A sweep: points, repeats, intervals and verdicts ------------------------------------------

const json& member(const json& object, const char* key) {
  static const json kMissing;
  return object.is_object() && object.contains(key) ? object[key] : kMissing;
}

std::optional<double> number_of(const json& object, const char* key) {
  const json& value = member(object, key);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

std::string text_of(const json& object, const char* key, const std::string& fallback = "") {
  const json& value = member(object, key);
  return value.is_string() ? value.get<std::string>() : fallback;
}

size_t point_of(const json& object) {
  const json& value = member(object, "point");
  return value.is_number_unsigned() ? value.get<size_t>() : 0;
}

// A metric of the results JSON's "stats" (docs/results.md "Repeats and statistics").
struct SweepMetric {
  const char* key;
  const char* label;
  bool latency;  // microseconds, lower is better; else messages per second, higher is better
};

const std::vector<SweepMetric>& sweep_metrics() {
  static const std::vector<SweepMetric> kMetrics = {
      {"produced_msgs_per_s", "Produced throughput", false},
      {"consumed_msgs_per_s", "Consumed throughput", false},
      {"latency_p50_us", "End-to-end latency p50", true},
      {"latency_p99_us", "End-to-end latency p99", true},
      {"latency_p999_us", "End-to-end latency p99.9", true},
      {"publish_p99_us", "Publish latency p99", true}};
  return kMetrics;
}

// One point and system's figure: the mean over its runs and the 95 % interval's half-width.
struct Figure {
  size_t n = 0;
  double mean = 0;
  std::optional<double> ci95;  // none from one run
  bool lower_bound = false;
};

std::optional<Figure> figure_of(const json& stats_entry, const char* metric) {
  const json& summary = member(member(stats_entry, "metrics"), metric);
  const auto n = number_of(summary, "n");
  const auto mean = number_of(summary, "mean");
  if (!n || *n < 1 || !mean) return std::nullopt;
  return Figure{static_cast<size_t>(*n), *mean, number_of(summary, "ci95"),
                member(summary, "lower_bound") == json(true)};
}

// 12345.4 -> "12 345" (narrow no-break spaces between groups of three digits).
std::string grouped(double value) {
  const auto rounded = static_cast<long long>(std::llround(value));
  const std::string digits = std::to_string(rounded < 0 ? -rounded : rounded);
  std::string out = rounded < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += "\u202f";
    out += digits[i];
  }
  return out;
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// How a chart or cell shows a latency in microseconds: one unit for a mean and its interval.
struct LatencyUnit {
  const char* name;
  double per_us;
  int digits;
};

LatencyUnit latency_unit(double largest_us) {
  if (largest_us >= 1e6) return {"s", 1e-6, 2};
  if (largest_us >= 1e3) return {"ms", 1e-3, 2};
  return {"us", 1, largest_us < 100 ? 1 : 0};
}

// "12 345 ± 210 msg/s", "5.10 ± 0.25 ms", "≥ 5000.00 ms", "900 msg/s (one run)".
std::string figure_text(const Figure& figure, bool latency) {
  std::string text = figure.lower_bound ? "\u2265 " : "";
  if (latency) {
    const LatencyUnit unit = latency_unit(figure.mean);
    text += fixed(figure.mean * unit.per_us, unit.digits);
    if (figure.ci95) text += " \u00b1 " + fixed(*figure.ci95 * unit.per_us, unit.digits);
    text += std::string(" ") + unit.name;
  } else {
    text += grouped(figure.mean);
    if (figure.ci95) text += " \u00b1 " + grouped(*figure.ci95);
    text += " msg/s";
  }
  if (!figure.ci95 && figure.n == 1) text += " (one run)";
  return text;
}

// What a sweep's results say, gathered once from the JSON.
struct SweepView {
  std::vector<size_t> points;                                   // point indices, ascending
  std::vector<std::string> axes;                                // the matrix paths varied
  std::map<size_t, std::vector<std::string>> values;            // point -> value per axis
  std::vector<std::string> systems;                             // in the order they ran
  std::map<std::pair<size_t, std::string>, const json*> stats;  // (point, system) -> entry
  bool produce_only = false;

  // The varied values alone, for a chart's axis: "1KiB", "1KiB, all".
  std::string tick_label(size_t point) const {
    std::string label;
    auto it = values.find(point);
    for (size_t a = 0; it != values.end() && a < axes.size(); ++a) {
      label += (label.empty() ? "" : ", ") + it->second[a];
    }
    return label.empty() ? "p" + std::to_string(point) : label;
  }
  const char* throughput_key() const {
    return produce_only ? "produced_msgs_per_s" : "consumed_msgs_per_s";
  }
  const char* latency_key() const { return produce_only ? "publish_p99_us" : "latency_p99_us"; }
};

SweepView sweep_view(const json& doc) {
  SweepView view;
  view.produce_only = member(member(doc, "workload"), "consumers") == json(0);
  const json& points = member(doc, "points");
  if (points.is_array()) {
    for (const auto& point : points) {
      const json& values = member(point, "values");
      if (!values.is_object()) continue;
      for (const auto& [path, value] : values.items()) {
        if (std::find(view.axes.begin(), view.axes.end(), path) == view.axes.end()) {
          view.axes.push_back(path);
        }
      }
    }
    for (const auto& point : points) {
      std::vector<std::string> cells;
      for (const std::string& axis : view.axes) {
        const json& value = member(member(point, "values"), axis.c_str());
        cells.push_back(value.is_string() ? value.get<std::string>()
                        : value.is_null() ? ""
                                          : value.dump());
      }
      view.values[point_of(point)] = std::move(cells);
    }
  }
  for (const auto& entry : member(doc, "stats")) {
    const size_t point = point_of(entry);
    const std::string system = text_of(entry, "system", "?");
    if (std::find(view.points.begin(), view.points.end(), point) == view.points.end()) {
      view.points.push_back(point);
    }
    if (std::find(view.systems.begin(), view.systems.end(), system) == view.systems.end()) {
      view.systems.push_back(system);
    }
    view.stats[{point, system}] = &entry;
  }
  std::sort(view.points.begin(), view.points.end());
  return view;
}

// 0, 1, 2, 2.5 or 5 times a power of ten: the step of a readable axis up to `largest`.
double axis_step(double largest) {
  if (largest <= 0) return 1;
  const double rough = largest / 5;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (factor * power >= rough) return factor * power;
  }
  return 10 * power;
}

std::string axis_number(double value) {
  std::ostringstream out;
  out << std::setprecision(6) << value;
  std::string text = out.str();
  return value >= 10000 ? grouped(value) : text;
}

// Colour-blind-safe colours (Okabe and Ito) and dash patterns, so series differ in two ways.
constexpr std::array<const char*, 7> kSeriesColours = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                                       "#e69f00", "#56b4e9", "#000000"};
constexpr std::array<const char*, 3> kSeriesDashes = {"", "6 3", "2 3"};

// A line chart of one metric against the varied value: one series per system, a marker at each
// point's mean and a whisker over its 95 % confidence interval. The <title> and <desc> give
// screen readers the chart's content; the table after the charts has every figure.
std::string interval_chart(const SweepView& view, const SweepMetric& metric,
                           const std::string& id) {
  const double slot = 520.0 / static_cast<double>(view.points.size());
  // Labels wider than their slot are slanted (about 6.5 px a character at 11 px) and shortened;
  // the chart's <desc> and the tables have them in full.
  constexpr size_t kLongestTick = 40;
  size_t longest = 0;
  for (size_t point : view.points) longest = std::max(longest, view.tick_label(point).size());
  longest = std::min(longest, kLongestTick);
  const bool slanted = static_cast<double>(longest) * 6.5 > slot - 4;
  const int left = 80, right = 170, top = 16, plot_width = 520, plot_height = 240;
  const int ticks_height = slanted ? 10 + static_cast<int>(static_cast<double>(longest) * 3.8) : 16;
  const int bottom = ticks_height + 40;
  const int width = left + plot_width + right, height = top + plot_height + bottom;
  double largest = 0;
  for (const auto& [key, entry] : view.stats) {
    if (auto figure = figure_of(*entry, metric.key)) {
      largest = std::max(largest, figure->mean + figure->ci95.value_or(0));
    }
  }
  const LatencyUnit unit = latency_unit(largest);
  const double scale = metric.latency ? unit.per_us : 1.0;
  const std::string unit_name = metric.latency ? unit.name : "msg/s";
  const double step = axis_step(largest * scale);
  const double y_max = std::max(step, std::ceil(largest * scale / step) * step);
  auto y_of = [&](double value) { return top + plot_height * (1 - value * scale / y_max); };
  auto x_of = [&](size_t index, size_t series) {
    // Series side by side around the point, so their whiskers do not hide each other.
    const double dodge =
        (static_cast<double>(series) - static_cast<double>(view.systems.size() - 1) / 2.0) *
        std::min(8.0, slot / static_cast<double>(view.systems.size() + 1));
    return left + slot * (static_cast<double>(index) + 0.5) + dodge;
  };

  const std::string title = metric.label + std::string(", mean with 95 % confidence interval (") +
                            (metric.latency ? "lower" : "higher") + " is better)";
  std::string axis_title;
  for (const std::string& axis : view.axes) axis_title += (axis_title.empty() ? "" : ", ") + axis;
  if (axis_title.empty()) axis_title = "point";
  std::string description;
  for (const std::string& system : view.systems) {
    description += system + ":";
    for (size_t p : view.points) {
      auto it = view.stats.find({p, system});
      auto figure = it == view.stats.end() ? std::nullopt : figure_of(*it->second, metric.key);
      description += " " + view.tick_label(p) + " " +
                     (figure ? figure_text(*figure, metric.latency) : "not measured") + ";";
    }
    description += " ";
  }

  std::ostringstream svg;
  svg << std::fixed << std::setprecision(1);
  svg << "<figure><figcaption>" << escape(title) << "</figcaption>"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" role=\"img\" aria-labelledby=\"" << id << "-title " << id
      << "-desc\"><title id=\"" << id << "-title\">" << escape(title) << " against "
      << escape(axis_title) << "</title><desc id=\"" << id << "-desc\">" << escape(description)
      << "</desc>";
  // Grid, y ticks and axes.
  const long long tick_count = std::llround(y_max / step);
  for (long long i = 0; i <= tick_count; ++i) {
    const double tick = static_cast<double>(i) * step;
    const double y = y_of(tick / scale);
    svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + plot_width << "\" y2=\""
        << y << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y + 4
        << "\" font-size=\"11\" text-anchor=\"end\">" << escape(axis_number(tick)) << "</text>";
  }
  svg << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\""
      << top + plot_height << "\" stroke=\"#444\"/><line x1=\"" << left << "\" y1=\""
      << top + plot_height << "\" x2=\"" << left + plot_width << "\" y2=\"" << top + plot_height
      << "\" stroke=\"#444\"/>";
  svg << "<text x=\"14\" y=\"" << top + plot_height / 2 << "\" font-size=\"12\" "
      << "text-anchor=\"middle\" transform=\"rotate(-90 14 " << top + plot_height / 2 << ")\">"
      << escape(unit_name) << "</text>";
  for (size_t i = 0; i < view.points.size(); ++i) {
    const double x = left + slot * (static_cast<double>(i) + 0.5);
    const double y = top + plot_height + 16;
    std::string label = view.tick_label(view.points[i]);
    if (label.size() > kLongestTick) label = label.substr(0, kLongestTick - 1) + "\u2026";
    svg << "<text x=\"" << x << "\" y=\"" << y << "\" font-size=\"11\" text-anchor=\""
        << (slanted ? "end" : "middle") << "\"";
    if (slanted) svg << " transform=\"rotate(-35 " << x << " " << y << ")\"";
    svg << ">" << escape(label) << "</text>";
  }
  svg << "<text x=\"" << left + plot_width / 2 << "\" y=\"" << top + plot_height + ticks_height + 24
      << "\" font-size=\"12\" text-anchor=\"middle\">" << escape(axis_title) << "</text>";
  // One series per system.
  for (size_t s = 0; s < view.systems.size(); ++s) {
    const std::string& system = view.systems[s];
    const char* colour = kSeriesColours[s % kSeriesColours.size()];
    const char* dash = kSeriesDashes[s % kSeriesDashes.size()];
    const std::string stroke = std::string("fill=\"none\" stroke=\"") + colour +
                               "\" stroke-width=\"1.5\"" +
                               (*dash ? std::string(" stroke-dasharray=\"") + dash + "\"" : "");
    // The line joins neighbouring points only: a point that measured nothing breaks it.
    std::ostringstream lines, segment, marks;
    segment << std::fixed << std::setprecision(1);
    marks << std::fixed << std::setprecision(1);
    size_t in_segment = 0;
    auto end_segment = [&] {
      if (in_segment > 1)
        lines << "<polyline " << stroke << " points=\"" << segment.str() << "\"/>";
      segment.str("");
      in_segment = 0;
    };
    for (size_t i = 0; i < view.points.size(); ++i) {
      auto it = view.stats.find({view.points[i], system});
      auto figure = it == view.stats.end() ? std::nullopt : figure_of(*it->second, metric.key);
      if (!figure) {  // nothing measured: no marker rather than a misleading zero
        end_segment();
        continue;
      }
      const double x = x_of(i, s), y = y_of(figure->mean);
      segment << (in_segment++ ? " " : "") << x << "," << y;
      marks << "<g class=\"point\"><title>"
            << escape(system + " at " + view.tick_label(view.points[i]) + ": " +
                      figure_text(*figure, metric.latency))
            << "</title>";
      if (figure->ci95) {
        const double low = y_of(std::max(0.0, figure->mean - *figure->ci95));
        const double high = y_of(figure->mean + *figure->ci95);
        marks << "<g class=\"error-bar\" stroke=\"" << colour
              << "\"><line class=\"ci-whisker\" x1=\"" << x << "\" y1=\"" << low << "\" x2=\"" << x
              << "\" y2=\"" << high << "\"/><line x1=\"" << x - 4 << "\" y1=\"" << low << "\" x2=\""
              << x + 4 << "\" y2=\"" << low << "\"/><line x1=\"" << x - 4 << "\" y1=\"" << high
              << "\" x2=\"" << x + 4 << "\" y2=\"" << high << "\"/></g>";
      }
      // A hollow marker: a lower bound (messages missing at the deadline).
      marks << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"4\" stroke=\"" << colour
            << "\" fill=\"" << (figure->lower_bound ? "#fff" : colour) << "\"/></g>";
    }
    end_segment();
    svg << "<g class=\"series\">" << lines.str() << marks.str() << "</g>";
    // Legend.
    const int legend_y = top + 10 + static_cast<int>(s) * 18;
    svg << "<line x1=\"" << left + plot_width + 16 << "\" y1=\"" << legend_y << "\" x2=\""
        << left + plot_width + 40 << "\" y2=\"" << legend_y << "\" stroke=\"" << colour
        << "\" stroke-width=\"2\""
        << (*dash ? std::string(" stroke-dasharray=\"") + dash + "\"" : "") << "/><text x=\""
        << left + plot_width + 46 << "\" y=\"" << legend_y + 4 << "\" font-size=\"12\">"
        << escape(system) << "</text>";
  }
  svg << "</svg></figure>";
  return svg.str();
}

// A comparison in words from the JSON's own fields: "redis is faster by 12.3 % (significant,
// Welch's t-test p=0.0031)", "within noise (difference 1.2 %, Welch's t-test p=0.41)", or the
// JSON's verdict where there was no test (one run, lower bounds, no variation).
std::string verdict_words(const json& comparison) {
  const auto p_value = number_of(comparison, "p_value");
  if (!p_value) return text_of(comparison, "verdict", "no verdict");
  const std::string test =
      text_of(comparison, "test") == "welch" ? "Welch's t-test" : text_of(comparison, "test");
  const std::string p = test + " " + report::format_p_value(*p_value);
  const double difference = number_of(comparison, "difference_pct").value_or(0);
  const json& faster = member(comparison, "faster");
  if (member(comparison, "significant") == json(true) && faster.is_string()) {
    return faster.get<std::string>() + " is faster by " + fixed(difference, 1) +
           " % (significant, " + p + ")";
  }
  return "within noise (difference " + fixed(difference, 1) + " %, " + p + ")";
}

// `charts_without_script`: the SVG charts only show without JavaScript (the report bundle draws
// the same figures).
std::string sweep_sections(const json& doc, bool charts_without_script) {
  const SweepView view = sweep_view(doc);
  std::ostringstream html;
  size_t runs = 0, succeeded = 0;
  for (const auto& run : member(doc, "runs")) {
    ++runs;
    succeeded += text_of(run, "status") == "succeeded";
  }
  const json& repeats = member(doc, "repeats");
  const int repeat_count = repeats.is_number_integer() ? repeats.get<int>() : 1;
  auto plural = [](size_t n, const std::string& word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
  };
  html << "<h2>Sweep</h2><p>" << plural(view.points.size(), "point") << " \u00d7 "
       << plural(static_cast<size_t>(std::max(repeat_count, 1)), "repeat") << " \u00d7 "
       << plural(view.systems.size(), "system") << " = " << plural(runs, "run") << " (" << succeeded
       << " succeeded).</p>";

  if (!view.axes.empty()) {
    html << "<table><caption>Points: the matrix values each ran with</caption><thead><tr>"
            "<th scope=\"col\">Point</th>";
    for (const std::string& axis : view.axes)
      html << "<th scope=\"col\">" << escape(axis) << "</th>";
    html << "</tr></thead><tbody>";
    for (size_t point : view.points) {
      html << "<tr><th scope=\"row\">p" << point << "</th>";
      auto it = view.values.find(point);
      for (size_t a = 0; a < view.axes.size(); ++a) {
        html << "<td>" << escape(it == view.values.end() ? "" : it->second[a]) << "</td>";
      }
      html << "</tr>";
    }
    html << "</tbody></table>";
  }

  if (charts_without_script) html << "<noscript>";
  for (const char* key : {view.throughput_key(), view.latency_key()}) {
    for (const SweepMetric& metric : sweep_metrics()) {
      if (metric.key == std::string(key)) {
        html << interval_chart(view, metric, std::string("chart-") + key);
      }
    }
  }
  if (charts_without_script) html << "</noscript>";
  html << "<p>Markers are means over each point's succeeded runs; whiskers span the 95 % "
          "confidence interval of the mean (Student's t, n\u22121 degrees of freedom). A marker "
          "without whiskers comes from one run; a hollow one is a lower bound (messages missing "
          "at the deadline).</p>";

  std::vector<const SweepMetric*> shown;
  for (const SweepMetric& metric : sweep_metrics()) {
    for (const auto& [key, entry] : view.stats) {
      if (!member(member(*entry, "metrics"), metric.key).is_null()) {
        shown.push_back(&metric);
        break;
      }
    }
  }
  html << "<table><caption>Per point and system: mean \u00b1 95 % confidence interval</caption>"
          "<thead><tr><th scope=\"col\">Point</th>";
  for (const std::string& axis : view.axes) html << "<th scope=\"col\">" << escape(axis) << "</th>";
  html << "<th scope=\"col\">System</th><th scope=\"col\">Runs succeeded</th>";
  for (const SweepMetric* metric : shown) html << "<th scope=\"col\">" << metric->label << "</th>";
  html << "</tr></thead><tbody>";
  for (size_t point : view.points) {
    for (const std::string& system : view.systems) {
      auto it = view.stats.find({point, system});
      if (it == view.stats.end()) continue;
      const json& entry = *it->second;
      html << "<tr><th scope=\"row\">p" << point << "</th>";
      auto values = view.values.find(point);
      for (size_t a = 0; a < view.axes.size(); ++a) {
        html << "<td>" << escape(values == view.values.end() ? "" : values->second[a]) << "</td>";
      }
      html << "<td>" << escape(system) << "</td><td>"
           << static_cast<long long>(number_of(entry, "succeeded").value_or(0)) << "/"
           << static_cast<long long>(number_of(entry, "runs").value_or(0)) << "</td>";
      for (const SweepMetric* metric : shown) {
        auto figure = figure_of(entry, metric->key);
        html << "<td>" << escape(figure ? figure_text(*figure, metric->latency) : "not measured")
             << "</td>";
      }
      html << "</tr>";
    }
  }
  html << "</tbody></table>";

  std::ostringstream rows;
  for (const auto& comparison : member(doc, "comparisons")) {
    const std::string key = text_of(comparison, "metric");
    if (key != view.throughput_key() && key != view.latency_key()) continue;
    const json& a = member(comparison, "a");
    const json& b = member(comparison, "b");
    // "kafka: p0 (100B) vs p1 (1KiB)", "p0 (100B): kafka vs redis"; the points table above
    // names the varied paths.
    auto point_text = [&](const json& side) {
      const std::string values =
          view.axes.empty() ? "" : " (" + view.tick_label(point_of(side)) + ")";
      return "p" + std::to_string(point_of(side)) + values;
    };
    std::string compared;
    if (text_of(a, "system") == text_of(b, "system")) {
      compared = text_of(a, "system") + ": " + point_text(a) + " vs " + point_text(b);
    } else {
      compared = (view.points.size() > 1 ? point_text(a) + ": " : std::string()) +
                 text_of(a, "name") + " vs " + text_of(b, "name");
    }
    std::string label = key;
    for (const SweepMetric& metric : sweep_metrics()) {
      if (key == metric.key) label = metric.label;
    }
    const bool significant = member(comparison, "significant") == json(true);
    rows << "<tr><td>" << escape(compared) << "</td><td>" << escape(label) << "</td><td>"
         << (significant ? "<strong>" : "") << escape(verdict_words(comparison))
         << (significant ? "</strong>" : "") << "</td></tr>";
  }
  if (!rows.str().empty()) {
    html << "<table><caption>Verdicts: is the difference more than run-to-run noise? (two-sided, "
            "\u03b1 = "
         << fixed(report::kAlpha, 2)
         << ")</caption><thead><tr><th scope=\"col\">Compared</th><th scope=\"col\">Metric</th>"
            "<th scope=\"col\">Verdict</th></tr></thead><tbody>"
         << rows.str()
         << "</tbody></table><p>Faster means more throughput or lower latency; the percentage is "
            "relative to the slower one's mean. Every metric's comparisons are in the results "
            "JSON.</p>";
  }
  return html.str();
}

// The bundle's text, or nullopt when there is none to read.
std::optional<std::string> read_bundle(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return std::nullopt;
  return text.str();
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Script text made safe inside <script>: "</script" (any case) and "<!--" can only be in its
// strings, regular expressions or comments, where "<\/script" and "\x3C!--" mean the same.
std::string script_safe_js(std::string js) {
  for (size_t at = js.find("</"); at != std::string::npos; at = js.find("</", at + 1)) {
    std::string word = js.substr(at + 2, 6);
    std::transform(word.begin(), word.end(), word.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (word == "script") js.insert(at + 1, "\\");
  }
  replace_all(js, "<!--", "\\x3C!--");
  return js;
}

}  // namespace

std::string script_safe_json(const std::string& json_text) {
  std::string out;
  out.reserve(json_text.size());
  for (char c : json_text) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

static Result<std::string> render_report_html_unguarded(const std::string& results_json,
                                                        const std::string& state,
                                                        const std::string& error,
                                                        const std::string& bundle_path);

Result<std::string> render_report_html(const std::string& results_json, const std::string& state,
                                       const std::string& error, const std::string& bundle_path) {
  return report::reading_results<std::string>(
      [&] { return render_report_html_unguarded(results_json, state, error, bundle_path); });
}

static Result<std::string> render_report_html_unguarded(const std::string& results_json,
                                                        const std::string& state,
                                                        const std::string& error,
                                                        const std::string& bundle_path) {
  if (results_json.empty()) return make_error("no results yet");
  json doc = json::parse(results_json, nullptr, false);
  if (doc.is_discarded()) return make_error("stored results are not valid JSON");
  auto table = report::comparison_table(results_json);
  if (!table.ok()) return make_error(table.error());
  std::vector<Bar> throughput, p99, p50;
  bool emulated = false;
  const bool consumed = doc.value("workload", json::object()).value("consumers", 1) > 0;
  // A sweep has several runs per system: each bar names its point and repeat too.
  const bool sweep = doc.contains("stats") && doc["stats"].is_array() && !doc["stats"].empty();
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
  const std::optional<std::string> bundle = read_bundle(bundle_path);
  std::ostringstream html;
  const std::string title = "dec: " + doc.value("experiment", std::string("experiment"));
  html << "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape(title)
       << "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
          "pre{background:#f4f4f4;padding:1em;overflow-x:auto}figure{margin:1em 0}"
          "figcaption{font-weight:bold;margin-bottom:.3em}.warn{color:#a33}"
          "table{border-collapse:collapse;margin:1em 0}caption{font-weight:bold;text-align:left;"
          "margin-bottom:.3em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}"
          "th[scope=row],td:first-child{text-align:left}.note{color:#555}</style></head><body>"
       << (bundle ? "<main>" : "") << "<h1>" << escape(title) << "</h1><p>Experiment <code>"
       << escape(doc.value("id", "")) << "</code>, state <b>" << escape(state) << "</b>"
       << (error.empty() ? "" : " (" + escape(error) + ")") << "</p>";
  if (emulated) {
    html << "<p class=\"warn\">Systems marked EMULATED ran on a local stand-in that speaks the "
            "product's protocol; their figures are not the product's performance.</p>";
  }
  if (bundle) {
    // The web app's table and charts are drawn here from the data below.
    html << "<div id=\"dec-report\"></div>";
  } else {
    html << "<p class=\"note\">Interactive charts (zoom, every percentile from the latency "
            "histograms) are part of this report when the web app is built: run "
            "<code>npm --prefix web run build</code> (scripts/setup does) and serve with "
            "<code>dec serve --web web/dist</code>.</p>";
  }
  if (sweep) html << sweep_sections(doc, bundle.has_value());
  // The per-run bars; with the bundle they only show without JavaScript.
  html << (bundle ? "<noscript>" : "") << (sweep ? "<h2>Individual runs</h2>" : "")
       << bar_chart("Consumed throughput (higher is better)", "msg/s", throughput)
       << bar_chart("End-to-end latency p50 (lower is better)", "ms", p50)
       << bar_chart("End-to-end latency p99 (lower is better)", "ms", p99)
       << (bundle ? "</noscript>" : "") << "<h2>Comparison</h2><pre>" << escape(*table) << "</pre>";
  if (bundle) {
    // Curves that do not decode leave the charts with the table's percentiles.
    auto curves = report::percentile_curves(results_json);
    json embedded = {{"results", doc},
                     {"percentiles", curves ? json::parse(*curves, nullptr, false) : json()},
                     {"state", state},
                     {"error", error}};
    html << "</main><script type=\"application/json\" id=\"dec-results\">"
         << script_safe_json(embedded.dump()) << "</script><script>" << script_safe_js(*bundle)
         << "</script>";
  }
  html << "</body></html>\n";
  return html.str();
}

}  // namespace dec::server
