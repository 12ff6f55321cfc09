// ferry: the Ferry command-line client. One row per command in kCommands
// (name, argument counts, allowed options, handler); options may appear
// anywhere on the line, `--` ends them. Errors: `ferry: CODE: MESSAGE` on
// stderr and exit 1; usage errors exit 2.
#include <iostream>
#include <set>
#include <string_view>

#include "cli.h"

using namespace ferry;
using namespace ferry::cli;

namespace {

// ---- the tables ----

struct Command {
  std::string_view name;
  int min_args, max_args;  // max -1: any number
  std::string_view usage;
  std::set<std::string_view> options;  // command-specific options it accepts
  int (*run)(Context&);
  std::string_view help;
};

const Command kCommands[] = {
    {"register",
     1,
     1,
     "register USER [--password P]",
     {"password"},
     CmdRegister,
     "create an account"},
    {"login",
     1,
     1,
     "login USER --device NAME [--password P]",
     {"password", "device"},
     CmdLogin,
     "log in and save the token (device defaults to the host name)"},
    {"chats", 0, 0, "chats", {}, CmdChats, "list your chats"},
    {"create",
     1,
     -1,
     "create USER... [--name NAME]",
     {"name"},
     CmdCreate,
     "create a chat with these users; prints its id"},
    {"add", 2, -1, "add CHAT USER...", {}, CmdAdd, "add members to a chat"},
    {"remove",
     2,
     -1,
     "remove CHAT USER...",
     {},
     CmdRemove,
     "remove members from a chat (yourself: leave)"},
    {"send",
     1,
     -1,
     "send CHAT [--file PATH]... [--type TYPE] [TEXT...] (TEXT '-': read stdin)",
     {"file", "type"},
     CmdSend,
     "send a message; prints its messageId and ts, then one line per attachment.\n"
     "      --file PATH (repeatable) uploads PATH as an attachment (size and sha256 are\n"
     "      checked by the server); the content type comes from the extension (png jpg\n"
     "      jpeg gif webp mp4 mp3 ogg m4a pdf txt json zip, else\n"
     "      application/octet-stream) unless --type TYPE gives it for every file;\n"
     "      TEXT may then be empty"},
    {"listen",
     0,
     0,
     "listen [--count N] [--timeout SECONDS] [--download DIR] [--no-read] [--until-typing]",
     {"count", "timeout", "download", "no-read", "until-typing"},
     RunListen,
     "print incoming messages, chat events and receipts (`bob read up to 12:01:03`,\n"
     "      `bob got messages up to ...`) and who is typing, until interrupted, and mark\n"
     "      the printed messages read as it goes (per chat, up to the last one printed;\n"
     "      --no-read: do not). --count N stops after N inbox entries (messages, chat\n"
     "      events, receipts; typing events do not count); --until-typing stops after\n"
     "      the first typing event; --timeout SECONDS fails (exit 1) once nothing has\n"
     "      arrived for that long. Attachments are listed with their content type and\n"
     "      size. --download DIR saves each one as DIR/<attachmentId>.<ext>, checking\n"
     "      its size and sha256, and prints `saved PATH (N bytes, sha256 ok)`; a failed\n"
     "      download is reported on stderr and listening goes on (with --json: one\n"
     "      {\"type\":\"saved\"} or {\"type\":\"downloadFailed\"} object per attachment)"},
    {"last-seen",
     1,
     1,
     "last-seen USER",
     {},
     CmdLastSeen,
     "when USER was last online; `last seen hidden (or never online)` when the\n"
     "      server gives no time: USER never connected, or set privacy --last-seen nobody"},
    {"receipts",
     1,
     1,
     "receipts CHAT",
     {},
     CmdReceipts,
     "how far each other member got: `bob  delivered TIME  read TIME`, the times\n"
     "      (UTC) of the messages the marks stand at; `-` for none (read: also when\n"
     "      that member turned read receipts off)"},
    {"privacy",
     0,
     0,
     "privacy [--read-receipts on|off] [--last-seen everyone|nobody]",
     {"read-receipts", "last-seen"},
     CmdPrivacy,
     "change your privacy settings (at least one option) and print them all:\n"
     "      --read-receipts off: others no longer see how far you read;\n"
     "      --last-seen nobody: others get no last-seen time (everyone: members of a\n"
     "      shared chat, the default)"},
    {"typing",
     1,
     1,
     "typing CHAT [--paused]",
     {"paused"},
     CmdTyping,
     "tell the members of CHAT who are connected now that you are typing\n"
     "      (--paused: that you stopped)"},
    {"clients", 0, 0, "clients", {}, CmdClients, "list your logged-in devices"},
    {"revoke", 1, 1, "revoke CLIENT", {}, CmdRevoke, "log out a device (by clientId)"},
};

constexpr std::string_view kGlobalUsage =
    "ferry [--server URL] [--as USER] [--json] [--config-dir DIR] COMMAND [ARGS...]";

struct OptionSpec {
  std::string_view name;
  bool global;
  bool takes_value;
  void (*set)(Options&, const std::string&);
};

std::int64_t ParsePositive(const std::string& v, const char* flag) {
  try {
    std::size_t used = 0;
    long long n = std::stoll(v, &used);
    if (used == v.size() && n > 0) return n;
  } catch (const std::exception&) {
  }
  throw UsageError(std::string("--") + flag + " needs a positive integer, not '" + v + "'");
}

double ParseSeconds(const std::string& v) {
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size() && d > 0 && d < 1e9) return d;
  } catch (const std::exception&) {
  }
  throw UsageError("--timeout needs a positive number of seconds, not '" + v + "'");
}

