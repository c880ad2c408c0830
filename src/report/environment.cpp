#include "report/environment.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/version.h"

namespace dec::report {
namespace {

// The value after "key:" on the first line of a /proc file that starts with `key`.
std::string proc_field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

}  // namespace

Environment collect_environment() {
  Environment env;
  env.dec_version = core::kDecVersion;
  struct utsname names {};
  if (uname(&names) == 0) {
    env.kernel = names.release;
    env.os = std::string(names.sysname) + " " + names.machine;
    env.hostname = names.nodename;
  }
  env.cpu_model = proc_field("/proc/cpuinfo", "model name");
  if (env.cpu_model.empty()) env.cpu_model = proc_field("/proc/cpuinfo", "Model");  // arm64
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  env.cpu_cores = online > 0 ? static_cast<unsigned>(online) : std::thread::hardware_concurrency();
  // "MemTotal:       16318412 kB"
  std::istringstream mem(proc_field("/proc/meminfo", "MemTotal"));
  uint64_t kib = 0;
  if (mem >> kib) env.memory_bytes = kib * 1024;
  return env;
}

}  // namespace dec::report
