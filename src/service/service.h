// Service: Ferry's chat logic — accounts, clients, chats, send, deliver, ack,
// sync, last seen. No sockets and no SQL here: it talks to the Store (through
// its StoreWorker thread), the Bus, and, per connection, a Transport that
// the net layer implements.
//
// Threading: Service methods may be called from any thread; completion
// callbacks (`done`) run on a worker thread and must post onward to the
// caller's executor. A ClientSession (session.h) is confined to its
// connection's executor.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "blob/blob_store.h"
#include "bus/bus.h"
#include "common/clock.h"
#include "common/config.h"
#include "protocol/protocol.h"
#include "service/chat_channel_grace.h"
#include "service/metrics.h"
#include "service/store_pool.h"
#include "service/work_pool.h"
#include "store/store.h"

namespace ferry {

class ClientSession;
class Transport;

class Service {
 public:
  template <class T>
  using Done = std::function<void(Result<T>)>;

  // `bus` and `blobs` must outlive the Service. Start() before use. One
  // store worker per store (store_pool.h); more than one only for a
  // multi-writer backend.
  Service(const Config& config, std::vector<std::unique_ptr<Store>> stores, Bus& bus,
          BlobStore& blobs, Clock& clock);
  Service(const Config& config, std::unique_ptr<Store> store, Bus& bus, BlobStore& blobs,
          Clock& clock);
  ~Service();  // Stop()s

  void Start();
  // Finishes queued work and stops every worker thread. Call before the
  // objects the callbacks reach (the I/O context) go. Idempotent.
  void Stop();

  // ---- HTTP API; `done` is called exactly once, on any thread ----
  // ok | bad_request (bad user name or password) | user_exists | rate_limited | unavailable
  void Register(std::string user, std::string password, Done<void> done);

  struct LoginReply {
    std::string token;
    std::string client_id;
  };
  // ok | bad_request | unauthorized (unknown user or wrong password) |
  // too_many_clients (then `clients_out` lists the user's clients) | rate_limited | unavailable
  void Login(std::string user, std::string password, std::string device,
             std::function<void(Result<LoginReply>, std::vector<ClientInfo> clients)> done);
  // ok | unauthorized
  void Authenticate(const std::string& token, Done<ClientInfo> done);
  // ok | unauthorized
  void ListClients(const std::string& token, Done<std::vector<ClientInfo>> done);
  // ok | unauthorized | not_found. Closes the client's connections with 4401.
  void DeleteClient(const std::string& token, std::string client_id, Done<void> done);

  // ---- Blob HTTP (the built-in store's PUT/GET); `done` on any thread ----
  // A PUT may start: the attachment exists, is pending, and no other upload
  // of it runs (it is reserved until FinishUpload). not_found | forbidden
  // (already uploaded, or an upload in progress) | unavailable.
  void BeginUpload(const std::string& key, Done<Attachment> done);
  // Ends a reserved upload. `stored`: the file is in place, mark it uploaded
  // (ok | forbidden if it was not pending | unavailable); otherwise only
  // releases the reservation (done may be empty).
  void FinishUpload(const std::string& key, bool stored, Done<void> done);
  // A GET may be served: the attachment was sent and `client_id` is a
  // recipient. not_found | forbidden | unavailable.
  void CheckFetch(const std::string& key, const std::string& client_id, Done<Attachment> done);
  // A recipient received every byte; deletes the blob once all have.
  void RecordFetch(const std::string& key, const std::string& client_id);
  // Runs slow file work (hashing, fsync) off the I/O threads. False if the
  // pool's queue is full.
  bool RunBlocking(std::function<void()> fn) { return blob_pool_.Submit(std::move(fn)); }

  // False while the store has not answered a probe for kStoreProbeStaleMs or
  // the bus is unhealthy (/healthz answers 503).
  bool Ready() const;
  static constexpr std::int64_t kStoreProbeStaleMs = 3'000;
  // Prometheus text: the node's counters, the bus's, and whether it is ready.
  std::string MetricsText() const;

  // Periodic housekeeping; call about once a second from any one thread:
  // runs the expiry sweep at its interval and refreshes inbox gauges.
  void Tick();

  // ---- WebSocket ----
  using Post = std::function<void(std::function<void()>)>;
  // A session for a new connection. `transport` must stay valid until the
  // session's OnClosed(); `post` runs a function on the connection's executor
  // and must stay callable (it may be called after the connection is gone).
  std::shared_ptr<ClientSession> NewSession(Transport* transport, Post post);

  // Accessors for ClientSession.
  const Config& config() const { return config_; }
  StorePool& store() { return store_; }
  Bus& bus() { return bus_; }
  BlobStore& blobs() { return blobs_; }
  Clock& clock() { return clock_; }
  Metrics& metrics() { return metrics_; }

  // Publishes the notifications for the inbox entries a committed write of
  // chat `chat_id` created: per recipient user on `u:{user}`, and for a
  // chat above config().chat_channel_threshold once on `c:{chat}` (then per
  // user too only during the grace period, and for chat events).
  void PublishDeliveries(const std::string& chat_id, protocol::EncodedEntry entry,
                         const std::vector<Delivery>& deliveries);

  // Asks every authenticated session on this node to close with `code`
  // (shutdown: their disconnect time is still recorded). Any thread.
  void CloseAllSessions(std::uint16_t code, const std::string& reason);
  // Authenticated sessions registered on this node.
  std::size_t SessionCount();

  // Connection registry: at most one live session per client on this node.
  // Returns the session `s` replaced, if any (the caller closes it with 4409).
  std::shared_ptr<ClientSession> RegisterSession(const std::string& client_id,
                                                 const std::shared_ptr<ClientSession>& s);
  void UnregisterSession(const std::string& client_id, const ClientSession* s);

 private:
  void OnBusMessage(std::string_view channel, std::string_view payload);
  void SweepBlobs(Store& store, Millis now);
  std::shared_ptr<ClientSession> FindSession(const std::string& client_id);

  const Config config_;
  Bus& bus_;
  BlobStore& blobs_;
  Clock& clock_;
  Metrics metrics_;
  StorePool store_;
  WorkPool hash_pool_;
  WorkPool blob_pool_;
  ChatChannelGrace grace_;  // which big chats still go out per user too

  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<ClientSession>> sessions_;  // GUARDED_BY(mu_)
  std::unordered_set<std::string> uploading_;  // GUARDED_BY(mu_)
  void MarkStoreOk();
  std::atomic<std::chrono::steady_clock::rep> store_ok_at_{0};  // last good store probe
  Millis last_sweep_ = 0;       // only touched by Tick()
  Millis last_blob_sweep_ = 0;  // likewise
  bool tick_busy_ = false; // GUARDED_BY(mu_)
};

}  // namespace ferry