const OptionSpec kOptions[] = {
    {"server", true, true, [](Options& o, const std::string& v) { o.server = v; }},
    {"as", true, true, [](Options& o, const std::string& v) { o.as = v; }},
    {"config-dir", true, true, [](Options& o, const std::string& v) { o.config_dir = v; }},
    {"json", true, false, [](Options& o, const std::string&) { o.json = true; }},
    {"password", false, true, [](Options& o, const std::string& v) { o.password = v; }},
    {"device", false, true, [](Options& o, const std::string& v) { o.device = v; }},
    {"name", false, true, [](Options& o, const std::string& v) { o.name = v; }},
    {"count", false, true,
     [](Options& o, const std::string& v) { o.count = ParsePositive(v, "count"); }},
    {"timeout", false, true, [](Options& o, const std::string& v) { o.timeout = ParseSeconds(v); }},
    {"file", false, true, [](Options& o, const std::string& v) { o.files.push_back(v); }},
    {"type", false, true,
     [](Options& o, const std::string& v) {
       if (v.empty() || v.find_first_of("\r\n") != std::string::npos) {
         throw UsageError("--type needs a content type such as image/png");
       }
       o.type = v;
     }},
    {"download", false, true,
     [](Options& o, const std::string& v) {
       if (v.empty()) throw UsageError("--download needs a directory");
       o.download = v;
     }},
    {"no-read", false, false, [](Options& o, const std::string&) { o.no_read = true; }},
    {"until-typing", false, false, [](Options& o, const std::string&) { o.until_typing = true; }},
    {"paused", false, false, [](Options& o, const std::string&) { o.paused = true; }},
    {"read-receipts", false, true,
     [](Options& o, const std::string& v) {
       if (v != "on" && v != "off") throw UsageError("--read-receipts needs on or off");
       o.read_receipts = v == "on";
     }},
    {"last-seen", false, true,
     [](Options& o, const std::string& v) {
       if (v != "everyone" && v != "nobody") {
         throw UsageError("--last-seen needs everyone or nobody");
       }
       o.last_seen = v;
     }},
};

void PrintHelp(std::ostream& out) {
  out << "usage: " << kGlobalUsage << "\n\ncommands:\n";
  for (const Command& c : kCommands) {
    out << "  ferry " << c.usage << "\n      " << c.help << "\n";
  }
  out << "\nglobal options:\n"
         "  --server URL      http[s]://HOST[:PORT] (default: the login's, else $FERRY_SERVER, "
         "else "
         "http://127.0.0.1:8080)\n"
         "  --as USER         which saved login to use (default: the last one logged in)\n"
         "  --json            machine output: one JSON object per line\n"
         "  --config-dir DIR  saved logins (default: $FERRY_CONFIG_DIR, else "
         "$XDG_CONFIG_HOME/ferry, else ~/.config/ferry)\n"
         "password: --password, else $FERRY_PASSWORD, else one line of stdin\n";
}

}  // namespace

int main(int argc, char** argv) {
  const Command* command = nullptr;
  try {
    Options opt;
    std::set<std::string_view> used;
    std::vector<std::string> positional;
    bool options_done = false, help = false;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      // Ids are base64url and may start with '-': only "--..." is an option.
      if (options_done || !arg.starts_with("-") || (!arg.starts_with("--") && arg != "-h")) {
        positional.push_back(arg);
        continue;
      }
      if (arg == "--") {
        options_done = true;
        continue;
      }
      if (arg == "-h" || arg == "--help") {
        help = true;
        continue;
      }
      std::string name = arg.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_value = true;
      }
      const OptionSpec* spec = nullptr;
      for (const OptionSpec& o : kOptions) {
        if (o.name == name) spec = &o;
      }
      if (!spec) {
        throw UsageError("unknown option --" + name +
                         " (put `--` before arguments that start with --)");
      }
      if (spec->takes_value && !has_value) {
        if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
        value = argv[++i];
      } else if (!spec->takes_value && has_value) {
        throw UsageError("--" + name + " takes no value");
      }
      spec->set(opt, value);
      if (!spec->global) used.insert(spec->name);
    }
    if (help || (!positional.empty() && positional[0] == "help")) {
      PrintHelp(std::cout);
      return 0;
    }
    if (positional.empty()) throw UsageError("no command given (try `ferry help`)");
    for (const Command& c : kCommands) {
      if (c.name == positional[0]) command = &c;
    }
    if (!command) throw UsageError("unknown command '" + positional[0] + "' (try `ferry help`)");
    opt.args.assign(positional.begin() + 1, positional.end());
    int n = static_cast<int>(opt.args.size());
    if (n < command->min_args) throw UsageError("too few arguments");
    if (command->max_args >= 0 && n > command->max_args) throw UsageError("too many arguments");
    for (std::string_view o : used) {
      if (!command->options.contains(o)) {
        throw UsageError("--" + std::string(o) + " does not apply to " +
                         std::string(command->name));
      }
    }
    if (opt.as && !IsPlausibleUser(*opt.as)) throw UsageError("--as needs a user name");
    Context ctx{std::move(opt), {}};
    ctx.config_dir = ResolveConfigDir(ctx.opt);
    return command->run(ctx);
  } catch (const UsageError& e) {
    std::cerr << "ferry: " << e.what() << "\nusage: "
              << (command ? "ferry " + std::string(command->usage) : std::string(kGlobalUsage))
              << "\n";
    return 2;
  } catch (const CliError& e) {
    std::cerr << "ferry: " << e.code << ": " << e.what() << "\n";
  } catch (const client::RequestError& e) {
    std::cerr << "ferry: " << e.what() << "\n";  // "code: message"
  } catch (const client::ConnectionError& e) {
    std::cerr << "ferry: connection: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "ferry: internal: " << e.what() << "\n";
  }
  return 1;
}
