// Every blocking call here runs the object's private io_context until its
// async operation completes or the deadline passes, so each call has a
// timeout while the code reads top to bottom. (The HTTP exchanges run one
// write and one read at a time; see Exchange.)
#include "client/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/digest.h"

namespace ferry::client {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

Endpoint ParseServer(std::string_view url) {
  Endpoint ep;
  bool has_scheme = false;
  for (std::string_view scheme : {"http://", "ws://", "https://", "wss://"}) {
    if (url.starts_with(scheme)) {
      url.remove_prefix(scheme.size());
      ep.tls = scheme.starts_with("https") || scheme.starts_with("wss");
      has_scheme = true;
      break;
    }
  }
  url = url.substr(0, url.find('/'));
  auto colon = url.rfind(':');
  if (colon == 0 || url.empty() || (colon == std::string_view::npos && !has_scheme)) {
    throw std::invalid_argument(
        "server must be HOST:PORT, http[s]://HOST[:PORT] or ws[s]://HOST[:PORT]");
  }
  if (colon == std::string_view::npos) {
    ep.host = std::string(url);
    ep.port = ep.tls ? 443 : 80;
    return ep;
  }
  ep.host = std::string(url.substr(0, colon));
  std::string_view port = url.substr(colon + 1);
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("bad port in server address");
  }
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

namespace {

// Runs `ioc` until `done` or the deadline; true if done.
bool RunUntil(asio::io_context& ioc, const bool& done, SteadyClock::time_point deadline) {
  ioc.restart();
  while (!done) {
    auto now = SteadyClock::now();
    if (now >= deadline) return false;
    if (ioc.run_one_for(deadline - now) == 0 && ioc.stopped()) ioc.restart();
  }
  return true;
}

tcp::resolver::results_type Resolve(asio::io_context& ioc, const Endpoint& server) {
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(server.host, std::to_string(server.port), ec);
  if (ec) throw ConnectionError("cannot resolve " + server.host + ": " + ec.message());
  return results;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One for the process: trusts what OpenSSL trusts by default (the system's
// store, or SSL_CERT_FILE / SSL_CERT_DIR).
asio::ssl::context& ClientTlsContext() {
  static asio::ssl::context* context = [] {
    auto* c = new asio::ssl::context(asio::ssl::context::tls_client);
    c->set_default_verify_paths();
    c->set_verify_mode(asio::ssl::verify_peer);
    return c;
  }();
  return *context;
}

// After the TCP connect of a TLS stream: the handshake, with the server's
// certificate checked against `server.host`. Plain streams: nothing.
template <class Stream>
void Handshake(asio::io_context& ioc, Stream& stream, const Endpoint& server,
               SteadyClock::time_point deadline) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    boost::system::error_code ec;
    asio::ip::make_address(server.host, ec);
    // SNI names a host, never an address (RFC 6066).
    if (ec && !SSL_set_tlsext_host_name(stream.native_handle(), server.host.c_str())) {
      throw ConnectionError("TLS: cannot set the server name " + server.host);
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(server.host));
    bool done = false;
    stream.async_handshake(asio::ssl::stream_base::client, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, done, deadline) || ec) {
      boost::system::error_code ignored;
      beast::get_lowest_layer(stream).socket().close(ignored);
      ioc.restart();
      ioc.run_for(std::chrono::seconds(1));
      throw ConnectionError("TLS handshake with " + server.host +
                            " failed: " + (done ? ec.message() : std::string("timeout")));
    }
  }
}

}  // namespace

