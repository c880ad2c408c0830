#include "orchestrator/measurement_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

namespace dec::orchestrator {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr double kReportEverySeconds = 1.0;

// The pid the holder wrote into the lock file, 0 if none can be read.
int read_holder(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  return n > 0 ? std::atoi(buffer) : 0;
}

void write_holder(int fd) {
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid.data(), pid.size(), 0);
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string MeasurementLock::default_path() {
  const char* env = std::getenv("DEC_MEASURE_LOCK");
  return env != nullptr && *env != '\0' ? env : "/run/lock/dec-measure.lock";
}

Result<std::unique_ptr<MeasurementLock>> MeasurementLock::acquire(
    const MeasurementLockOptions& options) {
  const std::string path = options.path.empty() ? default_path() : options.path;
  std::unique_ptr<MeasurementLock> lock(new MeasurementLock());
  lock->allow_concurrent_ = options.allow_concurrent;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    return make_error("cannot open the measurement lock " + path + ": " + errno_text() +
                      " (set DEC_MEASURE_LOCK to a writable file, or run with --allow-concurrent)");
  }
  // Others may need to open it after us under another user.
  (void)fchmod(fd, 0666);

  lock->arrivals_path_ = path + ".arrivals";
  const int arrivals =
      open(lock->arrivals_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (arrivals >= 0) {
    (void)fchmod(arrivals, 0666);
    const std::string line =
        std::to_string(getpid()) + (options.allow_concurrent ? " concurrent\n" : " wait\n");
    // With O_APPEND the offset after the write is the end of this process's own line.
    if (write(arrivals, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      lock->arrival_mark_ = lseek(arrivals, 0, SEEK_CUR);
    }
    close(arrivals);
  }

  const auto start = std::chrono::steady_clock::now();
  double last_report = -kReportEverySeconds;
  while (true) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      write_holder(fd);
      lock->lock_fd_ = fd;
      break;
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const std::string error = errno_text();
      close(fd);
      return make_error("cannot lock " + path + ": " + error);
    }
    const int holder = read_holder(fd);
    if (options.allow_concurrent) {
      lock->holder_at_start_ = holder > 0 ? holder : -1;
      close(fd);
      break;
    }
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.on_wait && waited - last_report >= kReportEverySeconds) {
      options.on_wait(holder, waited);
      last_report = waited;
    }
    if (options.stop && options.stop->load()) {
      close(fd);
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  lock->waited_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return lock;
}

MeasurementLock::~MeasurementLock() {
  if (lock_fd_ < 0) return;
  (void)ftruncate(lock_fd_, 0);
  flock(lock_fd_, LOCK_UN);
  close(lock_fd_);
}

MeasurementLock::Overlap MeasurementLock::scan() const {
  Overlap overlap;
  std::ostringstream out;
  if (holder_at_start_ != 0) {
    overlap.seen = true;
    overlap.alongside = true;
    out << (holder_at_start_ > 0 ? "pid " + std::to_string(holder_at_start_) : "another process")
        << " held the lock when this run started";
  }
  // Everyone who arrived after this process: waiting for the lock, or running without it.
  std::set<std::string> waiting;
  std::set<std::string> concurrent;
  const int fd = open(arrivals_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && arrival_mark_ > 0) {
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    off_t at = arrival_mark_;
    while ((n = pread(fd, buffer, sizeof(buffer), at)) > 0) {
      text.append(buffer, static_cast<size_t>(n));
      at += n;
    }
    std::istringstream lines(text);
    std::string pid;
    std::string mode;
    while (lines >> pid >> mode) {
      if (pid == std::to_string(getpid())) continue;
      (mode == "concurrent" ? concurrent : waiting).insert(pid);
    }
  }
  if (fd >= 0) close(fd);
  auto list = [&](const std::set<std::string>& pids, const char* what) {
    if (pids.empty()) return;
    if (overlap.seen) out << "; ";
    overlap.seen = true;
    out << (pids.size() > 1 ? "pids" : "pid");
    bool first = true;
    for (const auto& pid : pids) {
      out << (first ? " " : ", ") << pid;
      first = false;
    }
    out << what;
  };
  list(concurrent, " measured alongside this run (--allow-concurrent)");
  if (!concurrent.empty()) overlap.alongside = true;
  list(waiting, " asked for the lock during this run");
  overlap.detail = out.str();
  return overlap;
}

bool MeasurementLock::overlap_seen(std::string& detail) const {
  Overlap overlap = scan();
  detail = overlap.detail;
  return overlap.seen;
}

bool MeasurementLock::measured_alongside() const { return scan().alongside; }

void MeasurementLock::record(report::Environment& environment) const {
  const Overlap overlap = scan();
  environment.allow_concurrent = allow_concurrent_;
  environment.lock_wait_s = waited_s_;
  environment.concurrent_runs = overlap.seen;
  environment.measured_alongside = overlap.alongside;
  environment.concurrent_detail = overlap.detail;
}

}  // namespace dec::orchestrator
