#include "libhafs/cluster/quorum.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/cluster/witness.h"

namespace hafs::cluster {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::Duration kMs = absl::Milliseconds(1);
const absl::Time kT0 = absl::FromUnixSeconds(5000);
absl::Time At(int ms) { return kT0 + ms * kMs; }

QuorumTracker::WitnessAnswer Grant(uint64_t seq, int lease_ms, uint64_t term,
                                   uint64_t peer_term = 0) {
  return {.request_seq = seq, .granted = true, .lease = lease_ms * kMs, .term = term,
          .peer_term = peer_term};
}

QuorumOptions Opts(QuorumMode mode) {
  QuorumOptions o;
  o.mode = mode;
  o.peer_lease = 1000 * kMs;
  o.witness_lease = 1000 * kMs;
  o.max_clock_drift = 0.0;
  auto v = ValidateQuorum(o);
  EXPECT_OK(v);
  return *v;
}

TEST(ValidateQuorumTest, Rules) {
  QuorumOptions o;
  o.mode = QuorumMode::kTwoNode;
  auto v = ValidateQuorum(o);
  ASSERT_OK(v);
  EXPECT_TRUE(v->wait_for_all);  // two_node implies wait_for_all
  o.peer_lease = absl::ZeroDuration();
  EXPECT_THAT(ValidateQuorum(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("peer_lease")));
  o = QuorumOptions{};
  o.max_clock_drift = 0.5;
  EXPECT_THAT(ValidateQuorum(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("max_clock_drift")));
}

TEST(QuorumTest, DisabledIsAlwaysQuorate) {
  QuorumTracker q(Opts(QuorumMode::kDisabled), kT0);
  EXPECT_TRUE(q.Quorate(At(0), true));
  EXPECT_FALSE(q.WantWitness(At(0), true));
}

TEST(QuorumTest, TwoNodeWaitsForAllThenStaysQuorate) {
  QuorumTracker q(Opts(QuorumMode::kTwoNode), kT0);
  EXPECT_FALSE(q.Quorate(At(0), false));
  q.OnSend(1, At(0));
  q.OnPeerHeartbeat(1, /*echo=*/0, At(5));  // heard, but not mutual yet
  EXPECT_FALSE(q.Quorate(At(5), false));
  q.OnPeerHeartbeat(2, /*echo=*/1, At(10));
  EXPECT_TRUE(q.Connected(At(10)));
  EXPECT_TRUE(q.Quorate(At(10), false));
  EXPECT_FALSE(q.Connected(At(1000)));     // lease = send(1) + 1000
  EXPECT_TRUE(q.Quorate(At(50000), true));  // two_node: 1 vote is quorum
}

TEST(QuorumTest, PeerLeaseCountsFromOurSendTime) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  q.OnSend(1, At(0));
  q.OnSend(2, At(100));
  q.OnPeerHeartbeat(1, 2, At(400));  // echo of seq 2, sent at 100
  EXPECT_TRUE(q.Connected(At(1099)));
  EXPECT_FALSE(q.Connected(At(1100)));
  EXPECT_TRUE(q.Quorate(At(1099), true));
  EXPECT_FALSE(q.Quorate(At(1100), false));  // no witness grant
  q.OnPeerHeartbeat(2, 99, At(500));  // echo of a seq we never sent: ignored
  EXPECT_FALSE(q.Connected(At(1100)));
}

TEST(QuorumTest, EchoesHighestPeerSeq) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  EXPECT_EQ(q.OnSend(1, At(0)), 0u);
  q.OnPeerHeartbeat(5, 0, At(10));
  q.OnPeerHeartbeat(4, 0, At(11));  // reordered
  EXPECT_EQ(q.OnSend(2, At(20)), 5u);
  q.OnPeerRestart();
  EXPECT_EQ(q.OnSend(3, At(30)), 0u);
}

