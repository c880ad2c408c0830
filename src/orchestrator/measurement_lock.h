// One measurement per machine at a time. Two experiments measured side by side on one machine
// compete for its cores, caches and disks, and both report contaminated figures; so every
// experiment (CLI or server queue) takes a machine-wide lock, an flock(2) on a file under
// /run/lock, and waits for it. With allow_concurrent it runs anyway and records the overlap.
//
// Overlap is detected through a companion "<lock>.arrivals" file: everyone who asks for the lock
// appends "<pid> wait" or "<pid> concurrent" there first, so a holder that finds the file grown
// when it finishes knows that another measurement asked for (or ran without) the lock during
// its run.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "report/environment.h"

namespace dec::orchestrator {

struct MeasurementLockOptions {
  std::string path;  // "" = $DEC_MEASURE_LOCK, else /run/lock/dec-measure.lock
  bool allow_concurrent = false;
  // Called when waiting starts and then about once a second: the holder's pid (0 if unknown)
  // and the seconds waited so far.
  std::function<void(int holder_pid, double waited_s)> on_wait;
  const std::atomic<bool>* stop = nullptr;  // stops waiting (the lock is then not held)
};

class MeasurementLock {
 public:
  // Waits for the lock (unless allow_concurrent). Error only when the lock file cannot be
  // opened; a stop while waiting returns a lock that is not held.
  static Result<std::unique_ptr<MeasurementLock>> acquire(const MeasurementLockOptions& options);
  ~MeasurementLock();
  MeasurementLock(const MeasurementLock&) = delete;
  MeasurementLock& operator=(const MeasurementLock&) = delete;

  bool held() const { return lock_fd_ >= 0; }
  double waited_s() const { return waited_s_; }
  // Whether another measurement held the lock when this one started (allow_concurrent) or asked
  // for it since; `detail` says who. Call once the measurement is over.
  bool overlap_seen(std::string& detail) const;
  // Whether part of that overlap was another measurement running at the same time (with
  // allow_concurrent), not merely one waiting for this one to finish.
  bool measured_alongside() const;
  // Writes the wait, the overlap and allow_concurrent into a result's environment.
  void record(report::Environment& environment) const;
  static std::string default_path();

 private:
  MeasurementLock() = default;
  struct Overlap {
    bool seen = false;
    bool alongside = false;
    std::string detail;
  };
  Overlap scan() const;
  int lock_fd_ = -1;
  std::string arrivals_path_;
  long long arrival_mark_ = 0;  // size of the arrivals file right after this process's entry
  int holder_at_start_ = 0;     // pid holding the lock when an allow_concurrent run started
  double waited_s_ = 0;
  bool allow_concurrent_ = false;
};

}  // namespace dec::orchestrator
