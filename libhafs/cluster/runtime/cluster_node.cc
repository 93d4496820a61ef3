#include "libhafs/cluster/runtime/cluster_node.h"

#include "libhafs/cluster/wire_state.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/cluster/auth.h"
#include "libhafs/cluster/heartbeat.pb.h"
#include "libhafs/cluster/runtime/state_file.h"
#include "libhafs/peer/grpc_transport.h"
#include "libhafs/resources/process_runner.h"
#include "libhafs/witness/witness_service.h"

namespace hafs::cluster {

const char* ClusterDecisionName(ClusterDecision::Type t) {
  using T = ClusterDecision::Type;
  switch (t) {
    case T::kPromote: return "promote";
    case T::kDemote: return "demote";
    case T::kSuspendIo: return "suspend-io";
    case T::kResumeIo: return "resume-io";
    case T::kFailIo: return "fail-io";
    case T::kSplitBrain: return "split-brain";
    case T::kSyncFromPeer: return "sync-from-peer";
    case T::kMarkOutdated: return "mark-outdated";
    case T::kClearOutdated: return "clear-outdated";
    case T::kLinkUp: return "link-up";
    case T::kLinkLate: return "link-late";
    case T::kLinkDead: return "link-dead";
    case T::kNodeAlive: return "node-alive";
    case T::kNodeDead: return "node-dead";
    case T::kNodeRestarted: return "node-restarted";
    case T::kQuorumGained: return "quorum-gained";
    case T::kQuorumLost: return "quorum-lost";
    case T::kFenceResult: return "fence-result";
    case T::kSelfPaused:
      return "self-paused";
  }
  return "?";
}

std::string DebugString(const ClusterDecision& d) {
  std::string s = ClusterDecisionName(d.type);
  if (d.link >= 0) absl::StrAppend(&s, " link=", d.link);
  if (!d.reason.empty()) absl::StrAppend(&s, ": ", d.reason);
  return s;
}

namespace {

std::string FormatAge(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "never";
  return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
}

}  // namespace

std::string FormatClusterStatus(const ClusterStatus& s) {
  std::string out = absl::StrCat(
      "cluster ", s.cluster_name, ": node ", s.self_name, " (id ", s.self, ", incarnation ",
      s.incarnation, ")", s.running ? "" : " [stopped]", "\n");
  absl::StrAppend(&out, "  peer ", s.peer_name, " (id ", s.peer, "): ",
                  NodeStateName(s.peer_state));
  if (s.peer_known) {
    absl::StrAppend(&out, ", ", RoleName(s.peer_role), "/", DiskStateName(s.peer_disk));
  }
  absl::StrAppend(&out, "\n");
  for (const LinkStatus& l : s.links) {
    absl::StrAppend(&out, "  link ", l.id, " ", l.name, ": ", LinkStateName(l.state),
                    ", last heard ", FormatAge(l.last_heard_age), " ago, sent ", l.sent,
                    " (errors ", l.send_errors, "), received ", l.received, ", refused ",
                    l.refused, "\n");
  }
  absl::StrAppend(&out, "  quorum: ", QuorumModeName(s.quorum_mode), ", ",
                  s.quorate ? "quorate" : (s.quorum_pending ? "pending" : "NOT quorate"),
                  ", votes ", s.votes, "/", s.expected_votes,
                  s.connected ? ", connected" : ", not connected",
                  s.seen_all ? "" : ", waiting for all");
  if (s.quorum_mode == QuorumMode::kWitness) {
    absl::StrAppend(&out, ", witness ", s.witness_grant ? "granted" : "not granted",
                    " (term ", s.witness_term, ")");
    if (!s.witness_error.empty()) absl::StrAppend(&out, ", last error: ", s.witness_error);
  }
  absl::StrAppend(&out, ", known term ", s.known_term, "\n");
  absl::StrAppend(&out, "  role: ", RoleName(s.role),
                  s.io == IoState::kSuspended ? " (I/O suspended)"
                  : s.io == IoState::kFailing ? " (I/O failing)"
                                              : "",
                  ", disk ", DiskStateName(s.disk), s.outdated ? " (marked Outdated)" : "",
                  ", generation ", absl::Hex(s.generation));
  if (s.standby) absl::StrAppend(&out, ", standby");
  if (s.resources_banned) absl::StrAppend(&out, ", resources banned here");
  if (s.takeover) absl::StrAppend(&out, ", takeover requested");
  if (s.split_brain) absl::StrAppend(&out, ", SPLIT BRAIN");
  if (s.fencing) absl::StrAppend(&out, ", fencing the peer");
  if (s.last_fence_exit.has_value()) {
    absl::StrAppend(&out, ", last fence-peer exit ", *s.last_fence_exit);
  }
  absl::StrAppend(&out, "\n");
  if (!s.blocked_reason.empty()) {
    absl::StrAppend(&out, "  not promoting: ", s.blocked_reason, "\n");
  }
  if (!s.last_decision.empty()) absl::StrAppend(&out, "  last decision: ", s.last_decision, "\n");
  return out;
}

namespace {

// "host:port" or "[v6]:port" -> sockaddr. `passive` for bind.
absl::Status ResolveUdp(const std::string& address, bool passive, sockaddr_storage* out,
                        socklen_t* len) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("UDP address \"", address, "\": expected [v6addr]:port"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("UDP address \"", address, "\": expected host:port"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int p = 0;
  if (!absl::SimpleAtoi(port, &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("UDP address \"", address, "\": bad port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("UDP address \"", address,
                                                   "\": cannot resolve: ", gai_strerror(rc)));
  }
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return absl::OkStatus();
}

std::string SockaddrString(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", ntohs(in->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return absl::StrCat("[", buf, "]:", ntohs(in6->sin6_port));
  }
  return "?";
}


ClusterDecision::Type FromRoleAction(RoleAction::Type t) {
  using R = RoleAction::Type;
  using T = ClusterDecision::Type;
  switch (t) {
    case R::kPromote: return T::kPromote;
    case R::kDemote: return T::kDemote;
    case R::kSuspendIo: return T::kSuspendIo;
    case R::kResumeIo: return T::kResumeIo;
    case R::kFailIo: return T::kFailIo;
    case R::kSplitBrain: return T::kSplitBrain;
    case R::kSyncFromPeer: return T::kSyncFromPeer;
    case R::kRunFencePeer: break;  // handled internally
  }
  return T::kFenceResult;
}

constexpr int kMaxGrpcInFlight = 64;

}  // namespace

// ---------------------------------------------------------------------------

class ClusterNode::Impl {
 public:
  explicit Impl(ClusterNodeOptions o) : opts_(std::move(o)) {}
  ~Impl() { Stop(); }

