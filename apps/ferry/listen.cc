// `ferry listen`: stream the inbox, print each entry (and typing events), ack
// it, persist the highest acked seq (so a restart resumes), mark printed
// messages read, reconnect with backoff.
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "cli.h"

namespace ferry::cli {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return early
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

void Notice(const std::string& text) { std::cerr << "ferry: " << text << std::endl; }

std::string DescribeClose(const client::CloseInfo& c) {
  return "close " + std::to_string(c.code) + (c.reason.empty() ? "" : " " + c.reason);
}

void CloseQuietly(client::Session& s) {
  try {
    s.ws().Close();
  } catch (const std::exception&) {
  }
}

// What `listen` tells the server it has shown: per chat, the highest message
// position printed, sent with markRead once the backlog is printed. A chat's
// mark only goes up within a run; markRead errors are reported and dropped,
// connection errors keep the mark for the next connection.
class ReadMarks {
 public:
  explicit ReadMarks(bool enabled) : enabled_(enabled) {}

  // Records a printed message (whoever sent it: the user saw it).
  void Saw(const json::object& message) {
    if (!enabled_) return;
    auto position = PositionOf(message);
    std::string chat = Str(message, "chatId");
    if (!position || chat.empty()) return;
    if (auto sent = sent_.find(chat); sent != sent_.end() && sent->second >= *position) return;
    auto [it, added] = unsent_.try_emplace(chat, *position);
    if (!added && it->second < *position) it->second = *position;
  }

  bool Pending() const { return !unsent_.empty(); }

  // Sends markRead for every chat with an unsent mark and waits for each
  // reply. Throws ConnectionError (the unsent marks stay).
  void Flush(client::Session& s, client::Ms timeout = 10s) {
    for (auto it = unsent_.begin(); it != unsent_.end(); it = unsent_.erase(it)) {
      const auto& [chat, position] = *it;
      try {
        s.Request(json::object{{"type", "markRead"}, {"chatId", chat}, {"upTo", position.ToJson()}},
                  timeout);
      } catch (const client::RequestError& e) {
        Notice("cannot mark chat " + chat + " read: " + e.what());
        // A server before protocol 1.1 knows no markRead: say so once, not
        // once per chat and batch.
        if (e.code == "bad_request") {
          Notice("not marking messages read for the rest of this run");
          enabled_ = false;
          unsent_.clear();
          return;
        }
      }
      sent_[chat] = position;
    }
  }

 private:
  bool enabled_;
  std::map<std::string, Position> unsent_, sent_;
};

class Listener {
 public:
  explicit Listener(Context& ctx)
      : ctx_(ctx),
        login_(ctx.RequireLogin()),
        server_(ctx.Server(&login_)),
        read_marks_(!ctx.opt.no_read) {
    if (login_.epoch.empty()) login_.last_seq.reset();  // a seq means nothing without its epoch
    acked_ = login_.last_seq.value_or(0);
    if (ctx.opt.download) {
      download_dir_ = std::filesystem::path(*ctx.opt.download);
      std::error_code ec;
      std::filesystem::create_directories(*download_dir_, ec);
      if (ec || !std::filesystem::is_directory(*download_dir_)) {
        throw CliError("bad_request", "cannot use " + *ctx.opt.download +
                                          " as the download directory" +
                                          (ec ? ": " + ec.message() : ""));
      }
    }
    if (ctx.opt.timeout) {
      timeout_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(*ctx.opt.timeout));
    }
  }

  int Run() {
    InstallSignalHandlers();
    last_arrival_ = Clock::now();
    if (!ctx_.opt.json && ::isatty(2)) {
      Notice("listening as " + login_.user + " on " + ctx_.ServerUrl(&login_) +
             " (Ctrl-C to stop)");
    }
    int backoff = 1;
    bool connected_before = false;
    while (!g_stop) {
      std::string why;
      try {
        auto session = Connect();
        if (connected_before) Notice("reconnected");
        connected_before = true;
        backoff = 1;
        if (int status = Pump(*session); status >= 0) return status;
      } catch (const client::ConnectionError& e) {
        why = e.what();
      }
      if (g_stop) break;
      Notice(why + "; reconnecting in " + std::to_string(backoff) + " s");
      Sleep(std::chrono::seconds(backoff));
      backoff = std::min(backoff * 2, 10);
    }
    return 0;
  }

