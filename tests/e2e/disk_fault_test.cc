// End-to-end: ferryd's data dir on a disk that fails while traffic runs.
// A full disk is a real one where the machine lets the test mount a small
// tmpfs (filled with a filler file, then emptied); EIO on write and on fsync,
// and ENOSPC where mounting is not allowed, come from the store's
// fault-injecting SQLite VFS (src/store/sqlite/sqlite_fault_vfs.h), which
// ferryd uses when FERRY_SQLITE_FAULT_FILE names a control file.
//
// What must hold: a send is answered `ok` only if it was committed, else
// `unavailable`; what is stored stays readable (hello, the backlog, /healthz
// stays 200: the node still serves what it holds); once the disk works again
// sends succeed without a restart, and every message that got `ok` arrives,
// in seq order without a gap, and none that got `unavailable` does.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "e2e/e2e_util.h"

namespace ferry::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

enum class Fault { enospc, eio_write, eio_fsync };

// The control file's environment variable and texts (sqlite_fault_vfs.h).
constexpr const char* kFaultFileEnv = "FERRY_SQLITE_FAULT_FILE";

const char* VfsText(Fault fault) {
  switch (fault) {
    case Fault::enospc:
      return "full";
    case Fault::eio_write:
      return "write-error";
    case Fault::eio_fsync:
      return "fsync-error";
  }
  return "none";
}

// Moves this process (and so the ferryds it starts) into a mount namespace
// of its own, once, where it can: a mount made there goes away with the
// processes even if the test is killed before it unmounts. Where it cannot
// (a threaded process, no privilege), mounts are made in the shared
// namespace and only the injector's destructor removes them.
void EnterPrivateMountNamespace() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Private, so that what is mounted here does not propagate back out.
    if (::unshare(CLONE_NEWNS) == 0) ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  });
}

// Breaks and heals the disk under one FerrydProcess's data dir. Made before
// the server starts; on destruction it stops the server (expecting a clean
// exit, as ~FerrydProcess does) and unmounts what it mounted.
class DiskFaultInjector {
 public:
  DiskFaultInjector(FerrydProcess& server, Fault fault)
      : server_(server),
        data_dir_(server.data_dir()),
        control_(fs::path(server.data_dir()).parent_path() / "disk-fault") {
    ::unsetenv(kFaultFileEnv);
    if (fault == Fault::enospc && MountTmpfs()) return;
    text_ = VfsText(fault);
    WriteControl("none");
    ::setenv(kFaultFileEnv, control_.c_str(), 1);  // ferryd inherits it at Start
  }

