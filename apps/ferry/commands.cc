// The `ferry` commands other than listen (listen.cc): account calls over
// HTTP, chat calls over a short-lived WebSocket session.
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <random>
#include <string_view>

#include "cli.h"

namespace ferry::cli {
namespace json = boost::json;

namespace {

// ---- helpers ----

std::string RandomHex(std::size_t bytes) {
  static const char* kHex = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    unsigned b = rd() & 0xff;
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string IsoUtcMs(std::int64_t ms) {
  std::string s = IsoUtc(ms);  // ...:SSZ
  std::string frac = std::to_string(1000 + ((ms % 1000) + 1000) % 1000).substr(1);
  return s.substr(0, s.size() - 1) + "." + frac + "Z";
}

std::int64_t ToInt(const json::value* v) {
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return 0;
}

json::array ToArray(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

// --password, else FERRY_PASSWORD, else one line of stdin (not echoed on a tty).
std::string ReadPassword(const Options& opt) {
  if (opt.password) return *opt.password;
  if (const char* env = std::getenv("FERRY_PASSWORD"); env && *env) return env;
  bool tty = ::isatty(0);
  termios saved{};
  if (tty) {
    std::cerr << "Password: " << std::flush;
    ::tcgetattr(0, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(0, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!got && line.empty()) {
    throw CliError("bad_request", "no password given (--password, FERRY_PASSWORD or stdin)");
  }
  return line;
}

// Throws CliError unless `reply` has the expected status.
void Expect(const client::HttpReply& reply, int status) {
  if (reply.status == status) return;
  std::string code, message;
  if (reply.body.is_object()) {
    code = Str(reply.body.get_object(), "error");
    message = Str(reply.body.get_object(), "message");
  }
  if (code.empty()) code = "http_" + std::to_string(reply.status);
  if (message.empty())
    message = reply.raw.empty() ? "HTTP " + std::to_string(reply.status) : reply.raw;
  throw CliError(code, message);
}

// Connects, says hello with the saved login, runs `f(session, login)`, closes.
template <typename F>
int WithSession(Context& ctx, F&& f) {
  Login login = ctx.RequireLogin();
  auto session = client::Session::Connect(ctx.Server(&login), 5s);
  try {
    std::optional<std::int64_t> after;
    if (!login.epoch.empty()) after = login.last_seq;
    session->Hello(login.token, after);
    f(*session, login);
  } catch (const client::ConnectionError&) {
    if (const auto& close = session->ws().close_info()) ThrowClosed(*close);
    throw;
  }
  try {
    session->ws().Close();
  } catch (const std::exception&) {
  }
  return 0;
}

}  // namespace

// ---- commands ----

int CmdRegister(Context& ctx) {
  const std::string& user = ctx.opt.args[0];
  std::string password = ReadPassword(ctx.opt);
  json::object body{{"user", user}, {"password", password}};
  auto reply = client::Http(ctx.Server(nullptr), "POST", "/v1/register", json::serialize(body));
  Expect(reply, 201);
  if (ctx.opt.json) {
    PrintJson(json::object{{"user", user}});
  } else {
    std::cout << "registered " << user << "\n";
  }
  return 0;
}

static std::string DefaultDevice() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) return host;
  return "cli";
}

int CmdLogin(Context& ctx) {
  const std::string& user = ctx.opt.args[0];
  if (!IsPlausibleUser(user)) throw CliError("bad_request", "not a user name: " + user);
  std::string device = ctx.opt.device.value_or(DefaultDevice());
  std::string password = ReadPassword(ctx.opt);
  client::Endpoint server = ctx.Server(nullptr);
  json::object body{{"user", user}, {"password", password}, {"device", device}};
  auto reply = client::Http(server, "POST", "/v1/login", json::serialize(body));
  if (reply.status == 409 && reply.body.is_object()) {
    const json::object& o = reply.body.get_object();
    if (const json::value* list = o.if_contains("clients"); list && list->is_array()) {
      std::string names;
      for (const json::value& c : list->get_array()) {
        if (!c.is_object()) continue;
        if (!names.empty()) names += ", ";
        names += Str(c.get_object(), "device") + " (" + Str(c.get_object(), "clientId") + ")";
      }
      throw CliError(Str(o, "error"), Str(o, "message") + "; existing clients: " + names +
                                          " — log in with one of those device names and "
                                          "`ferry revoke` one");
    }
  }
  Expect(reply, 200);
  const json::object& o = reply.body.get_object();
  Login login;
  login.server = std::string(server.tls ? "https://" : "http://") + server.host + ":" +
                 std::to_string(server.port);
  login.user = user;
  login.token = Str(o, "token");
  login.client_id = Str(o, "clientId");
  login.device = device;
  if (login.token.empty()) throw CliError("internal", "login reply without a token");
  // Same client on the same server: keep where its inbox was read up to.
  if (auto old = LoadLogin(ctx.config_dir, user);
      old && old->client_id == login.client_id && old->server == login.server) {
    login.epoch = old->epoch;
    login.last_seq = old->last_seq;
  }
  SaveLogin(ctx.config_dir, login);
  SaveCurrentUser(ctx.config_dir, user);
  if (ctx.opt.json) {
    PrintJson(json::object{{"user", user},
                           {"clientId", login.client_id},
                           {"device", device},
                           {"server", login.server}});
  } else {
    std::cout << "logged in as " << user << " on " << login.server << " (device " << device
              << ", client " << login.client_id << ")\n";
  }
  return 0;
}

int CmdChats(Context& ctx) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    json::object reply = s.Request(json::object{{"type", "listChats"}});
    const json::value* chats = reply.if_contains("chats");
    if (!chats || !chats->is_array()) return;
    for (const json::value& c : chats->get_array()) {
      if (!c.is_object()) continue;
      const json::object& chat = c.get_object();
      if (ctx.opt.json) {
        PrintJson(chat);
        continue;
      }
      std::string members;
      if (const json::value* m = chat.if_contains("members"); m && m->is_array()) {
        for (const json::value& u : m->get_array()) {
          if (!members.empty()) members += ", ";
          members += u.is_string() ? std::string(u.get_string()) : json::serialize(u);
        }
      }
      std::string name = Str(chat, "name");
      std::cout << Str(chat, "chatId") << "  " << (name.empty() ? "-" : "\"" + name + "\"") << "  "
                << members << "\n";
    }
  });
}

