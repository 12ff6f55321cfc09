// SHA-256 digests, over libsodium: the hashes Ferry stores instead of secrets
// (tokens), the checksums of attachments (files and the
// `x-amz-checksum-sha256` header), and SigV4's payload hashes. One place for
// all of them, so the client, the blob store and the service agree.
// Thread-safe; InitCrypto() (common/random.h) first.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Lowercase hex SHA-256 of a file's bytes, read in 64 KiB blocks (never
// whole); "" if it cannot be read. Blocks on the file system.
std::string Sha256FileHex(const std::string& path);

// base64 (standard alphabet, padded) of the 32 raw bytes a 64-digit hex
// SHA-256 spells (either case), as the `x-amz-checksum-sha256` header
// carries it. False if `hex` is not exactly 64 hex digits.
bool Sha256HexToBase64(std::string_view hex, std::string* out);

}  // namespace ferry
