#include "net/connection_limits.h"

#include <functional>

namespace ferry::net {

ConnectionLimits::ConnectionLimits(const Config& config, std::size_t max_connections)
    : config_(config), max_connections_(max_connections) {}

std::size_t ConnectionLimits::AddressHash::operator()(const boost::asio::ip::address& a) const {
  if (a.is_v4()) return std::hash<std::uint32_t>()(a.to_v4().to_uint());
  auto bytes = a.to_v6().to_bytes();
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

ConnectionLimits::Refusal ConnectionLimits::Admit(const boost::asio::ip::address& address,
                                                  Ticket* ticket) {
  std::lock_guard lock(mu_);
  if (total_.open >= max_connections_ || total_.unauthenticated >= config_.max_unauthenticated) {
    return Refusal::server_full;
  }
  Counts& mine = by_address_[address];
  Refusal refusal = Refusal::none;
  if (config_.max_connections_per_address > 0 && mine.open >= config_.max_connections_per_address) {
    refusal = Refusal::address_full;
  } else if (config_.max_unauthenticated_per_address > 0 &&
             mine.unauthenticated >= config_.max_unauthenticated_per_address) {
    refusal = Refusal::address_unauthenticated;
  }
  if (refusal != Refusal::none) {
    if (mine.open == 0) by_address_.erase(address);
    return refusal;
  }
  ++mine.open;
  ++mine.unauthenticated;
  ++total_.open;
  ++total_.unauthenticated;
  ticket->Release();
  ticket->limits_ = this;
  ticket->address_ = address;
  ticket->authenticated_ = false;
  return Refusal::none;
}

void ConnectionLimits::Release(const boost::asio::ip::address& address, bool authenticated) {
  std::lock_guard lock(mu_);
  --total_.open;
  if (!authenticated) --total_.unauthenticated;
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return;
  --it->second.open;
  if (!authenticated) --it->second.unauthenticated;
  if (it->second.open == 0) by_address_.erase(it);
}

void ConnectionLimits::Authenticate(const boost::asio::ip::address& address) {
  std::lock_guard lock(mu_);
  --total_.unauthenticated;
  auto it = by_address_.find(address);
  if (it != by_address_.end()) --it->second.unauthenticated;
}

std::size_t ConnectionLimits::open() const {
  std::lock_guard lock(mu_);
  return total_.open;
}

std::size_t ConnectionLimits::unauthenticated() const {
  std::lock_guard lock(mu_);
  return total_.unauthenticated;
}

ConnectionLimits::Ticket& ConnectionLimits::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = other.limits_;
    address_ = other.address_;
    authenticated_ = other.authenticated_;
    other.limits_ = nullptr;
  }
  return *this;
}

void ConnectionLimits::Ticket::Authenticated() {
  if (!limits_ || authenticated_) return;
  authenticated_ = true;
  limits_->Authenticate(address_);
}

void ConnectionLimits::Ticket::Release() {
  if (!limits_) return;
  limits_->Release(address_, authenticated_);
  limits_ = nullptr;
}

}  // namespace ferry::net