int CmdCreate(Context& ctx) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    std::string chat_id = s.CreateChat(ctx.opt.args, ctx.opt.name.value_or(""));
    if (ctx.opt.json) {
      PrintJson(json::object{{"chatId", chat_id}});
    } else {
      std::cout << chat_id << "\n";
    }
  });
}

static int ChangeMembers(Context& ctx, const char* type, const char* verb) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    std::vector<std::string> users(ctx.opt.args.begin() + 1, ctx.opt.args.end());
    s.Request(
        json::object{{"type", type}, {"chatId", ctx.opt.args[0]}, {"members", ToArray(users)}});
    if (ctx.opt.json) {
      PrintJson(json::object{{"chatId", ctx.opt.args[0]}, {verb, ToArray(users)}});
    } else {
      std::cout << verb;
      for (const auto& u : users) std::cout << " " << u;
      std::cout << (std::string_view(verb) == "added" ? " to" : " from") << " chat "
                << ctx.opt.args[0] << "\n";
    }
  });
}
int CmdAdd(Context& ctx) { return ChangeMembers(ctx, "addMembers", "added"); }
int CmdRemove(Context& ctx) { return ChangeMembers(ctx, "removeMembers", "removed"); }

namespace {

// One --file of `send`.
struct Upload {
  std::string path, content_type, sha256, id, url;
  std::uint64_t size = 0;
};

Upload PrepareUpload(const std::string& path, const Options& opt) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::is_regular_file(status)) {
    throw CliError("bad_request",
                   path + ": not a regular file" + (ec ? " (" + ec.message() + ")" : ""));
  }
  Upload u;
  u.path = path;
  u.size = std::filesystem::file_size(path, ec);
  if (ec) throw CliError("bad_request", path + ": " + ec.message());
  u.sha256 = client::FileSha256(path);
  if (u.sha256.empty()) throw CliError("bad_request", "cannot read " + path);
  u.content_type = opt.type.value_or(GuessContentType(path));
  return u;
}

// The error of a failed upload: a JSON {"error","message"} body, an S3-style
// <Error><Code>..</Code><Message>..</Message> body, or the raw text.
[[noreturn]] void ThrowUploadError(const Upload& u, const client::HttpReply& reply) {
  std::string code, message;
  if (reply.body.is_object()) {
    code = Str(reply.body.get_object(), "error");
    message = Str(reply.body.get_object(), "message");
  }
  auto xml = [&](const std::string& tag) {
    auto begin = reply.raw.find("<" + tag + ">");
    if (begin == std::string::npos) return std::string();
    begin += tag.size() + 2;
    auto end = reply.raw.find("</" + tag + ">", begin);
    return end == std::string::npos ? std::string() : reply.raw.substr(begin, end - begin);
  };
  if (code.empty()) code = xml("Code");
  if (message.empty()) message = xml("Message");
  if (message.empty()) message = reply.raw.substr(0, 500);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  if (code.empty()) code = "http_" + std::to_string(reply.status);
  throw CliError(code, "upload of " + u.path + " failed (HTTP " + std::to_string(reply.status) +
                           ")" + (message.empty() ? "" : ": " + message));
}

}  // namespace

