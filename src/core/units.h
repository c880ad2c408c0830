// Parsing and printing of sizes ("100B", "1KiB", "4MB"), durations ("500ms", "30s", "2m"),
// rates ("50k/s", "0") and bandwidth ("100Mbit"). Errors say what was expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dec::core {

Result<uint64_t> parse_size(std::string_view text);                      // bytes; KB=1000, KiB=1024
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);  // ns, us, ms, s, m, h
Result<double> parse_rate(std::string_view text);         // messages/s; k, M suffixes
Result<uint64_t> parse_bandwidth(std::string_view text);  // bits/s: kbit, Mbit, Gbit

std::string format_size(uint64_t bytes);                  // "1.0 KiB"
std::string format_duration(std::chrono::nanoseconds d);  // "1.50 ms", "2m 03s"
std::string format_rate(double per_second);               // "52.3k/s"

}  // namespace dec::core
