#include "libhafs/cluster/role_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hafs::cluster {


const char* RoleActionName(RoleAction::Type t) {
  using T = RoleAction::Type;
  switch (t) {
    case T::kPromote: return "promote";
    case T::kDemote: return "demote";
    case T::kRunFencePeer: return "run-fence-peer";
    case T::kSuspendIo: return "suspend-io";
    case T::kResumeIo: return "resume-io";
    case T::kFailIo: return "fail-io";
    case T::kSplitBrain: return "split-brain";
    case T::kSyncFromPeer: return "sync-from-peer";
  }
  return "?";
}

namespace {
uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
bool FenceAllows(int r) {
  return r == kFencePeerInconsistent || r == kFencePeerOutdated ||
         r == kFencePeerStonithed;
}
bool Contains(const std::vector<uint64_t>& v, uint64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
}  // namespace

RoleManager::RoleManager(const RoleOptions& opts, PersistedRoleState persisted)
    : opts_(opts), persisted_(std::move(persisted)) {
  if (opts_.confirm_demote) {
    demoting_ = true;  // until the executor found nothing running here
    io_ = IoState::kFailing;
  }
}

void RoleManager::OnPeerStatus(const PeerStatus& s) {
  if (peer_.has_value() && s.seq != 0 && s.seq <= peer_->seq) return;  // stale
  peer_ = s;
  if (!s.promote_intent) acked_peer_seq_ = 0;
}

void RoleManager::OnPeerRestart() {
  peer_.reset();
  acked_peer_seq_ = 0;
}

void RoleManager::OnFenceResult(int exit_code, absl::Time now) {
  fencing_ = false;
  fence_result_ = exit_code;
  if (!FenceAllows(exit_code)) fence_retry_at_ = now + opts_.fence_retry;
}

bool RoleManager::PeerMaybePrimary() const {
  return peer_.has_value() &&
         (peer_->role == Role::kPrimary || peer_->demoting || acked_peer_seq_ != 0);
}

int RoleManager::Score(NodeId n, bool candidate, bool takeover) const {
  if (!candidate) return -1;
  int s = 0;
  if (takeover) s += 2 * kInfiniteScore;  // beats infinite stickiness
  if (opts_.preferred != 0 && n == opts_.preferred) s += opts_.preference;
  bool current = n == opts_.self ? role_ == Role::kPrimary
                                 : (peer_.has_value() && peer_->role == Role::kPrimary);
  if (current) s += opts_.auto_failback ? opts_.stickiness : kInfiniteScore;
  return s;
}

bool RoleManager::SelfCandidate(const RoleInputs& in) const {
  return !standby_ && !banned_ && (in.disk == DiskState::kUpToDate || force_);
}

bool RoleManager::PeerDesignated(const RoleInputs& in) const {
  if (!peer_.has_value()) return false;
  bool self_cand = SelfCandidate(in);
  bool peer_cand = !peer_->standby && peer_->disk == DiskState::kUpToDate;
  int ss = Score(opts_.self, self_cand, takeover_);
  int ps = Score(opts_.peer, peer_cand, peer_->takeover);
  if (ss != ps) return ps > ss;
  if (role_ == Role::kPrimary) return false;
  if (peer_->role == Role::kPrimary) return true;
  return opts_.peer < opts_.self;
}

void RoleManager::NewGeneration() {
  auto& h = persisted_.history;
  h.insert(h.begin(), persisted_.generation);
  if (h.size() > 8) h.resize(8);
  persisted_.generation =
      Mix(Mix(opts_.self) ^ Mix(opts_.incarnation * 1000003 + ++gen_counter_));
}

void RoleManager::CompareGenerations(std::vector<RoleAction>& out) {
  if (!peer_.has_value() || split_brain_) return;
  uint64_t mine = persisted_.generation, theirs = peer_->generation;
  if (theirs == 0 || mine == theirs) return;
  if (Contains(persisted_.history, theirs)) return;  // we are ahead
  if (Contains(peer_->history, mine) && role_ == Role::kSecondary) {
    persisted_.generation = theirs;
    persisted_.history = peer_->history;
    out.push_back({RoleAction::Type::kSyncFromPeer,
                   absl::StrCat("peer generation ", absl::Hex(theirs),
                                " is ahead of ours ", absl::Hex(mine))});
    return;
  }
  split_brain_ = true;
  out.push_back({RoleAction::Type::kSplitBrain,
                 absl::StrCat("data generations diverged: ours ", absl::Hex(mine),
                              ", peer's ", absl::Hex(theirs),
                              "; manual recovery: discard-my-data on the victim")});
}

void RoleManager::Promote(std::vector<RoleAction>& out, const std::string& why) {
  role_ = Role::kPrimary;
  demoting_ = false;
  intent_ = false;
  intent_seq_ = 0;
  takeover_ = false;
  force_ = false;
  blocked_.clear();
  if (io_ != IoState::kRunning) out.push_back({RoleAction::Type::kResumeIo, "promoting"});
  io_ = IoState::kRunning;
  out.push_back({RoleAction::Type::kPromote, why});
}

void RoleManager::Demote(std::vector<RoleAction>& out, const std::string& why, bool fail_io) {
  role_ = Role::kSecondary;
  demoting_ = opts_.confirm_demote;
  ++demote_seq_;
  // I/O during the stop: a handover keeps serving until the resources are
  // down (the peer waits, see RoleOptions::confirm_demote); a node that lost
  // quorum may already have been replaced and fails I/O at once (DRBD's
  // on-no-quorum io-error) so that the stop (unmount) finishes without
  // writing.
  const IoState io = fail_io ? IoState::kFailing : IoState::kRunning;
  if (io_ != io) {
    out.push_back({fail_io ? RoleAction::Type::kFailIo : RoleAction::Type::kResumeIo,
                   absl::StrCat(why, ": ", fail_io ? "failing I/O while the resources stop"
                                                   : "I/O runs while the resources stop")});
  }
  io_ = io;
  out.push_back({RoleAction::Type::kDemote, why});
}

std::vector<RoleAction> RoleManager::DiscardMyData() {
  std::vector<RoleAction> out;
  if (!peer_.has_value()) return out;
  if (role_ == Role::kPrimary) {
    Demote(out, "discard-my-data: split-brain victim", /*fail_io=*/true);
  }
  persisted_.generation = peer_->generation;
  persisted_.history = peer_->history;
  split_brain_ = false;
  out.push_back({RoleAction::Type::kSyncFromPeer, "discard-my-data"});
  return out;
}

void RoleManager::OnLocalPause(absl::Time now) {
  if (!was_connected_ && disconnected_since_ != absl::InfinitePast()) disconnected_since_ = now;
}

std::vector<RoleAction> RoleManager::Update(absl::Time now, const RoleInputs& in) {
  std::vector<RoleAction> out;
  disk_ = in.disk;
  if (in.connected && !was_connected_) {
    fence_result_.reset();
    fencing_ = false;
    new_gen_this_disconnect_ = false;
  }
  if (!in.connected && (was_connected_ || disconnected_since_ == absl::InfinitePast())) {
    disconnected_since_ = now;
  }
  was_connected_ = in.connected;

  if (in.connected) {
    CompareGenerations(out);
    if (peer_.has_value() && peer_->role == Role::kPrimary && role_ == Role::kPrimary &&
        !split_brain_) {
      split_brain_ = true;
      out.push_back({RoleAction::Type::kSplitBrain, "both nodes are primary"});
    }
  }

  if (role_ == Role::kPrimary) {
    blocked_.clear();
    if (banned_) {
      // Before the quorum rules: whatever quorum says, the resources cannot
      // run here any more.
      Demote(out,
             in.connected ? "resources banned here: handing over to the peer"
                          : "resources banned here and no peer to hand over to",
             /*fail_io=*/!in.quorate || !in.connected);
      return out;
    }
    if (!in.quorate && in.quorum_pending) {
      if (io_ == IoState::kRunning) {
        io_ = IoState::kSuspended;
        out.push_back({RoleAction::Type::kSuspendIo, "awaiting a fresh witness grant"});
      }
      return out;
    }
    if (!in.quorate) {
      switch (opts_.loss_action) {
        case QuorumLossAction::kDemote:
          Demote(out, "quorum lost", /*fail_io=*/true);
          break;
        case QuorumLossAction::kSuspendIo:
          if (io_ != IoState::kSuspended) {
            io_ = IoState::kSuspended;
            out.push_back({RoleAction::Type::kSuspendIo, "quorum lost"});
          }
          break;
        case QuorumLossAction::kFailIo:
          if (io_ != IoState::kFailing) {
            io_ = IoState::kFailing;
            out.push_back({RoleAction::Type::kFailIo, "quorum lost"});
          }
          break;
      }
      return out;
    }
    if (io_ != IoState::kRunning) {
      io_ = IoState::kRunning;
      out.push_back({RoleAction::Type::kResumeIo, "quorum regained"});
    }
    if (!in.connected && !new_gen_this_disconnect_) {
      NewGeneration();  // writes from now on are not on the peer
      new_gen_this_disconnect_ = true;
    }
    if (in.connected && PeerDesignated(in) && !split_brain_) {
      Demote(out, peer_->takeover ? "peer requested takeover"
                  : standby_      ? "standby: handing over to the peer"
                  : !SelfCandidate(in) && !banned_
                      ? absl::StrCat("local disk is ", DiskStateName(in.disk),
                                     ": handing over to the peer (UpToDate)")
                      : "failback: the peer is the designated primary");
    }
    return out;
  }

  // Secondary.
  auto block = [&](std::string why) {
    blocked_ = std::move(why);
    return out;
  };
  if (demoting_ && io_ == IoState::kRunning && (!in.quorate || !in.connected)) {
    // Still stopping the resources of a handover, and the peer may promote
    // without us (or already has): no more writes, which the peer would
    // never see.
    io_ = IoState::kFailing;
    out.push_back({RoleAction::Type::kFailIo,
                   !in.quorate ? "quorum lost while the resources stop"
                               : "peer unreachable while the resources stop"});
  }
  if (!in.quorate) {
    intent_ = false;
    return block("no quorum");
  }
  if (split_brain_) {
    intent_ = false;
    return block("split brain: manual recovery required");
  }
  if (demoting_) {
    intent_ = false;
    return block("demoting: waiting for the resources to stop here");
  }
  if (banned_) {
    intent_ = false;
    return block("resources banned here after repeated failures (until their "
                 "failure-timeout, or a cleanup)");
  }
  bool fenced_ok = fence_result_.has_value() && FenceAllows(*fence_result_);
  bool disk_ok = in.disk == DiskState::kUpToDate || force_ ||
                 (in.disk == DiskState::kConsistent && fenced_ok);

  if (in.connected && peer_.has_value()) {
    if (peer_->role == Role::kPrimary) {
      intent_ = false;
      return block("peer is primary");
    }
    if (acked_peer_seq_ != 0) {
      intent_ = false;
      return block("acknowledged the peer's promote intent");
    }
    if (!disk_ok) {
      intent_ = false;
      return block(absl::StrCat("local disk is ", DiskStateName(in.disk)));
    }
    if (PeerDesignated(in) || standby_) {
      intent_ = false;
      return block("the peer is the designated primary");
    }
    if (!intent_) {
      intent_ = true;
      intent_seq_ = 0;
    }
    if (intent_seq_ != 0 && peer_->intent_ack_seq >= intent_seq_ &&
        peer_->role == Role::kSecondary) {
      Promote(out, "designated primary; the peer acknowledged");
      return out;
    }
    return block("waiting for the peer to acknowledge the promote intent");
  }

  intent_ = false;
  bool peer_lost = in.peer_dead || now - disconnected_since_ >= opts_.deadtime;
  if (!peer_lost) return block("peer not lost yet");
  if (opts_.fencing != FencingPolicy::kDontCare) {
    if (fence_result_.has_value() && !FenceAllows(*fence_result_) &&
        !(*fence_result_ == kFencePeerUnreachable &&
          opts_.fencing == FencingPolicy::kResourceOnly &&
          in.disk == DiskState::kUpToDate)) {
      if (now < fence_retry_at_) {
        return block(absl::StrCat("fence-peer exited ", *fence_result_,
                                  "; retrying at ", absl::FormatTime(fence_retry_at_)));
      }
      fence_result_.reset();
    }
    if (!fence_result_.has_value()) {
      if (!fencing_) {
        fencing_ = true;
        out.push_back({RoleAction::Type::kRunFencePeer, "peer lost; fencing before promotion"});
      }
      return block("fencing the peer");
    }
  }
  if (!disk_ok) return block(absl::StrCat("local disk is ", DiskStateName(in.disk),
                                          "; refusing to promote without --force"));
  Promote(out, in.peer_dead ? "peer dead" : "peer disconnected for deadtime");
  NewGeneration();
  new_gen_this_disconnect_ = true;
  return out;
}

LocalStatus RoleManager::MakeStatus(uint64_t seq) {
  // A demoting node still runs the service: it acknowledges no promote
  // intent until its resources have stopped (the peer promotes only on an
  // acknowledgement while connected).
  if (peer_.has_value() && peer_->promote_intent && role_ == Role::kSecondary && !demoting_) {
    bool peer_wins = !intent_ || opts_.peer < opts_.self;
    if (peer_wins) {
      intent_ = false;
      intent_seq_ = 0;
      acked_peer_seq_ = std::max(acked_peer_seq_, peer_->seq);
    }
  }
  if (intent_ && intent_seq_ == 0) intent_seq_ = seq;
  return LocalStatus{role_, disk_, standby_ || banned_,
                     takeover_, intent_,             acked_peer_seq_,
                     persisted_.generation, persisted_.history, demoting_};
}

}  // namespace hafs::cluster
