// CommandRunner: how the Terraform provider runs the terraform (or tofu) CLI. The provider never
// forks itself; it is handed a runner, so tests substitute a scripted one or put a stand-in
// executable first on the search path.
#pragma once

#include <memory>

#include "core/result.h"
#include "infra/linux_host.h"

namespace dec::infra::terraform {

// What to run (argv[0] an absolute path, working dir, added environment, timeout, stdout lines
// as they arrive) and what came back: the same as every program dec runs (linux_host.h).
using Command = linux_host::ProgramRun;
using CommandOutput = linux_host::ProgramOutput;

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs `command` to its end. An error means it could not be started or ran past its timeout
  // (then its whole process group was killed); a non-zero exit is an output, not an error.
  virtual Result<CommandOutput> run(const Command& command) = 0;
};

// linux_host::run_program in a process group of its own: at the timeout the CLI gets SIGTERM
// (it releases its state lock), then the group SIGKILL (the provider plugins it started too).
std::unique_ptr<CommandRunner> make_process_runner();

}  // namespace dec::infra::terraform
