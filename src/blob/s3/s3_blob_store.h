// S3BlobStore: attachments in an external S3-compatible store. ferryd only
// mints pre-signed URLs; clients talk to the store directly. Objects are not
// deleted by ferryd: give the bucket a lifecycle rule that expires objects
// after the retention (docs/operations.md).
//
// Threading: immutable after construction; thread-safe.
#pragma once

#include <string>

#include "blob/blob_store.h"
#include "blob/sigv4.h"

namespace ferry {

struct S3Options {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  bool path_style = true;  // /bucket/key on the endpoint host; false: bucket.host/key
  std::string prefix;      // prepended to keys, e.g. "ferry/"
};

class S3BlobStore final : public BlobStore {
 public:
  // Throws std::invalid_argument on an unusable endpoint or missing fields.
  explicit S3BlobStore(S3Options options);

  std::string PresignPut(const std::string& key, Millis now, std::int64_t ttl_s) override;
  std::string PresignGet(const std::string& key, const std::string& client_id, Millis now,
                         std::int64_t ttl_s) override;
  void Delete(const std::string& key) override;
  std::string UrlOrigin() const override { return scheme_ + "://" + host_; }

 private:
  sigv4::PresignRequest Request(const char* method, const std::string& key, Millis now,
                                std::int64_t ttl_s) const;

  S3Options options_;
  sigv4::Credentials credentials_;
  std::string scheme_;
  std::string host_;
};

}  // namespace ferry
