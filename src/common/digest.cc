#include "common/digest.h"

#include <sodium.h>

#include <cstdio>
#include <vector>

namespace ferry {
namespace {

std::string Hex(const unsigned char* digest) {
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, crypto_hash_sha256_BYTES);
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return Hex(digest);
}

std::string Sha256FileHex(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<unsigned char> buf(64 * 1024);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    crypto_hash_sha256_update(&state, buf.data(), n);
  }
  bool ok = !std::ferror(f);
  std::fclose(f);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  return ok ? Hex(digest) : std::string();
}

bool Sha256HexToBase64(std::string_view hex, std::string* out) {
  if (hex.size() != crypto_hash_sha256_BYTES * 2) return false;
  unsigned char raw[crypto_hash_sha256_BYTES];
  std::size_t len = 0;
  const char* end = nullptr;
  // sodium_hex2bin stops at the first non-hex character: all 64 must be used.
  if (sodium_hex2bin(raw, sizeof raw, hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      len != sizeof raw || end != hex.data() + hex.size()) {
    return false;
  }
  char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  out->assign(b64);
  return true;
}

}  // namespace ferry
