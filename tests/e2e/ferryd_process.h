// Test harness: runs a real ferryd (the binary built beside the tests) on
// port 0 with a private temporary data dir, and helpers to register, log in
// and connect over real sockets with the client library.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "client/client.h"

namespace ferry::testing {

class FerrydProcess {
 public:
  // `args` are extra ferryd flags (e.g. {"--ack-timeout-ms", "300"}).
  explicit FerrydProcess(std::vector<std::string> args = {});
  ~FerrydProcess();  // SIGTERM, wait, remove the data dir

  // Starts ferryd with at most `n` open files (RLIMIT_NOFILE); 0: as the tests have.
  void set_fd_limit(int n) { fd_limit_ = n; }

  // Starts ferryd and waits (bounded) until it listens. Throws on failure.
  void Start();
  // The wait status of a ferryd that exited during Start() (which threw); -1 otherwise.
  int start_exit_status() const { return start_exit_status_; }
  // SIGKILL, as a crash would: nothing is flushed.
  void Kill9();
  // SIGTERM and wait for a clean exit; returns the exit status.
  int Stop();
  bool Running() const { return pid_ > 0; }

  // 127.0.0.1 and the port; TLS when the args include --tls-cert.
  const client::Endpoint& endpoint() const { return endpoint_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string LogTail() const;

  // Account helpers (password "password123"). Throw on unexpected statuses.
  void Register(const std::string& user);
  struct Login {
    std::string token;
    std::string client_id;
  };
  Login LoginAs(const std::string& user, const std::string& device = "phone");
  // Connects and sends hello; the returned session is ready for requests.
  std::unique_ptr<client::Session> Connect(const std::string& token,
                                           std::optional<std::int64_t> after = {});
  // Register + login + connect in one call.
  std::unique_ptr<client::Session> NewUser(const std::string& user, Login* login = nullptr);

 private:
  std::vector<std::string> args_;
  std::string dir_;
  std::string data_dir_;
  pid_t pid_ = -1;
  int start_exit_status_ = -1;
  int fd_limit_ = 0;
  client::Endpoint endpoint_;
};

}  // namespace ferry::testing
