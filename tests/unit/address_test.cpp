// Endpoint addresses as every host:port driver reads them.
#include "drivers/address.h"

#include <gtest/gtest.h>

namespace dec::drivers {
namespace {

TEST(ParseHostPort, HostPortIpv6AndTheDefaultPort) {
  auto plain = parse_host_port("198.18.0.10:6379", 1, "redis");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(plain->host, "198.18.0.10");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->label, "198.18.0.10:6379");

  auto no_port = parse_host_port("broker", 5672, "RabbitMQ");
  ASSERT_TRUE(no_port.ok()) << no_port.error();
  EXPECT_EQ(no_port->port, 5672);
  EXPECT_EQ(no_port->label, "broker:5672");

  auto v6 = parse_host_port("[::1]:1883", 1, "mqtt");
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 1883);
}

TEST(ParseHostPort, BadAddressesNameTheProduct) {
  for (const char* bad : {"host:0", "host:70000", "host:x", ":6379", "[::1", ""}) {
    auto parsed = parse_host_port(bad, 6379, "redis");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().rfind("bad redis address \"" + std::string(bad) + "\"", 0), 0u)
        << parsed.error();
  }
}

}  // namespace
}  // namespace dec::drivers
