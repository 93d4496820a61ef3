// Many random seeds of the cluster simulation; prints every failing seed.
//   bazel test //libhafs/cluster:cluster_sim_soak_test --test_output=all \
//     --test_env=HAFS_SIM_SEEDS=2000 --test_env=HAFS_SIM_FIRST_SEED=12345
// Replay one seed with HAFS_SIM_SEEDS=1 HAFS_SIM_FIRST_SEED=<seed>.
#include <cstdio>
#include <cstdlib>
#include <random>

#include "gtest/gtest.h"
#include "libhafs/cluster/cluster_sim.h"

namespace hafs::cluster {
namespace {

uint64_t Env(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v == nullptr ? def : std::strtoull(v, nullptr, 10);
}

TEST(ClusterSimSoakTest, RandomSeeds) {
  uint64_t n = Env("HAFS_SIM_SEEDS", 500);
  uint64_t first = Env("HAFS_SIM_FIRST_SEED", std::random_device{}());
  std::printf("seeds %llu..%llu\n", static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + n - 1));
  int failures = 0;
  for (uint64_t seed = first; seed < first + n; ++seed) {
    for (QuorumMode mode : {QuorumMode::kWitness, QuorumMode::kDisabled}) {
      SimResult r = RunClusterSim({.seed = seed, .mode = mode,
                                   .duration = absl::Seconds(60)});
      if (!r.violations.empty()) {
        ++failures;
        std::printf("FAILING SEED %llu mode=%s\n%s\n",
                    static_cast<unsigned long long>(seed), QuorumModeName(mode),
                    r.Describe().c_str());
      }
    }
    SimResult r = RunClusterSim({.seed = seed, .mode = QuorumMode::kWitness,
                                 .single_link_only = true});
    if (!r.violations.empty()) {
      ++failures;
      std::printf("FAILING SEED %llu single_link_only\n%s\n",
                  static_cast<unsigned long long>(seed), r.Describe().c_str());
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace hafs::cluster
