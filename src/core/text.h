// Small text helpers shared by every module.
#pragma once

#include <string>
#include <string_view>

namespace dec::core {

// ASCII letters lowered; every other byte (UTF-8 included) unchanged, whatever the locale.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace dec::core
