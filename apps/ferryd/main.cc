// ferryd: the Ferry server. Parses the command line into a Config, picks the
// backends (embedded SQLite store, in-process bus), and runs the server
// until SIGINT/SIGTERM. The flags are a contract other tools rely on; see
// docs/operations.md.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "blob/builtin/builtin_blob_store.h"
#include "blob/s3/s3_blob_store.h"
#include "bus/local/local_bus.h"
#include "bus/redis/redis_bus.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/random.h"
#include "net/server.h"
#include "net/web_root.h"
#include "service/service.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace po = boost::program_options;
using namespace ferry;

namespace {

std::int64_t SecondsToMs(double seconds, const char* flag) {
  if (!(seconds > 0) || seconds > 86400 * 365) {
    throw po::error(std::string("--") + flag + " must be a positive number of seconds");
  }
  return static_cast<std::int64_t>(std::llround(seconds * 1000));
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// Node ids name directories: anything but [A-Za-z0-9._-] becomes '_'.
std::string FileNameSafe(std::string id) {
  for (char& c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return id;
}

// Which backends this node runs on. Both empty: the embedded single node.
struct BackendFlags {
  std::string store;    // "" (SQLite in the data dir) | postgres://... | postgresql://...
  std::string bus;      // "" (in-process) | redis://host:port[,host:port...]
  std::string node_id;  // this node's name in the bus (presence leases); "" = host:port
  int store_pool = 1;   // PostgreSQL connections (bench/cluster: 1 beats 4 on one box)
};

struct BlobFlags {
  std::string backend = "builtin";
  std::string public_url;  // builtin: how clients reach ferryd ("" = the listen address)
  S3Options s3;
};

// The web client served at / (docs/operations.md, "Web client").
struct WebFlags {
  std::string root;  // --web-root; "" = the source tree's web/dist, if built
  bool disabled = false;
};

// --limit NAME=SPEC: the rate limits by name (docs/security.md).
void SetLimit(Config& config, const std::string& arg) {
  std::size_t eq = arg.find('=');
  std::string name = arg.substr(0, eq);
  if (name == "all") {  // every rate limit (benchmarks: one address is every user)
    for (const char* each : {"login-per-address", "login-failures-per-user", "register-per-address",
                             "send-per-client", "ws-read-per-connection"}) {
      SetLimit(config, each + arg.substr(eq));
    }
    return;
  }
  RateRule* rule = name == "login-per-address"         ? &config.login_per_address
                   : name == "login-failures-per-user" ? &config.login_failures_per_user
                   : name == "register-per-address"    ? &config.register_per_address
                   : name == "send-per-client"         ? &config.send_per_client
                   : name == "ws-read-per-connection"  ? &config.ws_read_per_connection
                                                       : nullptr;
  if (!rule) throw po::error("--limit: unknown limit '" + name + "'");
  if (eq == std::string::npos || !ParseRateRule(std::string_view(arg).substr(eq + 1), rule)) {
    throw po::error("--limit " + name + ": want RATE/s:BURST, RATE/min:BURST or off");
  }
}

// Returns false (after printing help or an error) if ferryd should exit.
bool ParseArgs(int argc, char** argv, Config& config, BackendFlags& backends, BlobFlags& blob,
               WebFlags& web, std::string& port_file, int& exit_code) {
  std::string listen = "127.0.0.1:8080", level = "info", strength = "interactive";
  double heartbeat_interval = 20, heartbeat_timeout = 10, hello_timeout = 10;
  bool behind_proxy = false;
  po::options_description desc("ferryd — the Ferry chat server\n\nOptions");
  // One line per flag reads best here.
  // clang-format off
  desc.add_options()
      ("help,h", "print this help and exit")
      ("listen", po::value(&listen)->default_value(listen), "HOST:PORT to listen on (port 0: any free port)")
      ("config", po::value<std::string>(), "FILE of `flag = value` lines (any flag below); the command line wins")
      ("data-dir", po::value(&config.data_dir)->default_value(config.data_dir), "directory for the embedded database")
      ("store", po::value(&backends.store), "postgres://USER@HOST:PORT/DB: PostgreSQL instead of the embedded SQLite")
      ("store-max-wait-ms", po::value(&config.store_max_wait_ms)->default_value(config.store_max_wait_ms), "MS the store queue may be behind before sends are refused (unavailable); 0: never")
      ("store-commit-interval-us", po::value(&config.store_commit_interval_us)->default_value(config.store_commit_interval_us), "MICROSECONDS at least between the starts of two store transactions (group commit pacing); 0: commit at once")
      ("store-pool", po::value(&backends.store_pool)->default_value(backends.store_pool), "PostgreSQL connections (and store threads) of this node; the embedded store has one")
      ("bus", po::value(&backends.bus), "redis://HOST:PORT[,HOST:PORT...]: Redis Cluster seeds instead of the in-process bus")
      ("node-id", po::value(&backends.node_id), "this node's name on the bus (default HOST:PORT of --listen)")
      ("blob-dir", po::value(&config.blob_dir), "builtin blob store directory (default DATA_DIR/blobs; shared by all nodes of a cluster)")
      ("heartbeat-interval", po::value(&heartbeat_interval)->default_value(20), "SECONDS between server pings")
      ("heartbeat-timeout", po::value(&heartbeat_timeout)->default_value(10), "SECONDS to wait for a pong before closing (4408)")
      ("hello-timeout", po::value(&hello_timeout)->default_value(10), "SECONDS to wait for hello after the upgrade (4408)")
      ("ack-timeout-ms", po::value(&config.ack_timeout_ms)->default_value(config.ack_timeout_ms), "MS before an unacknowledged entry is sent again")
      ("ack-write-interval-ms", po::value(&config.ack_write_interval_ms)->default_value(config.ack_write_interval_ms), "MS between a connection's writes of acks without an id (0: no pacing)")
      ("ack-retries", po::value(&config.ack_retries)->default_value(config.ack_retries), "resends of an entry before closing (4408)")
      ("retention-days", po::value(&config.retention_days)->default_value(config.retention_days), "DAYS an unacknowledged entry is kept")
      ("max-members", po::value(&config.max_members)->default_value(config.max_members), "members per chat")
      ("receipt-fanout-max", po::value(&config.receipt_fanout_max)->default_value(config.receipt_fanout_max), "chats of at most N members get receipt entries pushed to the other members (bigger ones: chatReceipts)")
      ("max-clients", po::value(&config.max_clients)->default_value(config.max_clients), "active clients per user")
      ("max-body-bytes", po::value(&config.max_body_bytes)->default_value(config.max_body_bytes), "bytes of a message body")
      ("max-frame-bytes", po::value(&config.max_frame_bytes)->default_value(config.max_frame_bytes), "bytes of one WebSocket message (1009 above)")
      ("io-threads", po::value(&config.io_threads)->default_value(0), "I/O threads (0: one per CPU in the affinity mask)")
      ("limit", po::value<std::vector<std::string>>()->composing(), "NAME=RATE/s:BURST | NAME=RATE/min:BURST | NAME=off, repeatable; NAME: login-per-address, login-failures-per-user, register-per-address, send-per-client, ws-read-per-connection, all (docs/security.md)")
      ("max-connections-per-address", po::value(&config.max_connections_per_address)->default_value(config.max_connections_per_address), "open connections from one IP address (0: no cap)")
      ("max-unauthenticated", po::value(&config.max_unauthenticated)->default_value(config.max_unauthenticated), "connections not yet authenticated by a WebSocket hello, in all")
      ("max-unauthenticated-per-address", po::value(&config.max_unauthenticated_per_address)->default_value(config.max_unauthenticated_per_address), "the same, from one IP address (0: no cap)")
      ("allowed-origins", po::value<std::string>(), "ORIGIN[,ORIGIN...] (scheme://host[:port]) a browser may open a WebSocket from besides the server's own; * = any; no Origin header is always allowed")
      ("tls-cert", po::value(&config.tls_cert_file), "FILE: PEM certificate chain (leaf first); with --tls-key the port speaks https and wss only")
      ("tls-key", po::value(&config.tls_key_file), "FILE: PEM private key of --tls-cert")
      ("behind-l4-proxy", po::bool_switch(&behind_proxy), "peers are an L4 proxy (HAProxy): per-address limits off, the proxy limits per source")
      ("hash-threads", po::value(&config.hash_threads)->default_value(config.hash_threads), "threads hashing passwords (Argon2id: 64 MiB each at the interactive cost)")
      ("hash-queue", po::value(&config.hash_queue_max)->default_value(config.hash_queue_max), "password hashes waiting in all (429 beyond)")
      ("send-queue-max-bytes", po::value(&config.send_queue_max_bytes)->default_value(config.send_queue_max_bytes), "BYTES a connection may have queued, in ferryd and the kernel's send buffer (4429 beyond)")
      ("ws-send-buffer-bytes", po::value(&config.ws_send_buffer_bytes)->default_value(config.ws_send_buffer_bytes), "SO_SNDBUF of a WebSocket (Linux doubles it), counted in --send-queue-max-bytes")
      ("max-http-body-bytes", po::value(&config.max_http_body_bytes)->default_value(config.max_http_body_bytes), "bytes of an HTTP JSON request body (413 above)")
      ("fd-reserve", po::value(&config.fd_reserve)->default_value(config.fd_reserve), "file descriptors kept free of connections (for the store, blobs, logs)")
      ("hash-queue-per-address", po::value(&config.hash_queue_per_address)->default_value(config.hash_queue_per_address), "password hashes one IP address may have waiting (429 beyond)")
      ("message-read-timeout-ms", po::value(&config.message_read_timeout_ms)->default_value(config.message_read_timeout_ms), "MS a WebSocket message may take from its first bytes to its last (1008 beyond)")
      ("password-cost", po::value(&strength)->default_value(strength), "Argon2id cost: interactive | min (tests only)")
      ("log-level", po::value(&level)->default_value(level), "debug | info | warn | error")
      ("port-file", po::value(&port_file), "write the bound port to this file once listening")
      ("max-attachment-bytes", po::value(&config.max_attachment_bytes)->default_value(config.max_attachment_bytes), "bytes of one attachment")
      ("upload-url-ttl", po::value(&config.upload_url_ttl_s)->default_value(config.upload_url_ttl_s), "SECONDS an upload URL works")
      ("blob-backend", po::value(&blob.backend)->default_value(blob.backend), "builtin (files in the data dir) | s3")
      ("public-url", po::value(&blob.public_url), "builtin: URL clients reach ferryd at, for blob URLs (default http://LISTEN, or https://LISTEN with TLS)")
      ("s3-endpoint", po::value(&blob.s3.endpoint), "s3: scheme://host[:port] of the S3-compatible store")
      ("s3-bucket", po::value(&blob.s3.bucket), "s3: bucket")
      ("s3-region", po::value(&blob.s3.region)->default_value(blob.s3.region), "s3: region")
      ("s3-access-key", po::value(&blob.s3.access_key), "s3: access key id")
      ("s3-secret-key", po::value(&blob.s3.secret_key), "s3: secret key (or env FERRY_S3_SECRET_KEY)")
      ("s3-path-style", po::value(&blob.s3.path_style)->default_value(true), "s3: path-style URLs (false: virtual-hosted)")
      ("s3-prefix", po::value(&blob.s3.prefix), "s3: key prefix inside the bucket")
      ("web-root", po::value(&web.root), "DIR of the web client's files, served at / (default " FERRY_WEB_DIST " once built); read at start")
      ("no-web", po::bool_switch(&web.disabled), "serve no web client (/ is 404)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("config")) {
      std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) throw po::error("--config: cannot read " + path);
      po::store(po::parse_config_file(file, desc), vm);
    }
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      exit_code = 0;
      return false;
    }
    SetListenAddress(config, listen);
    if (vm.count("limit")) {
      for (const std::string& arg : vm["limit"].as<std::vector<std::string>>())
        SetLimit(config, arg);
    }
    if (vm.count("allowed-origins")) {
      std::string list = vm["allowed-origins"].as<std::string>();
      for (std::size_t at = 0; at <= list.size();) {
        std::size_t comma = std::min(list.find(',', at), list.size());
        std::string origin = list.substr(at, comma - at);
        for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        bool ok =
            origin == "*" || ((origin.starts_with("http://") || origin.starts_with("https://")) &&
                              origin.find('/', origin.find("//") + 2) == std::string::npos);
        if (!ok)
          throw po::error("--allowed-origins: '" + origin + "' is not scheme://host[:port] or *");
        config.allowed_origins.push_back(origin);
        at = comma + 1;
      }
    }
    if (behind_proxy) {
      // Every peer address is the proxy's: a per-address limit would be one
      // limit for all users.
      config.max_connections_per_address = 0;
      config.max_unauthenticated_per_address = 0;
      config.login_per_address = RateRule{0, 1};
      config.register_per_address = RateRule{0, 1};
      config.hash_queue_per_address = config.hash_queue_max;
    }
    if (config.hash_threads < 1 || config.hash_threads > 64) throw po::error("--hash-threads must be 1..64");
    if (web.disabled && !web.root.empty()) {
      throw po::error("--no-web and --web-root exclude each other");
    }
    if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
      throw po::error("--tls-cert and --tls-key go together");
    }
    if (config.hash_queue_max < 1) throw po::error("--hash-queue must be >= 1");
    if (config.send_queue_max_bytes < 4 * config.ws_send_buffer_bytes ||
        config.send_queue_max_bytes < 2 * config.send_queue_high_bytes) {
      throw po::error("--send-queue-max-bytes must be at least 4 x --ws-send-buffer-bytes and 512 KiB");
    }
    if (config.hash_queue_per_address < 1) throw po::error("--hash-queue-per-address must be >= 1");
    if (config.max_unauthenticated < 1) throw po::error("--max-unauthenticated must be >= 1");
    if (config.message_read_timeout_ms <= 0)
      throw po::error("--message-read-timeout-ms must be positive");
    config.heartbeat_interval_ms = SecondsToMs(heartbeat_interval, "heartbeat-interval");
    config.heartbeat_timeout_ms = SecondsToMs(heartbeat_timeout, "heartbeat-timeout");
    config.hello_timeout_ms = SecondsToMs(hello_timeout, "hello-timeout");
    if (config.ack_timeout_ms <= 0) throw po::error("--ack-timeout-ms must be positive");
    if (config.ack_write_interval_ms < 0 || config.ack_write_interval_ms > 1'000) {
      throw po::error("--ack-write-interval-ms must be 0..1000");
    }
    if (config.store_max_wait_ms < 0) throw po::error("--store-max-wait-ms must not be negative");
    if (config.store_commit_interval_us < 0 || config.store_commit_interval_us > 100'000) {
      throw po::error("--store-commit-interval-us must be 0..100000");
    }
    if (config.ack_retries < 0) throw po::error("--ack-retries must be >= 0");
    if (config.retention_days <= 0) throw po::error("--retention-days must be positive");
    if (config.max_members < 2 || config.max_clients < 1) throw po::error("limits too small");
    if (strength != "interactive" && strength != "min") {
      throw po::error("--password-cost must be interactive or min");
    }
    config.password_strength = strength == "min" ? 0 : 1;
    if (config.max_attachment_bytes < 0) throw po::error("--max-attachment-bytes must be >= 0");
    if (config.upload_url_ttl_s < 1 || config.upload_url_ttl_s > 604800) {
      throw po::error("--upload-url-ttl must be 1..604800 seconds");
    }
    if (blob.backend != "builtin" && blob.backend != "s3") {
      throw po::error("--blob-backend must be builtin or s3");
    }
    if (blob.s3.secret_key.empty()) {
      if (const char* env = std::getenv("FERRY_S3_SECRET_KEY")) blob.s3.secret_key = env;
    }
    if (!backends.store.empty() && !backends.store.starts_with("postgres://") &&
        !backends.store.starts_with("postgresql://")) {
      throw po::error("--store must be a postgres:// URL");
    }
    if (backends.store_pool < 1 || backends.store_pool > 64) {
      throw po::error("--store-pool must be 1..64");
    }
    if (!backends.bus.empty() && !backends.bus.starts_with("redis://")) {
      throw po::error("--bus must be redis://HOST:PORT[,HOST:PORT...]");
    }
    if (backends.node_id.empty()) {
      backends.node_id = HostName() + ":" + std::to_string(config.listen_port);
    }
    log::Level lvl;
    if (!log::ParseLevel(level, &lvl)) throw po::error("--log-level: debug|info|warn|error");
    log::SetLevel(lvl);
  } catch (const std::exception& e) {
    std::cerr << "ferryd: " << e.what() << "\n(ferryd --help lists the flags)\n";
    exit_code = 2;
    return false;
  }
  return true;
}

