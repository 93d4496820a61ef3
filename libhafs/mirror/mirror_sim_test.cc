// The fixed CI set of simulator seeds (1..500), sharded. Any other seeds:
//   bazel run //libhafs/mirror:mirror_sim -- --seeds=N
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "libhafs/mirror/sim_pair.h"

namespace hafs::mirror {
namespace {

constexpr uint64_t kFirstSeed = 1;
constexpr uint64_t kSeeds = 500;

TEST(MirrorSim, FixedSeedsHoldEveryInvariant) {
  const char* shard = std::getenv("TEST_SHARD_INDEX");
  const char* shards = std::getenv("TEST_TOTAL_SHARDS");
  if (const char* status = std::getenv("TEST_SHARD_STATUS_FILE")) {
    FILE* f = std::fopen(status, "w");  // tells Bazel this test shards itself
    if (f) std::fclose(f);
  }
  const uint64_t index = shard ? std::strtoull(shard, nullptr, 10) : 0;
  const uint64_t total = shards ? std::strtoull(shards, nullptr, 10) : 1;
  uint64_t ran = 0, writes = 0, crashes = 0, failovers = 0;
  for (uint64_t seed = kFirstSeed; seed < kFirstSeed + kSeeds; ++seed) {
    if (seed % total != index) continue;
    SeedResult r = RunSeed(seed);
    ASSERT_TRUE(r.ok) << r.failure << "\nreplay: bazel run //libhafs/mirror:mirror_sim -- --seed="
                      << seed << " --trace";
    ++ran;
    writes += r.writes;
    crashes += r.crashes;
    failovers += r.failovers;
  }
  // The seeds must actually exercise the faults they are meant to.
  EXPECT_GT(ran, 0u);
  EXPECT_GT(crashes, ran / 2) << "too few crashes simulated";
  EXPECT_GT(failovers, 0u) << "no failover simulated";
  std::printf("ran %llu seeds: %llu writes, %llu crashes, %llu failovers\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(writes),
              static_cast<unsigned long long>(crashes),
              static_cast<unsigned long long>(failovers));
}

}  // namespace
}  // namespace hafs::mirror
