#include "infra/terraform/ui_stream.h"

#include <nlohmann/json.hpp>

namespace dec::infra::terraform {
namespace {

using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int int_at(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// "summary: detail (address)", without empty parts.
std::string diagnostic_text(const json& diagnostic) {
  std::string text = string_at(diagnostic, "summary");
  std::string detail = string_at(diagnostic, "detail");
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  if (!detail.empty()) text += (text.empty() ? "" : ": ") + detail;
  std::string address = string_at(diagnostic, "address");
  if (!address.empty()) text += " (" + address + ")";
  if (diagnostic.is_object() && diagnostic.contains("range")) {
    const json& range = diagnostic["range"];
    std::string file = string_at(range, "filename");
    if (!file.empty() && range.contains("start")) {
      text += " [" + file + ":" + std::to_string(int_at(range["start"], "line")) + "]";
    }
  }
  return text;
}

std::string hook_address(const json& message) {
  const json& hook = message.contains("hook") ? message["hook"] : json();
  return string_at(hook.is_object() && hook.contains("resource") ? hook["resource"] : json(),
                   "addr");
}

}  // namespace

std::optional<std::string> UiStreamReader::feed(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object()) {
    std::string raw(line);
    report_.progress.push_back(raw);
    return raw;
  }
  const std::string type = string_at(message, "type");
  const std::string text = string_at(message, "@message");
  if (type == "version") return std::nullopt;  // said once per command; the binary is known
  if (type == "diagnostic") {
    const json& diagnostic = message.contains("diagnostic") ? message["diagnostic"] : json();
    std::string severity = string_at(diagnostic, "severity");
    if (severity.empty()) severity = string_at(message, "@level");
    (severity == "error" ? report_.errors : report_.warnings)
        .push_back(diagnostic_text(diagnostic));
  } else if (type == "apply_complete") {
    report_.completed.push_back(hook_address(message));
  } else if (type == "apply_errored") {
    report_.failed.push_back(hook_address(message));
  } else if (type == "resource_drift") {
    const json& change = message.contains("change") ? message["change"] : json();
    DriftedResource drifted;
    drifted.address = string_at(
        change.is_object() && change.contains("resource") ? change["resource"] : json(), "addr");
    drifted.action = string_at(change, "action");
    report_.drift.push_back(std::move(drifted));
  } else if (type == "change_summary") {
    const json& changes = message.contains("changes") ? message["changes"] : json();
    ChangeSummary summary;
    summary.add = int_at(changes, "add");
    summary.change = int_at(changes, "change");
    summary.remove = int_at(changes, "remove");
    summary.operation = string_at(changes, "operation");
    report_.summary = summary;
  }
  if (text.empty()) return std::nullopt;
  report_.progress.push_back(text);
  return text;
}

UiReport read_ui_stream(std::string_view text) {
  UiStreamReader reader;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    reader.feed(text.substr(start, end - start));
    start = end + 1;
  }
  return reader.report();
}

std::string describe_errors(const UiReport& report, const std::string& fallback) {
  std::string text;
  for (const auto& error : report.errors) text += (text.empty() ? "" : "\n") + error;
  if (!text.empty()) return text;
  // Human-readable output (init has no -json): from the first "Error:", past CLI warnings.
  std::string trimmed = fallback;
  if (size_t error = trimmed.find("Error: ");
      error != std::string::npos && (error == 0 || trimmed[error - 1] == '\n')) {
    trimmed.erase(0, error);
  }
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  return trimmed.empty() ? "no diagnostic was printed" : trimmed;
}

}  // namespace dec::infra::terraform
