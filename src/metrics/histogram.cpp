#include "metrics/histogram.h"

#include <charconv>
#include <cmath>
#include <string_view>

namespace dec::metrics {
namespace {

__extension__ typedef unsigned __int128 Uint128;

std::string to_decimal(Uint128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  return std::string(digits.rbegin(), digits.rend());
}

// A strict cursor over the serialized text: every accessor fails on anything unexpected, so
// garbage never turns into a plausible-looking histogram.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool literal(std::string_view expected) {
    if (text_.substr(0, expected.size()) != expected) return false;
    text_.remove_prefix(expected.size());
    return true;
  }

  bool number(uint64_t& out) {
    const char* begin = text_.data();
    const char* end = begin + text_.size();
    if (begin == end || *begin < '0' || *begin > '9') return false;
    auto [ptr, ec] = std::from_chars(begin, end, out);
    if (ec != std::errc()) return false;
    text_.remove_prefix(static_cast<size_t>(ptr - begin));
    return true;
  }

  bool number128(Uint128& out) {
    out = 0;
    size_t digits = 0;
    while (digits < text_.size() && text_[digits] >= '0' && text_[digits] <= '9') {
      const Uint128 next = out * 10 + static_cast<unsigned>(text_[digits] - '0');
      if (next / 10 != out) return false;  // overflow
      out = next;
      ++digits;
    }
    if (digits == 0) return false;
    text_.remove_prefix(digits);
    return true;
  }

  bool at_end() const { return text_.empty(); }

 private:
  std::string_view text_;
};

Error parse_error(const std::string& what) {
  return make_error("invalid serialized histogram: " + what);
}

}  // namespace

Histogram::Histogram() : counts_(kBucketCount, 0) {}

void Histogram::merge(const Histogram& other) {
  if (other.total_count_ == 0) return;
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  total_count_ += other.total_count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

uint64_t Histogram::min() const { return total_count_ == 0 ? 0 : min_; }

uint64_t Histogram::max() const { return max_; }

double Histogram::mean() const {
  if (total_count_ == 0) return 0;
  return static_cast<double>(static_cast<long double>(sum_) /
                             static_cast<long double>(total_count_));
}

uint64_t Histogram::percentile(double p) const {
  if (total_count_ == 0) return 0;
  if (!(p > 0)) return min_;  // also catches NaN
  if (p >= 100) return max_;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_count_)));
  rank = std::clamp<uint64_t>(rank, 1, total_count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return reported_value_at_index(i);
  }
  return max_;  // unreachable while counts_ sums to total_count_
}

uint64_t Histogram::reported_value_at_index(size_t index) const {
  if (total_count_ == 0) return 0;
  // The midpoint halves the worst-case error; the true extremes are known exactly.
  const uint64_t mid = bucket_lowest(index) + (bucket_width(index) - 1) / 2;
  return std::clamp(mid, min_, max_);
}

std::string Histogram::serialize() const {
  std::string out = "h1 n=" + std::to_string(total_count_) + " min=" + std::to_string(min()) +
                    " max=" + std::to_string(max_) + " sum=" + to_decimal(sum_) + " b=";
  bool first = true;
  for (size_t i = 0; i < kBucketCount; ++i) {
    if (counts_[i] == 0) continue;
    if (!first) out += ',';
    first = false;
    out += std::to_string(i);
    out += ':';
    out += std::to_string(counts_[i]);
  }
  return out;
}

Result<Histogram> Histogram::deserialize(const std::string& text) {
  Reader reader(text);
  uint64_t count = 0;
  uint64_t min = 0;
  uint64_t max = 0;
  Uint128 sum = 0;
  if (!reader.literal("h1 ")) return parse_error("expected it to start with \"h1 \"");
  if (!reader.literal("n=") || !reader.number(count)) return parse_error("bad or missing n=");
  if (!reader.literal(" min=") || !reader.number(min)) return parse_error("bad or missing min=");
  if (!reader.literal(" max=") || !reader.number(max)) return parse_error("bad or missing max=");
  if (!reader.literal(" sum=") || !reader.number128(sum)) {
    return parse_error("bad or missing sum=");
  }
  if (!reader.literal(" b=")) return parse_error("missing b=");

  Histogram histogram;
  uint64_t bucket_total = 0;
  size_t first_index = kBucketCount;
  size_t last_index = 0;
  bool first = true;
  while (!reader.at_end()) {
    if (!first && !reader.literal(",")) return parse_error("expected ',' between buckets");
    uint64_t index = 0;
    uint64_t bucket_count = 0;
    if (!reader.number(index) || !reader.literal(":") || !reader.number(bucket_count)) {
      return parse_error("expected <index>:<count> in the bucket list");
    }
    if (index >= kBucketCount) {
      return parse_error("bucket index " + std::to_string(index) + " out of range");
    }
    if (!first && index <= last_index) return parse_error("bucket indexes not increasing");
    if (bucket_count == 0) return parse_error("empty bucket listed");
    if (bucket_total + bucket_count < bucket_total) return parse_error("bucket counts overflow");
    if (first) first_index = index;
    first = false;
    last_index = index;
    bucket_total += bucket_count;
    histogram.counts_[index] = bucket_count;
  }

  if (bucket_total != count) {
    return parse_error("bucket counts add up to " + std::to_string(bucket_total) +
                       ", not n=" + std::to_string(count));
  }
  if (count == 0) {
    if (min != 0 || max != 0 || sum != 0) return parse_error("empty but min/max/sum not 0");
    return histogram;
  }
  if (min > max || max > kMaxValue) return parse_error("min/max out of range");
  if (bucket_index(min) != first_index || bucket_index(max) != last_index) {
    return parse_error("min/max disagree with the buckets");
  }
  if (sum < static_cast<Uint128>(min) * count || sum > static_cast<Uint128>(max) * count) {
    return parse_error("sum disagrees with min/max");
  }
  histogram.total_count_ = count;
  histogram.min_ = min;
  histogram.max_ = max;
  histogram.sum_ = sum;
  return histogram;
}

}  // namespace dec::metrics
