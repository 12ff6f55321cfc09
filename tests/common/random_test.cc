#include "common/random.h"

#include "common/digest.h"

#include <gtest/gtest.h>

#include <set>

namespace ferry {
namespace {

TEST(Random, IdsAreUrlSafeAndDistinct) {
  InitCrypto();
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = RandomId();
    EXPECT_EQ(id.size(), 22u);
    EXPECT_EQ(id.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    EXPECT_NE(id[0], '-');
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Random, TimeOrderedIdsShareTheirTimePrefixAndDiffer) {
  InitCrypto();
  const std::int64_t now = 1'800'000'000'000;
  std::string a = TimeOrderedId(now);
  std::string b = TimeOrderedId(now);
  std::string later = TimeOrderedId(now + 1);
  EXPECT_EQ(a.size(), 22u);
  EXPECT_EQ(a.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(a[0], 'A');
  EXPECT_NE(a, b);                         // 80 random bits after the time
  EXPECT_EQ(a.substr(0, 8), b.substr(0, 8));  // 8 digits = the 6 time bytes
  EXPECT_NE(a.substr(0, 8), later.substr(0, 8));
}

TEST(Random, Sha256MatchesKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Random, PasswordHashVerifies) {
  InitCrypto();
  std::string h = HashPassword("secret pw", 0);
  ASSERT_FALSE(h.empty());
  EXPECT_TRUE(h.starts_with("$argon2id$"));
  EXPECT_TRUE(VerifyPassword(h, "secret pw"));
  EXPECT_FALSE(VerifyPassword(h, "secret pX"));
}

}  // namespace
}  // namespace ferry