  absl::Status Init();
  absl::Status SetPeerUdpAddress(const std::string& address);
  absl::Status Start();
  void Stop();
  void Post(std::function<void()> fn);
  std::vector<ClusterDecision> TakeDecisions(absl::Duration wait);
  ClusterStatus Status();
  // Loop-thread handlers of the public inputs.
  void SetLocalDiskOnLoop(DiskState d) {
    if (d != local_disk_) {
      HAFS_LOG(INFO) << "cluster: local disk is now " << DiskStateName(d);
    }
    local_disk_ = d;
  }
  // `source` names who asked, for the log line.
  void OnCommand(const std::string& what,
                 const std::function<std::vector<RoleAction>(RoleManager&)>& fn,
                 absl::string_view source = "operator command");
  // Loop thread: a demotion waits for this ResourcesStopped (confirm_demote).
  bool AwaitsDemoteDone(uint64_t demote_seq) const {
    return rm_ != nullptr && rm_->AwaitsDemoteDone(demote_seq);
  }

  // Everything that outlives the Impl in callbacks (gRPC handler, RPC
  // completions): only queues and counters.
  struct Shared {
    absl::Mutex mu;
    std::deque<std::function<void()>> inbox ABSL_GUARDED_BY(mu);
    bool stopping ABSL_GUARDED_BY(mu) = false;
    bool wake ABSL_GUARDED_BY(mu) = false;
    int grpc_in_flight ABSL_GUARDED_BY(mu) = 0;
    std::deque<ClusterDecision> decisions ABSL_GUARDED_BY(mu);
    ClusterStatus status ABSL_GUARDED_BY(mu);
    std::vector<absl::Time> link_last_heard ABSL_GUARDED_BY(mu);
    std::atomic<uint64_t> send_errors[2] = {0, 0};
    std::atomic<bool> drop_sends[2] = {false, false};
  };

  ClusterNodeOptions opts_;
  Clock* clock_ = nullptr;
  resources::ProcessRunner* runner_ = nullptr;
  TimingOptions timing_;
  QuorumOptions qopts_;
  std::string state_path_;
  uint64_t incarnation_ = 0;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::vector<int> links_;  // link ids in use
  int udp_fd_ = -1;
  int udp_port_ = 0;
  sockaddr_storage peer_udp_{};
  socklen_t peer_udp_len_ = 0;
  std::unique_ptr<peer::PeerClient> peer_client_;
  bool started_ = false, stopped_ = false;
  // Loop thread only (set by posted commands).
  bool standby_ = false;
  bool resources_banned_ = false;
  bool takeover_ = false;  // requested, until the next promotion

 private:
  struct LinkStats {
    absl::Time last_heard = absl::InfinitePast();
    uint64_t sent = 0, received = 0, refused = 0;
    absl::Time last_refusal_log = absl::InfinitePast();
    uint64_t suppressed = 0;
  };
  struct WitnessJob {
    uint64_t seq;
    wire::WitnessRequest req;
  };

  void Loop();
  void UdpReceiveLoop();
  void WitnessLoop();
  void OnMessage(int link, const std::string& from, const std::string& bytes);
  void Refused(int link, const std::string& from, const absl::Status& why);
  void OnWitnessResult(uint64_t predicted, uint64_t actual,
                       absl::StatusOr<wire::WitnessReply> r);
  void OnFenceDone(absl::StatusOr<resources::ProcessResult> r);
  void Step();
  void SendHeartbeats(absl::Time now);
  void MaybeAskWitness(absl::Time now);
  void StartFence(const std::string& reason);
  void Emit(ClusterDecision::Type t, absl::Time at, std::string reason, int link = -1);
  void EmitDetector(const DetectorEvent& e);
  void PersistIfChanged();
  void Publish();
  void UpdateStatus(absl::Time now);
  absl::Time NextWake(absl::Time now);
  DiskState EffectiveDisk() const;
  const char* LinkName(int link) const { return link == kGrpcLink ? "grpc" : "udp"; }

  // Loop-thread state.
  std::unique_ptr<EnvelopeSigner> signer_;
  std::unique_ptr<EnvelopeVerifier> verifier_;
  std::unique_ptr<FailureDetector> fd_;
  std::unique_ptr<QuorumTracker> q_;
  std::unique_ptr<RoleManager> rm_;
  RuntimeState saved_;
  DiskState local_disk_ = DiskState::kUpToDate;
  bool outdated_ = false;
  absl::Time next_hb_ = absl::InfinitePast();
  absl::Time next_witness_ = absl::InfinitePast();
  bool witness_in_flight_ = false;
  uint64_t witness_next_seq_ = 1;
  uint64_t last_peer_gen_ = 0;
  uint64_t peer_incarnation_ = 0;
  bool prev_quorate_ = false;
  uint64_t witness_term_ = 0;
  std::string witness_error_;
  absl::Time witness_error_logged_ = absl::InfinitePast();
  std::optional<std::pair<bool, uint64_t>> witness_logged_;  // granted, term
  bool fencing_ = false;
  std::optional<int> last_fence_exit_;
  std::string last_decision_;
  std::optional<PeerStatus> peer_status_;
  std::vector<LinkStats> stats_ = std::vector<LinkStats>(2);
  std::vector<ClusterDecision> pending_;  // published after persisting
  Clock::TimerId timer_ = 0;
  absl::Time timer_at_ = absl::InfiniteFuture();

  // Witness thread.
  std::unique_ptr<witness::WitnessClient> witness_client_;
  absl::Mutex wmu_;
  std::optional<WitnessJob> wjob_ ABSL_GUARDED_BY(wmu_);
  bool wstop_ ABSL_GUARDED_BY(wmu_) = false;

