#include "server/http_guard.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "core/secret.h"
#include "core/text.h"

namespace dec::server {
namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

Framing request_framing(const httplib::Headers& headers) {
  Framing framing;
  auto malformed = [&](std::string error) {
    framing.kind = Framing::Kind::kMalformed;
    framing.error = std::move(error);
    return framing;
  };
  std::optional<std::string> length_text;
  for (auto [it, end] = headers.equal_range("Content-Length"); it != end; ++it) {
    const std::string value = trimmed(it->second);
    // Digits only: strtoull would read "-5" as 2^64-5 and "abc" as 0.
    if (value.empty() || value.size() > 19 ||
        !std::all_of(value.begin(), value.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; })) {
      return malformed("Content-Length: expected a non-negative whole number of bytes, got \"" +
                       it->second + "\"");
    }
    if (length_text && std::stoull(*length_text) != std::stoull(value)) {
      return malformed("Content-Length: given twice with different values (" + *length_text +
                       " and " + value + "); send it once");
    }
    length_text = value;
  }
  const auto encodings = headers.equal_range("Transfer-Encoding");
  if (encodings.first != encodings.second) {
    if (length_text) {
      return malformed(
          "Content-Length and Transfer-Encoding together: the length of the body is ambiguous; "
          "send one of them");
    }
    if (std::distance(encodings.first, encodings.second) > 1 ||
        core::ascii_lower(trimmed(encodings.first->second)) != "chunked") {
      return malformed("Transfer-Encoding: only \"chunked\" is supported, got \"" +
                       encodings.first->second + "\"");
    }
    framing.kind = Framing::Kind::kChunked;
    return framing;
  }
  if (length_text) {
    framing.kind = Framing::Kind::kLength;
    framing.length = std::stoull(*length_text);
  }
  return framing;
}

bool secrets_equal(std::string_view presented, std::string_view expected) {
  return core::secrets_equal(presented, expected);
}

std::string presented_token(const httplib::Request& req) {
  std::string token = core::bearer_token(req.get_header_value("Authorization"));
  return token.empty() ? req.get_param_value("access_token") : token;
}

}  // namespace dec::server
