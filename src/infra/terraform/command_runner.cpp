#include "infra/terraform/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "infra/env.h"

namespace dec::infra::terraform {
namespace {

using Clock = std::chrono::steady_clock;

// SIGTERM lets terraform release its state lock; SIGKILL follows if it does not exit in time.
constexpr auto kStopGrace = std::chrono::seconds(10);

class ProcessRunner : public CommandRunner {
 public:
  Result<CommandOutput> run(const Command& command) override {
    if (command.argv.empty()) return make_error("run: empty command");
    std::vector<std::string> env_strings = environment_with(command.environment);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = command.argv;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
      int error = errno;
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
        if (fd >= 0) close(fd);
      }
      return make_error(std::string("pipe: ") + std::strerror(error));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    if (!command.working_dir.empty()) {
      posix_spawn_file_actions_addchdir_np(&actions, command.working_dir.c_str());
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
      close(out_pipe[0]);
      close(err_pipe[0]);
      return make_error("cannot run " + command.argv[0] + ": " + std::strerror(rc));
    }

    CommandOutput output;
    std::string pending;  // stdout not yet ended by a newline
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    const auto deadline = Clock::now() + command.timeout;
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
          (i == 0 ? output.out : output.err).append(chunk);
          if (i == 0 && command.on_stdout_line) {
            pending.append(chunk);
            for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
              command.on_stdout_line(pending.substr(0, newline));
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
    if (!pending.empty() && command.on_stdout_line) command.on_stdout_line(pending);
    if (timed_out) {
      kill(-pid, SIGTERM);
      auto stop_deadline = Clock::now() + kStopGrace;
      while (Clock::now() < stop_deadline && waitpid(pid, nullptr, WNOHANG) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      kill(-pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      const long long ms = command.timeout.count();
      return make_error(
          command.argv[0] + " did not finish within " +
          (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") +
          " and was stopped (raise deploy.settings.timeout_minutes)");
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                         : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return output;
  }
};

}  // namespace

std::unique_ptr<CommandRunner> make_process_runner() { return std::make_unique<ProcessRunner>(); }

}  // namespace dec::infra::terraform
