// AWS Signature Version 4 query authentication ("pre-signed URLs") for blob
// uploads and downloads (PROTOCOL.md "Attachments"). Presign mints the URLs
// attachTarget and message events hand out; Verify checks a request against
// one in ferryd's built-in blob store. The same URLs must work against any
// S3-compatible store, so the canonical forms follow the S3 rules exactly:
// every path segment URI-encoded once (no normalisation, no double encoding),
// only `host` signed, payload hash UNSIGNED-PAYLOAD.
//
// Threading: everything here is a pure function of its arguments (OpenSSL's
// one-shot digest calls keep no shared state), so any thread may call it.
// Verify parses attacker-controlled input: anything odd is `malformed`,
// never a crash or an exception.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.h"

namespace ferry::sigv4 {

struct Credentials {
  std::string access_key, secret_key, region = "us-east-1", service = "s3";
};

struct PresignRequest {
  std::string method;         // "GET" | "PUT"
  std::string scheme = "http";
  std::string host;           // host[:port] exactly as the client sends it in Host
  std::string path;           // decoded, starts with '/', e.g. "/bucket/key"
  std::vector<std::pair<std::string, std::string>> extra_query;  // decoded, signed
  std::int64_t now_ms = 0;    // signing time; X-Amz-Date keeps whole seconds
  std::int64_t expires_s = 0; // X-Amz-Expires, 1..604800
};

// The longest validity SigV4 allows (7 days).
inline constexpr std::int64_t kMaxExpiresS = 604800;
// How far a signing time may lie in the future of the verifier's clock.
inline constexpr std::int64_t kClockSkewMs = 15 * 60 * 1000;

// scheme://host + encoded path + '?' + canonical (sorted) query with the
// X-Amz-* parameters and the extra ones, then &X-Amz-Signature=<hex>.
// The request is trusted (built by ferryd), so a bad one is a programming
// error: throws std::invalid_argument (method not [A-Z]+, empty host or host
// with whitespace/control bytes, path not starting with '/', expires outside
// 1..604800, now_ms negative or past year 9999, an extra key that is empty or
// names an X-Amz-* authentication parameter).
std::string Presign(const Credentials& creds, const PresignRequest& req);

// When Presign's URL for `req` stops working (ms since the epoch): the
// signing time truncated to whole seconds plus expires_s. This is the
// `expiresAt` to hand out, not now_ms + expires_s * 1000.
std::int64_t ExpiresAtMs(const PresignRequest& req);

enum class VerifyResult {
  ok,
  malformed,         // unparsable target, missing/duplicate/invalid X-Amz-* params
  wrong_credential,  // access key, region or service not ours
  expired,           // now >= signed_at + expires
  not_yet_valid,     // signed more than kClockSkewMs in the future
  bad_signature,
};
std::string_view ToString(VerifyResult r);

struct VerifiedQuery {
  std::string path;  // the decoded path the signature covers
  std::vector<std::pair<std::string, std::string>> params;  // decoded, all, in URL order
  std::int64_t signed_at_ms = 0, expires_at_ms = 0;
};

// Verifies a request made with a pre-signed URL. `host` is the Host header
// value, `target` the raw (still percent-encoded) origin-form request target
// "path?query". The signature is checked before the time window, so
// `expired`/`not_yet_valid` are only reported for URLs we really signed. The
// URL is valid for now_ms in [signed_at - kClockSkewMs, signed_at + expires)
// - expiresAt itself is the first instant it no longer works (PROTOCOL.md).
// Fills `out` (may be null) only on ok.
VerifyResult Verify(const Credentials& creds, std::string_view method,
                    std::string_view host, std::string_view target,
                    std::int64_t now_ms, VerifiedQuery* out);

// --- Helpers -------------------------------------------------------------

// SigV4 URI encoding: A-Za-z0-9 and -._~ stay, every other byte becomes %XX
// (uppercase hex). '/' stays unless encode_slash (query keys and values).
std::string UriEncode(std::string_view in, bool encode_slash);

// RFC 3986 percent-decoding ('+' stays '+'). False on a '%' not followed by
// two hex digits; `out` is then unspecified.
bool PercentDecode(std::string_view in, std::string* out);

// The SHA-256 helpers (payload hashes, file checksums, the checksum header)
// are common/digest.h's; named here too for SigV4's callers.
using ferry::Sha256FileHex;
using ferry::Sha256Hex;
using ferry::Sha256HexToBase64;

// --- Building blocks, exposed so tests can check them against AWS's
// published intermediate values. ---------------------------------------------

using Key = std::array<unsigned char, 32>;

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date8), region), service),
//                 "aws4_request").
Key DeriveSigningKey(std::string_view secret, std::string_view date8,
                     std::string_view region, std::string_view service);

std::string HexEncode(const unsigned char* data, std::size_t n);

// "YYYYMMDDTHHMMSSZ" for a UTC time; false outside years 0000..9999.
bool FormatAmzDate(std::int64_t ms, std::string* out);
// The inverse, strict: exactly that shape and a real calendar time.
bool ParseAmzDate(std::string_view s, std::int64_t* ms);

// The canonical request S3 hashes for a query-authenticated request with
// only `host` signed. `canonical_uri` and `canonical_query` are already in
// canonical (encoded, sorted, no X-Amz-Signature) form.
std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view host);

// Hex HMAC-SHA256 of the string to sign for `canonical_request`.
std::string Signature(const Credentials& creds, std::string_view amz_date,
                      std::string_view canonical_request);

}  // namespace ferry::sigv4
