#include "drivers/address.h"

#include "drivers/config_checks.h"

namespace dec::drivers {

Result<HostPort> parse_host_port(const std::string& text, int default_port,
                                 std::string_view product) {
  const std::string bad = "bad " + std::string(product) + " address \"" + text + "\"";
  HostPort address;
  address.port = default_port;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {  // [ipv6]:port
    size_t close = text.find(']');
    if (close == std::string::npos) return make_error(bad);
    address.host = text.substr(1, close - 1);
    if (close + 1 < text.size() && text[close + 1] == ':') port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    address.host = text.substr(0, colon);
    if (colon != std::string::npos) port_text = text.substr(colon + 1);
  }
  if (!port_text.empty()) {
    auto port = parse_integer(port_text);
    if (!port || *port < 1 || *port > 65535) return make_error(bad + ": expected host:port");
    address.port = static_cast<int>(*port);
  }
  if (address.host.empty()) return make_error(bad);
  address.label = text;
  if (port_text.empty()) address.label += ":" + std::to_string(address.port);
  return address;
}

}  // namespace dec::drivers