int CmdSend(Context& ctx) {
  const Options& opt = ctx.opt;
  if (opt.type && opt.files.empty()) throw UsageError("--type applies to --file");
  if (opt.args.size() < 2 && opt.files.empty()) {
    throw UsageError("nothing to send: give TEXT or --file");
  }
  std::string body;
  if (opt.args.size() == 2 && opt.args[1] == "-") {  // the text from stdin
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (!body.empty() && body.back() == '\n') body.pop_back();
  } else {
    for (std::size_t i = 1; i < opt.args.size(); ++i) {
      if (i > 1) body += ' ';
      body += opt.args[i];
    }
  }
  const std::string& chat = opt.args[0];

  // Attachments: hash every file first (a bad path fails before anything is
  // sent), get the upload targets, upload without a WebSocket open (an upload
  // may outlast the server's ping timeout), then send.
  std::vector<Upload> uploads;
  for (const auto& path : opt.files) uploads.push_back(PrepareUpload(path, opt));
  if (!uploads.empty()) {
    WithSession(ctx, [&](client::Session& s, const Login&) {
      for (Upload& u : uploads) {
        json::object reply = s.AttachTarget(u.content_type, u.size, u.sha256);
        u.id = Str(reply, "attachmentId");
        u.url = Str(reply, "uploadUrl");
        if (u.id.empty() || u.url.empty()) {
          throw CliError("internal", "attachTarget reply without attachmentId or uploadUrl");
        }
      }
    });
    for (const Upload& u : uploads) {
      if (::isatty(2))
        std::cerr << "ferry: uploading " << u.path << " (" << DescribeSize(u.size) << ")\n";
      client::HttpReply reply;
      try {
        reply = client::PutFile(u.url, u.path, u.content_type, u.sha256);
      } catch (const std::invalid_argument& e) {
        throw CliError("internal", "unusable uploadUrl: " + std::string(e.what()));
      }
      if (reply.status < 200 || reply.status >= 300) ThrowUploadError(u, reply);
    }
  }

  std::vector<std::string> ids;
  for (const Upload& u : uploads) ids.push_back(u.id);
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    json::object reply = s.Send(chat, body, RandomHex(16), ids);
    std::string id = Str(reply, "messageId");
    std::int64_t ts = ToInt(reply.if_contains("ts"));
    if (opt.json) {
      json::object out{{"messageId", id}, {"ts", ts}};
      if (!uploads.empty()) {
        json::array list;
        for (const Upload& u : uploads) {
          list.emplace_back(json::object{{"attachmentId", u.id},
                                         {"file", u.path},
                                         {"contentType", u.content_type},
                                         {"size", u.size},
                                         {"sha256", u.sha256}});
        }
        out["attachments"] = std::move(list);
      }
      PrintJson(out);
    } else {
      std::cout << id << " " << IsoUtcMs(ts) << "\n";
      for (const Upload& u : uploads) {
        std::cout << "attachment " << u.id << " " << u.path << " (" << u.content_type << ", "
                  << DescribeSize(u.size) << ", sha256 " << u.sha256 << ")\n";
      }
    }
  });
}

int CmdLastSeen(Context& ctx) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    const std::string& user = ctx.opt.args[0];
    json::object reply = s.Request(json::object{{"type", "lastSeen"}, {"user", user}});
    bool online =
        reply.if_contains("online") && reply["online"].is_bool() && reply["online"].get_bool();
    const json::value* last = reply.if_contains("lastSeen");
    bool unknown = !online && (!last || last->is_null());
    if (ctx.opt.json) {
      json::object out{{"user", user}, {"online", online}, {"lastSeen", nullptr}};
      if (last && !last->is_null()) out["lastSeen"] = *last;
      PrintJson(out);
    } else if (online) {
      std::cout << "online\n";
    } else if (unknown) {
      // The same answer for a user who never connected and one who hides it
      // (setPrivacy lastSeen "nobody"): the CLI cannot tell them apart.
      std::cout << "last seen hidden (or never online)\n";
    } else {
      std::cout << "last seen " << IsoUtc(ToInt(last)) << "\n";
    }
  });
}

namespace {

// A chatReceipts column: when the position's message was sent, "-" for null.
std::string ReceiptColumn(const json::object& row, const char* key) {
  auto position = ParsePosition(row.if_contains(key));
  return position ? IsoUtc(position->ts) : "-";
}

}  // namespace

