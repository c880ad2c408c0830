// linux_host against the real kernel: a bridge and two namespace hosts, reachability proved by
// redis-server listening inside a namespace, placement of spawned processes (PosixEnv::spawn
// with netns and cgroup_procs), cgroup limits and freezing, and tc shaping measured on a bulk
// transfer. Needs root; skipped otherwise. Every name carries a per-process prefix, addresses
// are in 198.19.0.0/16 (benchmark range, never routed), and TearDown removes everything.
#include "infra/linux_host.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "infra/env.h"

namespace dec::infra::linux_host {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kRedisPort = 16379;  // each namespace has its own ports, so a fixed one is free

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A TCP connection with a connect timeout and send/receive timeouts; -1 when it fails.
int connect_to(const std::string& address, int port, milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    rc = poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
             ? 0
             : -1;
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval io_timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof io_timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof io_timeout);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Sends a RESP command and returns the first reply line ("" on error or timeout).
std::string redis_call(int fd, const std::vector<std::string>& args) {
  std::string command = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) command += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  if (!send_all(fd, command)) return "";
  std::string reply;
  char c = 0;
  while (reply.size() < 1024 && recv(fd, &c, 1, 0) == 1) {
    if (c == '\n') break;
    if (c != '\r') reply += c;
  }
  return reply;
}

// PING over a fresh connection; true on +PONG.
bool redis_ping(const std::string& address, int port, milliseconds timeout = milliseconds(1000)) {
  int fd = connect_to(address, port, timeout);
  if (fd < 0) return false;
  bool ok = redis_call(fd, {"PING"}) == "+PONG";
  close(fd);
  return ok;
}

