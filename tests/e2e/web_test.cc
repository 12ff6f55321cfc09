// End-to-end tests of issue 12's server side: ferryd serves the web client's
// files at / (only the files of the web root, read at start, with their
// types, caching and security headers), --web-root and --no-web, CORS on
// /v1/* for allowed origins and on blob URLs for any, and the WebSocket
// upgrade's Origin check.
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/e2e_util.h"
#include "e2e/raw_connection.h"

namespace ferry::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndex = "<!doctype html><title>Ferry test</title>\n";
constexpr std::string_view kScript = "console.log('ferry');\n";
constexpr std::string_view kStyle = "body{margin:0}\n";
constexpr std::string_view kIcon = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";

void WriteFile(const std::string& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
}

// A web root in a temporary directory, laid out as web/dist is, beside what
// must never be served: a dotfile, a dot directory, and symlinks to a file
// and a directory outside the root.
class TempWebRoot {
 public:
  TempWebRoot() {
    std::string tmpl = (fs::temp_directory_path() / "ferry-web-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    base_ = tmpl;
    root_ = base_ + "/root";
    fs::create_directories(root_ + "/assets");
    fs::create_directories(root_ + "/.hidden");
    fs::create_directories(base_ + "/outside-dir");
    Add("index.html", kIndex);
    Add("assets/app-abc.js", kScript);
    Add("assets/app-abc.css", kStyle);
    Add("icon.svg", kIcon);
    Add("site.webmanifest", "{}");
    Add(".secret", "a dotfile");
    Add(".hidden/inside.txt", "in a dot directory");
    WriteFile(base_ + "/outside.txt", "outside the root");
    WriteFile(base_ + "/outside-dir/file.txt", "outside the root");
    fs::create_symlink(base_ + "/outside.txt", root_ + "/link-out.txt");
    fs::create_directory_symlink(base_ + "/outside-dir", root_ + "/assets/dir-out");
  }
  ~TempWebRoot() {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  const std::string& path() const { return root_; }
  void Add(const std::string& name, std::string_view content) {
    WriteFile(root_ + "/" + name, content);
  }

 private:
  std::string base_;  // holds the root and what lies outside it
  std::string root_;
};

// One HTTP exchange on a fresh connection.
struct Answer {
  std::string status;  // the status line; "" on timeout
  std::string body;
  std::unique_ptr<RawConnection> conn;  // still open, for its head or a next request

  std::string Header(std::string_view name) const { return conn ? conn->Header(name) : ""; }
};

// Sends `request` and reads the answer; its body by Content-Length unless
// `read_body` is false (HEAD, 304: a body is not expected).
Answer Fetch(const FerrydProcess& server, const std::string& request, bool read_body = true) {
  Answer a;
  a.status = Ask(server.endpoint(), "", request, &a.conn);
  if (!a.status.empty() && read_body) a.body = a.conn->ReadBody(10s).value_or("<timed out>");
  return a;
}

Answer Get(const FerrydProcess& server, std::string_view target, std::string_view headers = "") {
  return Fetch(server, HttpRequestText("GET", target, "", headers));
}

// The `error` of a JSON error body.
std::string ErrorCode(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return !ec && v.is_object() ? Str(v.as_object(), "error")
                              : "<not json: " + std::string(body) + ">";
}

// The next request on `a`'s connection answers first: nothing of a body
// was left between the two answers.
void ExpectNothingAfterTheHead(Answer& a) {
  ASSERT_TRUE(a.conn);
  a.conn->Write(HttpRequestText("GET", "/healthz"));
  EXPECT_EQ(a.conn->ReadResponseHead(10s), "HTTP/1.1 200 OK");
}

// The directive `name` of a Content-Security-Policy, as written ("" if absent).
std::string Directive(std::string_view csp, std::string_view name) {
  for (std::size_t at = 0; at < csp.size();) {
    std::size_t end = std::min(csp.find(';', at), csp.size());
    std::string_view d = csp.substr(at, end - at);
    while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
    if (d.starts_with(std::string(name) + " ")) return std::string(d);
    at = end + 1;
  }
  return {};
}

// The value of header `name`, in any case, of `r`; "" if absent.
std::string ReplyHeader(const client::HttpReply& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
  }
  return {};
}

class WebClient : public ::testing::Test {
 protected:
  void SetUp() override { server.Start(); }