  ~DiskFaultInjector() {
    ::unsetenv(kFaultFileEnv);
    if (server_.Running()) {
      int status = server_.Stop();
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ADD_FAILURE() << "ferryd did not exit cleanly (status " << status << "):\n"
                      << server_.LogTail();
      }
    }
    if (mounted_ && ::umount2(data_dir_.c_str(), 0) != 0) {
      ADD_FAILURE() << "umount " << data_dir_ << ": " << std::strerror(errno);
      ::umount2(data_dir_.c_str(), MNT_DETACH);
    }
  }

  DiskFaultInjector(const DiskFaultInjector&) = delete;
  DiskFaultInjector& operator=(const DiskFaultInjector&) = delete;

  bool real_disk() const { return mounted_; }

  void Break() {
    if (mounted_) return FillDisk();
    WriteControl(text_);
  }

  void Heal() {
    if (mounted_) {
      ASSERT_EQ(::unlink((data_dir_ / "filler").c_str()), 0) << std::strerror(errno);
      return;
    }
    WriteControl("none");
  }

 private:
  // A 32 MiB tmpfs on the data dir: room for ferryd's database and WAL
  // (checkpointed at ~4 MiB), small enough to fill at once. Root only, and
  // not in every container: the caller falls back to the VFS, and says so.
  bool MountTmpfs() {
    fs::create_directories(data_dir_);
    EnterPrivateMountNamespace();
    if (::mount("tmpfs", data_dir_.c_str(), "tmpfs", 0, "size=32m,mode=0755") != 0) {
      std::cerr << "[   NOTE   ] cannot mount a tmpfs on " << data_dir_ << " ("
                << std::strerror(errno) << "): ENOSPC comes from the fault VFS instead\n";
      ::testing::Test::RecordProperty("enospc", "fault VFS");
      return false;
    }
    ::testing::Test::RecordProperty("enospc", "tmpfs");
    mounted_ = true;
    return true;
  }

  // Writes a filler file until the file system says ENOSPC.
  void FillDisk() {
    int fd = ::open((data_dir_ / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::vector<char> chunk(1 << 20, 'f');
    std::size_t size = chunk.size();
    int error = 0;
    while (size > 0) {
      ssize_t n = ::write(fd, chunk.data(), size);
      if (n < 0) {
        error = errno;
        if (error != ENOSPC) break;
        size /= 2;  // the last pages
      }
    }
    ::close(fd);
    ASSERT_EQ(error, ENOSPC) << std::strerror(error);
  }

  // Replaced whole (rename), so ferryd never reads half a word.
  void WriteControl(const std::string& text) {
    fs::path tmp = control_;
    tmp += ".tmp";
    { std::ofstream(tmp) << text << "\n"; }
    fs::rename(tmp, control_);
  }

  FerrydProcess& server_;
  fs::path data_dir_;
  fs::path control_;
  std::string text_;
  bool mounted_ = false;
};

// A sender and a receiver in a chat of their own, each on a thread of its
// own: the sender sends without pause and records every reply, the receiver
// records every entry and acks it.
class Traffic {
 public:
  struct State {
    std::set<std::string> ok, unavailable;  // client message ids by reply
    std::vector<std::pair<std::string, Clock::time_point>> ok_sent_at;
    std::size_t ok_streak = 0, unavailable_streak = 0;  // the replies that end the history
    std::set<std::string> delivered;                    // client message ids received
    std::int64_t last_seq = 1;                          // the chat's creation
    std::vector<std::string> failures;                  // anything else: the test fails

    // Sends answered ok although they were made after `t`.
    std::vector<std::string> OksSentAfter(Clock::time_point t) const {
      std::vector<std::string> ids;
      for (const auto& [id, sent] : ok_sent_at) {
        if (sent > t) ids.push_back(id);
      }
      return ids;
    }
  };

  explicit Traffic(FerrydProcess& server) {
    sender_ = server.NewUser("sender");
    receiver_ = server.NewUser("receiver");
    chat_ = sender_->CreateChat({"receiver"});
    EXPECT_EQ(Int(NextEntry(*receiver_), "seq"), 1);
  }

  ~Traffic() { Stop(); }

  void Start() {
    sending_ = std::thread([this] { SendLoop(); });
    receiving_ = std::thread([this] { ReceiveLoop(); });
  }

  // Stops sending; the receiver goes on until Stop.
  void StopSending() {
    stop_sending_ = true;
    if (sending_.joinable()) sending_.join();
  }

  void Stop() {
    StopSending();
    stop_receiving_ = true;
    if (receiving_.joinable()) receiving_.join();
  }

  // Waits (bounded) until `done(state)` holds; false on timeout or once
  // anything unexpected happened.
  bool WaitFor(const std::function<bool(const State&)>& done, client::Ms timeout = 30s) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] {
      return done(state_) || !state_.failures.empty();
    }) && state_.failures.empty();
  }

  State Snapshot() const {
    std::lock_guard lock(mu_);
    return state_;
  }

 private:
  void SendLoop() {
    for (int n = 1; !stop_sending_; ++n) {
      std::string id = "t" + std::to_string(n);
      Clock::time_point sent = Clock::now();
      json::object reply;
      try {
        reply = sender_->Call(json::object{{"type", "send"},
                                           {"chatId", chat_},
                                           {"clientMsgId", id},
                                           {"body", std::string(2000, 'x')}});
      } catch (const std::exception& e) {
        return Fail("send " + id + " got no reply: " + e.what());
      }
      std::lock_guard lock(mu_);
      if (Str(reply, "type") == "ok") {
        state_.ok.insert(id);
        state_.ok_sent_at.emplace_back(id, sent);
        ++state_.ok_streak;
        state_.unavailable_streak = 0;
      } else if (Str(reply, "code") == "unavailable") {
        state_.unavailable.insert(id);
        ++state_.unavailable_streak;
        state_.ok_streak = 0;
      } else {
        state_.failures.push_back("send " + id + ": " + json::serialize(reply));
      }
      changed_.notify_all();
    }
  }

  void ReceiveLoop() {
    while (!stop_receiving_) {
      std::optional<json::object> e = receiver_->NextEntry(100ms);
      if (!e) {
        if (receiver_->ws().close_info()) return Fail("the receiver was closed");
        continue;
      }
      std::int64_t seq = Int(*e, "seq");
      receiver_->Ack(seq);
      std::lock_guard lock(mu_);
      if (seq != state_.last_seq + 1) {
        state_.failures.push_back("entry " + std::to_string(seq) + " after " +
                                  std::to_string(state_.last_seq));
      }
      state_.last_seq = seq;
      state_.delivered.insert(Str(*e, "clientMsgId"));
      changed_.notify_all();
    }
  }

  void Fail(std::string what) {
    std::lock_guard lock(mu_);
    state_.failures.push_back(std::move(what));
    changed_.notify_all();
  }

  std::unique_ptr<client::Session> sender_, receiver_;  // each used by its thread only
  std::string chat_;
  std::thread sending_, receiving_;
  std::atomic<bool> stop_sending_{false}, stop_receiving_{false};

  mutable std::mutex mu_;
  std::condition_variable changed_;
  State state_;  // GUARDED_BY(mu_)
};

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// The lines of ferryd's log (stderr) about the store.
std::vector<std::string> StoreLogLines(const FerrydProcess& server) {
  std::ifstream in(fs::path(server.data_dir()).parent_path() / "ferryd.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.find("store") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

class DiskFaultE2e : public ::testing::TestWithParam<Fault> {};

INSTANTIATE_TEST_SUITE_P(Faults, DiskFaultE2e,
                         ::testing::Values(Fault::enospc, Fault::eio_write, Fault::eio_fsync),
                         [](const auto& p) {
                           switch (p.param) {
                             case Fault::enospc:
                               return "Enospc";
                             case Fault::eio_write:
                               return "EioOnWrite";
                             case Fault::eio_fsync:
                               return "EioOnFsync";
                           }
                           return "";
                         });

TEST_P(DiskFaultE2e, SendsUnavailableReadsWorkAndItRecoversByItself) {
  FerrydProcess server;
  DiskFaultInjector disk(server, GetParam());
  server.Start();

  // A backlog for bob, who has not connected yet.
  auto alice = server.NewUser("alice");
  server.Register("bob");
  FerrydProcess::Login bob_login = server.LoginAs("bob");
  std::string chat = alice->CreateChat({"bob"});
  constexpr int kBacklog = 20;
  for (int i = 0; i < kBacklog; ++i) alice->Send(chat, "backlog " + std::to_string(i));

  Traffic traffic(server);
  traffic.Start();
  using State = Traffic::State;
  ASSERT_TRUE(traffic.WaitFor([](const State& s) { return s.ok.size() >= 20; }))
      << Join(traffic.Snapshot().failures);

  ASSERT_NO_FATAL_FAILURE(disk.Break());
  Clock::time_point broken = Clock::now();
  // Sends are refused. On a real full disk a few more may still fit in
  // space SQLite's log file already has: those are committed, and count.
  ASSERT_TRUE(traffic.WaitFor([](const State& s) { return s.unavailable_streak >= 10; }))
      << "sends did not turn unavailable\n"
      << Join(traffic.Snapshot().failures) << server.LogTail();
  // (A big one: on the real disk a small write may still fit.)
  ExpectError(*alice,
              json::object{{"type", "send"},
                           {"chatId", chat},
                           {"clientMsgId", "while-broken"},
                           {"body", std::string(60'000, 'b')}},
              "unavailable");
  if (!disk.real_disk()) {
    auto registered = client::Http(server.endpoint(), "POST", "/v1/register",
                                   R"({"user":"carol","password":"password123"})");
    EXPECT_EQ(registered.status, 503) << registered.raw;
  }

  // What is stored stays readable: bob says hello and gets his backlog.
  auto bob = server.Connect(bob_login.token);
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  for (int i = 0; i < kBacklog; ++i) {
    json::object m = NextEntry(*bob);
    EXPECT_EQ(Str(m, "body"), "backlog " + std::to_string(i));
    EXPECT_EQ(Int(m, "seq"), i + 2);
  }
  bob->Ack(kBacklog + 1);  // not stored while the disk fails; that is all

  // /healthz stays 200 for longer than its store probe may go unanswered
  // (3 s): the node still serves hellos and backlogs, which a 503 would
  // take away too. Meanwhile the failing disk is tried about ten times a
  // second, not once per send.
  std::int64_t batches_before = Metric(server, "ferry_store_batches_total");
  Clock::time_point from = Clock::now();
  while (Clock::now() < from + 4s) {
    auto health = client::Http(server.endpoint(), "GET", "/healthz");
    ASSERT_EQ(health.status, 200) << health.raw;
    std::this_thread::sleep_for(100ms);  // polling a state that must not change
  }
  std::int64_t batches = Metric(server, "ferry_store_batches_total") - batches_before;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - from);
  EXPECT_LE(batches, elapsed.count() / 100 + 10)
      << "write transactions in " << elapsed.count() << " ms";
  State broken_state = traffic.Snapshot();
  EXPECT_GT(broken_state.unavailable_streak, 0u) << "a send got ok on the broken disk";
  if (!disk.real_disk()) {
    EXPECT_THAT(broken_state.OksSentAfter(broken), ::testing::IsEmpty())
        << "sends made after the disk failed got ok";
  }

  // The disk heals: sends succeed again, without a restart.
  ASSERT_NO_FATAL_FAILURE(disk.Heal());
  ASSERT_TRUE(traffic.WaitFor([](const State& s) { return s.ok_streak >= 20; }))
      << "sends did not recover\n"
      << Join(traffic.Snapshot().failures) << server.LogTail();
  EXPECT_EQ(Str(alice->Send(chat, "after"), "type"), "ok");
  EXPECT_EQ(Str(NextEntry(*bob), "body"), "after");
  traffic.StopSending();

  // Every ok'd send arrives, in order without a gap, and none that was refused.
  EXPECT_TRUE(traffic.WaitFor([](const State& s) { return s.delivered.size() >= s.ok.size(); }))
      << Join(traffic.Snapshot().failures);
  traffic.Stop();
  State end = traffic.Snapshot();
  EXPECT_EQ(end.delivered, end.ok);
  EXPECT_FALSE(end.unavailable.empty());
  EXPECT_THAT(end.failures, ::testing::IsEmpty());
  // The log says what happened without a line per failed send: the log is
  // often on the disk that is full.
  std::vector<std::string> lines = StoreLogLines(server);
  EXPECT_LE(lines.size(), 20u) << lines.size() << " lines about the store, the last:\n"
                               << lines.back();
  std::cerr << "[   INFO   ] " << end.ok.size() << " sends ok, " << end.unavailable.size()
            << " unavailable, " << (disk.real_disk() ? "ENOSPC on a tmpfs" : "fault VFS") << "\n";
}

// ferryd stopped while the disk fails exits cleanly and loses nothing it
// acknowledged: started again on the healed disk, it has every message
// that got ok, and seqs go on from there.
TEST_P(DiskFaultE2e, StopsCleanlyOnTheBrokenDiskAndRestartsWithEverything) {
  FerrydProcess server;
  DiskFaultInjector disk(server, GetParam());
  server.Start();
  auto alice = server.NewUser("alice");
  server.Register("bob");
  FerrydProcess::Login bob_login = server.LoginAs("bob");
  std::string chat = alice->CreateChat({"bob"});
  constexpr int kOk = 10;
  for (int i = 0; i < kOk; ++i) alice->Send(chat, "ok " + std::to_string(i));

  ASSERT_NO_FATAL_FAILURE(disk.Break());
  // On a real full disk the first few may still fit (see above).
  int refused = 0;
  for (int i = 0; i < 1000 && refused < 3; ++i) {
    json::object reply = alice->Call(json::object{{"type", "send"},
                                                  {"chatId", chat},
                                                  {"clientMsgId", "r" + std::to_string(i)},
                                                  {"body", std::string(2000, 'r')}});
    if (Str(reply, "type") == "error") {
      ASSERT_EQ(Str(reply, "code"), "unavailable") << json::serialize(reply);
      ++refused;
    }
  }
  ASSERT_EQ(refused, 3) << "sends did not turn unavailable";
  alice.reset();
  int status = server.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                             << server.LogTail();

  ASSERT_NO_FATAL_FAILURE(disk.Heal());
  server.Start();
  auto bob = server.Connect(bob_login.token);
  EXPECT_EQ(Str(NextEntry(*bob), "event"), "created");
  std::int64_t seq = 1;
  for (int i = 0; i < kOk; ++i) {
    json::object m = NextEntry(*bob);
    EXPECT_EQ(Str(m, "body"), "ok " + std::to_string(i));
    EXPECT_EQ(Int(m, "seq"), ++seq);
  }
  // Whatever else is there was refused (after an fsync failure a refused
  // batch may be whole on disk: unavailable is not a promise it was not
  // written; a retry with the same clientMsgId gets its ids), in seq order.
  while (std::optional<json::object> m = bob->NextEntry(500ms)) {
    EXPECT_EQ(GetParam(), Fault::eio_fsync) << json::serialize(*m);
    EXPECT_EQ(Str(*m, "clientMsgId").substr(0, 1), "r") << json::serialize(*m);
    EXPECT_EQ(Int(*m, "seq"), ++seq);
  }
  bob->Ack(seq);  // else the entries come again after the ack timeout
  auto alice_again = server.Connect(server.LoginAs("alice").token);
  EXPECT_EQ(Str(alice_again->Send(chat, "after", "after"), "type"), "ok");
  json::object after = NextEntry(*bob);
  EXPECT_EQ(Str(after, "body"), "after");
  EXPECT_EQ(Int(after, "seq"), seq + 1);
}

}  // namespace
}  // namespace ferry::testing
