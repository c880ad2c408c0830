#include "core/units.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "core/text.h"

namespace dec::core {
namespace {

constexpr double kTwoPow64 = 18446744073709551616.0;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

// A non-negative number as written ("12", "1.5", "2e3"); `exact` is set when it is a whole number
// that fits in 64 bits, so large byte counts do not lose precision through a double.
struct Number {
  double value = 0;
  std::optional<uint64_t> exact;
};

// Reads a number from the front of `text` and removes it; nullopt when `text` does not start with
// a digit. Signs are not part of the grammar: callers reject "-" with a specific message.
std::optional<Number> take_number(std::string_view& text) {
  size_t end = 0;
  while (end < text.size() && is_digit(text[end])) ++end;
  if (end == 0) return std::nullopt;
  bool integral = true;
  if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1])) {
    end += 2;
    while (end < text.size() && is_digit(text[end])) ++end;
    integral = false;
  }
  if (end < text.size() && (text[end] == 'e' || text[end] == 'E')) {
    size_t exponent = end + 1;
    if (exponent < text.size() && (text[exponent] == '+' || text[exponent] == '-')) ++exponent;
    if (exponent < text.size() && is_digit(text[exponent])) {
      end = exponent;
      while (end < text.size() && is_digit(text[end])) ++end;
      integral = false;
    }
  }
  std::string_view digits = text.substr(0, end);
  Number number;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number.value);
  if (ec == std::errc::result_out_of_range) number.value = std::numeric_limits<double>::infinity();
  if (integral) {
    uint64_t exact = 0;
    auto [int_ptr, int_ec] = std::from_chars(digits.data(), digits.data() + digits.size(), exact);
    if (int_ec == std::errc()) number.exact = exact;
  }
  text.remove_prefix(end);
  return number;
}

// `number * multiplier` as a whole count; nullopt when it does not fit in 64 bits.
std::optional<uint64_t> scale(const Number& number, uint64_t multiplier) {
  if (number.exact) {
    uint64_t product = 0;
    if (__builtin_mul_overflow(*number.exact, multiplier, &product)) return std::nullopt;
    return product;
  }
  double product = std::round(number.value * static_cast<double>(multiplier));
  if (!(product < kTwoPow64)) return std::nullopt;
  return static_cast<uint64_t>(product);
}

bool is_whole(const Number& number, uint64_t multiplier) {
  if (number.exact) return true;
  double product = number.value * static_cast<double>(multiplier);
  return std::fabs(product - std::round(product)) <= 1e-6 * std::max(1.0, product);
}

struct Unit {
  std::string_view name;
  uint64_t multiplier;
};

constexpr std::array kSizeUnits = {
    Unit{"b", 1},
    Unit{"kb", 1000},
    Unit{"mb", 1000 * 1000},
    Unit{"gb", 1000 * 1000 * 1000},
    Unit{"kib", uint64_t{1} << 10},
    Unit{"mib", uint64_t{1} << 20},
    Unit{"gib", uint64_t{1} << 30},
};

constexpr std::array kBandwidthUnits = {
    Unit{"bit", 1}, Unit{"kbit", 1000}, Unit{"mbit", 1000 * 1000}, Unit{"gbit", 1000 * 1000 * 1000},
    Unit{"bps", 1}, Unit{"kbps", 1000}, Unit{"mbps", 1000 * 1000}, Unit{"gbps", 1000 * 1000 * 1000},
};

constexpr int64_t kNanosPerMicro = 1000;
constexpr int64_t kNanosPerMilli = 1000 * kNanosPerMicro;
constexpr int64_t kNanosPerSecond = 1000 * kNanosPerMilli;
constexpr int64_t kNanosPerMinute = 60 * kNanosPerSecond;
constexpr int64_t kNanosPerHour = 60 * kNanosPerMinute;

constexpr std::array kDurationUnits = {
    Unit{"ns", 1},
    Unit{"us", kNanosPerMicro},
    Unit{"\xC2\xB5s", kNanosPerMicro},  // U+00B5 MICRO SIGN
    Unit{"\xCE\xBCs", kNanosPerMicro},  // U+03BC GREEK SMALL LETTER MU
    Unit{"ms", kNanosPerMilli},
    Unit{"s", kNanosPerSecond},
    Unit{"m", kNanosPerMinute},
    Unit{"h", kNanosPerHour},
};

