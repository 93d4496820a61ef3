// File: libhafs/cluster/runtime/cluster_node.h
// -----------------------------------------------------------------------------
// ClusterNode: the real-time cluster runtime that hafsd embeds. It glues the
// pure cores of libhafs/cluster (FailureDetector, EnvelopeSigner/Verifier,
// QuorumTracker, RoleManager) to the world exactly as the seeded simulation
// (cluster_sim.cc) does, with real links, a real clock and persistence:
//
//   * Link 0 (gRPC): every keepalive a sealed heartbeat goes to the peer as a
//     unary PeerService.Heartbeat call (peer::PeerClient); the peer's calls
//     arrive through PeerServer::SetHeartbeatHandler (the handler only queues
//     the bytes for the loop and answers with an empty frame).
//   * Link 1 (UDP): the same envelope as one datagram from a socket bound to
//     our UDP address to the peer's; a receive thread queues datagrams.
//   * Every envelope is opened by EnvelopeVerifier; a refused one (bad key,
//     MAC, replay, other cluster/receiver/sender) produces one rate-limited
//     WARNING naming the link, the sender address and the reason, is counted
//     in the status and is never acted on.
//   * The witness (quorum mode kWitness) is asked through
//     witness::WitnessClient from a witness thread when the QuorumTracker
//     wants it; the fence-peer command runs through resources::ProcessRunner
//     on a fence thread (DRBD exit codes, role_manager.h).
//   * What must survive a restart (docs/cluster.md "Runtime"): incarnation,
//     known witness term, the Outdated flag and the data generation/history,
//     in <state_dir>/cluster.state (state_file.h), saved atomically whenever
//     it changes and before the decision that depends on it is published.
//
// Outputs: a queue of ClusterDecision (role actions for the executor in
// order, plus membership / quorum events, each already logged as an operator
// line) and a ClusterStatus snapshot for `hafsctl status`.
// Inputs: the local disk state (SetLocalDisk, from the mirror Volume) and the
// resource executor's ban (SetResourcesBanned) and the
// operator commands (Standby, Takeover, ForcePromote, DiscardMyData,
// SplitBrainResolved).
//
// Threads: one loop thread owns every core (no locks inside the cores); a UDP
// receive thread, a witness thread (kWitness only) and a fence thread while
// fence-peer runs; the PeerServer's polling thread only enqueues. Public methods are thread-safe
// and never block on the network (Stop joins the threads).
//
// Example (hafsd):
//   HAFS_ASSIGN_OR_RETURN(ClusterNodeOptions o,
//                         ClusterOptionsFromConfig(cfg, "alpha", "/var/lib/hafs"));
//   o.peer_server = peer_server.get();
//   HAFS_ASSIGN_OR_RETURN(auto node, ClusterNode::Create(std::move(o)));
//   node->SetLocalDisk(DiskState::kUpToDate);
//   HAFS_RETURN_IF_ERROR(node->Start());
//   for (;;) for (const ClusterDecision& d : node->WaitDecisions(absl::Seconds(1)))
//     executor.Run(d);
#ifndef HAFS_LIBHAFS_CLUSTER_RUNTIME_CLUSTER_NODE_H_
#define HAFS_LIBHAFS_CLUSTER_RUNTIME_CLUSTER_NODE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/clock.h"
#include "libhafs/cluster/failure_detector.h"
#include "libhafs/cluster/quorum.h"
#include "libhafs/cluster/role_manager.h"

namespace hafs::peer {
class PeerServer;
}
namespace hafs::resources {
class ProcessRunner;
}

namespace hafs::cluster {

inline constexpr int kGrpcLink = 0;
inline constexpr int kUdpLink = 1;

struct ClusterNodeOptions {
  std::string cluster_name;
  // Cluster node ids (non-zero; the config's ids 0/1 map to 1/2, see
  // ClusterOptionsFromConfig) and names for log lines.
  NodeId self = 1;
  NodeId peer = 2;
  std::string self_name;
  std::string peer_name;

