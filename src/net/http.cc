// HttpSession: HTTP/1.1 on one accepted connection — the JSON account API,
// /healthz, /metrics, the web client's files — and the hand-off to
// WebSocket on GET /v1/ws.
//
// Routing is a table of (method, path) -> handler. A handler gets the request
// and a Respond callback it must call exactly once, from any thread; the
// response is posted back onto the connection's strand and written there.
// A path no route takes is the web client's (web_http.cc), or 404.
// One request is served at a time per connection; requests are size-limited
// and idle connections time out.
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>

#include "common/log.h"
#include "net/http_session.h"
#include "net/ws_codec.h"

namespace ferry::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;

namespace {

using Respond = std::function<void(Response)>;

// What a handler knows of the connection besides the request.
struct Peer {
  const std::string& address;  // the client's IP address
};

constexpr auto kIdleTimeout = std::chrono::seconds(30);
// From accept to the end of the TLS handshake.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr unsigned char kTlsHandshakeRecord = 22;
// A request's start line and headers, and its target within them: beyond, 431 and 414.
constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kTargetLimit = 8 * 1024;
// How long a browser may cache a CORS preflight's answer.
constexpr std::string_view kPreflightMaxAgeSeconds = "600";

}  // namespace

Response JsonResponse(int status, const json::value& body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  return res;
}

Response ErrorResponse(Errc code, std::string_view message, Millis retry_after_ms) {
  Response res =
      JsonResponse(HttpStatus(code), json::object{{"error", ErrcName(code)}, {"message", message}});
  if (code == Errc::rate_limited) {
    res.set(http::field::retry_after, std::to_string(RetryAfterSeconds(retry_after_ms)));
  }
  return res;
}

Response MethodNotAllowed(std::string_view allow) {
  Response res =
      JsonResponse(405, json::object{{"error", "method_not_allowed"},
                                     {"message", "this resource takes " + std::string(allow)}});
  res.set(http::field::allow, allow);
  return res;
}

Response PreflightResponse(std::string_view methods, std::string_view headers) {
  Response res{http::status::no_content, 11};
  res.set(http::field::access_control_allow_methods, methods);
  res.set(http::field::access_control_allow_headers, headers);
  res.set(http::field::access_control_max_age, kPreflightMaxAgeSeconds);
  return res;
}

void SetCorsHeaders(http::fields& fields, std::string_view allow_origin) {
  fields.set(http::field::access_control_allow_origin, allow_origin);
  if (allow_origin == "*") {
    fields.set(http::field::access_control_expose_headers, "Content-Length, Content-Range, ETag");
  } else {
    fields.set(http::field::vary, "Origin");
  }
}

namespace {

Response ErrorResponseFor(const boost::system::error_code& ec) {
  Errc code = ToErrc(ec);
  return ErrorResponse(code, ec.message());
}

// Parses a JSON object body; on failure returns false having responded 400.
bool ParseBody(const HttpRequest& req, json::object* out, const Respond& respond) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    respond(ErrorResponse(Errc::bad_request, "the body must be a JSON object"));
    return false;
  }
  *out = std::move(v.get_object());
  return true;
}

// Reads string fields; on a missing or mistyped one responds 400.
bool GetStrings(const json::object& o,
                std::initializer_list<std::pair<const char*, std::string*>> fields,
                const Respond& respond) {
  for (auto [name, dest] : fields) {
    auto it = o.find(name);
    if (it == o.end() || !it->value().is_string()) {
      respond(
          ErrorResponse(Errc::bad_request, std::string("field '") + name + "' must be a string"));
      return false;
    }
    *dest = std::string(it->value().get_string());
  }
  return true;
}

std::string BearerToken(const HttpRequest& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
    return std::string(v.substr(7));
  }
  return {};
}

json::array ClientsJson(const std::vector<ClientInfo>& clients) {
  json::array out;
  for (const ClientInfo& c : clients) {
    out.push_back(json::object{
        {"clientId", c.client_id}, {"device", c.device}, {"lastActive", c.last_active}});
  }
  return out;
}

