// AWS SigV4 query authentication: canonical forms, signing, verification.
// See sigv4.h. Pure functions; OpenSSL is used only through its one-shot,
// stateless calls (HMAC(), CRYPTO_memcmp), which
// are thread-safe without locking.
#include "blob/sigv4.h"

#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <stdexcept>

namespace ferry::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::string_view kTerminator = "aws4_request";

// Bounds on attacker-controlled input. Real pre-signed targets are a few
// hundred bytes; these only keep work and memory per request small.
constexpr std::size_t kMaxTargetBytes = 16 * 1024;
constexpr std::size_t kMaxHostBytes = 1024;
constexpr std::size_t kMaxMethodBytes = 16;
constexpr std::size_t kMaxParams = 64;

// The authentication parameters, in the order their fields are indexed.
enum AuthParam { kAlg, kCred, kDate, kExpires, kSignedHeaders, kSig, kNumAuth };
constexpr std::string_view kAuthNames[kNumAuth] = {
    "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
    "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
// S3 would read this as a session token; we issue none, so it is never an
// ordinary extra parameter.
constexpr std::string_view kSecurityToken = "X-Amz-Security-Token";

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Index of the auth parameter `key` names (exact case), kNumAuth if it is an
// ordinary parameter, -1 if it is reserved but unusable (another spelling of
// an auth name, or the security token).
int ClassifyKey(std::string_view key) {
  for (int i = 0; i < kNumAuth; ++i) {
    if (key == kAuthNames[i]) return i;
    if (IEquals(key, kAuthNames[i])) return -1;
  }
  if (IEquals(key, kSecurityToken)) return -1;
  return kNumAuth;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUpperAlpha(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Visible ASCII only: no whitespace, controls or non-ASCII bytes. Keeps
// newlines (which would let a value forge extra canonical-request lines) and
// other ambiguity out of everything we canonicalise.
bool IsVisibleAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

using Digest = std::array<unsigned char, 32>;

Digest Hmac(const unsigned char* key, std::size_t key_len, std::string_view data) {
  if (key_len > static_cast<std::size_t>(INT_MAX))
    throw std::runtime_error("sigv4: HMAC key too long");
  Digest out{};
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_len),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &out_len) == nullptr ||
      out_len != out.size())
    throw std::runtime_error("sigv4: HMAC-SHA256 failed");
  return out;
}

// Encodes each pair and sorts by encoded key, then encoded value (what SigV4
// specifies, and what botocore does), joined as k=v&k=v.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> encoded) {
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string Scope(std::string_view date8, const Credentials& creds) {
  std::string s(date8);
  s += '/';
  s += creds.region;
  s += '/';
  s += creds.service;
  s += '/';
  s += kTerminator;
  return s;
}