bool wait_for_ping(const std::string& address, int port, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (redis_ping(address, port, milliseconds(300))) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// Seconds a 2 MB SET takes from the first byte sent to the +OK; negative on failure.
double timed_bulk_set(const std::string& address, int port) {
  int fd = connect_to(address, port, milliseconds(2000));
  if (fd < 0) return -1;
  std::string value(2 * 1024 * 1024, 'x');
  auto start = Clock::now();
  std::string reply = redis_call(fd, {"SET", "bulk", value});
  double took = seconds_since(start);
  close(fd);
  return reply == "+OK" ? took : -1;
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return st;
}

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream rest(line.substr(close_paren + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 13) return -1;
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class LinuxHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (network namespaces, veth, cgroups)";
    if (auto probe = run_command({"ip", "netns", "list"}); !probe) {
      GTEST_SKIP() << "ip netns is unusable here: " << probe.error();
    }
    std::string pid = std::to_string(getpid());
    prefix_ = "dt" + pid;
    alias_ = "dec-test " + prefix_;
    bridge_ = prefix_ + "b";
    cgroup_top_ = "dectest" + pid;
    cgroup_ = cgroup_top_ + "/run/h1";
    log_dir_ = std::filesystem::temp_directory_path() / ("dec-linux-host-" + pid);
    std::filesystem::create_directories(log_dir_);
    ASSERT_NO_FATAL_FAILURE(pick_subnet());
  }

  void TearDown() override {
    if (prefix_.empty()) return;  // skipped
    // Frozen processes cannot die; thaw before stopping anything.
    if (cgroup_exists(cgroup_)) (void)freeze_cgroup(cgroup_, false);
    for (const auto& id : spawned_) EXPECT_TRUE(env_.stop_process(id, milliseconds(2000)).ok());
    EXPECT_TRUE(delete_cgroup(cgroup_, cgroup_top_).ok());
    EXPECT_TRUE(delete_cgroup(cgroup_top_, "").ok());
    for (int i = 1; i <= 2; ++i) {
      EXPECT_TRUE(delete_netns(netns(i)).ok());
      EXPECT_TRUE(delete_link(veth(i)).ok());
    }
    EXPECT_TRUE(delete_link(bridge_).ok());
    std::error_code ec;
    std::filesystem::remove_all(log_dir_, ec);
    EXPECT_FALSE(cgroup_exists(cgroup_top_));
    for (const auto& link : list_links()) EXPECT_NE(link.alias, alias_) << link.name;
    for (const auto& name : list_netns()) EXPECT_NE(name.rfind(prefix_, 0), 0u) << name;
  }

  // A /24 in 198.19.0.0/16 that no route of this machine uses (another test run may be live).
  void pick_subnet() {
    auto routes = run_command({"ip", "-4", "route", "show"});
    ASSERT_TRUE(routes.ok()) << routes.error();
    for (int i = 0; i < 50; ++i) {
      int octet = 200 + (getpid() + i) % 50;
      std::string candidate = "198.19." + std::to_string(octet) + ".";
      if (routes->find(candidate) == std::string::npos) {
        subnet_ = candidate;
        return;
      }
    }
    FAIL() << "no free 198.19.x.0/24 among 50 candidates";
  }

  std::string netns(int i) const { return prefix_ + "h" + std::to_string(i); }
  std::string veth(int i) const { return prefix_ + "v" + std::to_string(i); }
  std::string address(int i) const { return subnet_ + std::to_string(i + 1); }
  std::string gateway() const { return subnet_ + "1"; }

  BridgeSpec bridge_spec() const { return {bridge_, gateway() + "/24", alias_}; }
  HostNetSpec host_spec(int i) const {
    return {netns(i), bridge_, veth(i), address(i) + "/24", gateway(), alias_};
  }

  void create_network(int hosts) {
    ASSERT_TRUE(create_bridge(bridge_spec()).ok());
    for (int i = 1; i <= hosts; ++i) {
      Status s = create_host_net(host_spec(i));
      ASSERT_TRUE(s.ok()) << s.error();
    }
  }

  ProcessId spawn(SpawnOptions options) {
    if (options.log_path.empty()) {
      options.log_path = (log_dir_ / ("p" + std::to_string(spawned_.size()) + ".log")).string();
    }
    auto id = env_.spawn(options);
    EXPECT_TRUE(id.ok()) << id.error();
    if (!id.ok()) return {};
    spawned_.push_back(*id);
    return *id;
  }

  ProcessId start_redis(int host) {
    SpawnOptions options;
    options.argv = {
        "redis-server", "--port", std::to_string(kRedisPort), "--bind", address(host), "--save", "",
        "--appendonly", "no",     "--protected-mode",         "no",     "--daemonize", "no"};
    options.working_dir = log_dir_.string();
    options.netns = netns(host);
    return spawn(options);
  }

  ProcessId start_busy_loop(const std::vector<std::string>& cgroup_files, int host = 0) {
    SpawnOptions options;
    options.argv = {"sh", "-c", "while :; do :; done"};
    options.cgroup_procs = cgroup_files;
    if (host > 0) options.netns = netns(host);
    return spawn(options);
  }

  std::string inner_mac(int host) {
    auto shown = run_command({"ip", "-n", netns(host), "-json", "link", "show", "dev", "eth0"});
    if (!shown) return "";
    auto parsed = nlohmann::json::parse(*shown, nullptr, false);
    if (!parsed.is_array() || parsed.empty()) return "";
    return parsed[0].value("address", "");
  }

  // Waits (bounded) for a spawned process to exit and returns its log.
  std::string wait_and_log(const ProcessId& id, const std::string& log) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (env_.process_alive(id) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return read_whole(log);
  }

  PosixEnv env_;
  std::string prefix_, alias_, bridge_, subnet_, cgroup_top_, cgroup_;
  std::filesystem::path log_dir_;
  std::vector<ProcessId> spawned_;
};

TEST_F(LinuxHostTest, RunCommandReportsExitStatusAndStderr) {
  auto ok = run_command({"ip", "-json", "link", "show", "dev", "lo"});
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_NE(ok->find("\"lo\""), std::string::npos);

  auto failed = run_command({"ip", "link", "del", "dev", prefix_ + "none"});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("ip link del dev " + prefix_ + "none failed (exit "),
            std::string::npos)
      << failed.error();
  EXPECT_NE(failed.error().find("Cannot find device"), std::string::npos) << failed.error();

  auto missing = run_command({prefix_ + "-no-such-program"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("No such file"), std::string::npos) << missing.error();
}

