// Service: one node's chat logic, put together. It owns the parts and wires
// them: the store pool (store_pool.h), Accounts (register, login, tokens,
// clients), Uploads (the blob endpoints' questions, blob sweeps), the
// SessionRegistry and the BusRouter (notifications between nodes), and one
// ClientSession per WebSocket connection (session.h), which gets its
// dependencies from here. What is left in Service itself is the node's
// health (Ready, MetricsText) and housekeeping (Tick). No sockets and no SQL
// here: the net layer implements a Transport per connection.
//
// Threading: methods may be called from any thread; completion callbacks
// (`done`) run on a worker thread and must post onward to the caller's
// executor. A ClientSession is confined to its connection's executor.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "bus/bus.h"
#include "common/clock.h"
#include "common/config.h"
#include "service/accounts.h"
#include "service/bus_router.h"
#include "service/message_ids.h"
#include "service/metrics.h"
#include "service/session_registry.h"
#include "service/store_pool.h"
#include "service/uploads.h"
#include "store/store.h"

namespace ferry {

class ClientSession;
class Transport;

class Service {
 public:
  // `bus` and `blobs` must outlive the Service. Start() before use. One
  // store worker per store (store_pool.h); more than one only for a
  // multi-writer backend.
  Service(const Config& config, std::vector<std::unique_ptr<Store>> stores, Bus& bus,
          BlobStore& blobs, Clock& clock);
  Service(const Config& config, std::unique_ptr<Store> store, Bus& bus, BlobStore& blobs,
          Clock& clock);
  ~Service();  // Stop()s

  // Throws std::runtime_error if the store cannot give the deployment's
  // message id key.
  void Start();
  // Finishes queued work and stops every worker thread. Call before the
  // objects the callbacks reach (the I/O context) go. Idempotent.
  void Stop();

  // False while the store has not answered a probe for kStoreProbeStaleMs or
  // the bus is unhealthy (/healthz answers 503).
  bool Ready() const;
  static constexpr std::int64_t kStoreProbeStaleMs = 3'000;
  // Prometheus text: the node's counters, the bus's, and whether it is ready.
  std::string MetricsText() const;

  // Periodic housekeeping; call about once a second from any one thread:
  // runs the expiry sweep at its interval and refreshes inbox gauges.
  void Tick();

  // A session for a new connection. `transport` must stay valid until the
  // session's OnClosed(); `post` runs a function on the connection's executor
  // and must stay callable (it may be called after the connection is gone).
  using Post = std::function<void(std::function<void()>)>;
  std::shared_ptr<ClientSession> NewSession(Transport* transport, Post post);

  // The parts.
  Accounts& accounts() { return accounts_; }
  Uploads& uploads() { return uploads_; }
  SessionRegistry& sessions() { return sessions_; }
  BusRouter& router() { return router_; }
  // What a ClientSession also uses.
  const Config& config() const { return config_; }
  StorePool& store() { return store_; }
  Bus& bus() { return bus_; }
  BlobStore& blobs() { return blobs_; }
  Clock& clock() { return clock_; }
  Metrics& metrics() { return metrics_; }
  // Mints and checks message ids (after Start()).
  const MessageIds& message_ids() const { return *message_ids_; }

 private:
  void MarkStoreOk();

  const Config config_;
  Bus& bus_;
  BlobStore& blobs_;
  Clock& clock_;
  Metrics metrics_;
  StorePool store_;
  SessionRegistry sessions_;
  BusRouter router_;
  Accounts accounts_;
  Uploads uploads_;
  std::unique_ptr<MessageIds> message_ids_;  // set by Start(), with the deployment's key

  std::atomic<std::chrono::steady_clock::rep> store_ok_at_{0};  // last good store probe
  std::mutex mu_;
  bool tick_busy_ = false;      // GUARDED_BY(mu_)
  Millis last_sweep_ = 0;       // only touched by Tick()
  Millis last_blob_sweep_ = 0;  // likewise
};

}  // namespace ferry