// ---- Handlers: (service, request, respond) ----

// A rate_limited answer, counted.
Response RateLimited(Service& service, std::string_view message, Millis retry_after_ms) {
  service.metrics().rate_limited_total.fetch_add(1, std::memory_order_relaxed);
  return ErrorResponse(Errc::rate_limited, message, retry_after_ms);
}

void HandleRegister(Service& service, const HttpRequest& req, const Peer& peer, Respond respond) {
  json::object body;
  std::string user, password;
  if (!ParseBody(req, &body, respond)) return;
  if (!GetStrings(body, {{"user", &user}, {"password", &password}}, respond)) return;
  if (Millis wait = service.accounts().AdmitRegister(peer.address)) {
    return respond(RateLimited(service, "too many registrations from this address", wait));
  }
  service.accounts().Register(
      user, std::move(password), peer.address, [&service, respond, user](Result<void> r) {
        if (!r) {
          Errc e = ToErrc(r.error());
          if (e == Errc::rate_limited)
            return respond(RateLimited(service, "server busy hashing; retry", 0));
          const char* message = e == Errc::bad_request
                                    ? "user must match [a-z0-9_.-]{3,32}; password 8 to 1024 bytes"
                                : e == Errc::user_exists ? "user already exists"
                                                         : "could not register";
          return respond(ErrorResponse(e, message));
        }
        log::Info("registered user ", user);
        respond(JsonResponse(201, json::object{{"user", user}}));
      });
}

void HandleLogin(Service& service, const HttpRequest& req, const Peer& peer, Respond respond) {
  json::object body;
  std::string user, password, device;
  if (!ParseBody(req, &body, respond)) return;
  if (!GetStrings(body, {{"user", &user}, {"password", &password}, {"device", &device}}, respond)) {
    return;
  }
  if (Millis wait = service.accounts().AdmitLogin(user, peer.address)) {
    return respond(RateLimited(service, "too many login attempts; retry later", wait));
  }
  service.accounts().Login(
      user, std::move(password), device, peer.address,
      [&service, respond](Result<Accounts::LoginReply> r, std::vector<ClientInfo> clients) {
        if (!r) {
          Errc e = ToErrc(r.error());
          if (e == Errc::rate_limited) {
            return respond(RateLimited(service, "server busy hashing; retry", 0));
          }
          if (e == Errc::too_many_clients) {
            return respond(JsonResponse(409, json::object{{"error", "too_many_clients"},
                                                          {"message",
                                                           "this user already has the maximum "
                                                           "number of clients; delete one"},
                                                          {"clients", ClientsJson(clients)}}));
          }
          return respond(ErrorResponse(
              e, e == Errc::unauthorized ? "wrong user or password" : "login failed"));
        }
        respond(JsonResponse(200, json::object{{"token", r->token}, {"clientId", r->client_id}}));
      });
}

void HandleListClients(Service& service, const HttpRequest& req, const Peer&, Respond respond) {
  service.accounts().ListClients(BearerToken(req), [respond](Result<std::vector<ClientInfo>> r) {
    if (!r) return respond(ErrorResponseFor(r.error()));
    respond(JsonResponse(200, json::object{{"clients", ClientsJson(*r)}}));
  });
}

void HandleDeleteClient(Service& service, const HttpRequest& req, const Peer&, Respond respond) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));  // the route matched the path
  std::string id(path.substr(std::string_view("/v1/clients/").size()));
  service.accounts().DeleteClient(BearerToken(req), id, [respond](Result<void> r) {
    if (!r) {
      Errc e = ToErrc(r.error());
      return respond(ErrorResponse(e, e == Errc::not_found ? "no such client" : "not allowed"));
    }
    Response res{http::status::no_content, 11};
    respond(std::move(res));
  });
}

