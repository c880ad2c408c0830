// What every fuzz target shares. A target defines LLVMFuzzerTestOneInput (libFuzzer's entry
// point); it is built either with clang's libFuzzer under ASan+UBSan (scripts/fuzz) or with
// replay_main.cpp, which runs the seed corpus and a fixed number of mutations of it, so
// scripts/test catches regressions without clang (fuzz/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A property every input must keep; a violation aborts, which libFuzzer and the replay driver
// both report with the input that caused it.
#define FUZZ_CHECK(condition, detail)                                                   \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "fuzz: check failed at %s:%d: %s: %s\n", __FILE__, __LINE__, \
                   #condition, std::string(detail).c_str());                            \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace dec::fuzz {

// The input as text parts separated by NUL bytes, so one input can carry several fields (a
// spec and its --set overrides, a request's method, path and body...). Missing parts are "".
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::string> out(parts);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (size_t i = 0; i < parts; ++i) {
    const size_t end = i + 1 == parts ? std::string_view::npos : text.find('\0');
    out[i] = std::string(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace dec::fuzz