namespace {

// What to do with a response body.
struct ResponseSpec {
  bool head = false;                     // a HEAD request: no body follows the header
  boost::optional<std::uint64_t> limit;  // body size limit (none: unlimited)
  const std::string* file = nullptr;     // a 2xx body goes into this file
};

constexpr std::uint64_t kInMemoryLimit = 64ull << 20;  // JSON and error bodies

[[noreturn]] void ThrowIo(const std::string& what, boost::system::error_code ec) {
  throw ConnectionError(what + ": " + (ec ? ec.message() : std::string("timeout")));
}

std::string HostPort(const Endpoint& server) {
  return server.host + ":" + std::to_string(server.port);
}

// Sends `req` on a fresh connection and reads the response as `spec` says,
// everything before `timeout`. The response is read while the request is
// still being written: a server may answer (and close) before it has read the
// whole body, and that answer is what the caller wants to see.
template <class Body, class Stream>
HttpReply ExchangeOn(asio::io_context& ioc, Stream& stream, const Endpoint& server,
                     http::request<Body>& req, Ms timeout, const ResponseSpec& spec) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  auto deadline = SteadyClock::now() + timeout;
  tcp_layer.expires_after(timeout);
  bool done = false;
  boost::system::error_code ec;
  tcp_layer.async_connect(Resolve(ioc, server), [&](boost::system::error_code e, auto) {
    ec = e;
    done = true;
  });
  // Closes the connection and runs the handlers still pending, so that no
  // operation outlives the locals it refers to. Before every throw, and (via
  // Closer) on the way out.
  auto drain = [&] {
    tcp_layer.close();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(2));
  };
  if (!RunUntil(ioc, done, deadline) || ec) {
    boost::system::error_code cause = done ? ec : boost::system::error_code();
    drain();
    ThrowIo("cannot connect to " + HostPort(server), cause);
  }
  Handshake(ioc, stream, server, deadline);

  http::request_serializer<Body> serializer(req);
  bool write_done = false;
  boost::system::error_code write_ec;
  http::async_write(stream, serializer, [&](boost::system::error_code e, std::size_t) {
    write_ec = e;
    write_done = true;
  });
  beast::flat_buffer buffer;
  // A write may still be running when the response is complete (the server
  // answered early): stop it before `serializer` goes away.
  struct Closer {
    decltype(drain)& run;
    ~Closer() { run(); }
  } closer{drain};
  // Throws for a failed or timed-out read, after draining (a read still
  // pending refers to `buffer` and to the parser of the calling scope).
  auto read_failed = [&](const std::string& what, bool timed_out) {
    boost::system::error_code cause = timed_out ? boost::system::error_code() : ec;
    bool write_failed = write_done && write_ec;
    std::string write_error = write_failed ? write_ec.message() : std::string();
    drain();
    if (cause == http::error::body_limit) {
      throw ConnectionError("response body larger than " + std::to_string(spec.limit.value_or(0)) +
                            " bytes");
    }
    std::string detail = what;
    if (write_failed) detail += " (sending failed: " + write_error + ")";
    ThrowIo(detail, cause);
  };

  // Runs one read, begun by start(handler), to its end or the deadline;
  // throws (through read_failed) if it failed or timed out.
  auto read = [&](const std::string& what, auto start) {
    done = false;
    start([&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, done, deadline)) read_failed(what, true);
    if (ec) read_failed(what, false);
  };

  http::response_parser<http::empty_body> header;
  // A download's limit applies to a 2xx body only: an error must still be seen.
  header.body_limit(spec.file ? boost::optional<std::uint64_t>() : spec.limit);
  if (spec.head) header.skip(true);
  read("HTTP read failed",
       [&](auto handler) { http::async_read_header(stream, buffer, header, handler); });

  HttpReply reply;
  reply.status = header.get().result_int();
  for (const auto& field : header.get()) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  bool ok = reply.status >= 200 && reply.status < 300;
  bool has_body = !spec.head && !header.is_done();
  if (spec.file && ok) {
    try {
      if (has_body) {
        if (spec.limit && header.content_length() && *header.content_length() > *spec.limit) {
          ec = http::error::body_limit;
          read_failed("", false);
        }
        http::response_parser<http::file_body> parser(std::move(header));
        parser.body_limit(spec.limit);
        parser.get().body().open(spec.file->c_str(), beast::file_mode::write, ec);
        if (ec) throw std::runtime_error("cannot write " + *spec.file + ": " + ec.message());
        read("HTTP body read failed",
             [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
      } else {
        beast::file out;
        out.open(spec.file->c_str(), beast::file_mode::write, ec);
        if (ec) throw std::runtime_error("cannot write " + *spec.file + ": " + ec.message());
      }
    } catch (...) {  // nothing half-written is left behind
      std::error_code ignored;
      std::filesystem::remove(*spec.file, ignored);
      throw;
    }
    return reply;
  }
  if (spec.file) {
    std::error_code ignored;
    std::filesystem::remove(*spec.file, ignored);
  }
  if (has_body) {
    http::response_parser<http::string_body> parser(std::move(header));
    if (spec.file) parser.body_limit(kInMemoryLimit);  // the error body of a download
    read("HTTP body read failed",
         [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    reply.raw = std::move(parser.get().body());
  }
  boost::system::error_code jec;
  json::value v = json::parse(reply.raw, jec);
  if (!jec) reply.body = std::move(v);
  return reply;
}

template <class Body>
HttpReply Exchange(const Endpoint& server, http::request<Body>& req, Ms timeout,
                   const ResponseSpec& spec) {
  asio::io_context ioc;
  if (!server.tls) {
    beast::tcp_stream stream(ioc);
    return ExchangeOn(ioc, stream, server, req, timeout, spec);
  }
  TlsStream stream(ioc, ClientTlsContext());
  return ExchangeOn(ioc, stream, server, req, timeout, spec);
}

http::verb ParseVerb(std::string_view method) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    throw std::invalid_argument("unknown HTTP method " + std::string(method));
  }
  return verb;
}

template <class Body>
void SetHeaders(http::request<Body>& req,
                const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) req.set(name, value);
}

}  // namespace

