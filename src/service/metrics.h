// Process-wide counters and histograms, rendered in the Prometheus text
// format for GET /metrics. Lock-free: every field is an atomic, so any
// thread may update or render at any time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace ferry {

// A fixed-bucket latency histogram in seconds (Prometheus "histogram").
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                     0.015,  0.025, 0.05,  0.1,   0.25,
                                                     0.5,    1.0,   2.5,   10.0};
  void Observe(double seconds);
  void Render(std::string& out, const char* name, const char* help) const;

 private:
  std::array<std::atomic<std::int64_t>, kBounds.size() + 1> buckets_{};  // last is +Inf
  std::atomic<std::int64_t> count_{0};
  std::atomic<std::int64_t> sum_micros_{0};
};

struct Metrics {
  std::atomic<std::int64_t> connections{0};         // open WebSocket connections (authed or not)
  std::atomic<std::int64_t> connections_total{0};   // accepted since start
  std::atomic<std::int64_t> http_requests_total{0};
  std::atomic<std::int64_t> connections_refused_total{0};  // over a connection cap (429/503)
  std::atomic<std::int64_t> rate_limited_total{0};         // requests answered rate_limited
  std::atomic<std::int64_t> messages_sent_total{0};       // committed sends (not duplicates)
  std::atomic<std::int64_t> entries_created_total{0};     // inbox entries created
  std::atomic<std::int64_t> entries_delivered_total{0};   // entry frames pushed (incl. resends)
  std::atomic<std::int64_t> entries_redelivered_total{0}; // resends after the ack timeout
  std::atomic<std::int64_t> acks_total{0};
  std::atomic<std::int64_t> errors_total{0};              // error replies sent
  std::atomic<std::int64_t> store_batches_total{0};
  std::atomic<std::int64_t> store_batch_ops_total{0};
  std::atomic<std::int64_t> store_queue_depth{0};
  std::atomic<std::int64_t> store_shed_total{0};          // sends refused: store queue behind
  std::atomic<std::int64_t> store_write_failures_total{0};  // write transactions that failed
  std::atomic<std::int64_t> store_failing_workers{0};     // gauge: store workers whose writes fail
  std::atomic<std::int64_t> inbox_reads_total{0};         // inbox reads by delivering sessions
  std::atomic<std::int64_t> inbox_entries{0};             // gauge, refreshed by the sweeper tick
  std::atomic<std::int64_t> inbox_oldest_age_ms{0};       // gauge, likewise
  Histogram send_durable_seconds;  // send request received -> committed

  std::string Render() const;
};

}  // namespace ferry
