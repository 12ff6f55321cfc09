// Every limit and knob of a ferryd node, with the defaults ARCHITECTURE.md
// names. Plain data: built once at start-up (apps/ferryd parses the command
// line into it) and read-only afterwards, so any thread may read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rate_limit.h"

namespace ferry {

struct Config {
  // Network.
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  int io_threads = 0;  // 0 = one per CPU ferryd may run on

  // Storage.
  std::string data_dir = "./ferry-data";
  std::string blob_dir;  // builtin blob store; "" = data_dir + "/blobs"

  // Protocol limits.
  std::size_t max_members = 100;
  std::size_t max_clients = 3;
  std::size_t max_body_bytes = 64 * 1024;        // `send` body
  std::size_t max_frame_bytes = 1024 * 1024;     // one WebSocket message
  std::size_t max_http_body_bytes = 64 * 1024;   // one HTTP JSON request
  int retention_days = 30;

  // Timers (milliseconds).
  std::int64_t hello_timeout_ms = 10'000;
  std::int64_t heartbeat_interval_ms = 20'000;
  std::int64_t heartbeat_timeout_ms = 10'000;
  std::int64_t ack_timeout_ms = 2'000;
  int ack_retries = 3;
  // A connection's acks without an id are written to the store at most this
  // often (0: each as soon as the one before is committed). A client acking
  // a burst entry by entry then costs a commit per interval, not one per
  // millisecond; an ack with an id is written at once, and the close writes
  // what is left.
  std::int64_t ack_write_interval_ms = 10;
  std::int64_t sweep_interval_ms = 60'000;

  // Delivery flow control (per connection).
  std::size_t delivery_window = 1024;        // unacked entries in flight
  std::size_t read_page = 256;               // entries per inbox read
  std::size_t send_queue_high_bytes = 256 * 1024;  // pause pushes/reads above
  std::size_t send_queue_max_bytes = 4 * 1024 * 1024;  // close the client above
  // The kernel's send buffer of a WebSocket (SO_SNDBUF; Linux doubles it),
  // fixed so that it does not grow to tcp_wmem's maximum (4 MB) for a client
  // that does not read. Counted against send_queue_max_bytes: a connection
  // holds at most that much, in ferryd and in the kernel together.
  std::size_t ws_send_buffer_bytes = 256 * 1024;
  // What ferryd itself may queue: the cap less the kernel's part.
  std::size_t SendQueueCap() const {
    std::size_t kernel = 2 * ws_send_buffer_bytes;
    return send_queue_max_bytes > 2 * kernel ? send_queue_max_bytes - kernel
                                             : send_queue_max_bytes / 2;
  }

  // Chat channels (bus): a chat with more member users than the threshold
  // is also published on `c:{chatId}`, once for all its members' nodes,
  // instead of once per member on `u:{user}`. For the grace period after a
  // node first sees a chat above the threshold (or a membership change of
  // such a chat) it publishes both ways, while other nodes subscribe. The
  // grace map remembers at most `chat_channel_grace_max` chats; when full it
  // is cleared (those chats get a new grace: extra publishes, never fewer).
  std::size_t chat_channel_threshold = 25;
  // Receipts (protocol v1.1): chats of at most this many members get
  // `receipt` entries pushed to the other members; bigger ones are asked
  // with chatReceipts. A connection's typing events go out at most once per
  // typing_interval_ms per chat (a `paused` after a forwarded `composing`
  // always goes).
  std::size_t receipt_fanout_max = 25;
  std::int64_t typing_interval_ms = 1000;
  std::int64_t chat_channel_grace_ms = 10'000;
  std::size_t chat_channel_grace_max = 10'000;

