#include "libhafs/cluster/role_manager.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs::cluster {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using A = RoleAction::Type;

const absl::Time kT0 = absl::FromUnixSeconds(100000);
absl::Time At(int s) { return kT0 + absl::Seconds(s); }

std::vector<A> Types(const std::vector<RoleAction>& v) {
  std::vector<A> t;
  for (const auto& a : v) t.push_back(a.type);
  return t;
}

RoleOptions Opts(NodeId self, NodeId peer) {
  RoleOptions o;
  o.self = self;
  o.peer = peer;
  o.preferred = 1;
  o.deadtime = absl::Seconds(10);
  o.incarnation = self;
  return o;
}

// Two role managers that exchange statuses as heartbeats would.
struct Pair {
  Pair(RoleOptions o1, RoleOptions o2)
      : n{RoleManager(o1, {}), RoleManager(o2, {})} {}
  // One heartbeat each way, then Update on both (connected, quorate).
  std::vector<A> Round(absl::Time now, int who = -1, RoleInputs in = Conn()) {
    Exchange();
    std::vector<A> all;
    for (int i = 0; i < 2; ++i) {
      auto a = Types(n[i].Update(now, in));
      if (who == -1 || who == i) all.insert(all.end(), a.begin(), a.end());
    }
    return all;
  }
  // Rounds at seconds [from, to); the actions of both nodes, in order.
  std::vector<A> Rounds(int from, int to) {
    std::vector<A> all;
    for (int s = from; s < to; ++s) {
      auto a = Round(At(s));
      all.insert(all.end(), a.begin(), a.end());
    }
    return all;
  }
  void Exchange() {
    for (int i = 0; i < 2; ++i) {
      LocalStatus s = n[i].MakeStatus(++seq[i]);
      n[1 - i].OnPeerStatus({seq[i], s.role, s.disk, s.standby, s.takeover,
                             s.promote_intent, s.intent_ack_seq, s.generation,
                             s.history, s.demoting});
    }
  }
  static RoleInputs Conn() {
    return {.quorate = true, .connected = true, .peer_dead = false,
            .disk = DiskState::kUpToDate};
  }
  RoleManager n[2];
  uint64_t seq[2] = {0, 0};
};

RoleInputs Lost(bool quorate = true, DiskState disk = DiskState::kUpToDate) {
  return {.quorate = quorate, .connected = false, .peer_dead = true, .disk = disk};
}

TEST(RoleManagerTest, PreferredNodePromotesAfterIntentHandshake) {
  Pair p(Opts(1, 2), Opts(2, 1));
  EXPECT_THAT(p.Round(At(0)), IsEmpty());  // node 1 sets its intent
  // Node 1's intent travels, node 2's ack comes back: promote.
  EXPECT_THAT(p.Round(At(1)), ElementsAre(A::kPromote));
  EXPECT_EQ(p.n[0].role(), Role::kPrimary);
  EXPECT_EQ(p.n[1].role(), Role::kSecondary);
  for (int s = 3; s < 10; ++s) EXPECT_THAT(p.Round(At(s)), IsEmpty());
}

TEST(RoleManagerTest, ConflictingViewsNeverPromoteBoth) {
  // Both prefer themselves (misconfiguration): the intent tie-break still
  // lets only the lower id promote.
  RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
  o2.preferred = 2;
  Pair p(o1, o2);
  for (int s = 0; s < 10; ++s) p.Round(At(s));
  EXPECT_NE(p.n[0].role() == Role::kPrimary, p.n[1].role() == Role::kPrimary);
  EXPECT_EQ(p.n[0].role(), Role::kPrimary);
}

TEST(RoleManagerTest, StandbyAndNotUpToDatePeersAreNotCandidates) {
  Pair p(Opts(1, 2), Opts(2, 1));
  p.n[0].SetStandby(true);
  for (int s = 0; s < 5; ++s) p.Round(At(s));
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
  EXPECT_EQ(p.n[0].role(), Role::kSecondary);
}

