#include "libhafs/cluster/cluster_sim.h"

#include "libhafs/cluster/wire_state.h"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/random.h"
#include "libhafs/cluster/auth.h"
#include "libhafs/cluster/failure_detector.h"
#include "libhafs/cluster/role_manager.h"
#include "libhafs/cluster/witness.h"

namespace hafs::cluster {

std::string SimResult::Describe() const {
  return absl::StrCat("violations:\n  ", absl::StrJoin(violations, "\n  "),
                      "\npromotions=", promotions, " demotions=", demotions,
                      " split_brains=", split_brains, " faults=", faults_injected,
                      "\nlast events:\n  ", absl::StrJoin(trace, "\n  "));
}

namespace {

constexpr NodeId kWitness = 100;
constexpr absl::Duration kKeepalive = absl::Milliseconds(100);
constexpr absl::Duration kDeadtime = absl::Milliseconds(500);
constexpr absl::Duration kFenceDelay = absl::Milliseconds(20);
constexpr absl::Duration kMaxStopTime = absl::Milliseconds(400);
constexpr absl::Duration kMaxDelay = absl::Milliseconds(15);
constexpr absl::Duration kDecisionWindow = absl::Milliseconds(50);
constexpr double kDriftBound = 0.01;
const absl::Time kT0 = absl::FromUnixSeconds(1900000000);

// A clock with a fixed rate error: local = T0 + off + (real - T0) * (1e6+ppm)/1e6.
struct DriftClock {
  int64_t ppm = 0;
  int64_t off_ns = 0;
  absl::Time Local(absl::Time real) const {
    __int128 r = absl::ToInt64Nanoseconds(real - kT0);
    __int128 l = r * (1000000 + ppm) / 1000000 + off_ns;
    return kT0 + absl::Nanoseconds(static_cast<int64_t>(l));
  }
  // The earliest real time whose local time is >= `local`.
  absl::Time Real(absl::Time local) const {
    if (local == absl::InfiniteFuture()) return local;
    __int128 l = absl::ToInt64Nanoseconds(local - kT0) - off_ns;
    __int128 den = 1000000 + ppm;
    __int128 r = l * 1000000;
    __int128 q = r / den;
    if (q * den < r) ++q;  // ceil
    absl::Time t = kT0 + absl::Nanoseconds(static_cast<int64_t>(q));
    while (Local(t) < local) t += absl::Nanoseconds(1);
    return t;
  }
};

struct Msg {
  NodeId from, to;
  int link;
  std::string bytes;
};

struct Event {
  absl::Time at;
  uint64_t order;
  enum class Kind {
    kDeliver,
    kWake,
    kWitnessWake,
    kFence,
    kDemoteDone,
    kRestart,
    kResume,
    kFault
  } kind;
  NodeId node = 0;
  Msg msg;
  int fence_code = 0;
  uint64_t generation = 0;  // kFence, kDemoteDone: node incarnation it belongs to
  uint64_t demote_seq = 0;  // kDemoteDone
  bool operator>(const Event& o) const {
    return at != o.at ? at > o.at : order > o.order;
  }
};

struct Node {
  NodeId id = 0, peer = 0;
  bool up = true;
  absl::Time paused_until = absl::InfinitePast();  // real
  std::deque<Msg> inbox;                           // delivered while paused
  DriftClock clock;
  uint64_t incarnation = 0;
  PersistedRoleState persisted;
  bool outdated = false;  // persisted disk flag
  uint64_t known_term = 0;  // persisted with the metadata
  std::unique_ptr<EnvelopeSigner> signer;
  std::unique_ptr<EnvelopeVerifier> verifier;
  std::unique_ptr<FailureDetector> fd;
  std::unique_ptr<QuorumTracker> q;
  std::unique_ptr<RoleManager> rm;
  absl::Time next_hb, next_wreq;  // local
  absl::Time wake_at = absl::InfiniteFuture();  // real, scheduled
  uint64_t last_peer_gen = 0;
  bool solo_writes = false;  // oracle: wrote as primary while disconnected
  absl::Time both_connected_since = absl::InfiniteFuture();
};

class Sim {
 public:
  explicit Sim(const SimOptions& o) : opts_(o), rng_(o.seed) {
    auto ring = auth::KeyRing::Create({{1, "sim-secret-0123456789abcdef"}}, 1);
    HAFS_CHECK(ring.ok()) << ring.status();
    keys_ = *ring;
    TimingOptions t;
    t.keepalive = kKeepalive;
    t.deadtime = kDeadtime;
    t.initdead = absl::Seconds(1);
    timing_ = *ValidateTiming(t, nullptr);
    QuorumOptions qo;
    qo.mode = o.mode;
    qo.peer_lease = kDeadtime;
    qo.witness_lease = kDeadtime;
    qo.max_clock_drift = kDriftBound;
    qopts_ = *ValidateQuorum(qo);
    WitnessOptions wo;
    wo.lease = kDeadtime;
    wo.decision_window = kDecisionWindow;
    wopts_ = wo;
    witness_ = std::make_unique<WitnessArbiter>(wo);
    wclock_.ppm = RandPpm();
    wclock_.off_ns = static_cast<int64_t>(rng_.Uniform(1000000000));
    wverifier_ = std::make_unique<EnvelopeVerifier>(keys_, "sim", kWitness);
    wsigner_ = std::make_unique<EnvelopeSigner>(keys_, "sim", kWitness, 1);
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      n.id = i + 1;
      n.peer = 2 - i;
      n.clock.ppm = RandPpm();
      n.clock.off_ns = static_cast<int64_t>(rng_.Uniform(1000000000));
      // Both replicas start from the same initial sync: generation 1.
      n.persisted.generation = 1;
      Boot(n, kT0 + absl::Milliseconds(rng_.Uniform(50)));
    }
    // Single-link runs keep a little loss on the surviving link: 0.5 % makes
    // a burst of 4 losses (which with deadtime = 5 x keepalive is a real
    // node-dead) vanishingly rare (p ~ 6e-10 per window); at 2 % the soak
    // hit one in ~10^6 windows, which is a loss burst, not a link failure.
    // Half the runs are nearly lossless (the failover bound is only checked
    // there: under heavy loss, retries legitimately take longer).
    loss_ = opts_.single_link_only ? 0.005
            : rng_.OneIn(2)        ? rng_.NextDouble() * 0.01
                                   : rng_.NextDouble() * 0.1;
    if (opts_.faults) Push({kT0 + absl::Seconds(3), 0, Event::Kind::kFault});
  }

