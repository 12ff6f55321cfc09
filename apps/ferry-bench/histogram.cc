// Bucket layout: indexes 0..255 are the values 0..255 themselves. Above that,
// a value with its highest set bit at position m (m >= 8) is shifted right by
// s = m - 7 so it lands in [128, 255]; its index is (s + 1) * 128 + (that -
// 128). The indexes stay contiguous across powers of two.
#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ferry::bench {

int Histogram::IndexOf(std::uint64_t value) {
  if (value < 2 * kSub) return static_cast<int>(value);
  int msb = 63 - std::countl_zero(value);
  int shift = msb - kSubBits;
  return (shift + 1) * static_cast<int>(kSub) + static_cast<int>((value >> shift) - kSub);
}

std::uint64_t Histogram::LowestOf(int index) {
  if (index < static_cast<int>(2 * kSub)) return static_cast<std::uint64_t>(index);
  int shift = index / static_cast<int>(kSub) - 1;
  std::uint64_t sub = static_cast<std::uint64_t>(index % kSub) + kSub;
  return sub << shift;
}

std::uint64_t Histogram::HighestOf(int index) {
  if (index < static_cast<int>(2 * kSub)) return static_cast<std::uint64_t>(index);
  int shift = index / static_cast<int>(kSub) - 1;
  std::uint64_t sub = static_cast<std::uint64_t>(index % kSub) + kSub;
  // For the very last bucket (sub + 1) << shift would overflow to 0; the
  // subtraction then wraps to the maximum, which is the right answer.
  return ((sub + 1) << shift) - 1;
}

void Histogram::Record(std::uint64_t value, std::uint64_t count) {
  if (count == 0) return;
  counts_[IndexOf(value)] += count;
  total_ += count;
  sum_ += value * count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() { *this = Histogram{}; }

Histogram::Raw Histogram::ToRaw() const {
  Raw raw{{}, min(), max_, sum_};
  for (int i = 0; i < kBuckets; ++i) {
    if (counts_[i]) raw.buckets.emplace_back(i, counts_[i]);
  }
  return raw;
}

Histogram Histogram::FromRaw(const Raw& raw) {
  Histogram h;
  for (auto [index, count] : raw.buckets) {
    if (index < 0 || index >= kBuckets || count == 0) continue;
    h.counts_[index] += count;
    h.total_ += count;
  }
  if (h.total_) {
    h.min_ = raw.min;
    h.max_ = raw.max;
    h.sum_ = raw.sum;
  }
  return h;
}

std::uint64_t Histogram::ValueAtPercentile(double percentile) const {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the wanted value, 1-based; at least the first value.
  auto rank = static_cast<std::uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(HighestOf(i), min_, max_);
  }
  return max_;
}

}  // namespace ferry::bench
