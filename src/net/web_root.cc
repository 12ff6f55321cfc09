// Loading the web root: list first, read after. The listing checks the
// limits on the sizes the file system reports, so an oversized root is
// refused without reading it; only then are the files read.
#include "net/web_root.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "common/digest.h"

namespace ferry::net {
namespace fs = std::filesystem;

namespace {

// Types of the files a web client build holds. Text types name their
// charset, so a browser never guesses it.
constexpr std::pair<std::string_view, std::string_view> kContentTypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

std::string_view ContentTypeOf(std::string_view name) {
  std::size_t dot = name.rfind('.');
  std::string ext(dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [extension, type] : kContentTypes) {
    if (ext == extension) return type;
  }
  return "application/octet-stream";
}

std::string Bytes(std::size_t n) {
  constexpr std::size_t kMiB = 1024 * 1024;
  return n % kMiB == 0 ? std::to_string(n / kMiB) + " MiB" : std::to_string(n) + " bytes";
}

std::runtime_error LoadError(const std::string& dir, const std::string& why) {
  return std::runtime_error("web root " + dir + ": " + why);
}

struct Listed {
  std::string url_path;  // "/assets/app-x.js"
  fs::path file;
  std::size_t size;
};

// The regular files below `dir` that are served, limits checked.
std::vector<Listed> ListFiles(const std::string& dir, WebRoot::Limits limits) {
  std::vector<Listed> listed;
  std::size_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::file_status status = it->symlink_status(ec);
    if (ec) break;
    bool hidden = it->path().filename().string().starts_with('.');
    if (fs::is_directory(status)) {
      if (hidden) it.disable_recursion_pending();
      continue;
    }
    // Symlinks (to anything) are skipped, as are sockets and the like.
    if (hidden || !fs::is_regular_file(status)) continue;
    std::size_t size = static_cast<std::size_t>(it->file_size(ec));
    if (ec) break;
    total += size;
    if (total > limits.max_bytes) {
      throw LoadError(
          dir, "more than " + Bytes(limits.max_bytes) + " of files (all are read into memory)");
    }
    if (listed.size() == limits.max_files) {
      throw LoadError(dir, "more than " + std::to_string(limits.max_files) + " files");
    }
    listed.push_back({"/" + it->path().lexically_relative(dir).generic_string(), it->path(), size});
  }
  if (ec) throw LoadError(dir, "cannot list it: " + ec.message());
  return listed;
}

}  // namespace

WebRoot WebRoot::Load(const std::string& dir, Limits limits) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw LoadError(dir, "no such directory");
  if (!fs::is_directory(dir, ec)) throw LoadError(dir, "not a directory");
  std::vector<Listed> listed = ListFiles(dir, limits);
  if (std::none_of(listed.begin(), listed.end(),
                   [](const Listed& l) { return l.url_path == "/index.html"; })) {
    throw LoadError(dir, "no index.html");
  }
  WebRoot root;
  root.dir_ = dir;
  for (Listed& l : listed) {
    WebFile file;
    file.body.resize(l.size);
    std::ifstream in(l.file, std::ios::binary);
    if (!in.read(file.body.data(), static_cast<std::streamsize>(l.size))) {
      throw LoadError(dir, "cannot read " + l.url_path.substr(1));
    }
    file.content_type = ContentTypeOf(l.url_path);
    // 128 bits of the digest: a strong validator, short on the wire.
    file.etag = "\"" + Sha256Hex(file.body).substr(0, 32) + "\"";
    file.content_hashed = l.url_path.starts_with("/assets/");
    root.total_bytes_ += l.size;
    root.files_.emplace(std::move(l.url_path), std::move(file));
  }
  return root;
}

WebRoot WebRoot::Unavailable(std::string reason) {
  WebRoot root;
  root.unavailable_reason_ = std::move(reason);
  return root;
}

const WebFile* WebRoot::Find(std::string_view path) const {
  auto it = files_.find(path == "/" ? std::string_view("/index.html") : path);
  return it == files_.end() ? nullptr : &it->second;
}

}  // namespace ferry::net
