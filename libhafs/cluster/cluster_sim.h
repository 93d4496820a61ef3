// File: libhafs/cluster/cluster_sim.h
// -----------------------------------------------------------------------------
// Deterministic simulation of the cluster cores: two nodes and a witness, each
// built from the real pure components (EnvelopeSigner/Verifier, FailureDetector,
// QuorumTracker, RoleManager, WitnessArbiter) glued the way hafsd glues them,
// over a simulated network with two links between the nodes (the gRPC path and
// the UDP path) and one to the witness. A seed drives everything: message loss
// and delay, symmetric and asymmetric partitions, single-link failures,
// witness isolation and crashes, node crashes and restarts, process pauses and
// per-node clock drift. Time is simulated (no sleeping). testonly.
//
// Invariants checked after every event (docs/cluster.md "Simulation"):
//   * quorum enabled (kWitness): never two active primaries (primary with I/O
//     running, on a node that is up and not paused), and never diverged data
//     (no split brain detected: no node promoted without the other's writes);
//   * quorum disabled: when both nodes wrote as primary while disconnected,
//     a split brain is detected within `sb_detect_bound` of them being
//     connected again;
//   * a crashed primary is replaced within deadtime*(1+d)/(1-d) + promotion
//     budget when the crash is the only fault in that window, nothing else
//     happened in the second before it and loss is <= 1 %;
//   * single-link faults only: no role change and no node-dead after start-up.
// Thread-safety: none.
//
// Example:
//   SimResult r = RunClusterSim({.seed = 7, .mode = QuorumMode::kWitness});
//   EXPECT_TRUE(r.violations.empty()) << r.Describe();
#ifndef HAFS_LIBHAFS_CLUSTER_CLUSTER_SIM_H_
#define HAFS_LIBHAFS_CLUSTER_CLUSTER_SIM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/cluster/quorum.h"

namespace hafs::cluster {

struct SimOptions {
  uint64_t seed = 1;
  QuorumMode mode = QuorumMode::kWitness;
  absl::Duration duration = absl::Seconds(30);
  bool faults = true;             // inject faults at all
  bool single_link_only = false;  // only single-link failures (+ light loss)
  int64_t max_drift_ppm = 9000;   // actual clock rate error (bound is 1%)
};

struct SimResult {
  std::vector<std::string> violations;
  int promotions = 0;
  int demotions = 0;
  int split_brains = 0;      // split-brain detections (events)
  int split_brains_resolved = 0;
  int failovers_checked = 0;
  int faults_injected = 0;
  std::vector<std::string> trace;  // last events, for failure reports
  std::string Describe() const;
};

SimResult RunClusterSim(const SimOptions& opts);

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_CLUSTER_SIM_H_
