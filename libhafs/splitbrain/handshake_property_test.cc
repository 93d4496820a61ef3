// Property tests over seeded random generation-id pairs and node states.
// Every failure prints the seed and the inputs; HAFS_SPLITBRAIN_SEED=N reruns
// one seed.
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/splitbrain/generation_ids.h"
#include "libhafs/splitbrain/handshake.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::splitbrain {
namespace {

constexpr int kIterations = 20000;

uint64_t BaseSeed() {
  const char* env = std::getenv("HAFS_SPLITBRAIN_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240611;
}

// UUIDs from a small pool so that random pairs share values often.
uint64_t RandomUuid(Random& rng) {
  static constexpr uint64_t kPool[] = {0, 4, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60};
  uint64_t v = kPool[rng.Uniform(std::size(kPool))];
  if (v > 4 && rng.OneIn(8)) v += kUuidNewBitmapOffset;  // a derived sync UUID
  if (rng.OneIn(4)) v |= kUuidPrimaryBit;
  return v;
}

GenerationIds RandomGi(Random& rng) {
  GenerationIds gi;
  gi.current = RandomUuid(rng);
  gi.bitmap = rng.OneIn(2) ? 0 : RandomUuid(rng);
  for (auto& h : gi.history) h = rng.OneIn(3) ? 0 : RandomUuid(rng);
  return gi;
}

NodeState RandomNode(Random& rng, const char* name) {
  NodeState n;
  n.gi = RandomGi(rng);
  n.role = rng.OneIn(3) ? Role::kPrimary : Role::kSecondary;
  n.disk = rng.OneIn(4) ? static_cast<DiskState>(rng.Uniform(9))
                        : DiskState::kUpToDate;
  n.crashed_primary = rng.OneIn(4);
  n.bitmap_bits = rng.OneIn(3) ? 0 : rng.Uniform(5);
  n.can_demote = !rng.OneIn(4);
  n.name = name;
  return n;
}

SplitBrainPolicy RandomPolicy(Random& rng) {
  SplitBrainPolicy p;
  p.after_sb_0pri = static_cast<AfterSb0Pri>(rng.Uniform(6));
  if (p.after_sb_0pri == AfterSb0Pri::kDiscardNode) {
    p.discard_node = rng.OneIn(2) ? "alpha" : (rng.OneIn(2) ? "beta" : "gamma");
  }
  p.after_sb_1pri = static_cast<AfterSb1Pri>(rng.Uniform(5));
  p.after_sb_2pri = static_cast<AfterSb2Pri>(rng.Uniform(3));
  p.rr_conflict = static_cast<RrConflict>(rng.Uniform(5));
  p.always_asbp = rng.OneIn(3);
  p.protocol = static_cast<WireProtocol>(rng.Uniform(3));
  return p;
}

std::string Describe(const NodeState& n) {
  return absl::StrCat(n.gi.DebugString(),
                      n.role == Role::kPrimary ? " primary" : " secondary",
                      " disk=", static_cast<int>(n.disk),
                      n.crashed_primary ? " crashed" : "", " bits=", n.bitmap_bits,
                      n.discard_my_data ? " discard-my-data" : "",
                      n.can_demote ? "" : " cannot-demote");
}

// Would rules 50/51/60 (this node is target) fire, ignoring rule order?
bool TargetEvidence(const GenerationIds& s, const GenerationIds& p) {
  const uint64_t sc = MaskedUuid(s.current);
  return sc == MaskedUuid(p.bitmap) || p.InHistory(sc);
}

// The exceptions to symmetry, all of which need generation ids that no real
// history produces: both current UUIDs unset (rule 20 fires on both sides),
// or evidence for both directions at once (rule order then decides
// differently from the two ends, e.g. 50 on one side and 60 on the other).
bool SymmetryException(const GenerationIds& a, const GenerationIds& b) {
  if (MaskedUuid(a.current) == 0 && MaskedUuid(b.current) == 0) return true;
  return TargetEvidence(a, b) && TargetEvidence(b, a);
}

TEST(HandshakeProperty, CompareIsSymmetricExceptDocumentedCases) {
  const uint64_t seed = BaseSeed();
  Random rng(seed);
  int checked = 0, exceptions = 0, asymmetric_exceptions = 0;
  for (int i = 0; i < kIterations; ++i) {
    NodeState a = RandomNode(rng, "alpha");
    NodeState b = RandomNode(rng, "beta");
    const bool tie = rng.OneIn(2);
    GenerationComparison ab = CompareGenerations(a, b, tie);
    GenerationComparison ba = CompareGenerations(b, a, !tie);
    const bool sym = (ab.result == 0 || std::abs(ab.result) >= 100)
                         ? ba.result == ab.result
                         : ba.result == -ab.result;
    if (SymmetryException(a.gi, b.gi)) {
      ++exceptions;
      if (!sym) ++asymmetric_exceptions;
      continue;
    }
    ++checked;
    ASSERT_TRUE(sym) << "seed=" << seed << " iteration=" << i << "\n a: "
                     << Describe(a) << "\n b: " << Describe(b)
                     << "\n a->b: " << ab.explanation
                     << "\n b->a: " << ba.explanation;
    // Mirrored fix-ups agree: what one side corrects in itself, the other
    // corrects in its copy of the peer.
    ASSERT_EQ(ab.self_fixed.has_value(), ba.peer_fixed.has_value())
        << "seed=" << seed << " iteration=" << i;
    if (ab.self_fixed) {
      ASSERT_EQ(*ab.self_fixed, *ba.peer_fixed);
    }
  }
  // The test must exercise the interesting cases, and the exceptions must be
  // real exceptions (otherwise the carve-out is too wide).
  EXPECT_GT(checked, kIterations / 2) << "seed=" << seed;
  EXPECT_GT(asymmetric_exceptions, 0) << "seed=" << seed;
  RecordProperty("exceptions", exceptions);
}

// The two ends of a connection, given mirrored inputs, never both become
// sync source or both sync target, and when both proceed they agree on the
// kind of resync.
TEST(HandshakeProperty, BothEndsReachComplementaryDecisions) {
  const uint64_t seed = BaseSeed() + 1;
  Random rng(seed);
  int both_proceed = 0;
  for (int i = 0; i < kIterations; ++i) {
    NodeState a = RandomNode(rng, "alpha");
    NodeState b = RandomNode(rng, "beta");
    if (SymmetryException(a.gi, b.gi)) continue;
    const int dmd = static_cast<int>(rng.Uniform(4));
    a.discard_my_data = dmd == 1 || dmd == 3;
    b.discard_my_data = dmd == 2 || dmd == 3;
    a.dry_run = rng.OneIn(10);
    const SplitBrainPolicy policy = RandomPolicy(rng);
    const bool tie = rng.OneIn(2);
    HandshakeDecision da = SyncHandshake(a, b, tie, policy);
    HandshakeDecision db = SyncHandshake(b, a, !tie, policy);
    SCOPED_TRACE(absl::StrCat("seed=", seed, " iteration=", i, "\n a: ",
                              Describe(a), "\n b: ", Describe(b), "\n policy:\n",
                              policy.ToConfigString(), " a: ", da.explanation,
                              "\n b: ", db.explanation));
    ASSERT_FALSE(da.is_sync_source() && db.is_sync_source());
    ASSERT_FALSE(da.is_sync_target() && db.is_sync_target());
    ASSERT_EQ(da.dry_run, db.dry_run);
    ASSERT_EQ(da.split_brain, db.split_brain);
    const bool a_go = da.outcome <= Outcome::kFullSyncTarget;
    const bool b_go = db.outcome <= Outcome::kFullSyncTarget;
    if (a_go && b_go) {
      ++both_proceed;
      ASSERT_EQ(da.result, -db.result);
      ASSERT_EQ(da.is_full_sync(), db.is_full_sync());
    }
    // A demoting node is the target, and only a Primary demotes.
    if (da.demote_self) {
      ASSERT_EQ(a.role, Role::kPrimary);
      ASSERT_TRUE(da.is_sync_target());
    }
    if (da.dry_run) {
      ASSERT_FALSE(da.connects());
    }
  }
  EXPECT_GT(both_proceed, kIterations / 10) << "seed=" << seed;
}

// With "disconnect" for the after-sb policy that applies, a split brain is
// never resolved automatically; with the all-default policy never at all.
TEST(HandshakeProperty, DisconnectPolicyNeverAutoResolves) {
  const uint64_t seed = BaseSeed() + 2;
  Random rng(seed);
  int split_brains = 0;
  for (int i = 0; i < kIterations; ++i) {
    NodeState a = RandomNode(rng, "alpha");
    NodeState b = RandomNode(rng, "beta");
    SplitBrainPolicy policy = RandomPolicy(rng);
    const bool all_default = rng.OneIn(2);
    if (all_default) policy = SplitBrainPolicy();
    HandshakeDecision d = SyncHandshake(a, b, rng.OneIn(2), policy);
    SCOPED_TRACE(absl::StrCat("seed=", seed, " iteration=", i, "\n a: ",
                              Describe(a), "\n b: ", Describe(b), "\n ",
                              d.explanation));
    if (d.split_brain) ++split_brains;
    if (all_default) {
      ASSERT_NE(d.recovery, Recovery::kAutomatic);
      if (std::abs(d.compare_result) == 100 && d.recovery == Recovery::kNone) {
        ASSERT_EQ(d.outcome, Outcome::kSplitBrainDisconnect);
        ASSERT_NE(d.explanation.find("hafsctl connect --discard-my-data"),
                  std::string::npos);
      }
    }
    if (d.recovery == Recovery::kAutomatic) {
      const int pcount = (a.role == Role::kPrimary) + (b.role == Role::kPrimary);
      ASSERT_EQ(d.primaries, pcount);
      if (pcount == 0) {
        ASSERT_NE(policy.after_sb_0pri, AfterSb0Pri::kDisconnect);
      }
      if (pcount == 1) {
        ASSERT_NE(policy.after_sb_1pri, AfterSb1Pri::kDisconnect);
      }
      if (pcount == 2) {
        ASSERT_NE(policy.after_sb_2pri, AfterSb2Pri::kDisconnect);
      }
      if (d.compare_result == -100) {
        ASSERT_TRUE(policy.always_asbp);
      }
    }
    // Refusals always say so and never proceed.
    if (d.outcome == Outcome::kSplitBrainDisconnect) {
      ASSERT_FALSE(d.connects());
      ASSERT_FALSE(d.handlers.empty());
      ASSERT_EQ(d.handlers.back(), Handler::kSplitBrain);
    }
  }
  EXPECT_GT(split_brains, 100) << "seed=" << seed;
}

TEST(HandshakeProperty, ResolvesConflictsPicksExactlyOneNode) {
  for (uint32_t a = 0; a < 8; ++a) {
    for (uint32_t b = 0; b < 8; ++b) {
      if (a == b) continue;
      EXPECT_NE(ResolvesConflicts(a, b), ResolvesConflicts(b, a));
    }
  }
}

}  // namespace
}  // namespace hafs::splitbrain
