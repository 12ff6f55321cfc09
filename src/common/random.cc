#include "common/random.h"

#include <sodium.h>

#include <stdexcept>
#include <vector>

namespace ferry {

void InitCrypto() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
}

namespace {

std::string Base64Url(const unsigned char* raw, std::size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), raw, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

}  // namespace

std::string RandomId(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  // An id never starts with '-', so command lines never mistake it for an
  // option (costs 1/64 of one character's entropy).
  do {
    randombytes_buf(raw.data(), raw.size());
  } while ((raw[0] >> 2) == 62);  // the first base64url digit would be '-'
  return Base64Url(raw.data(), raw.size());
}

std::string TimeOrderedId(std::int64_t now_ms) {
  unsigned char raw[16];
  auto ms = static_cast<std::uint64_t>(now_ms);
  for (int i = 0; i < 6; ++i) raw[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  randombytes_buf(raw + 6, sizeof raw - 6);
  // The first base64url digit is the timestamp's top 6 bits: '-' (62) only
  // from the year ~10600.
  return Base64Url(raw, sizeof raw);
}

std::string NewToken() { return RandomId(32); }

std::string HashPassword(std::string_view password, int strength) {
  char out[crypto_pwhash_STRBYTES];
  unsigned long long ops =
      strength == 0 ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  std::size_t mem = strength == 0 ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return "";
  }
  return out;
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  std::string h(hash);  // needs NUL termination
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

}  // namespace ferry
