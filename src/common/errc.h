// Ferry's error codes: one enum shared by every layer, with the wire name of
// each code (PROTOCOL.md "Error codes") and the HTTP status it maps to.
// Fallible synchronous calls return Result<T>; "not found" is a normal
// outcome carried the same way. Thread-safe: everything here is immutable.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string_view>
#include <system_error>

namespace ferry {

enum class Errc {
  ok = 0,
  bad_request,
  unauthorized,
  forbidden,
  not_found,
  user_exists,
  too_many_members,
  too_many_clients,
  too_large,
  rate_limited,
  unavailable,
  internal,
};

// The wire name, e.g. "bad_request".
std::string_view ErrcName(Errc e);
// The HTTP status for an error body with this code (200 for ok).
int HttpStatus(Errc e);

const boost::system::error_category& FerryCategory();
boost::system::error_code make_error_code(Errc e);

// Maps any error_code to a wire code: ours as is, anything else is internal.
Errc ToErrc(const boost::system::error_code& ec);

template <class T>
using Result = boost::system::result<T>;

}  // namespace ferry

namespace boost::system {
template <>
struct is_error_code_enum<ferry::Errc> : std::true_type {};
}  // namespace boost::system