TEST(RoleManagerTest, AutoFailbackOnMovesBackOffStays) {
  for (bool failback : {true, false}) {
    SCOPED_TRACE(failback);
    RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
    o1.auto_failback = o2.auto_failback = failback;
    RoleManager n2(o2, {});
    // Node 2 alone: node 1 is dead; fencing says STONITHed.
    EXPECT_THAT(Types(n2.Update(At(0), Lost())), ElementsAre(A::kRunFencePeer));
    n2.OnFenceResult(kFencePeerStonithed, At(1));
    EXPECT_THAT(Types(n2.Update(At(1), Lost())), ElementsAre(A::kPromote));
    // Node 1 comes back; it synced from node 2 (same generation).
    Pair p(o1, o2);
    p.n[1] = n2;
    p.n[0] = RoleManager(o1, n2.persisted());
    std::vector<A> acts = p.Rounds(2, 8);
    if (failback) {
      EXPECT_THAT(acts, ElementsAre(A::kDemote, A::kPromote));
      EXPECT_EQ(p.n[0].role(), Role::kPrimary);
    } else {
      EXPECT_THAT(acts, IsEmpty());
      EXPECT_EQ(p.n[1].role(), Role::kPrimary);
    }
    EXPECT_NE(p.n[0].role(), p.n[1].role());
  }
}

TEST(RoleManagerTest, StickinessAboveUnderPreferenceDecidesFailback) {
  RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
  o1.auto_failback = o2.auto_failback = true;
  o1.stickiness = o2.stickiness = 200;  // > preference 100: stays
  Pair p(o1, o2);
  p.n[0].SetStandby(true);
  for (int s = 0; s < 5; ++s) p.Round(At(s));
  ASSERT_EQ(p.n[1].role(), Role::kPrimary);
  p.n[0].SetStandby(false);
  for (int s = 5; s < 10; ++s) EXPECT_THAT(p.Round(At(s)), IsEmpty());
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
}

TEST(RoleManagerTest, ManualStandbyAndTakeover) {
  Pair p(Opts(1, 2), Opts(2, 1));
  for (int s = 0; s < 4; ++s) p.Round(At(s));
  ASSERT_EQ(p.n[0].role(), Role::kPrimary);
  p.n[1].Takeover();
  std::vector<A> acts = p.Rounds(4, 10);
  EXPECT_THAT(acts, ElementsAre(A::kDemote, A::kPromote));
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
  // auto_failback is off: node 2 stays. Now hb_standby on node 2.
  p.n[1].SetStandby(true);
  acts = p.Rounds(10, 16);
  EXPECT_THAT(acts, ElementsAre(A::kDemote, A::kPromote));
  EXPECT_EQ(p.n[0].role(), Role::kPrimary);
}

TEST(RoleManagerTest, ResourcesBannedHereHandOverToThePeer) {
  Pair p(Opts(1, 2), Opts(2, 1));
  for (int s = 0; s < 4; ++s) p.Round(At(s));
  ASSERT_EQ(p.n[0].role(), Role::kPrimary);
  // The executor gave up on node 1 (migration-threshold): it demotes, is
  // advertised as standby, and node 2 takes over through the intent handshake.
  p.n[0].SetResourcesBanned(true);
  std::vector<A> acts = p.Rounds(4, 10);
  EXPECT_THAT(acts, ElementsAre(A::kDemote, A::kPromote));
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
  EXPECT_TRUE(p.n[0].MakeStatus(100).standby);
  // Banned, node 1 does not come back even as the preferred node, nor when
  // node 2 is lost.
  EXPECT_THAT(Types(p.n[0].Update(At(30), Lost())), ElementsAre());
  EXPECT_THAT(p.n[0].blocked_reason(), HasSubstr("resources banned here"));
  // Once the ban is lifted (failure-timeout, cleanup) it may promote again.
  p.n[0].SetResourcesBanned(false);
  EXPECT_THAT(Types(p.n[0].Update(At(31), Lost())), Contains(A::kRunFencePeer));
}

