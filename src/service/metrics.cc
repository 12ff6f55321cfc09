#include "service/metrics.h"

#include <cstdio>

namespace ferry {

void Histogram::Observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::int64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, const char* name, const char* help) const {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  out += line;
  std::int64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBounds.size()) {
      std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %lld\n", name, kBounds[i],
                    static_cast<long long>(cumulative));
    } else {
      std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %lld\n", name,
                    static_cast<long long>(cumulative));
    }
    out += line;
  }
  std::snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %lld\n", name,
                sum_micros_.load(std::memory_order_relaxed) / 1e6, name,
                static_cast<long long>(count_.load(std::memory_order_relaxed)));
  out += line;
}

namespace {

void Add(std::string& out, const char* name, const char* type, const char* help,
         const std::atomic<std::int64_t>& value) {
  char line[320];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type,
                name, static_cast<long long>(value.load(std::memory_order_relaxed)));
  out += line;
}

}  // namespace

std::string Metrics::Render() const {
  std::string out;
  out.reserve(4096);
  Add(out, "ferry_connections", "gauge", "Open WebSocket connections.", connections);
  Add(out, "ferry_connections_total", "counter", "WebSocket connections accepted.",
      connections_total);
  Add(out, "ferry_http_requests_total", "counter", "HTTP requests served.", http_requests_total);
  Add(out, "ferry_connections_refused_total", "counter",
      "Connections refused at accept: over a connection cap, or out of descriptors.",
      connections_refused_total);
  Add(out, "ferry_rate_limited_total", "counter",
      "Requests answered rate_limited (HTTP 429 or a WebSocket error).", rate_limited_total);
  Add(out, "ferry_messages_sent_total", "counter", "Messages durably committed.",
      messages_sent_total);
  Add(out, "ferry_inbox_entries_created_total", "counter", "Inbox entries created.",
      entries_created_total);
  Add(out, "ferry_messages_delivered_total", "counter",
      "Inbox entries pushed to connections (including resends).", entries_delivered_total);
  Add(out, "ferry_messages_redelivered_total", "counter",
      "Inbox entries resent after the ack timeout.", entries_redelivered_total);
  Add(out, "ferry_acks_total", "counter", "Acks that advanced a client's acked seq.", acks_total);
  Add(out, "ferry_errors_total", "counter", "Error replies sent on WebSockets.", errors_total);
  Add(out, "ferry_store_batches_total", "counter", "Store write transactions (group commits).",
      store_batches_total);
  Add(out, "ferry_store_batch_ops_total", "counter", "Write ops in those transactions.",
      store_batch_ops_total);
  Add(out, "ferry_store_queue_depth", "gauge", "Store jobs waiting.", store_queue_depth);
  Add(out, "ferry_store_shed_total", "counter",
      "Sends refused (unavailable) because the store queue was further behind than "
      "--store-max-wait-ms.",
      store_shed_total);
  Add(out, "ferry_store_write_failures_total", "counter",
      "Store write transactions that failed (full disk, I/O error, database down).",
      store_write_failures_total);
  Add(out, "ferry_store_failing", "gauge",
      "Store workers whose last write transaction failed (0 when writes commit).",
      store_failing_workers);
  Add(out, "ferry_inbox_reads_total", "counter",
      "Inbox reads by delivering connections (hello, gaps, resends, sync).", inbox_reads_total);
  Add(out, "ferry_inbox_depth", "gauge", "Inbox entries held (undelivered or unacked).",
      inbox_entries);
  Add(out, "ferry_inbox_oldest_age_ms", "gauge", "Age of the oldest inbox entry held.",
      inbox_oldest_age_ms);
  send_durable_seconds.Render(out, "ferry_send_durable_seconds",
                              "Time from a send request to its durable commit.");
  return out;
}

}  // namespace ferry