TEST(QuorumTest, WitnessGrantGivesSoloQuorumAfterPromiseExpires) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  // Connected at first; we echo the peer (promise until recv(10) + 1000).
  q.OnSend(1, At(0));
  q.OnPeerHeartbeat(1, 1, At(10));
  q.OnSend(2, At(20));
  EXPECT_FALSE(q.WantWitness(At(20), true));
  EXPECT_TRUE(q.WantWitness(At(501), /*primary=*/true));    // half the lease gone
  EXPECT_FALSE(q.WantWitness(At(501), /*primary=*/false));  // a secondary waits
  EXPECT_FALSE(q.WantWitness(At(999), false));
  EXPECT_TRUE(q.WantWitness(At(1000), false));              // the vote is gone
  // A grant asked for while still connected holds the vote but does not
  // count for solo quorum: that needs a new term asked after the disconnect.
  EXPECT_TRUE(q.OnWitnessRequest(7, At(600)));  // fresh (no solo grant held)
  q.OnWitnessReply(Grant(7, 1000, 3), At(605));
  EXPECT_EQ(q.known_term(), 3u);
  EXPECT_TRUE(q.GrantValid(At(1599)));
  EXPECT_FALSE(q.GrantValid(At(1600)));
  EXPECT_TRUE(q.Quorate(At(999), false));    // connected
  EXPECT_FALSE(q.Quorate(At(1000), false));  // lease gone, no solo grant yet
  EXPECT_TRUE(q.QuorumPending(At(1000)));    // ... but one is due: freeze I/O
  EXPECT_TRUE(q.OnWitnessRequest(8, At(1001)));
  q.OnWitnessReply(Grant(8, 1000, 4), At(1006));
  EXPECT_TRUE(q.SoloValid(At(1006)));
  EXPECT_FALSE(q.QuorumPending(At(1006)));
  // The peer was secondary: solo quorum at once.
  EXPECT_TRUE(q.Quorate(At(1006), /*peer_maybe_primary=*/false));
  // If the peer may be primary we wait for our promise (1010) to expire.
  EXPECT_FALSE(q.Quorate(At(1008), true));
  EXPECT_TRUE(q.Quorate(At(1010), true));
  // Renewals within the phase are not fresh; withholding: no echo.
  EXPECT_FALSE(q.OnWitnessRequest(9, At(1100)));
  EXPECT_EQ(q.OnSend(3, At(1100)), 0u);
}

TEST(QuorumTest, ReconnectionEndsTheSoloPhase) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  q.OnWitnessRequest(1, At(0));
  q.OnWitnessReply(Grant(1, 5000, 1), At(1));
  ASSERT_TRUE(q.SoloValid(At(2000)));  // promise from start expired at 1000
  q.OnSend(1, At(2000));
  q.OnPeerHeartbeat(1, 1, At(2001));  // connected until 3000
  EXPECT_FALSE(q.SoloValid(At(2001)));
  EXPECT_FALSE(q.Quorate(At(3000), false));  // the old phase's grant is void
  EXPECT_TRUE(q.QuorumPending(At(3000)));
  EXPECT_TRUE(q.OnWitnessRequest(2, At(3000)));  // asks for a new term
}

TEST(QuorumTest, GrantAfterAnUnknownPeerTermMeansOutdated) {
  // We know term 4; the witness says the peer last held term 5: the peer ran
  // without us in a term we never heard of.
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0, /*known_term=*/4);
  q.OnWitnessRequest(1, At(0));
  EXPECT_TRUE(q.OnWitnessReply(Grant(1, 1000, 6, /*peer_term=*/5), At(1)));
  EXPECT_EQ(q.known_term(), 4u);  // our own term 6 does not cover the peer's 5
  // Term 5 known (learned from the peer while connected): not outdated.
  QuorumTracker q2(Opts(QuorumMode::kWitness), kT0, /*known_term=*/5);
  q2.OnWitnessRequest(1, At(0));
  EXPECT_FALSE(q2.OnWitnessReply(Grant(1, 1000, 6, 5), At(1)));
  EXPECT_EQ(q2.known_term(), 6u);
  // The peer never held a term: not outdated.
  QuorumTracker q3(Opts(QuorumMode::kWitness), kT0, 0);
  q3.OnWitnessRequest(1, At(0));
  EXPECT_FALSE(q3.OnWitnessReply(Grant(1, 1000, 6, 0), At(1)));
}

