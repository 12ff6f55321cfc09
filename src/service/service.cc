#include "service/service.h"

#include <algorithm>

#include "common/digest.h"
#include "common/log.h"
#include "common/random.h"
#include "protocol/protocol.h"
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
      store_(std::move(stores), config.store_queue_max, config.store_batch_max, metrics_),
      hash_pool_(config.hash_threads, config.hash_queue_max),
      blob_pool_(2, 64),
      grace_(config.chat_channel_grace_ms, config.chat_channel_grace_max) {}

Service::~Service() { Stop(); }

void Service::Start() {
  bus_.SetHandler([this](std::string_view channel, std::string_view payload) {
    OnBusMessage(channel, payload);
  });
  MarkStoreOk();  // the backend was opened just now
  store_.Start();
}

// The pools go first: their jobs end by submitting store work, which the
// store worker then still runs.
void Service::Stop() {
  hash_pool_.Stop();
  blob_pool_.Stop();
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

// ---- Accounts ----

void Service::Register(std::string user, std::string password, Done<void> done) {
  if (!protocol::ValidUser(user)) {
    return done(make_error_code(Errc::bad_request));
  }
  if (password.size() < 8 || password.size() > 1024) {
    return done(make_error_code(Errc::bad_request));
  }
  // Argon2id takes tens of milliseconds and 64 MiB: never on an I/O thread.
  bool queued = hash_pool_.Submit([this, user = std::move(user), password = std::move(password),
                                   done]() mutable {
    std::string hash = HashPassword(password, config_.password_strength);
    if (hash.empty()) return done(make_error_code(Errc::internal));
    Millis now = clock_.Now();
    StoreWorker& lane = store_.For(user);
    bool ok = lane.Submit([user = std::move(user), hash = std::move(hash), now,
                           done](Store& store) { done(store.CreateUser(user, hash, now)); });
    if (!ok) done(make_error_code(Errc::unavailable));
  });
  if (!queued) done(make_error_code(Errc::rate_limited));
}

void Service::Login(
    std::string user, std::string password, std::string device,
    std::function<void(Result<LoginReply>, std::vector<ClientInfo> clients)> done) {
  if (!protocol::ValidUser(user) || password.empty() || password.size() > 1024 ||
      device.empty() || device.size() > 64) {
    return done(make_error_code(Errc::bad_request), {});
  }
  auto fail = [done](Errc e) { done(make_error_code(e), {}); };
  // 1. fetch the hash (store thread), 2. verify it (hash pool), 3. create or
  // reuse the client and add a token (store thread).
  bool ok = store_.For(user).Submit([=, this](Store& store) mutable {
    Result<std::string> hash = store.PasswordHash(user);
    if (!hash) {
      return fail(ToErrc(hash.error()) == Errc::not_found ? Errc::unauthorized
                                                          : Errc::unavailable);
    }
    bool queued = hash_pool_.Submit([=, this, hash = std::move(*hash)]() mutable {
      if (!VerifyPassword(hash, password)) return fail(Errc::unauthorized);
      LoginRequest req;
      req.user = user;
      req.device = device;
      std::string token = NewToken();
      req.token_hash = Sha256Hex(token);
      req.new_client_id = RandomId();
      req.new_epoch = RandomId(8);
      req.max_clients = config_.max_clients;
      req.now = clock_.Now();
      bool ok2 = store_.For(user).Submit([req = std::move(req), token = std::move(token),
                                done](Store& s) {
        Result<LoginResult> r = s.Login(req);
        if (!r) return done(r.error(), {});
        if (r->status == Errc::not_found) return done(make_error_code(Errc::unauthorized), {});
        if (r->status != Errc::ok) return done(make_error_code(r->status), r->clients);
        done(LoginReply{token, r->client_id}, {});
      });
      if (!ok2) fail(Errc::unavailable);
    });
    if (!queued) fail(Errc::rate_limited);
  });
  if (!ok) fail(Errc::unavailable);
}

void Service::Authenticate(const std::string& token, Done<ClientInfo> done) {
  std::string hash = Sha256Hex(token);
  StoreWorker& lane = store_.For(hash);
  bool ok = lane.Submit([hash = std::move(hash), done](Store& store) {
    Result<ClientInfo> r = store.Authenticate(hash);
    if (!r && ToErrc(r.error()) == Errc::not_found) return done(make_error_code(Errc::unauthorized));
    done(std::move(r));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
}

void Service::ListClients(const std::string& token, Done<std::vector<ClientInfo>> done) {
  std::string hash = Sha256Hex(token);
  StoreWorker& lane = store_.For(hash);
  bool ok = lane.Submit([hash = std::move(hash), done](Store& store) {
    Result<ClientInfo> me = store.Authenticate(hash);
    if (!me) {
      return done(make_error_code(ToErrc(me.error()) == Errc::not_found ? Errc::unauthorized
                                                                        : Errc::unavailable));
    }
    done(store.ListClients(me->user));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
}

void Service::DeleteClient(const std::string& token, std::string client_id, Done<void> done) {
  std::string hash = Sha256Hex(token);
  StoreWorker& lane = store_.For(client_id);  // beside the client's own writes
  bool ok = lane.Submit([this, hash = std::move(hash), client_id = std::move(client_id),
                         done](Store& store) {
    Result<ClientInfo> me = store.Authenticate(hash);
    if (!me) {
      return done(make_error_code(ToErrc(me.error()) == Errc::not_found ? Errc::unauthorized
                                                                        : Errc::unavailable));
    }
    Result<void> r = store.DeleteClient(me->user, client_id);
    if (r) {
      // Every node holding a connection of this client closes it with 4401.
      bus_.Publish(UserChannel(me->user), protocol::EncodeBus(protocol::BusRevoke{client_id}));
      log::Info("client ", client_id, " of ", me->user, " deleted");
    }
    done(std::move(r));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
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
    if (blob_sweep) SweepBlobs(store, now);
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

// ---- Blobs ----

// Runs on the store worker: deletes the blobs nobody needs any more, then
// their records (in that order, so a crash in between only repeats work).
void Service::SweepBlobs(Store& store, Millis now) {
  for (int round = 0; round < 10; ++round) {
    Result<std::vector<std::string>> dead = store.DeadAttachments(now, 1000);
    if (!dead || dead->empty()) return;
    for (const std::string& key : *dead) blobs_.Delete(key);
    if (!store.DeleteAttachments(*dead)) return;
    log::Info("blobs: deleted ", dead->size(), " attachments");
    if (dead->size() < 1000) return;
  }
}

void Service::BeginUpload(const std::string& key, Done<Attachment> done) {
  {
    std::lock_guard lock(mu_);
    if (!uploading_.insert(key).second) return done(make_error_code(Errc::rate_limited));
  }
  bool ok = store_.For(key).Submit([this, key, done](Store& store) {
    Result<Attachment> a = store.GetAttachment(key);
    if (a && a->state != AttachmentState::pending) a = make_error_code(Errc::forbidden);
    if (!a) FinishUpload(key, false, {});
    done(std::move(a));
  });
  if (!ok) {
    FinishUpload(key, false, {});
    done(make_error_code(Errc::unavailable));
  }
}

void Service::FinishUpload(const std::string& key, bool stored, Done<void> done) {
  if (!stored) {
    std::lock_guard lock(mu_);
    uploading_.erase(key);
    if (done) done(make_error_code(Errc::unavailable));
    return;
  }
  Millis expires = clock_.Now() + config_.unsent_blob_ms;
  bool ok = store_.For(key).Submit([this, key, expires, done](Store& store) {
    Result<void> r = store.MarkUploaded(key, expires);
    if (!r && ToErrc(r.error()) == Errc::bad_request) r = make_error_code(Errc::forbidden);
    {
      std::lock_guard lock(mu_);
      uploading_.erase(key);
    }
    done(std::move(r));
  });
  if (!ok) {
    std::lock_guard lock(mu_);
    uploading_.erase(key);
    done(make_error_code(Errc::unavailable));
  }
}

void Service::CheckFetch(const std::string& key, const std::string& client_id,
                         Done<Attachment> done) {
  bool ok = store_.For(key).Submit([key, client_id, done](Store& store) {
    Result<Attachment> a = store.GetAttachment(key);
    if (!a) return done(std::move(a));
    if (a->state != AttachmentState::sent) return done(make_error_code(Errc::forbidden));
    Result<bool> recipient = store.IsRecipient(key, client_id);
    if (!recipient) return done(recipient.error());
    if (!*recipient) return done(make_error_code(Errc::forbidden));
    done(std::move(a));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
}

void Service::RecordFetch(const std::string& key, const std::string& client_id) {
  store_.For(key).Submit([this, key, client_id](Store& store) {
    Result<bool> all = store.RecordFetch(key, client_id);
    if (all && *all) {
      // Every recipient has it: the blob goes now, not at the next sweep.
      blobs_.Delete(key);
      (void)store.DeleteAttachments({key});
      log::Info("blob ", key, " fetched by every recipient: deleted");
    }
  });
}

// ---- Sessions and the bus ----

std::shared_ptr<ClientSession> Service::NewSession(Transport* transport, Post post) {
  return std::make_shared<ClientSession>(*this, transport, std::move(post), RandomId(9));
}

std::shared_ptr<ClientSession> Service::RegisterSession(const std::string& client_id,
                                                        const std::shared_ptr<ClientSession>& s) {
  std::lock_guard lock(mu_);
  std::weak_ptr<ClientSession>& slot = sessions_[client_id];
  std::shared_ptr<ClientSession> previous = slot.lock();
  slot = s;
  return previous;
}

void Service::UnregisterSession(const std::string& client_id, const ClientSession* s) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return;
  auto current = it->second.lock();
  if (!current || current.get() == s) sessions_.erase(it);
}

void Service::CloseAllSessions(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<ClientSession>> open;
  {
    std::lock_guard lock(mu_);
    for (auto& [client, weak] : sessions_) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) s->CloseAsync(code, reason);  // outside the lock
}

std::size_t Service::SessionCount() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::shared_ptr<ClientSession> Service::FindSession(const std::string& client_id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.lock();
}

// Small chats: one publish per recipient user on `u:{user}`, listing that
// user's (client, seq) pairs. A chat with more recipient users than the
// threshold: one publish on `c:{chat}` listing every pair, which each
// subscribed node filters by the clients it holds. During the grace period,
// and for chat events (rare, and what tells nodes a chat grew), it also goes
// out per user, marked big so the receiving nodes subscribe the chat channel.
//
// Recipient users are counted from `deliveries` (users with an active client
// other than the sender's). That never exceeds the member count a session
// compares at hello, so whenever this side publishes on the chat channel
// alone, the members' sessions subscribed it.
void Service::PublishDeliveries(const std::string& chat_id, protocol::EncodedEntry entry,
                                const std::vector<Delivery>& deliveries) {
  if (deliveries.empty()) return;
  std::vector<const Delivery*> sorted;
  sorted.reserve(deliveries.size());
  for (const Delivery& d : deliveries) sorted.push_back(&d);
  std::sort(sorted.begin(), sorted.end(),
            [](const Delivery* a, const Delivery* b) { return a->user < b->user; });
  std::size_t users = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    users += i == 0 || sorted[i]->user != sorted[i - 1]->user;
  }
  const bool big = !chat_id.empty() && users > config_.chat_channel_threshold;
  const bool chat_event = entry.type == "chat";
  bool per_user = true;
  if (!big) {
    if (!chat_id.empty()) grace_.Forget(chat_id);
  } else {
    per_user = grace_.InGrace(chat_id, clock_.Now(), /*restart=*/chat_event) || chat_event;
  }
  protocol::BusEntries msg{std::move(entry), {}, big ? chat_id : std::string(), big};
  if (big && !chat_event) {
    msg.deliveries.reserve(sorted.size());
    for (const Delivery* d : sorted) msg.deliveries.emplace_back(d->client_id, d->seq);
    bus_.Publish(ChatChannel(chat_id), protocol::EncodeBus(msg));
  }
  if (!per_user) return;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    msg.deliveries.clear();
    while (j < sorted.size() && sorted[j]->user == sorted[i]->user) {
      msg.deliveries.emplace_back(sorted[j]->client_id, sorted[j]->seq);
      ++j;
    }
    bus_.Publish(UserChannel(sorted[i]->user), protocol::EncodeBus(msg));
    i = j;
  }
}

void Service::OnBusMessage(std::string_view channel, std::string_view payload) {
  std::optional<protocol::BusMessage> msg = protocol::DecodeBus(payload);
  if (!msg) {
    log::Warn("bus: malformed payload on ", channel);
    return;
  }
  if (auto* e = std::get_if<protocol::BusEntries>(&*msg)) {
    // Clients this node does not hold are skipped: a chat channel's payload
    // lists every member's.
    auto note = std::make_shared<const protocol::BusEntries>(std::move(*e));
    for (const auto& [client_id, seq] : note->deliveries) {
      if (auto s = FindSession(client_id)) {
        s->NotifyAsync(seq, note);
      }
    }
  } else if (auto* k = std::get_if<protocol::BusKick>(&*msg)) {
    if (auto s = FindSession(k->client_id); s && s->conn_id() != k->conn_id) {
      s->CloseAsync(close_code::kReplaced, "replaced by a newer connection");
    }
  } else if (auto* r = std::get_if<protocol::BusRevoke>(&*msg)) {
    if (auto s = FindSession(r->client_id)) {
      s->CloseAsync(close_code::kUnauthorized, "client deleted");
    }
  }
}

}  // namespace ferry
