// Statistics across repeated runs of one configuration (docs/results.md "Repeats and
// statistics"): the mean, its standard deviation and a 95 % confidence interval by Student's t,
// and Welch's t-test to say whether two configurations differ by more than run-to-run noise.
// Fewer than two samples give no interval and no test: the functions say so instead of guessing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace dec::report {

// I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1; accurate
// to about 1e-12 (continued fraction, evaluated by the modified Lentz method).
double regularized_incomplete_beta(double a, double b, double x);

// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (df need not be whole:
// Welch's test gives fractional ones).
double student_t_cdf(double t, double df);

// The t with P(|T| > t) = `two_sided_alpha`: 12.706 for alpha 0.05 and df 1, 1.960 as df grows.
double student_t_critical(double two_sided_alpha, double df);

struct Summary {
  size_t n = 0;
  double mean = 0;
  double sd = 0;  // sample standard deviation (n - 1 in the denominator); 0 when n < 2
  // Half-width of the 95 % confidence interval of the mean, t(0.975, n-1) * sd / sqrt(n).
  // None when n < 2: one run says nothing about the spread.
  std::optional<double> ci95;
};

Summary summarize(const std::vector<double>& samples);

struct WelchResult {
  double t = 0;        // (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b)
  double df = 0;       // Welch–Satterthwaite degrees of freedom
  double p_value = 1;  // two-sided
};

// None when either sample has fewer than two values, or both have no variance (the statistic
// is undefined there).
std::optional<WelchResult> welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

enum class Better { kHigher, kLower };  // throughput: higher; latency: lower

// The significance level of every comparison dec reports.
constexpr double kAlpha = 0.05;

struct Verdict {
  // "a is faster by 12.3 % (significant, p=0.0031)", "within noise (p=0.41)",
  // "one run: no confidence interval or test (set repeats: 2 or more)".
  std::string text;
  bool significant = false;
  std::optional<WelchResult> test;
  std::optional<std::string> faster;  // the name that is faster, when significant
  double difference_pct = 0;          // faster vs the slower's mean, in percent
};

// Compares samples of one metric from two configurations named `name_a` and `name_b`.
// The difference is given relative to the slower one's mean.
Verdict compare_samples(const std::string& name_a, const std::vector<double>& a,
                        const std::string& name_b, const std::vector<double>& b, Better better);

// "p=0.0031", "p=0.41", "p<0.0001".
std::string format_p_value(double p);

}  // namespace dec::report
