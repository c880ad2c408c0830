// A `dec worker` agent on a thread of the test's own process, for tests that drive the agent
// over real HTTP without a separate binary.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "worker/worker.h"

namespace dec::testing {

// Starts worker::run_agent(options) on `thread` (its exit code goes to *exit_code) and waits up
// to 5 s for its ready file (options.ready_file must be set). Returns the loopback port it
// listens on, or 0 when it never became ready there.
inline int start_in_process_agent(const worker::AgentOptions& options, std::thread& thread,
                                  int* exit_code) {
  thread = std::thread([options, exit_code] { *exit_code = worker::run_agent(options); });
  for (int i = 0; i < 500 && !std::filesystem::exists(options.ready_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(options.ready_file);
  std::string address;
  if (!std::getline(in, address) || address.rfind("127.0.0.1:", 0) != 0) return 0;
  return std::stoi(address.substr(address.find(':') + 1));
}

}  // namespace dec::testing
