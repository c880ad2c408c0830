// Everything that reads a stored results document (it comes back from the database, from
// `dec results import` and from S3): the comparison table, the summary, CSV and HdrHistogram
// exports, the percentile curves, the spec merge and the HTML report never crash or throw, whatever
// the document.
#include "fuzz/fuzz.h"
#include "report/hdr_export.h"
#include "report/percentiles.h"
#include "report/results.h"
#include "report/summary.h"
#include "server/report_html.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)dec::report::comparison_table(text);
  const std::string summary = dec::report::results_summary(text);
  (void)dec::report::export_runs_csv(text);
  (void)dec::report::export_hdr_log(text);
  (void)dec::report::percentile_curves(text);
  (void)dec::report::results_with_spec(text, "{\"name\":\"x\"}");
  auto html = dec::server::render_report_html(text, "succeeded", "");
  if (html.ok()) FUZZ_CHECK(html->find("<html") != std::string::npos, "not an HTML page");
  return 0;
}
