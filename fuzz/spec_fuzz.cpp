// The spec parser (YAML and JSON, with --set overrides, units inside): never crashes or throws,
// and a spec it accepts survives its own canonical form: spec_to_json parses back, valid, to
// the same canonical text. Input: the spec text, then NUL-separated overrides.
#include "core/spec_parser.h"
#include "fuzz/fuzz.h"
#include "systems/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dec::core::DriverCatalog catalog = dec::systems::driver_catalog();
  auto parts = dec::fuzz::split_parts(data, size, 4);
  std::vector<std::string> overrides;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!parts[i].empty()) overrides.push_back(parts[i]);
  }
  const dec::core::ParseResult parsed = dec::core::parse_spec(parts[0], overrides, catalog);
  for (const auto& error : parsed.errors) FUZZ_CHECK(!error.message.empty(), error.path);
  if (!parsed.ok()) return 0;
  const std::string canonical = dec::core::spec_to_json(parsed.spec);
  const dec::core::ParseResult again = dec::core::parse_spec(canonical, {}, catalog);
  FUZZ_CHECK(
      again.ok(),
      canonical + " -> " +
          (again.errors.empty() ? "" : again.errors[0].path + ": " + again.errors[0].message));
  FUZZ_CHECK(dec::core::spec_to_json(again.spec) == canonical, canonical);
  return 0;
}
