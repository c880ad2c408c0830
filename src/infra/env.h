// Env: every operating-system action the infrastructure layer takes (processes, files, ports,
// clocks) goes through this interface, like LevelDB's Env. Tests wrap it to fail any step or
// "crash" at any point and then check that reconcile cleans up.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::infra {

// A process identity that survives pid reuse: pid plus its start time (clock ticks since boot).
struct ProcessId {
  pid_t pid = 0;
  uint64_t start_ticks = 0;
  bool valid() const { return pid > 0; }
};

struct SpawnOptions {
  std::vector<std::string> argv;                   // argv[0] is looked up in PATH
  std::map<std::string, std::string> environment;  // added to the inherited environment
  std::string working_dir;                         // "" = inherit
  std::string log_path;                            // stdout+stderr appended here; "" = /dev/null
  // Placement, done by the child before it execs so no instruction of the program runs
  // outside its host: the network namespace's name in /var/run/netns ("" = dec's own), and
  // files the child writes its pid into (linux_host::cgroup_join_files). Needs root.
  std::string netns;
  std::vector<std::string> cgroup_procs;
};

struct ProcessInfo {
  ProcessId id;
  std::string command;                          // /proc/PID/cmdline, spaces between args
  std::map<std::string, std::string> dec_tags;  // environment variables starting with DEC_
  std::string cwd;                              // working directory ("" if unreadable)
};

class Env {
 public:
  virtual ~Env() = default;

  // Starts a process in its own session (so a terminal's Ctrl-C reaches dec, which then tears
  // down in order) and returns its identity.
  virtual Result<ProcessId> spawn(const SpawnOptions& options) = 0;
  virtual bool process_alive(const ProcessId& id) = 0;
  // SIGTERM, wait up to `grace`, then SIGKILL; reaps the child if it is ours. OK if already gone.
  virtual Status stop_process(const ProcessId& id, std::chrono::milliseconds grace) = 0;
  // Every live process, with its DEC_* environment tags and working directory. Tags alone are
  // not enough: some programs (redis-server) overwrite their environment to set a process
  // title, so owners also match on the working directory dec gave the process.
  virtual std::vector<ProcessInfo> processes() = 0;
  virtual ProcessId self() = 0;

  virtual Result<int> free_tcp_port(const std::string& host) = 0;
  virtual bool tcp_port_open(const std::string& host, int port) = 0;

  virtual Status make_dirs(const std::string& path) = 0;
  virtual Status remove_tree(const std::string& path) = 0;
  virtual bool path_exists(const std::string& path) = 0;
  virtual std::vector<std::string> list_dir(const std::string& path) = 0;
  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Writes a temp file, fsyncs it and renames it over `path`: readers see old or new, never half.
  virtual Status write_file_atomic(const std::string& path, const std::string& content) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Gives `path` and everything under it to `user` (and the user's group), for programs that
  // switch to their own user before they write (rabbitmq-server).
  virtual Status chown_tree(const std::string& path, const std::string& user) = 0;

  virtual std::chrono::system_clock::time_point now() = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

// The real operating system.
class PosixEnv : public Env {
 public:
  Result<ProcessId> spawn(const SpawnOptions& options) override;
  bool process_alive(const ProcessId& id) override;
  Status stop_process(const ProcessId& id, std::chrono::milliseconds grace) override;
  std::vector<ProcessInfo> processes() override;
  ProcessId self() override;
  Result<int> free_tcp_port(const std::string& host) override;
  bool tcp_port_open(const std::string& host, int port) override;
  Status make_dirs(const std::string& path) override;
  Status remove_tree(const std::string& path) override;
  bool path_exists(const std::string& path) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  Result<std::string> read_file(const std::string& path) override;
  Status write_file_atomic(const std::string& path, const std::string& content) override;
  Status remove_file(const std::string& path) override;
  Status chown_tree(const std::string& path, const std::string& user) override;
  std::chrono::system_clock::time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
};

// Reads a process's start time from /proc/PID/stat; 0 if the process does not exist.
uint64_t process_start_ticks(pid_t pid);

}  // namespace dec::infra
