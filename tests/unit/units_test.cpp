#include "core/units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "core/utf8.h"

namespace dec::core {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

uint64_t size_of(std::string_view text) {
  Result<uint64_t> result = parse_size(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error());
  return result.ok() ? *result : 0;
}

nanoseconds duration_of(std::string_view text) {
  Result<nanoseconds> result = parse_duration(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error());
  return result.ok() ? *result : nanoseconds(-1);
}

double rate_of(std::string_view text) {
  Result<double> result = parse_rate(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error());
  return result.ok() ? *result : -1;
}

uint64_t bandwidth_of(std::string_view text) {
  Result<uint64_t> result = parse_bandwidth(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error());
  return result.ok() ? *result : 0;
}

template <class T>
std::string error_of(const Result<T>& result) {
  return result.ok() ? "<no error>" : result.error();
}

TEST(ParseSize, PlainIntegerIsBytes) {
  EXPECT_EQ(size_of("0"), 0u);
  EXPECT_EQ(size_of("100"), 100u);
  EXPECT_EQ(size_of("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, DecimalUnitsArePowersOfTen) {
  EXPECT_EQ(size_of("100B"), 100u);
  EXPECT_EQ(size_of("1KB"), 1000u);
  EXPECT_EQ(size_of("4MB"), 4'000'000u);
  EXPECT_EQ(size_of("2GB"), 2'000'000'000u);
}

TEST(ParseSize, BinaryUnitsArePowersOfTwo) {
  EXPECT_EQ(size_of("1KiB"), 1024u);
  EXPECT_EQ(size_of("3MiB"), 3u << 20);
  EXPECT_EQ(size_of("5GiB"), uint64_t{5} << 30);
}

TEST(ParseSize, AcceptsDecimalsSpacesAndAnyCase) {
  EXPECT_EQ(size_of("1.5KiB"), 1536u);
  EXPECT_EQ(size_of("0.5MB"), 500'000u);
  EXPECT_EQ(size_of("64 KiB"), 65536u);
  EXPECT_EQ(size_of("  2kb "), 2000u);
  EXPECT_EQ(size_of("1mib"), 1u << 20);
}

TEST(ParseSize, RejectsBadInputWithTheExpectedForms) {
  EXPECT_EQ(error_of(parse_size("12XB")),
            "invalid size \"12XB\": expected a number followed by B, KB, KiB, MB, MiB, GB or GiB");
  EXPECT_EQ(error_of(parse_size("")),
            "invalid size \"\": expected a number followed by B, KB, KiB, MB, MiB, GB or GiB");
  EXPECT_EQ(error_of(parse_size("KB")),
            "invalid size \"KB\": expected a number followed by B, KB, KiB, MB, MiB, GB or GiB");
  EXPECT_EQ(error_of(parse_size("-1KB")), "invalid size \"-1KB\": must not be negative");
  EXPECT_EQ(error_of(parse_size("1.5B")), "invalid size \"1.5B\": not a whole number of bytes");
  EXPECT_EQ(error_of(parse_size("1.5")), "invalid size \"1.5\": not a whole number of bytes");
  EXPECT_EQ(error_of(parse_size("20000000000GiB")), "invalid size \"20000000000GiB\": too large");
  EXPECT_FALSE(parse_size("1 2KB").ok());
  EXPECT_FALSE(parse_size("1K").ok());
}

TEST(ParseDuration, EveryUnit) {
  EXPECT_EQ(duration_of("250ns"), nanoseconds(250));
  EXPECT_EQ(duration_of("10us"), microseconds(10));
  EXPECT_EQ(duration_of("10\xC2\xB5s"), microseconds(10));  // micro sign
  EXPECT_EQ(duration_of("10\xCE\xBCs"), microseconds(10));  // Greek mu
  EXPECT_EQ(duration_of("500ms"), milliseconds(500));
  EXPECT_EQ(duration_of("30s"), seconds(30));
  EXPECT_EQ(duration_of("2m"), minutes(2));
  EXPECT_EQ(duration_of("3h"), hours(3));
}

TEST(ParseDuration, DecimalsZeroAndCompounds) {
  EXPECT_EQ(duration_of("1.5s"), milliseconds(1500));
  EXPECT_EQ(duration_of("0.25ms"), microseconds(250));
  EXPECT_EQ(duration_of("0"), nanoseconds(0));
  EXPECT_EQ(duration_of("0s"), nanoseconds(0));
  EXPECT_EQ(duration_of("1m30s"), seconds(90));
  EXPECT_EQ(duration_of("1h 15m"), minutes(75));
  EXPECT_EQ(duration_of(" 10 s "), seconds(10));
}

TEST(ParseDuration, BareNumberAsksForAUnit) {
  EXPECT_EQ(error_of(parse_duration("10")), "\"10\" has no unit: write 10s or 10ms");
  EXPECT_EQ(error_of(parse_duration("2.5")), "\"2.5\" has no unit: write 2.5s or 2.5ms");
}

TEST(ParseDuration, RejectsBadInput) {
  const std::string expected =
      ": expected a number followed by ns, us, ms, s, m or h (e.g. 500ms, 10s, 1m30s)";
  EXPECT_EQ(error_of(parse_duration("5x")), "invalid duration \"5x\"" + expected);
  EXPECT_EQ(error_of(parse_duration("s")), "invalid duration \"s\"" + expected);
  EXPECT_EQ(error_of(parse_duration("1m30")), "invalid duration \"1m30\"" + expected);
  EXPECT_EQ(error_of(parse_duration("")), "invalid duration \"\"" + expected);
  EXPECT_EQ(error_of(parse_duration("-5s")), "invalid duration \"-5s\": must not be negative");
  EXPECT_EQ(error_of(parse_duration("999999999h")), "invalid duration \"999999999h\": too long");
}

TEST(ParseRate, AllForms) {
  EXPECT_EQ(rate_of("0"), 0);
  EXPECT_EQ(rate_of("0/s"), 0);
  EXPECT_EQ(rate_of("50000"), 50000);
  EXPECT_EQ(rate_of("50000/s"), 50000);
  EXPECT_EQ(rate_of("50k/s"), 50000);
  EXPECT_EQ(rate_of("50K"), 50000);
  EXPECT_EQ(rate_of("1.5k"), 1500);
  EXPECT_EQ(rate_of("2M/s"), 2e6);
  EXPECT_EQ(rate_of("1G/s"), 1e9);
  EXPECT_EQ(rate_of("12.5"), 12.5);
  EXPECT_EQ(rate_of("1500.0"), 1500);  // how JSON prints a double
}

TEST(ParseRate, RejectsNegativeAndMalformed) {
  EXPECT_EQ(error_of(parse_rate("-5/s")),
            "invalid rate \"-5/s\": must be 0 (as fast as possible) or positive");
  const std::string expected =
      ": expected messages per second such as 5000, 50k/s or 2M/s (0 = as fast as possible)";
  EXPECT_EQ(error_of(parse_rate("fast")), "invalid rate \"fast\"" + expected);
  EXPECT_EQ(error_of(parse_rate("5m/s")), "invalid rate \"5m/s\"" + expected);
  EXPECT_EQ(error_of(parse_rate("/s")), "invalid rate \"/s\"" + expected);
  EXPECT_FALSE(parse_rate("5/min").ok());
}

TEST(ParseBandwidth, BitsPerSecond) {
  EXPECT_EQ(bandwidth_of("100Mbit"), 100'000'000u);
  EXPECT_EQ(bandwidth_of("1Gbit"), 1'000'000'000u);
  EXPECT_EQ(bandwidth_of("500kbit"), 500'000u);
  EXPECT_EQ(bandwidth_of("100Mbps"), 100'000'000u);
  EXPECT_EQ(bandwidth_of("64bit"), 64u);
  EXPECT_EQ(bandwidth_of("1.5Gbit"), 1'500'000'000u);
  EXPECT_EQ(bandwidth_of("10 mbit/s"), 10'000'000u);
  EXPECT_EQ(bandwidth_of("2gbps"), 2'000'000'000u);
}

TEST(ParseBandwidth, RejectsMissingOrByteUnits) {
  const std::string expected =
      ": expected a number followed by bit, kbit, Mbit or Gbit (or bps, kbps, Mbps, Gbps), "
      "e.g. 100Mbit";
  EXPECT_EQ(error_of(parse_bandwidth("100")), "invalid bandwidth \"100\"" + expected);
  EXPECT_EQ(error_of(parse_bandwidth("100MB")), "invalid bandwidth \"100MB\"" + expected);
  EXPECT_EQ(error_of(parse_bandwidth("-1Mbit")),
            "invalid bandwidth \"-1Mbit\": must not be negative");
}

TEST(FormatSize, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1024), "1.0 KiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(uint64_t{3} << 20), "3.0 MiB");
  EXPECT_EQ(format_size(uint64_t{5} << 30), "5.0 GiB");
  EXPECT_EQ(format_size(uint64_t{2} << 40), "2.0 TiB");
}

TEST(FormatSize, ParsesBack) {
  for (uint64_t bytes : {uint64_t{100}, uint64_t{1024}, uint64_t{1536}, uint64_t{7} << 20}) {
    EXPECT_EQ(size_of(format_size(bytes)), bytes);
  }
}

TEST(FormatDuration, ThreeSignificantDigitsThenClockStyle) {
  EXPECT_EQ(format_duration(nanoseconds(0)), "0 s");
  EXPECT_EQ(format_duration(nanoseconds(750)), "750 ns");
  EXPECT_EQ(format_duration(nanoseconds(12'340)), "12.3 \xC2\xB5s");
  EXPECT_EQ(format_duration(microseconds(1500)), "1.50 ms");
  EXPECT_EQ(format_duration(microseconds(999'700)), "1.00 s");
  EXPECT_EQ(format_duration(milliseconds(250'400)), "4m 10s");
  EXPECT_EQ(format_duration(seconds(123)), "2m 03s");
  EXPECT_EQ(format_duration(seconds(3723)), "1h 02m 03s");
  EXPECT_EQ(format_duration(milliseconds(-1500)), "-1.50 s");
}

TEST(FormatRate, PrefixesWithThreeDigits) {
  EXPECT_EQ(format_rate(0), "0/s");
  EXPECT_EQ(format_rate(999), "999/s");
  EXPECT_EQ(format_rate(12.5), "12.5/s");
  EXPECT_EQ(format_rate(52'300), "52.3k/s");
  EXPECT_EQ(format_rate(1'000), "1.00k/s");
  EXPECT_EQ(format_rate(2'500'000), "2.50M/s");
  EXPECT_EQ(format_rate(3e9), "3.00G/s");
  EXPECT_EQ(rate_of(format_rate(52'300)), 52'300);
}

}  // namespace
}  // namespace dec::core

namespace dec::core {
namespace {

TEST(Utf8, AcceptsValidTextAndFindsTheFirstBadByte) {
  EXPECT_EQ(first_invalid_utf8(""), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("plain ascii\n"), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("\xc2\xb1 95 % \xc3\x97 \xe2\x82\xac \xf0\x9f\x98\x80"),
            std::nullopt);
  EXPECT_EQ(first_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(first_invalid_utf8("\x80"), 0u);  // a continuation byte without a lead
  EXPECT_EQ(first_invalid_utf8(std::string("a\0b", 3)), std::nullopt);
  EXPECT_EQ(first_invalid_utf8("a\xc3"), 1u);             // cut short
  EXPECT_EQ(first_invalid_utf8("\xc3\x28"), 0u);          // bad continuation
  EXPECT_EQ(first_invalid_utf8("\xc0\xaf"), 0u);          // overlong "/"
  EXPECT_EQ(first_invalid_utf8("\xe0\x80\xaf"), 0u);      // overlong, three bytes
  EXPECT_EQ(first_invalid_utf8("x\xed\xa0\x80"), 1u);     // a UTF-16 surrogate
  EXPECT_EQ(first_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(first_invalid_utf8("\xf0\x9f\x98"), 0u);      // four bytes cut short
  EXPECT_EQ(describe_text_position("ab\ncd\xff", 5), "line 2, column 3 (byte 0xff)");
}

}  // namespace
}  // namespace dec::core
