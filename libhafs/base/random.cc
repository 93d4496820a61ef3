#include "libhafs/base/random.h"

#include <cstring>

#include "libhafs/base/logging.h"

namespace hafs {

uint64_t Random::Uniform(uint64_t n) {
  HAFS_CHECK(n > 0);
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  unsigned __int128 m = static_cast<unsigned __int128>(Next64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

uint64_t Random::Range(uint64_t lo, uint64_t hi) {
  HAFS_CHECK(lo <= hi);
  if (lo == 0 && hi == UINT64_MAX) return Next64();
  return lo + Uniform(hi - lo + 1);
}

bool Random::Bernoulli(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return NextDouble() < p;
}

void Random::Fill(absl::Span<char> out) {
  size_t i = 0;
  while (i < out.size()) {
    uint64_t v = Next64();
    size_t n = std::min(out.size() - i, sizeof(v));
    std::memcpy(out.data() + i, &v, n);
    i += n;
  }
}

}  // namespace hafs
