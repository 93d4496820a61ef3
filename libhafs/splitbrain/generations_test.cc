#include "libhafs/splitbrain/generations.h"

#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/splitbrain/handshake.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::splitbrain {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

GenerationIds Gi(uint64_t c, uint64_t b, std::initializer_list<uint64_t> h) {
  GenerationIds gi;
  gi.current = c;
  gi.bitmap = b;
  int i = 0;
  for (uint64_t v : h) gi.history[i++] = v;
  return gi;
}
GenerationIds Gi(uint64_t c, uint64_t b, uint64_t h0, uint64_t h1) {
  return Gi(c, b, {h0, h1});
}

TEST(Generations, FreshUuidAvoidsReservedAndKnownValues) {
  Random rng(7);
  GenerationIds gi = Gi(0x10, 0x20, 0x30, 0x40);
  for (int i = 0; i < 1000; ++i) {
    uint64_t u = FreshUuid(gi, rng);
    EXPECT_EQ(u & kUuidPrimaryBit, 0u);
    EXPECT_NE(u, 0u);
    EXPECT_NE(u, kUuidJustCreated);
    EXPECT_NE(u, 0x10u);
  }
}

TEST(Generations, NewCurrentRemembersOldCurrentAsBitmap) {
  Random rng(1);
  GenerationIds gi = Gi(0x11, 0, 0x30, 0x40);  // Primary, no bitmap UUID
  GenerationIds next = NewCurrentUuid(gi, Role::kPrimary, rng);
  EXPECT_EQ(next.bitmap, 0x11u);  // role bit kept: "was Primary at the split"
  EXPECT_EQ(next.history, gi.history);
  EXPECT_EQ(next.current & kUuidPrimaryBit, 1u);
  EXPECT_NE(MaskedUuid(next.current), 0x10u);
  EXPECT_OK(CheckAdvance(gi, next));
}

TEST(Generations, NewCurrentWithBitmapSetShiftsOldCurrentIntoHistory) {
  Random rng(2);
  GenerationIds gi = Gi(0x20, 0x10, 0x30, 0x40);
  GenerationIds next = NewCurrentUuid(gi, Role::kSecondary, rng);
  EXPECT_EQ(next.bitmap, 0x10u);
  EXPECT_EQ(next.history[0], 0x20u);
  EXPECT_EQ(next.history[1], 0x30u);
  EXPECT_OK(CheckAdvance(gi, next));
  // The peer still at generation 0x10 gets a bitmap-based resync (rule 70),
  // not a full one.
  NodeState self{.gi = next}, peer{.gi = Gi(0x10, 0, 0, 0)};
  EXPECT_EQ(CompareGenerations(self, peer, false).rule, 70);
}

TEST(Generations, PromoteRotatesOnlyWhenDisconnectedWithoutBitmap) {
  Random rng(3);
  GenerationIds gi = Gi(0x10, 0, 0, 0);
  GenerationIds connected = Promote(gi, /*peer_connected=*/true, false, rng);
  EXPECT_EQ(connected, Gi(0x11, 0, 0, 0));
  GenerationIds alone = Promote(gi, /*peer_connected=*/false, false, rng);
  EXPECT_EQ(alone.bitmap, 0x10u);  // promoted as Secondary: role bit clear
  EXPECT_EQ(alone.current & kUuidPrimaryBit, 1u);
  GenerationIds again = Promote(Demote(alone), false, false, rng);
  EXPECT_EQ(again, alone);  // bitmap UUID already set: same generation
  GenerationIds forced = Promote(Demote(alone), false, /*force=*/true, rng);
  EXPECT_NE(MaskedUuid(forced.current), MaskedUuid(alone.current));
  EXPECT_OK(CheckAdvance(alone, forced));
  EXPECT_EQ(Demote(alone).current, MaskedUuid(alone.current));
}

TEST(Generations, LosePeerRotatesOnlyAPrimaryWithoutBitmap) {
  Random rng(4);
  EXPECT_EQ(LosePeer(Gi(0x10, 0, 0, 0), Role::kSecondary, rng),
            Gi(0x10, 0, 0, 0));
  EXPECT_EQ(LosePeer(Gi(0x11, 0x20, 0, 0), Role::kPrimary, rng),
            Gi(0x11, 0x20, 0, 0));
  GenerationIds lost = LosePeer(Gi(0x11, 0, 0, 0), Role::kPrimary, rng);
  EXPECT_EQ(lost.bitmap, 0x11u);
  EXPECT_EQ(lost.current & kUuidPrimaryBit, 1u);
}