TEST(RoleManagerTest, PrimaryWhoseDiskDetachedHandsOverAndSaysWhy) {
  Pair p(Opts(1, 2), Opts(2, 1));
  for (int s = 0; s < 4; ++s) p.Round(At(s));
  ASSERT_EQ(p.n[0].role(), Role::kPrimary);
  // on-io-error detach: node 1 is Diskless, node 2 UpToDate.
  RoleInputs diskless = Pair::Conn();
  diskless.disk = DiskState::kDiskless;
  p.Exchange();
  std::vector<RoleAction> acts = p.n[0].Update(At(4), diskless);
  ASSERT_THAT(Types(acts), ElementsAre(A::kDemote));
  EXPECT_EQ(acts[0].reason, "local disk is Diskless: handing over to the peer (UpToDate)");
  for (int s = 5; s < 9; ++s) {
    p.Exchange();
    p.n[0].Update(At(s), diskless);
    p.n[1].Update(At(s), Pair::Conn());
  }
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
}

TEST(RoleManagerTest, BannedPrimaryWithoutPeerDemotesAnyway) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleManager rm(o, {});
  ASSERT_THAT(Types(rm.Update(At(0), Lost())), ElementsAre(A::kPromote));
  rm.SetResourcesBanned(true);
  // Without the peer, writes during the stop would be on this node only.
  EXPECT_THAT(Types(rm.Update(At(1), Lost())), ElementsAre(A::kFailIo, A::kDemote));
  EXPECT_EQ(rm.role(), Role::kSecondary);
  EXPECT_THAT(Types(rm.Update(At(2), Lost())), ElementsAre());
}

TEST(RoleManagerTest, FencePeerExitCodes) {
  struct Case {
    int code;
    FencingPolicy policy;
    DiskState disk;
    bool promotes;
  } cases[] = {
      {3, FencingPolicy::kResourceOnly, DiskState::kUpToDate, true},
      {4, FencingPolicy::kResourceOnly, DiskState::kUpToDate, true},
      {7, FencingPolicy::kResourceAndStonith, DiskState::kUpToDate, true},
      {5, FencingPolicy::kResourceOnly, DiskState::kUpToDate, true},
      {5, FencingPolicy::kResourceAndStonith, DiskState::kUpToDate, false},
      {5, FencingPolicy::kResourceOnly, DiskState::kConsistent, false},
      {4, FencingPolicy::kResourceOnly, DiskState::kConsistent, true},
      {6, FencingPolicy::kResourceOnly, DiskState::kUpToDate, false},
      {1, FencingPolicy::kResourceOnly, DiskState::kUpToDate, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "exit " << c.code << " policy "
                                      << static_cast<int>(c.policy) << " disk "
                                      << DiskStateName(c.disk));
    RoleOptions o = Opts(2, 1);
    o.fencing = c.policy;
    RoleManager rm(o, {});
    EXPECT_THAT(Types(rm.Update(At(0), Lost(true, c.disk))),
                ElementsAre(A::kRunFencePeer));
    EXPECT_THAT(rm.Update(At(0), Lost(true, c.disk)), IsEmpty());  // once
    rm.OnFenceResult(c.code, At(1));
    auto acts = Types(rm.Update(At(1), Lost(true, c.disk)));
    EXPECT_EQ(acts == std::vector<A>{A::kPromote}, c.promotes);
    if (!c.promotes) {
      EXPECT_FALSE(rm.blocked_reason().empty());
      // Retried after fence_retry (5s) for failures.
      if (!(c.code == 4 || c.code == 3 || c.code == 7)) {
        EXPECT_THAT(rm.Update(At(5), Lost(true, c.disk)), IsEmpty());
        EXPECT_THAT(Types(rm.Update(At(6), Lost(true, c.disk))),
                    ElementsAre(A::kRunFencePeer));
      }
    }
  }
}

TEST(RoleManagerTest, DontCareFencingPromotesDirectly) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleManager rm(o, {});
  EXPECT_THAT(Types(rm.Update(At(0), Lost())), ElementsAre(A::kPromote));
}

