#include "infra/env.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "infra/reaper.h"

extern char** environ;

namespace dec::infra {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Field 22 of /proc/PID/stat is the start time; field 3 the state. The command name (field 2)
// may contain spaces and parentheses, so parse from the last ')'.
bool read_stat(pid_t pid, char* state, uint64_t* start_ticks) {
  const auto text = linux_host::read_kernel_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return false;
  const std::string line = text->substr(0, text->find('\n'));
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  // fields[0] is field 3 (state); field 22 is fields[19].
  if (fields.size() < 20) return false;
  *state = fields[0][0];
  *start_ticks = std::stoull(fields[19]);
  return true;
}

uint64_t process_start_ticks(pid_t pid) {
  char state = 0;
  uint64_t ticks = 0;
  return read_stat(pid, &state, &ticks) ? ticks : 0;
}

// What a child placed by spawn_placed() reports through its error pipe when a step fails.
enum class ChildStep : int { kSetsid, kJoinCgroup, kSetns, kRedirect, kChdir, kUser, kExec };
struct ChildFailure {
  ChildStep step;
  int error;
};

const char* child_step_text(ChildStep step) {
  switch (step) {
    case ChildStep::kSetsid:
      return "setsid";
    case ChildStep::kJoinCgroup:
      return "joining the cgroup";
    case ChildStep::kSetns:
      return "entering the network namespace";
    case ChildStep::kRedirect:
      return "redirecting output to the log";
    case ChildStep::kChdir:
      return "changing to the working directory";
    case ChildStep::kUser:
      return "switching to its user";
    case ChildStep::kExec:
      return "exec";
  }
  return "?";
}

// Decimal text of `value` into `out` (at least 24 bytes), without the allocating or
// locale-aware formatting that a forked child of a threaded process must not call.
size_t format_decimal(long value, char* out) {
  char digits[24];
  size_t count = 0;
  bool negative = value < 0;
  unsigned long magnitude =
      negative ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
  do {
    digits[count++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0 && count < sizeof digits);
  size_t length = 0;
  if (negative) out[length++] = '-';
  while (count > 0) out[length++] = digits[--count];
  return length;
}

void write_all(int fd, const char* text, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    length -= static_cast<size_t>(n);
  }
}

// Everything the child of spawn_placed() uses, prepared before fork: after fork in a threaded
// process only async-signal-safe calls are allowed (no allocation, no locks, no stdio).
struct PlacedChild {
  const char* program = nullptr;  // full path, PATH already searched
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* working_dir = nullptr;  // nullptr = inherit
  int null_fd = -1;
  int log_fd = -1;
  int netns_fd = -1;
  const int* cgroup_fds = nullptr;
  size_t cgroup_count = 0;
  // The user to become (SpawnOptions::user), resolved in the parent; switch_user false = stay.
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t group_count = 0;
  int error_pipe = -1;  // write end, close-on-exec: EOF in the parent means exec succeeded
};

[[noreturn]] void fail_in_child(const PlacedChild& child, ChildStep step) {
  ChildFailure failure{step, errno};
  write_all(child.error_pipe, reinterpret_cast<const char*>(&failure), sizeof failure);
  const char* what = child_step_text(step);
  char number[24];
  size_t number_length = format_decimal(failure.error, number);
  int log = child.log_fd;
  write_all(log, "dec: cannot start ", 18);
  write_all(log, child.program, strlen(child.program));
  write_all(log, ": ", 2);
  write_all(log, what, strlen(what));
  write_all(log, " failed (errno ", 15);
  write_all(log, number, number_length);
  write_all(log, ")\n", 2);
  _exit(127);
}

[[noreturn]] void run_placed_child(const PlacedChild& child) {
  // Default dispositions and an empty mask, as the posix_spawn path sets them; the parent
  // blocked every signal around fork so no handler of dec's runs in here first.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (setsid() < 0) fail_in_child(child, ChildStep::kSetsid);
  char pid_text[24];
  size_t pid_length = format_decimal(getpid(), pid_text);
  for (size_t i = 0; i < child.cgroup_count; ++i) {
    if (write(child.cgroup_fds[i], pid_text, pid_length) != static_cast<ssize_t>(pid_length)) {
      fail_in_child(child, ChildStep::kJoinCgroup);
    }
  }
  if (child.netns_fd >= 0 && setns(child.netns_fd, CLONE_NEWNET) != 0) {
    fail_in_child(child, ChildStep::kSetns);
  }
  if (dup2(child.null_fd, 0) < 0 || dup2(child.log_fd, 1) < 0 || dup2(child.log_fd, 2) < 0) {
    fail_in_child(child, ChildStep::kRedirect);
  }
  // Groups, then gid, then uid: once the uid is dropped neither of the others may change.
  if (child.switch_user && (setgroups(child.group_count, child.groups) != 0 ||
                            setgid(child.gid) != 0 || setuid(child.uid) != 0)) {
    fail_in_child(child, ChildStep::kUser);
  }
  // After the switch, so a directory the user cannot enter fails here, as it would for them.
  if (child.working_dir != nullptr && chdir(child.working_dir) != 0) {
    fail_in_child(child, ChildStep::kChdir);
  }
  execve(child.program, child.argv, child.envp);
  fail_in_child(child, ChildStep::kExec);
}

// The PATH search execvp would do, done in the parent. "" when not found.
std::string find_in_path(const std::string& name) {
  const char* path = getenv("PATH");
  return find_program(name, path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
}

// Opened descriptors are kept above 0..2 so the child's dup2 onto stdin/stdout/stderr cannot
// overwrite one it still needs (possible when dec runs with a standard stream closed).
int open_above_stdio(const char* path, int flags, mode_t mode = 0) {
  int fd = open(path, flags | O_CLOEXEC, mode);
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

class FdList {
 public:
  ~FdList() { close_all(); }
  void close_all() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }
  int add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

 private:
  std::vector<int> fds_;
};

// fork + execve for a child that must join a network namespace or cgroups before its first
// instruction: posix_spawn cannot do either.
Result<pid_t> spawn_placed(const SpawnOptions& options, char* const* argv, char* const* envp) {
  const std::string& name = options.argv[0];
  std::string program = find_in_path(name);
  if (program.empty()) {
    return make_error("cannot start " + name +
                      ": No such file or directory (is it installed? run scripts/setup)");
  }
  FdList parent_closes;  // every descriptor below is the child's to use, the parent's to close
  PlacedChild child;
  child.program = program.c_str();
  child.argv = argv;
  child.envp = envp;
  child.working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  child.null_fd = parent_closes.add(open_above_stdio("/dev/null", O_RDONLY));
  if (child.null_fd < 0) return make_error("cannot open /dev/null: " + errno_text());
  const std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
  child.log_fd =
      parent_closes.add(open_above_stdio(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644));
  if (child.log_fd < 0) return make_error("cannot open log file " + log + ": " + errno_text());
  if (!options.netns.empty()) {
    std::string path = "/var/run/netns/" + options.netns;
    child.netns_fd = parent_closes.add(open_above_stdio(path.c_str(), O_RDONLY));
    if (child.netns_fd < 0) {
      return make_error("cannot start " + name + " in network namespace " + options.netns + ": " +
                        path + ": " + errno_text() + " (was the host created?)");
    }
  }
  std::vector<int> cgroup_fds;
  for (const auto& file : options.cgroup_procs) {
    int fd = parent_closes.add(open_above_stdio(file.c_str(), O_WRONLY));
    if (fd < 0) {
      return make_error("cannot start " + name + " in its cgroup: cannot open " + file + ": " +
                        errno_text() + " (was the host created?)");
    }
    cgroup_fds.push_back(fd);
  }
  child.cgroup_fds = cgroup_fds.data();
  child.cgroup_count = cgroup_fds.size();
  std::vector<gid_t> groups;
  if (!options.user.empty()) {
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwnam_r(options.user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      return make_error("cannot start " + name + " as user " + options.user +
                        ": no such user (scripts/setup creates it)");
    }
    int count = 64;
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(options.user.c_str(), found->pw_gid, groups.data(), &count) < 0) {
      groups.resize(static_cast<size_t>(count));
      getgrouplist(options.user.c_str(), found->pw_gid, groups.data(), &count);
    }
    groups.resize(static_cast<size_t>(std::max(count, 0)));
    child.switch_user = true;
    child.uid = found->pw_uid;
    child.gid = found->pw_gid;
    child.groups = groups.data();
    child.group_count = groups.size();
  }
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return make_error("pipe: " + errno_text());
  int error_read = error_pipe[0];
  child.error_pipe = parent_closes.add(error_pipe[1]);

  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = fork();
  if (pid == 0) run_placed_child(child);
  int fork_error = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    close(error_read);
    return make_error("cannot start " + name + ": fork: " + std::strerror(fork_error));
  }
  // Includes the pipe's write end, so the read below sees EOF once the child has exec'd.
  parent_closes.close_all();
  ChildFailure failure{};
  ssize_t got = 0;
  while (true) {
    got = read(error_read, &failure, sizeof failure);
    if (got < 0 && errno == EINTR) continue;
    break;
  }
  close(error_read);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return make_error("cannot start " + name + ": " + child_step_text(failure.step) +
                      " failed: " + std::strerror(failure.error) +
                      (failure.step == ChildStep::kExec && failure.error == ENOENT
                           ? " (is it installed? run scripts/setup)"
                           : ""));
  }
  return pid;
}

}  // namespace

