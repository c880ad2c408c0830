// CommandRunner: how the Terraform provider runs the terraform (or tofu) CLI. The provider never
// forks itself; it is handed a runner, so tests substitute a scripted one or put a stand-in
// executable first on the search path.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::infra::terraform {

struct Command {
  std::vector<std::string> argv;                   // argv[0] is an absolute path
  std::string working_dir;                         // "" = inherit
  std::map<std::string, std::string> environment;  // added to (or replacing) the inherited one
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // Called with every complete line of standard output as it arrives (progress).
  std::function<void(const std::string& line)> on_stdout_line;
};

struct CommandOutput {
  int exit_code = 0;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs `command` to its end. An error means it could not be started or ran past its timeout
  // (then its whole process group was killed); a non-zero exit is an output, not an error.
  virtual Result<CommandOutput> run(const Command& command) = 0;
};

// posix_spawn in a process group of its own (so a timeout also stops the provider plugins the
// CLI starts), stdin /dev/null, stdout and stderr captured.
std::unique_ptr<CommandRunner> make_process_runner();

}  // namespace dec::infra::terraform
