// hafs-witness: the tie-breaker vote for a hafs pair (docs/cluster.md
// "Witness service"). Runs on a third machine; both nodes ask it for its vote
// when they lose each other.
//
//   hafs-witness --cluster nfs --authkeys /etc/hafs/authkeys
//                --state /var/lib/hafs-witness/nfs.state [--listen 0.0.0.0:7790]
//
// Prints "hafs-witness: listening on HOST:PORT" once serving (port 0 picks
// one). Exit status: 0 after SIGINT/SIGTERM, 1 on a startup error (bad
// flags, authkeys, state file, address), with the reason on stderr.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/clock.h"
#include "libhafs/witness/witness_service.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hafs-witness: tie-breaker vote service for a hafs pair"};
  std::string cluster, authkeys, state, listen = "0.0.0.0:7790", tie = "lowest";
  int64_t lease_ms = 10000, window_ms = 200;
  uint32_t witness_id = hafs::witness::kDefaultWitnessId;
  bool keep_active = true;
  app.add_option("--cluster", cluster, "cluster name (as in the nodes' config)")->required();
  app.add_option("--authkeys", authkeys, "authkeys file shared with the nodes (mode 600)")
      ->required();
  app.add_option("--state", state, "state file (term, holders, replay marks)")->required();
  app.add_option("--listen", listen, "host:port to serve on (port 0 = any)")->capture_default_str();
  app.add_option("--lease-ms", lease_ms, "vote lease; equal to the nodes' witness lease")->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{600000}));
  app.add_option("--decision-window-ms", window_ms,
                 "how long competing requests are collected")->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{60000}));
  app.add_option("--tie-breaker", tie, "lowest | highest | node:<id>")->capture_default_str();
  app.add_option("--witness-id", witness_id, "this witness's id in envelopes")->capture_default_str();
  app.add_option("--keep-active", keep_active, "prefer the side running the resources")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  hafs::witness::WitnessCoreOptions opts;
  opts.cluster_name = cluster;
  opts.state_file = state;
  opts.witness_id = witness_id;
  opts.arbiter.lease = absl::Milliseconds(lease_ms);
  opts.arbiter.decision_window = absl::Milliseconds(window_ms);
  opts.arbiter.keep_active = keep_active;
  using TB = hafs::cluster::WitnessOptions::TieBreaker;
  if (tie == "lowest") {
    opts.arbiter.tie_breaker = TB::kLowest;
  } else if (tie == "highest") {
    opts.arbiter.tie_breaker = TB::kHighest;
  } else if (absl::StartsWith(tie, "node:") &&
             absl::SimpleAtoi(tie.substr(5), &opts.arbiter.tie_breaker_node)) {
    opts.arbiter.tie_breaker = TB::kNode;
  } else {
    std::cerr << "hafs-witness: --tie-breaker '" << tie << "': use lowest, highest or node:<id>\n";
    return 1;
  }
  auto keys = hafs::auth::KeyRing::LoadFile(authkeys);
  if (!keys.ok()) {
    std::cerr << "hafs-witness: " << keys.status() << "\n";
    return 1;
  }
  auto core = hafs::witness::WitnessCore::Create(opts, *keys, hafs::Clock::System());
  if (!core.ok()) {
    std::cerr << "hafs-witness: " << core.status() << "\n";
    return 1;
  }
  auto server = hafs::witness::WitnessServer::Start(listen, core->get());
  if (!server.ok()) {
    std::cerr << "hafs-witness: " << server.status() << "\n";
    return 1;
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "hafs-witness: listening on " << host << ":" << (*server)->port() << " (cluster "
            << cluster << ", term " << (*core)->term() << ")" << std::endl;
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  while (!g_stop) absl::SleepFor(absl::Milliseconds(100));
  (*server)->Shutdown();
  return 0;
}
