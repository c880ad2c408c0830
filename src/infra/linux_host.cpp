#include "infra/linux_host.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace dec::infra::linux_host {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kNetnsDir = "/var/run/netns";
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
// The v1 controllers a host uses: cpu and memory for limits, cpuacct for the CPU time its
// processes used, freezer for pause/resume, pids so every process of a host can be found (and
// killed) even without the others.
constexpr const char* kV1Controllers[] = {"cpu", "cpuacct", "memory", "freezer", "pids"};
// The v2 controllers enabled down the path; freezing is built into v2 (cgroup.freeze).
constexpr const char* kV2Controllers[] = {"cpu", "memory", "pids"};
// `ip` and `tc` answer in milliseconds; a hung one (e.g. a wedged netlink) must not hang dec.
constexpr auto kCommandTimeout = std::chrono::seconds(30);
constexpr auto kFreezeTimeout = std::chrono::seconds(2);
constexpr auto kKillTimeout = std::chrono::seconds(3);
constexpr uint64_t kCfsPeriodUs = 100000;
// The kernel's "no limit" for memory.limit_in_bytes is PAGE_COUNTER_MAX pages, a value near
// 2^63 that depends on the page size; anything this large means unlimited.
constexpr uint64_t kUnlimitedMemory = uint64_t{1} << 62;

std::string errno_text(int error) { return std::strerror(error); }

std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) {
    if (!text.empty()) text += ' ';
    bool quote = arg.empty() || arg.find_first_of(" \t\"'") != std::string::npos;
    text += quote ? "\"" + arg + "\"" : arg;
  }
  return text;
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// ---- validation ------------------------------------------------------------------------------

Status check_link_name(const std::string& what, const std::string& name) {
  if (name.empty() || name.size() > 15 || name.find_first_of("/: \t\n") != std::string::npos ||
      name == "." || name == "..") {
    return make_error(what + " name \"" + name +
                      "\" is not a valid interface name: use 1 to 15 characters without '/', ':' "
                      "or spaces");
  }
  return Status::Ok();
}

Status check_netns_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name.find_first_of("/ \t\n") != std::string::npos ||
      name == "." || name == "..") {
    return make_error("network namespace name \"" + name +
                      "\" is not valid: use a plain file name without '/' or spaces");
  }
  return Status::Ok();
}

bool valid_ipv4(const std::string& address) {
  in_addr parsed{};
  return inet_pton(AF_INET, address.c_str(), &parsed) == 1;
}

// "198.18.7.2/24" exactly as `ip -json addr` reports it back, so comparisons are plain string
// equality.
Status check_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  bool ok = slash != std::string::npos && valid_ipv4(cidr.substr(0, slash));
  if (ok) {
    std::string prefix = cidr.substr(slash + 1);
    ok = !prefix.empty() && prefix.size() <= 2 &&
         std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         std::stoi(prefix) <= 32 && (prefix.size() == 1 || prefix[0] != '0');
  }
  if (!ok) {
    return make_error("address \"" + cidr + "\" is not an IPv4 address with prefix length, like " +
                      "198.18.7.2/24");
  }
  return Status::Ok();
}

// ---- running programs ------------------------------------------------------------------------