  SimResult Run() {
    absl::Time end = kT0 + opts_.duration;
    while (!queue_.empty() && queue_.top().at <= end && result_.violations.empty()) {
      Event e = queue_.top();
      queue_.pop();
      now_ = e.at;
      Handle(e);
      Check();
    }
    return result_;
  }

 private:
  int64_t RandPpm() {
    return static_cast<int64_t>(rng_.Range(0, 2 * opts_.max_drift_ppm)) -
           opts_.max_drift_ppm;
  }
  void Push(Event e) {
    e.order = ++order_;
    queue_.push(std::move(e));
  }
  void Trace(std::string s) {
    result_.trace.push_back(absl::StrCat(absl::FormatDuration(now_ - kT0), " ", s));
    if (result_.trace.size() > 60) result_.trace.erase(result_.trace.begin());
  }
  Node& N(NodeId id) { return nodes_[id - 1]; }
  bool Paused(const Node& n) const { return now_ < n.paused_until; }

  void Boot(Node& n, absl::Time real) {
    n.up = true;
    n.incarnation++;
    absl::Time local = n.clock.Local(real);
    n.signer = std::make_unique<EnvelopeSigner>(keys_, "sim", n.id, n.incarnation);
    n.verifier = std::make_unique<EnvelopeVerifier>(keys_, "sim", n.id);
    // Step() runs at least every keepalive (next_hb), as the runtime's loop.
    n.fd = std::make_unique<FailureDetector>(
        timing_, std::vector<PeerConfig>{{n.peer, {"grpc", "udp"}}}, local, 2 * kKeepalive);
    n.q = std::make_unique<QuorumTracker>(qopts_, local, n.known_term);
    RoleOptions ro;
    ro.self = n.id;
    ro.peer = n.peer;
    ro.preferred = 1;
    ro.auto_failback = false;
    // With quorum: resource-level fencing as DRBD recommends. Without:
    // Heartbeat v1 without fencing (split brain possible, then detected).
    ro.fencing = opts_.mode == QuorumMode::kDisabled ? FencingPolicy::kDontCare
                                                     : FencingPolicy::kResourceOnly;
    ro.loss_action = QuorumLossAction::kDemote;
    ro.deadtime = kDeadtime;
    ro.fence_retry = absl::Milliseconds(200);
    ro.incarnation = n.incarnation;
    ro.confirm_demote = true;  // as hafsd: the resources stop before the peer may start
    n.rm = std::make_unique<RoleManager>(ro, n.persisted);
    ResourcesStopLater(n);  // the executor's first pass finds nothing running
    n.next_hb = local;
    n.next_wreq = local;
    n.wake_at = absl::InfiniteFuture();
    ScheduleWake(n, real);
  }

