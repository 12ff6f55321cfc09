// FailingStore: wraps any Store and fails reads and/or writes on demand with
// `unavailable`, as a dead disk or database would. Flags may be flipped from
// any thread; calls follow the wrapped store's threading contract.
#pragma once

#include <atomic>
#include <memory>

#include "store/store.h"

namespace ferry::testing {

class FailingStore final : public Store {
 public:
  explicit FailingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  std::atomic<bool> fail_reads{false};
  std::atomic<bool> fail_writes{false};
  std::atomic<int> ack_ops{0};  // AckOps written (committed or not)
  std::atomic<std::size_t> inbox_entries_read{0};  // entries ReadInbox returned

  Result<void> CreateUser(const std::string& u, const std::string& h, Millis now) override {
    if (fail_writes) return Down();
    return inner_->CreateUser(u, h, now);
  }
  Result<std::string> PasswordHash(const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->PasswordHash(u);
  }
  Result<LoginResult> Login(const LoginRequest& r) override {
    if (fail_writes) return Down();
    return inner_->Login(r);
  }
  Result<ClientInfo> Authenticate(const std::string& t) override {
    if (fail_reads) return Down();
    return inner_->Authenticate(t);
  }
  Result<std::vector<ClientInfo>> ListClients(const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->ListClients(u);
  }
  Result<void> DeleteClient(const std::string& u, const std::string& c) override {
    if (fail_writes) return Down();
    return inner_->DeleteClient(u, c);
  }
  Result<void> TouchClient(const std::string& c, Millis now) override {
    if (fail_writes) return Down();
    return inner_->TouchClient(c, now);
  }
  Result<std::vector<ChatInfo>> ListChats(const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->ListChats(u);
  }
  Result<bool> SharesChat(const std::string& a, const std::string& b) override {
    if (fail_reads) return Result<bool>(boost::system::in_place_error, Down());
    return inner_->SharesChat(a, b);
  }
  Result<InboxPage> ReadInbox(const std::string& c, Seq after, std::size_t limit) override {
    if (fail_reads) return Down();
    Result<InboxPage> page = inner_->ReadInbox(c, after, limit);
    if (page) inbox_entries_read += page->entries.size();
    return page;
  }
  Result<void> SetLastSeen(const std::string& u, Millis ts) override {
    if (fail_writes) return Down();
    return inner_->SetLastSeen(u, ts);
  }
  Result<std::optional<Millis>> GetLastSeen(const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->GetLastSeen(u);
  }
  Result<void> WriteBatch(std::span<const WriteOp> ops) override {
    if (fail_writes) return Down();
    for (const WriteOp& op : ops) ack_ops += std::holds_alternative<AckOp*>(op);
    return inner_->WriteBatch(ops);
  }
  Result<void> CreateAttachment(const Attachment& a) override {
    if (fail_writes) return Down();
    return inner_->CreateAttachment(a);
  }
  Result<Attachment> GetAttachment(const std::string& id) override {
    if (fail_reads) return Down();
    return inner_->GetAttachment(id);
  }
  Result<void> MarkUploaded(const std::string& id, Millis expires) override {
    if (fail_writes) return Down();
    return inner_->MarkUploaded(id, expires);
  }
  Result<bool> IsRecipient(const std::string& id, const std::string& client) override {
    if (fail_reads) return Result<bool>(boost::system::in_place_error, Down());
    return inner_->IsRecipient(id, client);
  }
  Result<bool> RecordFetch(const std::string& id, const std::string& client) override {
    if (fail_writes) return Result<bool>(boost::system::in_place_error, Down());
    return inner_->RecordFetch(id, client);
  }
  Result<std::vector<std::string>> DeadAttachments(Millis now, std::size_t limit) override {
    if (fail_reads) return Down();
    return inner_->DeadAttachments(now, limit);
  }
  Result<void> DeleteAttachments(const std::vector<std::string>& ids) override {
    if (fail_writes) return Down();
    return inner_->DeleteAttachments(ids);
  }
  Result<SweepResult> Sweep(Millis now) override {
    if (fail_writes) return Down();
    return inner_->Sweep(now);
  }
  Result<InboxStats> Stats() override {
    if (fail_reads) return Down();
    return inner_->Stats();
  }
  Result<std::vector<MemberReceipts>> ChatReceipts(const std::string& chat,
                                                   const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->ChatReceipts(chat, u);
  }
  Result<Privacy> GetPrivacy(const std::string& u) override {
    if (fail_reads) return Down();
    return inner_->GetPrivacy(u);
  }
  Result<Privacy> SetPrivacy(const std::string& u, std::optional<bool> read_receipts,
                             std::optional<bool> last_seen_visible) override {
    if (fail_writes) return Down();
    return inner_->SetPrivacy(u, read_receipts, last_seen_visible);
  }
  Result<ChatRoster> Roster(const std::string& chat) override {
    if (fail_reads) return Down();
    return inner_->Roster(chat);
  }
  Result<std::string> Secret(const std::string& name, const std::string& candidate) override {
    if (fail_writes) return Down();
    return inner_->Secret(name, candidate);
  }

 private:
  static boost::system::error_code Down() { return make_error_code(Errc::unavailable); }
  std::unique_ptr<Store> inner_;
};

}  // namespace ferry::testing