TEST(QuorumTest, RefusalByPeerHoldingUnknownTermMeansOutdatedWhenDisconnected) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0, 2);
  q.OnWitnessRequest(1, At(0));
  q.OnWitnessRequest(2, At(0));
  QuorumTracker::WitnessAnswer refused{.request_seq = 1, .granted = false, .term = 3,
                                       .peer_term = 3};
  EXPECT_TRUE(q.OnWitnessReply(refused, At(1)));
  refused.request_seq = 2;
  refused.peer_term = 2;  // a term we know
  EXPECT_FALSE(q.OnWitnessReply(refused, At(1)));
  EXPECT_FALSE(q.GrantValid(At(1)));
  EXPECT_EQ(q.known_term(), 2u);
  q.OnSend(1, At(10));
  q.OnPeerHeartbeat(1, 1, At(11));  // connected: term 3 is now known
  EXPECT_EQ(q.known_term(), 3u);
}

TEST(QuorumTest, PeerKnownTermAdoptedOnlyWhileConnectedAndEchoed) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  q.OnPeerKnownTerm(7, 1, At(0));
  EXPECT_EQ(q.known_term(), 0u);  // not connected
  q.OnSend(1, At(0));
  q.OnPeerHeartbeat(1, 1, At(1));
  // Still connected by our lease, but the peer withholds its echo: it is in
  // a solo phase and may write under term 8 without us.
  q.OnPeerHeartbeat(2, 0, At(2));
  q.OnPeerKnownTerm(8, 0, At(2));
  EXPECT_EQ(q.known_term(), 0u);
  q.OnPeerKnownTerm(7, 1, At(3));
  EXPECT_EQ(q.known_term(), 7u);
}

TEST(QuorumTest, StaleOrUnknownWitnessRepliesAreIgnored) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  q.OnWitnessReply(Grant(1, 1000, 1), At(0));  // never requested
  EXPECT_FALSE(q.GrantValid(At(0)));
  q.OnWitnessRequest(2, At(0));
  q.OnWitnessRequest(3, At(100));
  q.OnWitnessReply(Grant(3, 1000, 1), At(0));
  q.OnWitnessReply(Grant(2, 5000, 1), At(0));  // older than an answered one
  EXPECT_FALSE(q.GrantValid(At(1100)));
}

TEST(QuorumTest, RestartAssumesOldPromisesOutstanding) {
  QuorumTracker q(Opts(QuorumMode::kWitness), kT0);
  q.OnWitnessRequest(1, At(0));
  q.OnWitnessReply(Grant(1, 5000, 1), At(0));
  EXPECT_FALSE(q.Quorate(At(999), true));
  EXPECT_TRUE(q.Quorate(At(1000), true));
}

TEST(QuorumTest, DriftShortensHolderSideLeases) {
  QuorumOptions o = Opts(QuorumMode::kWitness);
  o.max_clock_drift = 0.01;
  QuorumTracker q(o, kT0);
  q.OnWitnessRequest(1, At(0));
  q.OnWitnessReply(Grant(1, 1000, 1), At(0));
  EXPECT_TRUE(q.GrantValid(At(980)));
  EXPECT_FALSE(q.GrantValid(At(981)));  // 1000 * 0.99/1.01 = 980.2
}

// ---- witness arbiter ----

WitnessOptions WOpts() {
  WitnessOptions o;
  o.lease = 1000 * kMs;
  o.decision_window = 100 * kMs;
  return o;
}

