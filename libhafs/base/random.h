// File: libhafs/base/random.h
// -----------------------------------------------------------------------------
// A seeded, reproducible PRNG for simulations and randomized tests.
//
// The engine is std::mt19937_64, whose output sequence the C++ standard fixes,
// so a seed replays identically with any compiler or library version. The
// distributions here are our own (std:: distributions are implementation
// defined) and also exact: Uniform() uses Lemire's unbiased multiply-reject.
// Not thread-safe; give each simulated actor its own `Random` via Fork().
//
// Example:
//   Random rng(seed);
//   if (rng.OneIn(10)) DropMessage();
//   uint64_t block = rng.Uniform(num_blocks);
#ifndef HAFS_LIBHAFS_BASE_RANDOM_H_
#define HAFS_LIBHAFS_BASE_RANDOM_H_

#include <cstdint>
#include <random>

#include "absl/types/span.h"

namespace hafs {

class Random {
 public:
  explicit Random(uint64_t seed) : seed_(seed), engine_(seed) {}

  uint64_t seed() const { return seed_; }

  // 64 uniformly random bits.
  uint64_t Next64() { return engine_(); }

  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n);

  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  uint64_t Range(uint64_t lo, uint64_t hi);

  // True with probability 1/n. REQUIRES: n > 0.
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }

  // True with probability p (clamped to [0, 1]).
  bool Bernoulli(double p);

  // Uniform double in [0, 1), 53 random bits.
  double NextDouble() { return static_cast<double>(Next64() >> 11) * 0x1.0p-53; }

  // Fills `out` with random bytes.
  void Fill(absl::Span<char> out);

  // An independent generator whose seed is derived from this one's stream, so
  // that adding draws in one actor does not shift another actor's draws.
  Random Fork() { return Random(Next64() ^ 0x9e3779b97f4a7c15ULL); }

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace hafs

#endif  // HAFS_LIBHAFS_BASE_RANDOM_H_
