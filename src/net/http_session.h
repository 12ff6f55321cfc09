// HttpSession: HTTP/1.1 on one accepted connection. Private to net/: its
// members live in http.cc (reading, routing the JSON API, CORS, the
// WebSocket hand-off) and blob_http.cc (the built-in blob store's PUT/GET);
// web_http.cc answers for the web client's files.
//
// A request's header is read first; the target decides how the body is
// read: into memory (the JSON API, size-limited) or streamed to a file (a
// blob upload). One request at a time; everything runs on the connection's
// strand; pending handlers hold the session alive.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string_view>

#include "blob/builtin/builtin_blob_store.h"
#include "net/sessions.h"

namespace ferry::net {

namespace http = boost::beast::http;
using Response = http::response<http::string_body>;

Response JsonResponse(int status, const boost::json::value& body);
// `rate_limited` carries Retry-After: `retry_after_ms` rounded up to whole
// seconds, at least 1.
Response ErrorResponse(Errc code, std::string_view message, Millis retry_after_ms = 0);
// 405 with `Allow: allow` (e.g. "GET, HEAD, PUT").
Response MethodNotAllowed(std::string_view allow);

// CORS (docs/security.md): 204 to a preflight, allowing `methods` and the
// request `headers`, for the browser to cache 10 minutes.
Response PreflightResponse(std::string_view methods, std::string_view headers);
// Allows the origin `allow_origin` to read a response: the request's own
// Origin (the API, for an allowed origin; the answer varies with it), or
// "*" (blob URLs, with the headers a page may read besides the usual).
// Never credentials: ferryd uses no cookies.
void SetCorsHeaders(http::fields& fields, std::string_view allow_origin);

// The web client's answer to `req` (web_http.cc): a file of `web`, 304, 405
// for a method other than GET and HEAD, or at `/` the 404 of a web root
// that is unavailable; nullopt when the path names none of its files.
// `page_scheme` is how the page was reached ("http" or "https");
// `blob_origin` the blob URLs' origin, for the Content-Security-Policy.
std::optional<Response> WebClientResponse(const WebRoot& web, const HttpRequest& req,
                                          std::string_view page_scheme,
                                          std::string_view blob_origin);

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, ConnectionLimits::Ticket ticket, const Config& config,
              Service& service, BuiltinBlobStore* blobs, const WebRoot* web, const TlsContext* tls);

  void Start();

 private:
  // http.cc
  void OnFirstBytes(boost::beast::error_code ec);
  void OnHandshake(boost::beast::error_code ec);
  // Closes the connection (pending I/O ends with operation_aborted) if it is
  // still waiting `timeout` from now; replaces the previous deadline.
  void SetDeadline(std::chrono::steady_clock::duration timeout);
  void ClearDeadline() { deadline_.cancel(); }
  void DoRead();
  void OnHeader(boost::beast::error_code ec);
  void OnRead(boost::beast::error_code ec);
  void ReadFailed(boost::beast::error_code ec);
  void Write(Response res);
  void Shutdown();

  // blob_http.cc
  void HandleBlob();
  void StartUpload(std::string key);
  void OnUploadChecked(std::string key, Result<Attachment> attachment);
  void OnUploadBody(std::string key, Attachment attachment, std::string temp_path,
                    boost::beast::error_code ec);
  void StartDownload(std::string key, std::string client_id);
  void OnDownloadChecked(std::string key, std::string client_id, bool head,
                         Result<Attachment> attachment);

  Stream stream_;
  boost::asio::steady_timer deadline_;
  const TlsContext* tls_;  // the server speaks TLS (null: plain)
  ConnectionLimits::Ticket ticket_;
  std::string peer_address_;  // the client's IP address, for per-address limits
  const Config& config_;
  Service& service_;
  BuiltinBlobStore* blobs_;  // null when blobs live elsewhere (S3)
  const WebRoot* web_;       // the web client's files; null: --no-web
  // No max size: beast reads up to 64 KiB at a time into it, which a large
  // upload needs for throughput; header_limit bounds what a header may use.
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::file_body>> upload_parser_;
  std::shared_ptr<void> response_;  // the response being written, kept alive
  bool keep_alive_ = true;
  // Of the request being answered (reset by DoRead): a HEAD, whose answer
  // has no body; and the origin its answer allows (SetCorsHeaders), "" none.
  bool head_ = false;
  std::string cors_allow_origin_;
};

}  // namespace ferry::net
