// `dec import omb`: any workload and driver file (YAML from another tool) gives a spec or an
// error naming the file and field, never a crash or an exception; an imported spec is YAML
// the spec parser reads without crashing. Input: the workload file, NUL, the driver file.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/omb_import.h"
#include "core/spec_parser.h"
#include "fuzz/fuzz.h"
#include "systems/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dec::core::DriverCatalog catalog = dec::systems::driver_catalog();
  static const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dec-fuzz-omb-" + std::to_string(::getpid()));
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  auto parts = dec::fuzz::split_parts(data, size, 2);
  const std::string workload = (dir / "workload.yaml").string();
  const std::string driver = (dir / "driver.yaml").string();
  std::ofstream(workload, std::ios::binary | std::ios::trunc) << parts[0];
  std::ofstream(driver, std::ios::binary | std::ios::trunc) << parts[1];
  auto imported = dec::cli::import_omb(workload, parts[1].empty() ? "" : driver);
  if (!imported.ok()) {
    FUZZ_CHECK(!imported.error().empty(), "an empty error");
    return 0;
  }
  (void)dec::core::parse_spec(imported->spec_yaml, {}, catalog);
  return 0;
}
