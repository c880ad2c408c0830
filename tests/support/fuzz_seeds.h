// Fuzz seeds made by the tests (fuzz/corpus/<target>/): the documents a test builds with the real
// encoders are the fuzzer's starting points, and the test fails when they go stale (an encoder
// changed), so the fuzzer never mutates inputs the code no longer writes.
// DEC_WRITE_FUZZ_SEEDS=1 rewrites them instead.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace dec::testing {

inline void check_fuzz_seeds(const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& seeds) {
  const std::filesystem::path dir =
      std::filesystem::path(DEC_SOURCE_DIR) / "fuzz" / "corpus" / target;
  const bool write = std::getenv("DEC_WRITE_FUZZ_SEEDS") != nullptr;
  for (const auto& [name, content] : seeds) {
    const auto path = dir / name;
    if (write) {
      std::filesystem::create_directories(dir);
      std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    const std::string stored((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(stored, content) << path << " is stale: rerun this test with DEC_WRITE_FUZZ_SEEDS=1";
  }
}

}  // namespace dec::testing
