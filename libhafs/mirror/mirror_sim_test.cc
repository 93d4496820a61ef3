// The fixed CI set of simulator seeds (1..500, and 1..200 of the extended
// scenario) in chunks that Bazel's test sharding spreads over the cores. Any
// other seeds:
//   bazel run //libhafs/mirror:mirror_sim -- --seeds=N [--extended]
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "libhafs/mirror/sim_pair.h"

namespace hafs::mirror {
namespace {

constexpr uint64_t kFirstSeed = 1;
constexpr int kChunks = 20;
constexpr uint64_t kSeedsPerChunk = 25;

class MirrorSim : public ::testing::TestWithParam<int> {};

TEST_P(MirrorSim, FixedSeedsHoldEveryInvariant) {
  const uint64_t first = kFirstSeed + GetParam() * kSeedsPerChunk;
  uint64_t writes = 0, crashes = 0, failovers = 0;
  for (uint64_t seed = first; seed < first + kSeedsPerChunk; ++seed) {
    SeedResult r = RunSeed(seed);
    ASSERT_TRUE(r.ok) << r.failure
                      << "\nreplay: bazel run //libhafs/mirror:mirror_sim -- --seed="
                      << seed << " --trace";
    writes += r.writes;
    crashes += r.crashes;
    failovers += r.failovers;
  }
  // The seeds must exercise the faults they are meant to.
  EXPECT_GT(writes, kSeedsPerChunk * 50);
  EXPECT_GT(crashes, kSeedsPerChunk) << "too few crashes simulated";
  EXPECT_GT(failovers, 0u) << "no failover simulated";
  std::printf("seeds %llu..%llu: %llu writes, %llu crashes, %llu failovers\n",
              static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + kSeedsPerChunk - 1),
              static_cast<unsigned long long>(writes),
              static_cast<unsigned long long>(crashes),
              static_cast<unsigned long long>(failovers));
}

INSTANTIATE_TEST_SUITE_P(Seeds, MirrorSim, ::testing::Range(0, kChunks));

// The extended scenario (disk errors, switchovers, clean stops of both, and
// the durable-writes check; RunSeed's comment) over seeds 1..200.
constexpr int kExtendedChunks = 8;

class MirrorSimExtended : public ::testing::TestWithParam<int> {};

TEST_P(MirrorSimExtended, FixedSeedsHoldEveryInvariant) {
  const uint64_t first = kFirstSeed + GetParam() * kSeedsPerChunk;
  uint64_t crashes = 0;
  for (uint64_t seed = first; seed < first + kSeedsPerChunk; ++seed) {
    SeedResult r = RunSeed(seed, /*full_trace=*/false, /*extended=*/true);
    ASSERT_TRUE(r.ok) << r.failure
                      << "\nreplay: bazel run //libhafs/mirror:mirror_sim -- --extended --seed="
                      << seed << " --trace";
    crashes += r.crashes;
  }
  EXPECT_GT(crashes, kSeedsPerChunk) << "too few crashes simulated";
}

INSTANTIATE_TEST_SUITE_P(Seeds, MirrorSimExtended, ::testing::Range(0, kExtendedChunks));

}  // namespace
}  // namespace hafs::mirror