  // The resource group stops (NFS server, unmount, address) before the
  // volume is Secondary: up to kMaxStopTime after the demotion (or boot).
  void ResourcesStopLater(Node& n) {
    Event e{now_ + absl::Microseconds(rng_.Range(0, absl::ToInt64Microseconds(kMaxStopTime))), 0,
            Event::Kind::kDemoteDone, n.id};
    e.generation = n.incarnation;
    e.demote_seq = n.rm->demote_seq();
    Push(std::move(e));
  }

  void ScheduleWake(Node& n, absl::Time real) {
    if (real < now_) real = now_;
    if (real >= n.wake_at && n.wake_at > now_) return;  // an earlier wake exists
    n.wake_at = real;
    Push({real, 0, Event::Kind::kWake, n.id});
  }

  // ---- network ----
  bool Blocked(NodeId from, NodeId to, int link) const {
    return blocked_.count({from, to, link}) != 0 || blocked_.count({from, to, -1}) != 0;
  }
  void Send(NodeId from, NodeId to, int link, std::string bytes) {
    if (Blocked(from, to, link) || rng_.Bernoulli(loss_)) return;
    absl::Duration d = absl::Microseconds(rng_.Range(500, 5000));
    if (rng_.OneIn(50)) d = kMaxDelay;  // occasional slow message (reorders)
    Push({now_ + d, 0, Event::Kind::kDeliver, to, Msg{from, to, link, std::move(bytes)}});
  }