std::string duration_text(std::chrono::milliseconds timeout) {
  const long long ms = timeout.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Writes `input` to the child's stdin and closes it. A child that exits without reading must
// not kill dec with SIGPIPE: MSG_NOSIGNAL needs a socket, so SIGPIPE is blocked around the
// write and a pending one discarded (the exit status tells what happened).
void write_input(int fd, const std::string& input) {
  sigset_t pipe_set, previous;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &previous);
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = write(fd, input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(fd);
  timespec zero{0, 0};
  while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

// Stops a program that ran past its timeout and waits for it.
void stop_program(pid_t pid, const ProgramRun& program) {
  if (program.own_process_group) {
    kill(-pid, SIGTERM);
    const auto deadline = Clock::now() + program.stop_grace;
    while (Clock::now() < deadline && waitpid(pid, nullptr, WNOHANG) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(-pid, SIGKILL);
  } else {
    kill(pid, SIGKILL);
  }
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// run_command's form: stdout on exit 0, else an error naming the command (and its input) with
// the exit status and stderr.
Result<std::string> checked(const std::vector<std::string>& argv, const std::string& input) {
  ProgramRun program;
  program.argv = argv;
  program.input = input;
  program.timeout = kCommandTimeout;
  auto output = run_program(program);
  std::string shown = command_text(argv);
  if (!input.empty()) {
    std::string lines = trimmed(input);
    std::replace(lines.begin(), lines.end(), '\n', ';');
    shown += " <<< \"" + lines + "\"";
  }
  if (!output) {
    const std::string& error = output.error();
    if (error.rfind("cannot run ", 0) == 0 && error.find("No such file") != std::string::npos) {
      return make_error(error + " (is it installed? ip and tc come with iproute2)");
    }
    if (error.find(" did not finish within ") != std::string::npos) {
      return make_error(shown + " did not finish within " + duration_text(kCommandTimeout) +
                        " and was killed");
    }
    return make_error(error);
  }
  if (output->exit_code == 0) return std::move(output->out);
  const std::string how = output->signal != 0 ? "signal " + std::to_string(output->signal)
                                              : "exit " + std::to_string(output->exit_code);
  std::string detail = trimmed(output->err.empty() ? output->out : output->err);
  return make_error(shown + " failed (" + how + ")" + (detail.empty() ? "" : ": " + detail));
}

// ---- ip / tc ---------------------------------------------------------------------------------

std::vector<std::string> with_netns(std::vector<std::string> argv, const std::string& netns) {
  if (!netns.empty()) argv.insert(argv.begin() + 1, {"-n", netns});
  return argv;
}

// Several `ip` commands in one process (`ip -batch -`): starting a process costs more than
// the netlink work, tens of milliseconds on small virtual machines. Stops at the first failure.
Status ip_batch(const std::string& netns, const std::vector<std::string>& lines) {
  if (lines.empty()) return Status::Ok();
  std::string input;
  for (const auto& line : lines) input += line + "\n";
  auto result = checked(with_netns({"ip", "-batch", "-"}, netns), input);
  if (!result) return make_error(result.error());
  return Status::Ok();
}

Status run_status(const std::vector<std::string>& argv) {
  auto result = checked(argv, "");
  if (!result) return make_error(result.error());
  return Status::Ok();
}

Result<json> run_json(const std::vector<std::string>& argv) {
  auto output = run_command(argv);
  if (!output) return make_error(output.error());
  json parsed = json::parse(*output, nullptr, false);
  if (parsed.is_discarded()) {
    return make_error(command_text(argv) +
                      " printed output that is not JSON: " + output->substr(0, 200));
  }
  return parsed;
}

struct Link {
  LinkInfo info;
  int ifindex = 0;
  int peer_ifindex = 0;  // veth: the other end's ifindex (in its own namespace)
  std::string mac;
  std::vector<std::string> ipv4;  // "198.18.7.2/24"
};

// Every link of a namespace with its details and IPv4 addresses, from one `ip` run.
Result<std::vector<Link>> links_in(const std::string& netns) {
  auto parsed = run_json(with_netns({"ip", "-json", "-details", "addr", "show"}, netns));
  if (!parsed) return make_error(parsed.error());
  std::vector<Link> links;
  if (!parsed->is_array()) return links;
  for (const auto& entry : *parsed) {
    Link link;
    link.info.name = entry.value("ifname", "");
    link.info.alias = entry.value("ifalias", "");
    if (entry.contains("linkinfo") && entry["linkinfo"].is_object()) {
      link.info.kind = entry["linkinfo"].value("info_kind", "");
    }
    if (entry.contains("flags") && entry["flags"].is_array()) {
      for (const auto& flag : entry["flags"]) link.info.up |= flag == "UP";
    }
    link.ifindex = entry.value("ifindex", 0);
    link.peer_ifindex = entry.value("link_index", 0);
    link.mac = entry.value("address", "");
    if (entry.contains("addr_info") && entry["addr_info"].is_array()) {
      for (const auto& address : entry["addr_info"]) {
        if (address.value("family", "") != "inet") continue;
        link.ipv4.push_back(address.value("local", "") + "/" +
                            std::to_string(address.value("prefixlen", 0)));
      }
    }
    links.push_back(std::move(link));
  }
  return links;
}

std::optional<Link> find_link(const std::vector<Link>& links, const std::string& name) {
  for (const auto& link : links) {
    if (link.info.name == name) return link;
  }
  return std::nullopt;
}

// Batch lines that make `cidr` the only IPv4 address of `dev` (`have` is what it has now): a
// changed spec must not leave the old address answering next to the new one.
void only_address(const std::string& dev, const std::string& cidr,
                  const std::vector<std::string>& have, std::vector<std::string>* lines) {
  for (const auto& old : have) {
    if (old != cidr) lines->push_back("addr del " + old + " dev " + dev);
  }
  if (!contains(have, cidr)) lines->push_back("addr replace " + cidr + " dev " + dev);
}

// A MAC address derived from the interface's IPv4 address (locally administered, unicast).
// Recreating a host or bridge then keeps its MAC, so neighbours' ARP caches stay right; a
// random MAC would leave the root namespace sending to the old one for up to a minute.
std::string mac_for(const std::string& cidr) {
  in_addr parsed{};
  inet_pton(AF_INET, cidr.substr(0, cidr.find('/')).c_str(), &parsed);
  const auto* bytes = reinterpret_cast<const unsigned char*>(&parsed.s_addr);
  char text[18];
  std::snprintf(text, sizeof text, "02:de:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3]);
  return text;
}

// `ip -batch` splits lines at spaces but honours double quotes.
Status check_alias(const std::string& alias) {
  if (alias.size() > 255 || alias.find_first_of("\"\\\n\r") != std::string::npos) {
    return make_error("interface alias \"" + alias +
                      "\" is not valid: use at most 255 characters without quotes, backslashes "
                      "or line breaks");
  }
  return Status::Ok();
}

std::string netns_path(const std::string& netns) { return std::string(kNetnsDir) + "/" + netns; }

// A name in /var/run/netns is only a namespace while a namespace is bind-mounted on it; a crash
// inside `ip netns add` can leave the plain file behind.
bool is_mounted_netns(const std::string& netns) {
  struct statfs fs {};
  return statfs(netns_path(netns).c_str(), &fs) == 0 &&
         static_cast<unsigned long>(fs.f_type) == static_cast<unsigned long>(NSFS_MAGIC);
}

Status ensure_netns(const std::string& netns) {
  if (is_mounted_netns(netns)) return Status::Ok();
  if (unlink(netns_path(netns).c_str()) != 0 && errno != ENOENT) {
    return make_error("cannot remove the stale file " + netns_path(netns) + ": " +
                      errno_text(errno));
  }
  auto added = run_command({"ip", "netns", "add", netns});
  if (!added && !is_mounted_netns(netns)) return make_error(added.error());
  return Status::Ok();
}

// ---- cgroup files ----------------------------------------------------------------------------

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

Status write_text(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open " + path + ": " + errno_text(errno));
  ssize_t written = write(fd, value.data(), value.size());
  int error = errno;
  close(fd);
  if (written != static_cast<ssize_t>(value.size())) {
    return make_error("cannot write \"" + value + "\" to " + path + ": " +
                      (written < 0 ? errno_text(error) : std::string("short write")));
  }
  return Status::Ok();
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// One mounted hierarchy: its controller ("" for v2's unified one) and its root directory.
struct Hierarchy {
  std::string controller;
  std::string root;
  std::string dir(const std::string& path) const { return path.empty() ? root : root + "/" + path; }
};

std::vector<Hierarchy> hierarchies() {
  std::vector<Hierarchy> found;
  switch (cgroup_version()) {
    case CgroupVersion::kV2:
      found.push_back({"", kCgroupRoot});
      break;
    case CgroupVersion::kV1: {
      std::set<std::string> seen;  // co-mounted controllers (cpu,cpuacct) share one directory
      for (const char* controller : kV1Controllers) {
        std::string root = std::string(kCgroupRoot) + "/" + controller;
        if (!file_exists(root + "/cgroup.procs")) continue;
        std::error_code ec;
        std::string canonical = std::filesystem::canonical(root, ec).string();
        if (!seen.insert(ec ? root : canonical).second) continue;
        found.push_back({controller, root});
      }
      break;
    }
    case CgroupVersion::kNone:
      break;
  }
  return found;
}

// The hierarchy holding `controller` (v1), or the unified one (v2, any controller).
std::optional<Hierarchy> hierarchy_for(const std::string& controller) {
  switch (cgroup_version()) {
    case CgroupVersion::kV2:
      return Hierarchy{"", kCgroupRoot};
    case CgroupVersion::kV1: {
      std::string root = std::string(kCgroupRoot) + "/" + controller;
      if (file_exists(root + "/cgroup.procs")) return Hierarchy{controller, root};
      return std::nullopt;
    }
    case CgroupVersion::kNone:
      break;
  }
  return std::nullopt;
}

std::vector<std::string> path_components(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

std::string join_components(const std::vector<std::string>& parts, size_t count) {
  std::string path;
  for (size_t i = 0; i < count && i < parts.size(); ++i) path += (i ? "/" : "") + parts[i];
  return path;
}

Status check_cgroup_path(const std::string& path) {
  auto parts = path_components(path);
  bool ok = !path.empty() && path[0] != '/' && !parts.empty() &&
            std::none_of(parts.begin(), parts.end(),
                         [](const std::string& p) { return p == "." || p == ".."; });
  if (!ok) {
    return make_error("cgroup path \"" + path +
                      "\" is not valid: give a relative path like dec/<installation>/<name>");
  }
  return Status::Ok();
}

Status require_cgroups() {
  if (cgroup_version() == CgroupVersion::kNone) {
    return make_error(std::string("no cgroup hierarchy is mounted at ") + kCgroupRoot +
                      ": mount cgroup2 there (or the v1 cpu, memory, freezer and pids "
                      "controllers) to limit and freeze hosts");
  }
  return Status::Ok();
}

std::vector<pid_t> read_pids(const std::string& procs_file) {
  std::vector<pid_t> pids;
  std::ifstream in(procs_file);
  long pid = 0;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// v2 only allows a controller's files in a child once every ancestor lists it in
// cgroup.subtree_control.
Status enable_v2_controllers(const Hierarchy& unified, const std::vector<std::string>& parts) {
  for (size_t depth = 0; depth < parts.size(); ++depth) {
    std::string dir = unified.dir(join_components(parts, depth));
    if (depth > 0 && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return make_error("cannot create cgroup " + dir + ": " + errno_text(errno));
    }
    std::istringstream words(read_text(dir + "/cgroup.controllers").value_or(""));
    std::vector<std::string> have_list, enabled_list;
    for (std::string w; words >> w;) have_list.push_back(w);
    std::istringstream enabled_words(read_text(dir + "/cgroup.subtree_control").value_or(""));
    for (std::string w; enabled_words >> w;) enabled_list.push_back(w);
    std::string request;
    for (const char* controller : kV2Controllers) {
      if (contains(have_list, controller) && !contains(enabled_list, controller)) {
        request += std::string(request.empty() ? "" : " ") + "+" + controller;
      }
    }
    if (request.empty()) continue;
    if (Status s = write_text(dir + "/cgroup.subtree_control", request); !s) {
      return make_error(s.error() +
                        " (a cgroup with processes of its own cannot delegate controllers; move "
                        "them to a child cgroup)");
    }
  }
  return Status::Ok();
}

std::string freezer_state(const Hierarchy& freezer, const std::string& path) {
  return trimmed(read_text(freezer.dir(path) + "/freezer.state").value_or(""));
}

bool v2_frozen(const Hierarchy& unified, const std::string& path) {
  std::istringstream events(read_text(unified.dir(path) + "/cgroup.events").value_or(""));
  std::string key, value;
  while (events >> key >> value) {
    if (key == "frozen") return value == "1";
  }
  return false;
}

// Removes one cgroup (not its parents): thaw first (a frozen process cannot act on SIGKILL,
// and a v1 child stays frozen while its parent is), then its children, then kill what is inside
// until it is empty and rmdir it in every hierarchy.
Status remove_cgroup_tree(const std::string& path, Clock::time_point deadline) {
  if (!cgroup_exists(path)) return Status::Ok();
  auto all = hierarchies();
  for (const auto& h : all) {
    std::string dir = h.dir(path);
    if (file_exists(dir + "/freezer.state") &&
        trimmed(read_text(dir + "/freezer.state").value_or("")) != "THAWED") {
      (void)write_text(dir + "/freezer.state", "THAWED");
    }
    if (file_exists(dir + "/cgroup.freeze")) (void)write_text(dir + "/cgroup.freeze", "0");
  }
  for (const auto& child : list_cgroups(path)) {
    if (Status s = remove_cgroup_tree(path + "/" + child, deadline); !s) return s;
  }
  const pid_t self = getpid();
  std::vector<pid_t> remaining;
  while (true) {
    remaining = cgroup_pids(path);
    if (std::find(remaining.begin(), remaining.end(), self) != remaining.end()) {
      return make_error("cannot remove cgroup " + path + ": dec itself (pid " +
                        std::to_string(self) + ") runs inside it");
    }
    if (remaining.empty() || Clock::now() > deadline) break;
    // Exited processes leave cgroup.procs at once, zombies included, so their parents keep
    // the exit status to collect.
    for (pid_t pid : remaining) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!remaining.empty()) {
    std::string list;
    for (pid_t pid : remaining) list += (list.empty() ? "" : ", ") + std::to_string(pid);
    return make_error("cannot remove cgroup " + path + ": processes " + list +
                      " are still inside 3 s after SIGKILL");
  }
  for (const auto& h : all) {
    std::string dir = h.dir(path);
    // An emptied cgroup can report busy for a moment while exiting tasks are torn down.
    while (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      if (errno != EBUSY || Clock::now() > deadline) {
        return make_error("cannot remove cgroup " + dir + ": " + errno_text(errno));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return Status::Ok();
}

}  // namespace

bool is_root() { return geteuid() == 0; }

std::optional<std::string> read_kernel_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos && overrides.count(entry.substr(0, eq))) continue;
    strings.push_back(std::move(entry));
  }
  for (const auto& [key, value] : overrides) strings.push_back(key + "=" + value);
  return strings;
}

void init_spawn_attributes(posix_spawnattr_t* attr, short flags) {
  posix_spawnattr_init(attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(attr, &all);
  posix_spawnattr_setsigmask(attr, &none);
  posix_spawnattr_setpgroup(attr, 0);  // a group of its own, with POSIX_SPAWN_SETPGROUP
  posix_spawnattr_setflags(
      attr, static_cast<short>(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
}

Result<ProgramOutput> run_program(const ProgramRun& program) {
  if (program.argv.empty()) return make_error("run: empty command");
  if (program.input.size() > 60000) return make_error("run: input too large");
  const std::string& name = program.argv[0];
  // Close-on-exec, so a process spawned concurrently by another thread does not keep our pipes
  // open (and us waiting for their end).
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};  // stdout, stderr, stdin
  auto close_all = [&pipes] {
    for (auto& pair : pipes) {
      for (int& fd : pair) {
        if (fd >= 0) close(fd);
        fd = -1;
      }
    }
  };
  const bool has_input = !program.input.empty();
  for (int i = 0; i < (has_input ? 3 : 2); ++i) {
    if (pipe2(pipes[i], O_CLOEXEC) != 0) {
      int error = errno;
      close_all();
      return make_error("pipe: " + errno_text(error));
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (has_input) {
    posix_spawn_file_actions_adddup2(&actions, pipes[2][0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, pipes[0][1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 2);
  if (!program.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, program.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  init_spawn_attributes(&attr, program.own_process_group ? POSIX_SPAWN_SETPGROUP : 0);
  std::vector<std::string> args = program.argv;
  std::vector<char*> arg_pointers;
  for (auto& a : args) arg_pointers.push_back(a.data());
  arg_pointers.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> env_pointers;
  if (!program.environment.empty()) {
    env_strings = environment_with(program.environment);
    for (auto& e : env_strings) env_pointers.push_back(e.data());
    env_pointers.push_back(nullptr);
  }
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, arg_pointers[0], &actions, &attr, arg_pointers.data(),
                        env_pointers.empty() ? environ : env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int* child_end : {&pipes[0][1], &pipes[1][1], &pipes[2][0]}) {
    if (*child_end >= 0) close(*child_end);
    *child_end = -1;
  }
  if (rc != 0) {
    close_all();
    return make_error("cannot run " + name + ": " + errno_text(rc));
  }
  if (has_input) {
    write_input(pipes[2][1], program.input);
    pipes[2][1] = -1;
  }

  ProgramOutput output;
  std::string pending;  // stdout not yet ended by a newline
  pollfd fds[2] = {{pipes[0][0], POLLIN, 0}, {pipes[1][0], POLLIN, 0}};
  pipes[0][0] = pipes[1][0] = -1;  // owned by `fds` from here
  std::string* sinks[2] = {&output.out, &output.err};
  const auto deadline = Clock::now() + program.timeout;
  bool timed_out = false;
  int open_count = 2;
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int ready = poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        std::string_view chunk(buffer, static_cast<size_t>(n));
        sinks[i]->append(chunk);
        if (i == 0 && program.on_stdout_line) {
          pending.append(chunk);
          for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
            program.on_stdout_line(pending.substr(0, newline));
            pending.erase(0, newline + 1);
          }
        }
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  if (!pending.empty() && program.on_stdout_line) program.on_stdout_line(pending);
  if (timed_out) {
    stop_program(pid, program);
    return make_error(name + " did not finish within " + duration_text(program.timeout) +
                      " and was stopped");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  output.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + output.signal;
  return output;
}

Result<std::string> run_command(const std::vector<std::string>& argv) { return checked(argv, ""); }

// ---- network ---------------------------------------------------------------------------------

Status create_bridge(const BridgeSpec& spec) {
  if (Status s = check_link_name("bridge", spec.name); !s) return s;
  if (Status s = check_cidr(spec.address_cidr); !s) return s;
  if (Status s = check_alias(spec.alias); !s) return s;
  auto links = links_in("");
  if (!links) return make_error(links.error());
  auto existing = find_link(*links, spec.name);
  if (existing && existing->info.kind != "bridge") {
    return make_error("cannot create bridge " + spec.name + ": a " +
                      (existing->info.kind.empty() ? "link" : existing->info.kind) +
                      " of that name exists; remove it (ip link del " + spec.name +
                      ") or choose another name");
  }
  std::vector<std::string> lines;
  if (!existing) lines.push_back("link add name " + spec.name + " type bridge");
  // A bridge takes the lowest MAC of its ports unless given one, so without a fixed MAC the
  // gateway's MAC would change whenever a host comes or goes.
  lines.push_back("link set dev " + spec.name + " address " + mac_for(spec.address_cidr));
  if (!spec.alias.empty()) {
    lines.push_back("link set dev " + spec.name + " alias \"" + spec.alias + "\"");
  }
  only_address(spec.name, spec.address_cidr, existing ? existing->ipv4 : std::vector<std::string>{},
               &lines);
  lines.push_back("link set dev " + spec.name + " up");
  return ip_batch("", lines);
}

Status create_host_net(const HostNetSpec& spec) {
  if (Status s = check_netns_name(spec.netns); !s) return s;
  if (Status s = check_link_name("bridge", spec.bridge); !s) return s;
  if (Status s = check_link_name("veth", spec.veth_outer); !s) return s;
  if (Status s = check_cidr(spec.address_cidr); !s) return s;
  if (Status s = check_alias(spec.alias); !s) return s;
  if (!valid_ipv4(spec.gateway)) {
    return make_error("gateway \"" + spec.gateway + "\" is not an IPv4 address like 198.18.7.1");
  }
  auto links = links_in("");
  if (!links) return make_error(links.error());
  auto bridge = find_link(*links, spec.bridge);
  if (!bridge || bridge->info.kind != "bridge") {
    return make_error("cannot attach network namespace " + spec.netns + ": bridge " + spec.bridge +
                      " does not exist; create it first (create_bridge)");
  }
  auto outer = find_link(*links, spec.veth_outer);
  if (outer && outer->info.kind != "veth") {
    return make_error("cannot create veth " + spec.veth_outer + ": a " +
                      (outer->info.kind.empty() ? "link" : outer->info.kind) +
                      " of that name exists; remove it (ip link del " + spec.veth_outer +
                      ") or choose another name");
  }
  if (Status s = ensure_netns(spec.netns); !s) return s;

  // The pair is created with its inner end already in the namespace, so it exists whole or not
  // at all. An outer end whose peer is not this namespace's eth0 (the namespace was deleted and
  // made again while the old one lived on) is replaced.
  auto inner_links = links_in(spec.netns);
  if (!inner_links) return make_error(inner_links.error());
  auto inner = find_link(*inner_links, "eth0");
  bool paired = outer && inner && inner->info.kind == "veth" &&
                inner->peer_ifindex == outer->ifindex && outer->peer_ifindex == inner->ifindex;
  const std::string mac = mac_for(spec.address_cidr);
  std::vector<std::string> outer_lines;
  std::vector<std::string> inner_lines = {"link set dev lo up"};
  if (!paired) {
    if (inner) {
      if (Status s = ip_batch(spec.netns, {"link del dev eth0"}); !s) return s;
    }
    if (outer) outer_lines.push_back("link del dev " + spec.veth_outer);
    outer_lines.push_back("link add name " + spec.veth_outer +
                          " type veth peer name eth0 address " + mac + " netns " + spec.netns);
  } else if (inner->mac != mac) {
    inner_lines.push_back("link set dev eth0 address " + mac);
  }
  outer_lines.push_back("link set dev " + spec.veth_outer + " master " + spec.bridge);
  if (!spec.alias.empty()) {
    outer_lines.push_back("link set dev " + spec.veth_outer + " alias \"" + spec.alias + "\"");
  }
  outer_lines.push_back("link set dev " + spec.veth_outer + " up");
  if (Status s = ip_batch("", outer_lines); !s) return s;

  only_address("eth0", spec.address_cidr, paired ? inner->ipv4 : std::vector<std::string>{},
               &inner_lines);
  inner_lines.push_back("link set dev eth0 up");
  inner_lines.push_back("route replace default via " + spec.gateway + " dev eth0");
  return ip_batch(spec.netns, inner_lines);
}

Status delete_netns(const std::string& netns) {
  if (Status s = check_netns_name(netns); !s) return s;
  if (!netns_exists(netns)) return Status::Ok();
  auto deleted = run_command({"ip", "netns", "del", netns});
  if (!deleted && netns_exists(netns)) return make_error(deleted.error());
  return Status::Ok();
}

bool netns_exists(const std::string& netns) {
  if (!check_netns_name(netns)) return false;
  return file_exists(netns_path(netns));
}

std::vector<std::string> list_netns() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kNetnsDir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<pid_t> netns_pids(const std::string& netns) {
  std::vector<pid_t> pids;
  struct stat target {};
  if (!is_mounted_netns(netns) || stat(netns_path(netns).c_str(), &target) != 0) return pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    struct stat ns {};
    if (stat(("/proc/" + name + "/ns/net").c_str(), &ns) != 0) continue;
    if (ns.st_dev == target.st_dev && ns.st_ino == target.st_ino) {
      pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

Status delete_link(const std::string& name) {
  if (Status s = check_link_name("link", name); !s) return s;
  if (!link_exists(name)) return Status::Ok();
  auto deleted = run_command({"ip", "link", "del", "dev", name});
  if (!deleted && link_exists(name)) return make_error(deleted.error());
  return Status::Ok();
}

bool link_exists(const std::string& name) {
  if (!check_link_name("link", name)) return false;
  return if_nametoindex(name.c_str()) != 0;
}

std::vector<LinkInfo> list_links() {
  std::vector<LinkInfo> result;
  auto links = links_in("");
  if (!links) return result;
  for (auto& link : *links) result.push_back(std::move(link.info));
  return result;
}

Status set_link_up(const std::string& name, bool up) {
  if (Status s = check_link_name("link", name); !s) return s;
  if (!link_exists(name)) {
    return make_error("cannot set link " + name + (up ? " up" : " down") +
                      ": it does not exist (was the host created?)");
  }
  return run_status({"ip", "link", "set", "dev", name, up ? "up" : "down"});
}

Status set_bandwidth(const std::string& netns, const std::string& dev, uint64_t bits_per_s) {
  if (!netns.empty()) {
    if (Status s = check_netns_name(netns); !s) return s;
  }
  if (Status s = check_link_name("device", dev); !s) return s;
  if (bits_per_s == 0) {
    auto current = bandwidth(netns, dev);
    if (!current) return make_error(current.error());
    if (*current == 0) return Status::Ok();
    return run_status(with_netns({"tc", "qdisc", "del", "dev", dev, "root"}, netns));
  }
  if (bits_per_s < 8) {
    return make_error("bandwidth of " + std::to_string(bits_per_s) +
                      " bit/s is below tc's smallest rate of 8 bit/s; give 0 for no limit");
  }
  // The bucket must hold at least a few full-size packets (or TCP stalls on every GSO burst)
  // and about 4 ms of traffic at high rates, where timer granularity would otherwise cap the
  // rate below the setting.
  uint64_t burst = std::max<uint64_t>(bits_per_s / 8 / 250, 32 * 1024);
  return run_status(with_netns(
      {"tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
       std::to_string(bits_per_s) + "bit", "burst", std::to_string(burst), "latency", "50ms"},
      netns));
}

Result<uint64_t> bandwidth(const std::string& netns, const std::string& dev) {
  if (!netns.empty()) {
    if (Status s = check_netns_name(netns); !s) return make_error(s.error());
  }
  if (Status s = check_link_name("device", dev); !s) return make_error(s.error());
  auto parsed = run_json(with_netns({"tc", "-json", "qdisc", "show", "dev", dev}, netns));
  if (!parsed) return make_error(parsed.error());
  if (!parsed->is_array()) return uint64_t{0};
  for (const auto& qdisc : *parsed) {
    if (qdisc.value("kind", "") != "tbf" || !qdisc.value("root", false)) continue;
    if (!qdisc.contains("options") || !qdisc["options"].contains("rate")) continue;
    // tc reports the rate in bytes per second.
    return qdisc["options"]["rate"].get<uint64_t>() * 8;
  }
  return uint64_t{0};
}

// ---- cgroups ---------------------------------------------------------------------------------

CgroupVersion cgroup_version() {
  std::string root = kCgroupRoot;
  if (file_exists(root + "/cgroup.controllers")) return CgroupVersion::kV2;
  for (const char* controller : kV1Controllers) {
    if (file_exists(root + "/" + controller + "/cgroup.procs")) return CgroupVersion::kV1;
  }
  return CgroupVersion::kNone;
}

Status create_cgroup(const std::string& path, const CgroupLimits& limits) {
  if (Status s = check_cgroup_path(path); !s) return s;
  if (Status s = require_cgroups(); !s) return s;
  auto parts = path_components(path);
  for (const auto& h : hierarchies()) {
    if (h.controller.empty()) {
      if (Status s = enable_v2_controllers(h, parts); !s) return s;
    }
    std::error_code ec;
    std::filesystem::create_directories(h.dir(path), ec);
    if (ec) {
      return make_error("cannot create cgroup " + h.dir(path) + ": " + ec.message());
    }
  }
  return set_cgroup_limits(path, limits);
}

Status set_cgroup_limits(const std::string& path, const CgroupLimits& limits) {
  if (Status s = check_cgroup_path(path); !s) return s;
  if (Status s = require_cgroups(); !s) return s;
  if (limits.cpus && (!std::isfinite(*limits.cpus) || *limits.cpus < 0.01)) {
    return make_error("cpu limit of " + std::to_string(*limits.cpus) + " cores for cgroup " + path +
                      " is too small: give at least 0.01");
  }
  if (limits.memory_bytes && *limits.memory_bytes == 0) {
    return make_error("memory limit of 0 bytes for cgroup " + path +
                      " would stop every process: leave it unset for no limit");
  }
  if (!cgroup_exists(path)) {
    return make_error("cgroup " + path + " does not exist: create it first (create_cgroup)");
  }
  uint64_t quota =
      limits.cpus ? static_cast<uint64_t>(std::llround(*limits.cpus * kCfsPeriodUs)) : 0;
  if (cgroup_version() == CgroupVersion::kV2) {
    std::string dir = hierarchy_for("")->dir(path);
    if (!file_exists(dir + "/cpu.max")) {
      if (limits.cpus) return make_error("cannot limit CPU of " + dir + ": no cpu controller");
    } else {
      std::string value = (limits.cpus ? std::to_string(quota) : std::string("max")) + " " +
                          std::to_string(kCfsPeriodUs);
      if (Status s = write_text(dir + "/cpu.max", value); !s) return s;
    }
    if (!file_exists(dir + "/memory.max")) {
      if (limits.memory_bytes) {
        return make_error("cannot limit memory of " + dir + ": no memory controller");
      }
    } else {
      std::string value =
          limits.memory_bytes ? std::to_string(*limits.memory_bytes) : std::string("max");
      if (Status s = write_text(dir + "/memory.max", value); !s) return s;
    }
    return Status::Ok();
  }
  auto cpu = hierarchy_for("cpu");
  if (cpu && is_dir(cpu->dir(path))) {
    std::string dir = cpu->dir(path);
    if (Status s = write_text(dir + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)); !s) {
      return s;
    }
    std::string value = limits.cpus ? std::to_string(quota) : std::string("-1");
    if (Status s = write_text(dir + "/cpu.cfs_quota_us", value); !s) return s;
  } else if (limits.cpus) {
    return make_error("cannot limit CPU of cgroup " + path + ": the v1 cpu controller is not " +
                      "mounted at " + kCgroupRoot + "/cpu");
  }
  auto memory = hierarchy_for("memory");
  if (memory && is_dir(memory->dir(path))) {
    std::string value =
        limits.memory_bytes ? std::to_string(*limits.memory_bytes) : std::string("-1");
    if (Status s = write_text(memory->dir(path) + "/memory.limit_in_bytes", value); !s) {
      return make_error(s.error() + " (is the limit below what the host already uses?)");
    }
  } else if (limits.memory_bytes) {
    return make_error("cannot limit memory of cgroup " + path + ": the v1 memory controller " +
                      "is not mounted at " + kCgroupRoot + "/memory");
  }
  return Status::Ok();
}

Result<CgroupLimits> cgroup_limits(const std::string& path) {
  if (Status s = check_cgroup_path(path); !s) return make_error(s.error());
  if (!cgroup_exists(path)) return make_error("cgroup " + path + " does not exist");
  CgroupLimits limits;
  auto number = [](const std::string& text) -> std::optional<long long> {
    try {
      return std::stoll(text);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  if (cgroup_version() == CgroupVersion::kV2) {
    std::string dir = hierarchy_for("")->dir(path);
    std::istringstream cpu_max(read_text(dir + "/cpu.max").value_or(""));
    std::string quota, period;
    if (cpu_max >> quota >> period && quota != "max") {
      auto q = number(quota), p = number(period);
      if (q && p && *p > 0) limits.cpus = static_cast<double>(*q) / static_cast<double>(*p);
    }
    std::string memory = trimmed(read_text(dir + "/memory.max").value_or("max"));
    if (memory != "max") {
      if (auto m = number(memory)) limits.memory_bytes = static_cast<uint64_t>(*m);
    }
    return limits;
  }
  if (auto cpu = hierarchy_for("cpu"); cpu && is_dir(cpu->dir(path))) {
    auto quota = number(read_text(cpu->dir(path) + "/cpu.cfs_quota_us").value_or(""));
    auto period = number(read_text(cpu->dir(path) + "/cpu.cfs_period_us").value_or(""));
    if (quota && period && *quota > 0 && *period > 0) {
      limits.cpus = static_cast<double>(*quota) / static_cast<double>(*period);
    }
  }
  if (auto memory = hierarchy_for("memory"); memory && is_dir(memory->dir(path))) {
    std::string text =
        trimmed(read_text(memory->dir(path) + "/memory.limit_in_bytes").value_or(""));
    try {
      uint64_t bytes = std::stoull(text);
      if (bytes < kUnlimitedMemory) limits.memory_bytes = bytes;
    } catch (const std::exception&) {
    }
  }
  return limits;
}

Result<CgroupUsage> cgroup_usage(const std::string& path) {
  if (Status s = check_cgroup_path(path); !s) return make_error(s.error());
  if (!cgroup_exists(path)) return make_error("cgroup " + path + " does not exist");
  auto number = [](const std::optional<std::string>& text) -> std::optional<uint64_t> {
    if (!text) return std::nullopt;
    try {
      return std::stoull(trimmed(*text));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  // "key value" lines (memory.events, memory.oom_control): the value of `wanted`.
  auto counter = [](const std::optional<std::string>& text,
                    const std::string& wanted) -> std::optional<uint64_t> {
    if (!text) return std::nullopt;
    std::istringstream lines(*text);
    std::string key;
    uint64_t value = 0;
    while (lines >> key >> value) {
      if (key == wanted) return value;
    }
    return std::nullopt;
  };
  CgroupUsage usage;
  if (cgroup_version() == CgroupVersion::kV2) {
    std::string dir = hierarchy_for("")->dir(path);
    std::istringstream stat(read_text(dir + "/cpu.stat").value_or(""));
    std::string key;
    uint64_t value = 0;
    while (stat >> key >> value) {
      if (key == "usage_usec") usage.cpu_ns = value * 1000;
    }
    usage.memory_bytes = number(read_text(dir + "/memory.current"));
    usage.memory_peak_bytes = number(read_text(dir + "/memory.peak"));
    usage.oom_kills = counter(read_text(dir + "/memory.events"), "oom_kill");
    return usage;
  }
  if (auto cpuacct = hierarchy_for("cpuacct"); cpuacct && is_dir(cpuacct->dir(path))) {
    usage.cpu_ns = number(read_text(cpuacct->dir(path) + "/cpuacct.usage")).value_or(0);
  }
  if (auto memory = hierarchy_for("memory"); memory && is_dir(memory->dir(path))) {
    usage.memory_bytes = number(read_text(memory->dir(path) + "/memory.usage_in_bytes"));
    usage.memory_peak_bytes = number(read_text(memory->dir(path) + "/memory.max_usage_in_bytes"));
    usage.oom_kills = counter(read_text(memory->dir(path) + "/memory.oom_control"), "oom_kill");
  }
  return usage;
}

Status delete_cgroup(const std::string& path, const std::string& stop_at) {
  if (Status s = check_cgroup_path(path); !s) return s;
  if (cgroup_version() == CgroupVersion::kNone) return Status::Ok();
  if (Status s = remove_cgroup_tree(path, Clock::now() + kKillTimeout); !s) return s;
  // Parents go only when they are empty (rmdir refuses otherwise) and only below `stop_at`.
  auto parts = path_components(path);
  std::optional<size_t> stop;
  for (size_t i = parts.size() - 1; i-- > 0;) {
    if (parts[i] == stop_at) {
      stop = i;
      break;
    }
  }
  if (!stop) return Status::Ok();
  for (size_t last = parts.size() - 2; last > *stop; --last) {
    std::string parent = join_components(parts, last + 1);
    bool removed = true;
    for (const auto& h : hierarchies()) {
      if (rmdir(h.dir(parent).c_str()) != 0 && errno != ENOENT) removed = false;
    }
    if (!removed) break;
  }
  return Status::Ok();
}

bool cgroup_exists(const std::string& path) {
  if (!check_cgroup_path(path)) return false;
  for (const auto& h : hierarchies()) {
    if (is_dir(h.dir(path))) return true;
  }
  return false;
}

std::vector<pid_t> cgroup_pids(const std::string& path) {
  std::set<pid_t> pids;
  if (!check_cgroup_path(path)) return {};
  for (const auto& h : hierarchies()) {
    for (pid_t pid : read_pids(h.dir(path) + "/cgroup.procs")) pids.insert(pid);
  }
  return {pids.begin(), pids.end()};
}

std::vector<std::string> list_cgroups(const std::string& path) {
  std::set<std::string> names;
  if (!path.empty() && !check_cgroup_path(path)) return {};
  for (const auto& h : hierarchies()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(h.dir(path), ec)) {
      if (entry.is_directory(ec)) names.insert(entry.path().filename().string());
    }
  }
  return {names.begin(), names.end()};
}

Status freeze_cgroup(const std::string& path, bool frozen) {
  if (Status s = check_cgroup_path(path); !s) return s;
  if (Status s = require_cgroups(); !s) return s;
  if (!cgroup_exists(path)) {
    return make_error("cannot " + std::string(frozen ? "freeze" : "thaw") + " cgroup " + path +
                      ": it does not exist");
  }
  auto deadline = Clock::now() + kFreezeTimeout;
  if (cgroup_version() == CgroupVersion::kV2) {
    auto unified = *hierarchy_for("");
    if (Status s = write_text(unified.dir(path) + "/cgroup.freeze", frozen ? "1" : "0"); !s) {
      return s;
    }
    while (v2_frozen(unified, path) != frozen) {
      if (Clock::now() > deadline) {
        return make_error("cgroup " + path + " did not become " + (frozen ? "frozen" : "thawed") +
                          " within 2 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return Status::Ok();
  }
  auto freezer = hierarchy_for("freezer");
  if (!freezer || !is_dir(freezer->dir(path))) {
    return make_error("cannot freeze cgroup " + path + ": the v1 freezer controller is not " +
                      "mounted at " + kCgroupRoot + "/freezer");
  }
  const std::string target = frozen ? "FROZEN" : "THAWED";
  const std::string state_file = freezer->dir(path) + "/freezer.state";
  auto next_write = Clock::now();
  while (true) {
    // v1 can stay FREEZING when a task is busy in the kernel; writing again retries it.
    if (Clock::now() >= next_write) {
      if (Status s = write_text(state_file, target); !s) return s;
      next_write = Clock::now() + std::chrono::milliseconds(100);
    }
    std::string state = freezer_state(*freezer, path);
    if (state == target) return Status::Ok();
    if (Clock::now() > deadline) {
      return make_error("cgroup " + path + " did not reach " + target + " within 2 s (" +
                        state_file + " reads " + state + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::vector<std::string> cgroup_join_files(const std::string& path) {
  std::vector<std::string> files;
  if (!check_cgroup_path(path)) return files;
  for (const auto& h : hierarchies()) {
    if (is_dir(h.dir(path))) files.push_back(h.dir(path) + "/cgroup.procs");
  }
  return files;
}

}  // namespace dec::infra::linux_host
