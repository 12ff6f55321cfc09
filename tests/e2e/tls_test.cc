// End-to-end TLS: ferryd with --tls-cert/--tls-key serves https and wss on
// its one port, with a self-signed certificate made here by the openssl
// command. The client library trusts it through SSL_CERT_FILE (OpenSSL's
// own variable), as a user with a private CA would.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/digest.h"
#include "e2e/e2e_util.h"
#include "e2e/raw_connection.h"

namespace ferry::testing {
namespace {

namespace fs = std::filesystem;

// A P-256 key and a certificate for 127.0.0.1 (an IP SAN only: a client
// asking for "localhost" must refuse it), in a directory of the test's own.
class Certificate {
 public:
  Certificate() {
    dir_ = fs::temp_directory_path() / ("ferry-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=ferry-test -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key() + " -out " + cert() + " 2>" + (dir_ / "openssl.log").string();
    if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed");
    std::string other = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                        other_key() + " 2>>" + (dir_ / "openssl.log").string();
    if (std::system(other.c_str()) != 0) throw std::runtime_error("openssl genpkey failed");
    // Before the first TLS connection of this process: the client's
    // context reads it once.
    ::setenv("SSL_CERT_FILE", cert().c_str(), 1);
  }
  ~Certificate() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string key() const { return (dir_ / "key.pem").string(); }
  std::string other_key() const { return (dir_ / "other-key.pem").string(); }  // not cert()'s

 private:
  fs::path dir_;
};

const Certificate& TestCertificate() {
  static Certificate certificate;
  return certificate;
}

class Tls : public ::testing::Test {
 protected:
  Tls() : server({"--tls-cert", TestCertificate().cert(), "--tls-key", TestCertificate().key()}) {}
  void SetUp() override { server.Start(); }

  client::Endpoint Plain() const {
    client::Endpoint ep = server.endpoint();
    ep.tls = false;
    return ep;
  }

  FerrydProcess server;
};

TEST_F(Tls, HttpsAndWssCarryAccountsMessagesAndAttachments) {
  ASSERT_TRUE(server.endpoint().tls);
  auto health = client::Http(server.endpoint(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);

  // Register and log in over https, hello and chat over wss.
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  alice->Send(chat, "over TLS");
  json::object m = NextEntry(*bob);
  EXPECT_EQ(Str(m, "body"), "over TLS");

  // A message bigger than one TLS record (16 KiB) arrives whole.
  std::string big(60 * 1000, 'x');
  alice->Send(chat, big);
  EXPECT_EQ(Str(NextEntry(*bob), "body"), big);

  // The blob URLs are https: the upload and the download go through TLS too.
  std::string data(300 * 1024, 'b');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7919 % 251);
  json::object t = alice->Request(json::object{{"type", "attachTarget"},
                                               {"contentType", "application/octet-stream"},
                                               {"size", static_cast<std::int64_t>(data.size())}});
  std::string upload = Str(t, "uploadUrl");
  EXPECT_TRUE(upload.starts_with("https://127.0.0.1:")) << upload;
  EXPECT_EQ(client::PutBytes(upload, data, {{"Content-Type", "application/octet-stream"}}).status,
            200);
  alice->Request(json::object{{"type", "send"},
                              {"chatId", chat},
                              {"clientMsgId", "a1"},
                              {"body", "file"},
                              {"attachments", json::array{json::value(Str(t, "attachmentId"))}}});
  json::object with_file = NextEntry(*bob);
  std::string url = Str(with_file["attachments"].as_array()[0].as_object(), "url");
  auto download = client::GetUrl(url);
  EXPECT_EQ(download.status, 200);
  EXPECT_TRUE(download.raw == data);
}

TEST_F(Tls, PlainHttpOnTheTlsPortIsAnswered400) {
  auto reply = client::Http(Plain(), "GET", "/healthz");
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Str(reply.body.as_object(), "error"), "bad_request");
  EXPECT_NE(Str(reply.body.as_object(), "message").find("TLS"), std::string::npos);
  // A plain WebSocket upgrade gets the same answer: no session.
  EXPECT_THROW(client::WsConnection::Connect(Plain()), client::ConnectionError);
}

TEST_F(Tls, ClientRefusesACertificateForAnotherName) {
  TestCertificate();  // SSL_CERT_FILE is set: the failure is the name, not the issuer
  client::Endpoint by_name = server.endpoint();
  by_name.host = "localhost";  // resolves to 127.0.0.1, but the certificate does not name it
  try {
    client::Http(by_name, "GET", "/healthz");
    FAIL() << "a certificate for another name was accepted";
  } catch (const client::ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS handshake"), std::string::npos) << e.what();
  }
}

TEST_F(Tls, GarbageAfterTheHandshakeByteIsClosedAndTheServerServesOn) {
  raw::RawConnection junk(Plain());
  junk.Write(std::string("\x16\x03\x01\x00\x05hello, not a ClientHello", 29));
  EXPECT_TRUE(junk.WaitEof(5s));  // a TLS alert at most, then the close
  EXPECT_EQ(client::Http(server.endpoint(), "GET", "/healthz").status, 200);
}

TEST_F(Tls, AStalledHandshakeIsClosedAfterTenSeconds) {
  raw::RawConnection stalled(Plain());
  auto start = std::chrono::steady_clock::now();
  stalled.Write(std::string("\x16", 1));  // the first byte of a handshake, then nothing
  EXPECT_TRUE(stalled.WaitEof(20s));
  // Closed by the deadline, not at once.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 9s);
}

TEST(TlsStartup, AMissingOrMismatchedKeyStopsFerrydWithAClearError) {
  const Certificate& certificate = TestCertificate();
  FerrydProcess missing({"--tls-cert", certificate.cert(), "--tls-key", "/nonexistent/key.pem"});
  try {
    missing.Start();
    FAIL() << "ferryd started without its key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--tls-key /nonexistent/key.pem"), std::string::npos)
        << e.what();
  }
  FerrydProcess mismatched(
      {"--tls-cert", certificate.cert(), "--tls-key", certificate.other_key()});
  try {
    mismatched.Start();
    FAIL() << "ferryd started with a key that is not its certificate's";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("mismatch"), std::string::npos) << e.what();
  }
  FerrydProcess half({"--tls-cert", certificate.cert()});
  try {
    half.Start();
    FAIL() << "ferryd started with --tls-cert alone";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--tls-cert and --tls-key go together"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ferry::testing
