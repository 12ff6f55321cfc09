// The built-in blob store's HTTP face: PUT and GET/HEAD of /blobs/KEY with
// pre-signed URLs (PROTOCOL.md "Attachments").
//
// Upload: every check that needs no body (signature, expiry, Content-Length
// against the announced size, Content-Type, checksum header, state) happens
// before a byte of the body is read. The body streams into a temp file with
// a parser limit of exactly the announced size, so memory stays flat and a
// longer body fails. Hashing and fsync run on the service's blocking pool;
// only then is the file renamed into place and the attachment marked
// uploaded. Any failure leaves nothing behind.
//
// Download: the recipient client is named in the signed URL. Range requests
// (one range) get 206. A fetch is recorded only after every byte of the
// object was written to the socket.
//
// CORS: any origin may use a blob URL, and read every answer. The URL is a
// capability (whoever holds it may do its one operation, whatever the
// origin), and --public-url may be another origin than the page's.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include "blob/sigv4.h"
#include "common/log.h"
#include "net/http_session.h"

namespace ferry::net {
namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// A beast File over one byte range [offset, offset+length) of a file, so
// beast's file body can serve Range requests.
class RangeFile {
 public:
  using native_handle_type = beast::file::native_handle_type;

  bool is_open() const { return file_.is_open(); }
  void close(beast::error_code& ec) { file_.close(ec); }
  void open(char const* path, beast::file_mode mode, beast::error_code& ec) {
    file_.open(path, mode, ec);
  }
  // Restricts the file to a range; call after open().
  void Restrict(std::uint64_t offset, std::uint64_t length, beast::error_code& ec) {
    offset_ = offset;
    length_ = length;
    file_.seek(offset, ec);
  }
  std::uint64_t size(beast::error_code& ec) const {
    ec = {};
    return length_;
  }
  std::uint64_t pos(beast::error_code& ec) { return file_.pos(ec) - offset_; }
  void seek(std::uint64_t offset, beast::error_code& ec) { file_.seek(offset_ + offset, ec); }
  std::size_t read(void* buffer, std::size_t n, beast::error_code& ec) {
    return file_.read(buffer, n, ec);
  }
  std::size_t write(void const*, std::size_t, beast::error_code& ec) {
    ec = beast::errc::make_error_code(beast::errc::operation_not_supported);
    return 0;
  }

 private:
  beast::file file_;
  std::uint64_t offset_ = 0;
  std::uint64_t length_ = 0;
};

using RangeBody = http::basic_file_body<RangeFile>;

// tcp_stream deadlines cover a whole transfer, not idle time: allow 60 s
// plus the time the transfer takes at 64 KiB/s, a slow mobile link.
std::chrono::seconds TransferTimeout(std::uint64_t bytes) {
  return std::chrono::seconds(60 + bytes / (64 * 1024));
}

const char* VerifyMessage(sigv4::VerifyResult r) {
  switch (r) {
    case sigv4::VerifyResult::ok: return "ok";
    case sigv4::VerifyResult::expired: return "the URL has expired";
    case sigv4::VerifyResult::not_yet_valid: return "the URL is not valid yet";
    case sigv4::VerifyResult::bad_signature: return "signature does not match";
    case sigv4::VerifyResult::wrong_credential: return "unknown credential";
    case sigv4::VerifyResult::malformed: break;
  }
  return "not a valid pre-signed URL";
}

bool FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Parses a single "bytes=a-b" range against `size`. Returns false if the
// header is absent or not a single byte range (serve the whole object);
// sets *unsatisfiable when it is a range that cannot be served.
bool ParseRange(std::string_view header, std::uint64_t size, std::uint64_t* first,
                std::uint64_t* last, bool* unsatisfiable) {
  *unsatisfiable = false;
  if (!header.starts_with("bytes=")) return false;
  header.remove_prefix(6);
  if (header.find(',') != std::string_view::npos) return false;  // multi-range: whole object
  auto dash = header.find('-');
  if (dash == std::string_view::npos) return false;
  auto parse = [](std::string_view t, std::uint64_t* v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return !t.empty() && ec == std::errc() && p == t.data() + t.size();
  };
  std::string_view a = header.substr(0, dash), b = header.substr(dash + 1);
  std::uint64_t x = 0, y = 0;
  if (a.empty()) {  // suffix: the last y bytes
    if (!parse(b, &y)) return false;
    if (y == 0 || size == 0) return *unsatisfiable = true;
    *first = y >= size ? 0 : size - y;
    *last = size - 1;
    return true;
  }
  if (!parse(a, &x) || (!b.empty() && !parse(b, &y))) return false;
  if (b.empty()) y = size - 1;
  if (x >= size || y < x) return *unsatisfiable = true;
  *first = x;
  *last = std::min(y, size - 1);
  return true;
}

}  // namespace

