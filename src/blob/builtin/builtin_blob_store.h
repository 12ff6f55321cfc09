// BuiltinBlobStore: the embedded blob store. Objects are files under
// `<data-dir>/blobs/`, uploads land in `blobs/tmp/` and are renamed into
// place only when complete and verified. URLs point at ferryd's own HTTP
// (`/blobs/KEY`) and are signed with credentials generated on first start
// and kept in `blobs/credentials`, so URLs survive restarts.
//
// Threading: SetPublicBase() once before serving; everything else is
// thread-safe (immutable state plus the file system).
#pragma once

#include <string>
#include <string_view>

#include "blob/blob_store.h"
#include "blob/sigv4.h"

namespace ferry {

class BuiltinBlobStore final : public BlobStore {
 public:
  // Creates `dir` and its upload directory if needed, loads or creates the
  // credentials, and removes leftovers of this node's interrupted uploads.
  // `node` (a file-name-safe node id, or "" for a single node) names this
  // node's own upload directory `dir/tmp/NODE`, so the nodes of a cluster
  // can share `dir` (one blob store for all; see docs/operations.md). Throws
  // std::runtime_error if the directory is unusable.
  explicit BuiltinBlobStore(std::string dir, std::string node = {});

  // Where clients reach ferryd, e.g. ("http", "127.0.0.1:8080"). The host
  // is signed into every URL and must match the Host header of requests.
  void SetPublicBase(std::string scheme, std::string host);

  std::string PresignPut(const std::string& key, Millis now, std::int64_t ttl_s) override;
  std::string PresignGet(const std::string& key, const std::string& client_id, Millis now,
                         std::int64_t ttl_s) override;
  void Delete(const std::string& key) override;
  std::string UrlOrigin() const override { return scheme_ + "://" + host_; }

  // ---- For the HTTP side ----
  struct Verified {
    std::string key;
    std::string client_id;  // GET URLs only
  };
  // Checks a request's pre-signed URL: method, Host header and raw target.
  sigv4::VerifyResult Verify(std::string_view method, std::string_view host,
                             std::string_view target, Millis now, Verified* out) const;
  std::string PathOf(const std::string& key) const { return dir_ + "/" + key; }
  std::string NewTempPath() const;

  static constexpr std::string_view kPathPrefix = "/blobs/";
  static constexpr std::string_view kClientParam = "x-ferry-client";

 private:
  std::string dir_;
  std::string tmp_dir_;  // uploads in progress, renamed into dir_ when complete
  sigv4::Credentials credentials_;
  std::string scheme_ = "http";
  std::string host_ = "127.0.0.1:8080";
};

}  // namespace ferry