  // ---- node logic (the glue hafsd would run) ----
  void Step(Node& n) {
    absl::Time local = n.clock.Local(now_);
    for (const auto& ev : n.fd->Tick(local)) {
      Trace(absl::StrCat("n", n.id, " ", DebugString(ev)));
      if (ev.type == DetectorEvent::Type::kSelfPaused) n.rm->OnLocalPause(ev.at);
    }
    RoleInputs in;
    in.quorate = n.q->Quorate(local, n.rm->PeerMaybePrimary());
    in.connected = n.q->Connected(local);
    in.peer_dead = n.fd->node_state(n.peer) == NodeState::kDead;
    in.quorum_pending = n.q->QuorumPending(local);
    in.disk = n.outdated ? DiskState::kOutdated : DiskState::kUpToDate;
    for (const RoleAction& a : n.rm->Update(local, in)) Apply(n, a);
    n.persisted = n.rm->persisted();
    if (in.connected && n.last_peer_gen == n.persisted.generation) {
      n.outdated = false;  // connected and in sync with the peer
    }
    if (local >= n.next_hb) {
      for (int link = 0; link < 2; ++link) {
        uint64_t seq = n.signer->next_seq();
        wire::Body b;
        b.set_receiver(n.peer);
        wire::Heartbeat* hb = b.mutable_heartbeat();
        hb->set_link(link);
        hb->set_echo_seq(n.q->OnSend(seq, local));
        LocalStatus s = n.rm->MakeStatus(seq);
        hb->set_role(RoleToWire(s.role));
        hb->set_disk(DiskToWire(s.disk));
        hb->set_standby(s.standby);
        hb->set_takeover(s.takeover);
        hb->set_promote_intent(s.promote_intent);
        hb->set_intent_ack_seq(s.intent_ack_seq);
        hb->set_data_generation(s.generation);
        hb->set_demoting(s.demoting);
        hb->set_witness_term(n.q->known_term());
        for (uint64_t g : s.history) hb->add_generation_history(g);
        Send(n.id, n.peer, link, n.signer->Seal(std::move(b)));
      }
      n.next_hb = local + kKeepalive;
    }
    if (local >= n.next_wreq && n.q->WantWitness(local, n.rm->role() == Role::kPrimary)) {
      uint64_t seq = n.signer->next_seq();
      wire::Body b;
      b.set_receiver(kWitness);
      auto* r = b.mutable_witness_request();
      r->add_partition(n.id);
      r->set_primary(n.rm->role() == Role::kPrimary);
      r->set_fresh(n.q->OnWitnessRequest(seq, local));
      Trace(absl::StrCat("n", n.id, " asks witness req=", seq));
      Send(n.id, kWitness, 0, n.signer->Seal(std::move(b)));
      n.next_wreq = local + kKeepalive;
    }
    absl::Time next = std::min({n.next_hb, n.fd->NextDeadline(), n.q->NextDeadline(local)});
    ScheduleWake(n, n.clock.Real(next));
  }

  void Apply(Node& n, const RoleAction& a) {
    Trace(absl::StrCat("n", n.id, " ", RoleActionName(a.type), ": ", a.reason));
    switch (a.type) {
      case RoleAction::Type::kPromote:
        result_.promotions++;
        last_role_change_ = now_;
        break;
      case RoleAction::Type::kDemote: {
        result_.demotions++;
        last_role_change_ = now_;
        ResourcesStopLater(n);
        break;
      }
      case RoleAction::Type::kRunFencePeer: {
        // fence-peer outdates a reachable secondary (4), is refused by a
        // reachable primary (6), or finds nobody (5).
        // The handler talks to the peer over the cluster links (like dopd):
        // it needs a link that works both ways and a running peer.
        Node& p = N(n.peer);
        bool reachable = p.up && !Paused(p) &&
                         ((!Blocked(n.id, p.id, 0) && !Blocked(p.id, n.id, 0)) ||
                          (!Blocked(n.id, p.id, 1) && !Blocked(p.id, n.id, 1)));
        int code = !reachable ? kFencePeerUnreachable
                   : p.rm->role() == Role::kPrimary || p.rm->demoting()
                       ? kFencePeerRefusedPrimary
                                                    : kFencePeerOutdated;
        if (code == kFencePeerOutdated) p.outdated = true;
        Event e{now_ + absl::Microseconds(rng_.Range(0, 20000)), 0, Event::Kind::kFence, n.id};
        e.fence_code = code;
        e.generation = n.incarnation;
        Push(std::move(e));
        break;
      }
      case RoleAction::Type::kSplitBrain:
        result_.split_brains++;
        break;
      case RoleAction::Type::kSyncFromPeer:
        n.outdated = false;
        break;
      default:
        break;
    }
  }