  // Store worker.
  std::size_t store_queue_max = 100'000;  // pending store jobs; beyond: unavailable
  std::size_t store_batch_max = 2'048;    // write ops per transaction (group commit)
  // Sends are refused (unavailable) while the oldest queued store job has
  // waited longer than this; 0: never (the default: see docs/operations.md
  // for why, measured). Bounds a send's wait in the store queue.
  std::int64_t store_max_wait_ms = 0;
  // A store transaction starts at most every this many microseconds, so
  // concurrent writes share commits (and fsyncs); 0: commit at once.
  std::int64_t store_commit_interval_us = 1000;

  // Attachments.
  std::int64_t max_attachment_bytes = 100LL * 1024 * 1024;
  std::size_t max_attachments_per_message = 10;
  std::int64_t upload_url_ttl_s = 3600;
  std::int64_t download_url_ttl_s = 7 * 24 * 3600;  // SigV4's maximum
  std::int64_t unsent_blob_ms = 24LL * 3600 * 1000;  // uploaded, never sent: deleted
  std::int64_t blob_sweep_interval_ms = 5'000;

  // Password hashing: 1 = Argon2id interactive, 0 = minimum cost (tests).
  int password_strength = 1;
  int hash_threads = 2;
  std::size_t hash_queue_max = 256;        // pending hashes; beyond: rate_limited
  std::size_t hash_queue_per_address = 4;  // pending hashes of one source address

  // Abuse limits (docs/security.md lists them all). A "per address" limit
  // keys on the peer's IP address: behind an L4 proxy that is the proxy's,
  // so a cluster turns them off and lets HAProxy limit per source.
  // Rate limits: {per minute, burst}; per_minute 0 = off. ferryd --limit NAME=RATE:BURST.
  RateRule login_per_address{60, 20};        // login attempts
  RateRule login_failures_per_user{10, 10};  // failed logins per account; beyond: 429
  RateRule register_per_address{20, 10};     // registrations
  RateRule send_per_client{600, 100};        // `send`s: 10/s, bursts of 100
  // What a WebSocket connection may read: every byte from the socket costs
  // one unit, every message `ws_message_cost` more; beyond the bucket,
  // reading pauses (TCP pushes back on the client) until it refills.
  // Default: 1 MiB/s, or ~4,000 small messages/s, in bursts up to 8 MiB.
  RateRule ws_read_per_connection{60.0 * 1024 * 1024, 8.0 * 1024 * 1024};
  std::size_t ws_message_cost = 256;
  // A WebSocket message must be complete this long after its first bytes
  // arrive, and within 2 x max_frame_bytes + 64 KiB on the wire (fragment
  // headers included): else close 1008, checked at the connection's next
  // timer (at most a heartbeat interval later). Fragments cannot hold a
  // message open forever.
  std::int64_t message_read_timeout_ms = 30'000;
  // Connections (HTTP or WebSocket) from one address; 0 = no cap.
  std::size_t max_connections_per_address = 256;
  // Connections that have not (yet) been authenticated by a WebSocket hello:
  // HTTP connections and WebSockets before hello. In all, and per address.
  std::size_t max_unauthenticated = 4'096;
  std::size_t max_unauthenticated_per_address = 64;
  // Origins a browser may open a WebSocket from (the Origin header of the
  // upgrade; others get 403) and call /v1/* from (CORS; others get 403).
  // Always allowed: no Origin header (non-browser clients send none) and the
  // server's own origin (http:// or https:// and the request's Host). "*"
  // allows any.
  std::vector<std::string> allowed_origins;
  // TLS: a PEM certificate chain and its key. Both set: the port speaks
  // https and wss only (plain HTTP gets 400); both empty: plain http and ws.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The web client's files, served at / from memory (net/web_root.h): a web
  // root beyond either limit stops ferryd at start.
  std::size_t web_root_max_bytes = 32 * 1024 * 1024;
  std::size_t web_root_max_files = 4'096;
  // File descriptors kept free for the store, blobs and logs: connections
  // are refused (503, then closed) when fewer than this are left.
  std::size_t fd_reserve = 64;

  std::int64_t RetentionMs() const { return std::int64_t{retention_days} * 24 * 3600 * 1000; }
};

}  // namespace ferry
