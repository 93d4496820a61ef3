// File: libhafs/splitbrain/handshake.h
// -----------------------------------------------------------------------------
// The connect-time decision of a mirror pair: compare generation identifiers
// by DRBD 8.4's numbered rules (drbd_uuid_compare) and apply the sync
// handshake layer on top (drbd_sync_handshake): disk-state override, split
// brain recovery policies, --discard-my-data, rr-conflict and dry-run.
//
// Both functions are pure and deterministic: no I/O, no clock, no randomness.
// Each node evaluates the handshake from its own point of view ("self" is the
// caller); with the same inputs mirrored, the two nodes reach complementary
// decisions (one SyncSource, the other SyncTarget) — see docs/splitbrain.md.
//
// Sign convention of the numeric results (DRBD's): positive = this node is
// sync source, negative = sync target; |1| bitmap-based resync, |2| full
// resync, 0 no resync, 100 split brain (auto-recovery allowed), -100 split
// brain (disconnect), -1000 unrelated data.
//
// Thread-safety: pure functions over values.
//
// Example:
//   NodeState self{.gi = my_gi, .role = Role::kPrimary,
//                  .disk = DiskState::kUpToDate, .bitmap_bits = 120};
//   NodeState peer = FromHandshakeMessage(msg);
//   HandshakeDecision d = SyncHandshake(self, peer,
//       ResolvesConflicts(my_node_id, peer_node_id), policy);
//   HAFS_LOG(INFO) << d.explanation;
//   if (d.dry_run || !d.connects()) Disconnect();
#ifndef HAFS_LIBHAFS_SPLITBRAIN_HANDSHAKE_H_
#define HAFS_LIBHAFS_SPLITBRAIN_HANDSHAKE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "libhafs/splitbrain/generation_ids.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::splitbrain {

enum class Role { kSecondary, kPrimary };

// DRBD's disk states, in DRBD's order (comparisons such as "> Inconsistent"
// follow it).
enum class DiskState {
  kDiskless,
  kAttaching,
  kFailed,
  kNegotiating,
  kInconsistent,
  kOutdated,
  kDUnknown,
  kConsistent,
  kUpToDate,
};

// "Primary"/"Secondary" and DRBD's disk state names ("UpToDate", ...).
absl::string_view RoleName(Role r);
absl::string_view DiskStateName(DiskState d);

// What one node contributes to the handshake.
struct NodeState {
  GenerationIds gi;  // raw values, role bit included
  Role role = Role::kSecondary;
  // The disk state the node will have once negotiation ends (DRBD uses the
  // pending state while the disk is Negotiating).
  DiskState disk = DiskState::kUpToDate;
  bool crashed_primary = false;   // metadata flag: was Primary when it crashed
  uint64_t bitmap_bits = 0;       // set bits in this node's quick-sync bitmap
  bool discard_my_data = false;   // `connect --discard-my-data` on this node
  bool dry_run = false;           // `connect --dry-run` on this node
  // False when a Primary cannot be demoted (the volume is open for writing);
  // decides what call-pri-lost-after-sb does. Ignored for Secondaries.
  bool can_demote = true;
  std::string name;               // node name, for discard-node-NAME
};

// Which node holds DRBD's RESOLVE_CONFLICTS bit (the tie breaker that loses
// ties). DRBD 8.4 gives it to one end of the TCP connection; hafs derives it
// from node ids so both nodes agree without a race: the higher id holds it.
// REQUIRES: self_node_id != peer_node_id.
bool ResolvesConflicts(uint32_t self_node_id, uint32_t peer_node_id);

// The handler hooks a decision asks the runtime to run, in order.
enum class Handler {
  kInitialSplitBrain,  // "initial-split-brain": split brain detected
  kSplitBrain,         // "split-brain": split brain not resolved
  kPriLostAfterSb,     // "pri-lost-after-sb": Primary lost, cannot demote
  kPriLost,            // "pri-lost": rr-conflict call-pri-lost
};
absl::string_view HandlerName(Handler h);

