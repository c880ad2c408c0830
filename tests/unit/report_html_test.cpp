#include "server/report_html.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "report/results.h"

namespace dec {
namespace {

// The report's charts must not mislead more than the table: a run that measured nothing has no
// bar (a zero bar reads as the best latency), and a censored percentile is a lower bound.
TEST(ReportHtml, ChartsShowOnlyMeasuredFiguresAndMarkLowerBounds) {
  report::ExperimentResult result;
  result.id = "20261202-000000-abcd";
  result.experiment = "charts";
  report::RunResult stalled;
  stalled.system = "stalled";
  stalled.status = "succeeded";
  for (uint64_t v = 1; v <= 90; ++v) stalled.engine.end_to_end_latency.record(v * 1000);
  for (int i = 0; i < 10; ++i) stalled.engine.end_to_end_latency.record(5'000'000'000);
  stalled.engine.censored_end_to_end = 10;  // 10% censored: p99 is a lower bound, p50 is not
  stalled.engine.consumed_msgs_per_s = 900;
  report::RunResult broken;
  broken.system = "broken";
  broken.status = "failed";
  broken.error = "could not connect";
  result.runs = {stalled, broken};

  auto html = server::render_report_html(report::to_json(result), "succeeded", "");
  ASSERT_TRUE(html.ok()) << html.error();
  EXPECT_NE(html->find("\u2265 5000 ms"), std::string::npos) << *html;
  EXPECT_EQ(html->find("\u2265 0.05 ms"), std::string::npos) << "p50 is exact";
  EXPECT_NE(html->find("0.05 ms"), std::string::npos) << *html;
  EXPECT_NE(html->find("not measured"), std::string::npos) << *html;
  EXPECT_EQ(html->find("0.00 ms"), std::string::npos) << "no zero latency for a failed run";
  EXPECT_EQ(html->find(">0 msg/s"), std::string::npos) << "no zero throughput for a failed run";
  EXPECT_EQ(html->find("<h2>Sweep"), std::string::npos) << "a single run keeps its layout";
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// 2 points x 3 repeats x 2 systems, with figures whose means and intervals are known: kafka
// 1000, 1100, 1200 msg/s at both points (mean 1100, sd 100, 95 % CI 4.303 * 100 / sqrt(3) = 248);
// redis 2000, 2100, 2200 at p0 (faster by 90.9 %, significant) and 1050, 1150, 1250 at p1 (4.5 %
// ahead, within noise).
report::ExperimentResult sweep_result() {
  report::ExperimentResult result;
  result.id = "20261202-000000-sweep";
  result.experiment = "size <script>alert(1)</script>";
  result.repeats = 3;
  result.points = {
      {0, {{"workload.message_size", "100B"}, {"systems[redis].config.note", "a<b&c"}}},
      {1, {{"workload.message_size", "1KiB"}, {"systems[redis].config.note", "a<b&c"}}}};
  const double kafka[2][3] = {{1000, 1100, 1200}, {1000, 1100, 1200}};
  const double redis[2][3] = {{2000, 2100, 2200}, {1050, 1150, 1250}};
  for (size_t point = 0; point < 2; ++point) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      for (const auto& [system, rates] : {std::pair{"kafka", kafka}, std::pair{"redis", redis}}) {
        report::RunResult run;
        run.point = point;
        run.repeat = repeat;
        run.system = system;
        run.run_id =
            result.id + ".p" + std::to_string(point) + ".r" + std::to_string(repeat) + "." + system;
        run.status = "succeeded";
        run.engine.measured_seconds = 10;
        run.engine.produced_msgs_per_s = rates[point][repeat];
        run.engine.consumed_msgs_per_s = rates[point][repeat];
        // Latency in milliseconds that differs between repeats, so p99 has an interval.
        const uint64_t ms =
            (std::string(system) == "kafka" ? 5 : 8) + static_cast<uint64_t>(repeat);
        for (int i = 0; i < 100; ++i) {
          run.engine.end_to_end_latency.record(ms * 1'000'000);
          run.engine.publish_latency.record(ms * 500'000);
        }
        result.runs.push_back(run);
      }
    }
  }
  return result;
}

// A sweep's report shows what a skeptical reader needs: each point's matrix values, every point
// and system's mean with its 95 % confidence interval (in a table and as chart whiskers), and the
// comparisons' verdicts in words, with the test named.
TEST(ReportHtml, SweepShowsPointsIntervalsErrorBarsAndVerdicts) {
  auto html = server::render_report_html(report::to_json(sweep_result()), "succeeded", "");
  ASSERT_TRUE(html.ok()) << html.error();
  const std::string& page = *html;
  EXPECT_NE(page.find("2 points \u00d7 3 repeats \u00d7 2 systems = 12 runs (12 succeeded)"),
            std::string::npos)
      << page;
  // The points table: a header per varied path, a row per point with its values.
  EXPECT_NE(page.find("<th scope=\"col\">workload.message_size</th>"), std::string::npos) << page;
  EXPECT_NE(page.find("<th scope=\"row\">p0</th><td>100B</td>"), std::string::npos) << page;
  EXPECT_NE(page.find("<th scope=\"row\">p1</th><td>1KiB</td>"), std::string::npos) << page;
  // Means with intervals.
  EXPECT_NE(page.find(">1\u202f100 \u00b1 248 msg/s<"), std::string::npos) << page;
  EXPECT_NE(page.find(">2\u202f100 \u00b1 248 msg/s<"), std::string::npos) << page;
  EXPECT_NE(page.find(">1\u202f150 \u00b1 248 msg/s<"), std::string::npos) << page;
  EXPECT_GE(occurrences(page, " ms<"), 4u) << "p99 latency per point and system, in ms";
  EXPECT_GE(occurrences(page, "\u00b1"), 12u);
  // Verdicts in words from the JSON's fields.
  EXPECT_NE(page.find("p0 (100B, a&lt;b&amp;c): kafka vs redis"), std::string::npos) << page;
  EXPECT_NE(page.find("redis is faster by 90.9 % (significant, Welch's t-test p="),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("within noise (difference 4.5 %, Welch's t-test p="), std::string::npos)
      << page;
  // Two charts (throughput, p99) with a whisker per point and system, labelled for screen readers.
  EXPECT_EQ(occurrences(page, "class=\"ci-whisker\""), 8u) << page;
  EXPECT_EQ(occurrences(page, "role=\"img\" aria-labelledby=\"chart-"), 2u) << page;
  EXPECT_NE(page.find("<title id=\"chart-consumed_msgs_per_s-title\">Consumed throughput"),
            std::string::npos)
      << page;
  EXPECT_NE(
      page.find(
          "<desc id=\"chart-latency_p99_us-desc\">kafka: 100B, a&lt;b&amp;c 6.00 \u00b1 2.48 ms;"),
      std::string::npos)
      << page;
  EXPECT_NE(page.find(">redis</text>"), std::string::npos) << "a legend entry per system";
  // Text from the spec is escaped everywhere, the <title> included.
  EXPECT_EQ(page.find("<script>"), std::string::npos) << page;
  EXPECT_EQ(page.find("a<b&c"), std::string::npos) << page;
  EXPECT_NE(page.find("<title>dec: size &lt;script&gt;alert(1)&lt;/script&gt;</title>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td>a&lt;b&amp;c</td>"), std::string::npos) << page;
  // The per-run figures and the CLI's table follow.
  EXPECT_NE(page.find("<h2>Individual runs</h2>"), std::string::npos) << page;
}

// One run per point: a mean without an interval, no whisker, and the JSON's own verdict (no test
// is possible) rather than a made-up one.
TEST(ReportHtml, SweepOfSingleRunsShowsNoIntervalAndNoTest) {
  report::ExperimentResult result = sweep_result();
  result.repeats = 1;
  std::erase_if(result.runs, [](const report::RunResult& run) { return run.repeat > 0; });
  auto html = server::render_report_html(report::to_json(result), "succeeded", "");
  ASSERT_TRUE(html.ok()) << html.error();
  EXPECT_NE(html->find(">1\u202f000 msg/s (one run)<"), std::string::npos) << *html;
  EXPECT_EQ(html->find("class=\"ci-whisker\""), std::string::npos) << *html;
  EXPECT_NE(html->find("one run: no confidence interval or test (set repeats: 2 or more)"),
            std::string::npos)
      << *html;
  EXPECT_EQ(html->find("Welch's t-test p="), std::string::npos) << *html;
}

// A bundle file in a fresh temporary directory, removed at the end of the test.
class BundleFile {
 public:
  explicit BundleFile(const std::string& text)
      : dir_(std::filesystem::temp_directory_path() /
             ("dec-report-bundle-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(dir_);
    std::ofstream(path()) << text;
  }
  ~BundleFile() { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "report.js").string(); }

 private:
  std::filesystem::path dir_;
};

// The data a report bundle reads: everything between <script type="application/json" ...> and
// the first "</script" after it, which must be the element's own end.
std::string embedded_json(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"dec-results\">";
  const size_t begin = page.find(open);
  if (begin == std::string::npos) return "";
  const size_t start = begin + open.size();
  return page.substr(start, page.find("</script", start) - start);
}

// With the web app's report bundle the page inlines it and the results with their percentile
// curves, so it works opened from disk; text from the results cannot end the script elements.
TEST(ReportHtml, InlinesTheBundleAndTheResultsSafely) {
  report::ExperimentResult result;
  result.id = "20261202-000000-inline";
  result.experiment = "x</script><script>alert(1)</script><!-- -->";
  report::RunResult run;
  run.run_id = result.id + ".redis";
  run.system = "redis </SCRIPT>";
  run.status = "succeeded";
  for (uint64_t us = 1; us <= 1000; ++us) run.engine.end_to_end_latency.record(us * 1000);
  run.engine.consumed_msgs_per_s = 1000;
  result.runs = {run};
  const std::string results_json = report::to_json(result);
  // A bundle whose strings hold what would end a script element if copied as it is.
  const BundleFile bundle("window.decReportLoaded = \"</script><!--\"; /* bundle */\n");

  auto html = server::render_report_html(results_json, "succeeded", "", bundle.path());
  ASSERT_TRUE(html.ok()) << html.error();
  const std::string& page = *html;
  EXPECT_NE(page.find("<script>window.decReportLoaded = \"<\\/script>\\x3C!--\"; /* bundle */"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<div id=\"dec-report\"></div>"), std::string::npos);
  // Exactly two script elements end: the data and the bundle; nothing from the results does.
  EXPECT_EQ(occurrences(page, "</script>"), 2u) << page;
  EXPECT_EQ(occurrences(page, "<!--"), 0u) << page;
  const std::string data = embedded_json(page);
  ASSERT_FALSE(data.empty()) << page;
  const auto embedded = nlohmann::json::parse(data, nullptr, false);
  ASSERT_TRUE(embedded.is_object()) << data;
  EXPECT_EQ(embedded["results"]["experiment"], result.experiment) << "the text round-trips";
  EXPECT_EQ(embedded["results"]["runs"][0]["system"], run.system);
  EXPECT_EQ(embedded["state"], "succeeded");
  const auto& curve = embedded["percentiles"]["runs"][0]["end_to_end"];
  EXPECT_EQ(curve["count"], 1000);
  EXPECT_EQ(curve["points"].back()["value_us"], 1000.0);
  // The SVG charts only without JavaScript; the text table always.
  EXPECT_NE(page.find("<noscript><figure>"), std::string::npos) << page;
  EXPECT_NE(page.find("<h2>Comparison</h2><pre>"), std::string::npos);
  EXPECT_EQ(page.find("npm --prefix web run build"), std::string::npos) << "no build hint";
}

// Without a bundle (a C++ build without Node, or a path that is not there) the report is what it
// was: SVG charts, the table, no script, and a note on how to get the interactive charts.
TEST(ReportHtml, WithoutABundleFallsBackToSvgAndSaysHowToGetCharts) {
  report::ExperimentResult result;
  result.id = "20261202-000000-svg";
  result.experiment = "svg";
  report::RunResult run;
  run.system = "redis";
  run.status = "succeeded";
  run.engine.end_to_end_latency.record(1'000'000);
  result.runs = {run};
  for (const std::string& path : {std::string(), std::string("/nonexistent/report/report.js")}) {
    auto html = server::render_report_html(report::to_json(result), "succeeded", "", path);
    ASSERT_TRUE(html.ok()) << html.error();
    EXPECT_EQ(html->find("<script"), std::string::npos) << *html;
    EXPECT_EQ(html->find("<noscript"), std::string::npos) << *html;
    EXPECT_NE(html->find("<svg"), std::string::npos);
    EXPECT_NE(html->find("<h2>Comparison</h2><pre>"), std::string::npos);
    EXPECT_NE(html->find("npm --prefix web run build"), std::string::npos) << *html;
  }
}

// A sweep's tables stay for every reader; its SVG charts and the per-run bars are the ones the
// bundle replaces.
TEST(ReportHtml, WithABundleASweepKeepsItsTablesAndHidesItsSvgChartsFromScripts) {
  const BundleFile bundle("/* bundle */");
  auto html =
      server::render_report_html(report::to_json(sweep_result()), "succeeded", "", bundle.path());
  ASSERT_TRUE(html.ok()) << html.error();
  const std::string& page = *html;
  EXPECT_EQ(occurrences(page, "<noscript>"), 2u) << page;
  EXPECT_NE(page.find("<noscript><figure><figcaption>Consumed throughput, mean"), std::string::npos)
      << page;
  EXPECT_NE(page.find("<noscript><h2>Individual runs</h2>"), std::string::npos) << page;
  EXPECT_NE(page.find("<caption>Per point and system: mean \u00b1 95 % confidence interval"),
            std::string::npos);
  EXPECT_NE(page.find("redis is faster by 90.9 %"), std::string::npos);
  EXPECT_EQ(page.find("<script>alert(1)"), std::string::npos) << "the name stays escaped";
}

TEST(ReportHtml, ScriptSafeJsonStaysTheSameJson) {
  const nlohmann::json value = {{"text", "</script><!-- a&b >"}, {"n", 1}};
  const std::string safe = server::script_safe_json(value.dump());
  EXPECT_EQ(safe.find('<'), std::string::npos) << safe;
  EXPECT_EQ(safe.find('>'), std::string::npos) << safe;
  EXPECT_EQ(nlohmann::json::parse(safe), value);
}

}  // namespace
}  // namespace dec
