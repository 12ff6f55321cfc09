// BlobStore: where attachment bytes live. Clients upload and download them
// directly with pre-signed URLs (AWS SigV4 query authentication), never
// through the WebSocket or the chat logic. Two backends: builtin/ (files
// under the data dir, served by ferryd's own HTTP at /blobs/) and s3/ (any
// S3-compatible store; ferryd only mints URLs).
//
// Threading: after start-up configuration, every method is thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"

namespace ferry {

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // A pre-signed URL to PUT the object `key`, valid `ttl_s` seconds from `now`.
  virtual std::string PresignPut(const std::string& key, Millis now, std::int64_t ttl_s) = 0;
  // A pre-signed URL to GET `key`, minted for one recipient client (the URL
  // names it, so the built-in store can record who fetched what).
  virtual std::string PresignGet(const std::string& key, const std::string& client_id, Millis now,
                                 std::int64_t ttl_s) = 0;
  // Deletes the object; idempotent. May block briefly (file system).
  virtual void Delete(const std::string& key) = 0;
  // The origin (scheme://host[:port]) every URL above points at, e.g. for
  // the web client's Content-Security-Policy.
  virtual std::string UrlOrigin() const = 0;
};

// Attachment ids double as object keys: base64url, 22 characters.
bool ValidBlobKey(std::string_view key);

}  // namespace ferry
