// Starting dec (or any program) from a test: output captured to a file, bounded waits.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace dec::testing {

struct Child {
  pid_t pid = -1;
  std::string output_path;
  std::string output() const {
    std::ifstream in(output_path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

inline Child start(const std::vector<std::string>& argv, const std::string& output_path,
                   const std::map<std::string, std::string>& extra_env = {}) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  Child child;
  child.output_path = output_path;
  if (posix_spawnp(&child.pid, cargv[0], &actions, nullptr, cargv.data(), envp.data()) != 0) {
    child.pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  return child;
}

// Exit code, 128+signal if killed, or -1 on timeout (the child is then killed).
inline int wait_exit(const Child& child, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(child.pid, &status, WNOHANG);
    if (r == child.pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
    if (r < 0) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(child.pid, SIGKILL);
  waitpid(child.pid, nullptr, 0);
  return -1;
}

inline int run(const std::vector<std::string>& argv, const std::string& output_path,
               std::chrono::seconds timeout = std::chrono::seconds(120),
               const std::map<std::string, std::string>& extra_env = {}) {
  Child child = start(argv, output_path, extra_env);
  if (child.pid < 0) return -3;
  return wait_exit(child, timeout);
}

}  // namespace dec::testing