TEST_F(LinuxHostTest, HostsOnABridgeReachEachOtherAndTheRootNamespace) {
  // Twice: the second run of each create finds everything in place and succeeds.
  for (int round = 0; round < 2; ++round) ASSERT_NO_FATAL_FAILURE(create_network(2));

  std::vector<LinkInfo> ours;
  for (const auto& link : list_links()) {
    if (link.alias == alias_) ours.push_back(link);
  }
  ASSERT_EQ(ours.size(), 3u);
  for (const auto& link : ours) {
    EXPECT_TRUE(link.up) << link.name;
    EXPECT_EQ(link.kind, link.name == bridge_ ? "bridge" : "veth") << link.name;
  }
  EXPECT_TRUE(netns_exists(netns(1)));
  auto names = list_netns();
  EXPECT_NE(std::find(names.begin(), names.end(), netns(2)), names.end());

  ProcessId redis1 = start_redis(1);
  ProcessId redis2 = start_redis(2);
  ASSERT_TRUE(redis1.valid() && redis2.valid());
  ASSERT_TRUE(wait_for_ping(address(1), kRedisPort, std::chrono::seconds(10)))
      << read_whole((log_dir_ / "p0.log").string());
  ASSERT_TRUE(wait_for_ping(address(2), kRedisPort, std::chrono::seconds(10)));

  // The listener runs in the namespace, not merely on an address of the root namespace.
  auto pids = netns_pids(netns(1));
  EXPECT_NE(std::find(pids.begin(), pids.end(), redis1.pid), pids.end());
  EXPECT_EQ(std::find(pids.begin(), pids.end(), redis2.pid), pids.end());
  EXPECT_EQ(stat_of("/proc/" + std::to_string(redis1.pid) + "/ns/net").st_ino,
            stat_of("/var/run/netns/" + netns(1)).st_ino);

  // Host 2 reaches host 1 across the bridge.
  SpawnOptions client;
  client.argv = {"redis-cli", "-h", address(1), "-p", std::to_string(kRedisPort), "ping"};
  client.netns = netns(2);
  client.log_path = (log_dir_ / "client.log").string();
  ProcessId client_id = spawn(client);
  ASSERT_TRUE(client_id.valid());
  EXPECT_NE(wait_and_log(client_id, client.log_path).find("PONG"), std::string::npos)
      << read_whole(client.log_path);

  // Taking the outer end down cuts host 1 off; up again restores it.
  ASSERT_TRUE(set_link_up(veth(1), false).ok());
  EXPECT_FALSE(redis_ping(address(1), kRedisPort, milliseconds(500)));
  EXPECT_TRUE(redis_ping(address(2), kRedisPort));
  ASSERT_TRUE(set_link_up(veth(1), true).ok());
  EXPECT_TRUE(wait_for_ping(address(1), kRedisPort, std::chrono::seconds(10)));
  EXPECT_FALSE(set_link_up(prefix_ + "none", true).ok());
}

TEST_F(LinuxHostTest, CreateCompletesAHalfMadeHost) {
  ASSERT_TRUE(create_bridge(bridge_spec()).ok());
  // A crash after `ip netns add`: the namespace exists, the veth pair does not.
  ASSERT_TRUE(run_command({"ip", "netns", "add", netns(1)}).ok());
  // A crash inside `ip netns add`: a plain file where the namespace's mount should be.
  std::ofstream(std::string("/var/run/netns/") + netns(2)).put('\n');
  for (int i = 1; i <= 2; ++i) {
    Status s = create_host_net(host_spec(i));
    ASSERT_TRUE(s.ok()) << s.error();
  }
  ProcessId redis = start_redis(1);
  ASSERT_TRUE(redis.valid());
  ASSERT_TRUE(wait_for_ping(address(1), kRedisPort, std::chrono::seconds(10)));
  ASSERT_TRUE(env_.stop_process(redis, milliseconds(2000)).ok());

  // The outer end vanished (its peer with it) but the namespace stayed.
  std::string mac_before = inner_mac(1);
  ASSERT_TRUE(delete_link(veth(1)).ok());
  EXPECT_TRUE(netns_exists(netns(1)));
  Status again = create_host_net(host_spec(1));
  ASSERT_TRUE(again.ok()) << again.error();
  // Same MAC for the same address, so the root namespace's ARP entry (fresh from the PING
  // above) still points at the host: reachable at once, not after the entry expires.
  EXPECT_EQ(inner_mac(1), mac_before);
  redis = start_redis(1);
  ASSERT_TRUE(wait_for_ping(address(1), kRedisPort, std::chrono::seconds(3)));
  ASSERT_TRUE(start_redis(2).valid());
  EXPECT_TRUE(wait_for_ping(address(2), kRedisPort, std::chrono::seconds(10)));
}