HttpReply Http(const Endpoint& server, std::string_view method, std::string_view target,
               std::string body, std::string_view token, Ms timeout) {
  http::request<http::string_body> req{ParseVerb(method), std::string(target), 11};
  req.set(http::field::host, server.host);
  req.set(http::field::user_agent, "ferry-client");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + std::string(token));
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(false);
  req.prepare_payload();
  ResponseSpec spec;
  spec.head = req.method() == http::verb::head;
  spec.limit = kInMemoryLimit;
  return Exchange(server, req, timeout, spec);
}

// ---- blob URLs ----

UrlParts ParseUrl(std::string_view url) {
  auto parsed = urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("not a URL: " + std::string(url));
  urls::url_view u = *parsed;
  if (u.scheme_id() != urls::scheme::http && u.scheme_id() != urls::scheme::https) {
    throw std::invalid_argument("only http:// and https:// URLs are supported: " +
                                std::string(url));
  }
  if (!u.has_authority() || u.host_address().empty()) {
    throw std::invalid_argument("URL without a host: " + std::string(url));
  }
  UrlParts parts;
  parts.endpoint.host = u.host_address();
  parts.endpoint.tls = u.scheme_id() == urls::scheme::https;
  parts.endpoint.port = parts.endpoint.tls ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {
    std::string_view port = u.port();
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      throw std::invalid_argument("bad port in URL: " + std::string(url));
    }
    parts.endpoint.port = static_cast<std::uint16_t>(value);
  }
  parts.host_header = std::string(u.encoded_host_and_port());
  parts.target = std::string(u.encoded_target());
  if (parts.target.empty() || parts.target.front() != '/') parts.target.insert(0, "/");
  return parts;
}

HttpReply PutBytes(std::string_view url, std::string_view body,
                   const std::vector<std::pair<std::string, std::string>>& headers, Ms timeout,
                   bool chunked, std::optional<std::uint64_t> content_length) {
  UrlParts parts = ParseUrl(url);
  http::request<http::string_body> req{http::verb::put, parts.target, 11};
  req.set(http::field::host, parts.host_header);
  req.set(http::field::user_agent, "ferry-client");
  req.keep_alive(false);
  req.body() = std::string(body);
  if (chunked) req.chunked(true);
  // The serializer writes the body as it is, whatever Content-Length says.
  if (content_length) {
    req.set(http::field::content_length, std::to_string(*content_length));
  } else if (!chunked) {
    req.content_length(body.size());
  }
  SetHeaders(req, headers);
  ResponseSpec spec;
  spec.limit = kInMemoryLimit;
  return Exchange(parts.endpoint, req, timeout, spec);
}

HttpReply GetUrl(std::string_view url,
                 const std::vector<std::pair<std::string, std::string>>& headers, Ms timeout,
                 std::string_view method) {
  UrlParts parts = ParseUrl(url);
  http::request<http::empty_body> req{ParseVerb(method), parts.target, 11};
  req.set(http::field::host, parts.host_header);
  req.set(http::field::user_agent, "ferry-client");
  req.keep_alive(false);
  SetHeaders(req, headers);
  ResponseSpec spec;
  spec.head = req.method() == http::verb::head;
  return Exchange(parts.endpoint, req, timeout, spec);
}


