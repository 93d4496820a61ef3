// Two ClusterNodes in one process over real UDP sockets and real gRPC
// PeerServers on 127.0.0.1 (ephemeral ports), SystemClock, keepalive 50 ms,
// deadtime 300 ms. Timing margins are generous (CI load): speed claims live in
// benchmarks/failover_detect.sh, not here.
#include "libhafs/cluster/runtime/cluster_node.h"

#include <stdlib.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/cluster/runtime/state_file.h"
#include "libhafs/peer/grpc_transport.h"
#include "libhafs/resources/process_runner.h"
#include "libhafs/witness/witness_service.h"

namespace hafs::cluster {
namespace {

using D = ClusterDecision::Type;
using ::hafs::testing::StatusIs;

constexpr absl::Duration kKeepalive = absl::Milliseconds(50);
constexpr absl::Duration kDeadtime = absl::Milliseconds(300);
// Generous: a loaded CI machine may stall threads for a while.
constexpr absl::Duration kWait = absl::Seconds(10);

std::shared_ptr<const auth::KeyRing> Keys(const std::string& secret) {
  auto r = auth::KeyRing::Create({{1, secret}}, 1);
  HAFS_CHECK(r.ok()) << r.status();
  return std::make_shared<const auth::KeyRing>(*std::move(r));
}

std::string TempDir() {
  std::string t = absl::StrCat(::testing::TempDir(), "/clusternode.XXXXXX");
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  HAFS_CHECK(::mkdtemp(buf.data()) != nullptr);
  return buf.data();
}

class CaptureSink : public LogSink {
 public:
  void Send(LogSeverity severity, absl::string_view line) override {
    absl::MutexLock l(&mu_);
    lines_.emplace_back(line);
    if (severity >= LogSeverity::kWarning) fprintf(stderr, "%.*s\n", (int)line.size(), line.data());
  }
  std::vector<std::string> Matching(absl::string_view needle) {
    absl::MutexLock l(&mu_);
    std::vector<std::string> out;
    for (const auto& s : lines_) {
      if (absl::StrContains(s, needle)) out.push_back(s);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_;
};

// One side: its PeerServer, state dir and (re)creatable ClusterNode.
struct Side {
  int index = 0;
  std::string dir;
  std::shared_ptr<const auth::KeyRing> keys;
  std::unique_ptr<peer::PeerServer> server;
  std::unique_ptr<ClusterNode> node;
  absl::Mutex mu;
  std::vector<ClusterDecision> seen;  // every decision drained so far

  void Drain() {
    if (node == nullptr) return;
    std::vector<ClusterDecision> ds = node->TakeDecisions();
    absl::MutexLock l(&mu);
    seen.insert(seen.end(), ds.begin(), ds.end());
  }
  int Count(D type) {
    Drain();
    absl::MutexLock l(&mu);
    return static_cast<int>(std::count_if(seen.begin(), seen.end(),
                                          [&](const ClusterDecision& d) { return d.type == type; }));
  }
  int CountLink(D type, int link) {
    Drain();
    absl::MutexLock l(&mu);
    return static_cast<int>(std::count_if(seen.begin(), seen.end(), [&](const ClusterDecision& d) {
      return d.type == type && d.link == link;
    }));
  }
  void ClearSeen() {
    Drain();
    absl::MutexLock l(&mu);
    seen.clear();
  }
};

bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout = kWait) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

class ClusterNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prev_sink_ = SetLogSink(&sink_);
    for (int i = 0; i < 2; ++i) {
      sides_[i].index = i;
      sides_[i].dir = TempDir();
      sides_[i].keys = Keys("cluster-node-test-secret-0123456789");
    }
  }
  void TearDown() override {
    for (auto& s : sides_) {
      s.node.reset();
      s.server.reset();
    }
    witness_server_.reset();
    witness_core_.reset();
    SetLogSink(prev_sink_);
  }