  void Receive(Node& n, const Msg& m) {
    absl::StatusOr<wire::Body> b = n.verifier->Open(m.bytes);
    if (!b.ok()) {
      Trace(absl::StrCat("n", n.id, " refused: ", b.status().ToString()));
      return;
    }
    absl::Time local = n.clock.Local(now_);
    if (b->has_heartbeat()) {
      const wire::Heartbeat& hb = b->heartbeat();
      auto evs = n.fd->OnHeartbeat(b->sender(), m.link, b->incarnation(), b->seq(), local);
      if (evs.ok()) {
        for (const auto& ev : *evs) {
          Trace(absl::StrCat("n", n.id, " ", DebugString(ev)));
          if (ev.type == DetectorEvent::Type::kNodeRestarted) {
            n.q->OnPeerRestart();
            n.rm->OnPeerRestart();
          }
          if (ev.type == DetectorEvent::Type::kSelfPaused) n.rm->OnLocalPause(ev.at);
        }
      }
      if (b->incarnation() < peer_incarnation_[n.id]) return;  // old life
      peer_incarnation_[n.id] = b->incarnation();
      n.q->OnPeerHeartbeat(b->seq(), hb.echo_seq(), local);
      PeerStatus s;
      s.seq = b->seq();
      s.role = RoleFromWire(hb.role());
      s.disk = DiskFromWire(hb.disk());
      s.standby = hb.standby();
      s.takeover = hb.takeover();
      s.promote_intent = hb.promote_intent();
      s.intent_ack_seq = hb.intent_ack_seq();
      s.generation = hb.data_generation();
      n.last_peer_gen = s.generation;
      s.history.assign(hb.generation_history().begin(), hb.generation_history().end());
      s.demoting = hb.demoting();
      n.rm->OnPeerStatus(s);
      n.q->OnPeerKnownTerm(hb.witness_term(), hb.echo_seq(), local);
      n.known_term = n.q->known_term();
    } else if (b->has_witness_reply()) {
      const wire::WitnessReply& r = b->witness_reply();
      Trace(absl::StrCat("n", n.id, " witness ", r.granted() ? "granted" : "refused",
                         " req=", r.request_seq(), " term=", r.term(), " ", r.reason()));
      QuorumTracker::WitnessAnswer a;
      a.request_seq = r.request_seq();
      a.granted = r.granted();
      a.lease = absl::Milliseconds(r.lease_ms());
      a.term = r.term();
      a.peer_term = r.other_holder() == n.peer ? r.other_term() : 0;
      if (n.q->OnWitnessReply(a, local)) {
        n.outdated = true;  // the peer may have written without us
        Trace(absl::StrCat("n", n.id, " marks its disk Outdated"));
      }
      n.known_term = n.q->known_term();
    }
    Step(n);
  }

  void WitnessHandle(const Msg& m) {
    if (!witness_up_) return;
    absl::StatusOr<wire::Body> b = wverifier_->Open(m.bytes);
    if (!b.ok() || !b->has_witness_request()) return;
    WitnessRequest req;
    req.node = b->sender();
    req.request_seq = b->seq();
    req.partition.assign(b->witness_request().partition().begin(),
                         b->witness_request().partition().end());
    req.primary = b->witness_request().primary();
    req.fresh = b->witness_request().fresh();
    WitnessReplies(witness_->OnRequest(req, wclock_.Local(now_)));
  }
  void WitnessReplies(const std::vector<WitnessDecision>& ds) {
    for (const auto& d : ds) {
      wire::Body b;
      b.set_receiver(d.node);
      auto* r = b.mutable_witness_reply();
      r->set_granted(d.granted);
      r->set_term(d.term);
      r->set_lease_ms(absl::ToInt64Milliseconds(d.lease));
      r->set_request_seq(d.request_seq);
      r->set_holder(d.holder);
      r->set_other_holder(d.other_holder);
      r->set_other_term(d.other_term);
      r->set_reason(d.reason);
      Send(kWitness, d.node, 0, wsigner_->Seal(std::move(b)));
    }
    absl::Time next = witness_->NextDeadline();
    if (next != absl::InfiniteFuture()) {
      Push({wclock_.Real(next), 0, Event::Kind::kWitnessWake});
    }
  }

