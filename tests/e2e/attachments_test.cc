// End-to-end attachments: attachTarget, a direct PUT to the built-in blob
// store with the pre-signed URL, send, per-recipient GET URLs, Range, and
// deletion once every recipient fetched. Plus every refused upload.
#include <chrono>
#include <random>
#include <thread>

#include "blob/sigv4.h"
#include "e2e/e2e_util.h"

namespace ferry::testing {
namespace {

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

using sigv4::Sha256Hex;

std::string Sha256Base64(std::string_view data) {
  std::string b64;
  sigv4::Sha256HexToBase64(Sha256Hex(data), &b64);
  return b64;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

class Attachments : public ::testing::Test {
 protected:
  void SetUp() override {
    server.Start();
    alice = server.NewUser("alice", &la);
    bob = server.NewUser("bob", &lb);
    carol = server.NewUser("carol", &lc);
    chat = alice->CreateChat({"bob", "carol"});
    EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
    EXPECT_EQ(Str(NextEntry(*carol), "event"), "created");
  }

  json::object Target(std::string_view data, const char* type = "image/png", bool with_sha = true) {
    json::object req{{"type", "attachTarget"}, {"contentType", type},
                     {"size", static_cast<std::int64_t>(data.size())}};
    if (with_sha) req["sha256"] = Sha256Hex(data);
    return alice->Request(std::move(req));
  }

  client::HttpReply Put(const json::object& target, std::string_view data,
                        const char* type = "image/png", bool with_sha = true) {
    Headers h{{"Content-Type", type}};
    if (with_sha) h.emplace_back("x-amz-checksum-sha256", Sha256Base64(data));
    return client::PutBytes(Str(target, "uploadUrl"), data, h);
  }

  // Uploads `data` and sends it; returns the attachment id.
  std::string UploadAndSend(std::string_view data) {
    json::object t = Target(data);
    EXPECT_EQ(Put(t, data).status, 200);
    alice->Request(json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", "att"},
                                {"body", "see attached"},
                                {"attachments", json::array{json::value(Str(t, "attachmentId"))}}});
    return Str(t, "attachmentId");
  }

  // Waits (bounded) until a GET of `url` answers `status`.
  bool WaitForStatus(const std::string& url, int status) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (client::GetUrl(url).status == status) return true;
      std::this_thread::sleep_for(50ms);  // polling a condition, bounded by the deadline
    }
    return false;
  }

  FerrydProcess server;
  FerrydProcess::Login la, lb, lc;
  std::unique_ptr<client::Session> alice, bob, carol;
  std::string chat;
};

