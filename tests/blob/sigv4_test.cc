// Tests for ferry::sigv4: AWS's published vectors, Presign/Verify round trips
// and rejections (including random mutations of valid targets), and a
// cross-check against botocore, an independent SigV4 implementation, run as
// a subprocess (tests/blob/botocore_presign.py). Single-threaded.
#include "blob/sigv4.h"

#include <fstream>

#include <filesystem>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ferry::sigv4 {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// AWS's documentation example credentials.
const Credentials kAwsExample{"AKIAIOSFODNN7EXAMPLE",
                              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr std::int64_t k20130524 = 1369353600000;  // 2013-05-24T00:00:00Z in ms

std::string HexOf(const Key& k) { return HexEncode(k.data(), k.size()); }

// Splits a URL into (scheme://host, target).
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  std::size_t p = url.find("://");
  std::size_t slash = url.find('/', p + 3);
  return {url.substr(0, slash), url.substr(slash)};
}

// ---------------------------------------------------------------------------
// AWS published vectors.

// "Examples of how to derive a signing key for Signature Version 4"
// (https://docs.aws.amazon.com/general/latest/gr/signature-v4-examples.html):
// secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam
// gives kSigning f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d.
TEST(SigV4AwsVectors, SigningKeyDerivation20120215) {
  EXPECT_EQ(HexOf(DeriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

// "Task 3: Calculate the signature for AWS Signature Version 4"
// (https://docs.aws.amazon.com/general/latest/gr/sigv4-calculate-signature.html,
// the IAM ListUsers example of the SigV4 signing walkthrough): for
// 20150830/us-east-1/iam the signing key is
// c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9; the
// canonical request (Task 1) hashes to f536975d...; the signature is
// 5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7.
TEST(SigV4AwsVectors, SignatureWalkthrough20150830) {
  EXPECT_EQ(HexOf(DeriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  const std::string canonical_request =
      "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
      "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
      "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
      "content-type;host;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(Sha256Hex(canonical_request),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  Credentials iam{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                  "us-east-1", "iam"};
  EXPECT_EQ(Signature(iam, "20150830T123600Z", canonical_request),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)",
// section "An Example"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html):
// GET examplebucket.s3.amazonaws.com/test.txt, AKIAIOSFODNN7EXAMPLE /
// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1, 20130524T000000Z,
// 86400 s. The page shows the canonical request, whose hash in the string to
// sign is 3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04,
// and the signature aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404.
TEST(SigV4AwsVectors, S3PresignedGetExample) {
  const std::string query =
      "X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
      "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host";
  std::string cr =
      CanonicalRequest("GET", "/test.txt", query, "examplebucket.s3.amazonaws.com");
  EXPECT_EQ(Sha256Hex(cr),
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");

  PresignRequest req;
  req.method = "GET";
  req.scheme = "https";
  req.host = "examplebucket.s3.amazonaws.com";
  req.path = "/test.txt";
  req.now_ms = k20130524;
  req.expires_s = 86400;
  const std::string url = Presign(kAwsExample, req);
  EXPECT_EQ(url, "https://examplebucket.s3.amazonaws.com/test.txt?" + query +
                     "&X-Amz-Signature="
                     "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_EQ(ExpiresAtMs(req), k20130524 + 86400 * 1000);

  VerifiedQuery vq;
  EXPECT_EQ(Verify(kAwsExample, "GET", "examplebucket.s3.amazonaws.com",
                   SplitUrl(url).second, k20130524 + 3600 * 1000, &vq),
            VerifyResult::ok);
  EXPECT_EQ(vq.path, "/test.txt");
  EXPECT_EQ(vq.signed_at_ms, k20130524);
  EXPECT_EQ(vq.expires_at_ms, k20130524 + 86400 * 1000);
}

// ---------------------------------------------------------------------------
// Helpers.

TEST(SigV4Helpers, UriEncode) {
  EXPECT_EQ(UriEncode("AZaz09-._~", true), "AZaz09-._~");
  EXPECT_EQ(UriEncode("/a b/ü+x", false), "/a%20b/%C3%BC%2Bx");
  EXPECT_EQ(UriEncode("/a b/ü+x", true), "%2Fa%20b%2F%C3%BC%2Bx");
  EXPECT_EQ(UriEncode("%=&?#*", true), "%25%3D%26%3F%23%2A");
  EXPECT_EQ(UriEncode(std::string("\0\xff", 2), true), "%00%FF");
}

TEST(SigV4Helpers, PercentDecode) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%20b%2fc%2F+%C3%BC", &out));
  EXPECT_EQ(out, "a b/c/+\xC3\xBC");
  ASSERT_TRUE(PercentDecode("%00", &out));
  EXPECT_EQ(out, std::string(1, '\0'));
  for (const char* bad : {"%", "%2", "a%g0", "%0g", "%%", "abc%", "%-1", "% 1"})
    EXPECT_FALSE(PercentDecode(bad, &out)) << bad;
  // Decoding what UriEncode made gives the input back, for every byte.
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  ASSERT_TRUE(PercentDecode(UriEncode(all, true), &out));
  EXPECT_EQ(out, all);
}

TEST(SigV4Helpers, Sha256) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string b64;
  ASSERT_TRUE(Sha256HexToBase64(Sha256Hex(""), &b64));
  EXPECT_EQ(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  ASSERT_TRUE(Sha256HexToBase64(
      "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &b64));
  EXPECT_EQ(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_FALSE(Sha256HexToBase64("", &b64));
  EXPECT_FALSE(Sha256HexToBase64(std::string(63, 'a'), &b64));
  EXPECT_FALSE(Sha256HexToBase64(std::string(65, 'a'), &b64));
  EXPECT_FALSE(Sha256HexToBase64(std::string(63, 'a') + "g", &b64));
}

TEST(SigV4Helpers, Sha256File) {
  std::string path = std::filesystem::temp_directory_path() / "ferry-sha256-file-test";
  // 200 KiB: more than one read block.
  std::string data(200 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  { std::ofstream(path, std::ios::binary) << data; }
  EXPECT_EQ(Sha256FileHex(path), Sha256Hex(data));
  { std::ofstream(path, std::ios::binary) << "abc"; }
  EXPECT_EQ(Sha256FileHex(path),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  EXPECT_EQ(Sha256FileHex(path), "");  // unreadable
}

TEST(SigV4Helpers, AmzDate) {
  std::string s;
  ASSERT_TRUE(FormatAmzDate(k20130524 + 999, &s));
  EXPECT_EQ(s, "20130524T000000Z");
  ASSERT_TRUE(FormatAmzDate(1700000000123, &s));
  EXPECT_EQ(s, "20231114T221320Z");
  ASSERT_TRUE(FormatAmzDate(-1, &s));  // floors, not truncates
  EXPECT_EQ(s, "19691231T235959Z");
  EXPECT_FALSE(FormatAmzDate(253402300800000, &s));  // year 10000
  EXPECT_FALSE(FormatAmzDate(INT64_MIN, &s));
  EXPECT_FALSE(FormatAmzDate(INT64_MAX, &s));

  std::int64_t ms = 0;
  ASSERT_TRUE(ParseAmzDate("20130524T000000Z", &ms));
  EXPECT_EQ(ms, k20130524);
  ASSERT_TRUE(ParseAmzDate("20231114T221320Z", &ms));
  EXPECT_EQ(ms, 1700000000000);
  ASSERT_TRUE(ParseAmzDate("20120229T235959Z", &ms));  // leap day
  for (const char* bad :
       {"", "20130524T000000", "20130524T000000Z ", "20130524t000000Z", "2013-05-24T00:00:00Z",
        "20130230T000000Z", "20130229T000000Z", "20131324T000000Z", "20130500T000000Z",
        "20130524T240000Z", "20130524T006000Z", "20130524T000060Z", "2013052+T000000Z",
        "20130524T00000-Z", "2013O524T000000Z"})
    EXPECT_FALSE(ParseAmzDate(bad, &ms)) << bad;
}

// ---------------------------------------------------------------------------
// Presign / Verify.

const Credentials kCreds{"FERRYKEY", "ferry-secret", "eu-central-1", "s3"};
constexpr std::int64_t kNow = 1700000000123;

PresignRequest PutRequest() {
  PresignRequest r;
  r.method = "PUT";
  r.host = "127.0.0.1:8080";
  r.path = "/blobs/a b/ü+x~y";
  r.extra_query = {{"x-ferry-client", "c/1 2"}, {"b", ""}};
  r.now_ms = kNow;
  r.expires_s = 3600;
  return r;
}

TEST(SigV4Presign, UrlShapeAndRoundTrip) {
  PresignRequest r = PutRequest();
  std::string url = Presign(kCreds, r);
  EXPECT_EQ(url.rfind("http://127.0.0.1:8080/blobs/a%20b/%C3%BC%2Bx~y?", 0), 0u) << url;
  EXPECT_NE(url.find("&X-Amz-Credential=FERRYKEY%2F20231114%2Feu-central-1%2Fs3%2Faws4_request"),
            std::string::npos);
  EXPECT_NE(url.find("&x-ferry-client=c%2F1%202"), std::string::npos);
  EXPECT_NE(url.find("?X-Amz-Algorithm=AWS4-HMAC-SHA256&"), std::string::npos);
  EXPECT_NE(url.find("&X-Amz-Date=20231114T221320Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"),
            std::string::npos);
  EXPECT_EQ(url.find("X-Amz-Signature="), url.size() - 64 - 16);  // last, 64 hex
  EXPECT_EQ(Presign(kCreds, r), url);  // deterministic

  VerifiedQuery vq;
  ASSERT_EQ(Verify(kCreds, "PUT", "127.0.0.1:8080", SplitUrl(url).second, kNow, &vq),
            VerifyResult::ok);
  EXPECT_EQ(vq.path, r.path);
  EXPECT_EQ(vq.signed_at_ms, 1700000000000);
  EXPECT_EQ(vq.expires_at_ms, 1700000000000 + 3600 * 1000);
  EXPECT_EQ(vq.expires_at_ms, ExpiresAtMs(r));
  auto find = [&](const std::string& k) -> std::optional<std::string> {
    for (auto& [pk, pv] : vq.params)
      if (pk == k) return pv;
    return std::nullopt;
  };
  EXPECT_EQ(find("x-ferry-client"), "c/1 2");
  EXPECT_EQ(find("b"), "");
  EXPECT_EQ(find("X-Amz-Credential"), "FERRYKEY/20231114/eu-central-1/s3/aws4_request");
  EXPECT_EQ(vq.params.size(), 8u);

  // Surrounding whitespace in Host is not part of the value (SigV4 trims).
  EXPECT_EQ(Verify(kCreds, "PUT", " 127.0.0.1:8080\t", SplitUrl(url).second, kNow, nullptr),
            VerifyResult::ok);
  // Another valid escaping of the same path and parameters (lowercase hex,
  // '~' escaped, unreserved letters escaped) still verifies: the signature
  // covers the decoded path and parameters.
  std::string target = SplitUrl(url).second;
  std::string alt = target;
  alt.replace(alt.find("%C3%BC"), 6, "%c3%bc");
  alt.replace(alt.find("~y"), 2, "%7E%79");
  EXPECT_EQ(Verify(kCreds, "PUT", "127.0.0.1:8080", alt, kNow, nullptr), VerifyResult::ok);
}

TEST(SigV4Presign, RejectsBadRequests) {
  auto throws = [](auto mutate) {
    PresignRequest r = PutRequest();
    mutate(r);
    EXPECT_THROW(Presign(kCreds, r), std::invalid_argument);
  };
  throws([](PresignRequest& r) { r.method = "put"; });
  throws([](PresignRequest& r) { r.method = ""; });
  throws([](PresignRequest& r) { r.scheme = "ftp"; });
  throws([](PresignRequest& r) { r.host = ""; });
  throws([](PresignRequest& r) { r.host = "a b"; });
  throws([](PresignRequest& r) { r.host = "a\nb"; });
  throws([](PresignRequest& r) { r.path = "blobs/x"; });
  throws([](PresignRequest& r) { r.path = ""; });
  throws([](PresignRequest& r) { r.expires_s = 0; });
  throws([](PresignRequest& r) { r.expires_s = 604801; });
  throws([](PresignRequest& r) { r.now_ms = -1; });
  throws([](PresignRequest& r) { r.now_ms = 253402300800000; });
  throws([](PresignRequest& r) { r.extra_query = {{"", "v"}}; });
  throws([](PresignRequest& r) { r.extra_query = {{"X-Amz-Date", "v"}}; });
  throws([](PresignRequest& r) { r.extra_query = {{"x-amz-signature", "v"}}; });
  throws([](PresignRequest& r) { r.extra_query = {{"X-Amz-Security-Token", "t"}}; });
  PresignRequest r = PutRequest();
  r.expires_s = 604800;
  EXPECT_NO_THROW(Presign(kCreds, r));
}

class SigV4Verify : public ::testing::Test {
 protected:
  void SetUp() override {
    req_ = PutRequest();
    target_ = SplitUrl(Presign(kCreds, req_)).second;
  }
  VerifyResult V(std::string_view target, std::int64_t now = kNow,
                 std::string_view method = "PUT", std::string_view host = "127.0.0.1:8080",
                 const Credentials& creds = kCreds) {
    return Verify(creds, method, host, target, now, nullptr);
  }
  // target_ with the first occurrence of `from` replaced by `to`.
  std::string Replace(std::string_view from, std::string_view to) {
    std::string t = target_;
    std::size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return t;
  }
  PresignRequest req_;
  std::string target_;
};

TEST_F(SigV4Verify, RejectsTampering) {
  // Signature: flip its last hex digit.
  std::string t = target_;
  t.back() = t.back() == '0' ? '1' : '0';
  EXPECT_EQ(V(t), VerifyResult::bad_signature);
  EXPECT_EQ(V(Replace("/blobs/", "/blobz/")), VerifyResult::bad_signature);
  EXPECT_EQ(V(Replace("%C3%BC", "%C3%BD")), VerifyResult::bad_signature);
  EXPECT_EQ(V(Replace("x-ferry-client=c%2F1%202", "x-ferry-client=c%2F1%203")),
            VerifyResult::bad_signature);
  EXPECT_EQ(V(Replace("b=&", "")), VerifyResult::bad_signature);          // drop a param
  EXPECT_EQ(V(Replace("b=&", "b=&c=&")), VerifyResult::bad_signature);    // add a param
  EXPECT_EQ(V(Replace("b=&", "b=&b=&")), VerifyResult::bad_signature);    // duplicate extra
  EXPECT_EQ(V(Replace("X-Amz-Expires=3600", "X-Amz-Expires=3601")),
            VerifyResult::bad_signature);
  EXPECT_EQ(V(Replace("X-Amz-Date=20231114T221320Z", "X-Amz-Date=20231114T221321Z")),
            VerifyResult::bad_signature);
  EXPECT_EQ(V(target_, kNow, "GET"), VerifyResult::bad_signature);
  EXPECT_EQ(V(target_, kNow, "PUT", "127.0.0.1:8081"), VerifyResult::bad_signature);
  EXPECT_EQ(V(target_, kNow, "PUT", "localhost:8080"), VerifyResult::bad_signature);
  Credentials other_secret = kCreds;
  other_secret.secret_key = "other";
  EXPECT_EQ(V(target_, kNow, "PUT", "127.0.0.1:8080", other_secret),
            VerifyResult::bad_signature);
}

TEST_F(SigV4Verify, Credential) {
  for (auto mutate : {+[](Credentials& c) { c.access_key = "OTHERKEY"; },
                      +[](Credentials& c) { c.region = "us-east-1"; },
                      +[](Credentials& c) { c.service = "iam"; }}) {
    Credentials c = kCreds;
    mutate(c);
    EXPECT_EQ(V(target_, kNow, "PUT", "127.0.0.1:8080", c), VerifyResult::wrong_credential);
  }
  // A scope date that is not X-Amz-Date's is malformed, whatever the rest.
  EXPECT_EQ(V(Replace("%2F20231114%2F", "%2F20231115%2F")), VerifyResult::malformed);
  EXPECT_EQ(V(Replace("aws4_request", "aws4_requesT")), VerifyResult::malformed);
  EXPECT_EQ(V(Replace("FERRYKEY%2F20231114%2Feu-central-1%2Fs3%2F",
                      "FERRYKEY%2F20231114%2Feu-central-1%2Fs3%2Fx%2F")),
            VerifyResult::malformed);
  EXPECT_EQ(V(Replace("FERRYKEY%2F", "")), VerifyResult::malformed);  // 4 parts
}

TEST_F(SigV4Verify, TimeWindow) {
  const std::int64_t signed_at = 1700000000000, expires_at = signed_at + 3600 * 1000;
  EXPECT_EQ(V(target_, signed_at), VerifyResult::ok);
  EXPECT_EQ(V(target_, expires_at - 1), VerifyResult::ok);
  EXPECT_EQ(V(target_, expires_at), VerifyResult::expired);  // expiresAt: stops working
  EXPECT_EQ(V(target_, expires_at + 86400000), VerifyResult::expired);
  EXPECT_EQ(V(target_, INT64_MAX), VerifyResult::expired);
  EXPECT_EQ(V(target_, signed_at - kClockSkewMs), VerifyResult::ok);
  EXPECT_EQ(V(target_, signed_at - kClockSkewMs - 1), VerifyResult::not_yet_valid);
  EXPECT_EQ(V(target_, INT64_MIN), VerifyResult::not_yet_valid);
  // The signature is checked first: a tampered, expired URL is bad_signature.
  std::string t = target_;
  t.back() = t.back() == '0' ? '1' : '0';
  EXPECT_EQ(V(t, expires_at), VerifyResult::bad_signature);
}

TEST_F(SigV4Verify, Malformed) {
  using R = VerifyResult;
  const std::string path = target_.substr(0, target_.find('?'));
  std::vector<std::string> bad = {
      "",
      path,                             // no query at all
      path + "?",                       // empty query
      "blobs/x" + target_.substr(target_.find('?')),  // not origin-form
      "http://127.0.0.1:8080" + target_,             // absolute-form
      target_ + "#frag",
      target_ + "&",                    // empty segment
      Replace("&", "&&"),
      Replace("?", "?&"),
      Replace("%C3%BC", "%C3%B"),       // bad escape in path
      Replace("%C3%BC", "%G3%BC"),
      Replace("c%2F1", "c%2"),          // bad escape in a value
      Replace("x-ferry-client", "x-ferry%client"),
      Replace("/blobs/", "/bl obs/"),   // raw space
      Replace("/blobs/", "/bl\tobs/"),
      Replace("/blobs/", std::string("/bl\0obs/", 8)),
      Replace("/blobs/", "/bl\xc3\xb6obs/"),  // raw non-ASCII
      Replace("b=&", "=x&"),            // empty key
      // Duplicate / conflicting / missing authentication parameters.
      target_ + "&X-Amz-Expires=3600",
      target_ + "&X-Amz-Signature=" + std::string(64, '0'),
      Replace("b=&", "x-amz-date=20231114T221320Z&"),
      Replace("b=&", "X-AMZ-EXPIRES=3600&"),
      Replace("b=&", "X-Amz-Security-Token=t&"),
      Replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
      Replace("X-Amz-Date=20231114T221320Z&", ""),
      Replace("X-Amz-Expires=3600&", ""),
      Replace("&X-Amz-SignedHeaders=host", ""),
      target_.substr(0, target_.find("&X-Amz-Signature=")),
      Replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512"),
      Replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bx-amz-date"),
      Replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=Host"),
      Replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="),
      Replace("X-Amz-Date=20231114T221320Z", "X-Amz-Date=20231114T221320"),
      Replace("X-Amz-Date=20231114T221320Z", "X-Amz-Date=20231131T221320Z"),
      Replace("X-Amz-Date=20231114T221320Z", "X-Amz-Date=1700000000"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires="),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=0"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=03600"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=-3600"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=%2B3600"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=36OO"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=604801"),
      Replace("X-Amz-Expires=3600", "X-Amz-Expires=99999999999999999999999"),
      target_ + "0",                               // 65-digit signature
      target_.substr(0, target_.size() - 1),       // 63-digit signature
  };
  {
    std::string t = target_;  // uppercase hex signature
    std::transform(t.end() - 64, t.end(), t.end() - 64, ::toupper);
    bad.push_back(t);
  }
  // Huge inputs.
  bad.push_back(Replace("b=&", "b=" + std::string(1 << 20, 'a') + "&"));
  {
    std::string many = target_;
    for (int i = 0; i < 100; ++i) many += "&p" + std::to_string(i) + "=v";
    bad.push_back(many);
  }
  for (const auto& t : bad) EXPECT_EQ(V(t), R::malformed) << t;

  EXPECT_EQ(V(target_, kNow, "put"), R::malformed);
  EXPECT_EQ(V(target_, kNow, ""), R::malformed);
  EXPECT_EQ(V(target_, kNow, std::string(1000, 'P')), R::malformed);
  EXPECT_EQ(V(target_, kNow, "PUT", ""), R::malformed);
  EXPECT_EQ(V(target_, kNow, "PUT", "127.0.0.1:8080\r\nx-evil: 1"), R::malformed);
  EXPECT_EQ(V(target_, kNow, "PUT", "127.0.0. 1:8080"), R::malformed);
  EXPECT_EQ(V(target_, kNow, "PUT", std::string(1 << 20, 'h')), R::malformed);
}

// What a target means: its decoded path and its decoded parameters as a
// sorted list; nullopt if it does not decode. Two targets meaning the same
// may both verify; anything else that verifies is a forgery.
std::optional<std::pair<std::string, Params>> Meaning(const std::string& target) {
  std::size_t q = target.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string path;
  if (!PercentDecode(target.substr(0, q), &path)) return std::nullopt;
  Params params;
  std::string_view query(target);
  query.remove_prefix(q + 1);
  while (true) {
    std::size_t amp = query.find('&');
    std::string_view seg = query.substr(0, amp);
    std::size_t eq = seg.find('=');
    std::string k, v;
    if (!PercentDecode(seg.substr(0, eq), &k)) return std::nullopt;
    if (eq != std::string_view::npos && !PercentDecode(seg.substr(eq + 1), &v))
      return std::nullopt;
    params.emplace_back(k, v);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::sort(params.begin(), params.end());
  return std::make_pair(path, params);
}

TEST_F(SigV4Verify, RandomMutationsNeverVerify) {
  std::mt19937 rng(20240611);
  const auto original = Meaning(target_);
  ASSERT_TRUE(original);
  const std::string alphabet = "%&=?/#+ aAzZ09-._~X\x01\x7f\xff";
  int equivalent = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string t = target_;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      std::size_t at = rng() % t.size();
      // Mostly characters that survive the cheap syntax checks, so that
      // mutations also reach the credential and signature checks.
      unsigned pick = rng() % 10;
      char c = pick < 5   ? alphabet[rng() % alphabet.size()]
               : pick < 9 ? static_cast<char>(0x21 + rng() % 94)
                          : static_cast<char>(rng());
      switch (rng() % 6) {
        case 0: t[at] = c; break;                                  // replace
        case 1: t.insert(t.begin() + at, c); break;                // insert
        case 2: t.erase(at, 1 + rng() % 4); break;                 // delete
        case 3: t.resize(at); break;                               // truncate
        case 4: t.insert(at, t.substr(rng() % t.size(), rng() % 40)); break;  // duplicate
        case 5:                                                    // hex case flip
          if (std::isxdigit(static_cast<unsigned char>(t[at])))
            t[at] = static_cast<char>(std::isupper(static_cast<unsigned char>(t[at]))
                                          ? std::tolower(t[at])
                                          : std::toupper(t[at]));
          break;
      }
    }
    VerifiedQuery vq;
    VerifyResult r = Verify(kCreds, "PUT", "127.0.0.1:8080", t, kNow, &vq);
    if (Meaning(t) == original) {
      ++equivalent;  // e.g. only the case of an escape's hex digits changed
      continue;
    }
    EXPECT_NE(r, VerifyResult::ok) << "forged: " << t;
  }
  // Most mutations change the meaning; the test must actually test something.
  EXPECT_LT(equivalent, 400);
}

// ---------------------------------------------------------------------------
// Cross-check with botocore.

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

struct BotoCase {
  const char* name;
  Credentials creds;
  PresignRequest req;
};

// Runs botocore_presign.py; fails the test (never skips) if it cannot.
std::optional<std::string> BotocorePresign(const BotoCase& c) {
  if (access("/usr/bin/python3", X_OK) != 0) {
    ADD_FAILURE() << "/usr/bin/python3 is missing: the botocore cross-check needs "
                     "Debian's python3 and python3-botocore (scripts/deps.sh)";
    return std::nullopt;
  }
  const PresignRequest& r = c.req;
  std::string cmd = "PYTHONUTF8=1 /usr/bin/python3 " + ShellQuote(BOTOCORE_SCRIPT);
  auto arg = [&](const char* flag, const std::string& v) {
    cmd += ' ';
    cmd += flag;
    cmd += ' ';
    cmd += ShellQuote(v);
  };
  arg("--access-key", c.creds.access_key);
  arg("--secret-key", c.creds.secret_key);
  arg("--region", c.creds.region);
  arg("--service", c.creds.service);
  arg("--method", r.method);
  arg("--scheme", r.scheme);
  arg("--host", r.host);
  arg("--path", r.path);
  arg("--epoch", std::to_string(r.now_ms / 1000));
  arg("--expires", std::to_string(r.expires_s));
  for (const auto& [k, v] : r.extra_query) arg("--param", k + "=" + v);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "botocore_presign.py failed (status " << status
                  << "; exit 3 = botocore not installed: apt-get install python3-botocore, "
                     "see scripts/deps.sh). Command: "
                  << cmd;
    return std::nullopt;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The '&'-separated pieces of a URL's query, sorted.
std::vector<std::string> SortedQueryPieces(const std::string& url) {
  std::vector<std::string> pieces;
  std::string_view q(url);
  q.remove_prefix(url.find('?') + 1);
  while (true) {
    std::size_t amp = q.find('&');
    pieces.emplace_back(q.substr(0, amp));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  std::sort(pieces.begin(), pieces.end());
  return pieces;
}

TEST(SigV4Botocore, SameUrlsAndVerifiesBotocoreUrls) {
  auto make = [](const char* method, const char* scheme, const char* host, const char* path,
                 Params extra, std::int64_t now_ms, std::int64_t expires_s) {
    PresignRequest r;
    r.method = method;
    r.scheme = scheme;
    r.host = host;
    r.path = path;
    r.extra_query = std::move(extra);
    r.now_ms = now_ms;
    r.expires_s = expires_s;
    return r;
  };
  const Credentials ferry{"FERRYACCESSKEY", "s3cr3t/with+chars=", "us-east-1", "s3"};
  const Credentials eu{"AKIAEU", "eu-secret", "eu-central-1", "s3"};
  const std::vector<BotoCase> cases = {
      {"aws-doc-example", kAwsExample,
       make("GET", "https", "examplebucket.s3.amazonaws.com", "/test.txt", {}, k20130524,
            86400)},
      {"path-style-get", ferry,
       make("GET", "http", "127.0.0.1:9000", "/bucket/key", {}, 1700000000000, 3600)},
      {"path-style-put", ferry,
       make("PUT", "http", "127.0.0.1:9000", "/bucket/key", {}, 1700000000000, 900)},
      {"key-needing-encoding", ferry,
       make("PUT", "http", "localhost:8080", "/bucket/a b/ü+x", {}, 1700000000999, 3600)},
      {"odd-key", eu,
       make("GET", "https", "s3.eu-central-1.amazonaws.com",
            "/b/!'()*,;:@$&=[]%~-._/x//y/", {}, 1718000000000, 604800)},
      {"extra-params", ferry,
       make("PUT", "http", "127.0.0.1:8080", "/blobs/abc",
            {{"x-ferry-client", "abc"}, {"x-ferry-size", "1048576"}}, 1700000000000, 3600)},
      {"extra-params-needing-encoding", eu,
       make("GET", "http", "blob.example.com:8443", "/blobs/ü",
            {{"a b", "c/d+e=f&g"}, {"Z", ""}, {"x-ferry-client", "ü~"}}, 1718000000000, 60)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto boto = BotocorePresign(c);
    if (!boto) return;
    const std::string ours = Presign(c.creds, c.req);
    const std::string sig_ours = ours.substr(ours.find("X-Amz-Signature="));
    // (a) Same URL. botocore puts the caller's parameters first, then the
    // X-Amz-* ones in a fixed order, then the signature; ferry writes the
    // canonical (sorted) order, then the signature. Without extra
    // parameters the two orders coincide, so the URLs must be identical;
    // with them, the URLs must agree on everything but the order: same
    // scheme://host/path, same encoded parameters, same signature.
    if (c.req.extra_query.empty()) {
      EXPECT_EQ(ours, *boto);
    } else {
      EXPECT_EQ(ours.substr(0, ours.find('?')), boto->substr(0, boto->find('?')));
      EXPECT_EQ(SortedQueryPieces(ours), SortedQueryPieces(*boto));
      EXPECT_NE(boto->find(sig_ours), std::string::npos) << ours << "\n" << *boto;
    }
    // (b) ferry's Verify accepts botocore's URL.
    auto [origin, target] = SplitUrl(*boto);
    VerifiedQuery vq;
    EXPECT_EQ(Verify(c.creds, c.req.method, c.req.host, target, c.req.now_ms + 1000, &vq),
              VerifyResult::ok)
        << *boto;
    EXPECT_EQ(vq.path, c.req.path);
    EXPECT_EQ(origin, c.req.scheme + "://" + c.req.host);
  }
}

}  // namespace
}  // namespace ferry::sigv4
