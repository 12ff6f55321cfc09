// Unguessable identifiers and tokens from libsodium's CSPRNG, and password
// hashes (token hashes: common/digest.h). Thread-safe. Call InitCrypto() once at
// start-up before anything else here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry {

// Initializes libsodium; throws std::runtime_error if it cannot.
void InitCrypto();

// `bytes` random bytes as unpadded base64url (22 chars for 16 bytes), never
// starting with '-'.
std::string RandomId(std::size_t bytes = 16);

// A 16-byte id whose first 6 bytes are `now_ms` (big-endian) and the rest
// random, as base64url: ids made close in time sort close together, so a
// B-tree keyed by them takes inserts at its right edge instead of at random
// pages (message ids: fewer pages dirtied per commit). Unique, not secret.
std::string TimeOrderedId(std::int64_t now_ms);

// A bearer token: 32 random bytes, base64url.
std::string NewToken();

// Argon2id password hashing. `strength` 0 = libsodium's minimum (tests only),
// 1 = interactive (default). HashPassword returns "" on failure (out of memory).
std::string HashPassword(std::string_view password, int strength);
bool VerifyPassword(std::string_view hash, std::string_view password);

}  // namespace ferry
