#include "common/errc.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(Errc, WireNamesAndStatuses) {
  EXPECT_EQ(ErrcName(Errc::bad_request), "bad_request");
  EXPECT_EQ(ErrcName(Errc::too_many_clients), "too_many_clients");
  EXPECT_EQ(HttpStatus(Errc::unauthorized), 401);
  EXPECT_EQ(HttpStatus(Errc::user_exists), 409);
  EXPECT_EQ(HttpStatus(Errc::rate_limited), 429);
  EXPECT_EQ(HttpStatus(Errc::unavailable), 503);
}

TEST(Errc, ResultCarriesCode) {
  Result<int> r = make_error_code(Errc::not_found);
  ASSERT_FALSE(r);
  EXPECT_EQ(ToErrc(r.error()), Errc::not_found);
  EXPECT_EQ(ToErrc(boost::system::error_code(5, boost::system::generic_category())),
            Errc::internal);
}

}  // namespace
}  // namespace ferry