HttpReply PutFile(std::string_view url, const std::string& path, std::string_view content_type,
                  std::string_view sha256_hex, Ms timeout) {
  UrlParts parts = ParseUrl(url);
  http::request<http::file_body> req{http::verb::put, parts.target, 11};
  boost::system::error_code ec;
  req.body().open(path.c_str(), beast::file_mode::scan, ec);
  if (ec) throw std::runtime_error("cannot read " + path + ": " + ec.message());
  req.set(http::field::host, parts.host_header);
  req.set(http::field::user_agent, "ferry-client");
  req.set(http::field::content_type, content_type);
  if (!sha256_hex.empty()) {
    std::string b64;
    if (!Sha256HexToBase64(sha256_hex, &b64)) {
      throw std::invalid_argument("sha256 must be 64 hex digits");
    }
    req.set("x-amz-checksum-sha256", b64);
  }
  req.keep_alive(false);
  req.prepare_payload();  // Content-Length: the file size
  ResponseSpec spec;
  spec.limit = kInMemoryLimit;
  return Exchange(parts.endpoint, req, timeout, spec);
}

HttpReply GetToFile(std::string_view url, const std::string& path, std::uint64_t max_bytes,
                    Ms timeout) {
  UrlParts parts = ParseUrl(url);
  http::request<http::empty_body> req{http::verb::get, parts.target, 11};
  req.set(http::field::host, parts.host_header);
  req.set(http::field::user_agent, "ferry-client");
  req.keep_alive(false);
  ResponseSpec spec;
  spec.limit = max_bytes;
  spec.file = &path;
  return Exchange(parts.endpoint, req, timeout, spec);
}

std::string FileSha256(const std::string& path) { return Sha256FileHex(path); }

// ---- WsConnection ----

struct WsConnection::Impl {
  using Plain = websocket::stream<beast::tcp_stream>;
  using Tls = websocket::stream<TlsStream>;

  asio::io_context ioc;
  std::variant<std::monostate, Plain, Tls> stream;  // set by Connect
  beast::flat_buffer buffer;
  bool read_pending = false;
  bool read_done = false;
  boost::system::error_code read_ec;

  // Calls fn(ws) with the WebSocket stream, plain or TLS.
  template <class Fn>
  decltype(auto) With(Fn&& fn) {
    if (auto* plain = std::get_if<Plain>(&stream)) return fn(*plain);
    return fn(std::get<Tls>(stream));
  }

  void StartRead() {
    read_pending = true;
    read_done = false;
    With([&](auto& ws) {
      ws.async_read(buffer, [this](boost::system::error_code ec, std::size_t) {
        read_ec = ec;
        read_done = true;
      });
    });
  }

  void Write(std::string_view data, bool binary, Ms timeout) {
    bool done = false;
    boost::system::error_code ec;
    With([&](auto& ws) {
      ws.binary(binary);
      ws.async_write(asio::buffer(data.data(), data.size()),
                     [&](boost::system::error_code e, std::size_t) {
                       ec = e;
                       done = true;
                     });
    });
    if (!RunUntil(ioc, done, SteadyClock::now() + timeout)) {
      throw ConnectionError("WebSocket write timed out");
    }
    if (ec) throw ConnectionError("WebSocket write failed: " + ec.message());
  }

  // Connects, shakes hands (TLS, then WebSocket) before `deadline`.
  template <class Ws>
  void Open(Ws& ws, const Endpoint& server, SteadyClock::time_point deadline) {
    auto& tcp_layer = beast::get_lowest_layer(ws);
    tcp_layer.expires_at(deadline);
    bool done = false;
    boost::system::error_code ec;
    tcp_layer.async_connect(Resolve(ioc, server), [&](boost::system::error_code e, auto) {
      ec = e;
      done = true;
    });
    if (!RunUntil(ioc, done, deadline) || ec) {
      throw ConnectionError("cannot connect to " + server.host + ":" + std::to_string(server.port) +
                            ": " + (ec ? ec.message() : "timeout"));
    }
    Handshake(ioc, ws.next_layer(), server, deadline);
    done = false;
    ws.read_message_max(64 * 1024 * 1024);
    ws.async_handshake(server.host + ":" + std::to_string(server.port), "/v1/ws",
                       [&](boost::system::error_code e) {
                         ec = e;
                         done = true;
                       });
    if (!RunUntil(ioc, done, deadline) || ec) {
      throw ConnectionError("WebSocket handshake failed: " +
                            (ec ? ec.message() : std::string("timeout")));
    }
    tcp_layer.expires_never();
  }
};