  std::thread loop_thread_, udp_thread_, witness_thread_, fence_thread_;
};

absl::Status ClusterNode::Impl::Init() {
  clock_ = opts_.clock != nullptr ? opts_.clock : Clock::System();
  runner_ = opts_.runner != nullptr ? opts_.runner : resources::ProcessRunner::System();
  if (opts_.cluster_name.empty()) {
    return absl::InvalidArgumentError("cluster node: cluster_name is empty");
  }
  if (opts_.self == 0 || opts_.peer == 0 || opts_.self == opts_.peer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster node: node ids must be non-zero and distinct (self ", opts_.self, ", peer ",
        opts_.peer, "); hint: config ids 0/1 map to cluster ids 1/2"));
  }
  if (opts_.self_name.empty()) opts_.self_name = absl::StrCat("node", opts_.self);
  if (opts_.peer_name.empty()) opts_.peer_name = absl::StrCat("node", opts_.peer);
  if (opts_.keys == nullptr) return absl::InvalidArgumentError("cluster node: keys are required");
  if (opts_.state_dir.empty()) {
    return absl::InvalidArgumentError("cluster node: state_dir is required");
  }
  bool grpc = opts_.peer_server != nullptr;
  bool udp = !opts_.udp_address.empty();
  if (!grpc && !opts_.peer_grpc_address.empty()) {
    return absl::InvalidArgumentError(
        "cluster node: peer_grpc_address is set but there is no peer_server");
  }
  if (!grpc && !udp) {
    return absl::InvalidArgumentError(
        "cluster node: no heartbeat link (set peer_server and/or udp_address)");
  }
  std::vector<std::string> warnings;
  HAFS_ASSIGN_OR_RETURN(timing_, ValidateTiming(opts_.timing, &warnings));
  for (const auto& w : warnings) HAFS_LOG(WARNING) << "cluster: " << w;
  QuorumOptions q = opts_.quorum;
  if (q.peer_lease <= absl::ZeroDuration()) q.peer_lease = timing_.deadtime;
  if (q.witness_lease <= absl::ZeroDuration()) q.witness_lease = timing_.deadtime;
  HAFS_ASSIGN_OR_RETURN(qopts_, ValidateQuorum(q));
  if (qopts_.mode == QuorumMode::kWitness && opts_.witness_address.empty()) {
    return absl::InvalidArgumentError(
        "cluster node: quorum mode witness needs witness_address; hint: set "
        "quorum.witness_address or use two_node");
  }
  if (!opts_.fence_peer_command.empty() &&
      (opts_.fence_peer_command[0].empty() || opts_.fence_peer_command[0][0] != '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster node: fence-peer command \"", opts_.fence_peer_command[0],
        "\" must be an absolute path"));
  }

  // Persistent state: a new incarnation before anything is sent.
  state_path_ = opts_.state_dir + "/cluster.state";
  HAFS_ASSIGN_OR_RETURN(std::optional<RuntimeState> loaded, LoadRuntimeStateFile(state_path_));
  RuntimeState st;
  if (loaded.has_value()) {
    st = *loaded;
    HAFS_LOG(INFO) << "cluster: loaded " << state_path_ << ": incarnation " << st.incarnation
                   << ", known term " << st.known_term << ", outdated " << st.outdated
                   << ", generation " << absl::StrCat(absl::Hex(st.generation));
  } else if (opts_.initial_generation.has_value()) {
    st.generation = opts_.initial_generation->generation;
    st.history = opts_.initial_generation->history;
  }
  uint64_t wall = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(absl::Now())));
  incarnation_ = std::max(st.incarnation + 1, wall);
  st.incarnation = incarnation_;
  HAFS_RETURN_IF_ERROR(SaveRuntimeStateFile(state_path_, st));
  saved_ = st;
  outdated_ = st.outdated;
  local_disk_ = opts_.disk;

  // Links.
  if (grpc) links_.push_back(kGrpcLink);
  if (udp) {
    links_.push_back(kUdpLink);
    sockaddr_storage local{};
    socklen_t len = 0;
    HAFS_RETURN_IF_ERROR(ResolveUdp(opts_.udp_address, true, &local, &len));
    udp_fd_ = ::socket(local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (udp_fd_ < 0) {
      return absl::InternalError(absl::StrCat("cluster: UDP socket: ", std::strerror(errno)));
    }
    if (::bind(udp_fd_, reinterpret_cast<sockaddr*>(&local), len) != 0) {
      int e = errno;
      ::close(udp_fd_);
      udp_fd_ = -1;
      return absl::UnavailableError(absl::StrCat("cluster: bind UDP ", opts_.udp_address, ": ",
                                                 std::strerror(e),
                                                 "; hint: another process uses the port?"));
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof(bound);
    ::getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
    udp_port_ = bound.ss_family == AF_INET
                    ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                    : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    if (!opts_.peer_udp_address.empty()) {
      HAFS_RETURN_IF_ERROR(SetPeerUdpAddress(opts_.peer_udp_address));
    }
  }

  // Cores, the way cluster_sim.cc glues them.
  absl::Time now = clock_->Now();
  signer_ = std::make_unique<EnvelopeSigner>(*opts_.keys, opts_.cluster_name, opts_.self,
                                             incarnation_);
  verifier_ = std::make_unique<EnvelopeVerifier>(*opts_.keys, opts_.cluster_name, opts_.self);
  std::vector<std::string> names;
  for (int l = 0; l <= kUdpLink; ++l) names.push_back(LinkName(l));
  // Step() runs at least every keepalive (Loop): a longer gap is our own pause.
  fd_ = std::make_unique<FailureDetector>(timing_, std::vector<PeerConfig>{{opts_.peer, names}},
                                          now, 2 * timing_.keepalive);
  // A link we do not have never comes up; its kInit -> kDead after initdead
  // is harmless (a node is alive iff some link is up).
  q_ = std::make_unique<QuorumTracker>(qopts_, now, st.known_term);
  RoleOptions ro;
  ro.self = opts_.self;
  ro.peer = opts_.peer;
  ro.preferred = opts_.preferred;
  ro.auto_failback = opts_.auto_failback;
  ro.preference = opts_.preference;
  ro.stickiness = opts_.stickiness;
  ro.fencing = opts_.fence_peer_command.empty() ? FencingPolicy::kDontCare : opts_.fencing;
  ro.loss_action = qopts_.loss_action;
  ro.deadtime = timing_.deadtime;
  ro.fence_retry = opts_.fence_retry;
  ro.incarnation = incarnation_;
  ro.confirm_demote = opts_.confirm_demote;
  rm_ = std::make_unique<RoleManager>(ro, PersistedRoleState{st.generation, st.history});
  if (qopts_.mode == QuorumMode::kWitness) {
    witness_client_ = std::make_unique<witness::WitnessClient>(
        opts_.witness_address, *opts_.keys, opts_.cluster_name, opts_.self, incarnation_,
        opts_.witness_id);
  }
  {
    absl::MutexLock l(&shared_->mu);
    shared_->link_last_heard.assign(2, absl::InfinitePast());
  }
  UpdateStatus(now);
  return absl::OkStatus();
}

absl::Status ClusterNode::Impl::SetPeerUdpAddress(const std::string& address) {
  if (udp_fd_ < 0) return absl::FailedPreconditionError("cluster: no UDP link configured");
  if (started_) return absl::FailedPreconditionError("cluster: already started");
  sockaddr_storage a{};
  socklen_t len = 0;
  HAFS_RETURN_IF_ERROR(ResolveUdp(address, false, &a, &len));
  peer_udp_ = a;
  peer_udp_len_ = len;
  opts_.peer_udp_address = address;
  return absl::OkStatus();
}

absl::Status ClusterNode::Impl::Start() {
  if (started_) return absl::FailedPreconditionError("cluster: Start() called twice");
  if (udp_fd_ >= 0 && peer_udp_len_ == 0) {
    return absl::FailedPreconditionError("cluster: the peer's UDP address is not set");
  }
  if (opts_.peer_server != nullptr) {
    if (opts_.peer_grpc_address.empty()) {
      return absl::FailedPreconditionError("cluster: the peer's gRPC address is not set");
    }
    HAFS_ASSIGN_OR_RETURN(
        peer_client_,
        peer::PeerClient::Create(opts_.peer_server, opts_.peer_grpc_address, absl::Seconds(1)));
    std::weak_ptr<Shared> weak = shared_;
    Impl* self = this;
    opts_.peer_server->SetHeartbeatHandler(
        [weak, self](const peer::HeartbeatFrame& in,
                     const std::string& from) -> absl::StatusOr<peer::HeartbeatFrame> {
          std::shared_ptr<Shared> sh = weak.lock();
          if (sh == nullptr) return absl::UnavailableError("cluster node stopped");
          absl::MutexLock l(&sh->mu);
          if (sh->stopping) return absl::UnavailableError("cluster node stopping");
          sh->inbox.push_back([self, from, bytes = in.envelope()] {
            self->OnMessage(kGrpcLink, from, bytes);
          });
          // Our own heartbeats go out on their own schedule; the answer is empty.
          return peer::HeartbeatFrame();
        });
  }
  started_ = true;
  HAFS_LOG(INFO) << "cluster: node " << opts_.self_name << " (id " << opts_.self
                 << ", incarnation " << incarnation_ << ") starting: links "
                 << absl::StrJoin(links_, ",", [this](std::string* o, int l) {
                      absl::StrAppend(o, LinkName(l));
                    })
                 << ", keepalive " << timing_.keepalive << ", warntime " << timing_.warntime
                 << ", deadtime " << timing_.deadtime << ", initdead " << timing_.initdead
                 << ", quorum " << QuorumModeName(qopts_.mode);
  loop_thread_ = std::thread([this] { Loop(); });
  if (udp_fd_ >= 0) udp_thread_ = std::thread([this] { UdpReceiveLoop(); });
  if (witness_client_ != nullptr) witness_thread_ = std::thread([this] { WitnessLoop(); });
  return absl::OkStatus();
}

void ClusterNode::Impl::Stop() {
  if (!started_ || stopped_) {
    if (udp_fd_ >= 0 && !started_) {
      ::close(udp_fd_);
      udp_fd_ = -1;
    }
    return;
  }
  stopped_ = true;
  if (opts_.peer_server != nullptr) opts_.peer_server->SetHeartbeatHandler(nullptr);
  {
    absl::MutexLock l(&shared_->mu);
    shared_->stopping = true;
  }
  {
    absl::MutexLock l(&wmu_);
    wstop_ = true;
  }
  if (loop_thread_.joinable()) loop_thread_.join();
  if (udp_thread_.joinable()) udp_thread_.join();
  if (witness_thread_.joinable()) witness_thread_.join();
  if (fence_thread_.joinable()) fence_thread_.join();
  if (timer_ != 0) clock_->Cancel(timer_);
  {
    // RPC completions reference only `shared_`, but the channel must outlive
    // them: wait for the outstanding calls (each is bounded by its deadline).
    absl::MutexLock l(&shared_->mu);
    Shared* sh = shared_.get();
    shared_->mu.AwaitWithTimeout(
        absl::Condition(
            +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->grpc_in_flight == 0; }, sh),
        timing_.deadtime + absl::Seconds(2));
    shared_->status.running = false;
    shared_->inbox.clear();
  }
  peer_client_.reset();
  if (udp_fd_ >= 0) {
    ::close(udp_fd_);
    udp_fd_ = -1;
  }
  HAFS_LOG(INFO) << "cluster: node " << opts_.self_name << " stopped";
}

