// Env: every operating-system action the infrastructure layer takes (processes, signals, files,
// locks, ports, clocks, and the kernel objects of the local provider's hosts: network
// namespaces, links, tc shaping, cgroups) goes through this interface, like LevelDB's Env.
// Tests wrap it (EnvWrapper) to fail any step or "crash" at any point and then check that
// reconcile cleans up; nothing in production reads a test switch.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "infra/linux_host.h"

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
  // false: of dec's own environment only PATH, LANG, LC_*, TZ, TMPDIR and JAVA_HOME are passed
  // on (a broker gets no credential dec happens to hold).
  bool inherit_environment = true;
  std::string working_dir;  // "" = inherit
  std::string log_path;     // stdout+stderr appended here; "" = /dev/null
  // Placement, done by the child before it execs so no instruction of the program runs
  // outside its host: the network namespace's name in /var/run/netns ("" = dec's own), and
  // files the child writes its pid into (linux_host::cgroup_join_files). Needs root.
  std::string netns;
  std::vector<std::string> cgroup_procs;
  // Runs the program as this user (its uid, primary gid and supplementary groups; HOME, USER
  // and LOGNAME set to it) instead of dec's own. "" = dec's user. Needs root.
  std::string user;
};

// Held while an exclusive lock on a file is held; the lock goes with it.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

struct ProcessInfo {
  ProcessId id;
  std::string command;                          // /proc/PID/cmdline, spaces between args
  std::map<std::string, std::string> dec_tags;  // environment variables starting with DEC_
  std::string cwd;                              // working directory ("" if unreadable)
};

// What a process has used so far: CPU time (user + system) and resident memory (now, peak).
struct ProcessUsage {
  uint64_t cpu_ns = 0;
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> memory_peak_bytes;
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
  // The identity of process `pid` (its start time with it); start_ticks 0 when there is none.
  virtual ProcessId process_id(pid_t pid) = 0;
  // What process `pid` has used; nullopt when it is gone.
  virtual std::optional<ProcessUsage> process_usage(pid_t pid) = 0;

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
  // As write_file_atomic, readable and writable by the owner only (0600): for secrets such as a
  // load agent's token.
  virtual Status write_private_file(const std::string& path, const std::string& content) = 0;
  // Gives `path` and everything under it to `user` (and the user's group), for programs that
  // switch to their own user before they write (rabbitmq-server).
  virtual Status chown_tree(const std::string& path, const std::string& user) = 0;

  virtual std::chrono::system_clock::time_point now() = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;

  // Sends `signal` to the process if it is still the one identified (not a reused pid).
  virtual Status signal_process(const ProcessId& id, int signal) = 0;
  // Blocks until this process holds an exclusive lock on `path` (created if absent), which is
  // shared by every dec on the machine.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) = 0;
  // Runs a program and waits (linux_host::run_command).
  virtual Result<std::string> run_command(const std::vector<std::string>& argv) = 0;

  // Hosts of the local provider: the linux_host.h functions of the same names.
  virtual bool hosts_supported() = 0;  // root, and cgroups mounted
  virtual Status create_bridge(const linux_host::BridgeSpec& spec) = 0;
  virtual Status create_host_net(const linux_host::HostNetSpec& spec) = 0;
  virtual Status delete_netns(const std::string& netns) = 0;
  virtual bool netns_exists(const std::string& netns) = 0;
  virtual std::vector<std::string> list_netns() = 0;
  virtual std::vector<pid_t> netns_pids(const std::string& netns) = 0;
  virtual Status delete_link(const std::string& name) = 0;
  virtual bool link_exists(const std::string& name) = 0;
  virtual std::vector<linux_host::LinkInfo> list_links() = 0;
  virtual Status set_link_up(const std::string& name, bool up) = 0;
  virtual Status set_bandwidth(const std::string& netns, const std::string& dev,
                               uint64_t bits_per_s) = 0;
  virtual Result<uint64_t> bandwidth(const std::string& netns, const std::string& dev) = 0;
  virtual Status create_cgroup(const std::string& path, const linux_host::CgroupLimits& limits) = 0;
  virtual Status set_cgroup_limits(const std::string& path,
                                   const linux_host::CgroupLimits& limits) = 0;
  virtual Result<linux_host::CgroupLimits> cgroup_limits(const std::string& path) = 0;
  virtual Result<linux_host::CgroupUsage> cgroup_usage(const std::string& path) = 0;
  virtual Status delete_cgroup(const std::string& path) = 0;
  virtual bool cgroup_exists(const std::string& path) = 0;
  virtual std::vector<std::string> list_cgroups(const std::string& path) = 0;
  virtual Status freeze_cgroup(const std::string& path, bool frozen) = 0;
  virtual std::vector<std::string> cgroup_join_files(const std::string& path) = 0;
};