TEST_F(LinuxHostTest, DeleteRemovesEverythingAndRepeats) {
  ASSERT_NO_FATAL_FAILURE(create_network(2));
  for (int round = 0; round < 2; ++round) {
    for (int i = 1; i <= 2; ++i) {
      Status s = delete_netns(netns(i));
      EXPECT_TRUE(s.ok()) << s.error();
      s = delete_link(veth(i));
      EXPECT_TRUE(s.ok()) << s.error();
    }
    EXPECT_TRUE(delete_link(bridge_).ok());
  }
  for (int i = 1; i <= 2; ++i) {
    EXPECT_FALSE(netns_exists(netns(i)));
    EXPECT_FALSE(link_exists(veth(i)));
  }
  EXPECT_FALSE(link_exists(bridge_));
  for (const auto& link : list_links()) EXPECT_NE(link.alias, alias_) << link.name;

  Status no_bridge = create_host_net(host_spec(1));
  ASSERT_FALSE(no_bridge.ok());
  EXPECT_NE(no_bridge.error().find("create_bridge"), std::string::npos) << no_bridge.error();
  EXPECT_FALSE(create_bridge({bridge_, "198.19.1.1", alias_}).ok());  // no prefix length
  EXPECT_FALSE(create_bridge({prefix_ + "-much-too-long", gateway() + "/24", alias_}).ok());
}

TEST_F(LinuxHostTest, CgroupLimitsAreSetReadBackAndUpdatedInPlace) {
  if (cgroup_version() == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups mounted";
  const uint64_t mib = 1024 * 1024;
  for (int round = 0; round < 2; ++round) {
    Status s = create_cgroup(cgroup_, {1.5, 256 * mib});
    ASSERT_TRUE(s.ok()) << s.error();
  }
  auto limits = cgroup_limits(cgroup_);
  ASSERT_TRUE(limits.ok()) << limits.error();
  EXPECT_EQ(*limits, (CgroupLimits{1.5, 256 * mib}));

  ASSERT_TRUE(set_cgroup_limits(cgroup_, {0.5, std::nullopt}).ok());
  limits = cgroup_limits(cgroup_);
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(*limits, (CgroupLimits{0.5, std::nullopt}));

  ASSERT_TRUE(set_cgroup_limits(cgroup_, {std::nullopt, 64 * mib}).ok());
  EXPECT_EQ(*cgroup_limits(cgroup_), (CgroupLimits{std::nullopt, 64 * mib}));
  // Create of an existing cgroup applies the new limits.
  ASSERT_TRUE(create_cgroup(cgroup_, {2.0, 128 * mib}).ok());
  EXPECT_EQ(*cgroup_limits(cgroup_), (CgroupLimits{2.0, 128 * mib}));

  EXPECT_TRUE(cgroup_exists(cgroup_));
  EXPECT_EQ(list_cgroups(cgroup_top_ + "/run"), std::vector<std::string>{"h1"});
  auto files = cgroup_join_files(cgroup_);
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) EXPECT_TRUE(std::filesystem::exists(file)) << file;

  EXPECT_FALSE(set_cgroup_limits(cgroup_, {0.001, std::nullopt}).ok());
  EXPECT_FALSE(create_cgroup("../escape", {}).ok());
  EXPECT_FALSE(set_cgroup_limits(cgroup_top_ + "/missing", {}).ok());
  EXPECT_FALSE(cgroup_limits(cgroup_top_ + "/missing").ok());

  // Delete twice; it removes the empty parents below `stop_at` and leaves `stop_at` itself.
  for (int round = 0; round < 2; ++round) ASSERT_TRUE(delete_cgroup(cgroup_, cgroup_top_).ok());
  EXPECT_FALSE(cgroup_exists(cgroup_));
  EXPECT_FALSE(cgroup_exists(cgroup_top_ + "/run"));
  EXPECT_TRUE(cgroup_exists(cgroup_top_));
}

