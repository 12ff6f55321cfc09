// A log-linear latency histogram in the style of HdrHistogram: values (here
// microseconds, any unsigned 64-bit value) land in buckets whose width is at
// most 1/128 of their lower bound, so every reported percentile is within
// 0.8% of a value actually recorded. Values below 256 are kept exactly.
// Recording is O(1) with no allocation after construction (a fixed array of
// ~7,400 counters, 59 KB), which is what the load generator's hot path needs.
// Not thread-safe: keep one per thread and Merge() them.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace ferry::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;                 // 128 sub-buckets per power of two
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void Record(std::uint64_t value, std::uint64_t count = 1);
  void Merge(const Histogram& other);
  void Reset();

  std::uint64_t count() const { return total_; }
  std::uint64_t min() const { return total_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0.0; }

  // The smallest recorded-equivalent value v such that at least `percentile`
  // percent of the recorded values are <= v (reported as the bucket's upper
  // bound, clamped to the exact max). 0 when empty. percentile in [0, 100].
  std::uint64_t ValueAtPercentile(double percentile) const;

  // The raw state, to move a histogram between processes (ferry-bench
  // --procs merges its workers' histograms): the non-empty buckets plus the
  // exact min, max and sum. FromRaw(ToRaw()) equals the original; buckets
  // with an index outside [0, kBuckets) are ignored.
  struct Raw {
    std::vector<std::pair<int, std::uint64_t>> buckets;  // (index, count)
    std::uint64_t min = 0;
    std::uint64_t max = 0;
    std::uint64_t sum = 0;
  };
  Raw ToRaw() const;
  static Histogram FromRaw(const Raw& raw);

  // Bucket arithmetic, public for the tests.
  static int IndexOf(std::uint64_t value);
  static std::uint64_t LowestOf(int index);
  static std::uint64_t HighestOf(int index);

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
  // Sum for the mean; wraps only after ~10^13 values of an hour each.
  std::uint64_t sum_ = 0;
};

}  // namespace ferry::bench