TEST(RoleManagerTest, RefusesOutdatedOrInconsistentUnlessForced) {
  for (DiskState d : {DiskState::kOutdated, DiskState::kInconsistent,
                      DiskState::kDiskless}) {
    RoleOptions o = Opts(2, 1);
    o.fencing = FencingPolicy::kDontCare;
    RoleManager rm(o, {});
    EXPECT_THAT(rm.Update(At(0), Lost(true, d)), IsEmpty());
    EXPECT_THAT(rm.blocked_reason(), HasSubstr(DiskStateName(d)));
    rm.ForcePromote();
    EXPECT_THAT(Types(rm.Update(At(1), Lost(true, d))), ElementsAre(A::kPromote));
  }
}

TEST(RoleManagerTest, WaitsForDeadtimeWhenPeerOnlyDisconnected) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleManager rm(o, {});
  RoleInputs in{.quorate = true, .connected = false, .peer_dead = false,
                .disk = DiskState::kUpToDate};
  EXPECT_THAT(rm.Update(At(0), in), IsEmpty());
  EXPECT_THAT(rm.Update(At(9), in), IsEmpty());
  EXPECT_THAT(Types(rm.Update(At(10), in)), ElementsAre(A::kPromote));
}

TEST(RoleManagerTest, ALocalPauseDoesNotCountAsThePeersDisconnection) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleInputs disc{
      .quorate = true, .connected = false, .peer_dead = false, .disk = DiskState::kUpToDate};
  RoleManager paused(o, {}), plain(o, {});
  EXPECT_THAT(Types(paused.Update(At(0), disc)), IsEmpty());
  EXPECT_THAT(Types(plain.Update(At(0), disc)), IsEmpty());
  // Both were stopped for 30 s (deadtime 10 s); one was told.
  paused.OnLocalPause(At(30));
  EXPECT_THAT(Types(paused.Update(At(30), disc)), IsEmpty());
  EXPECT_THAT(paused.blocked_reason(), HasSubstr("peer not lost yet"));
  EXPECT_THAT(Types(plain.Update(At(30), disc)), ElementsAre(A::kPromote));
  // The disconnection lasts deadtime after the pause: now it counts.
  EXPECT_THAT(Types(paused.Update(At(40), disc)), ElementsAre(A::kPromote));
}

TEST(RoleManagerTest, NoQuorumNoPromotion) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleManager rm(o, {});
  EXPECT_THAT(rm.Update(At(0), Lost(false)), IsEmpty());
  EXPECT_EQ(rm.blocked_reason(), "no quorum");
}

TEST(RoleManagerTest, QuorumLossActions) {
  for (auto action : {QuorumLossAction::kDemote, QuorumLossAction::kSuspendIo,
                      QuorumLossAction::kFailIo}) {
    SCOPED_TRACE(QuorumLossActionName(action));
    RoleOptions o = Opts(2, 1);
    o.fencing = FencingPolicy::kDontCare;
    o.loss_action = action;
    RoleManager rm(o, {});
    ASSERT_THAT(Types(rm.Update(At(0), Lost())), ElementsAre(A::kPromote));
    auto acts = Types(rm.Update(At(1), Lost(false)));
    EXPECT_FALSE(rm.ActivePrimary());
    EXPECT_THAT(rm.Update(At(2), Lost(false)), IsEmpty());  // not repeated
    switch (action) {
      case QuorumLossAction::kDemote:
        // I/O fails at once: the peer may already have replaced us, and the
        // stop (unmount) must finish without writing.
        EXPECT_THAT(acts, ElementsAre(A::kFailIo, A::kDemote));
        EXPECT_EQ(rm.io(), IoState::kFailing);
        EXPECT_EQ(rm.role(), Role::kSecondary);
        break;
      case QuorumLossAction::kSuspendIo:
        EXPECT_THAT(acts, ElementsAre(A::kSuspendIo));
        EXPECT_EQ(rm.io(), IoState::kSuspended);
        EXPECT_THAT(Types(rm.Update(At(3), Lost())), ElementsAre(A::kResumeIo));
        EXPECT_TRUE(rm.ActivePrimary());
        break;
      case QuorumLossAction::kFailIo:
        EXPECT_THAT(acts, ElementsAre(A::kFailIo));
        EXPECT_EQ(rm.io(), IoState::kFailing);
        break;
    }
  }
}

