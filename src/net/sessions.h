// Private to net/: the entry points of the two session kinds, so that each
// Beast-heavy translation unit (http.cc, websocket.cc) compiles on its own.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "blob/builtin/builtin_blob_store.h"
#include "common/config.h"
#include "net/connection_limits.h"
#include "net/stream.h"
#include "service/service.h"

namespace ferry::net {

class WebRoot;

using tcp = boost::asio::ip::tcp;
using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Serves HTTP/1.1 on an accepted socket (keep-alive), upgrading to
// WebSocket on GET /v1/ws. Runs on the socket's (strand) executor.
// `blobs` is the built-in blob store served under /blobs/ (null: none);
// `web` the web client's files, served at / (null: none).
// `ticket`: the connection's place in the connection limits, kept while it lives.
// `tls`: the server's TLS context when it speaks TLS (then a client speaking
// plain HTTP gets 400), else null.
void StartHttpSession(tcp::socket socket, ConnectionLimits::Ticket ticket, const Config& config,
                      Service& service, BuiltinBlobStore* blobs, const WebRoot* web,
                      const TlsContext* tls);

// Takes over `stream` after an upgrade request `request` and runs the
// WebSocket session until it closes. `leftover`: the bytes read from the
// socket after the request (the client's first frames); they are copied.
void StartWebSocketSession(Stream stream, ConnectionLimits::Ticket ticket, HttpRequest request,
                           boost::asio::const_buffer leftover, const Config& config,
                           Service& service);

}  // namespace ferry::net
