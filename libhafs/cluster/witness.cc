#include "libhafs/cluster/witness.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hafs::cluster {

std::optional<NodeId> WitnessArbiter::holder(absl::Time now) const {
  if (holder_.has_value() && now < lease_end_) return holder_;
  return std::nullopt;
}

bool WitnessArbiter::Better(const WitnessRequest& a, const WitnessRequest& b) const {
  if (a.partition.size() != b.partition.size()) {
    return a.partition.size() > b.partition.size();
  }
  if (a.score != b.score) return a.score > b.score;
  if (opts_.keep_active) {
    if (a.primary != b.primary) return a.primary;
    bool a_prev = last_holder_ == a.node, b_prev = last_holder_ == b.node;
    if (a_prev != b_prev) return a_prev;
  }
  switch (opts_.tie_breaker) {
    case WitnessOptions::TieBreaker::kLowest: return a.node < b.node;
    case WitnessOptions::TieBreaker::kHighest: return a.node > b.node;
    case WitnessOptions::TieBreaker::kNode:
      if ((a.node == opts_.tie_breaker_node) != (b.node == opts_.tie_breaker_node)) {
        return a.node == opts_.tie_breaker_node;
      }
      return a.node < b.node;
  }
  return a.node < b.node;
}

WitnessDecision WitnessArbiter::Answer(const WitnessRequest& r, bool granted,
                                       std::string reason) const {
  WitnessDecision d;
  d.node = r.node;
  d.request_seq = r.request_seq;
  d.granted = granted;
  d.term = term_;
  d.lease = granted ? opts_.lease : absl::ZeroDuration();
  d.holder = holder_.value_or(0);
  for (const auto& [node, term] : last_terms_) {
    if (node != r.node && term > d.other_term) {
      d.other_term = term;
      d.other_holder = node;
    }
  }
  d.reason = std::move(reason);
  return d;
}

std::vector<WitnessDecision> WitnessArbiter::OnRequest(const WitnessRequest& req,
                                                       absl::Time now) {
  std::vector<WitnessDecision> out = Tick(now);
  if (holder(now).has_value()) {
    if (*holder_ == req.node) {
      lease_end_ = now + opts_.lease;
      if (req.fresh) {
        last_terms_[req.node] = ++term_;
      }
      out.push_back(Answer(req, true, req.fresh ? "granted (new term)" : "renewed"));
    } else {
      out.push_back(Answer(req, false, absl::StrCat("vote held by node ", *holder_,
                                                    " (term ", term_, ")")));
    }
    return out;
  }
  pending_[req.node] = req;  // a newer request replaces an older one
  if (decide_at_ == absl::InfiniteFuture()) {
    decide_at_ = std::max(now + opts_.decision_window, quiet_until_);
  }
  auto more = Tick(now);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

std::vector<WitnessDecision> WitnessArbiter::Tick(absl::Time now) {
  if (now < decide_at_) return {};
  return Decide(now);
}

std::vector<WitnessDecision> WitnessArbiter::Decide(absl::Time now) {
  std::vector<WitnessDecision> out;
  decide_at_ = absl::InfiniteFuture();
  if (pending_.empty()) return out;
  const WitnessRequest* best = nullptr;
  for (const auto& [node, r] : pending_) {
    if (best == nullptr || Better(r, *best)) best = &r;
  }
  NodeId winner = best->node;
  ++term_;  // every fresh grant opens a new term
  holder_ = winner;
  last_holder_ = winner;
  last_terms_[winner] = term_;
  lease_end_ = now + opts_.lease;
  for (const auto& [node, r] : pending_) {
    out.push_back(node == winner
                      ? Answer(r, true, "granted")
                      : Answer(r, false, absl::StrCat("node ", winner,
                                                      " won the tie-break (term ", term_,
                                                      ")")));
  }
  pending_.clear();
  return out;
}

}  // namespace hafs::cluster
