// Fixed-seed runs of the cluster simulation (fast, part of the normal test
// suite). cluster_sim_soak_test (manual) runs many random seeds.
#include "libhafs/cluster/cluster_sim.h"

#include <cstdio>

#include "gtest/gtest.h"

namespace hafs::cluster {
namespace {

TEST(ClusterSimTest, WitnessQuorumNeverTwoPrimaries) {
  int promotions = 0, failovers = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SimResult r = RunClusterSim({.seed = seed, .mode = QuorumMode::kWitness,
                                 .duration = absl::Seconds(30)});
    EXPECT_TRUE(r.violations.empty()) << r.Describe();
    promotions += r.promotions;
    failovers += r.failovers_checked;
  }
  std::printf("witness: promotions=%d failovers_checked=%d\n", promotions, failovers);
  // The runs must actually exercise failover, not idle.
  // (100 seeds: operator takeovers take a share of the faults, and the
  // failover-time check needs a crash with nothing else in the second before.)
  EXPECT_GT(promotions, 200);
  EXPECT_GT(failovers, 8);
}

TEST(ClusterSimTest, QuorumDisabledSplitBrainAlwaysDetected) {
  int detected = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SimResult r = RunClusterSim({.seed = seed, .mode = QuorumMode::kDisabled,
                                 .duration = absl::Seconds(30)});
    EXPECT_TRUE(r.violations.empty()) << r.Describe();
    detected += r.split_brains_resolved;
  }
  std::printf("disabled: split brains detected and resolved=%d\n", detected);
  EXPECT_GT(detected, 5);  // split brains did happen and were caught
}

TEST(ClusterSimTest, SingleLinkFailuresNeverFlap) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimResult r = RunClusterSim({.seed = seed, .mode = QuorumMode::kWitness,
                                 .duration = absl::Seconds(30),
                                 .single_link_only = true});
    EXPECT_TRUE(r.violations.empty()) << r.Describe();
    EXPECT_EQ(r.promotions, 1) << "seed=" << seed;
    EXPECT_GT(r.faults_injected, 5);
  }
}

TEST(ClusterSimTest, NoFaultsPromotesPreferredNodeOnce) {
  SimResult r = RunClusterSim({.seed = 3, .faults = false});
  EXPECT_TRUE(r.violations.empty()) << r.Describe();
  EXPECT_EQ(r.promotions, 1);
  EXPECT_EQ(r.demotions, 0);
}

TEST(ClusterSimTest, SameSeedReplaysExactly) {
  SimResult a = RunClusterSim({.seed = 11});
  SimResult b = RunClusterSim({.seed = 11});
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.promotions, b.promotions);
}

}  // namespace
}  // namespace hafs::cluster
