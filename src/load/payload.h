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
// By default the body after the header is pseudo-random and different in every message (a
// SplitMix64 stream seeded by the producer and sequence, about a nanosecond per 8 bytes): a system
// that compresses batches gets no more out of dec's messages than out of random data, where one
// filler repeated in every message would compress 64 to 1. PayloadContent makes it otherwise on
// request: a share of text (compressible), a pool of N bodies, or bodies from a file. The body is
// not checksummed; the header is always in front, so message_size stays exact.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

struct PayloadOptions {
  uint64_t pool = 0;                // > 0: message with sequence s carries body s mod pool
  double random_bytes_ratio = 1.0;  // share of each body that is random, the rest text
  std::string file;                 // bodies are this file's bytes, cycled or cut to size

  bool operator==(const PayloadOptions&) const = default;
};

// The bodies of one run, made once and shared (read-only) by every producer's encoder.
// Each body is `random` bytes of random data followed by text from a small vocabulary, which
// zlib shrinks about 5 to 1 (as it shrinks log lines or JSON).
class PayloadContent {
 public:
  // Fails when the file cannot be read or is empty.
  static Result<std::shared_ptr<const PayloadContent>> make(uint64_t message_size,
                                                            const PayloadOptions& options);

  uint64_t body_size() const { return body_size_; }
  // Bodies fixed in advance (a pool or a file); empty = random part made per message.
  const std::vector<std::string>& bodies() const { return bodies_; }
  uint64_t random_size() const { return random_size_; }  // per-message random prefix
  // Text the rest of each body is cut from, at an offset of its own per message: far longer
  // than a compressor's window (zlib: 32 KiB), so that consecutive messages do not simply
  // repeat each other's text.
  const std::string& text_ring() const { return text_ring_; }
  uint64_t text_ring_span() const { return text_ring_span_; }  // offsets are below this

 private:
  uint64_t body_size_ = 0;
  uint64_t random_size_ = 0;
  std::string text_ring_;
  uint64_t text_ring_span_ = 0;
  std::vector<std::string> bodies_;
};

// Builds messages into one reusable buffer: no allocation per message.
class PayloadEncoder {
 public:
  // `message_size` is the whole message, header included; at least kPayloadHeaderSize.
  // Bodies as dec always made them: random and distinct.
  explicit PayloadEncoder(uint64_t message_size);
  // Bodies from `content`, made for the same message size.
  explicit PayloadEncoder(std::shared_ptr<const PayloadContent> content);
  // The encoded message; valid until the next encode() on this encoder.
  std::string_view encode(const PayloadHeader& header);

 private:
  std::string buffer_;
  std::shared_ptr<const PayloadContent> content_;
};

// How well zlib (level 6) compresses the messages `content` makes: raw size / compressed size of
// the first messages of one producer, concatenated (about 1 MiB, at least 16 messages). 1.0 =
// incompressible. Computed once per run, before the load starts.
double measure_compression_ratio(const std::shared_ptr<const PayloadContent>& content);

// Fails (with the reason) on a short payload, a wrong magic or a checksum mismatch.
Result<PayloadHeader> decode_payload(std::string_view payload);

}  // namespace dec::load
