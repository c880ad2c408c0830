// FNV-1a, 64 bits: stable across processes, builds and machines (std::hash is not), so dec
// workers agree on a key's partition and names derived from ids are the same on every start.
#pragma once

#include <cstdint>
#include <string_view>

namespace dec::core {

// The standard FNV-1a 64-bit offset basis.
inline constexpr uint64_t kFnv1aBasis = 14695981039346656037ULL;
// A basis one digit short of the standard one that dec's names (installation ids, network
// namespaces, links, Kafka cluster ids) were first derived with; kept so state and resources
// recorded by earlier versions are still found under the same names.
inline constexpr uint64_t kFnv1aNamesBasis = 1469598103934665603ULL;

inline uint64_t fnv1a(std::string_view text, uint64_t basis = kFnv1aBasis) {
  uint64_t hash = basis;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace dec::core
