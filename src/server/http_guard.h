// What dec serve checks on every request before a handler sees it: HTTP message framing
// (RFC 9112 §6), the bearer token, and UTF-8 of a body. Pure functions, so each rule is tested on
// its own; server.cpp applies them in its pre-routing handler.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dec::server {

// How a request's body is delimited, or why it cannot be.
struct Framing {
  enum class Kind { kNone, kLength, kChunked, kMalformed };
  Kind kind = Kind::kNone;
  size_t length = 0;  // kLength
  std::string error;  // kMalformed: names the header and the fix
};

// Reads Content-Length and Transfer-Encoding. Malformed: a Content-Length that is not one
// non-negative decimal number (also repeated with different values), a Transfer-Encoding other
// than "chunked", or both headers at once. Neither header = no body (RFC 9112 §6.3).
Framing request_framing(const httplib::Headers& headers);

// UTF-8 of a body: core::first_invalid_utf8 (core/utf8.h).

// Compares a presented secret with the expected one in time that depends only on their lengths,
// not on where they first differ.
bool secrets_equal(std::string_view presented, std::string_view expected);

// The token a request presents: "Authorization: Bearer <token>", else ?access_token=<token>
// (RFC 6750 §2.3, for EventSource and links, which cannot set headers); "" if none.
std::string presented_token(const httplib::Request& req);

}  // namespace dec::server
