#include "blob/s3/s3_blob_store.h"

#include <cctype>
#include <stdexcept>

#include "common/log.h"

namespace ferry {

S3BlobStore::S3BlobStore(S3Options options) : options_(std::move(options)) {
  std::string_view ep = options_.endpoint;
  auto sep = ep.find("://");
  if (sep == std::string_view::npos) throw std::invalid_argument("--s3-endpoint needs a scheme");
  scheme_ = std::string(ep.substr(0, sep));
  if (scheme_ != "http" && scheme_ != "https") {
    throw std::invalid_argument("--s3-endpoint scheme must be http or https");
  }
  host_ = std::string(ep.substr(sep + 3));
  while (!host_.empty() && host_.back() == '/') host_.pop_back();
  if (host_.empty() || host_.find('/') != std::string::npos) {
    throw std::invalid_argument("--s3-endpoint must be scheme://host[:port]");
  }
  // Sign the Host exactly as HTTP clients will send it: lowercase, without
  // the scheme's default port.
  for (char& c : host_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string default_port = scheme_ == "https" ? ":443" : ":80";
  if (host_.ends_with(default_port)) host_.resize(host_.size() - default_port.size());
  if (options_.bucket.empty() || options_.access_key.empty() || options_.secret_key.empty()) {
    throw std::invalid_argument("S3 needs a bucket, an access key and a secret key");
  }
  if (!options_.path_style) host_ = options_.bucket + "." + host_;
  credentials_.access_key = options_.access_key;
  credentials_.secret_key = options_.secret_key;
  credentials_.region = options_.region;
  credentials_.service = "s3";
}

sigv4::PresignRequest S3BlobStore::Request(const char* method, const std::string& key, Millis now,
                                           std::int64_t ttl_s) const {
  sigv4::PresignRequest r;
  r.method = method;
  r.scheme = scheme_;
  r.host = host_;
  r.path = (options_.path_style ? "/" + options_.bucket + "/" : std::string("/")) +
           options_.prefix + key;
  r.now_ms = now;
  r.expires_s = ttl_s;
  return r;
}

std::string S3BlobStore::PresignPut(const std::string& key, Millis now, std::int64_t ttl_s) {
  return sigv4::Presign(credentials_, Request("PUT", key, now, ttl_s));
}

std::string S3BlobStore::PresignGet(const std::string& key, const std::string& client_id,
                                    Millis now, std::int64_t ttl_s) {
  sigv4::PresignRequest r = Request("GET", key, now, ttl_s);
  // Signed but ignored by S3: makes each recipient's URL its own.
  r.extra_query = {{"x-ferry-client", client_id}};
  return sigv4::Presign(credentials_, r);
}

void S3BlobStore::Delete(const std::string& key) {
  // Deliberately nothing: the bucket's lifecycle rule expires objects.
  log::Debug("s3: object ", key, " left to the bucket lifecycle rule");
}

}  // namespace ferry