TEST(RoleManagerTest, PendingQuorumFreezesIoInsteadOfDemoting) {
  RoleOptions o = Opts(2, 1);
  o.fencing = FencingPolicy::kDontCare;
  RoleManager rm(o, {});
  ASSERT_THAT(Types(rm.Update(At(0), Lost())), ElementsAre(A::kPromote));
  RoleInputs pending = Lost(false);
  pending.quorum_pending = true;
  EXPECT_THAT(Types(rm.Update(At(1), pending)), ElementsAre(A::kSuspendIo));
  EXPECT_EQ(rm.role(), Role::kPrimary);
  EXPECT_FALSE(rm.ActivePrimary());
  EXPECT_THAT(Types(rm.Update(At(2), Lost())), ElementsAre(A::kResumeIo));
  EXPECT_THAT(Types(rm.Update(At(3), pending)), ElementsAre(A::kSuspendIo));
  EXPECT_THAT(Types(rm.Update(At(4), Lost(false))), ElementsAre(A::kFailIo, A::kDemote));
  // Promoted again later, I/O runs again.
  EXPECT_THAT(Types(rm.Update(At(30), Lost())), ElementsAre(A::kResumeIo, A::kPromote));
  EXPECT_TRUE(rm.ActivePrimary());
}

// Stop before start: with confirm_demote (hafsd), a Primary handing over keeps
// the peer from promoting until its resources have stopped, even though the
// peer asked for the takeover and is otherwise ready.
TEST(RoleManagerTest, ConfirmDemoteHoldsThePeerUntilTheResourcesStopped) {
  RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
  o1.confirm_demote = o2.confirm_demote = true;
  Pair p(o1, o2);
  // Both start demoting (with I/O failing) until their executors found
  // nothing running: nobody acknowledges or promotes before.
  EXPECT_TRUE(p.n[0].demoting());
  EXPECT_FALSE(p.n[0].ActivePrimary());
  EXPECT_THAT(p.Rounds(0, 4), IsEmpty());
  for (RoleManager& rm : p.n) rm.OnDemoteDone(0);
  EXPECT_THAT(p.Rounds(4, 8), ElementsAre(A::kResumeIo, A::kPromote));
  ASSERT_EQ(p.n[0].role(), Role::kPrimary);
  p.n[1].Takeover();
  EXPECT_THAT(p.Rounds(8, 12), ElementsAre(A::kDemote));
  EXPECT_TRUE(p.n[1].PeerMaybePrimary());  // the peer was told it is demoting
  // A report for an older demotion (the boot one) does not complete this one.
  p.n[0].OnDemoteDone(0);
  EXPECT_TRUE(p.n[0].demoting());
  EXPECT_TRUE(p.n[0].demoting());
  EXPECT_TRUE(p.n[0].ActivePrimary());  // still serving while it stops
  EXPECT_THAT(p.n[0].blocked_reason(), HasSubstr("waiting for the resources to stop"));
  EXPECT_THAT(p.n[1].blocked_reason(), HasSubstr("acknowledge"));
  p.n[0].OnDemoteDone(p.n[0].demote_seq());
  EXPECT_THAT(p.Rounds(12, 16), ElementsAre(A::kResumeIo, A::kPromote));
  EXPECT_EQ(p.n[1].role(), Role::kPrimary);
  EXPECT_FALSE(p.n[0].ActivePrimary());
  EXPECT_FALSE(p.n[0].demoting());
}

