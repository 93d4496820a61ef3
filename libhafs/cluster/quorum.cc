#include "libhafs/cluster/quorum.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"

namespace hafs::cluster {

const char* QuorumModeName(QuorumMode m) {
  switch (m) {
    case QuorumMode::kDisabled: return "disabled";
    case QuorumMode::kTwoNode: return "two_node";
    case QuorumMode::kWitness: return "witness";
  }
  return "?";
}

const char* QuorumLossActionName(QuorumLossAction a) {
  switch (a) {
    case QuorumLossAction::kDemote: return "demote";
    case QuorumLossAction::kSuspendIo: return "suspend-io";
    case QuorumLossAction::kFailIo: return "fail-io";
  }
  return "?";
}

absl::StatusOr<QuorumOptions> ValidateQuorum(const QuorumOptions& in) {
  QuorumOptions o = in;
  if (o.peer_lease <= absl::ZeroDuration() || o.witness_lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quorum: peer_lease (", absl::FormatDuration(o.peer_lease),
        ") and witness_lease (", absl::FormatDuration(o.witness_lease),
        ") must be > 0"));
  }
  if (!(o.max_clock_drift >= 0 && o.max_clock_drift <= 0.1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quorum: max_clock_drift ", o.max_clock_drift,
        " out of range [0, 0.1]; hint: 0.01 covers NTP-less commodity clocks"));
  }
  if (o.mode == QuorumMode::kTwoNode) o.wait_for_all = true;
  return o;
}

namespace {
double Factor(double d) { return (1 + d) / (1 - d); }
}  // namespace

QuorumTracker::QuorumTracker(const QuorumOptions& opts, absl::Time start,
                             uint64_t known_term)
    : opts_(opts),
      promise_len_(opts.peer_lease * Factor(opts.max_clock_drift)),
      promise_until_(start + promise_len_),
      known_term_(known_term) {}

uint64_t QuorumTracker::OnSend(uint64_t seq, absl::Time now) {
  sent_[seq] = now;
  // Forget send times older than a lease: their echoes are useless.
  while (!sent_.empty() && sent_.begin()->second + opts_.peer_lease < now) {
    sent_.erase(sent_.begin());
  }
  if (peer_seq_ == 0) return 0;
  if (opts_.mode == QuorumMode::kWitness && GrantValid(now) && !Connected(now)) {
    return 0;  // withholding: we are going solo on the witness's vote
  }
  promise_until_ = std::max(promise_until_, peer_seq_recv_ + promise_len_);
  return peer_seq_;
}

void QuorumTracker::OnPeerHeartbeat(uint64_t peer_seq, uint64_t echo_seq,
                                    absl::Time now) {
  if (peer_seq > peer_seq_) {
    peer_seq_ = peer_seq;
    peer_seq_recv_ = now;
  }
  if (echo_seq == 0) return;
  auto it = sent_.find(echo_seq);
  if (it == sent_.end()) return;  // too old or never sent by this incarnation
  absl::Time until = it->second + opts_.peer_lease;
  if (until > now) {
    peer_lease_until_ = std::max(peer_lease_until_, until);
    seen_all_ = true;
    known_term_ = std::max(known_term_, peer_term_seen_);
  }
}

void QuorumTracker::OnPeerRestart() {
  peer_seq_ = 0;
  peer_seq_recv_ = absl::InfinitePast();
}

bool QuorumTracker::WantWitness(absl::Time now, bool primary) const {
  if (opts_.mode != QuorumMode::kWitness) return false;
  // A primary asks (and keeps renewing) once half the peer's lease is gone, a
  // secondary only once the peer's vote is gone: the primary's request reaches
  // the witness first, so a partition does not move the resources. A
  // connected pair lets its grant lapse.
  absl::Duration left = peer_lease_until_ - now;
  return primary ? left < opts_.peer_lease / 2 : left <= absl::ZeroDuration();
}

bool QuorumTracker::OnWitnessRequest(uint64_t request_seq, absl::Time now) {
  bool fresh = !SoloValid(now);
  witness_sent_[request_seq] = {now, fresh};
  while (witness_sent_.size() > 64) witness_sent_.erase(witness_sent_.begin());
  return fresh;
}

bool QuorumTracker::SoloValid(absl::Time now) const {
  return GrantValid(now) && solo_phase_start_ != absl::InfinitePast() &&
         solo_phase_start_ >= peer_lease_until_;
}

bool QuorumTracker::QuorumPending(absl::Time now) const {
  return opts_.mode == QuorumMode::kWitness && !Connected(now) && GrantValid(now) &&
         !SoloValid(now);
}

bool QuorumTracker::OnWitnessReply(const WitnessAnswer& a, absl::Time now) {
  auto it = witness_sent_.find(a.request_seq);
  if (it == witness_sent_.end()) return false;
  absl::Time sent = it->second.at;
  bool fresh = it->second.fresh;
  witness_sent_.erase(witness_sent_.begin(), std::next(it));
  // Terms the peer held are adopted as known once connected: its data then
  // reaches us (or a split brain is detected), and a grant the peer never
  // received was never used.
  peer_term_seen_ = std::max(peer_term_seen_, a.peer_term);
  bool outdated = a.peer_term > known_term_ && (a.granted || !Connected(now));
  if (!a.granted) return outdated;  // never shortens a grant (stale reply)
  if (!outdated) known_term_ = std::max(known_term_, a.term);
  double d = opts_.max_clock_drift;
  grant_until_ = std::max(grant_until_, sent + a.lease * ((1 - d) / (1 + d)));
  if (fresh && sent >= peer_lease_until_) solo_phase_start_ = sent;
  return outdated;
}

void QuorumTracker::OnPeerKnownTerm(uint64_t term, uint64_t echo_seq, absl::Time now) {
  if (echo_seq != 0 && Connected(now)) {
    known_term_ = std::max({known_term_, term, peer_term_seen_});
  }
}

bool QuorumTracker::Quorate(absl::Time now, bool peer_maybe_primary) const {
  switch (opts_.mode) {
    case QuorumMode::kDisabled:
      return true;
    case QuorumMode::kTwoNode:
      return seen_all_;
    case QuorumMode::kWitness:
      if (opts_.wait_for_all && !seen_all_) return false;
      if (Connected(now)) return true;
      return SoloValid(now) && (!peer_maybe_primary || now >= promise_until_);
  }
  return false;
}

absl::Time QuorumTracker::NextDeadline(absl::Time now) const {
  absl::Time t = absl::InfiniteFuture();
  for (absl::Time x : {peer_lease_until_, grant_until_, promise_until_,
                       peer_lease_until_ - opts_.peer_lease / 2}) {
    if (x > now) t = std::min(t, x);
  }
  return t;
}

}  // namespace hafs::cluster
