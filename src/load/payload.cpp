#include "load/payload.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

namespace dec::load {
namespace {

constexpr uint32_t kMagic = 0x31434544;  // "DEC1" when stored little-endian

// Explicit byte order so that workers on any architecture understand each other.
void store32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
void store64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
uint32_t load32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}
uint64_t load64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

// Multiply/xor-shift mixing: every step is a bijection, so a change to any one field always
// changes the 64-bit state; only the final fold to 32 bits can collide (odds 2^-32).
uint32_t header_checksum(uint32_t magic, const PayloadHeader& header) {
  constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ULL;
  constexpr uint64_t kMul2 = 0xBF58476D1CE4E5B9ULL;
  constexpr uint64_t kMul3 = 0x94D049BB133111EBULL;
  uint64_t h = (uint64_t{magic} | uint64_t{header.producer_id} << 32) * kMul1;
  h ^= header.sequence;
  h *= kMul2;
  h ^= h >> 29;
  h ^= static_cast<uint64_t>(header.intended_ns);
  h *= kMul3;
  h ^= h >> 32;
  h ^= header.key_index;
  h *= kMul1;
  h ^= h >> 29;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

}  // namespace

namespace {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective mix that passes BigCrush.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// 32 KiB of random words, made once: a message's filler is a run of them, each XORed with a key
// sequence of its own, which costs a load, an add and a xor per 8 bytes (a quarter of computing
// SplitMix64 for every word: 1 KiB messages spent ~0.2 us of client CPU on it).
constexpr size_t kPoolWords = 4096;  // a power of two
const std::array<uint64_t, kPoolWords>& filler_pool() {
  static const std::array<uint64_t, kPoolWords> pool = [] {
    std::array<uint64_t, kPoolWords> words{};
    uint64_t state = 0x64656366696c6cULL;  // fixed: the same bytes in every run
    for (auto& word : words) word = mix64(state += 0x9E3779B97F4A7C15ULL);
    return words;
  }();
  return pool;
}

// Seeded by (producer, sequence): reproducible, and no two messages share a byte pattern a
// compressor could use — the same pool run under two keys differs in every word.
void fill_random(char* out, size_t size, uint64_t seed) {
  const auto& pool = filler_pool();
  uint64_t key = mix64(seed);
  const uint64_t step = mix64(key) | 1;
  size_t at = key % kPoolWords;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const uint64_t word = pool[at++ & (kPoolWords - 1)] ^ key;
    key += step;
    std::memcpy(out + i, &word, 8);
  }
  if (i < size) {
    const uint64_t word = pool[at & (kPoolWords - 1)] ^ key;
    std::memcpy(out + i, &word, size - i);
  }
}

// Words of ordinary log and JSON text: a compressor finds them again and again, as in real
// messages, but their order varies so that it cannot just repeat one run.
constexpr std::array<std::string_view, 32> kWords = {
    "the ",      "order ",   "status\":",  "\"id\":",   "user ",    "event ", "value=",
    "request ",  "ok ",      "timestamp ", "service ",  "payment ", "INFO ",  "account ",
    "received ", "id=",      "region ",    "\"name\":", "total ",   "item ",  "price=",
    "session ",  "warning ", "customer ",  "level ",    "and ",     "from ",  "message ",
    "to ",       "count=",   "sent ",      "done "};

// Text of `size` bytes from kWords, picked by a PRNG seeded with `seed`.
std::string make_text(uint64_t size, uint64_t seed) {
  std::string text;
  text.reserve(size + 16);
  uint64_t state = seed;
  while (text.size() < size) text += kWords[mix64(state += 0x9E3779B97F4A7C15ULL) % kWords.size()];
  text.resize(size);
  return text;
}

constexpr uint64_t kTextRingSize = uint64_t{1} << 20;

uint64_t random_share(uint64_t body_size, double ratio) {
  return static_cast<uint64_t>(std::llround(static_cast<double>(body_size) * ratio));
}

}  // namespace