template <size_t N>
std::optional<uint64_t> find_unit(const std::array<Unit, N>& units, std::string_view name) {
  for (const Unit& unit : units) {
    if (unit.name == name) return unit.multiplier;
  }
  return std::nullopt;
}

// Letters (and the UTF-8 bytes of "µ") following a number: the unit of a duration segment.
std::string_view take_unit(std::string_view& text) {
  size_t end = 0;
  while (end < text.size() && (std::isalpha(static_cast<unsigned char>(text[end])) ||
                               static_cast<unsigned char>(text[end]) >= 0x80)) {
    ++end;
  }
  std::string_view unit = text.substr(0, end);
  text.remove_prefix(end);
  return unit;
}

std::string three_digits(double value) {
  std::array<char, 64> buffer{};
  const char* format = value < 9.995 ? "%.2f" : value < 99.95 ? "%.1f" : "%.0f";
  std::snprintf(buffer.data(), buffer.size(), format, value);
  return buffer.data();
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  const std::string_view input = trim(text);
  auto invalid = [&](std::string_view why) {
    return make_error("invalid size " + in_quotes(input) + ": " + std::string(why));
  };
  constexpr std::string_view kExpected =
      "expected a number followed by B, KB, KiB, MB, MiB, GB or GiB";
  std::string_view rest = input;
  if (!rest.empty() && rest.front() == '-') {
    rest.remove_prefix(1);
    if (take_number(rest)) return invalid("must not be negative");
    return invalid(kExpected);
  }
  std::optional<Number> number = take_number(rest);
  if (!number) return invalid(kExpected);
  rest = trim(rest);
  uint64_t multiplier = 1;
  if (!rest.empty()) {
    std::optional<uint64_t> unit = find_unit(kSizeUnits, core::ascii_lower(rest));
    if (!unit) return invalid(kExpected);
    multiplier = *unit;
  }
  if (!is_whole(*number, multiplier)) return invalid("not a whole number of bytes");
  std::optional<uint64_t> bytes = scale(*number, multiplier);
  if (!bytes) return invalid("too large");
  return *bytes;
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  const std::string_view input = trim(text);
  auto invalid = [&](std::string_view why) {
    return make_error("invalid duration " + in_quotes(input) + ": " + std::string(why));
  };
  constexpr std::string_view kExpected =
      "expected a number followed by ns, us, ms, s, m or h (e.g. 500ms, 10s, 1m30s)";
  std::string_view rest = input;
  if (!rest.empty() && rest.front() == '-') {
    rest.remove_prefix(1);
    if (take_number(rest)) return invalid("must not be negative");
    return invalid(kExpected);
  }
  // One or more "<number><unit>" segments, e.g. "1m30s" or "1h 15m".
  uint64_t total = 0;
  bool first = true;
  while (first || !rest.empty()) {
    std::optional<Number> number = take_number(rest);
    if (!number) return invalid(kExpected);
    rest = trim(rest);
    std::string_view unit_name = take_unit(rest);
    if (unit_name.empty()) {
      if (first && rest.empty()) {
        if (number->value == 0) return std::chrono::nanoseconds(0);
        return make_error(in_quotes(input) + " has no unit: write " + std::string(input) + "s or " +
                          std::string(input) + "ms");
      }
      return invalid(kExpected);
    }
    std::optional<uint64_t> multiplier = find_unit(kDurationUnits, unit_name);
    if (!multiplier) return invalid(kExpected);
    std::optional<uint64_t> nanos = scale(*number, *multiplier);
    if (!nanos || __builtin_add_overflow(total, *nanos, &total) ||
        total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid("too long");
    }
    rest = trim(rest);
    first = false;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

Result<double> parse_rate(std::string_view text) {
  const std::string_view input = trim(text);
  auto invalid = [&](std::string_view why) {
    return make_error("invalid rate " + in_quotes(input) + ": " + std::string(why));
  };
  constexpr std::string_view kExpected =
      "expected messages per second such as 5000, 50k/s or 2M/s (0 = as fast as possible)";
  std::string_view rest = input;
  if (!rest.empty() && rest.front() == '-') {
    rest.remove_prefix(1);
    if (take_number(rest)) return invalid("must be 0 (as fast as possible) or positive");
    return invalid(kExpected);
  }
  if (rest.ends_with("/s")) rest = trim(rest.substr(0, rest.size() - 2));
  std::optional<Number> number = take_number(rest);
  if (!number) return invalid(kExpected);
  rest = trim(rest);
  double multiplier = 1;
  if (rest == "k" || rest == "K") {
    multiplier = 1e3;
  } else if (rest == "M") {
    multiplier = 1e6;
  } else if (rest == "G") {
    multiplier = 1e9;
  } else if (!rest.empty()) {
    return invalid(kExpected);
  }
  double rate = number->value * multiplier;
  if (!std::isfinite(rate)) return invalid("too large");
  return rate;
}

Result<uint64_t> parse_bandwidth(std::string_view text) {
  const std::string_view input = trim(text);
  auto invalid = [&](std::string_view why) {
    return make_error("invalid bandwidth " + in_quotes(input) + ": " + std::string(why));
  };
  constexpr std::string_view kExpected =
      "expected a number followed by bit, kbit, Mbit or Gbit (or bps, kbps, Mbps, Gbps), "
      "e.g. 100Mbit";
  std::string_view rest = input;
  if (!rest.empty() && rest.front() == '-') {
    rest.remove_prefix(1);
    if (take_number(rest)) return invalid("must not be negative");
    return invalid(kExpected);
  }
  std::optional<Number> number = take_number(rest);
  if (!number) return invalid(kExpected);
  std::string unit_name = core::ascii_lower(trim(rest));
  if (unit_name.ends_with("bit/s")) unit_name.resize(unit_name.size() - 2);
  std::optional<uint64_t> multiplier = find_unit(kBandwidthUnits, unit_name);
  if (!multiplier) return invalid(kExpected);
  std::optional<uint64_t> bits = scale(*number, *multiplier);
  if (!bits) return invalid("too large");
  return *bits;
}

std::string format_size(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  constexpr std::array<std::string_view, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  std::array<char, 64> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.1f ", value);
  return std::string(buffer.data()) + std::string(kUnits[unit]);
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t nanos = d.count();
  if (nanos < 0) {
    if (nanos == std::numeric_limits<int64_t>::min()) ++nanos;
    return "-" + format_duration(std::chrono::nanoseconds(-nanos));
  }
  if (nanos == 0) return "0 s";
  if (nanos < kNanosPerMicro) return std::to_string(nanos) + " ns";
  const auto value = static_cast<double>(nanos);
  // Switch to the next unit where three digits would round up to 1000 (999.6 ms is "1.00 s").
  if (nanos < kNanosPerMilli - kNanosPerMicro / 2) {
    return three_digits(value / kNanosPerMicro) + " \xC2\xB5s";
  }
  if (nanos < kNanosPerSecond - kNanosPerMilli / 2) {
    return three_digits(value / kNanosPerMilli) + " ms";
  }
  if (nanos < kNanosPerMinute - kNanosPerSecond / 20) {
    return three_digits(value / kNanosPerSecond) + " s";
  }
  int64_t seconds = (nanos + kNanosPerSecond / 2) / kNanosPerSecond;
  std::array<char, 64> buffer{};
  if (seconds < 3600) {
    std::snprintf(buffer.data(), buffer.size(), "%lldm %02llds",
                  static_cast<long long>(seconds / 60), static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(buffer.data(), buffer.size(), "%lldh %02lldm %02llds",
                  static_cast<long long>(seconds / 3600), static_cast<long long>(seconds / 60 % 60),
                  static_cast<long long>(seconds % 60));
  }
  return buffer.data();
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second)) return per_second > 0 ? "inf/s" : "nan/s";
  if (per_second < 0) return "-" + format_rate(-per_second);
  constexpr std::array<std::pair<double, std::string_view>, 3> kPrefixes = {
      std::pair{1e9, "G"}, std::pair{1e6, "M"}, std::pair{1e3, "k"}};
  for (const auto& [scale_factor, prefix] : kPrefixes) {
    if (per_second >= scale_factor * 0.9995) {
      return three_digits(per_second / scale_factor) + std::string(prefix) + "/s";
    }
  }
  if (per_second == std::floor(per_second)) {
    return std::to_string(static_cast<int64_t>(per_second)) + "/s";
  }
  return three_digits(per_second) + "/s";
}

}  // namespace dec::core
