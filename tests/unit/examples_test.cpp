// Every shipped example must stay valid: users copy them first.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/spec_parser.h"
#include "drivers/driver.h"
#include "systems/registry.h"

namespace dec {
namespace {

TEST(Examples, EveryExampleSpecIsValid) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DEC_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    auto parsed = core::parse_spec_file(entry.path().string(), {}, systems::driver_catalog());
    for (const auto& error : parsed.errors) ADD_FAILURE() << error.to_string();
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace dec