  // Link 0: this node's PeerServer (not owned; must outlive the node) and
  // the peer's PeerService address. nullptr / empty = no gRPC link.
  peer::PeerServer* peer_server = nullptr;
  std::string peer_grpc_address;
  // Link 1: our UDP "host:port" (port 0 = ephemeral, see udp_port()) and the
  // peer's. Both empty = no UDP link. At least one link is required.
  std::string udp_address;
  std::string peer_udp_address;

  // Heartbeat timers (validated with ValidateTiming) and quorum (validated
  // with ValidateQuorum). Zero leases (the default here) mean deadtime, as in
  // the simulation; a peer lease much longer than deadtime delays failover.
  TimingOptions timing;
  QuorumOptions quorum = [] {
    QuorumOptions q;
    q.peer_lease = absl::ZeroDuration();
    q.witness_lease = absl::ZeroDuration();
    return q;
  }();
  // kWitness: the hafs-witness "host:port" and its node id.
  std::string witness_address;
  uint32_t witness_id = 100;

  // fence-peer argv (argv[0] absolute); empty = no fencing (policy dont-care).
  std::vector<std::string> fence_peer_command;
  FencingPolicy fencing = FencingPolicy::kResourceOnly;  // when a command is set
  absl::Duration fence_timeout = absl::Seconds(60);
  absl::Duration fence_retry = absl::Seconds(5);
  std::map<std::string, std::string> fence_env;  // added to DRBD_* variables

  // Placement (role_manager.h).
  bool auto_failback = false;
  NodeId preferred = 0;  // 0 = none
  int preference = 100;
  int stickiness = 0;
  // Stop before start across nodes (RoleOptions::confirm_demote): after a
  // demote decision, and after start, the peer may promote only once
  // ResourcesStopped() was called. For embedders that run resources on the
  // decisions (hafsd does).
  bool confirm_demote = false;

  Clock* clock = nullptr;  // nullptr = Clock::System()
  std::shared_ptr<const auth::KeyRing> keys;  // required
  std::string state_dir;                      // required; holds cluster.state
  resources::ProcessRunner* runner = nullptr;  // nullptr = ProcessRunner::System()
  // Data generation to start from when there is no state file yet (e.g. the
  // mirror's current UUID); otherwise the persisted one is used.
  std::optional<PersistedRoleState> initial_generation;
  // Local disk state until the first SetLocalDisk().
  DiskState disk = DiskState::kUpToDate;
  // At most one refusal line per link per interval (the rest are counted).
  absl::Duration refusal_log_interval = absl::Seconds(10);
  // Called on the loop thread after decisions were queued; must not block.
  std::function<void()> on_decision;
};

struct ClusterDecision {
  enum class Type {
    // Role actions: execute in order (role_manager.h for their meaning).
    kPromote,
    kDemote,
    kSuspendIo,
    kResumeIo,
    kFailIo,
    kSplitBrain,
    kSyncFromPeer,
    kMarkOutdated,   // the peer may have written without us: mark the disk Outdated
    kClearOutdated,  // connected with equal data generations again
    // Membership and quorum events (informational; already logged).
    kLinkUp,
    kLinkLate,
    kLinkDead,
    kNodeAlive,
    kNodeDead,
    kNodeRestarted,
    kQuorumGained,
    kQuorumLost,
    kFenceResult,  // fence-peer finished (exit code in reason)
    kSelfPaused,   // this node did not run for a while (the detector's kSelfPaused)
  };
  Type type;
  absl::Time at;
  int link = -1;  // link events only
  std::string reason;
  // kDemote: pass to ResourcesStopped once the resources stopped.
  uint64_t demote_seq = 0;
  bool IsRoleAction() const { return type <= Type::kClearOutdated; }
};
const char* ClusterDecisionName(ClusterDecision::Type t);
std::string DebugString(const ClusterDecision& d);

struct LinkStatus {
  int id = 0;
  std::string name;  // "grpc" / "udp"
  LinkState state = LinkState::kInit;
  absl::Duration last_heard_age = absl::InfiniteDuration();  // since last accepted heartbeat
  uint64_t sent = 0;
  uint64_t send_errors = 0;
  uint64_t received = 0;  // accepted envelopes
  uint64_t refused = 0;   // refused envelopes
};

struct ClusterStatus {
  std::string cluster_name;
  NodeId self = 0, peer = 0;
  std::string self_name, peer_name;
  uint64_t incarnation = 0;
  bool running = false;
  std::vector<LinkStatus> links;
  NodeState peer_state = NodeState::kUnknown;
  // Quorum.
  QuorumMode quorum_mode = QuorumMode::kWitness;
  bool quorate = false;
  bool quorum_pending = false;
  bool connected = false;
  bool seen_all = false;
  int votes = 0;           // self + peer (connected) + witness (grant valid)
  int expected_votes = 0;  // 3 with a witness, else 2
  bool witness_grant = false;
  uint64_t witness_term = 0;  // from the last witness answer
  uint64_t known_term = 0;
  std::string witness_error;  // last failure talking to the witness
  // Roles.
  Role role = Role::kSecondary;
  IoState io = IoState::kRunning;
  DiskState disk = DiskState::kUpToDate;  // as given to the role manager
  bool outdated = false;
  bool standby = false;
  bool resources_banned = false;  // SetResourcesBanned
  bool takeover = false;
  bool split_brain = false;
  std::string blocked_reason;
  bool peer_known = false;
  Role peer_role = Role::kSecondary;
  DiskState peer_disk = DiskState::kDiskless;
  uint64_t generation = 0;
  bool fencing = false;
  std::optional<int> last_fence_exit;
  std::string last_decision;  // DebugString of the last role action
};
// Human-readable multi-line rendering (hafsctl status).
std::string FormatClusterStatus(const ClusterStatus& s);

class ClusterNode {
 public:
  // Validates the options, loads (or creates) the state file, picks a new
  // incarnation (> the persisted one and >= wall-clock microseconds) and
  // persists it, binds the UDP socket. Starts nothing.
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Create(ClusterNodeOptions opts);
  ~ClusterNode();  // Stop()