void ClusterNode::Impl::Post(std::function<void()> fn) {
  absl::MutexLock l(&shared_->mu);
  if (shared_->stopping) return;
  shared_->inbox.push_back(std::move(fn));
}

std::vector<ClusterDecision> ClusterNode::Impl::TakeDecisions(absl::Duration wait) {
  absl::MutexLock l(&shared_->mu);
  if (wait > absl::ZeroDuration()) {
    Shared* sh = shared_.get();
    shared_->mu.AwaitWithTimeout(
        absl::Condition(
            +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s->decisions.empty(); }, sh),
        wait);
  }
  std::vector<ClusterDecision> out(shared_->decisions.begin(), shared_->decisions.end());
  shared_->decisions.clear();
  return out;
}

ClusterStatus ClusterNode::Impl::Status() {
  absl::Time now = clock_->Now();
  absl::MutexLock l(&shared_->mu);
  ClusterStatus s = shared_->status;
  for (LinkStatus& ls : s.links) {
    absl::Time t = shared_->link_last_heard[ls.id];
    ls.last_heard_age = t == absl::InfinitePast() ? absl::InfiniteDuration() : now - t;
    ls.send_errors = shared_->send_errors[ls.id].load();
  }
  return s;
}

// ---- loop ----

absl::Time ClusterNode::Impl::NextWake(absl::Time now) {
  absl::Time next = std::min({next_hb_, fd_->NextDeadline(), q_->NextDeadline(now),
                              now + timing_.keepalive});
  if (qopts_.mode == QuorumMode::kWitness && !witness_in_flight_ &&
      q_->WantWitness(now, rm_->role() == Role::kPrimary)) {
    // (When it does not want the witness yet, the keepalive cap re-checks.)
    next = std::min(next, std::max(next_witness_, now + absl::Milliseconds(1)));
  }
  return std::max(next, now);
}

void ClusterNode::Impl::Loop() {
  Shared* sh = shared_.get();
  bool system_clock = clock_ == Clock::System();
  Step();
  for (;;) {
    absl::Time now = clock_->Now();
    absl::Time next = NextWake(now);
    absl::Duration wait = next - now;
    if (!system_clock && next != timer_at_) {
      if (timer_ != 0) clock_->Cancel(timer_);
      std::weak_ptr<Shared> weak = shared_;
      timer_at_ = next;
      timer_ = clock_->ScheduleAt(next, [weak] {
        if (auto s = weak.lock()) {
          absl::MutexLock l(&s->mu);
          s->wake = true;
        }
      });
      wait = absl::Milliseconds(100);  // real-time fallback; the timer wakes us
    }
    std::deque<std::function<void()>> work;
    {
      absl::MutexLock l(&sh->mu);
      sh->mu.AwaitWithTimeout(
          absl::Condition(
              +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return s->stopping || s->wake || !s->inbox.empty();
              },
              sh),
          wait);
      if (sh->stopping) break;
      sh->wake = false;
      work.swap(sh->inbox);
    }
    if (!system_clock && timer_ != 0 && clock_->Now() >= timer_at_) {
      timer_ = 0;
      timer_at_ = absl::InfiniteFuture();
    }
    for (auto& fn : work) fn();
    Step();
  }
}