  TempWebRoot web;
  FerrydProcess server{{"--web-root", web.path()}};
};

constexpr std::string_view kRevalidate = "no-cache";
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";

// `a` is a 200 with a file of the web root: its body, type and caching.
void ExpectFile(const Answer& a, std::string_view body, std::string_view type,
                std::string_view cache) {
  EXPECT_EQ(a.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(a.body, body);
  EXPECT_EQ(a.Header("Content-Type"), type);
  EXPECT_EQ(a.Header("Cache-Control"), cache);
  EXPECT_EQ(a.Header("X-Content-Type-Options"), "nosniff");
}

TEST_F(WebClient, TheIndexIsServedAtTheRootWithItsHeaders) {
  Answer a = Get(server, "/");
  ExpectFile(a, kIndex, "text/html; charset=utf-8", kRevalidate);
  EXPECT_EQ(a.Header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(a.Header("X-Frame-Options"), "DENY");
  std::string etag = a.Header("ETag");
  EXPECT_TRUE(etag.size() > 2 && etag.front() == '"' && etag.back() == '"')
      << "a strong ETag: " << etag;

  Answer named = Get(server, "/index.html");
  EXPECT_EQ(named.body, kIndex);
  EXPECT_EQ(named.Header("ETag"), etag);
  EXPECT_EQ(Get(server, "/?from=bookmark").body, kIndex);
}

TEST_F(WebClient, FilesHaveTheirTypesAndHashedAssetsAreCachedForever) {
  ExpectFile(Get(server, "/assets/app-abc.js"), kScript, "text/javascript; charset=utf-8",
             kImmutable);
  ExpectFile(Get(server, "/assets/app-abc.css"), kStyle, "text/css; charset=utf-8", kImmutable);
  // Outside /assets/ names are not content-hashed: revalidated every time.
  ExpectFile(Get(server, "/icon.svg"), kIcon, "image/svg+xml", kRevalidate);
  ExpectFile(Get(server, "/site.webmanifest"), "{}", "application/manifest+json", kRevalidate);
}

TEST_F(WebClient, TheIndexRevalidatesWithItsETag) {
  std::string etag = Get(server, "/").Header("ETag");
  ASSERT_FALSE(etag.empty());
  for (std::string matching : {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
    Answer a = Fetch(server, HttpRequestText("GET", "/", "", "If-None-Match: " + matching + "\r\n"),
                     /*read_body=*/false);
    EXPECT_EQ(a.status, "HTTP/1.1 304 Not Modified") << matching;
    EXPECT_EQ(a.Header("ETag"), etag);
    EXPECT_EQ(a.Header("Cache-Control"), kRevalidate);
    ExpectNothingAfterTheHead(a);
  }
  Answer changed = Get(server, "/", "If-None-Match: \"not-the-etag\"\r\n");
  EXPECT_EQ(changed.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(changed.body, kIndex);
}

TEST_F(WebClient, HeadAnswersTheHeadersWithoutTheBody) {
  Answer a = Fetch(server, HttpRequestText("HEAD", "/"), /*read_body=*/false);
  EXPECT_EQ(a.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(a.Header("Content-Length"), std::to_string(kIndex.size()));
  EXPECT_EQ(a.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_FALSE(a.Header("ETag").empty());
  ExpectNothingAfterTheHead(a);
}

TEST_F(WebClient, TheCspAllowsOnlyWhatTheAppNeeds) {
  // HttpRequestText's Host is "test": the page's origin is http://test, and
  // blob URLs point at the listen address (the default --public-url).
  std::string csp = Get(server, "/").Header("Content-Security-Policy");
  for (std::string_view directive :
       {"default-src 'none'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' blob: data:", "media-src 'self' blob:", "font-src 'self'",
        "manifest-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"}) {
    EXPECT_EQ(Directive(csp, directive.substr(0, directive.find(' '))), directive) << csp;
  }
  std::string listen = "127.0.0.1:" + std::to_string(server.endpoint().port);
  EXPECT_EQ(Directive(csp, "connect-src"), "connect-src 'self' http://" + listen + " ws://test")
      << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;

  // Opened at the listen address itself, 'self' covers the blob URLs.
  Answer same = Fetch(server, "GET / HTTP/1.1\r\nHost: " + listen + "\r\n\r\n");
  EXPECT_EQ(Directive(same.Header("Content-Security-Policy"), "connect-src"),
            "connect-src 'self' ws://" + listen);

  // A Host header is the client's to write: it cannot add to the policy.
  Answer forged = Fetch(server, "GET / HTTP/1.1\r\nHost: test; script-src *\r\n\r\n");
  std::string forged_csp = forged.Header("Content-Security-Policy");
  EXPECT_EQ(forged.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(Directive(forged_csp, "script-src"), "script-src 'self'") << forged_csp;
  EXPECT_EQ(forged_csp.find('*'), std::string::npos) << forged_csp;
}

TEST(WebClientCsp, ConnectSrcNamesThePublicUrlsOrigin) {
  TempWebRoot web;
  FerrydProcess server({"--web-root", web.path(), "--public-url", "http://blobs.example:9000"});
  server.Start();
  std::string csp = Get(server, "/").Header("Content-Security-Policy");
  EXPECT_EQ(Directive(csp, "connect-src"), "connect-src 'self' http://blobs.example:9000 ws://test")
      << csp;
}

TEST_F(WebClient, OnlyTheLoadedFilesCanBeReached) {
  EXPECT_EQ(Get(server, "/assets/app-abc.js").status, "HTTP/1.1 200 OK");  // the control
  for (const char* target :
       {"/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt",
        "/assets/%2e%2e/%2e%2e/outside.txt", "/..%2foutside.txt", "/.secret", "/.hidden/inside.txt",
        "/link-out.txt", "/assets/dir-out/file.txt", "/assets", "/assets/", "//index.html",
        "/index.html/", "/assets/app-abc.js%00", "/nothing.js"}) {
    Answer a = Get(server, target);
    EXPECT_EQ(a.status, "HTTP/1.1 404 Not Found") << target;
    EXPECT_EQ(ErrorCode(a.body), "not_found") << target;
  }
}

TEST_F(WebClient, OtherMethodsAre405) {
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    for (const char* target : {"/", "/assets/app-abc.js"}) {
      Answer a = Fetch(server, HttpRequestText(method, target, "{}"));
      EXPECT_EQ(a.status, "HTTP/1.1 405 Method Not Allowed") << method << " " << target;
      EXPECT_EQ(a.Header("Allow"), "GET, HEAD");
      EXPECT_EQ(ErrorCode(a.body), "method_not_allowed");
    }
  }
  EXPECT_EQ(Fetch(server, HttpRequestText("POST", "/nothing", "{}")).status,
            "HTTP/1.1 404 Not Found");
}

TEST(WebClientFlags, NoWebAnswers404AtTheRoot) {
  FerrydProcess server({"--no-web"});
  server.Start();
  Answer a = Get(server, "/");
  EXPECT_EQ(a.status, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(ErrorCode(a.body), "not_found");
  EXPECT_EQ(Get(server, "/healthz").status, "HTTP/1.1 200 OK");
}

// ferryd refuses to start, exiting non-zero with a log line holding `needles`.
void ExpectStartRefused(std::vector<std::string> args, std::vector<std::string> needles) {
  FerrydProcess server(std::move(args));
  EXPECT_THROW(server.Start(), std::runtime_error);
  int status = server.start_exit_status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "status " << status;
  std::string log = server.LogTail();
  for (const std::string& needle : needles) {
    EXPECT_NE(log.find(needle), std::string::npos) << "no '" << needle << "' in:\n" << log;
  }
}

TEST(WebClientFlags, AMissingWebRootStopsTheStart) {
  ExpectStartRefused({"--web-root", "/nonexistent/ferry-web"},
                     {"web root /nonexistent/ferry-web", "no such directory"});
}

TEST(WebClientFlags, AWebRootWithoutIndexStopsTheStart) {
  TempWebRoot web;
  fs::remove(web.path() + "/index.html");
  ExpectStartRefused({"--web-root", web.path()}, {"web root " + web.path(), "no index.html"});
}

TEST(WebClientFlags, AWebRootOverItsLimitStopsTheStart) {
  TempWebRoot web;
  // Sparse: it takes no disk, and ferryd must refuse it before reading it.
  std::ofstream(web.path() + "/big.bin");
  fs::resize_file(web.path() + "/big.bin", 33 * 1024 * 1024);
  ExpectStartRefused({"--web-root", web.path()}, {"web root " + web.path(), "more than 32 MiB"});
}

TEST(WebClientFlags, NoWebAndWebRootExcludeEachOther) {
  TempWebRoot web;
  ExpectStartRefused({"--no-web", "--web-root", web.path()},
                     {"--no-web and --web-root exclude each other"});
}

// ---- CORS ----

constexpr std::string_view kPreflightPost =
    "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n";

TEST(Cors, APreflightFromAnAllowedOriginIsAnswered) {
  FerrydProcess server({"--allowed-origins", "https://app.example"});
  server.Start();
  // The page's own origin (HttpRequestText's Host is "test"), and a listed one.
  for (std::string origin : {"http://test", "https://app.example"}) {
    Answer a =
        Fetch(server, HttpRequestText("OPTIONS", "/v1/login", "",
                                      "Origin: " + origin + "\r\n" + std::string(kPreflightPost)));
    EXPECT_EQ(a.status, "HTTP/1.1 204 No Content") << origin;
    EXPECT_EQ(a.Header("Access-Control-Allow-Origin"), origin);
    EXPECT_EQ(a.Header("Vary"), "Origin");
    EXPECT_EQ(a.Header("Access-Control-Allow-Methods"), "GET, POST, DELETE");
    EXPECT_EQ(a.Header("Access-Control-Allow-Headers"), "Authorization, Content-Type");
    EXPECT_EQ(a.Header("Access-Control-Max-Age"), "600");
    EXPECT_EQ(a.Header("Access-Control-Allow-Credentials"), "");
  }
}

TEST(Cors, APreflightFromAForeignOriginIsRefused) {
  FerrydProcess server({"--allowed-origins", "https://app.example"});
  server.Start();
  for (std::string origin : {"https://evil.example", "null", "http://test.evil.example"}) {
    Answer a =
        Fetch(server, HttpRequestText("OPTIONS", "/v1/login", "",
                                      "Origin: " + origin + "\r\n" + std::string(kPreflightPost)));
    EXPECT_EQ(a.status, "HTTP/1.1 403 Forbidden") << origin;
    EXPECT_EQ(ErrorCode(a.body), "forbidden");
    EXPECT_EQ(a.Header("Access-Control-Allow-Origin"), "");
    EXPECT_EQ(a.Header("Access-Control-Allow-Methods"), "");
  }
}

TEST(Cors, AnAllowedOriginMayReadTheAnswers) {
  FerrydProcess server;
  server.Start();
  server.Register("alice");
  std::string login = json::serialize(
      json::object{{"user", "alice"}, {"password", "password123"}, {"device", "web"}});
  Answer ok = Fetch(server, HttpRequestText("POST", "/v1/login", login, "Origin: http://test\r\n"));
  EXPECT_EQ(ok.status, "HTTP/1.1 200 OK");
  EXPECT_EQ(ok.Header("Access-Control-Allow-Origin"), "http://test");
  EXPECT_EQ(ok.Header("Vary"), "Origin");
  EXPECT_EQ(ok.Header("Access-Control-Allow-Credentials"), "");
  // Errors too: the app shows them.
  std::string wrong = json::serialize(
      json::object{{"user", "alice"}, {"password", "wrong-password"}, {"device", "web"}});
  Answer refused =
      Fetch(server, HttpRequestText("POST", "/v1/login", wrong, "Origin: http://test\r\n"));
  EXPECT_EQ(refused.status, "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(refused.Header("Access-Control-Allow-Origin"), "http://test");
  // No Origin (not a browser): no CORS headers.
  EXPECT_EQ(Fetch(server, HttpRequestText("POST", "/v1/login", login))
                .Header("Access-Control-Allow-Origin"),
            "");
}

// A form on another site can POST without a preflight; ferryd refuses it
// instead of acting on it unseen (here: registering an account).
TEST(Cors, AForeignOriginsRequestIsRefusedUnserved) {
  FerrydProcess server;
  server.Start();
  std::string body =
      json::serialize(json::object{{"user", "mallory"}, {"password", "password123"}});
  Answer a = Fetch(
      server, HttpRequestText("POST", "/v1/register", body, "Origin: https://evil.example\r\n"));
  EXPECT_EQ(a.status, "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(ErrorCode(a.body), "forbidden");
  EXPECT_EQ(a.Header("Access-Control-Allow-Origin"), "");
  EXPECT_NO_THROW(server.Register("mallory")) << "the refused request registered nobody";
}

// Blob URLs are capabilities, and --public-url may be another origin than
// the page's: any origin may use them.
TEST(Cors, BlobUrlsAnswerAnyOrigin) {
  FerrydProcess server;
  server.Start();
  auto alice = server.NewUser("alice");
  auto bob = server.NewUser("bob");
  std::string chat = alice->CreateChat({"bob"});
  NextEntry(*bob);  // created
  std::string data = "attachment bytes";
  json::object target = alice->AttachTarget("text/plain", data.size());
  std::string url = Str(target, "uploadUrl");
  const std::pair<std::string, std::string> origin{"Origin", "http://localhost:5173"};

  client::HttpReply preflight =
      client::GetUrl(url,
                     {origin,
                      {"Access-Control-Request-Method", "PUT"},
                      {"Access-Control-Request-Headers", "content-type,x-amz-checksum-sha256"}},
                     10s, "OPTIONS");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Allow-Methods"), "GET, HEAD, PUT");
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Allow-Headers"),
            "Content-Type, x-amz-checksum-sha256, Range");
  EXPECT_EQ(ReplyHeader(preflight, "Access-Control-Max-Age"), "600");

  // A refusal is readable too; the signature still decides.
  std::string tampered = url;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  client::HttpReply forged =
      client::PutBytes(tampered, data, {origin, {"Content-Type", "text/plain"}});
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(ReplyHeader(forged, "Access-Control-Allow-Origin"), "*");

  client::HttpReply put = client::PutBytes(url, data, {origin, {"Content-Type", "text/plain"}});
  EXPECT_EQ(put.status, 200) << put.raw;
  EXPECT_EQ(ReplyHeader(put, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(ReplyHeader(put, "Access-Control-Expose-Headers"),
            "Content-Length, Content-Range, ETag");

  alice->Send(chat, "file", "m1", {Str(target, "attachmentId")});
  json::object entry = NextEntry(*bob);
  std::string download = Str(entry["attachments"].as_array()[0].as_object(), "url");
  client::HttpReply part = client::GetUrl(download, {origin, {"Range", "bytes=0-9"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.raw, data.substr(0, 10));
  EXPECT_EQ(ReplyHeader(part, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(ReplyHeader(part, "Access-Control-Expose-Headers"),
            "Content-Length, Content-Range, ETag");
}

// Cross-site WebSocket hijacking: a page on another origin is refused at the
// upgrade, before any session exists; the page's own origin is served.
TEST(Cors, AForeignOriginCannotOpenAWebSocket) {
  FerrydProcess server;
  server.Start();
  const client::Endpoint& ep = server.endpoint();
  auto upgrade = [&](const std::string& origin, std::unique_ptr<RawConnection>* c) {
    std::string request = UpgradeRequest(ep);
    request.insert(request.size() - 2, "Origin: " + origin + "\r\n");
    return Ask(ep, "", request, c);
  };
  std::unique_ptr<RawConnection> foreign;
  EXPECT_EQ(upgrade("https://evil.example", &foreign), "HTTP/1.1 403 Forbidden");
  EXPECT_TRUE(foreign->WaitEof(5s)) << "the refused connection is closed";
  EXPECT_EQ(Metric(server, "ferry_connections_total"), 0) << "no WebSocket session was made";

  std::unique_ptr<RawConnection> own;
  EXPECT_EQ(upgrade("http://" + ep.host + ":" + std::to_string(ep.port), &own),
            "HTTP/1.1 101 Switching Protocols");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (Metric(server, "ferry_connections_total") != 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling a condition, bounded by the deadline
  }
  EXPECT_EQ(Metric(server, "ferry_connections_total"), 1);
}

}  // namespace
}  // namespace ferry::testing
