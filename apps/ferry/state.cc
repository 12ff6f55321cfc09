// Saved logins: one JSON file per user in the config directory (mode 0600,
// replaced atomically), plus `current` naming the default user.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cli.h"

namespace ferry::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

[[noreturn]] void ThrowErrno(const std::string& what, const fs::path& path) {
  throw CliError("config", what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

fs::path ResolveConfigDir(const Options& opt) {
  if (opt.config_dir) return *opt.config_dir;
  if (auto dir = Env("FERRY_CONFIG_DIR"); !dir.empty()) return dir;
  if (auto xdg = Env("XDG_CONFIG_HOME"); !xdg.empty()) return fs::path(xdg) / "ferry";
  if (auto home = Env("HOME"); !home.empty()) return fs::path(home) / ".config" / "ferry";
  throw CliError("config", "cannot find a config directory: set --config-dir or HOME");
}

bool IsPlausibleUser(const std::string& user) {
  if (user.empty() || user.size() > 64 || user == "." || user == ".." || user == "current") {
    return false;
  }
  for (char c : user) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void WriteFileAtomic(const fs::path& path, const std::string& content) {
  std::error_code ec;
  if (!fs::exists(path.parent_path(), ec)) {
    // Tokens live here: keep the directory private.
    if (fs::create_directories(path.parent_path(), ec)) {
      fs::permissions(path.parent_path(), fs::perms::owner_all, ec);
    }
  }
  if (ec)
    throw CliError("config", "cannot create " + path.parent_path().string() + ": " + ec.message());
  std::string tmpl = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());  // created with mode 0600
  if (fd < 0) ThrowErrno("cannot create a temporary file in", path.parent_path());
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(tmpl.c_str());
      ThrowErrno("cannot write", tmpl);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    ThrowErrno("cannot write", tmpl);
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    ::unlink(tmpl.c_str());
    ThrowErrno("cannot replace", path);
  }
}

std::optional<Login> LoadLogin(const fs::path& dir, const std::string& user) {
  if (!IsPlausibleUser(user)) throw CliError("bad_request", "not a user name: " + user);
  fs::path path = dir / (user + ".json");
  auto text = ReadFile(path);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) throw CliError("config", "corrupt login file " + path.string());
  const json::object& o = v.get_object();
  Login login;
  login.server = Str(o, "server");
  login.user = Str(o, "user");
  login.token = Str(o, "token");
  login.client_id = Str(o, "clientId");
  login.device = Str(o, "device");
  login.epoch = Str(o, "epoch");
  if (const json::value* seq = o.if_contains("lastSeq"); seq && seq->is_int64()) {
    login.last_seq = seq->get_int64();
  }
  if (login.token.empty() || login.user.empty()) {
    throw CliError("config", "incomplete login file " + path.string());
  }
  return login;
}

void SaveLogin(const fs::path& dir, const Login& login) {
  json::object o{{"server", login.server},      {"user", login.user},     {"token", login.token},
                 {"clientId", login.client_id}, {"device", login.device}, {"epoch", login.epoch}};
  if (login.last_seq) o["lastSeq"] = *login.last_seq;
  WriteFileAtomic(dir / (login.user + ".json"), json::serialize(o) + "\n");
}

std::optional<std::string> LoadCurrentUser(const fs::path& dir) {
  auto text = ReadFile(dir / "current");
  if (!text) return std::nullopt;
  std::string user = *text;
  while (!user.empty() && (user.back() == '\n' || user.back() == '\r' || user.back() == ' ')) {
    user.pop_back();
  }
  if (user.empty()) return std::nullopt;
  return user;
}

void SaveCurrentUser(const fs::path& dir, const std::string& user) {
  WriteFileAtomic(dir / "current", user + "\n");
}

Login Context::RequireLogin() const {
  std::string user;
  if (opt.as) {
    user = *opt.as;
  } else if (auto current = LoadCurrentUser(config_dir)) {
    user = *current;
  } else {
    throw CliError("not_logged_in", "no saved login in " + config_dir.string() +
                                        "; run `ferry login USER --device NAME`");
  }
  auto login = LoadLogin(config_dir, user);
  if (!login) {
    throw CliError("not_logged_in", "no saved login for " + user + " in " + config_dir.string() +
                                        "; run `ferry login " + user + " --device NAME`");
  }
  return *login;
}

std::string Context::ServerUrl(const Login* login) const {
  if (opt.server) return *opt.server;
  if (login && !login->server.empty()) return login->server;
  if (auto env = Env("FERRY_SERVER"); !env.empty()) return env;
  return "http://127.0.0.1:8080";
}

client::Endpoint Context::Server(const Login* login) const {
  std::string url = ServerUrl(login);
  try {
    return client::ParseServer(url);
  } catch (const std::invalid_argument& e) {
    throw UsageError("bad server address '" + url + "': " + e.what());
  }
}

}  // namespace ferry::cli
