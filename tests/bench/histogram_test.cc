// Unit tests of the load generator's latency histogram: exact small values,
// the 1% precision bound across the whole range, percentiles, merge.
#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace ferry::bench {
namespace {

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.ValueAtPercentile(50), 0u);
  EXPECT_EQ(h.ValueAtPercentile(100), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(Histogram::IndexOf(v), static_cast<int>(v));
    EXPECT_EQ(Histogram::LowestOf(static_cast<int>(v)), v);
    EXPECT_EQ(Histogram::HighestOf(static_cast<int>(v)), v);
  }
}

TEST(Histogram, BucketsAreContiguousAndNarrow) {
  // Every bucket starts right after the previous one ends, and its width is
  // under 1% of its lower bound.
  for (int i = 1; i < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::LowestOf(i), Histogram::HighestOf(i - 1) + 1) << i;
    std::uint64_t lo = Histogram::LowestOf(i);
    std::uint64_t width = Histogram::HighestOf(i) - lo;
    if (lo >= 256) {
      ASSERT_LE(static_cast<double>(width) / lo, 0.01) << i;
    }
  }
  EXPECT_EQ(Histogram::HighestOf(Histogram::kBuckets - 1), ~std::uint64_t{0});
  EXPECT_EQ(Histogram::IndexOf(~std::uint64_t{0}), Histogram::kBuckets - 1);
}

TEST(Histogram, IndexRoundTripsOnRandomValues) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t v = rng() >> (rng() % 64);
    int idx = Histogram::IndexOf(v);
    ASSERT_LE(Histogram::LowestOf(idx), v);
    ASSERT_GE(Histogram::HighestOf(idx), v);
  }
}

TEST(Histogram, PercentilesWithinOnePercent) {
  Histogram h;
  std::vector<std::uint64_t> values;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(7.0, 1.5);  // latency-like: ~1 ms, long tail
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
    rank = std::clamp<std::size_t>(rank, 1, values.size());
    double exact = static_cast<double>(values[rank - 1]);
    double got = static_cast<double>(h.ValueAtPercentile(p));
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(got, exact * 1.01 + 1) << p;
  }
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
}

TEST(Histogram, UniformMedian) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 10000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(50)), 5000.0, 50.0);
  EXPECT_NEAR(static_cast<double>(h.ValueAtPercentile(99)), 9900.0, 99.0);
  EXPECT_DOUBLE_EQ(h.mean(), 5000.5);
}

TEST(Histogram, MergeAddsCountsAndExtremes) {
  Histogram a, b;
  a.Record(10, 3);
  b.Record(100000);
  b.Record(5);
  a.Merge(b);
  EXPECT_EQ(a.count(), 5u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 100000u);
  EXPECT_EQ(a.ValueAtPercentile(50), 10u);
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
}

TEST(Histogram, RawRoundTrip) {
  Histogram h;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) h.Record(rng() % 1000000);
  auto raw = h.ToRaw();
  EXPECT_LT(raw.buckets.size(), 5000u);  // only the non-empty buckets
  Histogram back = Histogram::FromRaw(raw);
  EXPECT_EQ(back.count(), h.count());
  EXPECT_EQ(back.min(), h.min());
  EXPECT_EQ(back.max(), h.max());
  EXPECT_DOUBLE_EQ(back.mean(), h.mean());
  for (double p : {0.0, 50.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(back.ValueAtPercentile(p), h.ValueAtPercentile(p)) << p;
  }
}

TEST(Histogram, FromRawIgnoresBadIndexes) {
  Histogram::Raw raw;
  raw.buckets = {{-1, 5}, {Histogram::kBuckets, 5}, {7, 2}};
  raw.min = raw.max = 7;
  raw.sum = 14;
  Histogram h = Histogram::FromRaw(raw);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.ValueAtPercentile(50), 7u);
  EXPECT_EQ(Histogram::FromRaw({}).count(), 0u);
  EXPECT_EQ(Histogram::FromRaw({}).min(), 0u);
}

}  // namespace
}  // namespace ferry::bench
