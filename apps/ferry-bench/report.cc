// Formatting of reports and merging of the per-process parts of a --procs
// run (see cohort.h). A histogram travels between processes as its raw
// buckets, so merged percentiles are exactly those of one big histogram.
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <random>

#include "bench.h"

namespace ferry::bench {
namespace json = boost::json;

void Report::Error(const std::string& what) {
  ++errors;
  if (error_samples.size() < 10) error_samples.push_back(what);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::uint64_t Micros(std::chrono::steady_clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::string RandomPrefix() {
  static const char* kAlpha = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string p = "b";
  for (int i = 0; i < 6; ++i) p += kAlpha[rd() % 36];
  return p + "-";
}

json::object LatencyJson(const Histogram& h) {
  return {{"count", h.count()},
          {"p50", h.ValueAtPercentile(50)},
          {"p99", h.ValueAtPercentile(99)},
          {"p99_9", h.ValueAtPercentile(99.9)},
          {"max", h.max()},
          {"mean", h.mean()}};
}

std::string LatencyText(const Histogram& h) {
  if (h.count() == 0) return "(none)";
  auto ms = [](std::uint64_t us) { return Fixed(static_cast<double>(us) / 1000.0, 2); };
  return "p50 " + ms(h.ValueAtPercentile(50)) + "  p99 " + ms(h.ValueAtPercentile(99)) +
         "  p99.9 " + ms(h.ValueAtPercentile(99.9)) + "  max " + ms(h.max()) + " ms";
}

void ConnectReport(Report& r, int n, std::int64_t hellos, double seconds,
                   const Histogram& latency) {
  double rate = seconds > 0 ? static_cast<double>(hellos) / seconds : 0;
  r.Row("connections", std::to_string(hellos) + " of " + std::to_string(n) + " said hello");
  r.Row("connect+hello rate", Fixed(rate, 0) + " /s (" + Fixed(seconds, 2) + " s)");
  r.Row("connect+hello latency", LatencyText(latency));
  r.json["connections"] = n;
  r.json["hellos"] = hellos;
  r.json["connectSeconds"] = seconds;
  r.json["connectPerSecond"] = rate;
  r.json["connectLatencyUs"] = LatencyJson(latency);
}

json::object HistogramJson(const Histogram& h) {
  auto raw = h.ToRaw();
  json::array buckets;
  for (auto [index, count] : raw.buckets) buckets.push_back(json::array{index, count});
  return {{"min", raw.min}, {"max", raw.max}, {"sum", raw.sum}, {"buckets", std::move(buckets)}};
}

Histogram HistogramFromJson(const json::value& v) {
  const auto& o = v.as_object();
  Histogram::Raw raw;
  raw.min = json::value_to<std::uint64_t>(o.at("min"));
  raw.max = json::value_to<std::uint64_t>(o.at("max"));
  raw.sum = json::value_to<std::uint64_t>(o.at("sum"));
  for (const auto& b : o.at("buckets").as_array()) {
    const auto& pair = b.as_array();
    raw.buckets.emplace_back(json::value_to<int>(pair.at(0)),
                             json::value_to<std::uint64_t>(pair.at(1)));
  }
  return Histogram::FromRaw(raw);
}

std::int64_t SumInt(const Parts& parts, const char* key) {
  std::int64_t sum = 0;
  for (const auto& p : parts) {
    if (const auto* v = p.if_contains(key)) sum += json::value_to<std::int64_t>(*v);
  }
  return sum;
}

double MaxDouble(const Parts& parts, const char* key) {
  double max = 0;
  for (const auto& p : parts) {
    if (const auto* v = p.if_contains(key)) max = std::max(max, v->to_number<double>());
  }
  return max;
}

Histogram MergedHistogram(const Parts& parts, const char* key) {
  Histogram h;
  for (const auto& p : parts) {
    if (const auto* v = p.if_contains(key)) h.Merge(HistogramFromJson(*v));
  }
  return h;
}

void ErrorsToPart(const Report& r, json::object& part) {
  part["errors"] = r.errors;
  part["errorSamples"] = json::value_from(r.error_samples);
}

void MergeErrors(const Parts& parts, Report& r) {
  for (const auto& p : parts) {
    std::uint64_t before = r.errors;
    if (const auto* samples = p.if_contains("errorSamples")) {
      for (const auto& s : samples->as_array()) r.Error(json::value_to<std::string>(s));
    }
    // Count what the samples did not cover (a worker keeps only the first few).
    std::uint64_t total = p.contains("errors") ? json::value_to<std::uint64_t>(p.at("errors")) : 0;
    r.errors = before + std::max<std::uint64_t>(total, r.errors - before);
  }
}

}  // namespace ferry::bench
