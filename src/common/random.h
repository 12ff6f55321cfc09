// Unguessable identifiers and tokens from libsodium's CSPRNG, and the hashes
// Ferry stores instead of secrets. Thread-safe. Call InitCrypto() once at
// start-up before anything else here.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// Initializes libsodium; throws std::runtime_error if it cannot.
void InitCrypto();

// `bytes` random bytes as unpadded base64url (22 chars for 16 bytes), never
// starting with '-'.
std::string RandomId(std::size_t bytes = 16);

// A bearer token: 32 random bytes, base64url.
std::string NewToken();

// Hex SHA-256 of `text`; tokens are stored only as this hash.
std::string Sha256Hex(std::string_view text);

// Argon2id password hashing. `strength` 0 = libsodium's minimum (tests only),
// 1 = interactive (default). HashPassword returns "" on failure (out of memory).
std::string HashPassword(std::string_view password, int strength);
bool VerifyPassword(std::string_view hash, std::string_view password);

}  // namespace ferry