TEST_F(LinuxHostTest, SpawnedProcessJoinsNamespaceAndCgroupFreezesAndIsKilledOnDelete) {
  if (cgroup_version() == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups mounted";
  ASSERT_NO_FATAL_FAILURE(create_network(1));
  ASSERT_TRUE(create_cgroup(cgroup_, {}).ok());
  ProcessId busy = start_busy_loop(cgroup_join_files(cgroup_), 1);
  ASSERT_TRUE(busy.valid());
  EXPECT_EQ(cgroup_pids(cgroup_), std::vector<pid_t>{busy.pid});
  EXPECT_EQ(stat_of("/proc/" + std::to_string(busy.pid) + "/ns/net").st_ino,
            stat_of("/var/run/netns/" + netns(1)).st_ino);
  EXPECT_NE(stat_of("/proc/" + std::to_string(busy.pid) + "/ns/net").st_ino,
            stat_of("/proc/self/ns/net").st_ino);

  // Frozen: no CPU time accrues. Thawed: it runs again.
  ASSERT_TRUE(freeze_cgroup(cgroup_, true).ok());
  double frozen_at = cpu_seconds(busy.pid);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_LT(cpu_seconds(busy.pid) - frozen_at, 0.02);
  ASSERT_TRUE(freeze_cgroup(cgroup_, false).ok());
  double thawed_at = cpu_seconds(busy.pid);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_GT(cpu_seconds(busy.pid) - thawed_at, 0.1);

  // Delete while frozen: the process must still die (thaw first), and the cgroup go.
  ASSERT_TRUE(freeze_cgroup(cgroup_, true).ok());
  auto start = Clock::now();
  Status deleted = delete_cgroup(cgroup_, cgroup_top_);
  ASSERT_TRUE(deleted.ok()) << deleted.error();
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_FALSE(env_.process_alive(busy));
  EXPECT_FALSE(cgroup_exists(cgroup_));

  // Placement failures are reported by spawn itself, not by a silently dead child.
  SpawnOptions bad;
  bad.argv = {"sleep", "30"};
  bad.netns = prefix_ + "missing";
  auto failed = env_.spawn(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find(bad.netns), std::string::npos) << failed.error();
  bad.netns = netns(1);
  bad.argv = {prefix_ + "-no-such-program"};
  failed = env_.spawn(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().find("No such file"), std::string::npos) << failed.error();
}

TEST_F(LinuxHostTest, PlacedProcessGetsEnvironmentWorkingDirAndLog) {
  ASSERT_NO_FATAL_FAILURE(create_network(1));
  SpawnOptions options;
  options.argv = {"sh", "-c", "echo \"tag=$DEC_TEST_TAG home=$HOME\"; pwd; echo oops >&2"};
  options.environment = {{"DEC_TEST_TAG", "placed"}};
  options.working_dir = log_dir_.string();
  options.netns = netns(1);
  options.log_path = (log_dir_ / "placed.log").string();
  ProcessId id = spawn(options);
  ASSERT_TRUE(id.valid());
  EXPECT_NE(id.start_ticks, 0u);
  std::string log = wait_and_log(id, options.log_path);
  const char* home = getenv("HOME");
  EXPECT_NE(log.find("tag=placed home=" + std::string(home ? home : "")), std::string::npos) << log;
  EXPECT_NE(log.find(log_dir_.string() + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("oops"), std::string::npos) << log;
}

TEST_F(LinuxHostTest, DeleteCgroupKillsAFrozenSubtree) {
  if (cgroup_version() == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups mounted";
  ASSERT_TRUE(create_cgroup(cgroup_ + "/inner", {}).ok());
  ProcessId outer = start_busy_loop(cgroup_join_files(cgroup_));
  ProcessId inner = start_busy_loop(cgroup_join_files(cgroup_ + "/inner"));
  ASSERT_TRUE(outer.valid() && inner.valid());
  EXPECT_EQ(list_cgroups(cgroup_), std::vector<std::string>{"inner"});
  ASSERT_TRUE(freeze_cgroup(cgroup_, true).ok());
  Status deleted = delete_cgroup(cgroup_, cgroup_top_);
  ASSERT_TRUE(deleted.ok()) << deleted.error();
  EXPECT_FALSE(env_.process_alive(outer));
  EXPECT_FALSE(env_.process_alive(inner));
  EXPECT_FALSE(cgroup_exists(cgroup_ + "/inner"));
  EXPECT_FALSE(cgroup_exists(cgroup_top_ + "/run"));
}

TEST_F(LinuxHostTest, CpuLimitThrottlesABusyProcess) {
  if (cgroup_version() == CgroupVersion::kNone) GTEST_SKIP() << "no cgroups mounted";
  ASSERT_TRUE(create_cgroup(cgroup_, {0.2, std::nullopt}).ok());
  ProcessId busy = start_busy_loop(cgroup_join_files(cgroup_));
  ASSERT_TRUE(busy.valid());
  double before = cpu_seconds(busy.pid);
  std::this_thread::sleep_for(milliseconds(1000));
  double used = cpu_seconds(busy.pid) - before;
  EXPECT_LT(used, 0.35) << "0.2 cores for 1 s";
  EXPECT_GT(used, 0.05);
}

TEST_F(LinuxHostTest, BandwidthRoundTripsAndLimitsABulkTransfer) {
  ASSERT_NO_FATAL_FAILURE(create_network(1));
  auto rate = bandwidth("", veth(1));
  ASSERT_TRUE(rate.ok()) << rate.error();
  EXPECT_EQ(*rate, 0u);
  ASSERT_TRUE(set_bandwidth(netns(1), "eth0", 50'000'000).ok());
  EXPECT_EQ(*bandwidth(netns(1), "eth0"), 50'000'000u);
  ASSERT_TRUE(set_bandwidth(netns(1), "eth0", 0).ok());
  ASSERT_TRUE(set_bandwidth(netns(1), "eth0", 0).ok());
  EXPECT_EQ(*bandwidth(netns(1), "eth0"), 0u);
  EXPECT_FALSE(bandwidth("", prefix_ + "none").ok());
  EXPECT_FALSE(set_bandwidth("", veth(1), 4).ok());

  ProcessId redis = start_redis(1);
  ASSERT_TRUE(redis.valid());
  ASSERT_TRUE(wait_for_ping(address(1), kRedisPort, std::chrono::seconds(10)));
  double unshaped = timed_bulk_set(address(1), kRedisPort);
  ASSERT_GT(unshaped, 0);

  // Egress of the outer end is the direction into the namespace.
  ASSERT_TRUE(set_bandwidth("", veth(1), 8'000'000).ok());
  EXPECT_EQ(*bandwidth("", veth(1)), 8'000'000u);
  double shaped = timed_bulk_set(address(1), kRedisPort);
  std::cout << "2 MB into the namespace: " << unshaped << " s unshaped, " << shaped
            << " s at 8 Mbit/s\n";
  EXPECT_LT(unshaped, 1.0);
  EXPECT_GT(shaped, 1.5);  // 16.8 Mbit at 8 Mbit/s is 2.1 s
  EXPECT_LT(shaped, 10.0);

  ASSERT_TRUE(set_bandwidth("", veth(1), 0).ok());
  EXPECT_EQ(*bandwidth("", veth(1)), 0u);
}

TEST_F(LinuxHostTest, Timings) {
  auto ms = [](Clock::time_point start) { return seconds_since(start) * 1000; };
  auto start = Clock::now();
  ASSERT_TRUE(create_bridge(bridge_spec()).ok());
  double bridge_ms = ms(start);
  start = Clock::now();
  ASSERT_TRUE(create_host_net(host_spec(1)).ok());
  double host_ms = ms(start);
  start = Clock::now();
  ASSERT_TRUE(create_host_net(host_spec(1)).ok());
  double host_again_ms = ms(start);
  double cgroup_ms = 0, cgroup_delete_ms = 0;
  if (cgroup_version() != CgroupVersion::kNone) {
    start = Clock::now();
    ASSERT_TRUE(create_cgroup(cgroup_, {1.0, 256 * 1024 * 1024}).ok());
    cgroup_ms = ms(start);
    start = Clock::now();
    ASSERT_TRUE(delete_cgroup(cgroup_, cgroup_top_).ok());
    cgroup_delete_ms = ms(start);
  }
  start = Clock::now();
  ASSERT_TRUE(delete_netns(netns(1)).ok());
  ASSERT_TRUE(delete_link(veth(1)).ok());
  double host_delete_ms = ms(start);
  start = Clock::now();
  ASSERT_TRUE(delete_link(bridge_).ok());
  double bridge_delete_ms = ms(start);
  std::cout << "create_bridge " << bridge_ms << " ms, create_host_net " << host_ms << " ms (again "
            << host_again_ms << " ms), create_cgroup " << cgroup_ms << " ms, delete_cgroup "
            << cgroup_delete_ms << " ms, delete host " << host_delete_ms << " ms, delete bridge "
            << bridge_delete_ms << " ms\n";
}

}  // namespace
}  // namespace dec::infra::linux_host