 private:
  // Connects and says hello. ConnectionError: worth retrying; CliError: not.
  std::unique_ptr<client::Session> Connect() {
    auto session = client::Session::Connect(server_, 5s);
    std::optional<std::int64_t> after = login_.last_seq;
    json::object hello;
    try {
      hello = session->Hello(login_.token, after);
    } catch (const client::RequestError& e) {
      throw CliError(e.code, e.what());
    } catch (const client::ConnectionError&) {
      if (const auto& close = session->ws().close_info()) {
        if (IsFatalClose(close->code)) ThrowClosed(*close);
        throw client::ConnectionError("connection closed during hello (" + DescribeClose(*close) +
                                      ")");
      }
      throw;
    }
    std::string epoch = Str(hello, "epoch");
    if (!login_.epoch.empty() && epoch != login_.epoch) {
      Notice(
          "the server's epoch changed (this client's inbox was reset); dropping the saved seq "
          "state");
      login_.epoch = epoch;
      login_.last_seq.reset();
      acked_ = 0;
      Persist();
      if (after) {  // the hello asked for the wrong range: start over without `after`
        CloseQuietly(*session);
        return Connect();
      }
    } else if (login_.epoch.empty()) {
      login_.epoch = epoch;
      Persist();
    }
    return session;
  }

  // Reads entries until the connection drops (throws ConnectionError) or
  // listen should exit (returns the exit status).
  int Pump(client::Session& s) {
    for (;;) {
      if (g_stop || done_) return Finish(s);
      CheckTimeout([&] { CloseQuietly(s); });
      // While read marks wait, only peek: they go out once the backlog is
      // printed, one markRead per chat rather than one per message.
      auto entry = s.NextEntry(read_marks_.Pending() ? 1ms : 200ms);
      if (!entry) {
        ThrowIfClosed(s);
        read_marks_.Flush(s);
        continue;
      }
      last_arrival_ = Clock::now();
      done_ = Handle(s, *entry);
    }
  }

  // Prints, acks and records one event; true when listen is done: --count
  // entries printed, or --until-typing's typing event.
  bool Handle(client::Session& s, const json::object& entry) {
    std::int64_t seq = 0;
    if (const json::value* v = entry.if_contains("seq"); v && v->is_int64()) {
      seq = v->get_int64();
    }
    if (seq > 0 && seq <= acked_) {  // a resend of an entry already printed
      s.Ack(seq);
      return false;
    }
    Print(entry);
    // Ack before downloading: the URLs stay valid after the ack, and an
    // entry left unacked during a long download would be resent.
    if (seq > 0) {
      s.Ack(seq);
      acked_ = seq;
      login_.last_seq = seq;
      Persist();
    }
    std::string type = Str(entry, "type");
    if (type == "message") {
      read_marks_.Saw(entry);
      if (download_dir_) {
        DownloadAll(entry);
        last_arrival_ = Clock::now();  // downloading is not idleness
      }
    }
    if (type == "typing" && ctx_.opt.until_typing) return true;
    // Typing events are not inbox entries (no seq): --count leaves them out.
    return seq > 0 && ctx_.opt.count && ++received_ >= *ctx_.opt.count;
  }

  void Print(const json::object& entry) {
    if (ctx_.opt.json) {
      PrintJson(entry);
    } else if (std::string line = DescribeEntry(entry); !line.empty()) {
      std::cout << line << std::endl;
    }
  }

  // Marks read what was printed, then closes. If the connection drops
  // meanwhile, Run reconnects and Pump comes back here; after Ctrl-C the
  // marks get one short try, so that listen stops promptly.
  int Finish(client::Session& s) {
    if (g_stop) {
      try {
        read_marks_.Flush(s, 2s);
      } catch (const client::ConnectionError& e) {
        Notice("could not mark the printed messages read: " + std::string(e.what()));
      }
    } else {
      read_marks_.Flush(s);
    }
    CloseQuietly(s);
    return 0;
  }

  // Throws once the server closed the connection: CliError when
  // reconnecting cannot help, else ConnectionError.
  static void ThrowIfClosed(client::Session& s) {
    const auto& close = s.ws().close_info();
    if (!close) return;
    if (IsFatalClose(close->code)) ThrowClosed(*close);
    std::string what =
        close->code == 4409 ? "another connection of this client took over" : "connection lost";
    throw client::ConnectionError(what + " (" + DescribeClose(*close) + ")");
  }

