#include "infra/reaper.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace dec::infra {
namespace {

struct Stat {
  char state = 0;
  pid_t ppid = 0;
  pid_t session = 0;
};

// /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces and ')'.
bool read_stat(pid_t pid, Stat& out) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) return false;
  char buffer[512];
  const size_t got = std::fread(buffer, 1, sizeof buffer - 1, file);
  std::fclose(file);
  buffer[got] = '\0';
  const char* close = std::strrchr(buffer, ')');
  if (close == nullptr) return false;
  int ppid = 0, pgrp = 0, session = 0;
  char state = 0;
  if (std::sscanf(close + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) return false;
  out = {state, static_cast<pid_t>(ppid), static_cast<pid_t>(session)};
  return true;
}

}  // namespace

size_t reap_orphans() {
  const pid_t self = getpid();
  const pid_t own_session = getsid(0);
  size_t reaped = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long value = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || value <= 0) continue;
    const auto pid = static_cast<pid_t>(value);
    Stat stat;
    if (!read_stat(pid, stat) || stat.state != 'Z' || stat.ppid != self) continue;
    if (stat.session == own_session) continue;  // a command some caller waits for
    if (waitpid(pid, nullptr, WNOHANG) == pid) ++reaped;
  }
  closedir(proc);
  return reaped;
}

void start_child_reaper(int interval_ms) {
  static std::once_flag once;
  std::call_once(once, [interval_ms] {
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    std::thread([interval_ms] {
      // Signals are for the threads that handle them (dec waits for SIGINT/SIGTERM with
      // sigwait): a thread started before they were blocked must not take one.
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
        reap_orphans();
      }
    }).detach();
  });
}

}  // namespace dec::infra
