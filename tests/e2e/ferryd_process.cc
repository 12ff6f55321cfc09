#include "e2e/ferryd_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ferry::testing {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

FerrydProcess::FerrydProcess(std::vector<std::string> args) : args_(std::move(args)) {
  std::string tmpl = (fs::temp_directory_path() / "ferry-e2e-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  data_dir_ = dir_ + "/data";
}

FerrydProcess::~FerrydProcess() {
  // A clean shutdown is part of the contract (and where the sanitizers'
  // leak check reports).
  if (pid_ > 0) {
    int status = Stop();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << "ferryd did not exit cleanly (status " << status << "):\n" << LogTail();
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void FerrydProcess::Start() {
  std::string port_file = dir_ + "/port";
  fs::remove(port_file);
  bool cost_given = std::find(args_.begin(), args_.end(), "--password-cost") != args_.end();
  // FERRY_TEST_FERRYD=PATH runs another ferryd build instead of this
  // tree's (e.g. an older one, to see a new test pass against it first).
  const char* other = std::getenv("FERRY_TEST_FERRYD");
  const std::string ferryd = other && *other ? other : FERRYD_PATH;
  std::vector<std::string> argv = {ferryd, "--listen", "127.0.0.1:0", "--data-dir", data_dir_,
                                   "--port-file", port_file,
                                   // Tests make users and send in bulk; the
                                   // limit tests set the limits they test.
                                   "--limit", "register-per-address=off", "--limit",
                                   "login-per-address=off", "--limit", "send-per-client=off"};
  if (!cost_given) argv.insert(argv.end(), {"--password-cost", "min"});
  // FERRY_TEST_IO_THREADS=N runs ferryd on N I/O threads (make test-tsan
  // sets 2, so the races between them are exercised on any machine);
  // unset, ferryd picks its default. A test's own --io-threads wins.
  const char* io_threads = std::getenv("FERRY_TEST_IO_THREADS");
  bool threads_given = std::find(args_.begin(), args_.end(), "--io-threads") != args_.end();
  if (io_threads && *io_threads && !threads_given) {
    argv.insert(argv.end(), {"--io-threads", io_threads});
  }
  argv.insert(argv.end(), args_.begin(), args_.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = dir_ + "/ferryd.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // posix_spawn has no rlimit attribute: the child inherits ours, so the
  // soft limit is lowered around the spawn and then restored.
  rlimit saved{};
  getrlimit(RLIMIT_NOFILE, &saved);
  if (fd_limit_ > 0) {
    rlimit lowered = saved;
    lowered.rlim_cur = static_cast<rlim_t>(fd_limit_);
    setrlimit(RLIMIT_NOFILE, &lowered);
  }
  int rc = posix_spawn(&pid_, ferryd.c_str(), &actions, nullptr, cargv.data(), environ);
  if (fd_limit_ > 0) setrlimit(RLIMIT_NOFILE, &saved);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start ferryd");

  // Wait for the port file (written atomically once listening).
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fs::exists(port_file)) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      start_exit_status_ = status;
      throw std::runtime_error("ferryd exited at start:\n" + LogTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("ferryd did not start listening:\n" + LogTail());
    }
    std::this_thread::sleep_for(5ms);  // polling a condition, bounded by the deadline
  }
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  endpoint_ = client::Endpoint{"127.0.0.1", static_cast<std::uint16_t>(port)};
  endpoint_.tls = std::find(args_.begin(), args_.end(), "--tls-cert") != args_.end();
}

void FerrydProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int FerrydProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string FerrydProcess::LogTail() const {
  std::ifstream in(dir_ + "/ferryd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

void FerrydProcess::Register(const std::string& user) {
  auto r = client::Http(endpoint_, "POST", "/v1/register",
                        json::serialize(json::object{{"user", user}, {"password", "password123"}}));
  if (r.status != 201) throw std::runtime_error("register " + user + ": " + r.raw);
}

FerrydProcess::Login FerrydProcess::LoginAs(const std::string& user, const std::string& device) {
  auto r = client::Http(endpoint_, "POST", "/v1/login",
                        json::serialize(json::object{
                            {"user", user}, {"password", "password123"}, {"device", device}}));
  if (r.status != 200) throw std::runtime_error("login " + user + ": " + r.raw);
  return {json::value_to<std::string>(r.body.at("token")),
          json::value_to<std::string>(r.body.at("clientId"))};
}

std::unique_ptr<client::Session> FerrydProcess::Connect(const std::string& token,
                                                        std::optional<std::int64_t> after) {
  auto s = client::Session::Connect(endpoint_);
  s->Hello(token, after);
  return s;
}

std::unique_ptr<client::Session> FerrydProcess::NewUser(const std::string& user, Login* login) {
  Register(user);
  Login l = LoginAs(user);
  if (login) *login = l;
  return Connect(l.token);
}

}  // namespace ferry::testing
