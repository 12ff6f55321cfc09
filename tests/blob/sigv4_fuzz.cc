// libFuzzer target for the SigV4 verifier (sigv4::Verify), which parses the
// method, Host header and target of every request to the built-in blob
// store. An input is "METHOD\nHOST\nTARGET" (missing parts: GET and the
// first signed request's host). Beyond not crashing:
// - nothing is accepted but what was signed: a few requests are signed with
//   a fixed key (SignedRequests); an input that verifies must be one of
//   them — same method, host, decoded path and decoded parameters — however
//   its target is spelled (parameter order, escaping);
// - an accepted URL keeps its time window: ok until expiresAt, expired from
//   it, not_yet_valid before the clock-skew allowance;
// - the URI encoding round trips: PercentDecode(UriEncode(x)) == x.
// The seeds (tests/fuzz/corpus/sigv4_fuzz/) are those requests' URLs,
// some respelled. Built as a fuzzer with clang (target sigv4_fuzz);
// everywhere sigv4_fuzz_smoke.cc runs it in sigv4_fuzz_test.
#include "sigv4_fuzz.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blob/sigv4.h"

namespace ferry::sigv4::fuzz {

const Credentials& Creds() {
  static const Credentials creds{"AKIDFERRYFUZZ", "fuzz/Secret+Key=", "eu-west-3", "s3"};
  return creds;
}

const std::vector<PresignRequest>& SignedRequests() {
  static const std::vector<PresignRequest> requests = {
      // ferryd's own: an upload and a download of the built-in blob store.
      PresignRequest{.method = "PUT",
                     .host = "127.0.0.1:8080",
                     .path = "/blobs/wpQmf2eevpHb67Mz3quFZQ",
                     .now_ms = kSignedAtMs,
                     .expires_s = 3600},
      PresignRequest{.method = "GET",
                     .host = "127.0.0.1:8080",
                     .path = "/blobs/wpQmf2eevpHb67Mz3quFZQ",
                     .extra_query = {{"x-ferry-client", "7bi5Xq_-"}},
                     .now_ms = kSignedAtMs,
                     .expires_s = kMaxExpiresS},
      // Bytes that need escaping, in the path and in parameters; a
      // repeated key; an empty value.
      PresignRequest{.method = "GET",
                     .scheme = "https",
                     .host = "files.example.com",
                     .path = "/bucket/a b+c%/\xc3\xbc.png//",
                     .extra_query = {{"x-ferry-client", "c/1 &=?"}, {"a", ""}, {"a", "0"}},
                     .now_ms = kSignedAtMs,
                     .expires_s = 1},
      PresignRequest{.method = "PUT",
                     .host = "[::1]:9000",
                     .path = "/",
                     .extra_query = {{"~k.-_", "~v.-_"}},
                     .now_ms = kSignedAtMs,
                     .expires_s = 60},
  };
  return requests;
}

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The decoded parameters a URL Presign made for `req` carries, but for the
// signature, sorted. Written out here rather than taken from Presign, so the
// check does not trust the code under test.
Params SignedParams(const PresignRequest& req) {
  std::string date;
  if (!FormatAmzDate(req.now_ms, &date)) std::abort();
  const Credentials& creds = Creds();
  Params params = req.extra_query;
  params.insert(params.end(),
                {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                 {"X-Amz-Credential", creds.access_key + "/" + date.substr(0, 8) + "/" +
                                          creds.region + "/" + creds.service + "/aws4_request"},
                 {"X-Amz-Date", date},
                 {"X-Amz-Expires", std::to_string(req.expires_s)},
                 {"X-Amz-SignedHeaders", "host"}});
  std::sort(params.begin(), params.end());
  return params;
}

// The signed request `accepted` is, or null.
const PresignRequest* SignedAs(std::string_view method, std::string_view host,
                               const VerifiedQuery& accepted) {
  Params params;
  for (const auto& p : accepted.params) {
    if (p.first != "X-Amz-Signature") params.push_back(p);
  }
  std::sort(params.begin(), params.end());
  for (const PresignRequest& req : SignedRequests()) {
    if (req.method == method && req.host == TrimOws(host) && req.path == accepted.path &&
        SignedParams(req) == params) {
      return &req;
    }
  }
  return nullptr;
}

VerifyResult VerifyAt(std::string_view method, std::string_view host, std::string_view target,
                      std::int64_t now_ms) {
  return Verify(Creds(), method, host, target, now_ms, nullptr);
}

}  // namespace
}  // namespace ferry::sigv4::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ferry::sigv4;
  using namespace ferry::sigv4::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string decoded;
  if (!PercentDecode(UriEncode(input, true), &decoded) || decoded != input) std::abort();
  if (!PercentDecode(UriEncode(input, false), &decoded) || decoded != input) std::abort();

  std::string_view method = "GET", host = SignedRequests()[0].host, target = input;
  if (std::size_t nl = target.find('\n'); nl != std::string_view::npos) {
    method = target.substr(0, nl);
    target.remove_prefix(nl + 1);
    if (nl = target.find('\n'); nl != std::string_view::npos) {
      host = target.substr(0, nl);
      target.remove_prefix(nl + 1);
    }
  }

  VerifiedQuery accepted;
  VerifyResult result = Verify(Creds(), method, host, target, kNowMs, &accepted);
  if (result != VerifyResult::ok) return 0;
  const PresignRequest* req = SignedAs(method, host, accepted);
  if (!req) std::abort();  // accepted something that was never signed
  std::int64_t expires_at = ExpiresAtMs(*req);
  std::int64_t valid_from = expires_at - req->expires_s * 1000 - kClockSkewMs;
  if (accepted.expires_at_ms != expires_at ||
      VerifyAt(method, host, target, expires_at - 1) != VerifyResult::ok ||
      VerifyAt(method, host, target, expires_at) != VerifyResult::expired ||
      VerifyAt(method, host, target, valid_from) != VerifyResult::ok ||
      VerifyAt(method, host, target, valid_from - 1) != VerifyResult::not_yet_valid) {
    std::abort();
  }
  return 0;
}