  // ---- faults ----
  void HealNetwork() { blocked_.clear(); }
  void Fault() {
    result_.faults_injected++;
    settled_ = now_ - last_fault_ >= absl::Seconds(1);  // before this fault
    last_fault_ = now_;
    armed_failover_.reset();
    absl::Duration next = absl::Milliseconds(rng_.Range(300, 2500));
    if (opts_.single_link_only) {
      HealNetwork();
      if (rng_.OneIn(3)) {
        Trace("fault: heal");
      } else {
        int link = static_cast<int>(rng_.Uniform(2));
        blocked_.insert({1, 2, link});
        blocked_.insert({2, 1, link});
        Trace(absl::StrCat("fault: link ", link, " down"));
      }
      Push({now_ + next, 0, Event::Kind::kFault});
      return;
    }
    switch (rng_.Uniform(10)) {
      case 0:
        HealNetwork();
        Trace("fault: heal network");
        break;
      case 1:
        blocked_.insert({1, 2, -1});
        blocked_.insert({2, 1, -1});
        Trace("fault: symmetric partition");
        break;
      case 2: {
        NodeId from = 1 + rng_.Uniform(2);
        blocked_.insert({from, 3 - from, -1});
        Trace(absl::StrCat("fault: asymmetric partition ", from, "->", 3 - from));
        break;
      }
      case 3: {
        int link = static_cast<int>(rng_.Uniform(2));
        blocked_.insert({1, 2, link});
        blocked_.insert({2, 1, link});
        Trace(absl::StrCat("fault: link ", link, " down"));
        break;
      }
      case 4: {
        NodeId n = 1 + rng_.Uniform(2);
        blocked_.insert({n, kWitness, -1});
        blocked_.insert({kWitness, n, -1});
        Trace(absl::StrCat("fault: witness isolated from n", n));
        break;
      }
      case 5:
        witness_up_ = !witness_up_;
        if (witness_up_ && rng_.OneIn(2)) {
          // The witness process restarted: its grants are forgotten.
          // The witness process restarted: leases are forgotten, the
          // persisted (term, last holder) survives.
          witness_ = std::make_unique<WitnessArbiter>(wopts_, wclock_.Local(now_),
                                                      witness_->state());
          Trace("fault: witness restarted");
        } else {
          Trace(witness_up_ ? "fault: witness back" : "fault: witness down");
        }
        break;
      case 6:
      case 7: {
        NodeId id = 1 + rng_.Uniform(2);
        Node& n = N(id);
        if (!n.up) break;
        bool was_primary = n.rm->ActivePrimary();
        n.up = false;
        n.inbox.clear();
        Trace(absl::StrCat("fault: crash n", id, was_primary ? " (primary)" : ""));
        MaybeArmFailover(id, was_primary);
        Push({now_ + absl::Milliseconds(rng_.Range(500, 4000)), 0, Event::Kind::kRestart, id});
        break;
      }
      case 8: {
        NodeId id = 1 + rng_.Uniform(2);
        Node& n = N(id);
        if (!n.up || Paused(n)) break;
        n.paused_until = now_ + absl::Milliseconds(rng_.Range(50, 1500));
        Trace(absl::StrCat("fault: pause n", id, " for ",
                           absl::FormatDuration(n.paused_until - now_)));
        Push({n.paused_until, 0, Event::Kind::kResume, id});
        break;
      }
      case 9: {
        // The operator moves the service (hb_takeover) to a node; with the
        // old primary's stop taking up to kMaxStopTime, the new one must not
        // start before it finished.
        NodeId id = 1 + rng_.Uniform(2);
        Node& n = N(id);
        if (!n.up || Paused(n)) break;
        Trace(absl::StrCat("fault: takeover requested on n", id));
        n.rm->Takeover();
        Step(n);
        break;
      }
    }
    Push({now_ + next, 0, Event::Kind::kFault});
  }

