#include "libhafs/splitbrain/handshake.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libhafs/base/logging.h"

namespace hafs::splitbrain {
namespace {

static_assert(kHistorySize >= 2, "rules 34-37, 51 and 71 use two history slots");

std::string Hex(uint64_t v) { return absl::StrFormat("%016X", v); }

// DRBD's drbd_uuid_move_history followed by history[0] = bitmap, bitmap = 0:
// the "resync finished" step of a sync source.
GenerationIds BitmapIntoHistory(GenerationIds gi) {
  for (int i = kHistorySize - 1; i > 0; --i) gi.history[i] = gi.history[i - 1];
  gi.history[0] = gi.bitmap;
  gi.bitmap = 0;
  return gi;
}

// Undo of a sync source's "start resync" step (rules 51 and 71): the bitmap
// UUID comes back from history[0] and the history moves up by one.
GenerationIds UndoSyncUuid(GenerationIds gi) {
  gi.bitmap = gi.history[0];
  for (int i = 0; i + 1 < kHistorySize; ++i) gi.history[i] = gi.history[i + 1];
  return gi;
}

}  // namespace

absl::string_view DiskStateName(DiskState d) {
  switch (d) {
    case DiskState::kDiskless: return "Diskless";
    case DiskState::kAttaching: return "Attaching";
    case DiskState::kFailed: return "Failed";
    case DiskState::kNegotiating: return "Negotiating";
    case DiskState::kInconsistent: return "Inconsistent";
    case DiskState::kOutdated: return "Outdated";
    case DiskState::kDUnknown: return "DUnknown";
    case DiskState::kConsistent: return "Consistent";
    case DiskState::kUpToDate: return "UpToDate";
  }
  return "?";
}

absl::string_view RoleName(Role r) {
  return r == Role::kPrimary ? "Primary" : "Secondary";
}

namespace {

const char* Direction(int hg) {
  if (hg == 0) return "no resync";
  if (hg > 0) {
    return std::abs(hg) >= 2 ? "I am sync source, full resync"
                             : "I am sync source, bitmap-based";
  }
  return std::abs(hg) >= 2 ? "I am sync target, full resync"
                           : "I am sync target, bitmap-based";
}

std::string Changes(const NodeState& self, const NodeState& peer) {
  return absl::StrCat("this node has ", self.bitmap_bits,
                      " out-of-sync 4 KiB blocks, the peer has ",
                      peer.bitmap_bits);
}

// drbd_asb_recover_0p. Returns 1, -1 or -100 and appends its reasoning.
int Recover0p(const NodeState& self, const NodeState& peer, bool tie,
              const SplitBrainPolicy& policy, std::vector<std::string>& why) {
  const bool self_was_primary = (self.gi.bitmap & kUuidPrimaryBit) != 0;
  const bool peer_was_primary = (peer.gi.bitmap & kUuidPrimaryBit) != 0;
  const uint64_t ch_self = self.bitmap_bits;
  const uint64_t ch_peer = peer.bitmap_bits;
  const AfterSb0Pri p = policy.after_sb_0pri;
  const std::string tie_text = absl::StrCat(
      tie ? "this node" : "the peer",
      " holds the resolve-conflicts tie bit (higher node id) and loses the tie");

  switch (p) {
    case AfterSb0Pri::kDisconnect:
      why.push_back("after-sb-0pri is \"disconnect\": no automatic recovery.");
      return -100;
    case AfterSb0Pri::kDiscardNode:
      if (policy.discard_node == self.name) {
        why.push_back(absl::StrCat("after-sb-0pri discard-node-",
                                   policy.discard_node,
                                   ": this node's changes are discarded."));
        return -1;
      }
      if (policy.discard_node == peer.name) {
        why.push_back(absl::StrCat("after-sb-0pri discard-node-",
                                   policy.discard_node,
                                   ": the peer's changes are discarded."));
        return 1;
      }
      why.push_back(absl::StrCat(
          "after-sb-0pri discard-node-", policy.discard_node,
          " names neither this node (\"", self.name, "\") nor the peer (\"",
          peer.name, "\"): configuration error, no automatic recovery."));
      return -100;
    case AfterSb0Pri::kDiscardYoungerPrimary:
    case AfterSb0Pri::kDiscardOlderPrimary:
    case AfterSb0Pri::kDiscardZeroChanges:
    case AfterSb0Pri::kDiscardLeastChanges:
      break;
  }

  if (p == AfterSb0Pri::kDiscardYoungerPrimary ||
      p == AfterSb0Pri::kDiscardOlderPrimary) {
    if (self_was_primary != peer_was_primary) {
      // The node that was Primary when the pair split is the older Primary.
      const bool discard_self = (p == AfterSb0Pri::kDiscardYoungerPrimary)
                                    ? peer_was_primary
                                    : self_was_primary;
      why.push_back(absl::StrCat(
          "after-sb-0pri ", Name(p), ": ",
          self_was_primary ? "this node" : "the peer",
          " was Primary when the pair split (role bit of its bitmap UUID), so ",
          discard_self ? "this node's" : "the peer's",
          " changes are discarded."));
      return discard_self ? -1 : 1;
    }
    why.push_back(absl::StrCat(
        "after-sb-0pri ", Name(p),
        ": the bitmap UUIDs do not tell which node was Primary at the split; "
        "falling back to discard-zero-changes, then discard-least-changes."));
  }

  // discard-zero-changes logic (also the first fallback step).
  if (ch_self == 0 && ch_peer == 0) {
    why.push_back(absl::StrCat("neither node changed any block; ", tie_text,
                               "."));
    return tie ? -1 : 1;
  }
  if (ch_peer == 0) {
    why.push_back(absl::StrCat("only this node changed data (", Changes(self, peer),
                               "): the peer's (empty) changes are discarded."));
    return 1;
  }
  if (ch_self == 0) {
    why.push_back(absl::StrCat("only the peer changed data (", Changes(self, peer),
                               "): this node's (empty) changes are discarded."));
    return -1;
  }
  if (p == AfterSb0Pri::kDiscardZeroChanges) {
    why.push_back(absl::StrCat(
        "after-sb-0pri discard-zero-changes: both nodes changed data (",
        Changes(self, peer), "), no automatic recovery."));
    return -100;
  }
  // discard-least-changes.
  if (ch_self < ch_peer) {
    why.push_back(absl::StrCat("discard-least-changes: ", Changes(self, peer),
                               "; this node changed less and is discarded."));
    return -1;
  }
  if (ch_self > ch_peer) {
    why.push_back(absl::StrCat("discard-least-changes: ", Changes(self, peer),
                               "; the peer changed less and is discarded."));
    return 1;
  }
  why.push_back(absl::StrCat("discard-least-changes: both nodes changed ",
                             ch_self, " blocks; ", tie_text, "."));
  return tie ? -1 : 1;
}

// The call-pri-lost-after-sb step shared by after-sb-1pri and -2pri.
int CallPriLost(int hg, const NodeState& self, HandshakeDecision& d,
                std::vector<std::string>& why) {
  if (hg == -1 && self.role == Role::kPrimary) {
    if (self.can_demote) {
      d.demote_self = true;
      why.push_back(
          "call-pri-lost-after-sb: this Primary lost and must demote to "
          "Secondary before it becomes sync target.");
      return -1;
    }
    d.handlers.push_back(Handler::kPriLostAfterSb);
    why.push_back(
        "call-pri-lost-after-sb: this Primary lost but cannot demote (volume "
        "in use); running the pri-lost-after-sb handler, split brain stays "
        "unresolved.");
    return -100;
  }
  return hg;
}

int Recover1p(const NodeState& self, const NodeState& peer, bool tie,
              const SplitBrainPolicy& policy, HandshakeDecision& d,
              std::vector<std::string>& why) {
  const bool primary = self.role == Role::kPrimary;
  switch (policy.after_sb_1pri) {
    case AfterSb1Pri::kDisconnect:
      why.push_back("after-sb-1pri is \"disconnect\": no automatic recovery.");
      return -100;
    case AfterSb1Pri::kConsensus: {
      int hg = Recover0p(self, peer, tie, policy, why);
      if ((hg == -1 && !primary) || (hg == 1 && primary)) {
        why.push_back(
            "after-sb-1pri consensus: the after-sb-0pri result discards the "
            "Secondary, accepted.");
        return hg;
      }
      why.push_back(
          "after-sb-1pri consensus: the after-sb-0pri result does not discard "
          "the Secondary, no automatic recovery.");
      return -100;
    }
    case AfterSb1Pri::kViolentlyAs0p:
      why.push_back("after-sb-1pri violently-as0p: using after-sb-0pri even "
                    "if it discards the Primary's data.");
      return Recover0p(self, peer, tie, policy, why);
    case AfterSb1Pri::kDiscardSecondary:
      why.push_back(absl::StrCat("after-sb-1pri discard-secondary: ",
                                 primary ? "the peer" : "this node",
                                 " is Secondary and its changes are discarded."));
      return primary ? 1 : -1;
    case AfterSb1Pri::kCallPriLostAfterSb: {
      int hg = Recover0p(self, peer, tie, policy, why);
      return CallPriLost(hg, self, d, why);
    }
  }
  return -100;
}

int Recover2p(const NodeState& self, const NodeState& peer, bool tie,
              const SplitBrainPolicy& policy, HandshakeDecision& d,
              std::vector<std::string>& why) {
  switch (policy.after_sb_2pri) {
    case AfterSb2Pri::kDisconnect:
      why.push_back("after-sb-2pri is \"disconnect\": no automatic recovery.");
      return -100;
    case AfterSb2Pri::kViolentlyAs0p:
      why.push_back("after-sb-2pri violently-as0p: using after-sb-0pri even "
                    "though it discards a Primary's data.");
      return Recover0p(self, peer, tie, policy, why);
    case AfterSb2Pri::kCallPriLostAfterSb: {
      int hg = Recover0p(self, peer, tie, policy, why);
      return CallPriLost(hg, self, d, why);
    }
  }
  return -100;
}

Outcome OutcomeFor(int hg) {
  if (hg == 0) return Outcome::kNoSync;
  if (hg == 1) return Outcome::kBitmapSyncSource;
  if (hg == -1) return Outcome::kBitmapSyncTarget;
  return hg > 0 ? Outcome::kFullSyncSource : Outcome::kFullSyncTarget;
}

}  // namespace

bool ResolvesConflicts(uint32_t self_node_id, uint32_t peer_node_id) {
  HAFS_CHECK(self_node_id != peer_node_id)
      << "both nodes have node id " << self_node_id;
  return self_node_id > peer_node_id;
}

absl::string_view HandlerName(Handler h) {
  switch (h) {
    case Handler::kInitialSplitBrain: return "initial-split-brain";
    case Handler::kSplitBrain: return "split-brain";
    case Handler::kPriLostAfterSb: return "pri-lost-after-sb";
    case Handler::kPriLost: return "pri-lost";
  }
  return "?";
}

absl::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNoSync: return "NoSync";
    case Outcome::kBitmapSyncSource: return "BitmapSyncSource";
    case Outcome::kBitmapSyncTarget: return "BitmapSyncTarget";
    case Outcome::kFullSyncSource: return "FullSyncSource";
    case Outcome::kFullSyncTarget: return "FullSyncTarget";
    case Outcome::kSplitBrainDisconnect: return "SplitBrainDisconnect";
    case Outcome::kUnrelatedData: return "UnrelatedData";
    case Outcome::kInconsistentSource: return "InconsistentSource";
    case Outcome::kPrimaryTargetRefused: return "PrimaryTargetRefused";
    case Outcome::kRetryConnect: return "RetryConnect";
  }
  return "?";
}

