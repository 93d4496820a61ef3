// File: libhafs/cluster/role_manager.h
// -----------------------------------------------------------------------------
// Who is primary: the pure state machine that decides promotion and demotion
// of the replicated volume on one node of a pair (docs/cluster.md "Roles").
// Inputs are the peer's last authenticated status (from heartbeats), quorum
// and connectivity (quorum.h), failure detection (failure_detector.h), the
// local disk state, operator commands and fence-peer results. Outputs are
// actions for the executor (promote, demote, run fence-peer, suspend/resume/
// fail I/O, split brain, resync) and the status to put in our heartbeats.
//
// Rules in short:
//   * Primary needs quorum. While quorum is only pending (a fresh witness
//     grant is on its way) a primary suspends I/O; on quorum loss it applies
//     the configured QuorumLossAction (demote, suspend I/O, fail I/O).
//   * Connected (mutual heartbeats): the node with the higher placement score
//     is the designated primary. score = preference (preferred node) +
//     stickiness (current primary; infinite when auto_failback is off), a
//     takeover request wins, standby or a not-UpToDate disk disqualifies, ties
//     go to the current primary, then the lower node id. A secondary promotes
//     only after the peer, still secondary, acknowledged its promote intent
//     (intent handshake: no simultaneous promotion). A primary that is no
//     longer designated demotes (failback, standby, takeover).
//   * Not connected: a secondary promotes once the peer is lost (dead by the
//     failure detector, or disconnected for deadtime) and quorate, after the
//     fence-peer hook (unless fencing is dont-care) allowed it:
//       3 peer Inconsistent, 4 peer Outdated, 7 peer STONITHed -> promote;
//       5 peer unreachable -> promote only with fencing resource-only and an
//         UpToDate local disk; refused with resource-and-stonith;
//       6 peer refused (it is primary) and anything else -> no promotion,
//         retry after fence_retry.
//   * Resources banned here (the resource executor gave up on this node after
//     repeated failures, Pacemaker's migration-threshold): like standby — not
//     a candidate, advertised as standby so that the peer takes over, and a
//     primary demotes (also without the peer: the service cannot run here).
//   * Disk: only UpToDate promotes, or Consistent after a fence result of
//     3/4/7; Inconsistent, Outdated and Diskless are refused unless forced.
//   * Data generations (DRBD's UUID idea): a primary without its peer starts a
//     new generation; on reconnect equal generations mean in sync, a peer
//     generation found in our history means we are ahead (and vice versa:
//     resync from the peer), anything else is a split brain, reported and
//     never resolved automatically.
//
// Pure: time comes in with Update(). Thread-safety: none; one owner.
//
// Example:
//   RoleManager rm(opts, persisted);
//   rm.OnPeerStatus(status_from_heartbeat);
//   for (const RoleAction& a : rm.Update(now, {.quorate = q, .connected = c,
//                                              .peer_dead = d, .disk = disk}))
//     executor.Run(a);
//   FillHeartbeat(rm.LocalStatus(next_seq));
#ifndef HAFS_LIBHAFS_CLUSTER_ROLE_MANAGER_H_
#define HAFS_LIBHAFS_CLUSTER_ROLE_MANAGER_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/cluster/failure_detector.h"
#include "libhafs/cluster/quorum.h"
#include "libhafs/splitbrain/handshake.h"

