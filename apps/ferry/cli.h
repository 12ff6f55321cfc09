// Shared pieces of the `ferry` command-line client: parsed options, the error
// type every command throws, saved logins, and output helpers.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "client/client.h"

namespace ferry::cli {
using namespace std::chrono_literals;

// A failure reported as `ferry: CODE: MESSAGE` with exit status 1.
struct CliError : std::runtime_error {
  CliError(std::string code_, const std::string& message)
      : std::runtime_error(message), code(std::move(code_)) {}
  std::string code;
};

// A command-line mistake: exit status 2 and the command's usage line.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::optional<std::string> server, as, config_dir, password, device, name;
  std::optional<std::int64_t> count;
  std::optional<double> timeout;  // seconds
  bool json = false;
  std::vector<std::string> files;        // send --file (repeatable)
  std::optional<std::string> type;       // send --type: content type of every --file
  std::optional<std::string> download;   // listen --download DIR
  bool no_read = false;                  // listen --no-read: send no markRead
  bool until_typing = false;             // listen --until-typing: exit after a typing event
  bool paused = false;                   // typing --paused
  std::optional<bool> read_receipts;     // privacy --read-receipts on|off
  std::optional<std::string> last_seen;  // privacy --last-seen everyone|nobody
  std::vector<std::string> args;         // positional arguments after the command name
};

// One saved login: `<config-dir>/<user>.json`.
struct Login {
  std::string server;  // "http://HOST:PORT"
  std::string user, token, client_id, device;
  std::string epoch;                     // "" until the first hello
  std::optional<std::int64_t> last_seq;  // highest acknowledged seq in `epoch`
};

// ---- state.cc ----
std::filesystem::path ResolveConfigDir(const Options& opt);
std::optional<Login> LoadLogin(const std::filesystem::path& dir, const std::string& user);
void SaveLogin(const std::filesystem::path& dir, const Login& login);
std::optional<std::string> LoadCurrentUser(const std::filesystem::path& dir);
void SaveCurrentUser(const std::filesystem::path& dir, const std::string& user);
// Writes `content` to `path` (mode 0600) via a temporary file and rename.
void WriteFileAtomic(const std::filesystem::path& path, const std::string& content);
// A user name safe to use as a file name.
bool IsPlausibleUser(const std::string& user);

// A place in a chat: the {"ts","messageId"} of one of its messages. Ordered
// like messages, by (ts, messageId).
struct Position {
  std::int64_t ts = 0;
  std::string message_id;
  auto operator<=>(const Position&) const = default;
  boost::json::object ToJson() const;
};

// ---- format.cc ----
std::string IsoUtc(std::int64_t ms);     // 2026-11-28T10:15:03Z
std::string LocalTime(std::int64_t ms);  // 2026-11-28 10:15:03
// The position of an object with an integer "ts" and a string "messageId"
// (a message, or a position itself); nullopt when either is missing.
std::optional<Position> PositionOf(const boost::json::object& object);
// The position `value` holds; nullopt when it is missing, null or malformed.
std::optional<Position> ParsePosition(const boost::json::value* value);
// What `listen` prints for an event: one line for a message (its attachments
// follow on their own indented lines: id, content type, size), a chat event,
// a receipt or a `composing` typing event; "" for what is not shown (a
// `paused` typing event).
std::string DescribeEntry(const boost::json::object& entry);
// Prints one JSON object on its own line to stdout and flushes.
void PrintJson(const boost::json::object& object);
// Text of a string field, or "" when missing or not a string.
std::string Str(const boost::json::object& object, const char* key);
// Throws CliError for a WebSocket close from the server.
[[noreturn]] void ThrowClosed(const client::CloseInfo& close);
// True for close codes after which reconnecting cannot help.
bool IsFatalClose(std::uint16_t code);

// ---- attachments.cc ----
// The content type for a file name's extension (a small table), else
// application/octet-stream.
std::string GuessContentType(const std::string& path);
// "png" for image/png etc., "bin" when unknown.
std::string ExtensionFor(const std::string& content_type);
// Where `listen --download DIR` saves an attachment: DIR/<id>.<ext>, with the
// id reduced to [A-Za-z0-9_-] so it is always a plain file name in DIR.
std::filesystem::path DownloadPath(const std::filesystem::path& dir,
                                   const std::string& attachment_id,
                                   const std::string& content_type);
// Human size: "3145728 bytes (3.0 MiB)".
std::string DescribeSize(std::uint64_t bytes);

// ---- commands.cc, listen.cc: the handlers of the command table ----
struct Context;
int CmdRegister(Context& ctx);
int CmdLogin(Context& ctx);
int CmdChats(Context& ctx);
int CmdCreate(Context& ctx);
int CmdAdd(Context& ctx);
int CmdRemove(Context& ctx);
int CmdSend(Context& ctx);
int CmdLastSeen(Context& ctx);
int CmdReceipts(Context& ctx);
int CmdPrivacy(Context& ctx);
int CmdTyping(Context& ctx);
int CmdClients(Context& ctx);
int CmdRevoke(Context& ctx);
int RunListen(Context& ctx);

// The state every command handler gets.
struct Context {
  Options opt;
  std::filesystem::path config_dir;

  // The login named by --as, else the current one; throws CliError if none.
  Login RequireLogin() const;
  // The server to talk to: --server, else the login's, else FERRY_SERVER,
  // else http://127.0.0.1:8080.
  std::string ServerUrl(const Login* login) const;
  client::Endpoint Server(const Login* login) const;
};

}  // namespace ferry::cli