  void StartServers() {
    for (int i = 0; i < 2; ++i) {
      peer::PeerServiceOptions o;
      o.auth.cluster_name = "t";
      o.auth.node_id = i;
      o.auth.node_name = i == 0 ? "alpha" : "bravo";
      o.auth.incarnation = 1;
      o.auth.expected_peer_node_id = 1 - i;
      o.auth.keys = sides_[i].keys;
      auto s = peer::PeerServer::Start(o, "127.0.0.1:0");
      ASSERT_OK(s.status());
      sides_[i].server = *std::move(s);
    }
  }

  ClusterNodeOptions Options(int i) {
    ClusterNodeOptions o;
    o.cluster_name = "t";
    o.self = i + 1;
    o.peer = 2 - i;
    o.self_name = i == 0 ? "alpha" : "bravo";
    o.peer_name = i == 0 ? "bravo" : "alpha";
    o.peer_server = sides_[i].server.get();
    o.peer_grpc_address = absl::StrCat("127.0.0.1:", sides_[1 - i].server->port());
    o.udp_address = "127.0.0.1:0";
    o.timing.keepalive = kKeepalive;
    o.timing.deadtime = kDeadtime;
    o.timing.initdead = absl::Milliseconds(600);
    o.quorum.mode = QuorumMode::kTwoNode;
    o.keys = sides_[i].keys;
    o.state_dir = sides_[i].dir;
    o.fence_retry = absl::Milliseconds(200);
    if (witness_server_ != nullptr) {
      o.quorum.mode = QuorumMode::kWitness;
      o.witness_address = absl::StrCat("127.0.0.1:", witness_server_->port());
    }
    if (customize_) customize_(i, o);
    return o;
  }

  // Creates both nodes, wires the ephemeral UDP ports, starts them.
  void StartPair() {
    if (sides_[0].server == nullptr) StartServers();
    for (int i = 0; i < 2; ++i) {
      auto n = ClusterNode::Create(Options(i));
      ASSERT_OK(n.status());
      sides_[i].node = *std::move(n);
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_OK(sides_[i].node->SetPeerUdpAddress(
          absl::StrCat("127.0.0.1:", sides_[1 - i].node->udp_port())));
    }
    for (int i = 0; i < 2; ++i) ASSERT_OK(sides_[i].node->Start());
  }

  // Recreates one node (same state dir, same PeerServer) against the running other.
  void RestartNode(int i) {
    sides_[i].node.reset();
    auto n = ClusterNode::Create(Options(i));
    ASSERT_OK(n.status());
    sides_[i].node = *std::move(n);
    ASSERT_OK(sides_[i].node->SetPeerUdpAddress(
        absl::StrCat("127.0.0.1:", sides_[1 - i].udp_port_hint)));
    ASSERT_OK(sides_[i].node->Start());
  }

  int Primaries() {
    int p = 0;
    for (auto& s : sides_) {
      if (s.node != nullptr && s.node->Status().role == Role::kPrimary) ++p;
    }
    return p;
  }

  bool Settled() {
    for (auto& s : sides_) {
      ClusterStatus st = s.node->Status();
      if (st.peer_state != NodeState::kAlive || !st.connected) return false;
      for (const LinkStatus& l : st.links) {
        if (l.state != LinkState::kUp) return false;
      }
    }
    return Primaries() == 1;
  }

  void StartWitness() {
    witness::WitnessCoreOptions wo;
    wo.cluster_name = "t";
    wo.arbiter.lease = kDeadtime;
    wo.arbiter.decision_window = absl::Milliseconds(50);
    wo.state_file = TempDir() + "/witness.state";
    auto core = witness::WitnessCore::Create(wo, *Keys("cluster-node-test-secret-0123456789"),
                                             Clock::System());
    ASSERT_OK(core.status());
    witness_core_ = *std::move(core);
    auto server = witness::WitnessServer::Start("127.0.0.1:0", witness_core_.get());
    ASSERT_OK(server.status());
    witness_server_ = *std::move(server);
  }