namespace hafs::cluster {

// The mirror's role and disk-state types (DRBD's), shared by every component.
using splitbrain::DiskState;
using splitbrain::DiskStateName;
using splitbrain::Role;
using splitbrain::RoleName;
enum class FencingPolicy { kDontCare, kResourceOnly, kResourceAndStonith };
enum class IoState { kRunning, kSuspended, kFailing };

// DRBD fence-peer handler exit codes (DRBD user's guide, internals).
enum FencePeerExit : int {
  kFencePeerInconsistent = 3,
  kFencePeerOutdated = 4,
  kFencePeerUnreachable = 5,
  kFencePeerRefusedPrimary = 6,
  kFencePeerStonithed = 7,
};

inline constexpr int kInfiniteScore = std::numeric_limits<int>::max() / 4;

struct RoleOptions {
  NodeId self = 0;
  NodeId peer = 0;
  NodeId preferred = 0;        // 0 = no preference
  bool auto_failback = false;  // off = infinite stickiness
  int preference = 100;
  int stickiness = 0;          // used when auto_failback is on
  FencingPolicy fencing = FencingPolicy::kResourceOnly;
  QuorumLossAction loss_action = QuorumLossAction::kDemote;
  absl::Duration deadtime = absl::Seconds(10);
  absl::Duration fence_retry = absl::Seconds(5);
  uint64_t incarnation = 1;  // makes new generations unique per boot
  // Pacemaker's stop-before-start across nodes. Off: a kDemote takes effect at
  // once (the node may acknowledge the peer's promote intent in its next
  // heartbeat). On: after a kDemote the node still counts as an active
  // Primary (ActivePrimary, while its I/O runs), tells the peer it is
  // demoting (the peer counts it as a possible primary for its quorum
  // promises) and acknowledges no promote intent — without which a connected
  // peer does not promote — until OnDemoteDone() says its resources have
  // stopped (the volume is Secondary, the file system unmounted, the address
  // removed). The peer
  // then cannot start the service while it still runs here, also when the
  // replication link is down; a stop that never completes keeps the peer
  // from taking over while connected (as a failed stop without fencing
  // blocks Pacemaker). A node also starts out demoting (and, in this model,
  // with I/O failing: nothing may be written here before a promotion; hafsd's
  // volume is Secondary then anyway): resources a previous process left
  // behind (a mount, an address) must be found and stopped before the peer
  // may start its own. hafsd turns it on.
  bool confirm_demote = false;
};

// What this node persisted (DRBD metadata): survives crashes.
struct PersistedRoleState {
  uint64_t generation = 1;
  std::vector<uint64_t> history;  // most recent first
};

// The peer's status as carried in its last accepted heartbeat.
struct PeerStatus {
  uint64_t seq = 0;  // the heartbeat's Body.seq
  Role role = Role::kSecondary;
  DiskState disk = DiskState::kDiskless;
  bool standby = false;
  bool takeover = false;
  bool promote_intent = false;
  uint64_t intent_ack_seq = 0;  // our seq whose intent the peer acked
  uint64_t generation = 0;
  std::vector<uint64_t> history;
  bool demoting = false;  // Heartbeat.demoting
};

// Our status for the next heartbeat.
struct LocalStatus {
  Role role;
  DiskState disk;
  bool standby, takeover, promote_intent;
  uint64_t intent_ack_seq;
  uint64_t generation;
  std::vector<uint64_t> history;
  bool demoting = false;  // resources still stopping after a demotion (or since boot)
};

struct RoleInputs {
  bool quorate = false;
  bool connected = false;  // QuorumTracker::Connected
  bool peer_dead = false;  // FailureDetector node state dead
  bool quorum_pending = false;  // QuorumTracker::QuorumPending: freeze, don't demote
  DiskState disk = DiskState::kUpToDate;
};

struct RoleAction {
  enum class Type {
    kPromote,
    kDemote,
    kRunFencePeer,
    kSuspendIo,
    kResumeIo,
    kFailIo,
    kSplitBrain,     // generations diverged: manual recovery required
    kSyncFromPeer,   // the peer is ahead: become its sync target
  };
  Type type;
  std::string reason;
};
const char* RoleActionName(RoleAction::Type t);

class RoleManager {
 public:
  RoleManager(const RoleOptions& opts, PersistedRoleState persisted);

  void OnPeerStatus(const PeerStatus& s);
  void OnPeerRestart();  // forget the old incarnation's status
  // This node did not run until `now` (the failure detector's kSelfPaused):
  // a disconnection that began before does not count towards deadtime.
  void OnLocalPause(absl::Time now);
  // Result of the kRunFencePeer action (the command's exit code).
  void OnFenceResult(int exit_code, absl::Time now);