void HandleHealth(Service& service, const HttpRequest&, const Peer&, Respond respond) {
  Response res{service.Ready() ? http::status::ok : http::status::service_unavailable, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = service.Ready() ? "ok\n" : "not ready\n";
  respond(std::move(res));
}

void HandleMetrics(Service& service, const HttpRequest&, const Peer&, Respond respond) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4");
  res.body() = service.MetricsText();
  respond(std::move(res));
}

struct Route {
  http::verb method;
  std::string_view path;
  bool prefix;  // path is a prefix followed by one id segment
  void (*handler)(Service&, const HttpRequest&, const Peer&, Respond);
};

constexpr Route kRoutes[] = {
    {http::verb::post, "/v1/register", false, HandleRegister},
    {http::verb::post, "/v1/login", false, HandleLogin},
    {http::verb::get, "/v1/clients", false, HandleListClients},
    {http::verb::delete_, "/v1/clients/", true, HandleDeleteClient},
    {http::verb::get, "/healthz", false, HandleHealth},
    {http::verb::get, "/metrics", false, HandleMetrics},
};

// Cross-site WebSocket hijacking: a page on another site must not open a
// session in the user's browser. Tokens travel in the hello, never in
// cookies, so this is defence in depth; the check is the Origin header.
// The same check guards /v1/* (CORS): a page elsewhere may neither read
// the API's answers nor, by a form's POST, act through it unseen.
bool OriginAllowed(const HttpRequest& req, const Config& config) {
  auto origin_field = req.find(http::field::origin);
  if (origin_field == req.end()) return true;  // not a browser
  std::string origin(origin_field->value());
  for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string host(req[http::field::host]);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!host.empty() && (origin == "http://" + host || origin == "https://" + host)) return true;
  for (const std::string& allowed : config.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

// Serves `req` if a route takes its path: its handler, a CORS preflight
// (OPTIONS), or 405. False, having not responded, if no route does.
bool Dispatch(Service& service, const HttpRequest& req, const Peer& peer, Respond respond) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  std::string allow;  // the methods the path takes, for a 405
  for (const Route& r : kRoutes) {
    bool match = r.prefix ? (path.size() > r.path.size() && path.starts_with(r.path) &&
                             path.find('/', r.path.size()) == std::string_view::npos)
                          : path == r.path;
    if (!match) continue;
    if (req.method() == r.method) {
      r.handler(service, req, peer, std::move(respond));
      return true;
    }
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(r.method));
  }
  if (allow.empty()) return false;
  if (req.method() == http::verb::options && path.starts_with("/v1/")) {
    respond(PreflightResponse("GET, POST, DELETE", "Authorization, Content-Type"));
  } else {
    respond(MethodNotAllowed(allow));
  }
  return true;
}

}  // namespace

// ---- HttpSession (the blob members are in blob_http.cc) ----

HttpSession::HttpSession(tcp::socket socket, ConnectionLimits::Ticket ticket, const Config& config,
                         Service& service, BuiltinBlobStore* blobs, const WebRoot* web,
                         const TlsContext* tls)
    : stream_(std::move(socket)),
      deadline_(stream_.get_executor()),
      tls_(tls),
      ticket_(std::move(ticket)),
      config_(config),
      service_(service),
      blobs_(blobs),
      web_(web) {
  beast::error_code ec;
  auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_address_ = peer.address().to_string();
}

void HttpSession::Start() {
  if (!tls_) return DoRead();
  // Whether the client speaks TLS shows in its first byte: a TLS handshake
  // record starts with 22. Waiting for it is part of the handshake's time.
  SetDeadline(kHandshakeTimeout);
  stream_.socket().async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this()](beast::error_code ec) { self->OnFirstBytes(ec); });
}

