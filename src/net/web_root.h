// WebRoot: the web client's files (web/dist: index.html and content-hashed
// assets/), read into memory once at start-up, so that serving them never
// touches the disk on an I/O thread and a request can name nothing else.
//
// What is loaded: the regular files below the root, except dotfiles and
// whatever lies in a dot directory; symlinks are not followed, so nothing
// outside the root is reachable. A request path is looked up among these
// files exactly as written: no percent-decoding, no normalising, so `..`
// and `%2e%2e` name no file.
//
// Immutable once made: any thread may call the const members.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace ferry::net {

struct WebFile {
  std::string body;
  std::string_view content_type;  // by the name's extension
  std::string etag;               // strong: a quoted digest of the body
  bool content_hashed = false;    // under /assets/: the name changes with the content
};

class WebRoot {
 public:
  struct Limits {
    std::size_t max_bytes;  // the files' sizes added up
    std::size_t max_files;
  };

  // Reads every file of the web root `dir`. Throws std::runtime_error whose
  // message starts "web root DIR: " if `dir` is not a directory, has no
  // index.html, holds more than `limits` allow (checked before a byte is
  // read) or a file cannot be read. InitCrypto() first (the ETags).
  static WebRoot Load(const std::string& dir, Limits limits);

  // A web root without files whose page, `/`, answers 404 with `reason`
  // (e.g. "web client not built …").
  static WebRoot Unavailable(std::string reason);

  // The file served at URL path `path` ("/" is "/index.html"), or null.
  const WebFile* Find(std::string_view path) const;

  const std::string& dir() const { return dir_; }
  std::size_t file_count() const { return files_.size(); }
  std::size_t total_bytes() const { return total_bytes_; }
  // Why there are no files; "" when loaded.
  const std::string& unavailable_reason() const { return unavailable_reason_; }

 private:
  WebRoot() = default;

  std::string dir_;
  std::map<std::string, WebFile, std::less<>> files_;  // by URL path: "/assets/app-x.js"
  std::size_t total_bytes_ = 0;
  std::string unavailable_reason_;
};

}  // namespace ferry::net
