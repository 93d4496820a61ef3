// File: libhafs/cluster/quorum.h
// -----------------------------------------------------------------------------
// Quorum for a two-node cluster, as seen by one node. Pure: time comes in as
// absl::Time arguments. See docs/cluster.md "Quorum" for the argument why two
// nodes never both hold quorum-without-the-peer.
//
// Modes:
//   kDisabled  always quorate (Heartbeat v1 behaviour; split brain possible,
//              detected later through data generations).
//   kTwoNode   corosync votequorum two_node: quorum is 1 vote, which implies
//              wait_for_all: quorate only once the peer has been seen connected
//              since start; afterwards always quorate (fencing must then
//              prevent split brain).
//   kWitness   3 votes (self, peer, witness); quorate iff the peer's vote is
//              held (connected) or the witness granted this node its vote.
//
// Votes are leases:
//   * Peer vote. Every heartbeat echoes the highest sequence received from the
//     peer. When the peer echoes our seq s, we hold its vote until
//     send_time(s) + peer_lease (our clock). By echoing, a node *promises* its
//     vote to the peer until recv_time(echoed seq) + peer_lease * (1+d)/(1-d)
//     (d = max_clock_drift). A node does not count a witness grant while such
//     a promise to a possibly-primary peer is outstanding, and stops echoing
//     while it holds a grant and is not connected.
//   * Witness vote. A grant with lease L is valid at the holder until
//     request_send_time + L * (1-d)/(1+d); the witness (witness.h) gives the
//     vote to nobody else until L after its decision, on its own clock. Only
//     a fresh grant requested after the peer's vote expired counts for solo
//     quorum (SoloValid), so every solo phase has its own witness term.
//
// Thread-safety: none; one owner.
//
// Example:
//   QuorumTracker q(opts, now);
//   hb.set_echo_seq(q.OnSend(seq, now));                 // outgoing heartbeat
//   q.OnPeerHeartbeat(body.seq(), hb.echo_seq(), now);   // incoming
//   if (q.WantWitness(now, is_primary)) { q.OnWitnessRequest(wseq, now); Send(...); }
//   if (q.OnWitnessReply(answer, now)) MarkDiskOutdated();
//   bool ok = q.Quorate(now, peer_maybe_primary);
#ifndef HAFS_LIBHAFS_CLUSTER_QUORUM_H_
#define HAFS_LIBHAFS_CLUSTER_QUORUM_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hafs::cluster {

enum class QuorumMode { kDisabled, kTwoNode, kWitness };
// What a primary does when it loses quorum (docs/cluster.md).
enum class QuorumLossAction {
  kDemote,     // demote to secondary (stop resources first)
  kSuspendIo,  // stay primary, freeze I/O until quorum returns (DRBD suspend-io)
  kFailIo,     // stay primary, fail I/O with EIO (DRBD io-error)
};
const char* QuorumModeName(QuorumMode m);
const char* QuorumLossActionName(QuorumLossAction a);

struct QuorumOptions {
  QuorumMode mode = QuorumMode::kWitness;
  bool wait_for_all = false;  // forced on by kTwoNode
  absl::Duration peer_lease = absl::Seconds(10);     // usually = deadtime
  absl::Duration witness_lease = absl::Seconds(10);  // as granted by the witness
  double max_clock_drift = 0.01;                     // relative rate error bound
  QuorumLossAction loss_action = QuorumLossAction::kDemote;
};

// Fills implied settings and checks ranges: leases > 0, drift in [0, 0.1],
// two_node implies wait_for_all (an explicit `wait_for_all=false` with
// kTwoNode is rejected by the config layer; here it is simply forced).
absl::StatusOr<QuorumOptions> ValidateQuorum(const QuorumOptions& in);

class QuorumTracker {
 public:
  // REQUIRES: `opts` came from ValidateQuorum(). `start` is this incarnation's
  // start: promises a previous incarnation made are assumed outstanding until
  // start + peer_lease * (1+d)/(1-d).
  QuorumTracker(const QuorumOptions& opts, absl::Time start,
                uint64_t known_term = 0);