bool ParseUint(std::string_view s, std::int64_t* v) {
  // At most 6 digits (604800 is the largest legal value), no sign, no
  // leading zero: one spelling per number.
  if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return false;
  std::int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  *v = n;
  return true;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string UriEncode(std::string_view in, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() * 3);
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                      (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' ||
                      u == '~';
    if (unreserved || (u == '/' && !encode_slash)) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (in.size() - i < 3) return false;  // fewer than two characters after '%'
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string HexEncode(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

Key DeriveSigningKey(std::string_view secret, std::string_view date8,
                     std::string_view region, std::string_view service) {
  std::string k0 = "AWS4";
  k0 += secret;
  Digest k = Hmac(reinterpret_cast<const unsigned char*>(k0.data()), k0.size(), date8);
  OPENSSL_cleanse(k0.data(), k0.size());
  k = Hmac(k.data(), k.size(), region);
  k = Hmac(k.data(), k.size(), service);
  return Hmac(k.data(), k.size(), kTerminator);
}

bool FormatAmzDate(std::int64_t ms, std::string* out) {
  using namespace std::chrono;
  std::int64_t secs = FloorDiv(ms, 1000);
  std::int64_t days = FloorDiv(secs, 86400);
  std::int64_t sod = secs - days * 86400;
  // Keep the day count where year_month_day's int arithmetic is exact.
  if (days < -800'000 || days > 3'000'000) return false;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999) return false;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", y,
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  out->assign(buf);
  return true;
}

bool ParseAmzDate(std::string_view s, std::int64_t* ms) {
  using namespace std::chrono;
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return false;
  auto num = [&](std::size_t pos, std::size_t len, int* v) {
    int n = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      n = n * 10 + (s[i] - '0');
    }
    *v = n;
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || !num(4, 2, &mo) || !num(6, 2, &d) || !num(9, 2, &h) ||
      !num(11, 2, &mi) || !num(13, 2, &se))
    return false;
  if (h > 23 || mi > 59 || se > 59) return false;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                     day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  std::int64_t days = sys_days{ymd}.time_since_epoch().count();
  *ms = ((days * 86400) + h * 3600 + mi * 60 + se) * 1000;
  return true;
}

std::string CanonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view host) {
  std::string cr;
  cr.reserve(method.size() + canonical_uri.size() + canonical_query.size() +
             host.size() + 48);
  cr += method;
  cr += '\n';
  cr += canonical_uri;
  cr += '\n';
  cr += canonical_query;
  cr += '\n';
  cr += "host:";  // canonical headers: just host, then the blank line
  cr += host;
  cr += "\n\n";
  cr += "host\n";  // signed headers
  cr += kUnsignedPayload;
  return cr;
}

std::string Signature(const Credentials& creds, std::string_view amz_date,
                      std::string_view canonical_request) {
  std::string_view date8 = amz_date.substr(0, 8);
  std::string sts(kAlgorithm);
  sts += '\n';
  sts += amz_date;
  sts += '\n';
  sts += Scope(date8, creds);
  sts += '\n';
  sts += Sha256Hex(canonical_request);
  Key k = DeriveSigningKey(creds.secret_key, date8, creds.region, creds.service);
  Digest sig = Hmac(k.data(), k.size(), sts);
  OPENSSL_cleanse(k.data(), k.size());
  return HexEncode(sig.data(), sig.size());
}

std::int64_t ExpiresAtMs(const PresignRequest& req) {
  return FloorDiv(req.now_ms, 1000) * 1000 + req.expires_s * 1000;
}

std::string Presign(const Credentials& creds, const PresignRequest& req) {
  if (!IsUpperAlpha(req.method) || req.method.size() > kMaxMethodBytes)
    throw std::invalid_argument("sigv4::Presign: bad method");
  if (req.scheme != "http" && req.scheme != "https")
    throw std::invalid_argument("sigv4::Presign: scheme must be http or https");
  if (req.host.empty() || req.host.size() > kMaxHostBytes || !IsVisibleAscii(req.host))
    throw std::invalid_argument("sigv4::Presign: bad host");
  if (req.path.empty() || req.path[0] != '/')
    throw std::invalid_argument("sigv4::Presign: path must start with '/'");
  if (req.expires_s < 1 || req.expires_s > kMaxExpiresS)
    throw std::invalid_argument("sigv4::Presign: expires_s outside 1..604800");
  std::string amz_date;
  if (!FormatAmzDate(req.now_ms, &amz_date) || req.now_ms < 0)
    throw std::invalid_argument("sigv4::Presign: time out of range");
  for (const auto& [k, v] : req.extra_query) {
    if (k.empty() || ClassifyKey(k) != kNumAuth)
      throw std::invalid_argument("sigv4::Presign: bad extra query key: " + k);
  }

  std::string credential = creds.access_key;
  credential += '/';
  credential += Scope(std::string_view(amz_date).substr(0, 8), creds);

  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(req.extra_query.size() + 5);
  auto add = [&](std::string_view k, std::string_view v) {
    encoded.emplace_back(UriEncode(k, true), UriEncode(v, true));
  };
  add(kAuthNames[kAlg], kAlgorithm);
  add(kAuthNames[kCred], credential);
  add(kAuthNames[kDate], amz_date);
  add(kAuthNames[kExpires], std::to_string(req.expires_s));
  add(kAuthNames[kSignedHeaders], "host");
  for (const auto& [k, v] : req.extra_query) add(k, v);
  std::string query = CanonicalQuery(std::move(encoded));
  std::string uri = UriEncode(req.path, false);

  std::string sig =
      Signature(creds, amz_date, CanonicalRequest(req.method, uri, query, req.host));

  std::string url = req.scheme;
  url += "://";
  url += req.host;
  url += uri;
  url += '?';
  url += query;
  url += '&';
  url += kAuthNames[kSig];
  url += '=';
  url += sig;
  return url;
}

std::string_view ToString(VerifyResult r) {
  switch (r) {
    case VerifyResult::ok: return "ok";
    case VerifyResult::malformed: return "malformed";
    case VerifyResult::wrong_credential: return "wrong_credential";
    case VerifyResult::expired: return "expired";
    case VerifyResult::not_yet_valid: return "not_yet_valid";
    case VerifyResult::bad_signature: return "bad_signature";
  }
  return "unknown";
}

VerifyResult Verify(const Credentials& creds, std::string_view method,
                    std::string_view host, std::string_view target, std::int64_t now_ms,
                    VerifiedQuery* out) {
  using R = VerifyResult;
  if (method.size() > kMaxMethodBytes || !IsUpperAlpha(method)) return R::malformed;
  if (host.size() > kMaxHostBytes) return R::malformed;
  host = TrimOws(host);
  if (host.empty() || !IsVisibleAscii(host)) return R::malformed;
  if (target.size() > kMaxTargetBytes || target.empty() || target[0] != '/' ||
      !IsVisibleAscii(target) || target.find('#') != std::string_view::npos)
    return R::malformed;

  std::size_t qpos = target.find('?');
  if (qpos == std::string_view::npos) return R::malformed;
  VerifiedQuery vq;
  if (!PercentDecode(target.substr(0, qpos), &vq.path)) return R::malformed;

  // Split and decode the query; remember where each auth parameter is.
  std::string_view query = target.substr(qpos + 1);
  std::size_t auth_at[kNumAuth];
  std::fill(std::begin(auth_at), std::end(auth_at), SIZE_MAX);
  while (true) {
    std::size_t amp = query.find('&');
    std::string_view seg = query.substr(0, amp);
    if (seg.empty() || vq.params.size() >= kMaxParams) return R::malformed;
    std::size_t eq = seg.find('=');
    std::string k, v;
    if (!PercentDecode(seg.substr(0, eq), &k) || k.empty()) return R::malformed;
    if (eq != std::string_view::npos && !PercentDecode(seg.substr(eq + 1), &v))
      return R::malformed;
    int cls = ClassifyKey(k);
    if (cls < 0) return R::malformed;
    if (cls < kNumAuth) {
      if (auth_at[cls] != SIZE_MAX) return R::malformed;  // duplicate
      auth_at[cls] = vq.params.size();
    }
    vq.params.emplace_back(std::move(k), std::move(v));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  for (std::size_t at : auth_at)
    if (at == SIZE_MAX) return R::malformed;
  auto auth = [&](AuthParam p) -> const std::string& { return vq.params[auth_at[p]].second; };

  if (auth(kAlg) != kAlgorithm) return R::malformed;
  if (auth(kSignedHeaders) != "host") return R::malformed;
  const std::string& amz_date = auth(kDate);
  if (!ParseAmzDate(amz_date, &vq.signed_at_ms)) return R::malformed;
  std::int64_t expires_s = 0;
  if (!ParseUint(auth(kExpires), &expires_s) || expires_s < 1 || expires_s > kMaxExpiresS)
    return R::malformed;
  const std::string& sig = auth(kSig);
  if (sig.size() != 64 || !std::all_of(sig.begin(), sig.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      }))
    return R::malformed;

  // Credential = <access key>/<date8>/<region>/<service>/aws4_request. Split
  // from the right so the scope is exact whatever the access key holds.
  std::string_view cred = auth(kCred);
  std::string_view parts[4];  // terminator, service, region, date8
  for (auto& part : parts) {
    std::size_t slash = cred.rfind('/');
    if (slash == std::string_view::npos) return R::malformed;
    part = cred.substr(slash + 1);
    cred = cred.substr(0, slash);
  }
  if (parts[0] != kTerminator || parts[3] != std::string_view(amz_date).substr(0, 8))
    return R::malformed;
  if (cred != creds.access_key || parts[2] != creds.region || parts[1] != creds.service)
    return R::wrong_credential;

  // Re-encode the decoded parts canonically: the signature then covers the
  // decoded path and parameters, whatever (valid) escaping the client chose.
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(vq.params.size());
  for (std::size_t i = 0; i < vq.params.size(); ++i) {
    if (i == auth_at[kSig]) continue;
    encoded.emplace_back(UriEncode(vq.params[i].first, true),
                         UriEncode(vq.params[i].second, true));
  }
  std::string expected;
  try {
    expected = Signature(creds, amz_date,
                         CanonicalRequest(method, UriEncode(vq.path, false),
                                          CanonicalQuery(std::move(encoded)), host));
  } catch (const std::runtime_error&) {
    return R::bad_signature;  // OpenSSL failed; never accept
  }
  if (CRYPTO_memcmp(expected.data(), sig.data(), expected.size()) != 0)
    return R::bad_signature;

  vq.expires_at_ms = vq.signed_at_ms + expires_s * 1000;
  if (now_ms < vq.signed_at_ms - kClockSkewMs) return R::not_yet_valid;
  if (now_ms >= vq.expires_at_ms) return R::expired;
  if (out) *out = std::move(vq);
  return R::ok;
}

}  // namespace ferry::sigv4
