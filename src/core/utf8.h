// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). A spec,
// a request body or a stored document is text; a byte that breaks UTF-8 is the sender's error,
// reported with where it is, never left for a JSON encoder to throw on later.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dec::core {

// The offset of the first byte that is not part of valid UTF-8; nullopt when all of it is.
std::optional<size_t> first_invalid_utf8(std::string_view text);

// "line 3, column 7 (byte 0xff)": where offset `at` of `text` is, for error messages.
std::string describe_text_position(std::string_view text, size_t at);

}  // namespace dec::core