int CmdReceipts(Context& ctx) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    json::object reply =
        s.Request(json::object{{"type", "chatReceipts"}, {"chatId", ctx.opt.args[0]}});
    const json::value* members = reply.if_contains("members");
    if (!members || !members->is_array()) {
      throw CliError("internal", "chatReceipts reply without members: " + json::serialize(reply));
    }
    for (const json::value& m : members->get_array()) {
      if (!m.is_object()) continue;
      const json::object& row = m.get_object();
      if (ctx.opt.json) {
        PrintJson(row);
        continue;
      }
      std::cout << Str(row, "user") << "  delivered " << ReceiptColumn(row, "delivered")
                << "  read " << ReceiptColumn(row, "read") << "\n";
    }
  });
}

int CmdPrivacy(Context& ctx) {
  const Options& opt = ctx.opt;
  if (!opt.read_receipts && !opt.last_seen) {
    throw UsageError("nothing to change: give --read-receipts or --last-seen");
  }
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    json::object request{{"type", "setPrivacy"}};
    if (opt.read_receipts) request["readReceipts"] = *opt.read_receipts;
    if (opt.last_seen) request["lastSeen"] = *opt.last_seen;
    json::object reply = s.Request(std::move(request));
    // The reply holds the settings after the change, the ones not given too.
    const json::value* receipts = reply.if_contains("readReceipts");
    const json::value* last_seen = reply.if_contains("lastSeen");
    bool known_receipts = receipts && receipts->is_bool();
    bool known_last_seen = last_seen && last_seen->is_string();
    if (opt.json) {
      json::object out{{"readReceipts", nullptr}, {"lastSeen", nullptr}};
      if (known_receipts) out["readReceipts"] = *receipts;
      if (known_last_seen) out["lastSeen"] = *last_seen;
      PrintJson(out);
      return;
    }
    std::cout << "read receipts: "
              << (!known_receipts        ? "unknown"
                  : receipts->get_bool() ? "on"
                                         : "off")
              << "\n"
              << "last seen: "
              << (known_last_seen ? std::string(last_seen->get_string()) : "unknown") << "\n";
  });
}

int CmdTyping(Context& ctx) {
  return WithSession(ctx, [&](client::Session& s, const Login&) {
    const std::string& chat = ctx.opt.args[0];
    std::string state = ctx.opt.paused ? "paused" : "composing";
    // With an id the server answers, so an error (say, not a member of CHAT)
    // is reported instead of lost.
    s.Request(json::object{{"type", "typing"}, {"chatId", chat}, {"state", state}});
    if (ctx.opt.json) {
      PrintJson(json::object{{"chatId", chat}, {"state", state}});
    } else {
      std::cout << (ctx.opt.paused ? "paused typing" : "typing") << " in chat " << chat << "\n";
    }
  });
}

int CmdClients(Context& ctx) {
  Login login = ctx.RequireLogin();
  auto reply = client::Http(ctx.Server(&login), "GET", "/v1/clients", {}, login.token);
  Expect(reply, 200);
  const json::value* list =
      reply.body.is_object() ? reply.body.get_object().if_contains("clients") : nullptr;
  if (!list || !list->is_array()) throw CliError("internal", "unexpected reply: " + reply.raw);
  for (const json::value& c : list->get_array()) {
    if (!c.is_object()) continue;
    const json::object& client = c.get_object();
    if (ctx.opt.json) {
      PrintJson(client);
      continue;
    }
    std::string id = Str(client, "clientId");
    const json::value* active = client.if_contains("lastActive");
    std::string when = !active || active->is_null() ? "never"
                       : active->is_string()        ? std::string(active->get_string())
                                                    : IsoUtc(ToInt(active));
    std::cout << id << "  " << Str(client, "device") << "  last active " << when
              << (id == login.client_id ? "  (this login)" : "") << "\n";
  }
  return 0;
}

int CmdRevoke(Context& ctx) {
  Login login = ctx.RequireLogin();
  const std::string& id = ctx.opt.args[0];
  auto reply = client::Http(ctx.Server(&login), "DELETE", "/v1/clients/" + PercentEncode(id), {},
                            login.token);
  Expect(reply, 204);
  if (ctx.opt.json) {
    PrintJson(json::object{{"clientId", id}, {"revoked", true}});
  } else {
    std::cout << "revoked " << id << "\n";
  }
  if (id == login.client_id) {
    std::cerr << "ferry: that was the client of this login; log in again to use it\n";
  }
  return 0;
}

}  // namespace ferry::cli
