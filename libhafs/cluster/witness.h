// File: libhafs/cluster/witness.h
// -----------------------------------------------------------------------------
// The witness arbiter: the pure decision core of `hafs-witness` (in the spirit
// of corosync-qnetd's ffsplit algorithm). Nodes that lost their peer ask for
// the witness's vote; the arbiter gives it to exactly one of them at a time,
// as a lease. Every fresh grant (the vote was free, or the holder starts a new
// solo phase) opens a new term; renewals keep it. Every answer names the
// latest term held by another node, so that a node can tell whether its peer
// held the vote in a term it never heard of (and may have written without it).
//
// Rules (docs/cluster.md "Witness tie-breaks"):
//   1. While a lease is held (now < lease_end), only the holder is answered
//      with a grant: a renewal keeps the term, a `fresh` request (the holder
//      starts a new solo phase) opens term+1.
//      Everybody else is refused.
//   2. When the vote is free, requests are collected for `decision_window`
//      (and, after a witness restart, until one lease has passed)
//      (so both sides of a fresh partition compete), then ranked by
//        a. larger partition (ffsplit: most active nodes),
//        b. higher heuristics score,
//        c. keep-active: a node that says it runs the resources (primary),
//           then the previous holder (qnetd's keep_active_partition_tie_breaker),
//        d. tie_breaker: lowest node id (default), highest, or a fixed node.
//      The winner gets the vote in term+1; the others are refused.
//   3. state() (term, last holder, each node's latest term) must survive a
//      witness restart: the caller persists it whenever term() changes.
// Pure: time is passed in. Thread-safety: none; one owner.
//
// Example:
//   WitnessArbiter w(opts);
//   for (auto& r : w.OnRequest({.node = 1, .request_seq = 9, .partition = {1}}, now))
//     Send(r);
//   for (auto& r : w.Tick(now + opts.decision_window)) Send(r);
#ifndef HAFS_LIBHAFS_CLUSTER_WITNESS_H_
#define HAFS_LIBHAFS_CLUSTER_WITNESS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/cluster/failure_detector.h"

namespace hafs::cluster {

struct WitnessOptions {
  absl::Duration lease = absl::Seconds(10);
  absl::Duration decision_window = absl::Milliseconds(200);
  enum class TieBreaker { kLowest, kHighest, kNode } tie_breaker = TieBreaker::kLowest;
  NodeId tie_breaker_node = 0;  // for kNode
  bool keep_active = true;
};

struct WitnessRequest {
  NodeId node = 0;
  uint64_t request_seq = 0;
  std::vector<NodeId> partition;  // nodes the requester is connected to (incl. itself)
  int64_t score = 0;
  bool primary = false;
  bool fresh = false;  // the holder asks for a new term (new solo phase)
};

// What the witness keeps across restarts.
struct WitnessState {
  uint64_t term = 0;
  NodeId last_holder = 0;                  // 0 = none yet
  std::map<NodeId, uint64_t> last_terms;   // latest term each node held
};

struct WitnessDecision {
  NodeId node = 0;  // who the reply goes to
  uint64_t request_seq = 0;
  bool granted = false;
  uint64_t term = 0;
  absl::Duration lease;
  NodeId holder = 0;  // 0 = none
  // The latest term held by a node other than the requester, and that node
  // (0 = none): lets the requester tell whether its peer ran in a term it
  // never heard of, whatever replies it missed.
  NodeId other_holder = 0;
  uint64_t other_term = 0;
  std::string reason;
};

class WitnessArbiter {
 public:
  // `start`: when this witness process started. A restarted witness has lost
  // its grants, so it decides nothing before start + lease (a grant it gave in
  // its previous life has expired by then).
  explicit WitnessArbiter(const WitnessOptions& opts,
                          absl::Time start = absl::InfinitePast(),
                          WitnessState persisted = {})
      : opts_(opts),
        term_(persisted.term),
        last_terms_(persisted.last_terms),
        quiet_until_(start + opts.lease) {
    if (persisted.last_holder != 0) last_holder_ = persisted.last_holder;
  }

  std::vector<WitnessDecision> OnRequest(const WitnessRequest& req, absl::Time now);
  std::vector<WitnessDecision> Tick(absl::Time now);
  // When Tick() next has work (end of a decision window).
  absl::Time NextDeadline() const { return decide_at_; }

  // The current holder, if its lease is running at `now`.
  std::optional<NodeId> holder(absl::Time now) const;
  uint64_t term() const { return term_; }
  WitnessState state() const { return {term_, last_holder_.value_or(0), last_terms_}; }

 private:
  bool Better(const WitnessRequest& a, const WitnessRequest& b) const;
  WitnessDecision Answer(const WitnessRequest& r, bool granted, std::string reason) const;
  std::vector<WitnessDecision> Decide(absl::Time now);

  WitnessOptions opts_;
  std::optional<NodeId> holder_;
  absl::Time lease_end_ = absl::InfinitePast();
  std::optional<NodeId> last_holder_;
  uint64_t term_ = 0;
  std::map<NodeId, uint64_t> last_terms_;
  std::map<NodeId, WitnessRequest> pending_;
  absl::Time decide_at_ = absl::InfiniteFuture();
  absl::Time quiet_until_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_WITNESS_H_
