// Small helpers drivers share for reading and checking their string config values.
#pragma once

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dec::drivers {

// A whole decimal number and nothing else ("12", "-3"); nullopt otherwise.
inline std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// A ConfigKey check accepting integers in [min, max]; returns what was expected on failure.
inline std::function<std::string(const std::string&)> integer_check(long long min, long long max) {
  return [min, max](const std::string& value) -> std::string {
    auto number = parse_integer(value);
    if (number && *number >= min && *number <= max) return "";
    return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  };
}

// A ConfigKey check accepting exactly the listed values ("one of file, memory" otherwise).
inline std::function<std::string(const std::string&)> one_of_check(
    std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](const std::string& value) -> std::string {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return "";
    std::string expected = "one of ";
    for (size_t i = 0; i < allowed.size(); ++i) expected += (i ? ", " : "") + allowed[i];
    return expected;
  };
}

}  // namespace dec::drivers