WsConnection::WsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsConnection::~WsConnection() = default;

std::unique_ptr<WsConnection> WsConnection::Connect(const Endpoint& server, Ms timeout) {
  auto impl = std::make_unique<Impl>();
  auto deadline = SteadyClock::now() + timeout;
  if (server.tls) {
    impl->Open(impl->stream.emplace<Impl::Tls>(impl->ioc, ClientTlsContext()), server, deadline);
  } else {
    impl->Open(impl->stream.emplace<Impl::Plain>(impl->ioc), server, deadline);
  }
  return std::unique_ptr<WsConnection>(new WsConnection(std::move(impl)));
}

void WsConnection::SendText(std::string_view text) { impl_->Write(text, false, 10s); }
void WsConnection::SendBinary(std::string_view data) { impl_->Write(data, true, 10s); }
void WsConnection::Send(const json::object& object) { SendText(json::serialize(object)); }

std::optional<std::string> WsConnection::ReceiveText(Ms timeout) {
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (close_info_) return std::nullopt;
    if (!impl_->read_pending) impl_->StartRead();
    if (!RunUntil(impl_->ioc, impl_->read_done, deadline)) return std::nullopt;
    impl_->read_pending = false;
    if (impl_->read_ec) {
      if (impl_->read_ec == websocket::error::closed) {
        const auto& r =
            impl_->With([](auto& ws) -> const websocket::close_reason& { return ws.reason(); });
        close_info_ = CloseInfo{r.code, std::string(r.reason.data(), r.reason.size())};
      } else {
        close_info_ = CloseInfo{1006, impl_->read_ec.message()};
      }
      return std::nullopt;
    }
    bool text = impl_->With([](auto& ws) { return ws.got_text(); });
    std::string data = beast::buffers_to_string(impl_->buffer.data());
    impl_->buffer.consume(impl_->buffer.size());
    if (text) return data;
  }
}

std::optional<json::object> WsConnection::Receive(Ms timeout) {
  auto text = ReceiveText(timeout);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) throw ConnectionError("server sent a non-object frame: " + *text);
  return std::move(v.get_object());
}

std::optional<CloseInfo> WsConnection::WaitClosed(Ms timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (!close_info_ && SteadyClock::now() < deadline) {
    ReceiveText(std::chrono::duration_cast<Ms>(deadline - SteadyClock::now()) + 1ms);
  }
  return close_info_;
}

void WsConnection::Close() {
  if (close_info_) return;
  bool done = false;
  impl_->With([&](auto& ws) {
    ws.async_close(websocket::close_code::normal, [&](boost::system::error_code) { done = true; });
  });
  RunUntil(impl_->ioc, done, SteadyClock::now() + 2s);
  WaitClosed(2s);
}

void WsConnection::Abort() {
  boost::system::error_code ignored;
  auto& socket =
      impl_->With([](auto& ws) -> tcp::socket& { return beast::get_lowest_layer(ws).socket(); });
  socket.set_option(asio::socket_base::linger(true, 0), ignored);  // RST, no FIN handshake
  socket.close(ignored);
  close_info_ = CloseInfo{1006, "aborted"};
}

// ---- Session ----

std::unique_ptr<Session> Session::Connect(const Endpoint& server, Ms timeout) {
  return std::make_unique<Session>(WsConnection::Connect(server, timeout));
}

std::optional<json::object> Session::ReadOne(Ms timeout) { return ws_->Receive(timeout); }