void HttpSession::HandleBlob() {
  keep_alive_ = header_parser_->get().keep_alive();
  cors_allow_origin_ = "*";
  const auto& req = header_parser_->get();
  if (!blobs_) return Write(ErrorResponse(Errc::not_found, "blobs are not stored here"));
  bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;
  bool is_preflight = req.method() == http::verb::options;
  // A GET, HEAD or OPTIONS with a body: the body is not read, so the
  // connection must not read on from inside it as if it were the next request.
  if ((is_get || is_preflight) && (req.chunked() || req.has_content_length())) {
    keep_alive_ = false;
  }
  if (is_preflight) {
    return Write(PreflightResponse("GET, HEAD, PUT", "Content-Type, x-amz-checksum-sha256, Range"));
  }
  if (!is_get && req.method() != http::verb::put) {
    keep_alive_ = false;
    return Write(MethodNotAllowed("GET, HEAD, PUT"));
  }
  auto host = req.find(http::field::host);
  BuiltinBlobStore::Verified v;
  // HEAD is checked against a GET signature, as S3 does not require a
  // separate one for a client that only wants the headers.
  sigv4::VerifyResult r =
      blobs_->Verify(is_get ? "GET" : "PUT",
                     host == req.end() ? std::string_view()
                                       : std::string_view(host->value().data(), host->value().size()),
                     req.target(), service_.clock().Now(), &v);
  if (r != sigv4::VerifyResult::ok) {
    if (!is_get) keep_alive_ = false;  // the body is not read
    Errc code = r == sigv4::VerifyResult::malformed ? Errc::bad_request : Errc::forbidden;
    return Write(ErrorResponse(code, VerifyMessage(r)));
  }
  if (is_get) {
    if (v.client_id.empty()) return Write(ErrorResponse(Errc::forbidden, "no client in URL"));
    return StartDownload(std::move(v.key), std::move(v.client_id));
  }
  StartUpload(std::move(v.key));
}

// ---- Upload ----

void HttpSession::StartUpload(std::string key) {
  keep_alive_ = false;  // until the body has been read, an error ends the connection
  const auto& req = header_parser_->get();
  if (req.chunked() || !req.has_content_length()) {
    Response res = ErrorResponse(Errc::bad_request, "Content-Length required");
    res.result(http::status::length_required);
    return Write(std::move(res));
  }
  ClearDeadline();
  auto executor = stream_.get_executor();
  service_.uploads().BeginUpload(key, [self = shared_from_this(), executor,
                                       key](Result<Attachment> a) {
    asio::post(executor, [self, key, a = std::move(a)]() mutable {
      self->OnUploadChecked(key, std::move(a));
    });
  });
}