  // Saves every attachment of a message into the --download directory; a
  // failure is reported and listening goes on.
  void DownloadAll(const json::object& message) {
    const json::value* list = message.if_contains("attachments");
    if (!list || !list->is_array()) return;
    for (const json::value& v : list->get_array()) {
      if (g_stop) return;
      if (!v.is_object()) continue;
      const json::object& att = v.get_object();
      std::string id = Str(att, "attachmentId");
      std::string error;
      std::filesystem::path path;
      std::uint64_t size = 0;
      bool sha_checked = false;
      try {
        path = Download(att, size, sha_checked);
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (ctx_.opt.json) {
        json::object out{{"type", error.empty() ? "saved" : "downloadFailed"},
                         {"messageId", Str(message, "messageId")},
                         {"attachmentId", id}};
        if (error.empty()) {
          out["path"] = path.string();
          out["size"] = size;
          out["sha256Checked"] = sha_checked;
        } else {
          out["error"] = error;
        }
        PrintJson(out);
      } else if (error.empty()) {
        std::cout << "saved " << path.string() << " (" << size << " bytes, "
                  << (sha_checked ? "sha256 ok" : "no sha256 to check") << ")" << std::endl;
      } else {
        Notice("download of attachment " + id + " failed: " + error);
      }
    }
  }

  // Fetches one attachment into DIR/.partial-<id>, checks size and sha256,
  // renames it into place; returns the final path. Throws with the reason.
  std::filesystem::path Download(const json::object& att, std::uint64_t& size, bool& sha_checked) {
    std::string id = Str(att, "attachmentId"), url = Str(att, "url");
    if (id.empty() || url.empty()) throw std::runtime_error("no attachmentId or url in the event");
    const json::value* size_value = att.if_contains("size");
    if (!size_value || !(size_value->is_int64() || size_value->is_uint64()) ||
        (size_value->is_int64() && size_value->get_int64() < 0)) {
      throw std::runtime_error("no valid size in the event");
    }
    std::uint64_t expected = size_value->is_uint64()
                                 ? size_value->get_uint64()
                                 : static_cast<std::uint64_t>(size_value->get_int64());
    std::string expected_sha = Str(att, "sha256");
    for (char& c : expected_sha) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::filesystem::path final_path = DownloadPath(*download_dir_, id, Str(att, "contentType"));
    std::filesystem::path partial = *download_dir_ / (".partial-" + final_path.stem().string());
    auto discard = [&] {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
    };
    client::HttpReply reply;
    try {
      reply = client::GetToFile(url, partial.string(), expected);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("unusable url: " + std::string(e.what()));
    }
    if (reply.status < 200 || reply.status >= 300) {
      std::string detail;
      if (reply.body.is_object()) {
        detail = Str(reply.body.get_object(), "error");
        std::string message = Str(reply.body.get_object(), "message");
        if (!message.empty()) detail += (detail.empty() ? "" : ": ") + message;
      }
      if (detail.empty()) detail = reply.raw.substr(0, 200);
      throw std::runtime_error("HTTP " + std::to_string(reply.status) +
                               (detail.empty() ? "" : " " + detail));
    }
    std::error_code ec;
    size = std::filesystem::file_size(partial, ec);
    if (ec) {
      discard();
      throw std::runtime_error("cannot read the downloaded file: " + ec.message());
    }
    if (size != expected) {
      discard();
      throw std::runtime_error("got " + std::to_string(size) + " bytes, the message says " +
                               std::to_string(expected));
    }
    if (!expected_sha.empty()) {
      std::string actual = client::FileSha256(partial.string());
      if (actual != expected_sha) {
        discard();
        throw std::runtime_error("sha256 mismatch: got " + actual + ", the message says " +
                                 expected_sha);
      }
      sha_checked = true;
    }
    std::filesystem::rename(partial, final_path, ec);
    if (ec) {
      discard();
      throw std::runtime_error("cannot move the file into place: " + ec.message());
    }
    return final_path;
  }

  template <typename F>
  void CheckTimeout(F&& before_throw) {
    if (timeout_ && Clock::now() - last_arrival_ >= *timeout_) {
      before_throw();
      std::ostringstream secs;
      secs << *ctx_.opt.timeout;
      throw CliError("timeout", "nothing arrived for " + secs.str() + " s");
    }
  }

  void Sleep(Clock::duration d) {
    auto until = Clock::now() + d;
    while (!g_stop && Clock::now() < until) {
      CheckTimeout([] {});
      std::this_thread::sleep_for(50ms);
    }
  }

  // Saves epoch and seq into the login file, unless it now holds another
  // client (someone logged in again meanwhile).
  void Persist() {
    try {
      auto saved = LoadLogin(ctx_.config_dir, login_.user);
      if (!saved || saved->client_id != login_.client_id) {
        if (!persist_warned_) Notice("the saved login changed; not saving the seq state");
        persist_warned_ = true;
        return;
      }
      saved->epoch = login_.epoch;
      saved->last_seq = login_.last_seq;
      SaveLogin(ctx_.config_dir, *saved);
    } catch (const CliError& e) {
      if (!persist_warned_) Notice("cannot save the seq state: " + std::string(e.what()));
      persist_warned_ = true;
    }
  }

  Context& ctx_;
  Login login_;
  client::Endpoint server_;
  std::int64_t acked_ = 0;
  std::int64_t received_ = 0;
  std::optional<Clock::duration> timeout_;
  Clock::time_point last_arrival_;
  bool persist_warned_ = false;
  bool done_ = false;  // everything asked for is printed; marks may still be unsent
  std::optional<std::filesystem::path> download_dir_;
  ReadMarks read_marks_;
};

}  // namespace

int RunListen(Context& ctx) { return Listener(ctx).Run(); }

}  // namespace ferry::cli
