// The web client's HTTP face: GET and HEAD of the files WebRoot read at
// start-up, from memory, with the headers that let a browser cache them
// (content-hashed assets for a year, index.html revalidated by its ETag)
// and that keep the page to what the app needs (docs/security.md, "The web
// client"). Called on the connection's strand; never blocks.
#include <algorithm>
#include <cctype>

#include "net/http_session.h"
#include "net/web_root.h"

namespace ferry::net {

namespace {

constexpr std::string_view kCacheHashed = "public, max-age=31536000, immutable";
constexpr std::string_view kCacheRevalidate = "no-cache";

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A Host header is the client's to write, and goes into the policy: only a
// plain name or address with a port may (anything else, such as a `;`, is
// left out of the policy, which stays as strict).
bool PlainHost(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']';
  });
}

// The app's own scripts, styles, images, media, fonts and manifest, nothing
// inline or from elsewhere. It connects to itself (HTTP API), to the blob
// URLs' origin when that is another than the page's (--public-url, or the
// S3 endpoint), and to its own WebSocket, named because some browsers do not
// count ws: and wss: as 'self'.
std::string ContentSecurityPolicy(std::string_view page_scheme, std::string_view host,
                                  std::string_view blob_origin) {
  bool plain = PlainHost(host);
  std::string connect = "'self'";
  std::string blobs = Lowercase(blob_origin);
  if (!blobs.empty() && !(plain && blobs == std::string(page_scheme) + "://" + Lowercase(host))) {
    connect += " " + blobs;
  }
  if (plain) connect += (page_scheme == "https" ? " wss://" : " ws://") + Lowercase(host);
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
         "media-src 'self' blob:; font-src 'self'; manifest-src 'self'; connect-src " +
         connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

// Whether an If-None-Match list names `etag`: "*", or the tag with or
// without W/ (RFC 9110 compares weakly here).
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

}  // namespace

std::optional<Response> WebClientResponse(const WebRoot& web, const HttpRequest& req,
                                          std::string_view page_scheme,
                                          std::string_view blob_origin) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const WebFile* file = web.Find(path);
  if (!file) {
    if (path == "/" && !web.unavailable_reason().empty()) {
      return ErrorResponse(Errc::not_found, web.unavailable_reason());
    }
    return std::nullopt;
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return MethodNotAllowed("GET, HEAD");
  }
  bool fresh = NoneMatchHits(req[http::field::if_none_match], file->etag);
  Response res{fresh ? http::status::not_modified : http::status::ok, 11};
  res.set(http::field::etag, file->etag);
  res.set(http::field::cache_control, file->content_hashed ? kCacheHashed : kCacheRevalidate);
  if (!fresh) {
    res.set(http::field::content_type, file->content_type);
    res.body() = file->body;
  }
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy",
          ContentSecurityPolicy(page_scheme, req[http::field::host], blob_origin));
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::x_frame_options, "DENY");
  return res;
}

}  // namespace ferry::net