  struct SideWithPort : Side {
    int udp_port_hint = 0;
  };
  CaptureSink sink_;
  LogSink* prev_sink_ = nullptr;
  SideWithPort sides_[2];
  std::function<void(int, ClusterNodeOptions&)> customize_;
  std::unique_ptr<witness::WitnessCore> witness_core_;
  std::unique_ptr<witness::WitnessServer> witness_server_;
};

TEST_F(ClusterNodeTest, BothAliveElectExactlyOnePrimary) {
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }))
      << FormatClusterStatus(sides_[0].node->Status())
      << FormatClusterStatus(sides_[1].node->Status());
  // No preference: the lower node id is designated (role_manager.h).
  EXPECT_EQ(sides_[0].node->Status().role, Role::kPrimary);
  absl::SleepFor(absl::Seconds(1));  // stays stable
  EXPECT_EQ(Primaries(), 1);
  EXPECT_EQ(sides_[0].Count(D::kPromote) + sides_[1].Count(D::kPromote), 1);
  EXPECT_EQ(sides_[0].Count(D::kNodeDead) + sides_[1].Count(D::kNodeDead), 0);
  EXPECT_EQ(sides_[0].Count(D::kNodeAlive), 1);
  EXPECT_EQ(sides_[0].Count(D::kQuorumGained), 1);
  ClusterStatus st = sides_[1].node->Status();
  EXPECT_EQ(st.votes, 2);
  EXPECT_TRUE(st.peer_known);
  EXPECT_EQ(st.peer_role, Role::kPrimary);
  ASSERT_EQ(st.links.size(), 2u);
  for (const LinkStatus& l : st.links) {
    EXPECT_GT(l.received, 5u) << l.name;
    EXPECT_EQ(l.refused, 0u) << l.name;
    EXPECT_LT(l.last_heard_age, absl::Seconds(5)) << l.name;
  }
  std::string text = FormatClusterStatus(st);
  EXPECT_THAT(text, ::testing::HasSubstr("link 1 udp: up"));
  EXPECT_THAT(text, ::testing::HasSubstr("peer alpha (id 1): alive, Primary/UpToDate"));
}

TEST_F(ClusterNodeTest, OneCutLinkIsAWarningNotAFailover) {
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  for (int link : {kUdpLink, kGrpcLink}) {
    SCOPED_TRACE(absl::StrCat("cut link ", link));
    sides_[0].ClearSeen();
    sides_[1].ClearSeen();
    // The primary (alpha) stops sending on one path; bravo hears only the other.
    sides_[0].node->SetDropSendsForTest(link, true);
    ASSERT_TRUE(WaitUntil([&] { return sides_[1].CountLink(D::kLinkDead, link) == 1; }))
        << FormatClusterStatus(sides_[1].node->Status());
    absl::SleepFor(4 * kDeadtime);
    EXPECT_EQ(sides_[1].node->Status().peer_state, NodeState::kAlive);
    EXPECT_EQ(sides_[1].Count(D::kNodeDead), 0);
    EXPECT_EQ(sides_[1].Count(D::kPromote), 0);
    EXPECT_EQ(sides_[0].Count(D::kDemote), 0);
    EXPECT_EQ(sides_[0].node->Status().role, Role::kPrimary);
    EXPECT_FALSE(sink_.Matching(absl::StrCat("link ", link == kUdpLink ? "udp" : "grpc",
                                             " to alpha is dead"))
                     .empty());
    sides_[0].node->SetDropSendsForTest(link, false);
    ASSERT_TRUE(WaitUntil([&] { return sides_[1].CountLink(D::kLinkUp, link) == 1; }));
  }
}

