#include "blob/builtin/builtin_blob_store.h"

#include <fcntl.h>
#include <cerrno>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/log.h"
#include "common/random.h"

namespace ferry {
namespace fs = std::filesystem;

namespace {

bool ReadCredentials(const std::string& path, sigv4::Credentials* c) {
  std::ifstream in(path);
  return static_cast<bool>(in >> c->access_key >> c->secret_key);
}

// "ACCESS SECRET" in one line, created once with mode 0600. Several nodes of
// a cluster may share the directory and start at once: the file is put in
// place with link(), which fails if another node got there first, and then
// that node's credentials are the ones everybody uses.
sigv4::Credentials LoadOrCreateCredentials(const std::string& path) {
  sigv4::Credentials c;
  c.region = "ferry";
  if (ReadCredentials(path, &c)) return c;
  c.access_key = "FERRY" + RandomId(12);
  c.secret_key = RandomId(30);
  std::string tmp = path + "." + RandomId(6) + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp);
  std::string line = c.access_key + " " + c.secret_key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + tmp);
  int linked = ::link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0) {
    if (link_errno != EEXIST || !ReadCredentials(path, &c)) {
      throw std::runtime_error("cannot create " + path);
    }
  }
  return c;
}

}  // namespace

BuiltinBlobStore::BuiltinBlobStore(std::string dir, std::string node)
    : dir_(std::move(dir)), tmp_dir_(dir_ + "/tmp" + (node.empty() ? "" : "/" + node)) {
  fs::create_directories(tmp_dir_);
  credentials_ = LoadOrCreateCredentials(dir_ + "/credentials");
  // This node's uploads that were in flight when it died never completed
  // (other nodes' uploads in a shared directory are theirs to clean).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp_dir_, ec)) {
    if (entry.is_regular_file(ec)) fs::remove(entry.path(), ec);
  }
}

void BuiltinBlobStore::SetPublicBase(std::string scheme, std::string host) {
  scheme_ = std::move(scheme);
  host_ = std::move(host);
}

std::string BuiltinBlobStore::PresignPut(const std::string& key, Millis now, std::int64_t ttl_s) {
  sigv4::PresignRequest r;
  r.method = "PUT";
  r.scheme = scheme_;
  r.host = host_;
  r.path = std::string(kPathPrefix) + key;
  r.now_ms = now;
  r.expires_s = ttl_s;
  return sigv4::Presign(credentials_, r);
}

std::string BuiltinBlobStore::PresignGet(const std::string& key, const std::string& client_id,
                                         Millis now, std::int64_t ttl_s) {
  sigv4::PresignRequest r;
  r.method = "GET";
  r.scheme = scheme_;
  r.host = host_;
  r.path = std::string(kPathPrefix) + key;
  r.extra_query = {{std::string(kClientParam), client_id}};
  r.now_ms = now;
  r.expires_s = ttl_s;
  return sigv4::Presign(credentials_, r);
}

void BuiltinBlobStore::Delete(const std::string& key) {
  if (!ValidBlobKey(key)) return;
  std::error_code ec;
  fs::remove(PathOf(key), ec);
  if (ec) log::Warn("blob ", key, ": delete failed: ", ec.message());
}

std::string BuiltinBlobStore::NewTempPath() const { return tmp_dir_ + "/" + RandomId(12); }

sigv4::VerifyResult BuiltinBlobStore::Verify(std::string_view method, std::string_view host,
                                             std::string_view target, Millis now,
                                             Verified* out) const {
  sigv4::VerifiedQuery q;
  sigv4::VerifyResult r = sigv4::Verify(credentials_, method, host, target, now, &q);
  if (r != sigv4::VerifyResult::ok) return r;
  // The decoded path the signature covers (any valid escaping verifies).
  std::string_view path = q.path;
  if (!path.starts_with(kPathPrefix)) return sigv4::VerifyResult::malformed;
  std::string_view key = path.substr(kPathPrefix.size());
  if (!ValidBlobKey(key)) return sigv4::VerifyResult::malformed;
  out->key = std::string(key);
  out->client_id.clear();
  for (const auto& [name, value] : q.params) {
    if (name == kClientParam) out->client_id = value;
  }
  return r;
}

}  // namespace ferry