bool HandshakeDecision::connects() const {
  if (dry_run) return false;
  switch (outcome) {
    case Outcome::kNoSync:
    case Outcome::kBitmapSyncSource:
    case Outcome::kBitmapSyncTarget:
    case Outcome::kFullSyncSource:
    case Outcome::kFullSyncTarget:
      return true;
    default:
      return false;
  }
}

GenerationComparison CompareGenerations(const NodeState& self_node,
                                        const NodeState& peer_node,
                                        bool self_resolves_conflicts) {
  const GenerationIds& s = self_node.gi;
  const GenerationIds& p = peer_node.gi;
  GenerationComparison r;
  auto done = [&r](int rule, int result, std::string why) {
    r.rule = rule;
    r.result = result;
    r.explanation = absl::StrCat("rule ", rule, ": ", why, ": ",
                                 result == 100    ? "split brain, automatic recovery allowed"
                                 : result == -100 ? "split brain, disconnect"
                                 : result == -1000
                                     ? "unrelated data, aborting"
                                     : Direction(result));
    return r;
  };

  const uint64_t self_cur = MaskedUuid(s.current);
  const uint64_t peer_cur = MaskedUuid(p.current);

  if (self_cur == kUuidJustCreated && peer_cur == kUuidJustCreated) {
    return done(10, 0,
                "both nodes have just-created metadata; start the initial "
                "resync by hand (`hafsctl primary --force` on the node with "
                "the authoritative data, or `hafsctl new-current-uuid "
                "--clear-bitmap` if both disks are known to be identical)");
  }
  if ((self_cur == kUuidJustCreated || self_cur == 0) &&
      peer_cur != kUuidJustCreated) {
    return done(20, -2,
                "my current UUID is just-created (or unset) and the peer has "
                "data");
  }
  if (self_cur != kUuidJustCreated &&
      (peer_cur == kUuidJustCreated || peer_cur == 0)) {
    return done(30, 2,
                "the peer's current UUID is just-created (or unset) and I "
                "have data");
  }

  if (self_cur == peer_cur) {
    if (p.bitmap == 0 && s.bitmap != 0) {
      if (MaskedUuid(s.bitmap) == MaskedUuid(p.history[0]) &&
          MaskedUuid(s.history[0]) == MaskedUuid(p.history[1])) {
        r.self_fixed = BitmapIntoHistory(s);
        return done(34, 1,
                    "current UUIDs are equal and only I have a bitmap UUID, "
                    "which the peer already has in its history: I was sync "
                    "source and missed the resync-finished event; corrected "
                    "my generation ids");
      }
      return done(36, 1,
                  "current UUIDs are equal and only I have a bitmap UUID: I "
                  "was sync source (the peer failed to write the sync UUID)");
    }
    if (s.bitmap == 0 && p.bitmap != 0) {
      if (MaskedUuid(s.history[0]) == MaskedUuid(p.bitmap) &&
          MaskedUuid(s.history[1]) == MaskedUuid(p.history[0])) {
        r.peer_fixed = BitmapIntoHistory(p);
        return done(35, -1,
                    "current UUIDs are equal and only the peer has a bitmap "
                    "UUID, which I already have in my history: I was sync "
                    "target and the peer missed the resync-finished event; "
                    "corrected the peer's generation ids");
      }
      return done(37, -1,
                  "current UUIDs are equal and only the peer has a bitmap "
                  "UUID: I was sync target (I failed to write the sync UUID)");
    }
    const int rct = (self_node.crashed_primary ? 1 : 0) +
                    (peer_node.crashed_primary ? 2 : 0);
    if (rct == 0) {
      return done(40, 0,
                  "current UUIDs are equal and neither node crashed as "
                  "Primary (a replication link hiccup)");
    }
    const bool self_pri = self_node.role == Role::kPrimary;
    const bool peer_pri = peer_node.role == Role::kPrimary;
    if (self_pri || peer_pri) {
      if (self_pri && peer_pri) {
        return done(41, -100,
                    "current UUIDs are equal, a crashed-primary flag is set "
                    "and both nodes are Primary now without having rotated "
                    "their UUIDs; this cannot be resolved");
      }
      return done(41, self_pri ? 1 : -1,
                  absl::StrCat("current UUIDs are equal, a crashed-primary "
                               "flag is set and ",
                               self_pri ? "I am" : "the peer is",
                               " Primary now (I/O was frozen, no UUID rotation); "
                               "the current Primary's data wins"));
    }
    switch (rct) {
      case 1:
        return done(40, 1,
                    "current UUIDs are equal and I crashed as Primary (my "
                    "last writes may be missing on the peer)");
      case 2:
        return done(40, -1,
                    "current UUIDs are equal and the peer crashed as Primary");
      default:
        return done(40, self_resolves_conflicts ? -1 : 1,
                    absl::StrCat("current UUIDs are equal and both nodes "
                                 "crashed as Primary; ",
                                 self_resolves_conflicts ? "this node" : "the peer",
                                 " holds the resolve-conflicts tie bit and "
                                 "becomes sync target"));
    }
  }

  if (self_cur == MaskedUuid(p.bitmap)) {
    return done(50, -1,
                "my current UUID equals the peer's bitmap UUID: the peer wrote "
                "since we parted and I did not");
  }
  {
    const uint64_t peer_h0 = MaskedUuid(p.history[0]);
    if (self_cur == peer_h0 &&
        peer_h0 + kUuidNewBitmapOffset == MaskedUuid(p.bitmap)) {
      r.peer_fixed = UndoSyncUuid(p);
      return done(51, -1,
                  "my current UUID equals the peer's first history UUID and "
                  "the peer's bitmap UUID is the sync UUID derived from it: "
                  "the last sync-UUID message was lost; undid the peer's "
                  "resync start");
    }
  }
  if (p.InHistory(self_cur)) {
    return done(60, -2, "my current UUID is in the peer's history");
  }
  if (MaskedUuid(s.bitmap) == peer_cur) {
    return done(70, 1, "my bitmap UUID equals the peer's current UUID");
  }
  {
    const uint64_t self_h0 = MaskedUuid(s.history[0]);
    if (self_h0 == peer_cur &&
        self_h0 + kUuidNewBitmapOffset == MaskedUuid(s.bitmap)) {
      r.self_fixed = UndoSyncUuid(s);
      return done(71, 1,
                  "my first history UUID equals the peer's current UUID and "
                  "my bitmap UUID is the sync UUID derived from it: the last "
                  "sync-UUID message did not get through; undid my resync "
                  "start");
    }
  }
  if (s.InHistory(peer_cur)) {
    return done(80, 2, "the peer's current UUID is in my history");
  }
  if (MaskedUuid(s.bitmap) == MaskedUuid(p.bitmap) && MaskedUuid(s.bitmap) != 0) {
    return done(90, 100,
                absl::StrCat("both nodes have the same bitmap UUID ",
                             Hex(MaskedUuid(s.bitmap)),
                             ": both changed their data since they were last "
                             "connected"));
  }
  // hafs deviation: DRBD 8.4 also matches two empty (0) history slots here,
  // which turns "unrelated data" into a split brain that --discard-my-data
  // would then "resolve" with a bitmap-based resync of unrelated disks. An
  // empty slot is not a shared generation; hafs skips it.
  for (uint64_t sh : s.history) {
    if (MaskedUuid(sh) == 0) continue;
    for (uint64_t ph : p.history) {
      if (MaskedUuid(sh) == MaskedUuid(ph)) {
        return done(100, -100,
                    absl::StrCat("the nodes share only the history UUID ",
                                 Hex(MaskedUuid(sh)),
                                 ": the data diverged longer ago than the "
                                 "bitmaps cover"));
      }
    }
  }
  return done(100, -1000,
              "no UUID of either node appears in the other's generation ids");
}