// Stop before start (confirm_demote, as hafsd runs it): the peer that asked
// for the takeover promotes only once the old primary said its resources
// stopped, however long that takes.
TEST_F(ClusterNodeTest, TakeoverWaitsUntilTheOldPrimarysResourcesStopped) {
  customize_ = [](int, ClusterNodeOptions& o) { o.confirm_demote = true; };
  StartPair();
  // Nobody promotes until both executors reported nothing running here.
  absl::SleepFor(kDeadtime);
  EXPECT_EQ(Primaries(), 0);
  for (Side& s : sides_) s.node->ResourcesStopped(0);
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  const int old = sides_[0].node->Status().role == Role::kPrimary ? 0 : 1;
  sides_[1 - old].node->Takeover();
  ASSERT_TRUE(WaitUntil([&] { return sides_[old].Count(D::kDemote) == 1; }));
  absl::SleepFor(2 * kDeadtime);
  EXPECT_EQ(sides_[1 - old].Count(D::kPromote), 0)
      << FormatClusterStatus(sides_[1 - old].node->Status());
  EXPECT_THAT(sides_[old].node->Status().blocked_reason,
              ::testing::HasSubstr("waiting for the resources to stop"));
  // The demotion's number comes with its decision.
  uint64_t seq = 0;
  {
    sides_[old].Drain();
    absl::MutexLock l(&sides_[old].mu);
    for (const ClusterDecision& d : sides_[old].seen) {
      if (d.type == D::kDemote) seq = d.demote_seq;
    }
  }
  ASSERT_NE(seq, 0u);
  sides_[old].node->ResourcesStopped(seq - 1);  // stale: ignored
  absl::SleepFor(kDeadtime);
  EXPECT_EQ(sides_[1 - old].Count(D::kPromote), 0);
  sides_[old].node->ResourcesStopped(seq);
  ASSERT_TRUE(WaitUntil([&] { return sides_[1 - old].Count(D::kPromote) == 1; }))
      << FormatClusterStatus(sides_[1 - old].node->Status());
  EXPECT_EQ(Primaries(), 1);
}

TEST_F(ClusterNodeTest, StoppedPrimaryIsReplacedWithinDeadtimePlusBudget) {
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  ASSERT_EQ(sides_[0].node->Status().role, Role::kPrimary);
  uint64_t gen_before = sides_[1].node->Status().generation;
  absl::Time stop = absl::Now();
  sides_[0].node->Stop();
  ASSERT_TRUE(WaitUntil([&] { return sides_[1].Count(D::kPromote) == 1; }))
      << FormatClusterStatus(sides_[1].node->Status());
  absl::Duration took = absl::Now() - stop;
  // deadtime + promotion budget, with a wide CI margin (the measured
  // distribution is in docs/benchmarks.md "Failure detection").
  EXPECT_LT(took, kDeadtime + absl::Seconds(5)) << took;
  EXPECT_GE(took, kDeadtime / 2) << "promoted before the peer could be dead: " << took;
  EXPECT_EQ(sides_[1].Count(D::kNodeDead), 1);
  ClusterStatus st = sides_[1].node->Status();
  EXPECT_EQ(st.role, Role::kPrimary);
  EXPECT_NE(st.generation, gen_before) << "a primary without its peer starts a new generation";
  // The new generation is on disk before the promote decision was published.
  auto saved = LoadRuntimeStateFile(sides_[1].node->state_file());
  ASSERT_OK(saved.status());
  ASSERT_TRUE(saved->has_value());
  EXPECT_EQ((*saved)->generation, st.generation);
  EXPECT_EQ((*saved)->history.front(), gen_before);
}

TEST_F(ClusterNodeTest, WrongKeyIsRefusedLoggedAndNeverActedOn) {
  sides_[1].keys = Keys("a-different-secret-9876543210abcdef");
  StartPair();
  // Both nodes keep receiving (refused) heartbeats on both links.
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& s : sides_) {
      for (const LinkStatus& l : s.node->Status().links) {
        if (l.refused < 5) return false;
      }
    }
    return true;
  }));
  absl::SleepFor(absl::Milliseconds(500));
  for (auto& s : sides_) {
    ClusterStatus st = s.node->Status();
    EXPECT_NE(st.peer_state, NodeState::kAlive);
    EXPECT_FALSE(st.connected);
    EXPECT_FALSE(st.quorate) << "two_node waits for all: never saw the peer";
    EXPECT_EQ(st.role, Role::kSecondary);
    for (const LinkStatus& l : st.links) EXPECT_EQ(l.received, 0u);
    EXPECT_EQ(s.Count(D::kNodeAlive), 0);
    EXPECT_EQ(s.Count(D::kPromote), 0);
  }
  // One line per link and node (rate limited: the default interval is 10 s),
  // naming link, sender address and reason.
  std::vector<std::string> lines = sink_.Matching("refused heartbeat");
  EXPECT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_FALSE(sink_.Matching("refused heartbeat on link udp from 127.0.0.1:").empty());
  EXPECT_FALSE(sink_.Matching("refused heartbeat on link grpc from ipv4:127.0.0.1:").empty());
  EXPECT_FALSE(sink_.Matching("UNAUTHENTICATED").empty());
}

