#include "libhafs/cluster/failure_detector.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"

namespace hafs::cluster {

absl::StatusOr<TimingOptions> ValidateTiming(const TimingOptions& in,
                                             std::vector<std::string>* warnings) {
  TimingOptions t = in;
  auto fmt = [](absl::Duration d) { return absl::FormatDuration(d); };
  if (t.keepalive <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timing: keepalive must be > 0, got ", fmt(t.keepalive)));
  }
  if (t.deadtime <= 2 * t.keepalive) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timing: deadtime (", fmt(t.deadtime),
        ") is too small compared to keepalive (", fmt(t.keepalive),
        "): it must be > 2 x keepalive = ", fmt(2 * t.keepalive),
        "; hint: Heartbeat's sample uses keepalive 2s, deadtime 30s"));
  }
  if (t.warntime < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timing: warntime must be >= 0 (0 = deadtime/2), got ",
                     fmt(t.warntime)));
  }
  if (t.warntime == absl::ZeroDuration()) t.warntime = t.deadtime / 2;
  if (t.warntime <= t.keepalive || t.warntime >= t.deadtime) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timing: warntime (", fmt(t.warntime), ") must lie strictly between ",
        "keepalive (", fmt(t.keepalive), ") and deadtime (", fmt(t.deadtime),
        "); hint: deadtime/2 is a good choice"));
  }
  if (t.initdead < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timing: initdead must be >= 0 (0 = default), got ", fmt(t.initdead)));
  }
  if (t.initdead == absl::ZeroDuration()) {
    if (t.deadtime > absl::Seconds(10)) {
      t.initdead = t.deadtime;
    } else if (t.deadtime < absl::Seconds(6)) {
      t.initdead = absl::Seconds(12);
    } else {
      t.initdead = 2 * t.deadtime;
    }
  }
  if (t.initdead < t.deadtime) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timing: initdead (", fmt(t.initdead), ") is smaller than deadtime (",
        fmt(t.deadtime), "); it must be >= deadtime, ideally >= 2 x deadtime"));
  }
  if (warnings != nullptr) {
    if (t.initdead < 2 * t.deadtime) {
      warnings->push_back(absl::StrCat(
          "timing: initdead (", fmt(t.initdead), ") is less than twice deadtime (",
          fmt(2 * t.deadtime), "); ha.cf recommends at least twice"));
    }
    if (t.initdead < absl::Seconds(10)) {
      warnings->push_back(absl::StrCat(
          "timing: initdead (", fmt(t.initdead),
          ") may be too small; it accounts for slow network startup and should "
          "be >= 10s"));
    }
  }
  return t;
}

const char* LinkStateName(LinkState s) {
  switch (s) {
    case LinkState::kInit: return "init";
    case LinkState::kUp: return "up";
    case LinkState::kLate: return "late";
    case LinkState::kDead: return "dead";
  }
  return "?";
}

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kUnknown: return "unknown";
    case NodeState::kAlive: return "alive";
    case NodeState::kDead: return "dead";
  }
  return "?";
}

const char* EventTypeName(DetectorEvent::Type t) {
  using T = DetectorEvent::Type;
  switch (t) {
    case T::kLinkUp: return "link-up";
    case T::kLinkLate: return "link-late";
    case T::kLinkDead: return "link-dead";
    case T::kNodeAlive: return "node-alive";
    case T::kNodeDead: return "node-dead";
    case T::kNodeRestarted: return "node-restarted";
    case T::kSelfPaused:
      return "self-paused";
  }
  return "?";
}

std::string DebugString(const DetectorEvent& e) {
  std::string s = absl::StrCat(EventTypeName(e.type), " node=", e.node);
  if (e.link >= 0) absl::StrAppend(&s, " link=", e.link);
  if (e.type == DetectorEvent::Type::kSelfPaused) {
    absl::StrAppend(&s, " gap=", absl::FormatDuration(e.gap));
  }
  return s;
}

FailureDetector::FailureDetector(const TimingOptions& timing, std::vector<PeerConfig> peers,
                                 absl::Time start, absl::Duration max_call_gap)
    : timing_(timing), max_call_gap_(max_call_gap), start_(start), now_(start) {
  HAFS_CHECK(timing_.warntime > absl::ZeroDuration() &&
             timing_.initdead >= timing_.deadtime)
      << "FailureDetector needs timing from ValidateTiming()";
  for (auto& pc : peers) {
    HAFS_CHECK(!pc.links.empty()) << "peer " << pc.node << " has no links";
    HAFS_CHECK(Find(pc.node) == nullptr) << "duplicate peer " << pc.node;
    Peer p;
    p.links.resize(pc.links.size());
    p.config = std::move(pc);
    peers_.push_back(std::move(p));
  }
}

FailureDetector::Peer* FailureDetector::Find(NodeId node) {
  for (auto& p : peers_) {
    if (p.config.node == node) return &p;
  }
  return nullptr;
}
const FailureDetector::Peer* FailureDetector::Find(NodeId node) const {
  return const_cast<FailureDetector*>(this)->Find(node);
}