void ClusterNode::Impl::UdpReceiveLoop() {
  std::string buf(65536, '\0');
  for (;;) {
    {
      absl::MutexLock l(&shared_->mu);
      if (shared_->stopping) return;
    }
    pollfd p{udp_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r <= 0) continue;
    sockaddr_storage from{};
    socklen_t flen = sizeof(from);
    ssize_t n = ::recvfrom(udp_fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) continue;
    std::string bytes(buf.data(), static_cast<size_t>(n));
    std::string addr = SockaddrString(from);
    Post([this, addr = std::move(addr), bytes = std::move(bytes)] {
      OnMessage(kUdpLink, addr, bytes);
    });
  }
}

void ClusterNode::Impl::WitnessLoop() {
  absl::Duration timeout = std::max(timing_.deadtime, absl::Milliseconds(500));
  for (;;) {
    WitnessJob job;
    {
      absl::MutexLock l(&wmu_);
      wmu_.Await(absl::Condition(
          +[](Impl* i) ABSL_NO_THREAD_SAFETY_ANALYSIS { return i->wstop_ || i->wjob_.has_value(); },
          this));
      if (wstop_) return;
      job = *std::move(wjob_);
      wjob_.reset();
    }
    absl::StatusOr<wire::WitnessReply> r = witness_client_->Ask(job.req, timeout);
    uint64_t actual = 0;
    wire::Envelope env;
    wire::Body body;
    if (env.ParseFromString(witness_client_->last_request()) &&
        body.ParseFromString(env.body())) {
      actual = body.seq();
    }
    Post([this, predicted = job.seq, actual, r = std::move(r)]() mutable {
      OnWitnessResult(predicted, actual, std::move(r));
    });
  }
}

void ClusterNode::Impl::Refused(int link, const std::string& from, const absl::Status& why) {
  LinkStats& st = stats_[link];
  st.refused++;
  absl::Time now = clock_->Now();
  if (now - st.last_refusal_log >= opts_.refusal_log_interval) {
    HAFS_LOG(WARNING) << "cluster: refused heartbeat on link " << LinkName(link) << " from "
                      << from << ": " << why.ToString()
                      << (st.suppressed > 0 ? absl::StrCat(" (", st.suppressed,
                                                           " more refused since the last line)")
                                            : "")
                      << "; not acted on";
    st.last_refusal_log = now;
    st.suppressed = 0;
  } else {
    st.suppressed++;
  }
}

void ClusterNode::Impl::OnMessage(int link, const std::string& from, const std::string& bytes) {
  absl::StatusOr<wire::Body> b = verifier_->Open(bytes);
  if (!b.ok()) {
    Refused(link, from, b.status());
    return;
  }
  if (b->sender() != opts_.peer) {
    Refused(link, from,
            absl::PermissionDeniedError(absl::StrCat("sender is node ", b->sender(),
                                                     ", expected the peer ", opts_.peer)));
    return;
  }
  if (!b->has_heartbeat()) {
    Refused(link, from, absl::InvalidArgumentError("not a heartbeat"));
    return;
  }
  absl::Time now = clock_->Now();
  LinkStats& st = stats_[link];
  st.received++;
  st.last_heard = now;
  const wire::Heartbeat& hb = b->heartbeat();
  auto evs = fd_->OnHeartbeat(b->sender(), link, b->incarnation(), b->seq(), now);
  if (evs.ok()) {
    for (const DetectorEvent& ev : *evs) {
      if (ev.type == DetectorEvent::Type::kNodeRestarted) {
        q_->OnPeerRestart();
        rm_->OnPeerRestart();
        peer_status_.reset();
      }
      EmitDetector(ev);
    }
  }
  if (b->incarnation() < peer_incarnation_) return;  // an old life
  peer_incarnation_ = b->incarnation();
  q_->OnPeerHeartbeat(b->seq(), hb.echo_seq(), now);
  PeerStatus s;
  s.seq = b->seq();
  s.role = RoleFromWire(hb.role());
  s.disk = DiskFromWire(hb.disk());
  s.standby = hb.standby();
  s.takeover = hb.takeover();
  s.promote_intent = hb.promote_intent();
  s.intent_ack_seq = hb.intent_ack_seq();
  s.generation = hb.data_generation();
  s.history.assign(hb.generation_history().begin(), hb.generation_history().end());
  s.demoting = hb.demoting();
  last_peer_gen_ = s.generation;
  rm_->OnPeerStatus(s);
  if (!peer_status_.has_value() || s.seq > peer_status_->seq) peer_status_ = s;
  q_->OnPeerKnownTerm(hb.witness_term(), hb.echo_seq(), now);
  Step();
}

void ClusterNode::Impl::OnWitnessResult(uint64_t predicted, uint64_t actual,
                                        absl::StatusOr<wire::WitnessReply> r) {
  witness_in_flight_ = false;
  if (actual != 0) {
    if (actual != predicted) {
      HAFS_LOG(ERROR) << "cluster: witness request went out with seq " << actual
                      << ", recorded as " << predicted << "; its answer is ignored";
    }
    witness_next_seq_ = actual + 1;
  }
  absl::Time now = clock_->Now();
  if (!r.ok()) {
    witness_error_ = r.status().ToString();
    if (now - witness_error_logged_ >= opts_.refusal_log_interval) {
      HAFS_LOG(WARNING) << "cluster: witness " << opts_.witness_address << ": " << witness_error_;
      witness_error_logged_ = now;
    }
    Step();
    return;
  }
  witness_error_.clear();
  QuorumTracker::WitnessAnswer a;
  a.request_seq = r->request_seq();
  a.granted = r->granted();
  a.lease = absl::Milliseconds(r->lease_ms());
  a.term = r->term();
  a.peer_term = r->other_holder() == opts_.peer ? r->other_term() : 0;
  witness_term_ = r->term();
  std::pair<bool, uint64_t> key{r->granted(), r->term()};
  if (!witness_logged_.has_value() || *witness_logged_ != key) {
    HAFS_LOG(INFO) << "cluster: witness " << (r->granted() ? "granted its vote" : "refused")
                   << " (term " << r->term() << ", lease " << r->lease_ms() << "ms"
                   << (r->granted() ? "" : absl::StrCat(", holder ", r->holder(), ": ",
                                                        r->reason()))
                   << ")";
    witness_logged_ = key;
  }
  if (q_->OnWitnessReply(a, now) && !outdated_) {
    outdated_ = true;
    HAFS_LOG(WARNING) << "cluster: the witness shows that " << opts_.peer_name
                      << " held term " << r->other_term()
                      << " which this node never knew: marking the local disk Outdated";
    Emit(ClusterDecision::Type::kMarkOutdated, now,
         absl::StrCat("peer held witness term ", r->other_term(), " (known term ",
                      q_->known_term(), ")"));
  }
  Step();
}

