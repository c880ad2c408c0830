#include <cctype>

#include "systems/system.h"

namespace dec::systems {

bool server_key_matches(const std::string& pattern, const std::string& key) {
  // Iterative glob with backtracking to the last `*`.
  size_t p = 0, k = 0, star = std::string::npos, resume = 0;
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  };
  while (k < key.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = k;
    } else if (p < pattern.size() && same(pattern[p], key[k])) {
      ++p;
      ++k;
    } else if (star != std::string::npos) {
      p = star + 1;
      k = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const ForbiddenServerKey* find_forbidden_server_key(
    const std::vector<ForbiddenServerKey>& forbidden, const std::string& key) {
  for (const ForbiddenServerKey& entry : forbidden) {
    if (server_key_matches(entry.pattern, key)) return &entry;
  }
  return nullptr;
}

std::string forbidden_server_key_message(HostReach reach) {
  switch (reach) {
    case HostReach::kPath:
      return "names a host path; dec keeps each broker's files in its run directory — remove it";
    case HostReach::kCode:
      return "loads code or runs a program on the host; dec runs only the broker it deploys — "
             "remove it";
    case HostReach::kNetwork:
      return "makes the broker connect to other hosts; a broker dec deploys talks only to dec "
             "and its own nodes — remove it";
  }
  return "";
}

}  // namespace dec::systems
