#include "server/report_html.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dec