  // Operator commands (hb_standby / hb_takeover / drbdadm primary --force).
  void SetStandby(bool on) { standby_ = on; }
  // The resource group may not run on this node (executor ban), or may again.
  void SetResourcesBanned(bool on) { banned_ = on; }
  // The resources have stopped after the demotion numbered `demote_seq`
  // (demote_seq() when the kDemote was issued; 0 for the one pending since
  // construction, see RoleOptions::confirm_demote). A report for an older
  // demotion is ignored: the resources may have been started since.
  void OnDemoteDone(uint64_t demote_seq) {
    if (AwaitsDemoteDone(demote_seq)) demoting_ = false;
  }
  // OnDemoteDone(demote_seq) would complete a demotion.
  bool AwaitsDemoteDone(uint64_t demote_seq) const {
    return demoting_ && demote_seq == demote_seq_;
  }
  uint64_t demote_seq() const { return demote_seq_; }
  void Takeover() { takeover_ = true; }
  void ForcePromote() { force_ = true; }
  // Manual split-brain recovery on the victim: adopt the peer's data
  // (drbdadm connect --discard-my-data). Demotes first if primary.
  std::vector<RoleAction> DiscardMyData();
  // Manual split-brain recovery on the survivor (drbdadm connect): keeps its
  // data and clears the split-brain flag so that the victim can sync from it.
  void SplitBrainResolved() { split_brain_ = false; }

  std::vector<RoleAction> Update(absl::Time now, const RoleInputs& in);

  // `seq` is the sequence number of the heartbeat the status will ride in.
  LocalStatus MakeStatus(uint64_t seq);

  Role role() const { return role_; }
  IoState io() const { return io_; }
  // Primary with I/O running, or demoting with its resources still up: the
  // node serves writes.
  bool ActivePrimary() const {
    return (role_ == Role::kPrimary || demoting_) && io_ == IoState::kRunning;
  }
  // A kDemote was issued and OnDemoteDone has not been called yet.
  bool demoting() const { return demoting_; }
  bool PeerMaybePrimary() const;
  bool split_brain() const { return split_brain_; }
  const PersistedRoleState& persisted() const { return persisted_; }
  // Why a secondary does not promote right now ("" if it would / is primary).
  const std::string& blocked_reason() const { return blocked_; }

 private:
  int Score(NodeId n, bool candidate, bool takeover) const;
  bool PeerDesignated(const RoleInputs& in) const;
  // This node may run the service (not standby or banned, disk UpToDate or forced).
  bool SelfCandidate(const RoleInputs& in) const;
  void NewGeneration();
  void CompareGenerations(std::vector<RoleAction>& out);
  void Promote(std::vector<RoleAction>& out, const std::string& why);
  void Demote(std::vector<RoleAction>& out, const std::string& why, bool fail_io = false);

  RoleOptions opts_;
  PersistedRoleState persisted_;
  Role role_ = Role::kSecondary;
  IoState io_ = IoState::kRunning;
  DiskState disk_ = DiskState::kDiskless;
  std::optional<PeerStatus> peer_;
  bool standby_ = false, takeover_ = false, force_ = false;
  bool banned_ = false;  // SetResourcesBanned
  bool demoting_ = false;  // kDemote issued (or booted), resources not reported stopped
  uint64_t demote_seq_ = 0;  // +1 per kDemote
  bool intent_ = false;
  uint64_t intent_seq_ = 0;      // our first seq carrying the intent
  uint64_t acked_peer_seq_ = 0;  // peer seq whose intent we acked
  bool was_connected_ = false;
  absl::Time disconnected_since_ = absl::InfinitePast();
  bool gen_compared_ = false;    // since the current connection began
  bool new_gen_this_disconnect_ = false;
  bool split_brain_ = false;
  // fencing
  bool fencing_ = false;
  std::optional<int> fence_result_;
  absl::Time fence_retry_at_ = absl::InfinitePast();
  uint64_t gen_counter_ = 0;
  std::string blocked_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_ROLE_MANAGER_H_
