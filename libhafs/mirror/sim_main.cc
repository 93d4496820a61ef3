// mirror_sim: runs the block mirror's deterministic simulator over seeds and
// prints the failing ones (each replays exactly with --seed).
//
//   bazel run //libhafs/mirror:mirror_sim -- --seeds=10000          # random seeds
//   bazel run //libhafs/mirror:mirror_sim -- --seed=9 --trace        # replay one
#include <cstdint>
#include <iostream>
#include <random>

#include "CLI/CLI.hpp"
#include "libhafs/mirror/sim_pair.h"

int main(int argc, char** argv) {
  CLI::App app{"mirror_sim: seeded simulation of a hafs mirror pair"};
  uint64_t seed = 0;
  uint64_t seeds = 100;
  uint64_t first = 0;
  bool trace = false;
  bool extended = false;
  app.add_option("--seed", seed, "run exactly this seed (0 = use --seeds)");
  app.add_option("--seeds", seeds, "number of seeds to run");
  app.add_option("--first", first, "first seed (0 = random start, printed)");
  app.add_flag("--trace", trace, "print the whole trace of a failing seed");
  app.add_flag("--extended", extended,
               "add disk errors, clean switchovers and clean stops, and check that durable "
               "writes survive");
  CLI11_PARSE(app, argc, argv);
  if (seed != 0) {
    hafs::mirror::SeedResult r = hafs::mirror::RunSeed(seed, trace, extended);
    std::cout << (r.ok ? "ok" : r.failure) << "\n";
    return r.ok ? 0 : 1;
  }
  if (first == 0) first = std::random_device{}() | 1;
  std::cout << "seeds " << first << " .. " << first + seeds - 1 << "\n";
  uint64_t failed = 0;
  hafs::mirror::SeedResult total;
  for (uint64_t s = first; s < first + seeds; ++s) {
    hafs::mirror::SeedResult r = hafs::mirror::RunSeed(s, trace, extended);
    if (!r.ok) {
      ++failed;
      std::cout << "FAILED seed " << s << "\n" << r.failure << "\n";
    }
    total.writes += r.writes;
    total.crashes += r.crashes;
    total.failovers += r.failovers;
    total.reads_checked += r.reads_checked;
    total.pass_on_inconsistent += r.pass_on_inconsistent;
    total.resyncs_with_failed_blocks += r.resyncs_with_failed_blocks;
  }
  std::cout << "coverage: " << total.writes << " writes, " << total.crashes << " crashes, "
            << total.failovers << " failovers, " << total.reads_checked
            << " sectors read and checked, " << total.pass_on_inconsistent
            << " disks Inconsistent by on-io-error pass_on, " << total.resyncs_with_failed_blocks
            << " resyncs ended with failed blocks\n";
  std::cout << (seeds - failed) << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
