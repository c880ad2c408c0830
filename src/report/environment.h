// What a result needs besides the spec to be reproduced: the dec build, the machine (kernel, CPU
// model, cores, memory) and whether another measurement shared the machine while it ran.
// Product and client library versions are recorded per run (RunResult::served_by and
// client_library), since they differ between the systems of one experiment.
#pragma once

#include <cstdint>
#include <string>

namespace dec::report {

struct Environment {
  std::string dec_version;  // git describe of the build, or "unknown"
  std::string kernel;       // uname -r
  std::string os;           // uname -s and -m ("Linux x86_64")
  std::string hostname;
  std::string cpu_model;  // /proc/cpuinfo "model name"
  unsigned cpu_cores = 0;
  uint64_t memory_bytes = 0;  // MemTotal
  // dec's payload filler is derived from (producer, sequence), never from a random seed, so
  // nothing needs recording to regenerate the same bytes.
  std::string payload_seed = "none: deterministic, from producer and sequence number";
  // The machine-wide measurement lock (orchestrator/measurement_lock.h): whether another dec
  // measurement held or asked for it while this one ran, how long this one waited for it, and
  // whether it ran without it (--allow-concurrent).
  bool concurrent_runs = false;
  bool measured_alongside = false;  // another measurement ran at the same time, not just waited
  std::string concurrent_detail;
  double lock_wait_s = 0;
  bool allow_concurrent = false;
};

// Reads the running machine's facts (cheap: uname and two /proc files).
Environment collect_environment();

}  // namespace dec::report
