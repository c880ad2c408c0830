// The request checks of dec serve: framing (RFC 9112 §6), UTF-8 of a body, token comparison.
#include "server/http_guard.h"

#include <gtest/gtest.h>

#include "server/server.h"

namespace dec::server {
namespace {

Framing framing_of(std::initializer_list<std::pair<const char*, const char*>> headers) {
  httplib::Headers map;
  for (const auto& [key, value] : headers) map.emplace(key, value);
  return request_framing(map);
}

TEST(RequestFraming, NoLengthAndNoEncodingIsAnEmptyBody) {
  EXPECT_EQ(framing_of({}).kind, Framing::Kind::kNone);
  EXPECT_EQ(framing_of({{"Host", "x"}}).kind, Framing::Kind::kNone);
}

TEST(RequestFraming, ReadsOneLengthOrRepeatedEqualOnes) {
  Framing one = framing_of({{"Content-Length", "42"}});
  EXPECT_EQ(one.kind, Framing::Kind::kLength);
  EXPECT_EQ(one.length, 42u);
  Framing twice = framing_of({{"Content-Length", "7"}, {"content-length", "7"}});
  EXPECT_EQ(twice.kind, Framing::Kind::kLength);
  EXPECT_EQ(twice.length, 7u);
  EXPECT_EQ(framing_of({{"Content-Length", "0"}}).length, 0u);
  EXPECT_EQ(framing_of({{"Transfer-Encoding", "Chunked"}}).kind, Framing::Kind::kChunked);
}

TEST(RequestFraming, RefusesWhatCannotDelimitABody) {
  for (const char* bad : {"-5", "abc", "", "5x", "+5", "1.5", "99999999999999999999"}) {
    Framing framing = framing_of({{"Content-Length", bad}});
    EXPECT_EQ(framing.kind, Framing::Kind::kMalformed) << bad;
    EXPECT_NE(framing.error.find("Content-Length"), std::string::npos) << framing.error;
  }
  Framing differing = framing_of({{"Content-Length", "2"}, {"Content-Length", "5"}});
  EXPECT_EQ(differing.kind, Framing::Kind::kMalformed);
  EXPECT_NE(differing.error.find("different values (2 and 5)"), std::string::npos)
      << differing.error;
  EXPECT_EQ(framing_of({{"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}}).kind,
            Framing::Kind::kMalformed);
  Framing gzip = framing_of({{"Transfer-Encoding", "gzip, chunked"}});
  EXPECT_EQ(gzip.kind, Framing::Kind::kMalformed);
  EXPECT_NE(gzip.error.find("gzip, chunked"), std::string::npos) << gzip.error;
}

TEST(Secrets, EqualOnlyWhenEveryByteAndTheLengthMatch) {
  EXPECT_TRUE(secrets_equal("s3cret", "s3cret"));
  EXPECT_FALSE(secrets_equal("s3creT", "s3cret"));
  EXPECT_FALSE(secrets_equal("s3cre", "s3cret"));
  EXPECT_FALSE(secrets_equal("s3cret!", "s3cret"));
  EXPECT_FALSE(secrets_equal("", "s3cret"));
  EXPECT_FALSE(secrets_equal(std::string("s3cret\0", 7), "s3cret"));
}

TEST(Secrets, TokenFromHeaderOrQuery) {
  httplib::Request req;
  EXPECT_EQ(presented_token(req), "");
  req.params.emplace("access_token", "from-query");
  EXPECT_EQ(presented_token(req), "from-query");
  req.headers.emplace("Authorization", "Bearer from-header");
  EXPECT_EQ(presented_token(req), "from-header");
}

TEST(Listen, LoopbackAddressesOnly) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "[::]", "10.0.0.5", "192.168.1.2", "example.org",
                           "128.0.0.1", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

}  // namespace
}  // namespace dec::server