  void MaybeArmFailover(NodeId crashed, bool was_primary) {
    if (opts_.mode != QuorumMode::kWitness || !was_primary) return;
    Node& s = N(3 - crashed);
    bool clean = settled_ && loss_ <= 0.01 && blocked_.empty() && witness_up_ && s.up && !Paused(s) &&
                 !s.outdated && !s.rm->split_brain() &&
                 s.q->Connected(s.clock.Local(now_)) &&
                 !witness_->holder(wclock_.Local(now_)).has_value() &&
                 // The survivor knows every witness term so far; otherwise it
                 // rightly refuses (docs/cluster.md "Known terms").
                 s.q->known_term() >= witness_->term();
    if (!clean) return;
    double d = kDriftBound;
    // Promotion budget: witness decision window, up to 3 keepalive retries
    // of the witness exchange, fence-peer, message delays.
    absl::Duration budget = kDecisionWindow + 3 * kKeepalive + kFenceDelay + 4 * kMaxDelay;
    armed_failover_ = std::make_pair(3 - crashed, now_ + kDeadtime * ((1 + d) / (1 - d)) + budget);
    result_.failovers_checked++;
  }

  void Handle(const Event& e) {
    switch (e.kind) {
      case Event::Kind::kDeliver: {
        if (e.node == kWitness) {
          WitnessHandle(e.msg);
          return;
        }
        Node& n = N(e.node);
        if (!n.up) return;
        if (Paused(n)) {
          n.inbox.push_back(e.msg);
          return;
        }
        Receive(n, e.msg);
        return;
      }
      case Event::Kind::kWake: {
        Node& n = N(e.node);
        if (e.at != n.wake_at) return;  // superseded
        n.wake_at = absl::InfiniteFuture();
        if (!n.up || Paused(n)) return;  // resume will step
        Step(n);
        return;
      }
      case Event::Kind::kWitnessWake:
        if (witness_up_) WitnessReplies(witness_->Tick(wclock_.Local(now_)));
        return;
      case Event::Kind::kFence: {
        Node& n = N(e.node);
        if (!n.up || n.incarnation != e.generation) return;
        if (Paused(n)) {  // the result waits for the process
          Event again = e;
          again.at = n.paused_until;
          Push(std::move(again));
          return;
        }
        Trace(absl::StrCat("n", n.id, " fence-peer exit ", e.fence_code));
        n.rm->OnFenceResult(e.fence_code, n.clock.Local(now_));
        Step(n);
        return;
      }
      case Event::Kind::kDemoteDone: {
        Node& n = N(e.node);
        if (!n.up || n.incarnation != e.generation) return;
        if (Paused(n)) {
          Event again = e;
          again.at = n.paused_until;
          Push(std::move(again));
          return;
        }
        if (!n.rm->AwaitsDemoteDone(e.demote_seq)) return;  // promoted since
        Trace(absl::StrCat("n", n.id, " resources stopped"));
        n.rm->OnDemoteDone(e.demote_seq);
        Step(n);
        return;
      }
      case Event::Kind::kRestart: {
        Node& n = N(e.node);
        Trace(absl::StrCat("restart n", n.id));
        armed_failover_.reset();  // another fault inside the window
        last_fault_ = now_;
        n.paused_until = absl::InfinitePast();
        Boot(n, now_);
        return;
      }
      case Event::Kind::kResume: {
        Node& n = N(e.node);
        if (!n.up || Paused(n)) return;
        Trace(absl::StrCat("resume n", n.id));
        last_fault_ = now_;
        Step(n);  // time first: expire leases before handling old messages
        while (!n.inbox.empty() && n.up && !Paused(n)) {
          Msg m = std::move(n.inbox.front());
          n.inbox.pop_front();
          Receive(n, m);
        }
        return;
      }
      case Event::Kind::kFault:
        Fault();
        return;
    }
  }

  // ---- invariants ----
  void Violation(std::string s) {
    result_.violations.push_back(absl::StrCat("seed=", opts_.seed, " t=",
                                               absl::FormatDuration(now_ - kT0), ": ", s));
  }