void ClusterNode::Impl::StartFence(const std::string& reason) {
  if (fence_thread_.joinable()) fence_thread_.join();  // the previous run has finished
  fencing_ = true;
  resources::ProcessSpec spec;
  spec.argv = opts_.fence_peer_command;
  spec.timeout = opts_.fence_timeout;
  spec.env = opts_.fence_env;
  spec.env.emplace("DRBD_RESOURCE", opts_.cluster_name);
  spec.env["DRBD_PEER"] = opts_.peer_name;
  spec.env["DRBD_PEERS"] = opts_.peer_name;
  spec.env["DRBD_PEER_NODE_ID"] = absl::StrCat(opts_.peer);
  spec.env["DRBD_PEER_ADDRESS"] = opts_.peer_grpc_address;
  spec.env["HAFS_CLUSTER"] = opts_.cluster_name;
  spec.env["HAFS_PEER"] = opts_.peer_name;
  HAFS_LOG(WARNING) << "cluster: running fence-peer " << absl::StrJoin(spec.argv, " ") << " ("
                    << reason << ")";
  resources::ProcessRunner* runner = runner_;
  fence_thread_ = std::thread([this, runner, spec] {
    absl::StatusOr<resources::ProcessResult> r = runner->Run(spec);
    Post([this, r = std::move(r)]() mutable { OnFenceDone(std::move(r)); });
  });
}

void ClusterNode::Impl::OnFenceDone(absl::StatusOr<resources::ProcessResult> r) {
  fencing_ = false;
  int code = -1;
  std::string what;
  if (!r.ok()) {
    what = absl::StrCat("did not run: ", r.status().ToString());
  } else if (r->timed_out) {
    what = absl::StrCat("timed out after ", absl::FormatDuration(opts_.fence_timeout));
  } else if (r->signal != 0) {
    what = absl::StrCat("killed by signal ", r->signal);
  } else {
    code = r->exit_code;
    what = absl::StrCat("exit ", code);
  }
  last_fence_exit_ = code;
  absl::Time now = clock_->Now();
  const char* meaning = code == kFencePeerInconsistent  ? "peer Inconsistent"
                        : code == kFencePeerOutdated    ? "peer outdated"
                        : code == kFencePeerUnreachable ? "peer unreachable"
                        : code == kFencePeerRefusedPrimary ? "peer refused: it is primary"
                        : code == kFencePeerStonithed   ? "peer STONITHed"
                                                        : "handler failed";
  HAFS_LOG(WARNING) << "cluster: fence-peer " << what << " (" << meaning << ")"
                    << (r.ok() && !r->output.empty()
                            ? absl::StrCat("; output: ", r->output.substr(0, 200))
                            : "");
  rm_->OnFenceResult(code, now);
  Emit(ClusterDecision::Type::kFenceResult, now, absl::StrCat(what, " (", meaning, ")"));
  Step();
}

void ClusterNode::Impl::Emit(ClusterDecision::Type t, absl::Time at, std::string reason,
                             int link) {
  ClusterDecision d{t, at, link, std::move(reason)};
  if (t == ClusterDecision::Type::kPromote) takeover_ = false;
  if (t == ClusterDecision::Type::kDemote) d.demote_seq = rm_->demote_seq();
  if (d.IsRoleAction()) {
    last_decision_ = DebugString(d);
    HAFS_LOG(INFO) << "cluster: decision " << last_decision_;
  }
  pending_.push_back(std::move(d));
}

void ClusterNode::Impl::EmitDetector(const DetectorEvent& e) {
  using T = DetectorEvent::Type;
  using D = ClusterDecision::Type;
  std::string peer = opts_.peer_name;
  bool have_link = e.link < 0 || std::find(links_.begin(), links_.end(), e.link) != links_.end();
  if (!have_link) return;  // an unconfigured link's initdead expiry
  switch (e.type) {
    case T::kLinkUp:
      HAFS_LOG(INFO) << "cluster: link " << LinkName(e.link) << " to " << peer << " is up";
      Emit(D::kLinkUp, e.at, "", e.link);
      break;
    case T::kLinkLate:
      HAFS_LOG(WARNING) << "cluster: link " << LinkName(e.link) << " to " << peer
                        << " is late: no heartbeat for warntime " << timing_.warntime;
      Emit(D::kLinkLate, e.at, absl::StrCat("silent for ", absl::FormatDuration(timing_.warntime)),
           e.link);
      break;
    case T::kLinkDead: {
      bool alive = fd_->node_state(opts_.peer) == NodeState::kAlive;
      std::string why = absl::StrCat(
          "no heartbeat for ",
          absl::FormatDuration(stats_[e.link].last_heard == absl::InfinitePast()
                                   ? timing_.initdead
                                   : timing_.deadtime),
          alive ? "; the node is still reachable over another link (no failover)" : "");
      HAFS_LOG(WARNING) << "cluster: link " << LinkName(e.link) << " to " << peer
                        << " is dead: " << why;
      Emit(D::kLinkDead, e.at, why, e.link);
      break;
    }
    case T::kNodeAlive:
      HAFS_LOG(INFO) << "cluster: node " << peer << " is alive";
      Emit(D::kNodeAlive, e.at, "");
      break;
    case T::kNodeDead:
      HAFS_LOG(WARNING) << "cluster: node " << peer << " is dead: no heartbeat on any link";
      Emit(D::kNodeDead, e.at, "no heartbeat on any link");
      break;
    case T::kNodeRestarted:
      HAFS_LOG(WARNING) << "cluster: node " << peer << " restarted (new incarnation)";
      Emit(D::kNodeRestarted, e.at, "new incarnation");
      break;
    case T::kSelfPaused: {
      rm_->OnLocalPause(e.at);
      std::string why = absl::StrCat(
          "this node did not run for ",
          absl::FormatDuration(absl::Trunc(e.gap, absl::Milliseconds(1))),
          " (stopped, suspended or starved of CPU): ", peer,
          "'s silence in that time does not count; its heartbeats get ",
          absl::FormatDuration(2 * timing_.keepalive), " to arrive before it is judged");
      HAFS_LOG(WARNING) << "cluster: " << why;
      Emit(D::kSelfPaused, e.at, why);
      break;
    }
  }
}