HandshakeDecision SyncHandshake(const NodeState& self, const NodeState& peer,
                                bool tie, const SplitBrainPolicy& policy) {
  HandshakeDecision d;
  GenerationComparison cmp = CompareGenerations(self, peer, tie);
  d.compare_result = cmp.result;
  d.rule = cmp.rule;
  d.self_fixed = cmp.self_fixed;
  d.peer_fixed = cmp.peer_fixed;
  d.dry_run = self.dry_run || peer.dry_run;
  std::vector<std::string> why = {cmp.explanation + "."};
  auto finish = [&](Outcome o, int hg) {
    d.outcome = o;
    d.result = hg;
    if (d.dry_run) {
      why.push_back(absl::StrCat(
          "Dry run (", self.dry_run ? "requested here" : "requested by the peer",
          "): nothing is executed and the connection is dropped; a real "
          "connect would end in ",
          OutcomeName(o), "."));
    }
    d.explanation = absl::StrJoin(why, " ");
    return d;
  };

  int hg = cmp.result;
  if (hg == -1000) {
    why.push_back(
        "Unrelated data: these disks never belonged to one mirror pair (or the "
        "metadata was recreated); refusing to connect. If one node's data is "
        "disposable, recreate its metadata (`hafsctl create-md`) so that it "
        "connects as just-created and receives a full resync.");
    return finish(Outcome::kUnrelatedData, hg);
  }

  // hafs deviation from DRBD 8.4 (docs/splitbrain.md): under protocol C every
  // write acknowledged to the application is on the node that did NOT crash,
  // while the crashed Primary may have lost it from its volatile cache. Rule
  // 40 with exactly one crashed Primary therefore resyncs the crashed node's
  // activity-log extents FROM the survivor when the survivor is UpToDate;
  // only writes that were never acknowledged are given up.
  if (cmp.rule == 40 && std::abs(hg) == 1 && policy.protocol == WireProtocol::kC &&
      self.crashed_primary != peer.crashed_primary) {
    const NodeState& survivor = self.crashed_primary ? peer : self;
    if (survivor.disk == DiskState::kUpToDate) {
      hg = self.crashed_primary ? -1 : 1;
      why.push_back(absl::StrCat(
          "Protocol C: every acknowledged write is on the node that did not "
          "crash, so ",
          self.crashed_primary ? "I (the crashed Primary) become sync target"
                               : "I (the surviving node) become sync source",
          " for the crashed Primary's activity-log extents (hafs deviation "
          "from DRBD's rule 40)."));
    }
  }

  d.split_brain = std::abs(hg) == 100;
  const DiskState mydisk = self.disk;
  const DiskState peerdisk = peer.disk;
  if ((mydisk == DiskState::kInconsistent && peerdisk > DiskState::kInconsistent) ||
      (peerdisk == DiskState::kInconsistent && mydisk > DiskState::kInconsistent)) {
    const bool full = hg == -100 || std::abs(hg) == 2;
    hg = mydisk > DiskState::kInconsistent ? 1 : -1;
    if (full) hg *= 2;
    if (d.split_brain) d.recovery = Recovery::kDiskStates;
    why.push_back(absl::StrCat("Exactly one disk is Inconsistent (mine ",
                               DiskStateName(mydisk), ", the peer's ",
                               DiskStateName(peerdisk), "): ", Direction(hg),
                               " due to disk states."));
  }

  if (std::abs(hg) == 100) d.handlers.push_back(Handler::kInitialSplitBrain);

  if (hg == 100 || (hg == -100 && policy.always_asbp)) {
    const int pcount = (self.role == Role::kPrimary ? 1 : 0) +
                       (peer.role == Role::kPrimary ? 1 : 0);
    const bool forced = hg == -100;
    d.primaries = pcount;
    if (forced) {
      why.push_back("always-asbp: applying the after-sb policy to a rule-100 "
                    "split brain.");
    }
    switch (pcount) {
      case 0: hg = Recover0p(self, peer, tie, policy, why); break;
      case 1: hg = Recover1p(self, peer, tie, policy, d, why); break;
      default: hg = Recover2p(self, peer, tie, policy, d, why); break;
    }
    if (std::abs(hg) < 100) {
      d.recovery = Recovery::kAutomatic;
      if (forced) hg *= 2;
      why.push_back(absl::StrCat(
          "Split brain detected with ", pcount,
          " Primaries, automatically resolved: sync from ",
          hg < 0 ? "the peer" : "this node",
          forced ? " (full resync, since the UUIDs were ambiguous)." : "."));
    }
  }

  // hafs deviation from DRBD 8.4: when call-pri-lost-after-sb picked this
  // node as the loser but it could not demote, the peer has already decided to
  // be sync source; the peer's --discard-my-data must not make this node a
  // sync source as well. Refuse instead (see docs/splitbrain.md).
  const bool demotion_failed =
      !d.handlers.empty() && d.handlers.back() == Handler::kPriLostAfterSb;
  if (hg == -100 && demotion_failed &&
      (self.discard_my_data || peer.discard_my_data)) {
    why.push_back("--discard-my-data is not applied: the after-sb policy "
                  "already chose this node as the loser.");
  } else if (hg == -100) {
    if (self.discard_my_data && !peer.discard_my_data) hg = -1;
    if (!self.discard_my_data && peer.discard_my_data) hg = 1;
    if (std::abs(hg) < 100) {
      d.recovery = Recovery::kDiscardMyData;
      why.push_back(absl::StrCat(
          "Split brain manually resolved by --discard-my-data on ",
          hg < 0 ? "this node" : "the peer", ": sync from ",
          hg < 0 ? "the peer" : "this node", " (bitmap-based)."));
    } else if (self.discard_my_data && peer.discard_my_data) {
      why.push_back("Both nodes asked for --discard-my-data; that cannot be "
                    "honoured, run it on one node only.");
    }
  }

  if (hg == -100) {
    d.handlers.push_back(Handler::kSplitBrain);
    why.push_back(absl::StrCat(
        "Split brain detected but not resolved automatically (",
        Changes(self, peer),
        "); the connection is dropped and both nodes keep their data "
        "(StandAlone). ",
        kManualRecoveryHint));
    return finish(Outcome::kSplitBrainDisconnect, hg);
  }

  if (hg > 0 && mydisk <= DiskState::kInconsistent) {
    why.push_back(absl::StrCat("I would become sync source, but my disk is ",
                               DiskStateName(mydisk),
                               "; refusing (the peer must not copy "
                               "unusable data)."));
    return finish(Outcome::kInconsistentSource, hg);
  }

  // A Primary that call-pri-lost-after-sb demotes is Secondary by now.
  if (hg < 0 && self.role == Role::kPrimary && !d.demote_self &&
      self.disk >= DiskState::kConsistent) {
    switch (policy.rr_conflict) {
      case RrConflict::kCallPriLost:
        d.handlers.push_back(Handler::kPriLost);
        why.push_back("rr-conflict call-pri-lost: running the pri-lost "
                      "handler.");
        [[fallthrough]];
      case RrConflict::kDisconnect:
        why.push_back(
            "I would become sync target, but I am Primary: rr-conflict "
            "refuses to overwrite data in use; disconnecting. Demote this "
            "node (`hafsctl secondary`) and reconnect, or promote the other "
            "node instead.");
        return finish(Outcome::kPrimaryTargetRefused, hg);
      case RrConflict::kRetryConnect:
        why.push_back("I would become sync target, but I am Primary: "
                      "rr-conflict retry-connect drops the connection and "
                      "retries later.");
        return finish(Outcome::kRetryConnect, hg);
      case RrConflict::kViolently:
        why.push_back("rr-conflict violently: becoming sync target while "
                      "Primary, violating the stable-data assumption.");
        break;
      case RrConflict::kAutoDiscard:
        // Only a direction that the crashed-primary rule itself chose may be
        // reversed (never one a split-brain recovery chose: the peer would
        // not reverse with us). With rule 41 letting a current Primary win,
        // this does not occur between two hafs nodes; kept for parity.
        if (policy.protocol == WireProtocol::kA && hg == -1 &&
            d.compare_result == -1 && d.rule == 40) {
          hg = 1;
          why.push_back("rr-conflict auto-discard (protocol A, crashed "
                        "Primary): reversing the resync so that the current "
                        "Primary is sync source; the crashed Primary's "
                        "unreplicated last writes are discarded.");
          break;
        }
        why.push_back("I would become sync target, but I am Primary; "
                      "rr-conflict auto-discard only applies to a crashed "
                      "Primary under protocol A; disconnecting.");
        return finish(Outcome::kPrimaryTargetRefused, hg);
    }
  }

  if (hg == 0 && self.bitmap_bits > 0) {
    why.push_back(absl::StrCat("No resync, but ", self.bitmap_bits,
                               " bits are set in my bitmap."));
  }
  return finish(OutcomeFor(hg), hg);
}

}  // namespace hafs::splitbrain