TEST_F(Attachments, UploadSendDownloadThenDeletedOnceEveryRecipientFetched) {
  std::string data = RandomBytes(300 * 1024, 1);
  std::string id = UploadAndSend(data);

  json::object mb = NextEntry(*bob), mc = NextEntry(*carol);
  ASSERT_EQ(mb["attachments"].as_array().size(), 1u);
  json::object ab = mb["attachments"].as_array()[0].as_object();
  json::object ac = mc["attachments"].as_array()[0].as_object();
  EXPECT_EQ(Str(ab, "attachmentId"), id);
  EXPECT_EQ(Str(ab, "contentType"), "image/png");
  EXPECT_EQ(Int(ab, "size"), static_cast<std::int64_t>(data.size()));
  EXPECT_EQ(Str(ab, "sha256"), Sha256Hex(data));  // Ferry addition: the announced checksum
  EXPECT_NE(Str(ab, "url"), Str(ac, "url"));      // minted per recipient client

  // A Range read is served but is not a fetch.
  auto part = client::GetUrl(Str(ab, "url"), {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.raw, data.substr(10, 10));
  auto bad_range = client::GetUrl(Str(ab, "url"), {{"Range", "bytes=999999999-"}});
  EXPECT_EQ(bad_range.status, 416);

  auto full = client::GetUrl(Str(ab, "url"));
  EXPECT_EQ(full.status, 200);
  EXPECT_TRUE(full.raw == data);
  // carol has not fetched yet: the blob stays.
  EXPECT_EQ(client::GetUrl(Str(ab, "url")).status, 200);
  auto carols = client::GetUrl(Str(ac, "url"));
  EXPECT_EQ(carols.status, 200);
  EXPECT_TRUE(carols.raw == data);
  // Now everyone has it: gone (within 10 s by contract).
  EXPECT_TRUE(WaitForStatus(Str(ac, "url"), 404));
}

TEST_F(Attachments, AckingDoesNotDeleteTheBlob) {
  std::string data = "tiny";
  UploadAndSend(data);
  json::object mb = NextEntry(*bob);
  bob->Request(json::object{{"type", "ack"}, {"upTo", Int(mb, "seq")}});
  std::string url = Str(mb["attachments"].as_array()[0].as_object(), "url");
  EXPECT_EQ(client::GetUrl(url).raw, data);
}

TEST_F(Attachments, RefusedUploadsStoreNothingAndTheUrlStaysUsable) {
  std::string data = RandomBytes(4096, 2);
  json::object t = Target(data);
  std::string url = Str(t, "uploadUrl");
  Headers ok_headers{{"Content-Type", "image/png"}, {"x-amz-checksum-sha256", Sha256Base64(data)}};

  // Tampered signature.
  std::string tampered = url;
  char& last = tampered.back();
  last = last == '0' ? '1' : '0';
  EXPECT_EQ(client::PutBytes(tampered, data, ok_headers).status, 403);
  // Wrong length, either way.
  EXPECT_EQ(client::PutBytes(url, data + "xx", ok_headers).status, 400);
  EXPECT_EQ(client::PutBytes(url, data.substr(1), ok_headers).status, 400);
  // No length (chunked).
  EXPECT_EQ(client::PutBytes(url, data, ok_headers, 10s, /*chunked=*/true).status, 411);
  // Announced length, fewer bytes, then the client gives up: no response
  // can come (the server waits for the rest), the upload is dropped.
  try {
    client::PutBytes(url, data.substr(0, 100), ok_headers, 1s, false, data.size());
  } catch (const client::ConnectionError&) {
  }
  // Right length, wrong bytes: the checksum catches it. (Until the server
  // has seen the dropped connection, it says 429: upload in progress.)
  std::string other = RandomBytes(4096, 3);
  int status = 429;
  for (int i = 0; i < 200 && status == 429; ++i) {
    status = client::PutBytes(url, other, ok_headers).status;
    if (status == 429) std::this_thread::sleep_for(20ms);  // bounded retry on a condition
  }
  EXPECT_EQ(status, 400);
  // Missing checksum header when a sha256 was announced; wrong content type.
  EXPECT_EQ(client::PutBytes(url, data, {{"Content-Type", "image/png"}}).status, 400);
  EXPECT_EQ(client::PutBytes(url, data,
                             {{"Content-Type", "text/plain"},
                              {"x-amz-checksum-sha256", Sha256Base64(data)}})
                .status,
            400);

  // Nothing was stored: sending it is refused as not uploaded.
  ExpectError(*alice,
              json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", "x1"}, {"body", ""},
                           {"attachments", json::array{json::value(Str(t, "attachmentId"))}}},
              "bad_request");

  // The URL still works; after success a replay is refused.
  EXPECT_EQ(client::PutBytes(url, data, ok_headers).status, 200);
  EXPECT_EQ(client::PutBytes(url, data, ok_headers).status, 403);
}

TEST_F(Attachments, PathTraversalAndForeignKeysAreRefused) {
  std::string data = "abc";
  json::object t = Target(data);
  std::string url = Str(t, "uploadUrl");
  std::string key = Str(t, "attachmentId");
  std::string traversal = url;
  traversal.replace(traversal.find(key), key.size(), "..%2F..%2Fferry.db");
  int status = client::PutBytes(traversal, data, {{"Content-Type", "image/png"}}).status;
  EXPECT_GE(status, 400);
  EXPECT_LT(status, 500);
  std::string dotdot = url;
  dotdot.replace(dotdot.find("/blobs/"), 7, "/blobs/../");
  status = client::PutBytes(dotdot, data, {{"Content-Type", "image/png"}}).status;
  EXPECT_GE(status, 400);
  EXPECT_LT(status, 500);
}

