#include "core/spec_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/text.h"

namespace dec::core {
namespace {

// The address bytes of an IPv4 or IPv6 literal; empty when `text` is neither.
std::vector<uint8_t> ip_bytes(const std::string& text) {
  unsigned char buffer[16];
  if (::inet_pton(AF_INET, text.c_str(), buffer) == 1) return {buffer, buffer + 4};
  if (::inet_pton(AF_INET6, text.c_str(), buffer) == 1) return {buffer, buffer + 16};
  return {};
}

std::optional<int> parse_port(const std::string& text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  int port = std::atoi(text.c_str());
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

bool valid_host_name(const std::string& host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

std::string without_brackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

bool EndpointRule::matches(const std::string& candidate_host, int candidate_port) const {
  if (port && *port != candidate_port) return false;
  const std::string name = core::ascii_lower(without_brackets(candidate_host));
  if (network.empty()) {
    if (name == host) return true;
    // The same address written another way ("::1" and "0:0::1").
    const auto rule_bytes = ip_bytes(host);
    return !rule_bytes.empty() && rule_bytes == ip_bytes(name);
  }
  const auto bytes = ip_bytes(name);
  if (bytes.size() != network.size()) return false;
  for (int bit = 0; bit < prefix_bits; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((bytes[static_cast<size_t>(bit / 8)] & mask) !=
        (network[static_cast<size_t>(bit / 8)] & mask)) {
      return false;
    }
  }
  return true;
}

Result<EndpointRule> parse_endpoint_rule(const std::string& text) {
  const std::string expected =
      "expected HOST, HOST:PORT, [IPV6]:PORT or a network such as 10.0.0.0/8, got \"" + text + "\"";
  EndpointRule rule;
  rule.text = text;
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    rule.network = ip_bytes(text.substr(0, slash));
    const std::string bits = text.substr(slash + 1);
    const int max_bits = static_cast<int>(rule.network.size() * 8);
    if (rule.network.empty() || bits.empty() || bits.size() > 3 ||
        !std::all_of(bits.begin(), bits.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        std::atoi(bits.c_str()) > max_bits) {
      return make_error(expected);
    }
    rule.prefix_bits = std::atoi(bits.c_str());
    return rule;
  }
  std::string host = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return make_error(expected);
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return make_error(expected);
      rule.port = parse_port(text.substr(close + 2));
      if (!rule.port) return make_error(expected);
    }
    if (ip_bytes(host).size() != 16) return make_error(expected);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    rule.port = parse_port(text.substr(colon + 1));
    if (!rule.port) return make_error(expected);
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    if (ip_bytes(text).size() != 16) return make_error(expected);  // a bare IPv6 address
  }
  if (!valid_host_name(host) && ip_bytes(host).empty()) return make_error(expected);
  rule.host = core::ascii_lower(host);
  return rule;
}

bool SpecPolicy::endpoint_allowed(const std::string& host, int port) const {
  if (trusted) return true;
  return std::any_of(endpoints.begin(), endpoints.end(),
                     [&](const EndpointRule& rule) { return rule.matches(host, port); });
}

Result<std::vector<std::string>> secret_references(const std::string& value,
                                                   const std::string& field) {
  std::vector<std::string> names;
  for (size_t pos = value.find("${"); pos != std::string::npos; pos = value.find("${", pos)) {
    const size_t end = value.find('}', pos);
    if (end == std::string::npos) {
      return make_error(field + ": unterminated ${ in \"" + value + "\"");
    }
    names.push_back(value.substr(pos + 2, end - pos - 2));
    pos = end + 1;
  }
  return names;
}

Result<std::string> expand_secrets(const std::string& value, const std::string& field,
                                   const SpecPolicy& policy) {
  auto names = secret_references(value, field);
  if (!names) return make_error(names.error());
  std::string out;
  size_t pos = 0;
  for (const std::string& name : *names) {
    const size_t start = value.find("${", pos);
    out += value.substr(pos, start - pos);
    pos = start + name.size() + 3;
    // Checked before the environment is read: a refusal says nothing about what is set there.
    if (!policy.trusted && !policy.secrets.count(name)) {
      return make_error(field + ": ${" + name +
                        "} is not a secret this server lets specs read (its operator allows "
                        "one with dec serve --secret " +
                        (name.empty() ? std::string("NAME") : name) + ")");
    }
    std::optional<std::string> found;
    if (policy.environment) {
      found = policy.environment(name);
    } else if (const char* env = std::getenv(name.c_str())) {
      found = env;
    }
    if (!found) {
      if (!policy.trusted) {
        return make_error(field + ": secret " + name +
                          " is allowed (dec serve --secret) but not set in the server's "
                          "environment");
      }
      return make_error(field + ": environment variable " + name +
                        " is not set (export it before running dec)");
    }
    out += *found;
  }
  out += value.substr(pos);
  return out;
}

}  // namespace dec::core