Result<std::shared_ptr<const PayloadContent>> PayloadContent::make(uint64_t message_size,
                                                                   const PayloadOptions& options) {
  auto content = std::make_shared<PayloadContent>();
  content->body_size_ = message_size - std::min<uint64_t>(message_size, kPayloadHeaderSize);
  const uint64_t body_size = content->body_size_;
  if (!options.file.empty()) {
    std::ifstream in(options.file, std::ios::binary);
    if (!in) return make_error("payload file \"" + options.file + "\" cannot be read");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error("payload file \"" + options.file + "\" cannot be read");
    if (bytes.empty()) return make_error("payload file \"" + options.file + "\" is empty");
    std::string body;
    body.reserve(body_size);
    while (body.size() < body_size) body.append(bytes, 0, body_size - body.size());
    content->bodies_.push_back(std::move(body));
    return std::shared_ptr<const PayloadContent>(std::move(content));
  }
  const double ratio = std::clamp(options.random_bytes_ratio, 0.0, 1.0);
  const uint64_t random_size = random_share(body_size, ratio);
  if (options.pool == 0) {
    content->random_size_ = random_size;
    if (random_size < body_size) {
      content->text_ring_span_ = kTextRingSize;
      content->text_ring_ = make_text(kTextRingSize + (body_size - random_size), 0x74657874ULL);
    }
    return std::shared_ptr<const PayloadContent>(std::move(content));
  }
  content->bodies_.reserve(options.pool);
  for (uint64_t i = 0; i < options.pool; ++i) {
    std::string body(body_size, '\0');
    // Seeds no per-message body uses (those start from a producer id shifted by 44 bits).
    fill_random(body.data(), random_size, ~i);
    const std::string text = make_text(body_size - random_size, mix64(i + 1));
    std::memcpy(body.data() + random_size, text.data(), text.size());
    content->bodies_.push_back(std::move(body));
  }
  return std::shared_ptr<const PayloadContent>(std::move(content));
}

PayloadEncoder::PayloadEncoder(uint64_t message_size)
    : buffer_(std::max<uint64_t>(message_size, kPayloadHeaderSize), '\0') {}

PayloadEncoder::PayloadEncoder(std::shared_ptr<const PayloadContent> content)
    : buffer_(content->body_size() + kPayloadHeaderSize, '\0'), content_(std::move(content)) {
  // A single fixed body is written once, not per message.
  if (content_->bodies().size() == 1) {
    std::memcpy(buffer_.data() + kPayloadHeaderSize, content_->bodies()[0].data(),
                content_->body_size());
  }
}

double measure_compression_ratio(const std::shared_ptr<const PayloadContent>& content) {
  PayloadEncoder encoder(content);
  const uint64_t message_size = content->body_size() + kPayloadHeaderSize;
  const uint64_t messages = std::max<uint64_t>(16, (uint64_t{1} << 20) / message_size);
  std::string sample;
  sample.reserve(messages * message_size);
  PayloadHeader header;
  for (uint64_t i = 0; i < messages; ++i) {
    header.sequence = i;
    header.intended_ns = static_cast<int64_t>(i) * 1000;
    sample += encoder.encode(header);
  }
  uLongf compressed_size = compressBound(static_cast<uLong>(sample.size()));
  std::string compressed(compressed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size,
                reinterpret_cast<const Bytef*>(sample.data()), static_cast<uLong>(sample.size()),
                6) != Z_OK ||
      compressed_size == 0) {
    return 0;
  }
  return static_cast<double>(sample.size()) / static_cast<double>(compressed_size);
}

std::string_view PayloadEncoder::encode(const PayloadHeader& header) {
  char* out = buffer_.data();
  store32(out, kMagic);
  store32(out + 4, header.producer_id);
  store64(out + 8, header.sequence);
  store64(out + 16, static_cast<uint64_t>(header.intended_ns));
  store32(out + 24, header.key_index);
  store32(out + 28, header_checksum(kMagic, header));
  const uint64_t seed =
      (uint64_t{header.producer_id} << 44) ^ header.sequence ^ 0x64656366696c6cULL;
  if (!content_) {
    fill_random(out + kPayloadHeaderSize, buffer_.size() - kPayloadHeaderSize, seed);
  } else if (content_->bodies().empty()) {
    const uint64_t random_size = content_->random_size();
    fill_random(out + kPayloadHeaderSize, random_size, seed);
    if (content_->text_ring_span() > 0) {
      const uint64_t offset = mix64(~seed) % content_->text_ring_span();
      std::memcpy(out + kPayloadHeaderSize + random_size, content_->text_ring().data() + offset,
                  content_->body_size() - random_size);
    }
  } else if (content_->bodies().size() > 1) {
    const std::string& body = content_->bodies()[header.sequence % content_->bodies().size()];
    std::memcpy(out + kPayloadHeaderSize, body.data(), body.size());
  }
  return buffer_;
}

Result<PayloadHeader> decode_payload(std::string_view payload) {
  if (payload.size() < kPayloadHeaderSize) {
    return make_error("payload of " + std::to_string(payload.size()) +
                      " bytes is shorter than dec's " + std::to_string(kPayloadHeaderSize) +
                      "-byte header");
  }
  const char* in = payload.data();
  const uint32_t magic = load32(in);
  if (magic != kMagic) return make_error("payload does not start with dec's magic \"DEC1\"");
  PayloadHeader header;
  header.producer_id = load32(in + 4);
  header.sequence = load64(in + 8);
  header.intended_ns = static_cast<int64_t>(load64(in + 16));
  header.key_index = load32(in + 24);
  if (load32(in + 28) != header_checksum(magic, header)) {
    return make_error("payload header checksum mismatch (corrupted in transit)");
  }
  return header;
}

}  // namespace dec::load
