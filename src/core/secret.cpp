#include "core/secret.h"

#include <cctype>
#include <cstdio>
#include <random>

namespace dec::core {

bool secrets_equal(std::string_view presented, std::string_view expected) {
  // Every byte of the expected secret is looked at whatever the presented one holds, and the
  // differences are OR-ed, so neither a first mismatch nor a short guess returns early.
  unsigned char difference = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char theirs =
        i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    difference |= static_cast<unsigned char>(theirs ^ static_cast<unsigned char>(expected[i]));
  }
  return difference == 0;
}

std::string bearer_token(std::string_view authorization) {
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size()) return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kBearer[i]) return "";
  }
  std::string_view token = authorization.substr(kBearer.size());
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!token.empty() && blank(token.front())) token.remove_prefix(1);
  while (!token.empty() && blank(token.back())) token.remove_suffix(1);
  return std::string(token);
}

Result<std::string> new_secret_token() {
  try {
    // libstdc++'s random_device reads the kernel's getrandom()/urandom: not a seeded PRNG.
    std::random_device device("/dev/urandom");
    std::string token;
    token.reserve(64);
    for (int i = 0; i < 8; ++i) {
      char word[9];
      std::snprintf(word, sizeof word, "%08x", static_cast<unsigned>(device()));
      token += word;
    }
    return token;
  } catch (const std::exception& e) {
    return make_error(std::string("cannot read the system's random source: ") + e.what());
  }
}

}  // namespace dec::core