// One ferryd per data directory: an advisory lock held for the process life.
bool LockDataDir(const std::string& dir) {
  int fd = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) return false;
  return true;  // fd intentionally kept open
}

// One store per store worker: SQLite has one writer, so one; PostgreSQL is
// multi-writer safe, so --store-pool connections, each its own Store.
Result<std::vector<std::unique_ptr<Store>>> OpenStores(const Config& config,
                                                       const BackendFlags& backends) {
  std::vector<std::unique_ptr<Store>> stores;
  int count = backends.store.empty() ? 1 : backends.store_pool;
  for (int i = 0; i < count; ++i) {
    Result<std::unique_ptr<Store>> store =
        backends.store.empty() ? OpenSqliteStore(SqliteOptions{config.data_dir + "/ferry.db"})
                               : OpenPostgresStore(PostgresOptions{.url = backends.store});
    if (!store) return store.error();
    stores.push_back(std::move(*store));
  }
  return stores;
}

// "redis://a:1,b:2" -> {"a:1", "b:2"}. Null (after logging) if malformed.
std::unique_ptr<Bus> OpenBus(const BackendFlags& backends) {
  if (backends.bus.empty()) return std::make_unique<LocalBus>();
  RedisBusOptions options;
  options.node_id = backends.node_id;
  std::string_view rest = std::string_view(backends.bus).substr(std::string_view("redis://").size());
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view seed = rest.substr(0, comma);
    if (seed.find(':') == std::string_view::npos) {
      log::Error("--bus: seed '", seed, "' is not HOST:PORT");
      return nullptr;
    }
    options.seeds.emplace_back(seed);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (options.seeds.empty()) {
    log::Error("--bus: no HOST:PORT given");
    return nullptr;
  }
  return std::make_unique<RedisBus>(std::move(options));
}

