#include "service/message_ids.h"

#include <sodium.h>

#include <array>

namespace ferry {
namespace {

// The counter's 3 bytes are the first of the 8 after the time.
constexpr std::size_t kTimeBytes = 6, kRandomBytes = 8, kTagBytes = 6, kCounterBytes = 3;
// 4 base64url digits of 0..51 each (message_ids.h).
constexpr std::uint32_t kDigitBase = 52, kCounterRange = 52 * 52 * 52 * 52;
constexpr std::size_t kIdBytes = kTimeBytes + kRandomBytes + kTagBytes;
using RawId = std::array<unsigned char, kIdBytes>;

// The tag of raw's time and random bytes in `chat_id`, written into raw.
void Tag(const std::string& key, std::string_view chat_id, RawId& raw) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, raw.data(), kTimeBytes + kRandomBytes);
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(chat_id.data()),
                                chat_id.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  std::copy(mac, mac + kTagBytes, raw.begin() + kTimeBytes + kRandomBytes);
}

}  // namespace

std::string MessageIds::New(Millis ts, std::string_view chat_id) const {
  RawId raw{};
  auto ms = static_cast<std::uint64_t>(ts);
  for (std::size_t i = 0; i < kTimeBytes; ++i) {
    raw[i] = static_cast<unsigned char>(ms >> (8 * (kTimeBytes - 1 - i)));
  }
  std::uint32_t counter = 0;
  {
    std::lock_guard lock(mu_);
    if (ts != counter_ts_) {
      counter_ts_ = ts;
      next_counter_ = randombytes_uniform(kCounterRange / 2);
    }
    counter = next_counter_;
    // Millions of ids in one millisecond would repeat the last counter:
    // still distinct by the random bytes, only no longer in order.
    if (next_counter_ + 1 < kCounterRange) ++next_counter_;
  }
  // Base 52, a digit per 6 bits, the most significant in the top ones.
  std::uint32_t bits = 0;
  for (int shift = 0; shift < 24; shift += 6, counter /= kDigitBase) {
    bits |= (counter % kDigitBase) << shift;
  }
  raw[kTimeBytes] = static_cast<unsigned char>(bits >> 16);
  raw[kTimeBytes + 1] = static_cast<unsigned char>(bits >> 8);
  raw[kTimeBytes + 2] = static_cast<unsigned char>(bits);
  randombytes_buf(raw.data() + kTimeBytes + kCounterBytes, kRandomBytes - kCounterBytes);
  Tag(key_, chat_id, raw);
  std::string out(sodium_base64_ENCODED_LEN(kIdBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool MessageIds::IsOf(const Position& position, std::string_view chat_id) const {
  RawId raw{};
  std::size_t size = 0;
  const std::string& id = position.message_id;
  if (sodium_base642bin(raw.data(), raw.size(), id.data(), id.size(), nullptr, &size, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      size != kIdBytes) {
    return false;
  }
  std::uint64_t ms = 0;
  for (std::size_t i = 0; i < kTimeBytes; ++i) ms = (ms << 8) | raw[i];
  if (position.ts < 0 || ms != static_cast<std::uint64_t>(position.ts)) return false;
  RawId expected = raw;
  Tag(key_, chat_id, expected);
  return sodium_memcmp(expected.data() + kTimeBytes + kRandomBytes,
                       raw.data() + kTimeBytes + kRandomBytes, kTagBytes) == 0;
}

}  // namespace ferry