  void Check() {
    int active = 0;
    for (Node& n : nodes_) {
      if (n.up && !Paused(n) && n.rm->ActivePrimary()) ++active;
    }
    if (opts_.mode == QuorumMode::kWitness && active > 1) {
      Violation("two active primaries with quorum enabled");
    }
    if (opts_.mode == QuorumMode::kWitness) {
      for (Node& n : nodes_) {
        if (n.up && n.rm->split_brain()) {
          Violation(absl::StrCat("n", n.id, " detected a split brain with quorum enabled "
                                            "(diverged data: lost writes)"));
        }
      }
    }
    // Split-brain oracle (quorum disabled).
    if (opts_.mode == QuorumMode::kDisabled) {
      bool both_connected = true;
      for (Node& n : nodes_) {
        if (!n.up) {
          both_connected = false;
          continue;
        }
        absl::Time local = n.clock.Local(now_);
        if (!Paused(n) && n.rm->ActivePrimary() && !n.q->Connected(local)) n.solo_writes = true;
        both_connected = both_connected && n.q->Connected(local);
      }
      Node &a = nodes_[0], &b = nodes_[1];
      if (!both_connected) {
        sb_connected_since_ = absl::InfiniteFuture();
      } else if (sb_connected_since_ == absl::InfiniteFuture()) {
        sb_connected_since_ = now_;
      }
      if (both_connected && a.solo_writes && b.solo_writes) {
        bool detected = a.rm->split_brain() || b.rm->split_brain();
        if (detected) {
          // Manual recovery: node 2 is the victim.
          Trace("operator: resolve split brain (n2 discards its data)");
          for (const auto& act : b.rm->DiscardMyData()) Apply(b, act);
          a.rm->SplitBrainResolved();
          b.persisted = b.rm->persisted();
          a.solo_writes = b.solo_writes = false;
          result_.split_brains_resolved++;
        } else if (now_ - sb_connected_since_ > 2 * kKeepalive + 4 * kMaxDelay) {
          Violation("diverged data not detected as split brain after reconnect");
        }
      }
      if (both_connected && a.persisted.generation == b.persisted.generation) {
        a.solo_writes = b.solo_writes = false;
      }
    }
    if (armed_failover_.has_value() && now_ >= armed_failover_->second) {
      Node& s = N(armed_failover_->first);
      if (!s.rm->ActivePrimary()) {
        Violation(absl::StrCat("primary not replaced within bound; n", s.id,
                               " blocked: ", s.rm->blocked_reason()));
      }
      armed_failover_.reset();
    }
    if (opts_.single_link_only && now_ > kT0 + absl::Seconds(3)) {
      if (last_role_change_ > kT0 + absl::Seconds(3)) {
        Violation("role changed although only single links failed (flapping)");
      }
      for (Node& n : nodes_) {
        if (n.fd->node_state(n.peer) == NodeState::kDead) {
          Violation(absl::StrCat("n", n.id, " declared its peer dead on a single-link failure"));
        }
      }
    }
  }

  SimOptions opts_;
  Random rng_;
  auth::KeyRing keys_ = *auth::KeyRing::Create({{1, "placeholder-secret-0123"}}, 1);
  TimingOptions timing_;
  QuorumOptions qopts_;
  Node nodes_[2];
  std::map<NodeId, uint64_t> peer_incarnation_;
  WitnessOptions wopts_;
  std::unique_ptr<WitnessArbiter> witness_;
  DriftClock wclock_;
  std::unique_ptr<EnvelopeVerifier> wverifier_;
  std::unique_ptr<EnvelopeSigner> wsigner_;
  bool witness_up_ = true;
  std::set<std::tuple<NodeId, NodeId, int>> blocked_;
  double loss_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  uint64_t order_ = 0;
  absl::Time now_ = kT0;
  absl::Time last_fault_ = kT0;
  bool settled_ = false;  // no disturbance in the second before the last fault
  absl::Time last_role_change_ = kT0;
  absl::Time sb_connected_since_ = absl::InfiniteFuture();
  std::optional<std::pair<NodeId, absl::Time>> armed_failover_;
  SimResult result_;
};

}  // namespace

SimResult RunClusterSim(const SimOptions& opts) { return Sim(opts).Run(); }

}  // namespace hafs::cluster
