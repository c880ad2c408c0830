#include "server/report_html.h"

#include <gtest/gtest.h>

#include <string>

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
}

}  // namespace
}  // namespace dec