// The web client's files: --web-root (any problem stops the start), or the
// source tree's web/dist if it is built; null with --no-web.
std::unique_ptr<net::WebRoot> LoadWebRoot(const WebFlags& web, const Config& config) {
  if (web.disabled) {
    log::Info("web client off (--no-web)");
    return nullptr;
  }
  std::string dir = web.root.empty() ? FERRY_WEB_DIST : web.root;
  std::error_code ec;
  if (web.root.empty() && !std::filesystem::is_regular_file(dir + "/index.html", ec)) {
    std::string missing = std::filesystem::is_directory(dir, ec) ? dir + "/index.html" : dir;
    std::string why = "web client not built (" + missing +
                      " missing): `make run` builds it; serving the API only";
    log::Warn(why);
    return std::make_unique<net::WebRoot>(net::WebRoot::Unavailable(why));
  }
  auto root = std::make_unique<net::WebRoot>(net::WebRoot::Load(
      dir, {.max_bytes = config.web_root_max_bytes, .max_files = config.web_root_max_files}));
  log::Info("web client at / from ", dir, " (", root->file_count(), " files, ",
            (root->total_bytes() + 1023) / 1024, " KiB, read into memory)");
  return root;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  BackendFlags backends;
  BlobFlags blob_flags;
  WebFlags web_flags;
  std::string port_file;
  int exit_code = 0;
  if (!ParseArgs(argc, argv, config, backends, blob_flags, web_flags, port_file, exit_code)) {
    return exit_code;
  }
  // A write to a socket whose peer has gone must fail with EPIPE, not end
  // the process: Asio sends with MSG_NOSIGNAL, but OpenSSL writes TLS
  // records (and close_notify) with plain write().
  std::signal(SIGPIPE, SIG_IGN);
  try {
    InitCrypto();
    std::unique_ptr<net::WebRoot> web = LoadWebRoot(web_flags, config);
    std::filesystem::create_directories(config.data_dir);
    if (!LockDataDir(config.data_dir)) {
      log::Error("data dir ", config.data_dir, " is in use by another ferryd");
      return 1;
    }
    auto stores = OpenStores(config, backends);
    if (!stores) {
      log::Error("cannot open the store: ", stores.error().message());
      return 1;
    }
    std::unique_ptr<Bus> bus = OpenBus(backends);
    if (!bus) return 1;
    std::unique_ptr<BuiltinBlobStore> builtin;
    std::unique_ptr<BlobStore> s3;
    if (blob_flags.backend == "s3") {
      s3 = std::make_unique<S3BlobStore>(blob_flags.s3);
    } else {
      builtin = std::make_unique<BuiltinBlobStore>(
          config.blob_dir.empty() ? config.data_dir + "/blobs" : config.blob_dir,
          backends.bus.empty() ? std::string() : FileNameSafe(backends.node_id));
    }
    BlobStore& blobs = builtin ? static_cast<BlobStore&>(*builtin) : *s3;
    Service service(config, std::move(*stores), *bus, blobs, SystemClock::Instance());
    service.Start();
    net::Server server(config, service, builtin.get(), web.get());
    if (builtin) {
      std::string url = blob_flags.public_url.empty()
                            ? (config.tls_cert_file.empty() ? "http://" : "https://") +
                                  config.listen_host + ":" + std::to_string(server.port())
                            : blob_flags.public_url;
      auto sep = url.find("://");
      if (sep == std::string::npos) throw std::invalid_argument("--public-url needs a scheme");
      std::string host = url.substr(sep + 3);
      while (!host.empty() && host.back() == '/') host.pop_back();
      builtin->SetPublicBase(url.substr(0, sep), host);
    }
    log::Info("ferryd listening on ", config.listen_host, ":", server.port(),
              config.tls_cert_file.empty() ? " (http, ws)" : " (https, wss)", " data-dir ",
              config.data_dir, " store ", backends.store.empty() ? "sqlite" : "postgres", " bus ",
              backends.bus.empty() ? "local" : "redis", " node ", backends.node_id);
    if (!port_file.empty()) {
      std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << server.port() << "\n";
      std::filesystem::rename(tmp, port_file);
    }
    server.Run();
    service.Stop();
    // The bus thread calls into the service: it goes before the service does.
    bus.reset();
    log::Info("ferryd stopped");
  } catch (const std::exception& e) {
    log::Error("ferryd: ", e.what());
    return 1;
  }
  return 0;
}
