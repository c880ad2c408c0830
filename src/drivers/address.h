// "host:port" / "[ipv6]:port" endpoint addresses, as providers write them, parsed once for every
// driver that connects by host and port.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace dec::drivers {

struct HostPort {
  std::string host;
  int port = 0;
  std::string label;  // "host:port" (the port filled in when the text had none), for messages
};

// `text` with an optional port (default `default_port`); errors name `product` ("bad redis address
// \"x:0\": expected host:port").
Result<HostPort> parse_host_port(const std::string& text, int default_port,
                                 std::string_view product);

}  // namespace dec::drivers
