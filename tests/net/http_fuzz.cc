// libFuzzer target for ferryd's HTTP request reading: beast's request
// parser with the limits net/http.cc sets, over a beast test stream instead
// of a socket, reading requests one after another on one connection as
// HttpSession does — the header first (16 KiB header limit, no body limit
// yet), a Content-Length over the JSON body limit refused, then the body
// into memory with that limit — until an error, a connection that is not
// kept alive or a WebSocket upgrade of /v1/ws. Each target is split into
// path and query as the router does, and parsed with Boost.URL's
// parse_origin_form. (Blob uploads, whose bodies stream to a file with a
// limit of their announced size, are read as JSON bodies here.)
//
// Input: byte 0 caps the bytes one read of the test stream returns (0: no
// cap), so requests arrive split anywhere; the rest are the client's
// bytes, then EOF.
// Checks: no crash or sanitizer report; no header read past the header
// limit; no body over the body limit; where Boost.URL parses the target,
// its path and query are the router's split; every read completes.
// Built as a fuzzer with clang (target http_fuzz); everywhere
// http_fuzz_smoke.cc runs it in http_fuzz_test.
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace urls = boost::urls;

// HttpSession::DoRead's header limit.
constexpr std::size_t kHeaderLimit = 16 * 1024;

// The router's split (Dispatch in net/http.cc) against Boost.URL's.
void CheckTarget(std::string_view target) {
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  auto parsed = urls::parse_origin_form(target);
  if (!parsed) return;
  if (parsed->encoded_path() != path || parsed->has_query() != (q != std::string_view::npos)) {
    std::abort();
  }
  if (parsed->has_query() && parsed->encoded_query() != target.substr(q + 1)) std::abort();
  for (auto segment : parsed->segments()) static_cast<void>(segment);  // decodes each
  for (auto param : parsed->params()) static_cast<void>(param);
}

class Session {
 public:
  Session(asio::io_context& ioc, std::size_t body_limit) : stream_(ioc), body_limit_(body_limit) {}

  beast::test::stream& socket() { return stream_; }
  void Start() { DoRead(); }
  bool Idle() const { return !reading_; }

 private:
  // As HttpSession::DoRead / OnHeader / OnRead.
  void DoRead() {
    header_parser_.emplace();
    header_parser_->header_limit(kHeaderLimit);
    header_parser_->body_limit(boost::none);
    reading_ = true;
    http::async_read_header(stream_, buffer_, *header_parser_,
                            [this](beast::error_code ec, std::size_t n) {
                              reading_ = false;
                              OnHeader(ec, n);
                            });
  }

  void OnHeader(beast::error_code ec, std::size_t header_bytes) {
    if (ec) return;
    if (header_bytes > kHeaderLimit) std::abort();
    CheckTarget(header_parser_->get().target());
    auto length = header_parser_->content_length();
    if (length && *length > body_limit_) return;  // 413, connection closed
    parser_.emplace(std::move(*header_parser_));
    header_parser_.reset();
    parser_->body_limit(body_limit_);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_, [this](beast::error_code e, std::size_t) {
      reading_ = false;
      OnRead(e);
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) return;
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    if (req.body().size() > body_limit_) std::abort();
    std::string_view target = req.target();
    if (beast::websocket::is_upgrade(req) && target.substr(0, target.find('?')) == "/v1/ws") {
      return;  // the connection is the WebSocket session's now
    }
    if (!req.keep_alive()) return;
    DoRead();
  }

  beast::test::stream stream_;
  std::size_t body_limit_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool reading_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  asio::io_context ioc;
  Session session(ioc, ferry::Config{}.max_http_body_bytes);
  if (data[0] > 0) session.socket().read_size(data[0]);
  session.socket().append(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  session.socket().close_remote();
  session.Start();
  while (ioc.poll() > 0) {
  }
  if (!session.Idle()) std::abort();  // a read waits although the input ended
  return 0;
}