json::object Session::Call(json::object request, Ms timeout) {
  std::int64_t id = next_id_++;
  request["id"] = id;
  ws_->Send(request);
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    auto now = SteadyClock::now();
    if (now >= deadline) throw ConnectionError("no reply to request " + std::to_string(id));
    auto frame = ReadOne(std::chrono::duration_cast<Ms>(deadline - now) + 1ms);
    if (!frame) {
      if (ws_->close_info()) {
        throw ConnectionError("connection closed (" + std::to_string(ws_->close_info()->code) +
                              " " + ws_->close_info()->reason + ")");
      }
      continue;
    }
    std::string_view type = (*frame)["type"].is_string() ? (*frame)["type"].get_string()
                                                         : std::string_view();
    const json::value* rid = frame->if_contains("id");
    if ((type == "ok" || type == "error") && rid && rid->is_int64() && rid->get_int64() == id) {
      return std::move(*frame);
    }
    if (type != "ok" && type != "error") events_.push_back(std::move(*frame));
  }
}

json::object Session::Request(json::object request, Ms timeout) {
  json::object reply = Call(std::move(request), timeout);
  if (reply["type"] == "error") {
    throw RequestError(json::value_to<std::string>(reply["code"]),
                       reply["message"].is_string() ? std::string(reply["message"].get_string())
                                                    : std::string());
  }
  return reply;
}

json::object Session::Hello(const std::string& token, std::optional<std::int64_t> after,
                            Ms timeout) {
  json::object hello{{"type", "hello"}, {"token", token}};
  if (after) hello["after"] = *after;
  json::object reply = Request(std::move(hello), timeout);
  if (after) last_seq_ = *after;
  return reply;
}

std::optional<json::object> Session::NextEvent(Ms timeout) {
  if (events_.empty()) {
    auto frame = ReadOne(timeout);
    if (!frame) return std::nullopt;
    events_.push_back(std::move(*frame));
  }
  json::object event = std::move(events_.front());
  events_.pop_front();
  if (const json::value* seq = event.if_contains("seq"); seq && seq->is_int64()) {
    last_seq_ = std::max(last_seq_, seq->get_int64());
  }
  return event;
}

std::optional<json::object> Session::NextEntry(Ms timeout) {
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    auto now = SteadyClock::now();
    if (now >= deadline) return std::nullopt;
    auto event = NextEvent(std::chrono::duration_cast<Ms>(deadline - now) + 1ms);
    if (!event) {
      if (ws_->close_info()) return std::nullopt;
      continue;
    }
    if ((*event)["type"] == "ping") {
      ws_->Send(json::object{{"type", "pong"}});
      std::int64_t head = (*event)["head"].to_number<std::int64_t>();
      if (head > last_seq_) {
        ws_->Send(json::object{{"type", "sync"}, {"id", "sync-" + std::to_string(next_id_++)},
                               {"after", last_seq_}});
      }
      continue;
    }
    if ((*event)["type"] == "ok" || (*event)["type"] == "error") continue;  // e.g. sync's reply
    return event;
  }
}

void Session::Ack(std::int64_t up_to) { ws_->Send(json::object{{"type", "ack"}, {"upTo", up_to}}); }

std::string Session::CreateChat(const std::vector<std::string>& members, const std::string& name) {
  json::array list;
  for (const auto& m : members) list.emplace_back(m);
  json::object req{{"type", "createChat"}, {"members", std::move(list)}};
  if (!name.empty()) req["name"] = name;
  json::object reply = Request(std::move(req));
  return json::value_to<std::string>(reply["chatId"]);
}

json::object Session::Send(const std::string& chat_id, const std::string& body,
                           const std::string& client_msg_id,
                           const std::vector<std::string>& attachments) {
  std::string cmid = client_msg_id.empty() ? "m" + std::to_string(next_msg_++) : client_msg_id;
  json::object req{{"type", "send"}, {"chatId", chat_id}, {"clientMsgId", cmid}, {"body", body}};
  if (!attachments.empty()) {
    json::array ids;
    for (const auto& id : attachments) ids.emplace_back(id);
    req["attachments"] = std::move(ids);
  }
  return Request(std::move(req));
}

json::object Session::AttachTarget(const std::string& content_type, std::uint64_t size,
                                   const std::string& sha256_hex) {
  json::object req{{"type", "attachTarget"}, {"contentType", content_type}, {"size", size}};
  if (!sha256_hex.empty()) req["sha256"] = sha256_hex;
  return Request(std::move(req));
}

}  // namespace ferry::client
