#include "service/accounts.h"

#include "common/digest.h"
#include "common/log.h"
#include "common/random.h"
#include "protocol/protocol.h"

namespace ferry {

Accounts::Accounts(const Config& config, StorePool& store, Bus& bus, Clock& clock)
    : config_(config),
      store_(store),
      bus_(bus),
      clock_(clock),
      hash_pool_(config.hash_threads, config.hash_queue_max, config.hash_queue_per_address),
      dummy_hash_(HashPassword(RandomId(), config.password_strength)),
      login_per_address_(config.login_per_address),
      login_failures_per_user_(config.login_failures_per_user),
      register_per_address_(config.register_per_address) {}

Millis Accounts::AdmitRegister(const std::string& address) {
  return register_per_address_.Take(address, clock_.Monotonic());
}

Millis Accounts::AdmitLogin(const std::string& user, const std::string& address) {
  Millis now = clock_.Monotonic();
  // The account's failure budget is only looked at here: a login that
  // succeeds takes nothing from it.
  if (Millis wait = login_failures_per_user_.Wait(user, now)) return wait;
  return login_per_address_.Take(address, now);
}

void Accounts::Register(std::string user, std::string password, const std::string& address,
                        Done<void> done) {
  if (!protocol::ValidUser(user)) {
    return done(make_error_code(Errc::bad_request));
  }
  if (password.size() < 8 || password.size() > 1024) {
    return done(make_error_code(Errc::bad_request));
  }
  // Argon2id takes tens of milliseconds and 64 MiB: never on an I/O thread.
  bool queued = hash_pool_.Submit(
      address, [this, user = std::move(user), password = std::move(password), done]() mutable {
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

void Accounts::Login(
    std::string user, std::string password, std::string device, const std::string& address,
    std::function<void(Result<LoginReply>, std::vector<ClientInfo> clients)> done) {
  if (!protocol::ValidUser(user) || password.empty() || password.size() > 1024 || device.empty() ||
      device.size() > 64) {
    return done(make_error_code(Errc::bad_request), {});
  }
  auto fail = [done](Errc e) { done(make_error_code(e), {}); };
  // 1. fetch the hash (store thread), 2. verify it (hash pool), 3. create or
  // reuse the client and add a token (store thread).
  bool ok = store_.For(user).Submit([=, this](Store& store) mutable {
    Result<std::string> hash = store.PasswordHash(user);
    bool known = true;
    if (!hash) {
      if (ToErrc(hash.error()) != Errc::not_found) return fail(Errc::unavailable);
      known = false;  // checked all the same, against the dummy: the same time
    }
    bool queued = hash_pool_.Submit(address, [=, this,
                                              hash = known ? std::move(*hash)
                                                           : dummy_hash_]() mutable {
      if (!VerifyPassword(hash, password) || !known) {
        login_failures_per_user_.Charge(user, clock_.Monotonic());
        return fail(Errc::unauthorized);
      }
      LoginRequest req;
      req.user = user;
      req.device = device;
      std::string token = NewToken();
      req.token_hash = Sha256Hex(token);
      req.new_client_id = RandomId();
      req.new_epoch = RandomId(8);
      req.max_clients = config_.max_clients;
      req.now = clock_.Now();
      bool ok2 =
          store_.For(user).Submit([req = std::move(req), token = std::move(token), done](Store& s) {
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

void Accounts::Authenticate(const std::string& token, Done<ClientInfo> done) {
  std::string hash = Sha256Hex(token);
  StoreWorker& lane = store_.For(hash);
  bool ok = lane.Submit([hash = std::move(hash), done](Store& store) {
    Result<ClientInfo> r = store.Authenticate(hash);
    if (!r && ToErrc(r.error()) == Errc::not_found)
      return done(make_error_code(Errc::unauthorized));
    done(std::move(r));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
}

void Accounts::ListClients(const std::string& token, Done<std::vector<ClientInfo>> done) {
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

void Accounts::DeleteClient(const std::string& token, std::string client_id, Done<void> done) {
  std::string hash = Sha256Hex(token);
  StoreWorker& lane = store_.For(client_id);  // beside the client's own writes
  bool ok = lane.Submit(
      [this, hash = std::move(hash), client_id = std::move(client_id), done](Store& store) {
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

}  // namespace ferry
