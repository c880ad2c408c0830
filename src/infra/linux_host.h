// Linux primitives for the local provider's "hosts": network namespaces joined to a bridge by
// veth pairs (addresses in 198.18.0.0/15), cgroup CPU/memory limits (v1 or v2, whichever the
// machine mounts), tc token-bucket bandwidth shaping, and freezing a host's processes.
// Every call is idempotent in the direction it moves (create of an existing thing with the
// same name succeeds, delete of a missing thing succeeds), so apply, destroy and reconcile can
// repeat any step after a crash. Callers choose every name; nothing here knows about runs.
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); functions return a clear error otherwise.
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::infra::linux_host {

bool is_root();

// ---- running programs ------------------------------------------------------------------------

// A program run to its end by run_program: every program dec runs and waits for (ip, tc,
// kubectl, terraform/tofu) goes through it.
struct ProgramRun {
  std::vector<std::string> argv;  // argv[0] looked up in PATH unless it contains a '/'
  std::string input;              // written to stdin (under 60 000 bytes); "" = /dev/null
  std::string working_dir;        // "" = dec's own
  std::map<std::string, std::string> environment;  // added to (or replacing) dec's own
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // At the timeout a program is killed (SIGKILL). With its own process group, the whole group
  // is asked to stop (SIGTERM: a CLI releases its locks and stops its plugins) and killed
  // after `stop_grace`.
  bool own_process_group = false;
  std::chrono::milliseconds stop_grace{0};
  // Called with every complete line of standard output as it arrives (progress), and with a
  // last unterminated one at the end.
  std::function<void(const std::string& line)> on_stdout_line;
};

struct ProgramOutput {
  int exit_code = 0;  // 128 + signal when killed by one
  int signal = 0;     // the signal that killed it; 0 when it exited
  std::string out;
  std::string err;
};

// Runs `program` and waits. An error means it could not be started ("cannot run NAME: No such
// file or directory") or ran past its timeout ("NAME did not finish within 30 s and was
// stopped"); a non-zero exit is an output, not an error.
Result<ProgramOutput> run_program(const ProgramRun& program);

// posix_spawn attributes every child of dec gets: default signal dispositions and an empty
// signal mask (whatever dec's threads had blocked or ignored), plus `flags`
// (POSIX_SPAWN_SETSID, POSIX_SPAWN_SETPGROUP for a group of its own). The caller destroys them.
void init_spawn_attributes(posix_spawnattr_t* attr, short flags);

// run_program with the defaults, stdout on exit 0; otherwise an error carrying the exit status
// and stderr ("ip link add ... failed (exit 2): <stderr>").
Result<std::string> run_command(const std::vector<std::string>& argv);

// This process's environment as "NAME=value" strings, with `overrides` replacing or adding
// variables: what a spawned program gets.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides);

// The whole content of a /proc or /sys file, or nullopt when it cannot be read (the process or
// cgroup went away mid-read: the kernel then fails the read itself, which iostreams would
// throw for).
std::optional<std::string> read_kernel_file(const std::string& path);

// ---- network ---------------------------------------------------------------------------------

// A Linux bridge in the root namespace with `address_cidr` (e.g. "198.18.7.1/24"), link up, and
// `alias` stored as the interface alias (how discover() recognises dec's links). Its MAC is
// derived from the address, so it stays the same while hosts join and leave (a bridge would
// otherwise take its lowest port's MAC). An extra IPv4 address on it is removed. The alias
// must not contain quotes, backslashes or line breaks.
struct BridgeSpec {
  std::string name;          // at most 15 characters
  std::string address_cidr;  // gateway address of the hosts on this bridge
  std::string alias;
};
Status create_bridge(const BridgeSpec& spec);

// A network namespace `netns` with loopback up and a veth pair: `veth_outer` (root namespace,
// enslaved to `bridge`, up, alias `alias`) and its peer renamed "eth0" inside the namespace
// with `address_cidr`, up, default route via `gateway`. eth0's MAC is derived from its address,
// so a host recreated with the same address is reachable at once (neighbours' ARP caches stay
// right). Completes a half-made host: a namespace without its veth, a stale file in
// /var/run/netns, a veth whose peer is not in the namespace.
struct HostNetSpec {
  std::string netns;
  std::string bridge;
  std::string veth_outer;    // at most 15 characters
  std::string address_cidr;  // "198.18.7.2/24"
  std::string gateway;       // "198.18.7.1"
  std::string alias;
};
Status create_host_net(const HostNetSpec& spec);

// Deletes the namespace (its veth pair goes with it). Processes still inside keep it alive, so
// callers stop them first (netns_pids). OK when it does not exist.
Status delete_netns(const std::string& netns);
bool netns_exists(const std::string& netns);  // the name is taken (even by a stale file)
std::vector<std::string> list_netns();        // names in /var/run/netns
std::vector<pid_t> netns_pids(const std::string& netns);  // processes inside it

// Deletes a link of the root namespace (bridge or veth). OK when it does not exist.
Status delete_link(const std::string& name);
bool link_exists(const std::string& name);
struct LinkInfo {
  std::string name;
  std::string kind;   // "bridge", "veth", ...
  std::string alias;  // "" when none
  bool up = false;
};
std::vector<LinkInfo> list_links();  // links of the root namespace
// Administrative up/down of a root-namespace link: cuts or restores a host's network.
Status set_link_up(const std::string& name, bool up);

// Token-bucket shaping of the egress of `dev` (inside `netns`, or the root namespace when
// `netns` is empty) to `bits_per_s`; 0 removes the shaping. Replaces any previous setting.
// The kernel keeps whole bytes per second, so the rate is rounded down to a multiple of 8;
// below 8 bit/s is an error. Bucket: 4 ms of traffic, at least 32 KiB; latency 50 ms.
Status set_bandwidth(const std::string& netns, const std::string& dev, uint64_t bits_per_s);
// The shaped rate in bits/s, 0 when unshaped (no tbf root qdisc).
Result<uint64_t> bandwidth(const std::string& netns, const std::string& dev);

// ---- cgroups ---------------------------------------------------------------------------------

enum class CgroupVersion { kNone, kV1, kV2 };
CgroupVersion cgroup_version();

struct CgroupLimits {
  std::optional<double> cpus;            // CPU quota in cores (cfs quota/period or cpu.max)
  std::optional<uint64_t> memory_bytes;  // hard memory limit
  // Unset means no limit. cpus >= 0.01 (period 100 ms); the kernel rounds memory down to
  // whole pages, so cgroup_limits() reads back a page multiple.
  bool operator==(const CgroupLimits&) const = default;
};

// `path` is relative to the hierarchy root, e.g. "dec/<installation>/<name>". v1: the same
// path is created in the cpu, memory, freezer and pids hierarchies (those mounted); v2: in the
// unified one, with cpu, memory and pids enabled in the ancestors' cgroup.subtree_control.
// On an existing cgroup it creates what is missing and applies `limits`.
Status create_cgroup(const std::string& path, const CgroupLimits& limits);
Status set_cgroup_limits(const std::string& path, const CgroupLimits& limits);  // in place
Result<CgroupLimits> cgroup_limits(const std::string& path);  // what the kernel has now

// What the processes of a cgroup have used: CPU time since the cgroup was made (every process,
// exited ones included) and memory now and at its peak (v1 max_usage_in_bytes, v2 memory.peak
// where the kernel has it; absent otherwise). Memory counts page cache the cgroup is charged for.
struct CgroupUsage {
  uint64_t cpu_ns = 0;
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> memory_peak_bytes;
  // Processes the kernel killed for exceeding the memory limit (v2 memory.events, v1
  // memory.oom_control "oom_kill"); absent where the kernel does not count them.
  std::optional<uint64_t> oom_kills;
};
Result<CgroupUsage> cgroup_usage(const std::string& path);
// SIGKILLs whatever is still inside, waits for it to leave, removes the directories (and
// empty parents up to, not including, `stop_at`). OK when missing.
// Child cgroups go too. Frozen cgroups are thawed first (frozen processes ignore SIGKILL).
// Gives up after about 3 s. When no ancestor of `path` is named `stop_at`, no parent is removed.
Status delete_cgroup(const std::string& path, const std::string& stop_at = "dec");
bool cgroup_exists(const std::string& path);  // in any hierarchy (a half-made one counts)
std::vector<pid_t> cgroup_pids(const std::string& path);
// Children of `path` (names only), for discovery.
std::vector<std::string> list_cgroups(const std::string& path);
// Pause (freezer FROZEN / cgroup.freeze 1) or resume every process in the cgroup; returns once
// the kernel reports the new state (error after 2 s). v1 shows frozen processes in state 'D'.
Status freeze_cgroup(const std::string& path, bool frozen);
// Files a new process writes its pid into to join the cgroup (SpawnOptions::cgroup_procs).
std::vector<std::string> cgroup_join_files(const std::string& path);

}  // namespace dec::infra::linux_host
