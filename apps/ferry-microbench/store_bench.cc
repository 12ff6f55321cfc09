// The embedded store's write path as the StoreWorker drives it: one
// transaction (one fsync) per group of sends plus the recipients' acks of
// the previous group, on a real file in TMPDIR. The figures are per message:
// CPU time is the store thread's work, real time adds the fsync wait.
//
//   ferry-microbench --benchmark_filter=Store
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/random.h"
#include "store/sqlite/sqlite_gather_vfs.h"
#include "store/sqlite/sqlite_store.h"

namespace ferry {
namespace {

constexpr int kUsers = 400;  // 200 pairs, as `ferry-bench direct --connections 400`
constexpr Millis kDay = 86'400'000;

// A fresh database with kUsers users, one client each, and a 1:1 chat per
// pair of users.
class StoreFixture {
 public:
  explicit StoreFixture(bool gather_wal_writes) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp ? tmp : "/tmp") + "/ferry-microbench-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    SqliteOptions options{dir_ + "/ferry.db"};
    options.gather_wal_writes = gather_wal_writes;
    auto opened = OpenSqliteStore(options);
    if (!opened) throw std::runtime_error("cannot open the store");
    store_ = std::move(*opened);
    for (int i = 0; i < kUsers; ++i) {
      std::string user = "u" + std::to_string(i);
      Check(store_->CreateUser(user, "hash", now_));
      LoginRequest login{user, "d", "token" + user, RandomId(), RandomId(), 3, now_};
      auto r = store_->Login(login);
      if (!r || r->status != Errc::ok) throw std::runtime_error("login failed");
      clients_.push_back(r->client_id);
      users_.push_back(user);
    }
    for (int i = 0; i < kUsers; i += 2) {
      ChatOp op;
      op.chat_id = RandomId();
      op.actor_user = users_[i];
      op.actor_client = clients_[i];
      op.members = {users_[i], users_[i + 1]};
      op.now = now_;
      op.expires = now_ + 30 * kDay;
      WriteOp w = &op;
      Check(store_->WriteBatch({&w, 1}));
      chats_.push_back(op.chat_id);
    }
    AckEverything();  // the chat events
  }

  ~StoreFixture() {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // One group commit: `sends` new 1:1 messages plus the acks of every
  // recipient that got one in the previous group. Returns messages sent.
  void SendGroup(int sends, bool time_ordered_ids) {
    sends_.resize(sends);
    std::vector<WriteOp> ops;
    ops.reserve(sends + acks_.size());
    for (AckOp& ack : acks_) ops.push_back(&ack);
    for (SendOp& op : sends_) {
      int from = static_cast<int>(next_++ % kUsers);
      op = SendOp{};
      op.message.message_id = time_ordered_ids ? TimeOrderedId(now_ += 1) : RandomId();
      op.message.chat_id = chats_[from / 2];
      op.message.sender = users_[from];
      op.message.sender_client = clients_[from];
      op.message.client_msg_id = std::to_string(next_);
      op.message.ts = now_;
      op.message.body = "k" + std::to_string(next_) + " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
      op.expires = now_ + 30 * kDay;
      ops.push_back(&op);
    }
    Check(store_->WriteBatch(ops));
    acks_.clear();
    for (const SendOp& op : sends_) {
      if (op.status != Errc::ok) throw std::runtime_error("send failed");
      for (const Delivery& d : op.deliveries) acks_.push_back(AckOp{d.client_id, d.seq, d.user});
    }
  }

 private:
  static void Check(const Result<void>& r) {
    if (!r) throw std::runtime_error("store call failed: " + r.error().message());
  }

  void AckEverything() {
    std::vector<AckOp> acks;
    for (const auto& c : clients_) acks.push_back(AckOp{c, 1 << 30});
    std::vector<WriteOp> ops;
    for (AckOp& a : acks) ops.push_back(&a);
    Check(store_->WriteBatch(ops));
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::vector<std::string> users_, clients_, chats_;
  std::vector<SendOp> sends_;
  std::vector<AckOp> acks_;
  std::uint64_t next_ = 0;
  Millis now_ = 1'800'000'000'000;
};

// Args: messages per commit; message ids time-ordered (1, as ferryd makes
// them) or random (0, to show what the order saves); WAL writes gathered
// (1, as ferryd opens the store) or not (0). The counter wal_writes is the
// write() calls per commit that reach the WAL file when gathered.
void BM_StoreSendAckGroup(benchmark::State& state) {
  StoreFixture fixture(state.range(2) != 0);
  const int group = static_cast<int>(state.range(0));
  const bool time_ordered = state.range(1) != 0;
  for (int i = 0; i < 20; ++i) fixture.SendGroup(group, time_ordered);  // past the first checkpoints
  const std::uint64_t writes_before = sqlite::GatherCountsNow().writes_out;
  for (auto _ : state) fixture.SendGroup(group, time_ordered);
  state.SetItemsProcessed(state.iterations() * group);
  state.counters["wal_writes"] = benchmark::Counter(
      static_cast<double>(sqlite::GatherCountsNow().writes_out - writes_before) /
      static_cast<double>(state.iterations()));
}
BENCHMARK(BM_StoreSendAckGroup)
    ->ArgsProduct({{16, 64, 256, 1024}, {0, 1}, {0, 1}})
    ->ArgNames({"msgs_per_commit", "time_ordered_ids", "gather_wal_writes"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ferry
