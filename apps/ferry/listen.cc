// `ferry listen`: stream the inbox, print each entry, ack it, persist the
// highest acked seq (so a restart resumes), reconnect with backoff.
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
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
      if (seq > 0) {
        s.Ack(seq);
        acked_ = seq;
        login_.last_seq = seq;
        Persist();
      }
      if (ctx_.opt.count && ++received_ >= *ctx_.opt.count) {
        CloseQuietly(s);
        return 0;
      }
    }
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
};

}  // namespace

int RunListen(Context& ctx) { return Listener(ctx).Run(); }

}  // namespace ferry::cli
