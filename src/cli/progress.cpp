#include "cli/progress.h"

#include <algorithm>

#include "core/units.h"

namespace dec::cli {

void ProgressDisplay::clear_line() {
  if (tty_ && line_open_) {
    std::fputs("\r\033[K", out_);
    line_open_ = false;
  }
}

void ProgressDisplay::state(const std::string& system, const std::string& state) {
  std::lock_guard lock(mutex_);
  if (quiet_) return;
  clear_line();
  if (system.empty()) {
    std::fprintf(out_, "==> experiment %s\n", state.c_str());
  } else {
    std::fprintf(out_, "==> %s: %s\n", system.c_str(), state.c_str());
  }
  last_plain_s_ = -1;
  std::fflush(out_);
}

void ProgressDisplay::log(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (quiet_) return;
  clear_line();
  std::fprintf(out_, "    %s\n", line.c_str());
  std::fflush(out_);
}

void ProgressDisplay::progress(const std::string& system, const load::Progress& p) {
  std::lock_guard lock(mutex_);
  if (quiet_) return;
  const char* phase = p.phase == load::Phase::kWarmup      ? "warm-up"
                      : p.phase == load::Phase::kMeasuring ? "running"
                      : p.phase == load::Phase::kDraining  ? "draining"
                                                           : "done";
  double remaining = std::max(0.0, p.total_s - p.elapsed_s);
  char line[256];
  if (tty_) {
    constexpr int kWidth = 24;
    int filled =
        p.total_s > 0 ? static_cast<int>(kWidth * std::min(1.0, p.elapsed_s / p.total_s)) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar += std::string(static_cast<size_t>(kWidth - filled), '.');
    std::snprintf(line, sizeof line,
                  "\r\033[K  %-14.14s %-8s [%s] %5.1fs / %.0fs (%.0fs left)  out %s  in %s  p99 %s",
                  system.c_str(), phase, bar.c_str(), p.elapsed_s, p.total_s, remaining,
                  core::format_rate(p.produced_per_s).c_str(),
                  core::format_rate(p.consumed_per_s).c_str(),
                  core::format_duration(std::chrono::microseconds(p.p99_us)).c_str());
    std::fputs(line, out_);
    line_open_ = true;
  } else {
    // One line every 5 s keeps CI logs readable.
    if (last_plain_s_ >= 0 && p.elapsed_s - last_plain_s_ < 5.0) return;
    last_plain_s_ = p.elapsed_s;
    std::snprintf(
        line, sizeof line,
        "    %s %s %.0fs/%.0fs: produced %s, consumed %s, p99 %s, sent %llu received %llu\n",
        system.c_str(), phase, p.elapsed_s, p.total_s, core::format_rate(p.produced_per_s).c_str(),
        core::format_rate(p.consumed_per_s).c_str(),
        core::format_duration(std::chrono::microseconds(p.p99_us)).c_str(),
        static_cast<unsigned long long>(p.sent), static_cast<unsigned long long>(p.received));
    std::fputs(line, out_);
  }
  std::fflush(out_);
}

void ProgressDisplay::finish() {
  std::lock_guard lock(mutex_);
  if (tty_ && line_open_) {
    std::fputs("\n", out_);
    line_open_ = false;
  }
}

}  // namespace dec::cli
