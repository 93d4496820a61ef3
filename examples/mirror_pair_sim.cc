// examples/mirror_pair_sim.cc
// -----------------------------------------------------------------------------
// One seeded scenario of the block mirror in its deterministic simulator
// (libhafs/mirror/sim_pair.h: two Replicators on simulated disks and a
// simulated network, one simulated clock; testonly, hence this example is
// too). It shows the quick-sync bitmap at work:
//   1. bootstrap: node 0 is promoted with --force and fully syncs node 1;
//   2. a protocol-C write is acknowledged only once it is on both nodes;
//   3. the link is cut; writes on the Primary now complete locally and set
//      bits in its out-of-sync bitmap, and a new data generation starts;
//   4. the link heals; the handshake compares generation identifiers (DRBD
//      8.4 rules), decides on a bitmap-based resync (only the marked blocks
//      travel, not the whole volume) and the replicas end byte-identical.
// Every step prints both nodes' status; the handshake prints its rule.
// The same seed always gives the same output.
//
// Usage:  mirror_pair_sim [SEED]        (default 1; exit 0 iff every check
//                                        held, 1 otherwise, 64 usage)
//   bazel run //examples:mirror_pair_sim -- 7
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libhafs/io/block_device.h"
#include "libhafs/mirror/replicator.h"
#include "libhafs/mirror/sim_pair.h"

namespace {

namespace mirror = hafs::mirror;
constexpr uint64_t kBlock = hafs::io::kBlockSize;

// "n0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate repl:Established
//  oos-bits:0 gi:..."
std::string StatusLine(mirror::SimPair& p, int n) {
  const mirror::Status s = p.node(n).status();
  return absl::StrCat(
      "n", n, ": cs:", mirror::ConnStateName(s.conn), " ro:",
      mirror::RoleName(s.role), "/", mirror::RoleName(s.peer_role), " ds:",
      mirror::DiskStateName(s.disk), "/", mirror::DiskStateName(s.peer_disk),
      " repl:", mirror::ReplStateName(s.repl), " oos-bits:",
      p.node(n).bitmap().Count(), " gi:", s.gi.DebugString());
}

void PrintStatus(mirror::SimPair& p, absl::Time start, const std::string& step) {
  std::cout << "-- " << step << " (simulated t="
            << absl::FormatDuration(p.clock().Now() - start)
            << ")\n  " << StatusLine(p, 0) << "\n  " << StatusLine(p, 1)
            << "\n";
}

// Writes `blocks` blocks of byte `fill` at block `block` on node 0 and runs the
// simulation until the write completes. Reports whether it was replicated.
absl::Status WriteBlocks(mirror::SimPair& p, uint64_t block, uint64_t blocks,
                         char fill, bool* replicated) {
  hafs::io::AlignedBuffer data(blocks * kBlock);
  std::memset(data.data(), fill, data.size());
  absl::Status result = absl::DeadlineExceededError("write did not complete");
  bool done = false;
  p.node(0).Write(block * kBlock, std::move(data), /*fua=*/false,
                  [&](absl::Status s) {
                    result = s;
                    done = true;
                  });
  p.RunUntil([&] { return done; }, absl::Seconds(30));
  *replicated = p.node(0).last_done_replicated();
  std::cout << "write " << blocks << " block(s) of '" << fill << "' at block "
            << block << ": " << (result.ok() ? "ok" : result.ToString())
            << ", replicated=" << (*replicated ? "yes" : "no") << "\n";
  return result;
}

int Fail(mirror::SimPair& p, const std::string& what) {
  std::cout << "FAILED: " << what << "\n";
  if (p.violation()) std::cout << "violation: " << *p.violation() << "\n";
  const auto& t = p.trace();
  for (size_t i = t.size() > 40 ? t.size() - 40 : 0; i < t.size(); ++i) {
    std::cout << "  trace: " << t[i] << "\n";
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  if (argc > 2 || (argc == 2 && !absl::SimpleAtoi(argv[1], &seed))) {
    std::cerr << "usage: mirror_pair_sim [SEED]\n";
    return 64;
  }
  std::cout << "seed=" << seed << "\n";
  mirror::SimPair p(mirror::SimPairOptions{.seed = seed});
  const absl::Time start = p.clock().Now();

  // 1. Bootstrap: Primary --force on node 0, full sync to node 1.
  if (!p.Bootstrap()) return Fail(p, "bootstrap");
  PrintStatus(p, start, "bootstrapped (full sync done)");
  std::cout << "  resync after bootstrap: "
            << p.node(1).status().resync_total_blocks << " blocks\n";

  // 2. Connected protocol-C write: on both disks when acknowledged.
  bool replicated = false;
  if (!WriteBlocks(p, 10, 2, 'a', &replicated).ok() || !replicated) {
    return Fail(p, "connected write");
  }

  // 3. Cut the link both ways and break the connection; write alone.
  p.network().SetBlocked(true, true);
  p.network().BreakConnection();
  p.RunFor(absl::Milliseconds(50));
  PrintStatus(p, start, "link cut");
  if (!WriteBlocks(p, 100, 3, 'b', &replicated).ok() || replicated) {
    return Fail(p, "disconnected write");
  }
  if (!WriteBlocks(p, 2000, 1, 'c', &replicated).ok() || replicated) {
    return Fail(p, "disconnected write");
  }
  const uint64_t marked = p.node(0).bitmap().Count();
  PrintStatus(p, start, "after writes without the peer");
  std::cout << "  out-of-sync blocks marked on n0: " << marked << "\n";

  // 4. Heal: handshake, bitmap-based resync, convergence.
  p.network().Heal();
  if (!p.RunUntil([&] { return p.Converged(); }, absl::Seconds(30))) {
    return Fail(p, "no convergence after heal");
  }
  PrintStatus(p, start, "healed and converged");
  const mirror::Status target = p.node(1).status();
  std::cout << "handshake n0: " << p.node(0).status().last_handshake << "\n"
            << "handshake n1: " << target.last_handshake << "\n"
            << "resync: " << target.resync_total_blocks
            << " block(s) shipped (bitmap-based; the volume has "
            << p.options().size_bytes / kBlock << ")\n";
  if (target.resync_total_blocks != marked) {
    return Fail(p, absl::StrCat("resync shipped ", target.resync_total_blocks,
                                " blocks, ", marked, " were marked"));
  }
  p.CheckIdentical();
  if (p.violation()) return Fail(p, "invariant");
  std::cout << "replicas identical: yes ("
            << p.node(0).disk()->contents().size() << " bytes compared)\n";
  return 0;
}
