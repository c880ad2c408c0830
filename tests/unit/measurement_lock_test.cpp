// The machine-wide measurement lock between real processes: the second waits and says whom for;
// with allow_concurrent it runs at once; both sides record the overlap.
#include "orchestrator/measurement_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace dec::orchestrator {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class MeasurementLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dec-lock-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    lock_path_ = (dir_ / "measure.lock").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A child process that takes the lock, says so through a file, holds it for `hold`, and writes
  // what overlap it saw to "<dir>/holder.overlap" before exiting.
  pid_t start_holder(std::chrono::milliseconds hold) {
    const std::string ready = (dir_ / "holder.ready").string();
    const pid_t pid = fork();
    if (pid == 0) {
      MeasurementLockOptions options;
      options.path = lock_path_;
      auto lock = MeasurementLock::acquire(options);
      if (!lock || !(*lock)->held()) _exit(1);
      std::ofstream(ready) << "ok";
      std::this_thread::sleep_for(hold);
      std::string detail;
      const bool seen = (*lock)->overlap_seen(detail);
      std::ofstream(dir_ / "holder.overlap") << (seen ? "yes " : "no ") << detail;
      _exit(0);
    }
    for (int i = 0; i < 500 && !fs::exists(ready); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(fs::exists(ready)) << "holder did not take the lock";
    return pid;
  }

  std::string holder_overlap() {
    std::ifstream in(dir_ / "holder.overlap");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static int wait_for(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  fs::path dir_;
  std::string lock_path_;
};

TEST_F(MeasurementLockTest, SecondMeasurementWaitsAndSaysForWhom) {
  const pid_t holder = start_holder(1500ms);
  MeasurementLockOptions options;
  options.path = lock_path_;
  std::vector<int> holders_reported;
  options.on_wait = [&](int pid, double) { holders_reported.push_back(pid); };
  auto lock = MeasurementLock::acquire(options);
  ASSERT_TRUE(lock.ok()) << lock.error();
  EXPECT_TRUE((*lock)->held());
  EXPECT_GE((*lock)->waited_s(), 1.0);
  ASSERT_FALSE(holders_reported.empty()) << "waiting must be reported";
  EXPECT_EQ(holders_reported.front(), holder);
  std::string detail;
  EXPECT_FALSE((*lock)->overlap_seen(detail)) << detail << ": it waited, so nothing overlapped";
  EXPECT_EQ(wait_for(holder), 0);
  // The holder learnt that another measurement asked for the lock during its run.
  EXPECT_EQ(holder_overlap(),
            "yes pid " + std::to_string(getpid()) + " asked for the lock during this run");
}

TEST_F(MeasurementLockTest, AllowConcurrentRunsAtOnceAndBothRecordTheOverlap) {
  const pid_t holder = start_holder(800ms);
  MeasurementLockOptions options;
  options.path = lock_path_;
  options.allow_concurrent = true;
  auto lock = MeasurementLock::acquire(options);
  ASSERT_TRUE(lock.ok()) << lock.error();
  EXPECT_FALSE((*lock)->held());
  EXPECT_LT((*lock)->waited_s(), 0.5);
  std::string detail;
  EXPECT_TRUE((*lock)->overlap_seen(detail));
  EXPECT_NE(detail.find("pid " + std::to_string(holder) + " held the lock"), std::string::npos)
      << detail;
  EXPECT_EQ(wait_for(holder), 0);
  EXPECT_EQ(holder_overlap(), "yes pid " + std::to_string(getpid()) +
                                  " measured alongside this run (--allow-concurrent)");
  EXPECT_TRUE((*lock)->measured_alongside());
}

TEST_F(MeasurementLockTest, AloneNothingOverlapsAndTheLockIsReleased) {
  MeasurementLockOptions options;
  options.path = lock_path_;
  {
    auto first = MeasurementLock::acquire(options);
    ASSERT_TRUE(first.ok());
    std::string detail;
    EXPECT_FALSE((*first)->overlap_seen(detail)) << detail;
  }
  auto again = MeasurementLock::acquire(options);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->held());
  EXPECT_LT((*again)->waited_s(), 0.5);
}

TEST_F(MeasurementLockTest, StopEndsTheWait) {
  const pid_t holder = start_holder(3000ms);
  std::atomic<bool> stop{false};
  MeasurementLockOptions options;
  options.path = lock_path_;
  options.stop = &stop;
  options.on_wait = [&](int, double waited_s) {
    if (waited_s > 0.2) stop = true;
  };
  auto lock = MeasurementLock::acquire(options);
  ASSERT_TRUE(lock.ok());
  EXPECT_FALSE((*lock)->held());
  EXPECT_LT((*lock)->waited_s(), 2.5);
  kill(holder, SIGKILL);
  wait_for(holder);
}

TEST_F(MeasurementLockTest, UnwritableLockFileIsAClearError) {
  MeasurementLockOptions options;
  options.path = (dir_ / "missing-dir" / "measure.lock").string();
  auto lock = MeasurementLock::acquire(options);
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.error().find("DEC_MEASURE_LOCK"), std::string::npos) << lock.error();
}

}  // namespace
}  // namespace dec::orchestrator
