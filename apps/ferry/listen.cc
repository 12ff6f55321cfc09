// `ferry listen`: stream the inbox, print each entry, ack it, persist the
// highest acked seq (so a restart resumes), reconnect with backoff.
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <iostream>
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

class Listener {
 public:
  explicit Listener(Context& ctx)
      : ctx_(ctx), login_(ctx.RequireLogin()), server_(ctx.Server(&login_)) {
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
      if (g_stop) {
        CloseQuietly(s);
        return 0;
      }
      CheckTimeout([&] { CloseQuietly(s); });
      auto entry = s.NextEntry(200ms);
      if (!entry) {
        if (const auto& close = s.ws().close_info()) {
          if (IsFatalClose(close->code)) ThrowClosed(*close);
          std::string what = close->code == 4409 ? "another connection of this client took over"
                                                 : "connection lost";
          throw client::ConnectionError(what + " (" + DescribeClose(*close) + ")");
        }
        continue;
      }
      last_arrival_ = Clock::now();
      std::int64_t seq = 0;
      if (const json::value* v = entry->if_contains("seq"); v && v->is_int64()) {
        seq = v->get_int64();
      }
      if (seq > 0 && seq <= acked_) {  // a resend of an entry already printed
        s.Ack(seq);
        continue;
      }
      if (ctx_.opt.json) {
        PrintJson(*entry);
      } else {
        std::cout << DescribeEntry(*entry) << std::endl;
      }
      // Ack before downloading: the URLs stay valid after the ack, and an
      // entry left unacked during a long download would be resent.
      if (seq > 0) {
        s.Ack(seq);
        acked_ = seq;
        login_.last_seq = seq;
        Persist();
      }
      if (download_dir_ && Str(*entry, "type") == "message") {
        DownloadAll(*entry);
        last_arrival_ = Clock::now();  // downloading is not idleness
      }
      if (ctx_.opt.count && ++received_ >= *ctx_.opt.count) {
        CloseQuietly(s);
        return 0;
      }
    }
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
  std::optional<std::filesystem::path> download_dir_;
};

}  // namespace

int RunListen(Context& ctx) { return Listener(ctx).Run(); }

}  // namespace ferry::cli
