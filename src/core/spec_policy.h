// What a spec may reach beyond the infrastructure dec creates for it: the environment variables
// `${NAME}` may read (secrets) and the addresses its clients may connect to. A spec from dec's
// own user (the CLI) is trusted with both; a spec posted to `dec serve` gets only what the
// operator allowed (`--secret NAME`, `--allow-endpoint HOST[:PORT]|CIDR`), so the service can
// neither hand out the server's secrets nor be aimed at arbitrary hosts. Passed in (through
// infra::ProviderContext) to the preflight checks and to the provider that resolves secrets.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace dec::core {

// One `--allow-endpoint` entry: a host name or IP address with an optional port, or an IPv4 or
// IPv6 network in CIDR notation (any port). Host names match as written (case-insensitive);
// they are not resolved, so a CIDR entry admits only addresses written as IP literals.
struct EndpointRule {
  std::string host;              // lower case, no brackets; "" for a network
  std::optional<int> port;       // unset = any port
  std::vector<uint8_t> network;  // network address bytes (4 or 16); empty for a host
  int prefix_bits = 0;
  std::string text;  // as the operator wrote it, for messages

  bool matches(const std::string& host, int port) const;
};

// "HOST", "HOST:PORT", "[IPV6]:PORT", "A.B.C.D/N" or "IPV6/N"; the error says what is wrong.
Result<EndpointRule> parse_endpoint_rule(const std::string& text);

using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

struct SpecPolicy {
  // True for the CLI's own user: every variable, every address. False for specs from the API.
  bool trusted = true;
  std::set<std::string> secrets;        // untrusted: the names `${NAME}` may read
  std::vector<EndpointRule> endpoints;  // untrusted: where clients may connect
  // Where `${NAME}` is read from; empty = the process environment.
  EnvironmentLookup environment;

  // A policy for specs from the API: nothing allowed until the operator allows it.
  static SpecPolicy untrusted() {
    SpecPolicy policy;
    policy.trusted = false;
    return policy;
  }
  bool endpoint_allowed(const std::string& host, int port) const;
};

// `value` with every `${NAME}` replaced by the variable's value, as `policy` allows. `field`
// prefixes errors ("deploy.settings.sasl.password: ..."). For an untrusted spec a name the
// operator did not allow gives the same error whether or not the variable exists.
Result<std::string> expand_secrets(const std::string& value, const std::string& field,
                                   const SpecPolicy& policy);

// The names `value` refers to with `${NAME}`; an unterminated `${` is an error naming `field`.
Result<std::vector<std::string>> secret_references(const std::string& value,
                                                   const std::string& field);

}  // namespace dec::core