std::string find_program(const std::string& name, const std::string& search_path) {
  if (name.find('/') != std::string::npos) return name;
  size_t start = 0;
  while (start <= search_path.size()) {
    size_t end = search_path.find(':', start);
    if (end == std::string::npos) end = search_path.size();
    std::string dir = search_path.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

Result<ProcessId> PosixEnv::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return make_error("spawn: empty command");
  std::map<std::string, std::string> added = options.environment;
  if (!options.user.empty()) {
    // What a login as that user would have, unless the caller set them.
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwnam_r(options.user.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
      added.emplace("HOME", found->pw_dir);
      added.emplace("USER", options.user);
      added.emplace("LOGNAME", options.user);
    }
  }
  std::vector<std::string> env_strings = linux_host::environment_with(added);
  if (!options.inherit_environment) {
    std::erase_if(env_strings, [&](const std::string& entry) {
      const std::string key = entry.substr(0, entry.find('='));
      static const char* const kPassed[] = {"PATH", "LANG", "TZ", "TMPDIR", "JAVA_HOME"};
      bool passed = added.count(key) > 0 || key.rfind("LC_", 0) == 0;
      for (const char* name : kPassed) passed = passed || key == name;
      return !passed;
    });
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = options.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  if (!options.netns.empty() || !options.cgroup_procs.empty() || !options.user.empty()) {
    auto placed = spawn_placed(options, argv.data(), envp.data());
    if (!placed) return make_error(placed.error());
    pid = *placed;
  } else {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = options.log_path.empty() ? "/dev/null" : options.log_path;
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (!options.working_dir.empty()) {
      posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
    }
    posix_spawnattr_t attr;
    // Own session: Ctrl-C in the terminal goes to dec only, which then stops services in order.
    linux_host::init_spawn_attributes(&attr, POSIX_SPAWN_SETSID);

    int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return make_error("cannot start " + options.argv[0] + ": " + std::strerror(rc) +
                        (rc == ENOENT ? " (is it installed? run scripts/setup)" : ""));
    }
  }
  ProcessId id{pid, 0};
  // The start time is what makes the identity safe against pid reuse; /proc has it at once.
  for (int i = 0; i < 100 && id.start_ticks == 0; ++i) {
    id.start_ticks = process_start_ticks(pid);
    if (id.start_ticks == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return id;
}

bool PosixEnv::process_alive(const ProcessId& id) {
  if (!id.valid()) return false;
  char state = 0;
  uint64_t ticks = 0;
  if (!read_stat(id.pid, &state, &ticks)) return false;
  if (id.start_ticks != 0 && ticks != id.start_ticks) return false;  // pid reused
  if (state == 'Z' || state == 'X') {
    waitpid(id.pid, nullptr, WNOHANG);  // reap if it is our child
    return false;
  }
  return true;
}

Status PosixEnv::stop_process(const ProcessId& id, std::chrono::milliseconds grace) {
  if (!process_alive(id)) {
    waitpid(id.pid, nullptr, WNOHANG);
    return Status::Ok();
  }
  // A stopped (frozen) process cannot act on SIGTERM: continue it first.
  kill(id.pid, SIGCONT);
  kill(id.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    waitpid(id.pid, nullptr, WNOHANG);
    if (!process_alive(id)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(id.pid, SIGKILL);
  for (int i = 0; i < 500; ++i) {
    waitpid(id.pid, nullptr, WNOHANG);
    if (!process_alive(id)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return make_error("process " + std::to_string(id.pid) + " did not exit after SIGKILL");
}

std::vector<ProcessInfo> PosixEnv::processes() {
  std::vector<ProcessInfo> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string base = std::string("/proc/") + entry->d_name;
    const auto environment = linux_host::read_kernel_file(base + "/environ");
    if (!environment) continue;  // not ours to read, or gone
    const std::string& env = *environment;
    ProcessInfo info;
    size_t pos = 0;
    while (pos < env.size()) {
      size_t next = env.find('\0', pos);
      if (next == std::string::npos) next = env.size();
      std::string_view var(env.data() + pos, next - pos);
      if (var.rfind("DEC_", 0) == 0) {
        auto eq = var.find('=');
        if (eq != std::string_view::npos) {
          info.dec_tags.emplace(std::string(var.substr(0, eq)), std::string(var.substr(eq + 1)));
        }
      }
      pos = next + 1;
    }
    std::error_code ec;
    info.cwd = std::filesystem::read_symlink(base + "/cwd", ec).string();
    char state = 0;
    uint64_t ticks = 0;
    if (!read_stat(static_cast<pid_t>(pid), &state, &ticks) || state == 'Z') continue;
    info.id = ProcessId{static_cast<pid_t>(pid), ticks};
    std::string cmd = linux_host::read_kernel_file(base + "/cmdline").value_or("");
    for (char& c : cmd) {
      if (c == '\0') c = ' ';
    }
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    info.command = cmd;
    found.push_back(std::move(info));
  }
  closedir(proc);
  return found;
}

ProcessId PosixEnv::self() { return process_id(getpid()); }

ProcessId PosixEnv::process_id(pid_t pid) { return ProcessId{pid, process_start_ticks(pid)}; }

std::optional<ProcessUsage> PosixEnv::process_usage(pid_t pid) {
  // Fields 14 and 15 (utime, stime) of /proc/PID/stat, after the command name (which may hold
  // spaces and parentheses); VmRSS and VmHWM of /proc/PID/status.
  const auto stat = linux_host::read_kernel_file("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat ? stat->rfind(')') : std::string::npos;
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  ProcessUsage usage;
  const long ticks = sysconf(_SC_CLK_TCK);
  usage.cpu_ns =
      (utime + stime) * 1'000'000'000ULL / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
  std::istringstream status(
      linux_host::read_kernel_file("/proc/" + std::to_string(pid) + "/status").value_or(""));
  for (std::string line; std::getline(status, line);) {
    auto kib = [&](const char* key) -> std::optional<uint64_t> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10) * 1024;
    };
    if (auto v = kib("VmRSS:")) usage.memory_bytes = v;
    if (auto v = kib("VmHWM:")) usage.memory_peak_bytes = v;
  }
  return usage;
}

Result<int> PosixEnv::free_tcp_port(const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return make_error("socket: " + errno_text());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return make_error("invalid IPv4 address \"" + host + "\"");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string err = errno_text();
    close(fd);
    return make_error("cannot find a free port on " + host + ": " + err);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

bool PosixEnv::tcp_port_open(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

Status PosixEnv::make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return make_error("cannot create directory " + path + ": " + ec.message());
  return Status::Ok();
}

Status PosixEnv::remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return make_error("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

bool PosixEnv::path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

std::vector<std::string> PosixEnv::list_dir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> PosixEnv::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read " + path + ": " + errno_text());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {
Status write_with_mode(const std::string& path, const std::string& content, mode_t mode);
}  // namespace

Status PosixEnv::write_file_atomic(const std::string& path, const std::string& content) {
  return write_with_mode(path, content, 0644);
}

Status PosixEnv::write_private_file(const std::string& path, const std::string& content) {
  return write_with_mode(path, content, 0600);
}

namespace {
Status write_with_mode(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  // A private file is private whatever a leftover temp file's mode was.
  if (fd >= 0 && mode == 0600 && fchmod(fd, mode) != 0) {
    close(fd);
    return make_error("cannot restrict " + tmp + " to its owner: " + errno_text());
  }
  if (fd < 0) return make_error("cannot write " + tmp + ": " + errno_text());
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = errno_text();
      close(fd);
      unlink(tmp.c_str());
      return make_error("cannot write " + tmp + ": " + err);
    }
    written += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = errno_text();
    unlink(tmp.c_str());
    return make_error("cannot rename " + tmp + " to " + path + ": " + err);
  }
  return Status::Ok();
}
}  // namespace

Status PosixEnv::remove_file(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error("cannot remove " + path + ": " + errno_text());
  }
  return Status::Ok();
}

Status PosixEnv::chown_tree(const std::string& path, const std::string& user) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(4096);
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return make_error("cannot give " + path + " to user " + user +
                      ": no such user (is the product installed? run scripts/setup)");
  }
  auto give = [&](const std::string& file) -> Status {
    if (lchown(file.c_str(), found->pw_uid, found->pw_gid) != 0) {
      return make_error("cannot give " + file + " to user " + user + ": " + errno_text());
    }
    return Status::Ok();
  };
  if (Status s = give(path); !s) return s;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(path, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (Status s = give(it->path().string()); !s) return s;
  }
  if (error) return make_error("cannot walk " + path + ": " + error.message());
  return Status::Ok();
}

std::chrono::system_clock::time_point PosixEnv::now() { return std::chrono::system_clock::now(); }

void PosixEnv::sleep_for(std::chrono::milliseconds duration) {
  std::this_thread::sleep_for(duration);
}

}  // namespace dec::infra

