// Shared secrets (bearer tokens): comparing one in constant time, reading one from an
// Authorization header, and making a new one. Used by `dec serve` and `dec worker` alike.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace dec::core {

// Compares a presented secret with the expected one in time that depends only on their lengths,
// not on where they first differ.
bool secrets_equal(std::string_view presented, std::string_view expected);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive,
// surrounding blanks trimmed); "" when the value is not a bearer credential.
std::string bearer_token(std::string_view authorization);

// A new random token: 32 bytes from the operating system's random source, as 64 hex digits.
Result<std::string> new_secret_token();

}  // namespace dec::core
