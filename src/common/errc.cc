#include "common/errc.h"

#include <string>

namespace ferry {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "ferry"; }
  std::string message(int ev) const override {
    return std::string(ErrcName(static_cast<Errc>(ev)));
  }
};
#pragma GCC diagnostic pop

}  // namespace

std::string_view ErrcName(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::bad_request: return "bad_request";
    case Errc::unauthorized: return "unauthorized";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::user_exists: return "user_exists";
    case Errc::too_many_members: return "too_many_members";
    case Errc::too_many_clients: return "too_many_clients";
    case Errc::too_large: return "too_large";
    case Errc::rate_limited: return "rate_limited";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
  }
  return "internal";
}

int HttpStatus(Errc e) {
  switch (e) {
    case Errc::ok: return 200;
    case Errc::bad_request: return 400;
    case Errc::unauthorized: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::user_exists: return 409;
    case Errc::too_many_members: return 400;
    case Errc::too_many_clients: return 409;
    case Errc::too_large: return 413;
    case Errc::rate_limited: return 429;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

const boost::system::error_category& FerryCategory() {
  static const Category category;
  return category;
}

boost::system::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), FerryCategory()};
}

Errc ToErrc(const boost::system::error_code& ec) {
  if (!ec) return Errc::ok;
  if (ec.category() == FerryCategory()) return static_cast<Errc>(ec.value());
  return Errc::internal;
}

}  // namespace ferry
