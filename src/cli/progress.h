// Live progress on the terminal: one redrawn line on a TTY (phase, bar, elapsed/remaining,
// msgs/s, current p99), plain log lines otherwise (CI logs, pipes). Written to stderr so stdout
// stays clean for --json.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "load/engine.h"

namespace dec::cli {

class ProgressDisplay {
 public:
  ProgressDisplay(FILE* out, bool tty, bool quiet) : out_(out), tty_(tty), quiet_(quiet) {}
  void state(const std::string& system, const std::string& state);
  void progress(const std::string& system, const load::Progress& progress);
  void log(const std::string& line);
  void finish();  // ends a pending progress line

 private:
  void clear_line();
  FILE* out_;
  bool tty_;
  bool quiet_;
  bool line_open_ = false;
  double last_plain_s_ = -1;
  std::mutex mutex_;
};

}  // namespace dec::cli
