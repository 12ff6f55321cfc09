// The Store conformance suite: every behaviour store.h promises, written
// against the interface only, so every backend runs the same tests.
//
// A backend instantiates it with a factory returning a fresh, empty store:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreFactory(&MakeSqliteStore)));
//
// The factory is called once per test; the store is destroyed at the end of
// the test. Tests are single-threaded, as store.h requires.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace ferry {

// Readable Errc values in gtest failure messages.
inline void PrintTo(Errc e, std::ostream* os) { *os << ErrcName(e); }

namespace store_test {

using StoreFactory = std::function<std::unique_ptr<Store>()>;

inline constexpr Millis kNow = 1'700'000'000'000;
inline constexpr Millis kExpires = kNow + 30 * kMillisPerDay;
inline constexpr Millis kFarFuture = kExpires + 365 * kMillisPerDay;

// The outcome of a call: ok, or the Errc it failed with.
template <class T>
Errc CodeOf(const Result<T>& result) {
  return result ? Errc::ok : ToErrc(result.error());
}

// The (client, user) pairs of a write's deliveries, order aside.
using Recipients = std::set<std::pair<std::string, std::string>>;
inline Recipients RecipientsOf(const std::vector<Delivery>& ds) {
  Recipients out;
  for (const Delivery& d : ds) out.emplace(d.client_id, d.user);
  return out;
}

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;

  // Creates users (password hash "hash-<user>"); fails the test on error.
  void AddUsers(const std::vector<std::string>& users);
  // Logs in (user, device) with a fresh token; returns the raw result.
  Result<LoginResult> LoginDevice(const std::string& user, const std::string& device,
                                  std::size_t max_clients = 3);
  // Logs in and returns the client id ("" and a test failure on error).
  std::string Client(const std::string& user, const std::string& device);
  // The token hash used by the last LoginDevice call.
  const std::string& last_token() const { return last_token_; }

  // Op builders with unique ids; expires defaults to kExpires.
  SendOp MakeSend(const std::string& chat_id, const std::string& sender,
                  const std::string& sender_client, const std::string& client_msg_id,
                  Millis ts = kNow, Millis expires = kExpires);
  ChatOp MakeChat(ChatOp::Kind kind, const std::string& chat_id, const std::string& actor,
                  const std::string& actor_client, std::vector<std::string> members,
                  std::size_t max_members = 100);
  // Runs ops in one WriteBatch; fails the test if the batch fails.
  void Write(std::vector<WriteOp> ops);
  // Build + run in a batch of one.
  SendOp Send(const std::string& chat_id, const std::string& sender,
              const std::string& sender_client, const std::string& client_msg_id, Millis ts = kNow,
              Millis expires = kExpires);
  ChatOp Chat(ChatOp::Kind kind, const std::string& chat_id, const std::string& actor,
              const std::string& actor_client, std::vector<std::string> members,
              std::size_t max_members = 100);
  AckOp Ack(const std::string& client_id, Seq up_to);
  // Send with attachment_ids = ids, in a batch of one.
  SendOp SendWith(const std::string& chat_id, const std::string& sender,
                  const std::string& sender_client, const std::string& client_msg_id,
                  std::vector<std::string> ids, Millis ts = kNow, Millis expires = kExpires);

  // Receipts (conformance_receipts.cc): a markRead, and a ReceiptOp at
  // kNow + 1000, each in a batch of one; `viewer`'s chatReceipts row of
  // `member`; the receipts in a client's inbox, in seq order.
  MarkReadOp MarkRead(const std::string& chat_id, const std::string& user, Position up_to);
  ReceiptOp ReceiptFor(const std::string& chat_id, const std::string& user, ReceiptKind kind,
                       const std::string& actor_client, std::size_t fanout_max = 25);
  MemberReceipts RowOf(const std::string& chat_id, const std::string& viewer,
                       const std::string& member);
  std::vector<Receipt> ReceiptsIn(const std::string& client_id);

  // ReadInbox that fails the test on error.
  InboxPage Read(const std::string& client_id, Seq after = 0, std::size_t limit = 1000);
  static std::vector<Seq> Seqs(const InboxPage& page);
  Seq Head(const std::string& client_id) { return Read(client_id).head; }

  // alice (phone, laptop), bob (phone), carol (phone), dave (no client);
  // chat "c1" of alice and bob created from alice's phone.
  void SetUpCast();

  std::unique_ptr<Store> store_;
  std::string alice_phone_, alice_laptop_, bob_phone_, carol_phone_;
  std::string bob_token_;  // token hash of bob's phone login

 private:
  int counter_ = 0;
  std::string last_token_;
  std::map<std::string, std::string> user_of_;  // client id -> user, from Client()
};

}  // namespace store_test
}  // namespace ferry