WitnessRequest Req(NodeId n, uint64_t seq, bool primary = false, int64_t score = 0) {
  return {.node = n, .request_seq = seq, .partition = {n}, .score = score,
          .primary = primary};
}

TEST(WitnessTest, CollectsDuringWindowThenLowestIdWins) {
  WitnessArbiter w(WOpts());
  EXPECT_TRUE(w.OnRequest(Req(2, 1), At(0)).empty());
  EXPECT_TRUE(w.OnRequest(Req(1, 1), At(50)).empty());
  EXPECT_EQ(w.NextDeadline(), At(100));
  auto d = w.Tick(At(100));
  ASSERT_EQ(d.size(), 2u);
  for (const auto& x : d) {
    EXPECT_EQ(x.granted, x.node == 1) << x.node;
    EXPECT_EQ(x.term, 1u);
    EXPECT_EQ(x.holder, 1u);
  }
  EXPECT_EQ(w.holder(At(1099)), 1u);
  EXPECT_EQ(w.holder(At(1100)), std::nullopt);
}

TEST(WitnessTest, TieBreakOrder) {
  struct Case {
    const char* name;
    WitnessRequest a, b;
    WitnessOptions::TieBreaker tb;
    NodeId winner;
  } cases[] = {
      {"bigger partition", {1, 1, {1}}, {2, 1, {2, 3}}, WitnessOptions::TieBreaker::kLowest, 2},
      {"score", Req(1, 1, false, 0), Req(2, 1, false, 5), WitnessOptions::TieBreaker::kLowest, 2},
      {"primary beats id", Req(1, 1), Req(2, 1, true), WitnessOptions::TieBreaker::kLowest, 2},
      {"lowest", Req(1, 1), Req(2, 1), WitnessOptions::TieBreaker::kLowest, 1},
      {"highest", Req(1, 1), Req(2, 1), WitnessOptions::TieBreaker::kHighest, 2},
      {"fixed node", Req(1, 1), Req(2, 1), WitnessOptions::TieBreaker::kNode, 2},
  };
  for (const auto& c : cases) {
    WitnessOptions o = WOpts();
    o.tie_breaker = c.tb;
    o.tie_breaker_node = 2;
    WitnessArbiter w(o);
    w.OnRequest(c.a, At(0));
    w.OnRequest(c.b, At(1));
    w.Tick(At(100));
    EXPECT_EQ(w.holder(At(100)), c.winner) << c.name;
  }
}

TEST(WitnessTest, HolderRenewsOthersRefusedThenKeepActiveAfterExpiry) {
  WitnessArbiter w(WOpts());
  w.OnRequest(Req(2, 1), At(0));
  w.Tick(At(100));  // 2 holds, term 1
  auto r = w.OnRequest(Req(1, 5), At(200));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].granted);
  EXPECT_THAT(r[0].reason, HasSubstr("held by node 2"));
  r = w.OnRequest(Req(2, 2), At(900));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].granted);
  EXPECT_EQ(r[0].term, 1u);
  EXPECT_EQ(w.holder(At(1899)), 2u);
  // Lease lapses; both ask; node 2 held it before and wins over lower id 1.
  w.OnRequest(Req(1, 6), At(2000));
  w.OnRequest(Req(2, 3), At(2010));
  auto d = w.Tick(At(2100));
  EXPECT_EQ(w.holder(At(2100)), 2u);
  EXPECT_EQ(w.term(), 2u);  // a fresh grant opens a new term
  for (const auto& x : d) {
    if (x.granted) EXPECT_EQ(x.other_holder, 0u);  // node 1 never held one
    if (!x.granted) EXPECT_EQ(x.other_term, 2u);   // node 1 hears of node 2's term
  }
}