void HttpSession::OnUploadChecked(std::string key, Result<Attachment> a) {
  if (!a) {
    Errc e = ToErrc(a.error());
    Response res =
        ErrorResponse(e, e == Errc::forbidden      ? "already uploaded"
                         : e == Errc::not_found    ? "no such attachment"
                         : e == Errc::rate_limited ? "another upload of it is in progress"
                                                   : "storage unavailable");
    return Write(std::move(res));
  }
  const auto& req = header_parser_->get();
  std::string error;
  if (*header_parser_->content_length() != static_cast<std::uint64_t>(a->size)) {
    error = "Content-Length differs from the announced size";
  } else if (req[http::field::content_type] != a->content_type) {
    error = "Content-Type differs from the announced contentType";
  } else if (std::string b64; !a->sha256.empty() &&
                              (!sigv4::Sha256HexToBase64(a->sha256, &b64) ||
                               req["x-amz-checksum-sha256"] != b64)) {
    error = "x-amz-checksum-sha256 missing or different from the announced sha256";
  }
  if (!error.empty()) {
    service_.uploads().FinishUpload(key, false, {});
    return Write(ErrorResponse(Errc::bad_request, error));
  }
  std::string temp = blobs_->NewTempPath();
  upload_parser_.emplace(std::move(*header_parser_));
  header_parser_.reset();
  upload_parser_->body_limit(static_cast<std::uint64_t>(a->size));
  beast::error_code ec;
  upload_parser_->get().body().open(temp.c_str(), beast::file_mode::write_new, ec);
  if (ec) {
    service_.uploads().FinishUpload(key, false, {});
    log::Error("blob upload: cannot create ", temp, ": ", ec.message());
    return Write(ErrorResponse(Errc::internal, "cannot store the upload"));
  }
  // beast reads into the buffer's spare capacity: give it 64 KiB, or a large
  // upload arrives a few hundred bytes per read.
  buffer_.reserve(64 * 1024);
  SetDeadline(TransferTimeout(a->size));  // a stalled upload times out
  http::async_read(stream_, buffer_, *upload_parser_,
                   [self = shared_from_this(), key, a = std::move(*a), temp](
                       beast::error_code e, std::size_t) mutable {
                     self->OnUploadBody(key, std::move(a), temp, e);
                   });
}

