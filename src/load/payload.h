// The bytes dec sends: a 32-byte header that lets consumers verify delivery and measure latency,
// followed by filler up to the configured message size.
//
// Header layout (little-endian):
//   offset  0  u32  magic "DEC1"
//   offset  4  u32  producer id
//   offset  8  u64  sequence number, per producer, from 0
//   offset 16  i64  intended send time, ns of std::chrono::steady_clock since its epoch
//   offset 24  u32  key index (kNoKey when the message has no key)
//   offset 28  u32  checksum of bytes 0..27
// The filler is pseudo-random and different in every message (a SplitMix64 stream seeded by the
// producer and sequence, about a nanosecond per 8 bytes): a system that compresses batches gets no
// more out of dec's messages than out of random data, where one filler repeated in every message
// would compress 64 to 1. It is not checksummed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace dec::load {

inline constexpr size_t kPayloadHeaderSize = 32;
inline constexpr uint32_t kNoKey = UINT32_MAX;

struct PayloadHeader {
  uint32_t producer_id = 0;
  uint32_t key_index = kNoKey;
  uint64_t sequence = 0;
  int64_t intended_ns = 0;  // steady_clock time since epoch
};

inline int64_t to_steady_ns(std::chrono::steady_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

// Builds messages into one reusable buffer: no allocation per message.
class PayloadEncoder {
 public:
  // `message_size` is the whole message, header included; at least kPayloadHeaderSize.
  explicit PayloadEncoder(uint64_t message_size);
  // The encoded message; valid until the next encode() on this encoder.
  std::string_view encode(const PayloadHeader& header);

 private:
  std::string buffer_;
};

// Fails (with the reason) on a short payload, a wrong magic or a checksum mismatch.
Result<PayloadHeader> decode_payload(std::string_view payload);

}  // namespace dec::load
