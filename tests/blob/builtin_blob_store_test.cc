// BuiltinBlobStore on a directory shared by several nodes (cluster mode).
#include "blob/builtin/builtin_blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/random.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

class SharedBlobDir : public ::testing::Test {
 protected:
  void SetUp() override {
    InitCrypto();
    dir_ = (fs::temp_directory_path() / ("ferry-blobs-" + RandomId(8))).string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

// Starting (or restarting) one node must not delete the upload another node
// is receiving into the shared directory.
TEST_F(SharedBlobDir, ANodeStartingLeavesOtherNodesUploadsAlone) {
  BuiltinBlobStore a(dir_, "node-1");
  std::string in_flight = a.NewTempPath();
  std::ofstream(in_flight) << "half an upload";
  BuiltinBlobStore b(dir_, "node-2");
  EXPECT_TRUE(fs::exists(in_flight));
  // A node's own leftovers are still removed when it restarts.
  BuiltinBlobStore a_again(dir_, "node-1");
  EXPECT_FALSE(fs::exists(in_flight));
}

// Every node signs with the same credentials, so a URL minted by one node
// verifies on another.
TEST_F(SharedBlobDir, AUrlMintedByOneNodeVerifiesOnAnother) {
  BuiltinBlobStore a(dir_, "node-1");
  BuiltinBlobStore b(dir_, "node-2");
  a.SetPublicBase("http", "127.0.0.1:8080");
  b.SetPublicBase("http", "127.0.0.1:8080");
  const std::string key = "AAAAAAAAAAAAAAAAAAAAAA";
  Millis now = 1'700'000'000'000;
  std::string url = a.PresignGet(key, "client1", now, 600);
  std::string target = url.substr(url.find("/blobs/"));
  BuiltinBlobStore::Verified v;
  ASSERT_EQ(b.Verify("GET", "127.0.0.1:8080", target, now, &v), sigv4::VerifyResult::ok);
  EXPECT_EQ(v.key, key);
  EXPECT_EQ(v.client_id, "client1");
}

}  // namespace
}  // namespace ferry
