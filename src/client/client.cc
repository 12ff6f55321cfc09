// Every blocking call here runs the object's private io_context until its one
// async operation completes or the deadline passes, so each call has a
// timeout while the code reads top to bottom.
#include "client/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>

namespace ferry::client {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

Endpoint ParseServer(std::string_view url) {
  for (std::string_view scheme : {"http://", "ws://", "https://", "wss://"}) {
    if (url.starts_with(scheme)) {
      url.remove_prefix(scheme.size());
      break;
    }
  }
  url = url.substr(0, url.find('/'));
  auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw std::invalid_argument("server must be HOST:PORT or http://HOST:PORT");
  }
  Endpoint ep;
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

}  // namespace

HttpReply Http(const Endpoint& server, std::string_view method, std::string_view target,
               std::string body, std::string_view token, Ms timeout) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto deadline = SteadyClock::now() + timeout;
  stream.expires_after(timeout);
  bool done = false;
  boost::system::error_code ec;
  stream.async_connect(Resolve(ioc, server), [&](boost::system::error_code e, auto) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline) || ec) {
    throw ConnectionError("cannot connect to " + server.host + ":" + std::to_string(server.port) +
                          ": " + (ec ? ec.message() : "timeout"));
  }
  http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
  req.set(http::field::host, server.host);
  req.set(http::field::user_agent, "ferry-client");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + std::string(token));
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(false);
  req.prepare_payload();
  done = false;
  http::async_write(stream, req, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline) || ec) throw ConnectionError("HTTP write failed");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  done = false;
  http::async_read(stream, buffer, res, [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!RunUntil(ioc, done, deadline) || ec) {
    throw ConnectionError("HTTP read failed: " + (ec ? ec.message() : std::string("timeout")));
  }
  HttpReply reply;
  reply.status = res.result_int();
  reply.raw = res.body();
  boost::system::error_code jec;
  json::value v = json::parse(reply.raw, jec);
  if (!jec) reply.body = std::move(v);
  return reply;
}

// ---- WsConnection ----

struct WsConnection::Impl {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool read_pending = false;
  bool read_done = false;
  boost::system::error_code read_ec;

  void StartRead() {
    read_pending = true;
    read_done = false;
    ws.async_read(buffer, [this](boost::system::error_code ec, std::size_t) {
      read_ec = ec;
      read_done = true;
    });
  }

  void Write(std::string_view data, bool binary, Ms timeout) {
    bool done = false;
    boost::system::error_code ec;
    ws.binary(binary);
    ws.async_write(asio::buffer(data.data(), data.size()),
                   [&](boost::system::error_code e, std::size_t) {
                     ec = e;
                     done = true;
                   });
    if (!RunUntil(ioc, done, SteadyClock::now() + timeout)) {
      throw ConnectionError("WebSocket write timed out");
    }
    if (ec) throw ConnectionError("WebSocket write failed: " + ec.message());
  }
};

WsConnection::WsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsConnection::~WsConnection() = default;

std::unique_ptr<WsConnection> WsConnection::Connect(const Endpoint& server, Ms timeout) {
  auto impl = std::make_unique<Impl>();
  auto deadline = SteadyClock::now() + timeout;
  auto& tcp_layer = beast::get_lowest_layer(impl->ws);
  tcp_layer.expires_after(timeout);
  bool done = false;
  boost::system::error_code ec;
  tcp_layer.async_connect(Resolve(impl->ioc, server), [&](boost::system::error_code e, auto) {
    ec = e;
    done = true;
  });
  if (!RunUntil(impl->ioc, done, deadline) || ec) {
    throw ConnectionError("cannot connect to " + server.host + ":" + std::to_string(server.port) +
                          ": " + (ec ? ec.message() : "timeout"));
  }
  done = false;
  impl->ws.read_message_max(64 * 1024 * 1024);
  impl->ws.async_handshake(server.host + ":" + std::to_string(server.port), "/v1/ws",
                           [&](boost::system::error_code e) {
                             ec = e;
                             done = true;
                           });
  if (!RunUntil(impl->ioc, done, deadline) || ec) {
    throw ConnectionError("WebSocket handshake failed: " +
                          (ec ? ec.message() : std::string("timeout")));
  }
  tcp_layer.expires_never();
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
        const auto& r = impl_->ws.reason();
        close_info_ = CloseInfo{r.code, std::string(r.reason.data(), r.reason.size())};
      } else {
        close_info_ = CloseInfo{1006, impl_->read_ec.message()};
      }
      return std::nullopt;
    }
    bool text = impl_->ws.got_text();
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
  impl_->ws.async_close(websocket::close_code::normal, [&](boost::system::error_code) {
    done = true;
  });
  RunUntil(impl_->ioc, done, SteadyClock::now() + 2s);
  WaitClosed(2s);
}

void WsConnection::Abort() {
  boost::system::error_code ignored;
  auto& socket = beast::get_lowest_layer(impl_->ws).socket();
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
                           const std::string& client_msg_id) {
  std::string cmid = client_msg_id.empty() ? "m" + std::to_string(next_msg_++) : client_msg_id;
  return Request(json::object{
      {"type", "send"}, {"chatId", chat_id}, {"clientMsgId", cmid}, {"body", body}});
}

}  // namespace ferry::client
