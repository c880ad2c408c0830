// A run's state file (the record reconcile and destroy trust): parsing never crashes or throws
// whatever a crash or a hand edit left in it, and a state it accepts writes back to text that
// reads as the same state.
#include "fuzz/fuzz.h"
#include "infra/resource.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto state = dec::infra::run_state_from_json(text);
  if (!state.ok()) return 0;
  const std::string once = dec::infra::run_state_to_json(*state);
  auto again = dec::infra::run_state_from_json(once);
  FUZZ_CHECK(again.ok(), once + " -> " + again.error());
  FUZZ_CHECK(dec::infra::run_state_to_json(*again) == once, once);
  return 0;
}
