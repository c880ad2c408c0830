// Terraform's machine-readable UI (`-json` on plan, apply, destroy): one JSON object per line
// with "@level", "@message", "@module", "@timestamp" and "type" (version, log, diagnostic,
// planned_change, change_summary, resource_drift, apply_start, apply_progress, apply_complete,
// apply_errored, refresh_start, refresh_complete, outputs, ...). This reads that stream into
// progress lines for the run's log, the error diagnostics (summary and detail), the drift a
// refresh-only plan reports and the change summary. Lines that are not JSON objects (a plugin
// writing to stdout, a crash trace) are kept as they are in the progress lines.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dec::infra::terraform {

struct DriftedResource {
  std::string address;  // "aws_kinesis_stream.stream[\"dec-1\"]"
  std::string action;   // "update", "delete"
};

struct ChangeSummary {
  int add = 0, change = 0, remove = 0;
  std::string operation;  // plan | apply | destroy
};

struct UiReport {
  std::vector<std::string> progress;     // one line per message worth showing
  std::vector<std::string> errors;       // error diagnostics: "summary: detail (address)"
  std::vector<std::string> warnings;     // warning diagnostics, same form
  std::vector<std::string> completed;    // addresses an apply_complete named, in order
  std::vector<std::string> failed;       // addresses an apply_errored named
  std::vector<DriftedResource> drift;    // resource_drift messages
  std::optional<ChangeSummary> summary;  // the last change_summary
};

// Reads the stream a line at a time (as it arrives); `feed` returns the progress line the
// message makes, if any.
class UiStreamReader {
 public:
  std::optional<std::string> feed(std::string_view line);
  const UiReport& report() const { return report_; }

 private:
  UiReport report_;
};

UiReport read_ui_stream(std::string_view text);

// The errors of a failed command, one per line, or `fallback` (its stderr) when the stream
// carried no error diagnostic.
std::string describe_errors(const UiReport& report, const std::string& fallback);

}  // namespace dec::infra::terraform
