// Open-loop send schedule, as wrk2 does it: message i of a producer is *intended* at
// start + (i + phase) / rate, computed from i rather than accumulated, so the schedule never
// drifts. A sender that falls behind sends at once and keeps the intended time: the delay shows up
// as latency (no coordinated omission) instead of silently moving the schedule.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace dec::load {

using SteadyTime = std::chrono::steady_clock::time_point;

// Time source and sleep, injectable so tests can drive the schedule with a fake clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() = 0;
  virtual void sleep_until(SteadyTime deadline) = 0;
};

// The real steady clock. Stateless, so one instance may be shared by every thread.
class SystemClock final : public Clock {
 public:
  SteadyTime now() override { return std::chrono::steady_clock::now(); }
  void sleep_until(SteadyTime deadline) override;
};

class RateLimiter {
 public:
  // `rate` in messages/s for this producer; 0 means no limit (every message is due at once and its
  // intended time is the moment it is sent). `phase` in [0, 1) shifts this producer's slots by a
  // fraction of its period so that several producers interleave evenly instead of sending in
  // bursts at the same instants.
  RateLimiter(Clock& clock, double rate, SteadyTime start, double phase = 0);

  bool unlimited() const { return rate_ <= 0; }
  // When message `i` (0-based) is due. For an unlimited limiter this is the start time.
  SteadyTime intended_time(uint64_t i) const;
  // The first message due at or after `t` (0 when unlimited): messages [first(a), first(b)) are
  // the ones intended in [a, b).
  uint64_t first_slot_at_or_after(SteadyTime t) const;

  // Waits until message `i` is due and returns its intended send time (now, when unlimited).
  // When ahead of schedule, `before_sleep` (if set) runs once before waiting; the engine flushes
  // pipelined sends there. The wait is made of slices of at most `max_slice`, each spent in
  // `sleep_until` (the clock's sleep when unset; the engine collects acks there instead), and
  // returns nothing as soon as `stop` is true, so callers stay responsive even at very low rates.
  // Never waits when behind.
  struct Slot {
    SteadyTime intended;
    std::chrono::nanoseconds lag{0};  // how late the slot is taken (0 when on time)
  };
  std::optional<Slot> wait_for(uint64_t i, const std::atomic<bool>& stop,
                               const std::function<void()>& before_sleep = {},
                               const std::function<void(SteadyTime)>& sleep_until = {},
                               std::chrono::nanoseconds max_slice = std::chrono::milliseconds(20));

  // Slots that were already overdue when asked for, and the largest lag seen: how far the sender
  // fell behind its schedule.
  uint64_t late_slots() const { return late_slots_; }
  std::chrono::nanoseconds max_lag() const { return max_lag_; }

 private:
  Clock& clock_;
  double rate_;
  SteadyTime start_;
  double period_ns_;
  double phase_;
  uint64_t late_slots_ = 0;
  std::chrono::nanoseconds max_lag_{0};
};

}  // namespace dec::load