void HttpSession::OnFirstBytes(beast::error_code ec) {
  if (ec) return Shutdown();
  unsigned char first = 0;
  ssize_t n = ::recv(stream_.socket().native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Start();  // spurious wakeup
  if (n <= 0) return Shutdown();
  // Plain HTTP: read the request and answer it 400 in plain text (OnHeader).
  if (first != kTlsHandshakeRecord) return DoRead();
  if (!stream_.StartTls(*tls_)) return Shutdown();
  stream_.async_handshake(
      [self = shared_from_this()](beast::error_code e) { self->OnHandshake(e); });
}

void HttpSession::OnHandshake(beast::error_code ec) {
  if (ec) {
    log::Debug("TLS handshake with ", peer_address_, " failed: ", ec.message());
    return Shutdown();
  }
  DoRead();
}

void HttpSession::SetDeadline(std::chrono::steady_clock::duration timeout) {
  deadline_.expires_after(timeout);
  deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    // A deadline replaced after this wait had already finished is not due.
    if (ec || !self || self->deadline_.expiry() > std::chrono::steady_clock::now()) return;
    self->stream_.Close();
  });
}

void HttpSession::DoRead() {
  head_ = false;
  cors_allow_origin_.clear();
  header_parser_.emplace();
  header_parser_->header_limit(kHeaderLimit);
  // No body limit yet: it depends on the target (a blob PUT may be large),
  // so OnHeader and the blob handler check Content-Length themselves.
  header_parser_->body_limit(boost::none);
  SetDeadline(kIdleTimeout);
  http::async_read_header(
      stream_, buffer_, *header_parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
}

void HttpSession::ReadFailed(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
      ec == asio::error::eof) {
    return Shutdown();
  }
  keep_alive_ = false;
  if (ec == http::error::body_limit) {
    return Write(ErrorResponse(Errc::too_large, "request body too large"));
  }
  if (ec == http::error::header_limit) {
    // 414 if it is the start line (the target) that did not fit: beast has
    // not parsed one then; else 431.
    std::string_view target;
    if (header_parser_) target = header_parser_->get().target();
    if (target.empty() || target.size() > kTargetLimit) {
      Response res = ErrorResponse(Errc::too_large, "request target too long");
      res.result(http::status::uri_too_long);
      return Write(std::move(res));
    }
    Response res = ErrorResponse(Errc::too_large, "request header fields too large");
    res.result(http::status::request_header_fields_too_large);
    return Write(std::move(res));
  }
  Write(ErrorResponse(Errc::bad_request, "malformed HTTP request: " + ec.message()));
}