  // Resolves the peer's UDP address before Start() (tests with ephemeral ports).
  absl::Status SetPeerUdpAddress(const std::string& address);
  void SetPeerGrpcAddress(const std::string& address);

  // Registers the heartbeat handler and starts the threads. Once.
  absl::Status Start();
  // Stops sending/receiving, unregisters the handler, joins the threads
  // (a running fence-peer command is waited for). Idempotent.
  void Stop();

  // Inputs (thread-safe, applied on the loop thread).
  void SetLocalDisk(DiskState d);
  void Standby(bool on);
  // The resource executor banned the group from this node (repeated
  // failures) or lifted the ban: hand over to the peer / be a candidate again
  // (RoleManager::SetResourcesBanned).
  void SetResourcesBanned(bool banned);
  // The resources are stopped here (volume Secondary, nothing mounted,
  // address removed) and no promotion came after the kDemote decision whose
  // `demote_seq` is given (0: the demotion pending since start): completes
  // that demotion under confirm_demote. Idempotent; call it whenever the
  // group is observed stopped, with the demote_seq of the last kDemote
  // applied before that observation began.
  void ResourcesStopped(uint64_t demote_seq);
  void Takeover();
  void ForcePromote();
  void DiscardMyData();
  void SplitBrainResolved();

  // Outputs.
  std::vector<ClusterDecision> TakeDecisions();
  // Waits up to `timeout` for at least one decision; returns what is queued.
  std::vector<ClusterDecision> WaitDecisions(absl::Duration timeout);
  ClusterStatus Status();

  uint64_t incarnation() const;
  int udp_port() const;  // bound UDP port, 0 without a UDP link
  const std::string& state_file() const;

  // Tests and measurements: drop (true) or send (false) our heartbeats on a
  // link, as if that path were cut on our sending side.
  void SetDropSendsForTest(int link, bool drop);

  class Impl;

 private:
  explicit ClusterNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_RUNTIME_CLUSTER_NODE_H_