absl::Time FailureDetector::LinkDeadline(const Link& l) const {
  switch (l.state) {
    case LinkState::kInit:
      return std::max(start_ + timing_.initdead, hold_until_);
    case LinkState::kUp:
      return std::max(l.last + timing_.warntime, hold_until_);
    case LinkState::kLate:
      return std::max(l.last + timing_.deadtime, hold_until_);
    case LinkState::kDead: return absl::InfiniteFuture();
  }
  return absl::InfiniteFuture();
}

void FailureDetector::UpdateNode(Peer& p, absl::Time now,
                                 std::vector<DetectorEvent>& out) {
  bool any_live = false;
  bool all_dead = true;
  for (const Link& l : p.links) {
    if (l.state == LinkState::kUp || l.state == LinkState::kLate) any_live = true;
    if (l.state != LinkState::kDead) all_dead = false;
  }
  if (any_live && p.state != NodeState::kAlive) {
    p.state = NodeState::kAlive;
    out.push_back({DetectorEvent::Type::kNodeAlive, p.config.node, -1, now});
  } else if (all_dead && p.state != NodeState::kDead) {
    p.state = NodeState::kDead;
    out.push_back({DetectorEvent::Type::kNodeDead, p.config.node, -1, now});
  }
}

absl::StatusOr<std::vector<DetectorEvent>> FailureDetector::OnHeartbeat(
    NodeId node, int link, uint64_t incarnation, uint64_t seq, absl::Time now) {
  Peer* p = Find(node);
  if (p == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("failure detector: heartbeat from unknown node ", node));
  }
  if (link < 0 || link >= static_cast<int>(p->links.size())) {
    return absl::NotFoundError(absl::StrCat("failure detector: node ", node,
                                            " has no link ", link, " (it has ",
                                            p->links.size(), ")"));
  }
  if (now < now_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "failure detector: time went backwards: ", absl::FormatTime(now),
        " < ", absl::FormatTime(now_)));
  }
  // Expire what is due first so that an on-time heartbeat after a long gap
  // still reports the gap's transitions in order.
  std::vector<DetectorEvent> out = Tick(now);
  if (incarnation < p->incarnation) return out;  // a previous life: ignore
  if (incarnation > p->incarnation) {
    bool had_one = p->incarnation != 0;
    p->incarnation = incarnation;
    for (Link& l : p->links) l.seq = 0;
    if (had_one) {
      out.push_back({DetectorEvent::Type::kNodeRestarted, node, -1, now});
    }
  }
  Link& l = p->links[link];
  if (seq <= l.seq) return out;  // stale or duplicate: no refresh
  l.seq = seq;
  l.last = now;
  if (l.state != LinkState::kUp) {
    bool announce = l.state != LinkState::kLate;  // late->up is not news
    l.state = LinkState::kUp;
    if (announce) out.push_back({DetectorEvent::Type::kLinkUp, node, link, now});
  }
  UpdateNode(*p, now, out);
  return out;
}

std::vector<DetectorEvent> FailureDetector::Tick(absl::Time now) {
  std::vector<DetectorEvent> out;
  if (now < now_) now = now_;
  // At most one hold per deadtime: an owner that is starved all the time must
  // not keep a dead peer alive by pausing again and again.
  if (max_call_gap_ > absl::ZeroDuration() && now - now_ > max_call_gap_ &&
      now - last_hold_ >= timing_.deadtime) {
    hold_until_ = now + max_call_gap_;
    last_hold_ = now;
    out.push_back({DetectorEvent::Type::kSelfPaused, 0, -1, now, now - now_});
  }
  now_ = now;
  for (Peer& p : peers_) {
    for (size_t i = 0; i < p.links.size(); ++i) {
      Link& l = p.links[i];
      // A link can pass through late and dead in one Tick.
      while (l.state != LinkState::kDead && LinkDeadline(l) <= now) {
        absl::Time at = LinkDeadline(l);
        if (l.state == LinkState::kUp) {
          l.state = LinkState::kLate;
          out.push_back({DetectorEvent::Type::kLinkLate, p.config.node,
                         static_cast<int>(i), at});
        } else {
          l.state = LinkState::kDead;
          out.push_back({DetectorEvent::Type::kLinkDead, p.config.node,
                         static_cast<int>(i), at});
        }
      }
    }
    UpdateNode(p, now, out);
  }
  return out;
}

absl::Time FailureDetector::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const Peer& p : peers_) {
    for (const Link& l : p.links) next = std::min(next, LinkDeadline(l));
  }
  return next;
}

NodeState FailureDetector::node_state(NodeId node) const {
  const Peer* p = Find(node);
  return p == nullptr ? NodeState::kUnknown : p->state;
}

LinkState FailureDetector::link_state(NodeId node, int link) const {
  const Peer* p = Find(node);
  if (p == nullptr || link < 0 || link >= static_cast<int>(p->links.size())) {
    return LinkState::kDead;
  }
  return p->links[link].state;
}

absl::Time FailureDetector::last_heard(NodeId node) const {
  const Peer* p = Find(node);
  absl::Time t = absl::InfinitePast();
  if (p == nullptr) return t;
  for (const Link& l : p->links) t = std::max(t, l.last);
  return t;
}

}  // namespace hafs::cluster