void HttpSession::OnHeader(beast::error_code ec) {
  if (ec) return ReadFailed(ec);
  service_.metrics().http_requests_total.fetch_add(1, std::memory_order_relaxed);
  head_ = header_parser_->get().method() == http::verb::head;
  if (tls_ && !stream_.tls()) {
    keep_alive_ = false;
    return Write(
        ErrorResponse(Errc::bad_request, "this server speaks TLS only: use https:// or wss://"));
  }
  std::string_view target = header_parser_->get().target();
  if (target.size() > kTargetLimit) {
    keep_alive_ = false;
    Response res = ErrorResponse(Errc::too_large, "request target too long");
    res.result(http::status::uri_too_long);
    return Write(std::move(res));
  }
  if (target.starts_with(BuiltinBlobStore::kPathPrefix)) return HandleBlob();
  // Everything else has a small JSON body (or none): read it into memory.
  // The limit must be checked here: a converted parser has already passed
  // the point where beast compares Content-Length with body_limit.
  if (auto length = header_parser_->content_length();
      length && *length > config_.max_http_body_bytes) {
    keep_alive_ = false;
    return Write(ErrorResponse(Errc::too_large, "request body too large"));
  }
  parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  parser_->body_limit(config_.max_http_body_bytes);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code e, std::size_t) { self->OnRead(e); });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (ec) return ReadFailed(ec);
  HttpRequest req = parser_->release();
  parser_.reset();
  if (beast::websocket::is_upgrade(req)) {
    std::string_view path = req.target();
    if (path.substr(0, path.find('?')) == "/v1/ws") {
      if (!OriginAllowed(req, config_)) {
        keep_alive_ = false;
        return Write(ErrorResponse(Errc::forbidden, "WebSocket origin not allowed"));
      }
      // RFC 6455 section 4.2.2: a version we do not speak gets 426 naming ours.
      auto version = req.find(http::field::sec_websocket_version);
      if (version == req.end()) {
        keep_alive_ = false;
        return Write(ErrorResponse(Errc::bad_request, "Sec-WebSocket-Version missing"));
      }
      if (version->value() != "13") {
        keep_alive_ = false;
        Response res = ErrorResponse(Errc::bad_request, "Sec-WebSocket-Version must be 13");
        res.result(http::status::upgrade_required);
        res.set(http::field::sec_websocket_version, "13");
        return Write(std::move(res));
      }
      if (!ws::ValidKey(req[http::field::sec_websocket_key])) {
        keep_alive_ = false;
        return Write(ErrorResponse(Errc::bad_request, "Sec-WebSocket-Key missing or malformed"));
      }
      // Bytes read past the request are the client's first frames.
      ClearDeadline();
      return StartWebSocketSession(std::move(stream_), std::move(ticket_), std::move(req),
                                   buffer_.cdata(), config_, service_);
    }
    keep_alive_ = false;
    return Write(ErrorResponse(Errc::not_found, "no WebSocket endpoint here"));
  }
  keep_alive_ = req.keep_alive();
  if (req.target() == "/v1/ws") {
    return Write(ErrorResponse(Errc::bad_request, "WebSocket upgrade required"));
  }
  // CORS: a browser page of an allowed origin may call the API and read its
  // answers; one of any other origin is refused before anything is done.
  if (std::string_view(req.target()).starts_with("/v1/")) {
    if (!OriginAllowed(req, config_)) {
      return Write(ErrorResponse(Errc::forbidden, "origin not allowed"));
    }
    if (auto origin = req.find(http::field::origin); origin != req.end()) {
      cors_allow_origin_ = std::string(origin->value());
    }
  }
  ClearDeadline();  // the handler may wait on storage
  auto executor = stream_.get_executor();
  bool routed = Dispatch(
      service_, req, Peer{peer_address_}, [self = shared_from_this(), executor](Response res) {
        asio::post(executor,
                   [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
      });
  if (routed) return;
  std::optional<Response> web;
  if (web_) {
    web = WebClientResponse(*web_, req, stream_.tls() ? "https" : "http",
                            service_.blobs().UrlOrigin());
  }
  Write(web ? std::move(*web) : ErrorResponse(Errc::not_found, "no such resource"));
}

void HttpSession::Write(Response res) {
  res.set(http::field::server, "ferryd");
  if (!cors_allow_origin_.empty()) SetCorsHeaders(res, cors_allow_origin_);
  res.keep_alive(keep_alive_);
  // A 304 has no body, and no Content-Length of its own (RFC 9110 15.4.5).
  if (res.result() != http::status::not_modified) res.prepare_payload();
  // The answer to a HEAD is the GET's head: its Content-Length, no body.
  if (head_) res.body().clear();
  auto response = std::make_shared<Response>(std::move(res));
  response_ = response;
  SetDeadline(kIdleTimeout);
  http::async_write(stream_, *response,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->response_.reset();
                      if (ec || !self->keep_alive_) return self->Shutdown();
                      self->DoRead();
                    });
}

void HttpSession::Shutdown() {
  ClearDeadline();
  stream_.NotifyClose();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.Close();
}

void StartHttpSession(tcp::socket socket, ConnectionLimits::Ticket ticket, const Config& config,
                      Service& service, BuiltinBlobStore* blobs, const WebRoot* web,
                      const TlsContext* tls) {
  std::make_shared<HttpSession>(std::move(socket), std::move(ticket), config, service, blobs, web,
                                tls)
      ->Start();
}

}  // namespace ferry::net
