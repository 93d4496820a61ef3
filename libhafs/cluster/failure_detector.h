// File: libhafs/cluster/failure_detector.h
// -----------------------------------------------------------------------------
// Heartbeat-style failure detector: keepalive / warntime / deadtime / initdead
// over several independent links per peer (e.g. the gRPC peer service and a
// UDP path). Pure and deterministic: no threads, sockets or clocks. Time is an
// absl::Time passed in with every call; the caller (daemon or simulator) feeds
// heartbeats and calls Tick() at NextDeadline().
//
// Semantics (see docs/cluster.md "Timers"):
//   * A link is kUp while a heartbeat arrived within `warntime`, kLate after
//     `warntime` of silence (a "late heartbeat" warning, as in Heartbeat),
//     kDead after `deadtime`. Before its first heartbeat a link is kInit and
//     is declared dead only after `initdead` from the detector's start.
//   * A node is alive iff at least one of its links is kUp or kLate. Losing one
//     link of several is a kLinkDead event only; kNodeDead fires when the last
//     link dies. Heartbeats with a sequence number not above the link's last
//     one (reordered or duplicated) do not refresh liveness.
//   * A heartbeat with a higher incarnation (the peer restarted) resets the
//     peer's sequence numbers and emits kNodeRestarted.
//   * The owner's own pauses (SIGSTOP, a VM or the whole machine suspended,
//     CPU starvation) are not the peer's silence: with `max_call_gap` set, the
//     owner promises a call (Tick or OnHeartbeat) at least that often, and a
//     longer gap emits kSelfPaused and holds every judgement (no link turns
//     late or dead) for another `max_call_gap`, so that the heartbeats queued
//     in the owner's sockets during the pause are read before the peer is
//     declared dead. At most one hold per deadtime (a starved owner cannot
//     keep a dead peer alive); the owner should tell its other timers too
//     (RoleManager::OnLocalPause). (Without it, a Secondary stopped for longer than deadtime
//     promoted itself the moment it ran again, next to a running Primary.)
//
// Thread-safety: not thread-safe; one owner.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(TimingOptions t, ValidateTiming(raw, &warnings));
//   FailureDetector fd(t, {{.node = 2, .links = {"grpc", "udp"}}}, now);
//   fd.OnHeartbeat(2, 0, /*incarnation=*/7, /*seq=*/1, now);
//   for (const auto& e : fd.Tick(now + absl::Seconds(3))) Handle(e);
#ifndef HAFS_LIBHAFS_CLUSTER_FAILURE_DETECTOR_H_
#define HAFS_LIBHAFS_CLUSTER_FAILURE_DETECTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hafs::cluster {

using NodeId = uint32_t;

// Heartbeat's timers. A zero warntime / initdead means "derive the default".
struct TimingOptions {
  absl::Duration keepalive = absl::Seconds(1);   // heartbeat interval
  absl::Duration warntime = absl::ZeroDuration();  // default deadtime / 2
  absl::Duration deadtime = absl::Seconds(30);   // silence => dead
  absl::Duration initdead = absl::ZeroDuration();  // first deadtime after start
};

// Fills defaults and checks Heartbeat's sanity rules (heartbeat/config.c):
//   keepalive > 0; deadtime > 2 x keepalive (error, as Heartbeat);
//   keepalive < warntime < deadtime (hafs is stricter than Heartbeat here);
//   initdead >= deadtime (error, as Heartbeat).
// Defaults: warntime = deadtime / 2; initdead = deadtime if deadtime > 10 s,
// 12 s if deadtime < 6 s, else 2 x deadtime (Heartbeat's).
// Advisory findings (not errors) are appended to `warnings` if non-null:
// initdead < 2 x deadtime (ha.cf recommends at least twice) and initdead <
// 10 s (Heartbeat warns). Errors are kInvalidArgument naming the field.
absl::StatusOr<TimingOptions> ValidateTiming(const TimingOptions& in,
                                             std::vector<std::string>* warnings);

enum class LinkState { kInit, kUp, kLate, kDead };
enum class NodeState { kUnknown, kAlive, kDead };
const char* LinkStateName(LinkState s);
const char* NodeStateName(NodeState s);

struct PeerConfig {
  NodeId node = 0;
  std::vector<std::string> links;  // link names, index = link id
};

struct DetectorEvent {
  enum class Type {
    kLinkUp,         // first heartbeat, or a late/dead link heard again
    kLinkLate,       // silent for warntime
    kLinkDead,       // silent for deadtime (or initdead); node may be alive
    kNodeAlive,      // first live link of a node that was unknown/dead
    kNodeDead,       // last live link died
    kNodeRestarted,  // heartbeat with a higher incarnation
    kSelfPaused,     // the owner did not call for longer than max_call_gap
  };
  Type type;
  NodeId node = 0;
  int link = -1;  // -1 for node events
  absl::Time at;
  absl::Duration gap = absl::ZeroDuration();  // kSelfPaused: how long
  bool operator==(const DetectorEvent&) const = default;
};
const char* EventTypeName(DetectorEvent::Type t);
std::string DebugString(const DetectorEvent& e);

class FailureDetector {
 public:
  // REQUIRES: `timing` came from ValidateTiming(); peers have >= 1 link and
  // distinct ids. `start` begins the initdead window. `max_call_gap` > 0
  // turns on pause detection (see above): the owner calls at least that often
  // (e.g. 2 x keepalive for an owner that steps every keepalive).
  FailureDetector(const TimingOptions& timing, std::vector<PeerConfig> peers, absl::Time start,
                  absl::Duration max_call_gap = absl::ZeroDuration());

  // Records a heartbeat received on `link` of `node`. Returns the events it
  // causes (link up, node alive, restarted). Unknown node or link ids return
  // kNotFound and change nothing; time going backwards is kInvalidArgument.
  absl::StatusOr<std::vector<DetectorEvent>> OnHeartbeat(NodeId node, int link,
                                                         uint64_t incarnation,
                                                         uint64_t seq,
                                                         absl::Time now);

  // Advances time: emits late/dead transitions due at or before `now`.
  // A `now` earlier than the last one seen is treated as the last one.
  std::vector<DetectorEvent> Tick(absl::Time now);

  // The earliest time at which Tick() may produce an event.
  absl::Time NextDeadline() const;

  NodeState node_state(NodeId node) const;
  LinkState link_state(NodeId node, int link) const;
  // When the last accepted heartbeat from `node` arrived (any link), or
  // InfinitePast if none.
  absl::Time last_heard(NodeId node) const;
  const TimingOptions& timing() const { return timing_; }

 private:
  struct Link {
    LinkState state = LinkState::kInit;
    absl::Time last = absl::InfinitePast();
    uint64_t seq = 0;
  };
  struct Peer {
    PeerConfig config;
    NodeState state = NodeState::kUnknown;
    uint64_t incarnation = 0;
    std::vector<Link> links;
  };
  Peer* Find(NodeId node);
  const Peer* Find(NodeId node) const;
  absl::Time LinkDeadline(const Link& l) const;
  void UpdateNode(Peer& p, absl::Time now, std::vector<DetectorEvent>& out);

  TimingOptions timing_;
  absl::Duration max_call_gap_;
  absl::Time start_;
  absl::Time now_;
  absl::Time hold_until_ = absl::InfinitePast();  // no late/dead before this
  absl::Time last_hold_ = absl::InfinitePast();
  std::vector<Peer> peers_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_FAILURE_DETECTOR_H_
