// File: libhafs/splitbrain/policy.h
// -----------------------------------------------------------------------------
// Split-brain and resync-conflict policies (DRBD's after-sb-0pri, after-sb-1pri,
// after-sb-2pri, rr-conflict and always-asbp net options) and their parsing
// from configuration strings.
//
// The defaults refuse every automatic resolution ("disconnect"), as DRBD's do.
// Each position has its own enum, so a value that DRBD would reject at run time
// as "Configuration error" (e.g. after-sb-0pri consensus) cannot be built; the
// parser rejects it with the list of valid values.
//
// Thread-safety: plain values and pure functions.
//
// Example:
//   SplitBrainPolicy p;                                    // all "disconnect"
//   HAFS_RETURN_IF_ERROR(p.Set("after-sb-0pri", "discard-zero-changes"));
//   HAFS_RETURN_IF_ERROR(p.Set("after-sb-1pri", "discard-secondary"));
//   HAFS_RETURN_IF_ERROR(CheckPeerPolicyCompatible(p, peer_policy));
#ifndef HAFS_LIBHAFS_SPLITBRAIN_POLICY_H_
#define HAFS_LIBHAFS_SPLITBRAIN_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::splitbrain {

// after-sb-0pri: split brain detected, neither node is Primary.
enum class AfterSb0Pri {
  kDisconnect,             // "disconnect" (default): no automatic recovery
  kDiscardYoungerPrimary,  // "discard-younger-primary"
  kDiscardOlderPrimary,    // "discard-older-primary"
  kDiscardZeroChanges,     // "discard-zero-changes"
  kDiscardLeastChanges,    // "discard-least-changes"
  kDiscardNode,            // "discard-node-NAME": always discard NAME's data
};

// after-sb-1pri: split brain detected, exactly one node is Primary.
enum class AfterSb1Pri {
  kDisconnect,          // "disconnect" (default)
  kConsensus,           // "consensus"
  kViolentlyAs0p,       // "violently-as0p"
  kDiscardSecondary,    // "discard-secondary"
  kCallPriLostAfterSb,  // "call-pri-lost-after-sb"
};

// after-sb-2pri: split brain detected, both nodes are Primary.
enum class AfterSb2Pri {
  kDisconnect,          // "disconnect" (default)
  kViolentlyAs0p,       // "violently-as0p"
  kCallPriLostAfterSb,  // "call-pri-lost-after-sb"
};

// rr-conflict: the handshake would make a Primary (with usable data) the sync
// target, i.e. overwrite data an application may be using.
enum class RrConflict {
  kDisconnect,    // "disconnect" (default)
  kRetryConnect,  // "retry-connect" (DRBD 9): drop the connection, retry later
  kViolently,     // "violently": resync onto the Primary anyway
  kCallPriLost,   // "call-pri-lost": run the pri-lost handler, then disconnect
  kAutoDiscard,   // "auto-discard" (DRBD 9): protocol A crashed-primary case
};

// Replication protocol; only auto-discard depends on it.
enum class WireProtocol { kA, kB, kC };

struct SplitBrainPolicy {
  AfterSb0Pri after_sb_0pri = AfterSb0Pri::kDisconnect;
  // For kDiscardNode: the node whose data is discarded. Same string on both
  // nodes (DRBD's drbdadm turns it into discard-local / discard-remote).
  std::string discard_node;
  AfterSb1Pri after_sb_1pri = AfterSb1Pri::kDisconnect;
  AfterSb2Pri after_sb_2pri = AfterSb2Pri::kDisconnect;
  RrConflict rr_conflict = RrConflict::kDisconnect;
  // Also run the after-sb policies for rule-100 split brains (unrelated
  // bitmaps, only shared history); a recovery then does a full sync.
  bool always_asbp = false;
  WireProtocol protocol = WireProtocol::kC;

  // Sets one option from configuration text. Keys: "after-sb-0pri",
  // "after-sb-1pri", "after-sb-2pri", "rr-conflict", "always-asbp"
  // ("yes"/"no"), "protocol" ("A"/"B"/"C"). InvalidArgument naming the key,
  // the value and every valid value otherwise; the policy is unchanged then.
  absl::Status Set(absl::string_view key, absl::string_view value);

  // Config lines ("after-sb-0pri disconnect;" ...) that Set() reads back.
  std::string ToConfigString() const;

  friend bool operator==(const SplitBrainPolicy&, const SplitBrainPolicy&) = default;
};

absl::StatusOr<AfterSb1Pri> ParseAfterSb1Pri(absl::string_view text);
absl::StatusOr<AfterSb2Pri> ParseAfterSb2Pri(absl::string_view text);
absl::StatusOr<RrConflict> ParseRrConflict(absl::string_view text);
// For after-sb-0pri, `node` receives NAME of "discard-node-NAME" ("" otherwise).
absl::StatusOr<AfterSb0Pri> ParseAfterSb0Pri(absl::string_view text,
                                             std::string* node);

// Configuration spelling ("discard-node-" without the name for kDiscardNode).
absl::string_view Name(AfterSb0Pri v);
absl::string_view Name(AfterSb1Pri v);
absl::string_view Name(AfterSb2Pri v);
absl::string_view Name(RrConflict v);

// Both nodes must run the same after-sb policies (DRBD refuses the connection
// with "incompatible after-sb-Npri settings" otherwise). FailedPrecondition
// naming the first differing option and both values.
absl::Status CheckPeerPolicyCompatible(const SplitBrainPolicy& self,
                                       const SplitBrainPolicy& peer);

}  // namespace hafs::splitbrain

#endif  // HAFS_LIBHAFS_SPLITBRAIN_POLICY_H_
