#include "infra/terraform/command_runner.h"

#include "infra/linux_host.h"

namespace dec::infra::terraform {
namespace {

// SIGTERM lets terraform release its state lock; SIGKILL follows if it does not exit in time.
constexpr auto kStopGrace = std::chrono::seconds(10);

class ProcessRunner : public CommandRunner {
 public:
  Result<CommandOutput> run(const Command& command) override {
    Command program = command;
    program.own_process_group = true;
    program.stop_grace = kStopGrace;
    auto output = linux_host::run_program(program);
    if (!output) {
      if (output.error().find(" did not finish within ") == std::string::npos) {
        return make_error(output.error());
      }
      return make_error(output.error() + " (raise deploy.settings.timeout_minutes)");
    }
    return output;
  }
};

}  // namespace

std::unique_ptr<CommandRunner> make_process_runner() { return std::make_unique<ProcessRunner>(); }

}  // namespace dec::infra::terraform