// A node still stopping the resources of a handover stops writing as soon as
// the peer may promote without it: when it loses quorum, and also when it is
// still quorate (a witness grant) but the peer is out of reach — writes then
// would be on this node only.
TEST(RoleManagerTest, DemotingNodeThatLosesQuorumOrThePeerStopsWriting) {
  for (bool quorate : {false, true}) {
    SCOPED_TRACE(quorate ? "quorate, peer lost" : "quorum lost");
    RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
    o1.confirm_demote = o2.confirm_demote = true;
    Pair p(o1, o2);
    for (RoleManager& rm : p.n) rm.OnDemoteDone(0);
    for (int s = 0; s < 4; ++s) p.Round(At(s));
    ASSERT_EQ(p.n[0].role(), Role::kPrimary);
    p.n[1].Takeover();
    ASSERT_THAT(p.Rounds(4, 8), ElementsAre(A::kDemote));
    EXPECT_THAT(Types(p.n[0].Update(At(9), Lost(quorate))), ElementsAre(A::kFailIo));
    EXPECT_FALSE(p.n[0].ActivePrimary());
    EXPECT_TRUE(p.n[0].demoting());
    EXPECT_THAT(p.n[0].Update(At(10), Lost(quorate)), IsEmpty());  // not repeated
  }
}

TEST(RoleManagerTest, SplitBrainDetectedWhenBothPromotedApart) {
  RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
  o1.fencing = o2.fencing = FencingPolicy::kDontCare;
  Pair p(o1, o2);
  for (int s = 0; s < 4; ++s) p.Round(At(s));
  ASSERT_EQ(p.n[0].role(), Role::kPrimary);
  // Partition, no quorum: node 2 promotes too; node 1 starts a new generation.
  EXPECT_THAT(Types(p.n[0].Update(At(5), Lost())), IsEmpty());
  EXPECT_THAT(Types(p.n[1].Update(At(5), Lost())), ElementsAre(A::kPromote));
  auto acts = p.Round(At(20));
  EXPECT_THAT(acts, ElementsAre(A::kSplitBrain, A::kSplitBrain));
  EXPECT_TRUE(p.n[0].split_brain());
  // Manual recovery on node 2.
  EXPECT_THAT(Types(p.n[1].DiscardMyData()),
              ElementsAre(A::kFailIo, A::kDemote, A::kSyncFromPeer));
  EXPECT_EQ(p.n[1].persisted().generation, p.n[0].persisted().generation);
}

TEST(RoleManagerTest, SecondaryBehindResyncsInsteadOfSplitBrain) {
  RoleOptions o1 = Opts(1, 2), o2 = Opts(2, 1);
  o1.fencing = o2.fencing = FencingPolicy::kDontCare;
  Pair p(o1, o2);
  for (int s = 0; s < 4; ++s) p.Round(At(s));
  p.n[0].Update(At(5), Lost());  // node 1 primary alone: new generation
  p.n[1].Update(At(5), Lost(false));
  auto acts = p.Round(At(20));
  EXPECT_THAT(acts, ElementsAre(A::kSyncFromPeer));
  EXPECT_FALSE(p.n[1].split_brain());
  EXPECT_EQ(p.n[1].persisted().generation, p.n[0].persisted().generation);
  EXPECT_EQ(p.n[0].role(), Role::kPrimary);
}

TEST(RoleManagerTest, PeerMaybePrimaryTracksRoleAndAckedIntent) {
  Pair p(Opts(1, 2), Opts(2, 1));
  EXPECT_FALSE(p.n[1].PeerMaybePrimary());
  p.Round(At(0));
  p.Round(At(1));
  EXPECT_TRUE(p.n[1].PeerMaybePrimary());  // acked node 1's intent
  p.Round(At(2));
  p.Round(At(3));
  EXPECT_TRUE(p.n[1].PeerMaybePrimary());  // node 1 is primary
  EXPECT_FALSE(p.n[0].PeerMaybePrimary());
  p.n[1].OnPeerRestart();
  EXPECT_FALSE(p.n[1].PeerMaybePrimary());
}

}  // namespace
}  // namespace hafs::cluster