TEST_F(ClusterNodeTest, RestartKeepsPersistedStateAndDetectsWhoIsAhead) {
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  uint64_t inc1 = sides_[1].node->incarnation();
  sides_[0].node->Stop();  // alpha (primary) goes away
  ASSERT_TRUE(WaitUntil([&] { return sides_[1].Count(D::kPromote) == 1; }));
  uint64_t gen_b = sides_[1].node->Status().generation;
  // bravo restarts: it comes back secondary with the generation it wrote under.
  sides_[1].node.reset();
  auto saved = LoadRuntimeStateFile(sides_[1].dir + "/cluster.state");
  ASSERT_OK(saved.status());
  ASSERT_TRUE(saved->has_value());
  EXPECT_EQ((*saved)->generation, gen_b);
  EXPECT_EQ((*saved)->incarnation, inc1);
  // Restart both: alpha (behind: its generation is in bravo's history) must
  // sync from bravo; no split brain.
  sides_[0].node.reset();
  sides_[0].ClearSeen();
  sides_[1].ClearSeen();
  StartPair();
  EXPECT_GT(sides_[1].node->incarnation(), inc1);
  EXPECT_EQ(sides_[1].node->Status().generation, gen_b);
  ASSERT_TRUE(WaitUntil([&] { return sides_[0].Count(D::kSyncFromPeer) == 1; }))
      << FormatClusterStatus(sides_[0].node->Status());
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  EXPECT_EQ(sides_[0].Count(D::kSplitBrain) + sides_[1].Count(D::kSplitBrain), 0);
  EXPECT_EQ(sides_[0].node->Status().generation, gen_b);
}

TEST_F(ClusterNodeTest, PersistedOutdatedFlagBlocksPromotionUntilInSync) {
  // alpha's disk was marked Outdated in a previous life (same generation as
  // bravo's: e.g. the witness showed a term it never knew, then it resynced).
  RuntimeState st;
  st.incarnation = 1;
  st.known_term = 3;
  st.outdated = true;
  st.generation = 1;
  ASSERT_OK(SaveRuntimeStateFile(sides_[0].dir + "/cluster.state", st));
  StartPair();
  // Connected with equal generations: the flag is cleared (persisted) and
  // then alpha, the lower id, becomes the designated primary as usual.
  ASSERT_TRUE(WaitUntil([&] { return sides_[0].Count(D::kClearOutdated) == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  auto saved = LoadRuntimeStateFile(sides_[0].dir + "/cluster.state");
  ASSERT_OK(saved.status());
  EXPECT_FALSE((*saved)->outdated);
  EXPECT_EQ((*saved)->known_term, 3u);
  EXPECT_GT((*saved)->incarnation, 1u);
}

TEST_F(ClusterNodeTest, OutdatedAloneIsNotPromoted) {
  RuntimeState st;
  st.incarnation = 1;
  st.outdated = true;
  st.generation = 1;
  ASSERT_OK(SaveRuntimeStateFile(sides_[1].dir + "/cluster.state", st));
  StartServers();
  // Only bravo runs (alpha never comes): deadtime passes, but it never
  // promotes an Outdated disk (and two_node waits for all anyway).
  sides_[0].udp_port_hint = 9;  // discard port; nothing listens
  RestartNode(1);
  absl::SleepFor(absl::Milliseconds(1500));
  ClusterStatus s = sides_[1].node->Status();
  EXPECT_EQ(s.role, Role::kSecondary);
  EXPECT_EQ(s.disk, DiskState::kOutdated);
  EXPECT_EQ(sides_[1].Count(D::kPromote), 0);
  // ForcePromote still needs quorum: two_node never saw the peer.
  sides_[1].node->ForcePromote();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(sides_[1].Count(D::kPromote), 0);
  EXPECT_THAT(sides_[1].node->Status().blocked_reason, ::testing::HasSubstr("no quorum"));
}

TEST_F(ClusterNodeTest, FencePeerRunsBeforePromotion) {
  resources::FakeProcessRunner runner;
  runner.Push(resources::ProcessResult{.exit_code = 6});  // refused: retry later
  runner.Push(resources::ProcessResult{.exit_code = 7});  // STONITHed: promote
  customize_ = [&](int, ClusterNodeOptions& o) {
    o.fence_peer_command = {"/usr/lib/hafs/fence-peer", "--resource", "r0"};
    o.runner = &runner;
  };
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }));
  sides_[0].node->Stop();
  ASSERT_TRUE(WaitUntil([&] { return sides_[1].Count(D::kPromote) == 1; }))
      << FormatClusterStatus(sides_[1].node->Status());
  EXPECT_EQ(sides_[1].Count(D::kFenceResult), 2);
  std::vector<resources::ProcessSpec> calls = runner.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].argv[0], "/usr/lib/hafs/fence-peer");
  EXPECT_EQ(calls[0].env.at("DRBD_PEER"), "alpha");
  EXPECT_EQ(calls[0].env.at("DRBD_RESOURCE"), "t");
  EXPECT_EQ(sides_[1].node->Status().last_fence_exit, 7);
}