namespace dec::infra {

Status PosixEnv::signal_process(const ProcessId& id, int signal) {
  if (!process_alive(id))
    return make_error("process " + std::to_string(id.pid) + " is not running");
  if (kill(id.pid, signal) != 0) {
    return make_error("cannot signal process " + std::to_string(id.pid) + ": " + errno_text());
  }
  return Status::Ok();
}

namespace {
class FlockLock : public FileLock {
 public:
  explicit FlockLock(int fd) : fd_(fd) {}
  ~FlockLock() override {
    flock(fd_, LOCK_UN);
    close(fd_);
  }

 private:
  int fd_;
};
}  // namespace

Result<std::unique_ptr<FileLock>> PosixEnv::lock_file(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    mkdir(path.substr(0, slash).c_str(), 01777);  // /run/lock is absent on minimal systems
  }
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("cannot open " + path + ": " + errno_text());
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    std::string error = "cannot lock " + path + ": " + errno_text();
    close(fd);
    return make_error(error);
  }
  return std::unique_ptr<FileLock>(new FlockLock(fd));
}

Result<std::string> PosixEnv::run_command(const std::vector<std::string>& argv) {
  return linux_host::run_command(argv);
}

namespace lh = linux_host;

bool PosixEnv::hosts_supported() {
  return lh::is_root() && lh::cgroup_version() != lh::CgroupVersion::kNone;
}
Status PosixEnv::create_bridge(const lh::BridgeSpec& spec) { return lh::create_bridge(spec); }
Status PosixEnv::create_host_net(const lh::HostNetSpec& spec) { return lh::create_host_net(spec); }
Status PosixEnv::delete_netns(const std::string& netns) { return lh::delete_netns(netns); }
bool PosixEnv::netns_exists(const std::string& netns) { return lh::netns_exists(netns); }
std::vector<std::string> PosixEnv::list_netns() { return lh::list_netns(); }
std::vector<pid_t> PosixEnv::netns_pids(const std::string& netns) { return lh::netns_pids(netns); }
Status PosixEnv::delete_link(const std::string& name) { return lh::delete_link(name); }
bool PosixEnv::link_exists(const std::string& name) { return lh::link_exists(name); }
std::vector<lh::LinkInfo> PosixEnv::list_links() { return lh::list_links(); }
Status PosixEnv::set_link_up(const std::string& name, bool up) { return lh::set_link_up(name, up); }
Status PosixEnv::set_bandwidth(const std::string& netns, const std::string& dev,
                               uint64_t bits_per_s) {
  return lh::set_bandwidth(netns, dev, bits_per_s);
}
Result<uint64_t> PosixEnv::bandwidth(const std::string& netns, const std::string& dev) {
  return lh::bandwidth(netns, dev);
}
Status PosixEnv::create_cgroup(const std::string& path, const lh::CgroupLimits& limits) {
  return lh::create_cgroup(path, limits);
}
Status PosixEnv::set_cgroup_limits(const std::string& path, const lh::CgroupLimits& limits) {
  return lh::set_cgroup_limits(path, limits);
}
Result<lh::CgroupLimits> PosixEnv::cgroup_limits(const std::string& path) {
  return lh::cgroup_limits(path);
}
Result<lh::CgroupUsage> PosixEnv::cgroup_usage(const std::string& path) {
  return lh::cgroup_usage(path);
}
Status PosixEnv::delete_cgroup(const std::string& path) { return lh::delete_cgroup(path); }
bool PosixEnv::cgroup_exists(const std::string& path) { return lh::cgroup_exists(path); }
std::vector<std::string> PosixEnv::list_cgroups(const std::string& path) {
  return lh::list_cgroups(path);
}
Status PosixEnv::freeze_cgroup(const std::string& path, bool frozen) {
  return lh::freeze_cgroup(path, frozen);
}
std::vector<std::string> PosixEnv::cgroup_join_files(const std::string& path) {
  return lh::cgroup_join_files(path);
}

}  // namespace dec::infra