TEST(WitnessTest, NewHolderGetsNewTerm) {
  WitnessArbiter w(WOpts());
  w.OnRequest(Req(1, 1), At(0));
  w.Tick(At(100));
  EXPECT_EQ(w.term(), 1u);
  w.OnRequest(Req(2, 1), At(5000));
  auto d = w.Tick(At(5100));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].granted);
  EXPECT_EQ(d[0].term, 2u);
  EXPECT_EQ(d[0].other_holder, 1u);
  EXPECT_EQ(d[0].other_term, 1u);
  EXPECT_EQ(w.state().term, 2u);
  EXPECT_EQ(w.state().last_holder, 2u);
  // A restarted witness continues from its persisted state.
  WitnessArbiter w2(WOpts(), At(9000), w.state());
  w2.OnRequest(Req(1, 5), At(9000));
  auto d2 = w2.Tick(At(10000));
  ASSERT_EQ(d2.size(), 1u);
  EXPECT_EQ(d2[0].term, 3u);
  EXPECT_EQ(d2[0].other_holder, 2u);  // survived the restart
  EXPECT_EQ(d2[0].other_term, 2u);
}

TEST(WitnessTest, FreshRequestFromHolderOpensNewTerm) {
  WitnessArbiter w(WOpts());
  w.OnRequest(Req(1, 1), At(0));
  w.Tick(At(100));
  ASSERT_EQ(w.term(), 1u);
  WitnessRequest r = Req(1, 2);
  auto d = w.OnRequest(r, At(200));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].term, 1u);  // renewal
  r = Req(1, 3);
  r.fresh = true;
  d = w.OnRequest(r, At(300));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].granted);
  EXPECT_EQ(d[0].term, 2u);
  EXPECT_EQ(d[0].other_holder, 0u);
}

TEST(WitnessTest, RestartedWitnessStaysQuietForOneLease) {
  WitnessArbiter w(WOpts(), /*start=*/At(0));
  EXPECT_TRUE(w.OnRequest(Req(1, 1), At(10)).empty());
  EXPECT_EQ(w.NextDeadline(), At(1000));  // not at 110: a lease must pass
  EXPECT_TRUE(w.Tick(At(999)).empty());
  auto d = w.Tick(At(1000));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].granted);
}

TEST(QuorumTest, WaitForAllBlocksWitnessQuorumUntilPeerSeen) {
  QuorumOptions o = Opts(QuorumMode::kWitness);
  o.wait_for_all = true;
  QuorumTracker q(o, kT0);
  q.OnWitnessRequest(1, At(0));
  q.OnWitnessReply(Grant(1, 5000, 1), At(0));
  EXPECT_FALSE(q.Quorate(At(2000), false));
  q.OnSend(1, At(2000));
  q.OnPeerHeartbeat(1, 1, At(2001));
  EXPECT_TRUE(q.SeenAll());
  // Peer gone again: the grant from before the connection is void; a fresh
  // one restores quorum.
  EXPECT_FALSE(q.Quorate(At(3500), false));
  EXPECT_TRUE(q.OnWitnessRequest(2, At(3500)));
  q.OnWitnessReply(Grant(2, 5000, 2), At(3501));
  EXPECT_TRUE(q.Quorate(At(3501), false));
}

TEST(WitnessTest, NeverTwoValidHoldersUnderRandomRequests) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    WitnessArbiter w(WOpts());
    std::map<NodeId, absl::Time> valid_until;  // witness-clock view of grants
    uint64_t x = seed * 2654435761u;
    for (int step = 0; step < 500; ++step) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      absl::Time now = At(step * 37);
      NodeId n = 1 + (x >> 33) % 3;
      std::vector<WitnessDecision> ds = (x >> 20) % 4 == 0
                                            ? w.Tick(now)
                                            : w.OnRequest(Req(n, step + 1), now);
      for (const auto& d : ds) {
        if (d.granted) valid_until[d.node] = now + d.lease;
      }
      int holders = 0;
      for (const auto& [node, until] : valid_until) holders += until > now;
      ASSERT_LE(holders, 1) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace hafs::cluster