DiskState ClusterNode::Impl::EffectiveDisk() const {
  if (outdated_ && (local_disk_ == DiskState::kUpToDate || local_disk_ == DiskState::kConsistent)) {
    return DiskState::kOutdated;
  }
  return local_disk_;
}

void ClusterNode::Impl::Step() {
  absl::Time now = clock_->Now();
  for (const DetectorEvent& ev : fd_->Tick(now)) EmitDetector(ev);
  RoleInputs in;
  in.quorate = q_->Quorate(now, rm_->PeerMaybePrimary());
  in.connected = q_->Connected(now);
  in.peer_dead = fd_->node_state(opts_.peer) == NodeState::kDead;
  in.quorum_pending = q_->QuorumPending(now);
  in.disk = EffectiveDisk();
  if (in.quorate != prev_quorate_) {
    if (in.quorate) {
      HAFS_LOG(INFO) << "cluster: quorum gained";
      Emit(ClusterDecision::Type::kQuorumGained, now, "");
    } else {
      HAFS_LOG(WARNING) << "cluster: quorum lost" << (in.quorum_pending ? " (pending)" : "");
      Emit(ClusterDecision::Type::kQuorumLost, now, in.quorum_pending ? "pending" : "");
    }
    prev_quorate_ = in.quorate;
  }
  for (const RoleAction& a : rm_->Update(now, in)) {
    if (a.type == RoleAction::Type::kRunFencePeer) {
      StartFence(a.reason);
      continue;
    }
    Emit(FromRoleAction(a.type), now, a.reason);
  }
  if (outdated_ && in.connected && last_peer_gen_ == rm_->persisted().generation) {
    outdated_ = false;
    HAFS_LOG(INFO) << "cluster: connected with equal data generations: Outdated cleared";
    Emit(ClusterDecision::Type::kClearOutdated, now, "connected and in sync with the peer");
  }
  PersistIfChanged();
  Publish();
  SendHeartbeats(now);
  MaybeAskWitness(now);
  UpdateStatus(now);
}

void ClusterNode::Impl::PersistIfChanged() {
  RuntimeState st;
  st.incarnation = incarnation_;
  st.known_term = q_->known_term();
  st.outdated = outdated_;
  st.generation = rm_->persisted().generation;
  st.history = rm_->persisted().history;
  if (st == saved_) return;
  absl::Status s = SaveRuntimeStateFile(state_path_, st);
  if (!s.ok()) {
    // Keep running on the in-memory state; retried at the next change/step.
    HAFS_LOG(ERROR) << "cluster: cannot persist " << state_path_ << ": " << s;
    return;
  }
  saved_ = st;
}

void ClusterNode::Impl::Publish() {
  if (pending_.empty()) return;
  {
    absl::MutexLock l(&shared_->mu);
    for (auto& d : pending_) {
      shared_->decisions.push_back(std::move(d));
      if (shared_->decisions.size() > 4096) shared_->decisions.pop_front();
    }
  }
  pending_.clear();
  if (opts_.on_decision) opts_.on_decision();
}

void ClusterNode::Impl::SendHeartbeats(absl::Time now) {
  if (now < next_hb_) return;
  for (int link : links_) {
    uint64_t seq = signer_->next_seq();
    wire::Body b;
    b.set_receiver(opts_.peer);
    wire::Heartbeat* hb = b.mutable_heartbeat();
    hb->set_link(link);
    hb->set_echo_seq(q_->OnSend(seq, now));
    LocalStatus s = rm_->MakeStatus(seq);
    hb->set_role(RoleToWire(s.role));
    hb->set_disk(DiskToWire(s.disk));
    hb->set_standby(s.standby);
    hb->set_takeover(s.takeover);
    hb->set_promote_intent(s.promote_intent);
    hb->set_intent_ack_seq(s.intent_ack_seq);
    hb->set_data_generation(s.generation);
    hb->set_demoting(s.demoting);
    hb->set_witness_term(q_->known_term());
    for (uint64_t g : s.history) hb->add_generation_history(g);
    std::string bytes = signer_->Seal(std::move(b));
    if (shared_->drop_sends[link].load()) continue;
    stats_[link].sent++;
    if (link == kGrpcLink) {
      std::shared_ptr<Shared> sh = shared_;
      {
        absl::MutexLock l(&sh->mu);
        if (sh->grpc_in_flight >= kMaxGrpcInFlight) {
          sh->send_errors[kGrpcLink]++;
          continue;
        }
        sh->grpc_in_flight++;
      }
      peer::HeartbeatFrame frame;
      frame.set_envelope(std::move(bytes));
      peer_client_->Heartbeat(frame, timing_.warntime,
                              [sh](absl::StatusOr<peer::HeartbeatFrame> r) {
                                if (!r.ok()) sh->send_errors[kGrpcLink]++;
                                absl::MutexLock l(&sh->mu);
                                sh->grpc_in_flight--;
                              });
    } else {
      ssize_t n = ::sendto(udp_fd_, bytes.data(), bytes.size(), MSG_DONTWAIT,
                           reinterpret_cast<const sockaddr*>(&peer_udp_), peer_udp_len_);
      if (n != static_cast<ssize_t>(bytes.size())) shared_->send_errors[kUdpLink]++;
    }
  }
  // After a pause, do not try to catch up: the next one keepalive from now.
  next_hb_ = std::max(next_hb_ + timing_.keepalive, now + timing_.keepalive / 2);
  if (next_hb_ > now + timing_.keepalive) next_hb_ = now + timing_.keepalive;
}

void ClusterNode::Impl::MaybeAskWitness(absl::Time now) {
  if (qopts_.mode != QuorumMode::kWitness || witness_in_flight_ || now < next_witness_) return;
  bool primary = rm_->role() == Role::kPrimary;
  if (!q_->WantWitness(now, primary)) return;
  uint64_t seq = witness_next_seq_++;
  WitnessJob job;
  job.seq = seq;
  job.req.add_partition(opts_.self);
  job.req.set_primary(primary);
  job.req.set_fresh(q_->OnWitnessRequest(seq, now));
  witness_in_flight_ = true;
  next_witness_ = now + timing_.keepalive;
  absl::MutexLock l(&wmu_);
  wjob_ = std::move(job);
}