// Output of the numbered rules alone.
struct GenerationComparison {
  int result = 0;  // 2, 1, 0, -1, -2, 100, -100 or -1000
  int rule = 0;    // the rule that fired (10 ... 100, as in DRBD's log)
  std::string explanation;  // "rule 70: my bitmap UUID equals ..."
  // Rules 34 and 71 correct this node's generation ids (the runtime persists
  // them before resyncing); rules 35 and 51 correct the in-memory copy of the
  // peer's (the peer corrects its own by the mirrored rule).
  std::optional<GenerationIds> self_fixed;
  std::optional<GenerationIds> peer_fixed;
};

// DRBD 8.4 drbd_uuid_compare. `self_resolves_conflicts` is the tie bit for
// rule 40 when both nodes crashed as Primary.
GenerationComparison CompareGenerations(const NodeState& self,
                                        const NodeState& peer,
                                        bool self_resolves_conflicts);

enum class Outcome {
  kNoSync,                // connect, no resync
  kBitmapSyncSource,      // connect, resync the bitmap's blocks to the peer
  kBitmapSyncTarget,      // connect, receive the bitmap's blocks
  kFullSyncSource,        // connect, resync every block to the peer
  kFullSyncTarget,        // connect, receive every block
  kSplitBrainDisconnect,  // split brain not resolved: go StandAlone
  kUnrelatedData,         // no common generation: refuse
  kInconsistentSource,    // would be sync source with Inconsistent data: refuse
  kPrimaryTargetRefused,  // rr-conflict: refuse to overwrite a Primary
  kRetryConnect,          // rr-conflict retry-connect: drop, retry later
};
absl::string_view OutcomeName(Outcome o);  // "BitmapSyncSource", ...

// How a detected split brain was resolved (kNone when none was detected or
// it stays unresolved).
enum class Recovery { kNone, kAutomatic, kDiscardMyData, kDiskStates };

struct HandshakeDecision {
  Outcome outcome = Outcome::kSplitBrainDisconnect;
  int compare_result = 0;  // CompareGenerations().result
  int rule = 0;            // CompareGenerations().rule
  int result = 0;          // final signed value after the handshake layer
  bool split_brain = false;      // a split brain was detected
  Recovery recovery = Recovery::kNone;
  int primaries = 0;             // Primaries counted for after-sb-Npri
  std::vector<Handler> handlers;  // to run, in order (not in dry-run mode)
  // This Primary must demote to Secondary before the resync starts
  // (call-pri-lost-after-sb chose it as the victim and it can demote).
  bool demote_self = false;
  // Dry-run: the runtime runs no handler, demotes nothing, persists no fix-up
  // and drops the connection; `outcome` is what a real connect would do.
  bool dry_run = false;
  std::optional<GenerationIds> self_fixed;  // see GenerationComparison
  std::optional<GenerationIds> peer_fixed;
  std::string explanation;  // operator-readable, one sentence per step

  // True iff the connection proceeds (no-sync or a resync) — false for every
  // refusal and in dry-run mode.
  bool connects() const;
  bool is_sync_source() const {
    return outcome == Outcome::kBitmapSyncSource ||
           outcome == Outcome::kFullSyncSource;
  }
  bool is_sync_target() const {
    return outcome == Outcome::kBitmapSyncTarget ||
           outcome == Outcome::kFullSyncTarget;
  }
  bool is_full_sync() const {
    return outcome == Outcome::kFullSyncSource ||
           outcome == Outcome::kFullSyncTarget;
  }
};

// DRBD 8.4 drbd_sync_handshake (with drbd_asb_recover_0p/1p/2p).
HandshakeDecision SyncHandshake(const NodeState& self, const NodeState& peer,
                                bool self_resolves_conflicts,
                                const SplitBrainPolicy& policy);

// The operator's manual split-brain recovery, for log lines and CLI output.
inline constexpr absl::string_view kManualRecoveryHint =
    "Manual recovery: on the node whose changes you give up (the victim) run "
    "`hafsctl disconnect; hafsctl secondary; hafsctl connect "
    "--discard-my-data`; on the node whose data survives run `hafsctl "
    "connect` (after `hafsctl disconnect` if it is not StandAlone). The "
    "victim is rolled back through its bitmap, not fully resynced.";

}  // namespace hafs::splitbrain

#endif  // HAFS_LIBHAFS_SPLITBRAIN_HANDSHAKE_H_