TEST_F(Attachments, GetByNonRecipientIsRefused) {
  UploadAndSend("secret");
  json::object mb = NextEntry(*bob);
  std::string url = Str(mb["attachments"].as_array()[0].as_object(), "url");
  // Re-pointing bob's URL at alice's client breaks the signature.
  std::string forged = url;
  auto pos = forged.find(lb.client_id);
  ASSERT_NE(pos, std::string::npos);
  forged.replace(pos, lb.client_id.size(), la.client_id);
  EXPECT_EQ(client::GetUrl(forged).status, 403);
  int status = client::GetUrl(url + "x").status;  // not a signature any more
  EXPECT_GE(status, 400);
  EXPECT_LT(status, 500);
}

TEST_F(Attachments, SendAcceptsOnlyOwnUploadedUnsentIds) {
  std::string data = "payload";
  json::object t = Target(data);
  json::array ids{json::value(Str(t, "attachmentId"))};
  auto send = [&](client::Session& s, const char* cmid) {
    return s.Call(json::object{{"type", "send"}, {"chatId", chat}, {"clientMsgId", cmid},
                               {"body", ""}, {"attachments", ids}});
  };
  EXPECT_EQ(Str(send(*alice, "a1"), "code"), "bad_request");  // not uploaded yet
  ASSERT_EQ(Put(t, data).status, 200);
  EXPECT_EQ(Str(send(*bob, "b1"), "code"), "not_found");       // someone else's
  EXPECT_EQ(Str(send(*alice, "a2"), "type"), "ok");
  EXPECT_EQ(Str(send(*alice, "a3"), "code"), "bad_request");  // already sent
  ids = json::array{json::value("AAAAAAAAAAAAAAAAAAAAAA")};
  EXPECT_EQ(Str(send(*alice, "a4"), "code"), "not_found");    // unknown
}

TEST_F(Attachments, TargetValidation) {
  ExpectError(*alice,
              json::object{{"type", "attachTarget"}, {"contentType", "image/png"},
                           {"size", std::int64_t{101} * 1024 * 1024}},
              "too_large");
  ExpectError(*alice,
              json::object{{"type", "attachTarget"}, {"contentType", "image/png"}, {"size", 5},
                           {"sha256", "xyz"}},
              "bad_request");
  ExpectError(*alice,
              json::object{{"type", "attachTarget"}, {"contentType", "bad\ntype"}, {"size", 5}},
              "bad_request");
  json::object t = alice->Request(
      json::object{{"type", "attachTarget"}, {"contentType", "text/plain"}, {"size", 0}});
  EXPECT_FALSE(Str(t, "attachmentId").empty());
  EXPECT_GT(Int(t, "expiresAt"), 0);
  EXPECT_NE(Str(t, "uploadUrl").find("X-Amz-Signature="), std::string::npos);
}

TEST(AttachmentsExpiry, UploadUrlStopsWorkingAfterItsTtl) {
  FerrydProcess server({"--upload-url-ttl", "1"});
  server.Start();
  auto alice = server.NewUser("alice");
  json::object t = alice->Request(
      json::object{{"type", "attachTarget"}, {"contentType", "text/plain"}, {"size", 2}});
  // Wait until expiresAt has passed (the condition under test is time itself).
  auto now_ms = [] { return std::chrono::system_clock::now().time_since_epoch() / 1ms; };
  ASSERT_LE(Int(t, "expiresAt") - now_ms(), 1000);
  while (now_ms() < Int(t, "expiresAt") + 50) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(client::PutBytes(Str(t, "uploadUrl"), "hi", {{"Content-Type", "text/plain"}}).status,
            403);
}

}  // namespace
}  // namespace ferry::testing
