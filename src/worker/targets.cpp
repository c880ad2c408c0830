// Which addresses an agent may drive load at (`dec worker --allow-target`).
#include <arpa/inet.h>

#include <charconv>
#include <optional>

#include "worker/worker.h"

namespace dec::worker {
namespace {

struct Target {
  std::string host;
  int port = 0;  // 0 = any port
};

// "host:port", "[v6]:port", "host" or "v6" (several colons, no brackets).
Target split(const std::string& text) {
  Target out;
  std::string rest = text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return {text, 0};
    out.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') {
      std::from_chars(rest.data() + close + 2, rest.data() + rest.size(), out.port);
    }
    return out;
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find(':') != colon) return {text, 0};
  out.host = rest.substr(0, colon);
  std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), out.port);
  return out;
}

std::optional<uint32_t> ipv4(const std::string& host) {
  in_addr address{};
  if (inet_pton(AF_INET, host.c_str(), &address) != 1) return std::nullopt;
  return ntohl(address.s_addr);
}

// An IPv4 CIDR block "a.b.c.d/n": (network, prefix length).
std::optional<std::pair<uint32_t, int>> cidr(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  const auto network = ipv4(text.substr(0, slash));
  int bits = -1;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data() + slash + 1, end, bits);
  if (!network || ec != std::errc() || ptr != end || bits < 0 || bits > 32) return std::nullopt;
  return std::make_pair(*network, bits);
}

}  // namespace

Status check_allowed_target(const std::string& target) {
  const auto bad = [&] {
    return make_error("\"" + target +
                      "\": expected HOST, HOST:PORT or an IPv4 block such as 198.18.0.0/24");
  };
  if (target.empty()) return bad();
  if (target.find('/') != std::string::npos) return cidr(target) ? Status::Ok() : bad();
  const Target parsed = split(target);
  if (parsed.host.empty()) return bad();
  if (target.find(':') != std::string::npos && split(target).port == 0 && target.front() != '[' &&
      target.find(':') == target.rfind(':')) {
    return bad();  // "host:" or "host:x"
  }
  return Status::Ok();
}

bool target_allowed(const std::string& address, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  const Target wanted = split(address);
  const auto wanted_v4 = ipv4(wanted.host);
  for (const auto& entry : allowed) {
    if (const auto block = cidr(entry)) {
      if (!wanted_v4) continue;
      const uint32_t mask = block->second == 0 ? 0 : ~uint32_t{0} << (32 - block->second);
      if ((*wanted_v4 & mask) == (block->first & mask)) return true;
      continue;
    }
    const Target permitted = split(entry);
    if (permitted.host != wanted.host) continue;
    if (permitted.port == 0 || permitted.port == wanted.port) return true;
  }
  return false;
}

}  // namespace dec::worker