void HttpSession::OnUploadBody(std::string key, Attachment a, std::string temp,
                               beast::error_code ec) {
  beast::error_code ignored;
  upload_parser_->get().body().close();
  upload_parser_.reset();
  buffer_.shrink_to_fit();  // the connection may idle on: give the 64 KiB back
  if (ec) {
    // Short body, connection lost, or more bytes than announced.
    std::filesystem::remove(temp, ignored);
    service_.uploads().FinishUpload(key, false, {});
    log::Info("blob ", key, ": upload failed: ", ec.message());
    if (ec == http::error::body_limit) {
      return Write(ErrorResponse(Errc::bad_request, "more bytes than announced"));
    }
    return Shutdown();
  }
  ClearDeadline();
  auto executor = stream_.get_executor();
  auto respond = [self = shared_from_this(), executor](Response res) {
    asio::post(executor, [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
  };
  std::string final_path = blobs_->PathOf(key);
  std::string dir = final_path.substr(0, final_path.rfind('/'));
  Uploads* uploads = &service_.uploads();
  // Hashing a large file and fsync are slow: off the I/O thread.
  bool queued = uploads->RunBlocking([uploads, key, a, temp, final_path, dir, respond] {
    std::error_code fs_ec;
    auto fail = [&](Errc code, const char* message) {
      std::filesystem::remove(temp, fs_ec);
      uploads->FinishUpload(key, false, {});
      respond(ErrorResponse(code, message));
    };
    if (!a.sha256.empty() && sigv4::Sha256FileHex(temp) != a.sha256) {
      return fail(Errc::bad_request, "content does not match the announced sha256");
    }
    if (!FsyncPath(temp, O_RDONLY)) return fail(Errc::internal, "cannot store the upload");
    std::filesystem::rename(temp, final_path, fs_ec);
    if (fs_ec || !FsyncPath(dir, O_RDONLY | O_DIRECTORY)) {
      return fail(Errc::internal, "cannot store the upload");
    }
    uploads->FinishUpload(key, true, [key, final_path, respond](Result<void> r) {
      if (!r) {
        std::error_code e;
        std::filesystem::remove(final_path, e);
        Errc code = ToErrc(r.error());
        return respond(ErrorResponse(code, code == Errc::forbidden ? "already uploaded"
                                                                   : "storage unavailable"));
      }
      log::Info("blob ", key, " uploaded");
      Response res{http::status::ok, 11};
      respond(std::move(res));
    });
  });
  keep_alive_ = true;  // the body was read completely: the connection may go on
  if (!queued) {
    std::filesystem::remove(temp, ignored);
    service_.uploads().FinishUpload(key, false, {});
    Write(ErrorResponse(Errc::rate_limited, "too many uploads finishing; retry"));
  }
}

// ---- Download ----

void HttpSession::StartDownload(std::string key, std::string client_id) {
  bool head = header_parser_->get().method() == http::verb::head;
  ClearDeadline();
  auto executor = stream_.get_executor();
  service_.uploads().CheckFetch(
      key, client_id,
      [self = shared_from_this(), executor, key, client_id, head](Result<Attachment> a) {
        asio::post(executor, [self, key, client_id, head, a = std::move(a)]() mutable {
          self->OnDownloadChecked(key, client_id, head, std::move(a));
        });
      });
}

void HttpSession::OnDownloadChecked(std::string key, std::string client_id, bool head,
                                    Result<Attachment> a) {
  if (!a) {
    Errc e = ToErrc(a.error());
    return Write(ErrorResponse(e, e == Errc::forbidden   ? "not a recipient of this attachment"
                                  : e == Errc::not_found ? "no such attachment"
                                                         : "storage unavailable"));
  }
  const auto& req = header_parser_->get();
  std::uint64_t size = static_cast<std::uint64_t>(a->size);
  std::uint64_t first = 0, last = size ? size - 1 : 0;
  bool unsatisfiable = false;
  bool ranged = ParseRange(req[http::field::range], size, &first, &last, &unsatisfiable);
  if (unsatisfiable) {
    Response res = ErrorResponse(Errc::bad_request, "range not satisfiable");
    res.result(http::status::range_not_satisfiable);
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    return Write(std::move(res));
  }
  auto res = std::make_shared<http::response<RangeBody>>();
  beast::error_code ec;
  RangeFile file;
  file.open(blobs_->PathOf(key).c_str(), beast::file_mode::scan, ec);
  std::uint64_t length = size ? last - first + 1 : 0;
  if (!ec) file.Restrict(first, length, ec);
  if (!ec) res->body().reset(std::move(file), ec);
  if (ec) return Write(ErrorResponse(Errc::not_found, "blob is gone"));
  res->version(11);
  res->result(ranged ? http::status::partial_content : http::status::ok);
  res->set(http::field::server, "ferryd");
  SetCorsHeaders(*res, cors_allow_origin_);
  res->set(http::field::content_type, a->content_type);
  res->set(http::field::accept_ranges, "bytes");
  if (ranged) {
    res->set(http::field::content_range, "bytes " + std::to_string(first) + "-" +
                                             std::to_string(last) + "/" + std::to_string(size));
  }
  res->keep_alive(header_parser_->get().keep_alive());
  keep_alive_ = res->keep_alive();
  res->content_length(length);
  header_parser_.reset();
  bool whole = first == 0 && length == size;
  response_ = res;
  SetDeadline(TransferTimeout(length));
  auto on_written = [self = shared_from_this(), key, client_id, whole, head](
                        beast::error_code e, std::size_t) {
    self->response_.reset();
    if (e) return self->Shutdown();
    // Only a response that delivered every byte counts as a fetch.
    if (whole && !head) self->service_.uploads().RecordFetch(key, client_id);
    if (!self->keep_alive_) return self->Shutdown();
    self->DoRead();
  };
  if (head) {
    auto sr = std::make_shared<http::response_serializer<RangeBody>>(*res);
    response_ = std::make_shared<std::pair<decltype(res), decltype(sr)>>(res, sr);
    http::async_write_header(stream_, *sr, on_written);
  } else {
    http::async_write(stream_, *res, on_written);
  }
}

}  // namespace ferry::net
