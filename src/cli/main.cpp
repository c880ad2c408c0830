#include <string>
#include <vector>

#include "cli/commands.h"
#include "infra/reaper.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Commands that start or stop brokers reap their orphaned children (infra/reaper.h); the host
  // commands (worker, kafka-mock, kinesis-quota) wait for their own.
  bool reaps = false;
  if (!args.empty()) {
    for (const char* command : {"run", "serve", "apply", "destroy", "reconcile"}) {
      reaps = reaps || args[0] == command;
    }
  }
  if (reaps) dec::infra::start_child_reaper();
  const int code = dec::cli::run_cli(args);
  // What exited since the reaper's last round (a broker stopped just now) is reaped before
  // exit, not left to init.
  if (reaps) dec::infra::reap_orphans();
  return code;
}
