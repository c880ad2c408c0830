// FaultInjectionEnv: an Env that fails operating-system operations on purpose, after LevelDB's
// fault_injection_test. It counts every operation that changes something (spawning, signals,
// files, locks, commands, namespaces, links, tc, cgroups; reads pass through) and
//  - fail_at(k): the k-th such operation fails, the others go through (a transient error);
//  - crash_at(k): the k-th and every later one fail, as if dec died right before the k-th:
//    nothing it would have done next happens, what it did so far stays.
// self() answers an identity no live process has, so a run this Env "owned" reads as the run of
// a dead dec, as after kill -9, and reconcile takes it over.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "infra/env.h"

namespace dec::testing {

class FaultInjectionEnv : public infra::EnvWrapper {
 public:
  explicit FaultInjectionEnv(infra::Env& target) : EnvWrapper(target) {}

  void fail_at(int k) { arm(k, false); }
  void crash_at(int k) { arm(k, true); }
  // Operations counted so far, and whether the armed fault happened.
  int operations() const { return count_.load(); }
  bool fired() const { return fired_.load(); }
  // "k: operation argument" of every counted operation, for failure messages.
  std::vector<std::string> history() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return history_;
  }

  infra::ProcessId self() override { return infra::ProcessId{0x3fffffff, 1}; }

  Result<infra::ProcessId> spawn(const infra::SpawnOptions& o) override {
    if (auto e = inject("spawn " + (o.argv.empty() ? "" : o.argv[0]))) return make_error(*e);
    return EnvWrapper::spawn(o);
  }
  Status stop_process(const infra::ProcessId& id, std::chrono::milliseconds grace) override {
    if (auto e = inject("stop_process " + std::to_string(id.pid))) return make_error(*e);
    return EnvWrapper::stop_process(id, grace);
  }
  Status signal_process(const infra::ProcessId& id, int signal) override {
    if (auto e = inject("signal_process " + std::to_string(id.pid))) return make_error(*e);
    return EnvWrapper::signal_process(id, signal);
  }
  Status make_dirs(const std::string& path) override {
    if (auto e = inject("make_dirs " + path)) return make_error(*e);
    return EnvWrapper::make_dirs(path);
  }
  Status remove_tree(const std::string& path) override {
    if (auto e = inject("remove_tree " + path)) return make_error(*e);
    return EnvWrapper::remove_tree(path);
  }
  Status write_file_atomic(const std::string& path, const std::string& content) override {
    if (auto e = inject("write_file_atomic " + path)) return make_error(*e);
    return EnvWrapper::write_file_atomic(path, content);
  }
  Status write_private_file(const std::string& path, const std::string& content) override {
    if (auto e = inject("write_private_file " + path)) return make_error(*e);
    return EnvWrapper::write_private_file(path, content);
  }
  Status remove_file(const std::string& path) override {
    if (auto e = inject("remove_file " + path)) return make_error(*e);
    return EnvWrapper::remove_file(path);
  }
  Status chown_tree(const std::string& path, const std::string& user) override {
    if (auto e = inject("chown_tree " + path)) return make_error(*e);
    return EnvWrapper::chown_tree(path, user);
  }
  Result<std::unique_ptr<infra::FileLock>> lock_file(const std::string& path) override {
    if (auto e = inject("lock_file " + path)) return make_error(*e);
    return EnvWrapper::lock_file(path);
  }
  Result<std::string> run_command(const std::vector<std::string>& argv) override {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    if (auto e = inject("run_command " + line)) return make_error(*e);
    return EnvWrapper::run_command(argv);
  }
  Status create_bridge(const infra::linux_host::BridgeSpec& spec) override {
    if (auto e = inject("create_bridge " + spec.name)) return make_error(*e);
    return EnvWrapper::create_bridge(spec);
  }
  Status create_host_net(const infra::linux_host::HostNetSpec& spec) override {
    if (auto e = inject("create_host_net " + spec.netns)) return make_error(*e);
    return EnvWrapper::create_host_net(spec);
  }
  Status delete_netns(const std::string& netns) override {
    if (auto e = inject("delete_netns " + netns)) return make_error(*e);
    return EnvWrapper::delete_netns(netns);
  }
  Status delete_link(const std::string& name) override {
    if (auto e = inject("delete_link " + name)) return make_error(*e);
    return EnvWrapper::delete_link(name);
  }
  Status set_link_up(const std::string& name, bool up) override {
    if (auto e = inject("set_link_up " + name)) return make_error(*e);
    return EnvWrapper::set_link_up(name, up);
  }
  Status set_bandwidth(const std::string& netns, const std::string& dev,
                       uint64_t bits_per_s) override {
    if (auto e = inject("set_bandwidth " + netns + " " + dev)) return make_error(*e);
    return EnvWrapper::set_bandwidth(netns, dev, bits_per_s);
  }
  Status create_cgroup(const std::string& path,
                       const infra::linux_host::CgroupLimits& limits) override {
    if (auto e = inject("create_cgroup " + path)) return make_error(*e);
    return EnvWrapper::create_cgroup(path, limits);
  }
  Status set_cgroup_limits(const std::string& path,
                           const infra::linux_host::CgroupLimits& limits) override {
    if (auto e = inject("set_cgroup_limits " + path)) return make_error(*e);
    return EnvWrapper::set_cgroup_limits(path, limits);
  }
  Status delete_cgroup(const std::string& path) override {
    if (auto e = inject("delete_cgroup " + path)) return make_error(*e);
    return EnvWrapper::delete_cgroup(path);
  }
  Status freeze_cgroup(const std::string& path, bool frozen) override {
    if (auto e = inject("freeze_cgroup " + path)) return make_error(*e);
    return EnvWrapper::freeze_cgroup(path, frozen);
  }

 private:
  void arm(int k, bool crash) {
    std::lock_guard<std::mutex> lock(mutex_);
    target_op_ = k;
    crash_ = crash;
    count_ = 0;
    fired_ = false;
    history_.clear();
  }
  // The error to return instead of doing `operation`, if it is to fail.
  std::optional<std::string> inject(const std::string& operation) {
    std::lock_guard<std::mutex> lock(mutex_);
    const int k = ++count_;
    history_.push_back(std::to_string(k) + ": " + operation);
    const bool fail = target_op_ > 0 && (k == target_op_ || (crash_ && k > target_op_));
    if (!fail) return std::nullopt;
    fired_ = true;
    return std::string(crash_ ? "dec died before: " : "injected failure of: ") + operation;
  }

  mutable std::mutex mutex_;
  std::atomic<int> count_{0};
  std::atomic<bool> fired_{false};
  int target_op_ = 0;
  bool crash_ = false;
  std::vector<std::string> history_;
};

}  // namespace dec::testing