TEST(Generations, ResyncLifecycleEndsWithEqualSetsAndMatchesRule34) {
  Random rng(5);
  GenerationIds source = Gi(0x21, 0x11, 0x30, 0x40);
  GenerationIds target = Gi(0x10, 0, 0x30, 0x40);
  SyncStart s = StartResyncAsSource(source, rng);
  EXPECT_EQ(s.sync_uuid, 0x11u + kUuidNewBitmapOffset);
  EXPECT_EQ(s.gi.history[0], 0x11u);
  EXPECT_OK(CheckAdvance(source, s.gi));
  GenerationIds t1 = ReceiveSyncUuid(target, s.sync_uuid, Role::kSecondary);
  EXPECT_EQ(MaskedUuid(t1.current), MaskedUuid(s.sync_uuid));
  EXPECT_EQ(t1.bitmap, 0u);
  GenerationIds src_done = FinishResyncAsSource(s.gi);
  EXPECT_OK(CheckAdvance(s.gi, src_done));
  GenerationIds tgt_done = FinishResyncAsTarget(s.gi, Role::kSecondary);
  EXPECT_TRUE(SameGenerations(src_done, tgt_done));
  EXPECT_EQ(tgt_done.current & kUuidPrimaryBit, 0u);
  // If the source crashed before persisting "finished", rule 34 repairs it.
  NodeState self{.gi = s.gi}, peer{.gi = tgt_done};
  GenerationComparison c = CompareGenerations(self, peer, false);
  EXPECT_EQ(c.rule, 34);
  ASSERT_TRUE(c.self_fixed.has_value());
  EXPECT_TRUE(SameGenerations(*c.self_fixed, src_done));
  // If the target never got the sync UUID, rule 71 undoes the start.
  NodeState peer_old{.gi = target};
  GenerationComparison c71 = CompareGenerations(self, peer_old, false);
  EXPECT_EQ(c71.rule, 71);
  ASSERT_TRUE(c71.self_fixed.has_value());
  EXPECT_EQ(*c71.self_fixed, Gi(0x21, 0x11, 0x30, 0x40));
}

