#include "report/stats.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace dec::report {
namespace {

// The continued fraction of I_x(a, b) (Numerical Recipes, 3rd ed., 6.4), by the modified Lentz
// method; converges quickly for x < (a + 1) / (a + b + 2), which the caller ensures.
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 1000;
  constexpr double kEpsilon = 1e-15;
  constexpr double kTiny = 1e-300;
  const double qab = a + b;
  const double qap = a + 1;
  const double qam = a - 1;
  double c = 1;
  double d = 1 - qab * x / qap;
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < kEpsilon) break;
  }
  return h;
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The fraction converges fast only below the mean; above it, use I_x(a,b) = 1 - I_1-x(b,a).
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  // P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2).
  const double tail = 0.5 * regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t > 0 ? 1 - tail : tail;
}

double student_t_critical(double two_sided_alpha, double df) {
  auto two_sided_p = [df](double t) {
    return regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t));
  };
  // P(|T| > t) falls as t grows: bracket the root, then bisect to double precision.
  double low = 0;
  double high = 2;
  while (two_sided_p(high) > two_sided_alpha && high < 1e12) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-13 * high; ++i) {
    const double mid = (low + high) / 2;
    (two_sided_p(mid) > two_sided_alpha ? low : high) = mid;
  }
  return (low + high) / 2;
}

Summary summarize(const std::vector<double>& samples) {
  Summary summary;
  summary.n = samples.size();
  if (samples.empty()) return summary;
  double sum = 0;
  for (double v : samples) sum += v;
  summary.mean = sum / static_cast<double>(samples.size());
  if (samples.size() < 2) return summary;
  double squares = 0;
  for (double v : samples) squares += (v - summary.mean) * (v - summary.mean);
  const double n = static_cast<double>(samples.size());
  summary.sd = std::sqrt(squares / (n - 1));
  summary.ci95 = student_t_critical(kAlpha, n - 1) * summary.sd / std::sqrt(n);
  return summary;
}

std::optional<WelchResult> welch_t_test(const std::vector<double>& a,
                                        const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2) return std::nullopt;
  const Summary sa = summarize(a);
  const Summary sb = summarize(b);
  const double na = static_cast<double>(sa.n);
  const double nb = static_cast<double>(sb.n);
  const double va = sa.sd * sa.sd / na;  // squared standard error of each mean
  const double vb = sb.sd * sb.sd / nb;
  if (va + vb <= 0) return std::nullopt;
  WelchResult result;
  result.t = (sa.mean - sb.mean) / std::sqrt(va + vb);
  result.df = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
  result.p_value = regularized_incomplete_beta(result.df / 2, 0.5,
                                               result.df / (result.df + result.t * result.t));
  return result;
}

std::string format_p_value(double p) {
  if (p < 0.0001) return "p<0.0001";
  // Two significant digits: enough to compare with alpha, no false precision.
  const int digits = std::max(2, 1 - static_cast<int>(std::floor(std::log10(p))));
  return "p=" + fixed(p, digits);
}

Verdict compare_samples(const std::string& name_a, const std::vector<double>& a,
                        const std::string& name_b, const std::vector<double>& b, Better better) {
  Verdict verdict;
  if (a.size() < 2 || b.size() < 2) {
    verdict.text = "one run: no confidence interval or test (set repeats: 2 or more)";
    return verdict;
  }
  const double mean_a = summarize(a).mean;
  const double mean_b = summarize(b).mean;
  const bool a_ahead = better == Better::kHigher ? mean_a > mean_b : mean_a < mean_b;
  const std::string& ahead = a_ahead ? name_a : name_b;
  const double slower = a_ahead ? mean_b : mean_a;
  const double faster = a_ahead ? mean_a : mean_b;
  verdict.difference_pct = slower != 0 ? std::abs(faster - slower) / std::abs(slower) * 100 : 0;
  verdict.test = welch_t_test(a, b);
  if (!verdict.test) {
    // Every run of both gave the same figure: there is no noise to test against.
    verdict.text = mean_a == mean_b ? "identical in every run (no variation to test)"
                                    : ahead + " is faster by " + fixed(verdict.difference_pct, 1) +
                                          " % in every run (no variation, so no p-value)";
    return verdict;
  }
  const std::string p = format_p_value(verdict.test->p_value);
  if (verdict.test->p_value < kAlpha && mean_a != mean_b) {
    verdict.significant = true;
    verdict.faster = ahead;
    verdict.text =
        ahead + " is faster by " + fixed(verdict.difference_pct, 1) + " % (significant, " + p + ")";
  } else {
    verdict.text = "within noise (" + p + ")";
  }
  return verdict;
}

}  // namespace dec::report