// Forwards every call to another Env; a test overrides the calls it wants to fail.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}
  Env& target() { return target_; }
  Result<ProcessId> spawn(const SpawnOptions& o) override { return target_.spawn(o); }
  bool process_alive(const ProcessId& id) override { return target_.process_alive(id); }
  Status stop_process(const ProcessId& id, std::chrono::milliseconds grace) override {
    return target_.stop_process(id, grace);
  }
  std::vector<ProcessInfo> processes() override { return target_.processes(); }
  ProcessId self() override { return target_.self(); }
  ProcessId process_id(pid_t pid) override { return target_.process_id(pid); }
  std::optional<ProcessUsage> process_usage(pid_t pid) override {
    return target_.process_usage(pid);
  }
  Result<int> free_tcp_port(const std::string& host) override {
    return target_.free_tcp_port(host);
  }
  bool tcp_port_open(const std::string& host, int port) override {
    return target_.tcp_port_open(host, port);
  }
  Status make_dirs(const std::string& path) override { return target_.make_dirs(path); }
  Status remove_tree(const std::string& path) override { return target_.remove_tree(path); }
  bool path_exists(const std::string& path) override { return target_.path_exists(path); }
  std::vector<std::string> list_dir(const std::string& path) override {
    return target_.list_dir(path);
  }
  Result<std::string> read_file(const std::string& path) override {
    return target_.read_file(path);
  }
  Status write_file_atomic(const std::string& path, const std::string& content) override {
    return target_.write_file_atomic(path, content);
  }
  Status write_private_file(const std::string& path, const std::string& content) override {
    return target_.write_private_file(path, content);
  }
  Status remove_file(const std::string& path) override { return target_.remove_file(path); }
  Status chown_tree(const std::string& path, const std::string& user) override {
    return target_.chown_tree(path, user);
  }
  std::chrono::system_clock::time_point now() override { return target_.now(); }
  void sleep_for(std::chrono::milliseconds duration) override { target_.sleep_for(duration); }
  Status signal_process(const ProcessId& id, int signal) override {
    return target_.signal_process(id, signal);
  }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override {
    return target_.lock_file(path);
  }
  Result<std::string> run_command(const std::vector<std::string>& argv) override {
    return target_.run_command(argv);
  }
  bool hosts_supported() override { return target_.hosts_supported(); }
  Status create_bridge(const linux_host::BridgeSpec& spec) override {
    return target_.create_bridge(spec);
  }
  Status create_host_net(const linux_host::HostNetSpec& spec) override {
    return target_.create_host_net(spec);
  }
  Status delete_netns(const std::string& netns) override { return target_.delete_netns(netns); }
  bool netns_exists(const std::string& netns) override { return target_.netns_exists(netns); }
  std::vector<std::string> list_netns() override { return target_.list_netns(); }
  std::vector<pid_t> netns_pids(const std::string& netns) override {
    return target_.netns_pids(netns);
  }
  Status delete_link(const std::string& name) override { return target_.delete_link(name); }
  bool link_exists(const std::string& name) override { return target_.link_exists(name); }
  std::vector<linux_host::LinkInfo> list_links() override { return target_.list_links(); }
  Status set_link_up(const std::string& name, bool up) override {
    return target_.set_link_up(name, up);
  }
  Status set_bandwidth(const std::string& netns, const std::string& dev,
                       uint64_t bits_per_s) override {
    return target_.set_bandwidth(netns, dev, bits_per_s);
  }
  Result<uint64_t> bandwidth(const std::string& netns, const std::string& dev) override {
    return target_.bandwidth(netns, dev);
  }
  Status create_cgroup(const std::string& path, const linux_host::CgroupLimits& limits) override {
    return target_.create_cgroup(path, limits);
  }
  Status set_cgroup_limits(const std::string& path,
                           const linux_host::CgroupLimits& limits) override {
    return target_.set_cgroup_limits(path, limits);
  }
  Result<linux_host::CgroupLimits> cgroup_limits(const std::string& path) override {
    return target_.cgroup_limits(path);
  }
  Result<linux_host::CgroupUsage> cgroup_usage(const std::string& path) override {
    return target_.cgroup_usage(path);
  }
  Status delete_cgroup(const std::string& path) override { return target_.delete_cgroup(path); }
  bool cgroup_exists(const std::string& path) override { return target_.cgroup_exists(path); }
  std::vector<std::string> list_cgroups(const std::string& path) override {
    return target_.list_cgroups(path);
  }
  Status freeze_cgroup(const std::string& path, bool frozen) override {
    return target_.freeze_cgroup(path, frozen);
  }
  std::vector<std::string> cgroup_join_files(const std::string& path) override {
    return target_.cgroup_join_files(path);
  }

 private:
  Env& target_;
};