TEST(Generations, InitialSyncAndClearBitmap) {
  Random rng(6);
  EXPECT_THAT(StartInitialSync(Gi(0x10, 0, 0, 0), rng),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not just-created")));
  auto init = StartInitialSync(GenerationIds::JustCreated(), rng);
  ASSERT_OK(init);
  EXPECT_EQ(init->current & kUuidPrimaryBit, 1u);
  EXPECT_EQ(init->bitmap, 0u);
  NodeState a{.gi = *init, .role = Role::kPrimary};
  NodeState b{.gi = GenerationIds::JustCreated(), .disk = DiskState::kInconsistent};
  EXPECT_EQ(SyncHandshake(a, b, false, {}).outcome, Outcome::kFullSyncSource);

  GenerationIds cleared =
      NewCurrentUuidClearBitmap(GenerationIds::JustCreated(), Role::kSecondary, rng);
  EXPECT_EQ(cleared.bitmap, 0u);
  EXPECT_EQ(cleared.history, GenerationIds::JustCreated().history);
  auto accepted = AcceptSkipInitialSync(GenerationIds::JustCreated(),
                                        cleared.current, Role::kSecondary);
  ASSERT_OK(accepted);
  NodeState x{.gi = cleared}, y{.gi = *accepted};
  HandshakeDecision d = SyncHandshake(x, y, false, {});
  EXPECT_EQ(d.rule, 40);
  EXPECT_EQ(d.outcome, Outcome::kNoSync);
  EXPECT_THAT(AcceptSkipInitialSync(cleared, cleared.current, Role::kSecondary),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(AcceptSkipInitialSync(GenerationIds::JustCreated(), 4,
                                    Role::kSecondary),
              StatusIs(absl::StatusCode::kInvalidArgument));
  GenerationIds again = NewCurrentUuidClearBitmap(cleared, Role::kPrimary, rng);
  EXPECT_EQ(again.history[0], cleared.current);
  EXPECT_OK(CheckAdvance(cleared, again));
}

TEST(Generations, CheckAdvanceRejectsRegressions) {
  GenerationIds before = Gi(0x20, 0x10, 0x30, 0x40);
  EXPECT_OK(CheckAdvance(before, before));
  EXPECT_THAT(CheckAdvance(before, Gi(0x10, 0, 0x30, 0x40)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("went back")));
  EXPECT_THAT(CheckAdvance(before, Gi(0x30, 0x10, 0x30, 0x40)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("went back")));
  EXPECT_THAT(CheckAdvance(before, Gi(0x50, 0x10, 0x30, 0x40)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("forgot")));
  EXPECT_THAT(CheckAdvance(before, Gi(0x20, 0x10, 0x40, 0x30)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("strict shift")));
  EXPECT_THAT(CheckAdvance(before, Gi(0x20, 0, 0x99, 0x30)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("strict shift")));
  EXPECT_OK(CheckAdvance(before, Gi(0x20, 0, {0x10, 0x30, 0x40})));
  // Rule 71's undo is a documented exception: it shifts history backwards.
  EXPECT_FALSE(CheckAdvance(Gi(0x20, 0x11 + kUuidNewBitmapOffset, 0x11, 0x40),
                            Gi(0x20, 0x11, {0x40}))
                   .ok());
}

// ----------------------------------------------------------------------------
// A seeded simulation of a pair through disconnects, promotions, writes,
// crashes and reconnects, driven only by the lifecycle helpers and the
// handshake. Checks: generation ids only advance on each node's own
// timeline; the two ends decide complementarily; exactly the expected kind
// of decision (no-sync / one-directional bitmap resync / split brain) comes
// out; after a resync both sets are equal; the default policy never resolves
// a split brain, and --discard-my-data does, bitmap-based.

struct SimNode {
  NodeState state;
  void Advance(const GenerationIds& next, uint64_t seed, int step) {
    absl::Status s = CheckAdvance(state.gi, next);
    ASSERT_TRUE(s.ok()) << "seed=" << seed << " step=" << step << " "
                        << state.name << ": " << s;
    state.gi = next;
  }
};

void RunResync(SimNode& source, SimNode& target, Random& rng, uint64_t seed,
               int step) {
  SyncStart s = StartResyncAsSource(source.state.gi, rng);
  source.Advance(s.gi, seed, step);
  target.state.gi = ReceiveSyncUuid(target.state.gi, s.sync_uuid,
                                    target.state.role);
  const GenerationIds source_before_finish = source.state.gi;
  source.Advance(FinishResyncAsSource(source.state.gi), seed, step);
  target.state.gi = FinishResyncAsTarget(source_before_finish, target.state.role);
}

struct SimStats {
  int no_sync = 0, one_sided = 0, split_brains = 0, auto_resolved = 0,
      discard_my_data = 0, primary_refused = 0, demoted = 0;
};
SimStats stats;

void SimulateOneSeed(uint64_t seed) {
  Random rng(seed);
  SimNode a, b;
  a.state.name = "alpha";
  b.state.name = "beta";
  a.state.gi = b.state.gi = GenerationIds::JustCreated();
  // Initial full sync from alpha.
  a.state.gi = StartInitialSync(a.state.gi, rng).value();
  a.state.role = Role::kPrimary;
  b.state.disk = DiskState::kInconsistent;
  {
    HandshakeDecision d = SyncHandshake(a.state, b.state, false, {});
    ASSERT_EQ(d.outcome, Outcome::kFullSyncSource) << "seed=" << seed;
    RunResync(a, b, rng, seed, 0);
    b.state.disk = DiskState::kUpToDate;
    ASSERT_TRUE(SameGenerations(a.state.gi, b.state.gi)) << "seed=" << seed;
  }
  SplitBrainPolicy auto_policy;
  ASSERT_TRUE(auto_policy.Set("after-sb-0pri", "discard-least-changes").ok());
  ASSERT_TRUE(auto_policy.Set("after-sb-1pri", "discard-secondary").ok());
  ASSERT_TRUE(auto_policy.Set("after-sb-2pri", "call-pri-lost-after-sb").ok());
  SplitBrainPolicy violent_policy;
  ASSERT_TRUE(violent_policy.Set("after-sb-0pri", "discard-least-changes").ok());
  ASSERT_TRUE(violent_policy.Set("after-sb-1pri", "violently-as0p").ok());
  ASSERT_TRUE(violent_policy.Set("after-sb-2pri", "violently-as0p").ok());

  for (int step = 1; step <= 40; ++step) {
    SCOPED_TRACE(absl::StrCat("seed=", seed, " step=", step));
    // Sometimes the pair is idle (both Secondary) when the link breaks.
    if (rng.OneIn(4)) {
      for (SimNode* n : {&a, &b}) {
        n->state.gi = Demote(n->state.gi);
        n->state.role = Role::kSecondary;
      }
    }
    // Disconnect.
    const uint64_t split_a = MaskedUuid(a.state.gi.current);
    const uint64_t split_b = MaskedUuid(b.state.gi.current);
    ASSERT_EQ(split_a, split_b);
    for (SimNode* n : {&a, &b}) {
      n->Advance(LosePeer(n->state.gi, n->state.role, rng), seed, step);
    }
    // Disconnected phase.
    const int actions = static_cast<int>(rng.Uniform(6));
    for (int i = 0; i < actions; ++i) {
      SimNode& n = rng.OneIn(2) ? a : b;
      switch (rng.Uniform(4)) {
        case 0:  // promote
          if (n.state.role == Role::kSecondary && rng.OneIn(3)) {
            n.Advance(Promote(n.state.gi, false, false, rng), seed, step);
            n.state.role = Role::kPrimary;
          }
          break;
        case 1:  // demote
          n.state.gi = Demote(n.state.gi);
          n.state.role = Role::kSecondary;
          break;
        case 2:  // application writes
          if (n.state.role == Role::kPrimary) n.state.bitmap_bits += 1 + rng.Uniform(9);
          break;
        case 3:  // crash and reboot as Secondary
          if (n.state.role == Role::kPrimary) {
            n.state.crashed_primary = true;
            n.state.role = Role::kSecondary;
            n.state.gi = Demote(n.state.gi);
          }
          break;
      }
    }
    const bool changed_a = MaskedUuid(a.state.gi.current) != split_a;
    const bool changed_b = MaskedUuid(b.state.gi.current) != split_b;
    // A node moved to a new generation iff it remembers the old one in its
    // bitmap UUID (it was Primary at the split or was promoted alone).
    ASSERT_EQ(changed_a, a.state.gi.bitmap != 0);
    ASSERT_EQ(changed_b, b.state.gi.bitmap != 0);

    // Reconnect until connected (manual recovery where needed).
    const int policy_kind = static_cast<int>(rng.Uniform(3));
    const bool use_auto = policy_kind != 0;
    const SplitBrainPolicy policy = policy_kind == 0   ? SplitBrainPolicy()
                                    : policy_kind == 1 ? auto_policy
                                                       : violent_policy;
    const bool tie_a = rng.OneIn(2);
    bool connected = false;
    for (int attempt = 0; attempt < 4 && !connected; ++attempt) {
      HandshakeDecision da = SyncHandshake(a.state, b.state, tie_a, policy);
      HandshakeDecision db = SyncHandshake(b.state, a.state, !tie_a, policy);
      SCOPED_TRACE(absl::StrCat("attempt ", attempt, "\n alpha: ",
                                a.state.gi.DebugString(), " ", da.explanation,
                                "\n beta: ", b.state.gi.DebugString(), " ",
                                db.explanation));
      ASSERT_FALSE(da.is_sync_source() && db.is_sync_source());
      ASSERT_FALSE(da.is_sync_target() && db.is_sync_target());
      if (attempt == 0) {
        if (!changed_a && !changed_b) {
          ++stats.no_sync;
          ASSERT_EQ(da.rule, 40);
          ASSERT_FALSE(da.split_brain);
        } else if (changed_a != changed_b) {
          ++stats.one_sided;
          ASSERT_FALSE(da.split_brain);
          ASSERT_EQ(da.compare_result, changed_a ? 1 : -1);
          ASSERT_EQ(da.rule, changed_a ? 70 : 50);
        } else {
          ++stats.split_brains;
          ASSERT_EQ(da.rule, 90);
          ASSERT_EQ(da.compare_result, 100);
          if (da.recovery == Recovery::kAutomatic) ++stats.auto_resolved;
          if (!use_auto) {
            ASSERT_EQ(da.outcome, Outcome::kSplitBrainDisconnect);
            ASSERT_EQ(db.outcome, Outcome::kSplitBrainDisconnect);
          }
        }
      }
      if (da.demote_self || db.demote_self) ++stats.demoted;
      if (da.outcome == Outcome::kPrimaryTargetRefused ||
          db.outcome == Outcome::kPrimaryTargetRefused) {
        ++stats.primary_refused;
      }
      if (da.demote_self) {
        a.state.gi = Demote(a.state.gi);
        a.state.role = Role::kSecondary;
      }
      if (db.demote_self) {
        b.state.gi = Demote(b.state.gi);
        b.state.role = Role::kSecondary;
      }
      if (da.connects() && db.connects()) {
        if (da.is_sync_source()) {
          ASSERT_TRUE(db.is_sync_target());
          RunResync(a, b, rng, seed, step);
        } else if (db.is_sync_source()) {
          ASSERT_TRUE(da.is_sync_target());
          RunResync(b, a, rng, seed, step);
        } else {
          ASSERT_EQ(da.outcome, Outcome::kNoSync);
          ASSERT_EQ(db.outcome, Outcome::kNoSync);
        }
        ASSERT_TRUE(SameGenerations(a.state.gi, b.state.gi));
        if (attempt > 0 && (a.state.discard_my_data || b.state.discard_my_data)) {
          ASSERT_EQ((a.state.discard_my_data ? da : db).recovery,
                    Recovery::kDiscardMyData);
          ++stats.discard_my_data;
        }
        connected = true;
        break;
      }
      // Manual recovery, as an operator would do it.
      if (da.outcome == Outcome::kSplitBrainDisconnect) {
        SimNode& victim = rng.OneIn(2) ? a : b;
        victim.state.gi = Demote(victim.state.gi);
        victim.state.role = Role::kSecondary;
        victim.state.discard_my_data = true;
      } else if (da.outcome == Outcome::kPrimaryTargetRefused ||
                 db.outcome == Outcome::kPrimaryTargetRefused) {
        SimNode& p = da.outcome == Outcome::kPrimaryTargetRefused ? a : b;
        p.state.gi = Demote(p.state.gi);
        p.state.role = Role::kSecondary;
      } else {
        FAIL() << "unexpected refusal: " << OutcomeName(da.outcome) << " / "
               << OutcomeName(db.outcome);
      }
    }
    ASSERT_TRUE(connected) << "seed=" << seed << " step=" << step;
    for (SimNode* n : {&a, &b}) {
      n->state.bitmap_bits = 0;
      n->state.crashed_primary = false;
      n->state.discard_my_data = false;
    }
    // At most one Primary while connected; maybe switch over.
    if (a.state.role == Role::kPrimary && b.state.role == Role::kPrimary) {
      b.state.gi = Demote(b.state.gi);
      b.state.role = Role::kSecondary;
    }
    if (a.state.role == Role::kSecondary && b.state.role == Role::kSecondary) {
      SimNode& n = rng.OneIn(2) ? a : b;
      n.Advance(Promote(n.state.gi, /*peer_connected=*/true, false, rng), seed,
                step);
      n.state.role = Role::kPrimary;
    }
  }
}

TEST(GenerationsSimulation, FixedSeeds) {
  const char* env = std::getenv("HAFS_SPLITBRAIN_SEED");
  if (env != nullptr) {
    SimulateOneSeed(std::strtoull(env, nullptr, 10));
    return;
  }
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SimulateOneSeed(seed);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "failing seed=" << seed
                    << " (rerun with HAFS_SPLITBRAIN_SEED=" << seed << ")";
      return;
    }
  }
  // The fixed seeds must reach every kind of reconnect.
  EXPECT_GT(stats.no_sync, 100);
  EXPECT_GT(stats.one_sided, 100);
  EXPECT_GT(stats.split_brains, 100);
  EXPECT_GT(stats.auto_resolved, 10);
  EXPECT_GT(stats.discard_my_data, 10);
  EXPECT_GT(stats.primary_refused, 0);
  EXPECT_GT(stats.demoted, 0);
  std::cout << "no-sync " << stats.no_sync << ", one-sided " << stats.one_sided
            << ", split brains " << stats.split_brains << " (auto "
            << stats.auto_resolved << ", discard-my-data "
            << stats.discard_my_data << "), primary refused "
            << stats.primary_refused << ", demoted " << stats.demoted << "\n";
}

}  // namespace
}  // namespace hafs::splitbrain
