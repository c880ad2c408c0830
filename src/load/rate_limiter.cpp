#include "load/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace dec::load {

void SystemClock::sleep_until(SteadyTime deadline) { std::this_thread::sleep_until(deadline); }

RateLimiter::RateLimiter(Clock& clock, double rate, SteadyTime start, double phase)
    : clock_(clock),
      rate_(rate),
      start_(start),
      period_ns_(rate > 0 ? 1e9 / rate : 0),
      phase_(phase) {}

SteadyTime RateLimiter::intended_time(uint64_t i) const {
  if (unlimited()) return start_;
  // From i, never accumulated: rounding cannot build up over millions of messages.
  const double offset_ns = (static_cast<double>(i) + phase_) * period_ns_;
  return start_ + std::chrono::nanoseconds(std::llround(offset_ns));
}

uint64_t RateLimiter::first_slot_at_or_after(SteadyTime t) const {
  if (unlimited() || t <= start_) return 0;
  const double offset_ns = static_cast<double>((t - start_).count());
  // An estimate from the division, then exact against intended_time's own rounding.
  double estimate = std::ceil(offset_ns / period_ns_ - phase_);
  uint64_t i = estimate <= 0 ? 0 : static_cast<uint64_t>(estimate);
  while (i > 0 && intended_time(i - 1) >= t) --i;
  while (intended_time(i) < t) ++i;
  return i;
}

std::optional<RateLimiter::Slot> RateLimiter::wait_for(
    uint64_t i, const std::atomic<bool>& stop, const std::function<void()>& before_sleep,
    const std::function<void(SteadyTime)>& sleep_until, std::chrono::nanoseconds max_slice) {
  if (stop.load(std::memory_order_relaxed)) return std::nullopt;
  SteadyTime now = clock_.now();
  if (unlimited()) return Slot{now, std::chrono::nanoseconds(0)};
  const SteadyTime due = intended_time(i);
  if (now >= due) {
    const auto lag = std::chrono::duration_cast<std::chrono::nanoseconds>(now - due);
    if (lag.count() > 0) {
      ++late_slots_;
      max_lag_ = std::max(max_lag_, lag);
    }
    return Slot{due, lag};
  }
  if (before_sleep) {
    before_sleep();
    now = clock_.now();
  }
  while (now < due) {
    if (stop.load(std::memory_order_relaxed)) return std::nullopt;
    const SteadyTime slice_end = std::min(due, now + max_slice);
    if (sleep_until) {
      sleep_until(slice_end);
    } else {
      clock_.sleep_until(slice_end);
    }
    now = clock_.now();
  }
  if (stop.load(std::memory_order_relaxed)) return std::nullopt;
  // Waking up late is scheduler noise, not the sender falling behind: report it, don't count it.
  return Slot{due, std::chrono::duration_cast<std::chrono::nanoseconds>(now - due)};
}

}  // namespace dec::load