// The real operating system.
class PosixEnv : public Env {
 public:
  Result<ProcessId> spawn(const SpawnOptions& options) override;
  bool process_alive(const ProcessId& id) override;
  Status stop_process(const ProcessId& id, std::chrono::milliseconds grace) override;
  std::vector<ProcessInfo> processes() override;
  ProcessId self() override;
  ProcessId process_id(pid_t pid) override;
  std::optional<ProcessUsage> process_usage(pid_t pid) override;
  Result<int> free_tcp_port(const std::string& host) override;
  bool tcp_port_open(const std::string& host, int port) override;
  Status make_dirs(const std::string& path) override;
  Status remove_tree(const std::string& path) override;
  bool path_exists(const std::string& path) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  Result<std::string> read_file(const std::string& path) override;
  Status write_file_atomic(const std::string& path, const std::string& content) override;
  Status write_private_file(const std::string& path, const std::string& content) override;
  Status remove_file(const std::string& path) override;
  Status chown_tree(const std::string& path, const std::string& user) override;
  std::chrono::system_clock::time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
  Status signal_process(const ProcessId& id, int signal) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;
  Result<std::string> run_command(const std::vector<std::string>& argv) override;
  bool hosts_supported() override;
  Status create_bridge(const linux_host::BridgeSpec& spec) override;
  Status create_host_net(const linux_host::HostNetSpec& spec) override;
  Status delete_netns(const std::string& netns) override;
  bool netns_exists(const std::string& netns) override;
  std::vector<std::string> list_netns() override;
  std::vector<pid_t> netns_pids(const std::string& netns) override;
  Status delete_link(const std::string& name) override;
  bool link_exists(const std::string& name) override;
  std::vector<linux_host::LinkInfo> list_links() override;
  Status set_link_up(const std::string& name, bool up) override;
  Status set_bandwidth(const std::string& netns, const std::string& dev,
                       uint64_t bits_per_s) override;
  Result<uint64_t> bandwidth(const std::string& netns, const std::string& dev) override;
  Status create_cgroup(const std::string& path, const linux_host::CgroupLimits& limits) override;
  Status set_cgroup_limits(const std::string& path,
                           const linux_host::CgroupLimits& limits) override;
  Result<linux_host::CgroupLimits> cgroup_limits(const std::string& path) override;
  Result<linux_host::CgroupUsage> cgroup_usage(const std::string& path) override;
  Status delete_cgroup(const std::string& path) override;
  bool cgroup_exists(const std::string& path) override;
  std::vector<std::string> list_cgroups(const std::string& path) override;
  Status freeze_cgroup(const std::string& path, bool frozen) override;
  std::vector<std::string> cgroup_join_files(const std::string& path) override;
};

// The file execvp would run for `name` with PATH = `search_path` (a name with a '/' is taken as
// it is); "" when none is an executable regular file.
std::string find_program(const std::string& name, const std::string& search_path);

}  // namespace dec::infra