  // Our heartbeat with sequence `seq` leaves now. Returns the echo_seq to put
  // in it (0 = none: nothing heard yet, or withholding).
  uint64_t OnSend(uint64_t seq, absl::Time now);
  // An authenticated heartbeat from the peer: its seq and its echo of ours.
  void OnPeerHeartbeat(uint64_t peer_seq, uint64_t echo_seq, absl::Time now);
  // The peer restarted (new incarnation): forget its sequence numbers.
  void OnPeerRestart();

  // kWitness only: whether to ask the witness now (this also renews a held
  // grant): for a primary once half the peer's lease is gone, for a secondary
  // once the peer's vote is gone, so that the primary asks first.
  bool WantWitness(absl::Time now, bool primary) const;
  // Records that witness request `request_seq` leaves now. Returns the
  // request's `fresh` flag: true unless this node holds a grant valid for the
  // current disconnected phase, so the witness opens a new term (see
  // "solo phase" below).
  bool OnWitnessRequest(uint64_t request_seq, absl::Time now);
  // The witness's answer. Unknown/old request ids are ignored. Returns true
  // if the answer shows that the peer may have written without us, i.e. our
  // data may be outdated (the caller marks the disk Outdated and persists it):
  // the peer held a witness term newer than any we know of (`peer_term`, from
  // the answer's other_holder/other_term). For a refusal this only counts
  // while we are not connected (connected, its data reaches us anyway).
  struct WitnessAnswer {
    uint64_t request_seq = 0;
    bool granted = false;
    absl::Duration lease;
    uint64_t term = 0;        // the witness's current term
    uint64_t peer_term = 0;   // other_term if other_holder is the peer, else 0
  };
  bool OnWitnessReply(const WitnessAnswer& a, absl::Time now);
  // The peer's known term from a heartbeat with echo `echo_seq`; adopted only
  // if that heartbeat echoed us (a peer in a solo phase withholds its echo, so
  // its terms are not "known" to us until it reconnects) and we are connected
  // (the data of those terms then reaches us through resync).
  void OnPeerKnownTerm(uint64_t term, uint64_t echo_seq, absl::Time now);
  // Highest witness term this node knows of; persist it (with the data
  // generation) and pass it to the next incarnation's constructor.
  uint64_t known_term() const { return known_term_; }

  bool Connected(absl::Time now) const { return now < peer_lease_until_; }
  bool GrantValid(absl::Time now) const { return now < grant_until_; }
  // Solo phase: a grant counts for quorum without the peer only if it came
  // from a fresh request sent after the peer's vote expired (a new witness
  // term that the peer cannot have learned while connected). A reconnection
  // ends the phase; the next one needs a new fresh grant.
  bool SoloValid(absl::Time now) const;
  // Not quorate now but holding a grant from before the disconnect while a
  // fresh one is due: a primary freezes I/O (it does not demote) meanwhile.
  bool QuorumPending(absl::Time now) const;
  // `peer_maybe_primary`: the peer's last known role was primary or it has a
  // promote intent this node acked (from the role manager).
  bool Quorate(absl::Time now, bool peer_maybe_primary) const;
  // Whether the peer has ever been connected during this incarnation.
  bool SeenAll() const { return seen_all_; }
  // Earliest time at which Connected/GrantValid/promise state may change.
  absl::Time NextDeadline(absl::Time now) const;
  const QuorumOptions& options() const { return opts_; }


 private:
  QuorumOptions opts_;
  absl::Duration promise_len_;
  std::map<uint64_t, absl::Time> sent_;  // our seq -> send time (recent)
  uint64_t peer_seq_ = 0;
  absl::Time peer_seq_recv_ = absl::InfinitePast();
  absl::Time peer_lease_until_ = absl::InfinitePast();
  absl::Time promise_until_;
  bool seen_all_ = false;
  struct SentRequest {
    absl::Time at;
    bool fresh;
  };
  std::map<uint64_t, SentRequest> witness_sent_;
  absl::Time grant_until_ = absl::InfinitePast();
  absl::Time solo_phase_start_ = absl::InfinitePast();
  uint64_t known_term_ = 0;
  uint64_t peer_term_seen_ = 0;  // from refusals; known once connected
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_QUORUM_H_