void ClusterNode::Impl::UpdateStatus(absl::Time now) {
  ClusterStatus s;
  s.cluster_name = opts_.cluster_name;
  s.self = opts_.self;
  s.peer = opts_.peer;
  s.self_name = opts_.self_name;
  s.peer_name = opts_.peer_name;
  s.incarnation = incarnation_;
  s.running = started_ && !stopped_;
  for (int l : links_) {
    LinkStatus ls;
    ls.id = l;
    ls.name = LinkName(l);
    ls.state = fd_->link_state(opts_.peer, l);
    ls.sent = stats_[l].sent;
    ls.received = stats_[l].received;
    ls.refused = stats_[l].refused;
    s.links.push_back(ls);
  }
  s.peer_state = fd_->node_state(opts_.peer);
  s.quorum_mode = qopts_.mode;
  s.quorate = q_->Quorate(now, rm_->PeerMaybePrimary());
  s.quorum_pending = q_->QuorumPending(now);
  s.connected = q_->Connected(now);
  s.seen_all = q_->SeenAll();
  s.witness_grant = q_->GrantValid(now);
  s.expected_votes = qopts_.mode == QuorumMode::kWitness ? 3 : 2;
  s.votes = 1 + (s.connected ? 1 : 0) + (s.witness_grant ? 1 : 0);
  s.witness_term = witness_term_;
  s.known_term = q_->known_term();
  s.witness_error = witness_error_;
  s.role = rm_->role();
  s.io = rm_->io();
  s.disk = EffectiveDisk();
  s.outdated = outdated_;
  // (MakeStatus has side effects tied to the heartbeat it rides in: the
  // flags are tracked here instead.)
  s.standby = standby_;
  s.resources_banned = resources_banned_;
  s.takeover = takeover_;
  s.split_brain = rm_->split_brain();
  s.blocked_reason = rm_->blocked_reason();
  s.peer_known = peer_status_.has_value();
  if (peer_status_.has_value()) {
    s.peer_role = peer_status_->role;
    s.peer_disk = peer_status_->disk;
  }
  s.generation = rm_->persisted().generation;
  s.fencing = fencing_;
  s.last_fence_exit = last_fence_exit_;
  s.last_decision = last_decision_;
  absl::MutexLock l(&shared_->mu);
  for (int li : links_) shared_->link_last_heard[li] = stats_[li].last_heard;
  shared_->status = std::move(s);
}

// ---------------------------------------------------------------------------

ClusterNode::ClusterNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterNode::~ClusterNode() { Stop(); }

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Create(ClusterNodeOptions opts) {
  auto impl = std::make_unique<Impl>(std::move(opts));
  HAFS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<ClusterNode>(new ClusterNode(std::move(impl)));
}

absl::Status ClusterNode::SetPeerUdpAddress(const std::string& address) {
  return impl_->SetPeerUdpAddress(address);
}
void ClusterNode::SetPeerGrpcAddress(const std::string& address) {
  if (!impl_->started_) impl_->opts_.peer_grpc_address = address;
}
absl::Status ClusterNode::Start() { return impl_->Start(); }
void ClusterNode::Stop() { impl_->Stop(); }

void ClusterNode::SetLocalDisk(DiskState d) {
  Impl* i = impl_.get();
  i->Post([i, d] { i->SetLocalDiskOnLoop(d); });
}

void ClusterNode::Impl::OnCommand(
    const std::string& what, const std::function<std::vector<RoleAction>(RoleManager&)>& fn,
    absl::string_view source) {
  HAFS_LOG(INFO) << "cluster: " << source << ": " << what;
  absl::Time now = clock_->Now();
  for (const RoleAction& a : fn(*rm_)) {
    if (a.type == RoleAction::Type::kRunFencePeer) continue;
    Emit(FromRoleAction(a.type), now, a.reason);
  }
}

void ClusterNode::Standby(bool on) {
  Impl* i = impl_.get();
  i->Post([i, on] {
    i->standby_ = on;
    i->OnCommand(on ? "standby on" : "standby off", [on](RoleManager& rm) {
      rm.SetStandby(on);
      return std::vector<RoleAction>();
    });
  });
}

void ClusterNode::SetResourcesBanned(bool banned) {
  Impl* i = impl_.get();
  i->Post([i, banned] {
    if (i->resources_banned_ == banned) return;
    i->resources_banned_ = banned;
    i->OnCommand(banned ? "the group is banned from this node: hand over to the peer, do not "
                          "promote"
                        : "the ban on this node was lifted",
                 [banned](RoleManager& rm) {
                   rm.SetResourcesBanned(banned);
                   return std::vector<RoleAction>();
                 },
                 "resource executor");
  });
}

void ClusterNode::ResourcesStopped(uint64_t demote_seq) {
  Impl* i = impl_.get();
  i->Post([i, demote_seq] {
    if (!i->AwaitsDemoteDone(demote_seq)) return;  // nothing to log
    i->OnCommand("the resources stopped here: the demotion is complete",
                 [demote_seq](RoleManager& rm) {
                   rm.OnDemoteDone(demote_seq);
                   return std::vector<RoleAction>();
                 },
                 "resource executor");
  });
}

void ClusterNode::Takeover() {
  Impl* i = impl_.get();
  i->Post([i] {
    i->takeover_ = true;
    i->OnCommand("takeover", [](RoleManager& rm) {
      rm.Takeover();
      return std::vector<RoleAction>();
    });
  });
}

void ClusterNode::ForcePromote() {
  Impl* i = impl_.get();
  i->Post([i] {
    i->OnCommand("force promote", [](RoleManager& rm) {
      rm.ForcePromote();
      return std::vector<RoleAction>();
    });
  });
}

void ClusterNode::DiscardMyData() {
  Impl* i = impl_.get();
  i->Post([i] {
    i->OnCommand("discard-my-data", [](RoleManager& rm) { return rm.DiscardMyData(); });
  });
}

void ClusterNode::SplitBrainResolved() {
  Impl* i = impl_.get();
  i->Post([i] {
    i->OnCommand("split brain resolved (keep my data)", [](RoleManager& rm) {
      rm.SplitBrainResolved();
      return std::vector<RoleAction>();
    });
  });
}

std::vector<ClusterDecision> ClusterNode::TakeDecisions() {
  return impl_->TakeDecisions(absl::ZeroDuration());
}
std::vector<ClusterDecision> ClusterNode::WaitDecisions(absl::Duration timeout) {
  return impl_->TakeDecisions(timeout);
}
ClusterStatus ClusterNode::Status() { return impl_->Status(); }
uint64_t ClusterNode::incarnation() const { return impl_->incarnation_; }
int ClusterNode::udp_port() const { return impl_->udp_port_; }
const std::string& ClusterNode::state_file() const { return impl_->state_path_; }
void ClusterNode::SetDropSendsForTest(int link, bool drop) {
  if (link == kGrpcLink || link == kUdpLink) impl_->shared_->drop_sends[link].store(drop);
}

}  // namespace hafs::cluster
