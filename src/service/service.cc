#include "service/service.h"

#include <algorithm>
#include <future>
#include <stdexcept>

#include "common/log.h"
#include "common/random.h"
#include "service/session.h"

namespace ferry {

namespace {
std::vector<std::unique_ptr<Store>> One(std::unique_ptr<Store> store) {
  std::vector<std::unique_ptr<Store>> v;
  v.push_back(std::move(store));
  return v;
}
}  // namespace

Service::Service(const Config& config, std::unique_ptr<Store> store, Bus& bus, BlobStore& blobs,
                 Clock& clock)
    : Service(config, One(std::move(store)), bus, blobs, clock) {}

Service::Service(const Config& config, std::vector<std::unique_ptr<Store>> stores, Bus& bus,
                 BlobStore& blobs, Clock& clock)
    : config_(config),
      bus_(bus),
      blobs_(blobs),
      clock_(clock),
      store_(std::move(stores), config.store_queue_max, config.store_batch_max, metrics_,
             config.store_max_wait_ms, clock, config.store_commit_interval_us),
      router_(config_, bus, clock, sessions_),
      accounts_(config_, store_, bus, clock),
      uploads_(config_, store_, blobs, clock) {}

Service::~Service() { Stop(); }

void Service::Start() {
  router_.Start();
  MarkStoreOk();  // the backend was opened just now
  store_.Start();
  // The key that signs message ids, the same on every node: the first
  // node to start stores one (store.h Secret).
  std::promise<Result<std::string>> key;
  std::future<Result<std::string>> got = key.get_future();
  bool queued = store_.Lane(0).Submit(
      [&key](Store& s) { key.set_value(s.Secret("message-id-key", RandomId(32))); });
  if (!queued) throw std::runtime_error("store queue full at start");
  Result<std::string> secret = got.get();
  if (!secret) throw std::runtime_error("cannot read the message id key from the store");
  message_ids_ = std::make_unique<MessageIds>(*secret);
}

// The pools go first: their jobs end by submitting store work, which the
// store worker then still runs.
void Service::Stop() {
  accounts_.Stop();
  uploads_.Stop();
  store_.Stop();
}

// Ready while the store answered a probe recently and the bus reaches its
// backend: a node that cannot commit or route drops out of the load
// balancer's rotation (/healthz 503) instead of taking connections it would
// only refuse. The probe is Tick()'s Stats() call, about once a second.
bool Service::Ready() const {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  auto last = std::chrono::steady_clock::duration(store_ok_at_.load(std::memory_order_relaxed));
  return now - last <= std::chrono::milliseconds(kStoreProbeStaleMs) && bus_.Healthy();
}

std::string Service::MetricsText() const {
  std::string out = metrics_.Render();
  BusStats bus = bus_.Stats();
  auto add = [&out](const char* name, const char* type, const char* help, std::uint64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
  };
  add("ferry_bus_published_total", "counter", "Bus publishes the backend confirmed.",
      bus.published);
  add("ferry_bus_dropped_total", "counter", "Bus publishes lost (recovered through the inbox).",
      bus.dropped);
  add("ferry_bus_received_total", "counter", "Bus messages received.", bus.received);
  add("ferry_bus_reconnects_total", "counter", "Bus connections re-established.", bus.reconnects);
  add("ferry_ready", "gauge", "1 while /healthz answers 200.", Ready() ? 1 : 0);
  return out;
}

void Service::MarkStoreOk() {
  store_ok_at_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                     std::memory_order_relaxed);
}

// ---- Housekeeping ----

void Service::Tick() {
  {
    std::lock_guard lock(mu_);
    if (tick_busy_) return;  // the previous tick's store job has not run yet
    tick_busy_ = true;
  }
  Millis now = clock_.Now();
  bool sweep = now - last_sweep_ >= config_.sweep_interval_ms;
  if (sweep) last_sweep_ = now;
  bool blob_sweep = now - last_blob_sweep_ >= config_.blob_sweep_interval_ms;
  if (blob_sweep) last_blob_sweep_ = now;
  bool ok = store_.Lane(0).Submit([this, now, sweep, blob_sweep](Store& store) {
    if (blob_sweep) uploads_.Sweep(store, now);
    if (sweep) {
      Result<SweepResult> r = store.Sweep(now);
      if (!r) {
        log::Warn("sweep failed: ", r.error().message());
      } else if (r->inbox_deleted || r->messages_deleted) {
        log::Info("sweep expired ", r->inbox_deleted, " inbox entries, ", r->messages_deleted,
                  " messages");
      }
    }
    if (Result<InboxStats> s = store.Stats()) {
      MarkStoreOk();
      metrics_.inbox_entries = s->entries;
      metrics_.inbox_oldest_age_ms = s->oldest_ts ? std::max<Millis>(0, now - s->oldest_ts) : 0;
    }
    std::lock_guard lock(mu_);
    tick_busy_ = false;
  });
  if (!ok) {
    std::lock_guard lock(mu_);
    tick_busy_ = false;
  }
}

// ---- Sessions and the bus ----

std::shared_ptr<ClientSession> Service::NewSession(Transport* transport, Post post) {
  return std::make_shared<ClientSession>(*this, transport, std::move(post), RandomId(9));
}

}  // namespace ferry