TEST_F(ClusterNodeTest, WitnessModeFailsOverThroughTheWitness) {
  StartWitness();
  StartPair();
  ASSERT_TRUE(WaitUntil([&] { return Settled(); }))
      << FormatClusterStatus(sides_[0].node->Status())
      << FormatClusterStatus(sides_[1].node->Status());
  EXPECT_EQ(sides_[0].node->Status().expected_votes, 3);
  // Both nodes asked the witness at start (no peer vote yet); the witness
  // decides only after its restart quiet period (one lease). Let that round
  // finish and its term reach both nodes: a term held by the peer that this
  // node never learned would (rightly, conservatively) mark its disk Outdated.
  absl::SleepFor(kDeadtime + absl::Milliseconds(500));
  ASSERT_TRUE(WaitUntil([&] {
    return sides_[1].node->Status().known_term == witness_core_->term() &&
           sides_[0].node->Status().known_term == witness_core_->term();
  })) << FormatClusterStatus(sides_[1].node->Status()) << " witness term "
      << witness_core_->term();
  sides_[0].node->Stop();
  ASSERT_TRUE(WaitUntil([&] { return sides_[1].Count(D::kPromote) == 1; }))
      << FormatClusterStatus(sides_[1].node->Status());
  ClusterStatus st = sides_[1].node->Status();
  EXPECT_TRUE(st.witness_grant);
  EXPECT_GE(st.witness_term, 1u);
  EXPECT_EQ(st.votes, 2);
  EXPECT_EQ(st.known_term, st.witness_term) << "a term this node held is known to it";
  auto saved = LoadRuntimeStateFile(sides_[1].node->state_file());
  ASSERT_OK(saved.status());
  EXPECT_EQ((*saved)->known_term, st.known_term);
}

TEST_F(ClusterNodeTest, BadOptionsAreRejectedWithAReason) {
  StartServers();
  ClusterNodeOptions o = Options(0);
  o.timing.deadtime = 2 * kKeepalive;  // must be > 2 x keepalive
  EXPECT_THAT(ClusterNode::Create(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("deadtime")));
  o = Options(0);
  o.quorum.mode = QuorumMode::kWitness;
  o.witness_address.clear();
  EXPECT_THAT(ClusterNode::Create(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("witness_address")));
  o = Options(0);
  o.fence_peer_command = {"fence-peer"};
  EXPECT_THAT(ClusterNode::Create(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("absolute")));
  o = Options(0);
  o.peer = o.self;
  EXPECT_THAT(ClusterNode::Create(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("distinct")));
  o = Options(0);
  ASSERT_OK(SaveRuntimeStateFile(o.state_dir + "/cluster.state", RuntimeState{}));
  {
    // A damaged state file is an error, not a silent fresh start.
    FILE* f = fopen((o.state_dir + "/cluster.state").c_str(), "r+");
    ASSERT_NE(f, nullptr);
    fputs("hafs-cluster-state 1\nincarnation 9", f);
    fclose(f);
  }
  EXPECT_THAT(ClusterNode::Create(o).status(),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::HasSubstr("checksum")));
}

}  // namespace
}  // namespace hafs::cluster
