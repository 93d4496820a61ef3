#include "libhafs/splitbrain/policy.h"

#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::splitbrain {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Policy, DefaultsRefuseEverything) {
  SplitBrainPolicy p;
  EXPECT_EQ(p.after_sb_0pri, AfterSb0Pri::kDisconnect);
  EXPECT_EQ(p.after_sb_1pri, AfterSb1Pri::kDisconnect);
  EXPECT_EQ(p.after_sb_2pri, AfterSb2Pri::kDisconnect);
  EXPECT_EQ(p.rr_conflict, RrConflict::kDisconnect);
  EXPECT_FALSE(p.always_asbp);
}

TEST(Policy, ParsesEveryValueAndNamesRoundTrip) {
  for (auto v : {AfterSb0Pri::kDisconnect, AfterSb0Pri::kDiscardYoungerPrimary,
                 AfterSb0Pri::kDiscardOlderPrimary, AfterSb0Pri::kDiscardZeroChanges,
                 AfterSb0Pri::kDiscardLeastChanges}) {
    std::string node;
    auto parsed = ParseAfterSb0Pri(Name(v), &node);
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, v);
    EXPECT_EQ(node, "");
  }
  std::string node;
  auto dn = ParseAfterSb0Pri("discard-node-alpha.example", &node);
  ASSERT_OK(dn);
  EXPECT_EQ(*dn, AfterSb0Pri::kDiscardNode);
  EXPECT_EQ(node, "alpha.example");
  for (auto v : {AfterSb1Pri::kDisconnect, AfterSb1Pri::kConsensus,
                 AfterSb1Pri::kViolentlyAs0p, AfterSb1Pri::kDiscardSecondary,
                 AfterSb1Pri::kCallPriLostAfterSb}) {
    auto parsed = ParseAfterSb1Pri(Name(v));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, v);
  }
  for (auto v : {AfterSb2Pri::kDisconnect, AfterSb2Pri::kViolentlyAs0p,
                 AfterSb2Pri::kCallPriLostAfterSb}) {
    auto parsed = ParseAfterSb2Pri(Name(v));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, v);
  }
  for (auto v : {RrConflict::kDisconnect, RrConflict::kRetryConnect,
                 RrConflict::kViolently, RrConflict::kCallPriLost,
                 RrConflict::kAutoDiscard}) {
    auto parsed = ParseRrConflict(Name(v));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, v);
  }
}

TEST(Policy, UnknownValueListsValidValues) {
  EXPECT_THAT(ParseAfterSb1Pri("discard-younger-primary"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("after-sb-1pri"),
                             HasSubstr("\"discard-younger-primary\""),
                             HasSubstr("disconnect, consensus, violently-as0p, "
                                       "discard-secondary, call-pri-lost-after-sb"))));
  EXPECT_THAT(ParseAfterSb2Pri("consensus"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("disconnect, violently-as0p, call-pri-lost-after-sb")));
  EXPECT_THAT(ParseRrConflict("yes"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("disconnect, retry-connect, violently, "
                                 "call-pri-lost, auto-discard")));
  std::string node;
  EXPECT_THAT(ParseAfterSb0Pri("discard-everything", &node),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("discard-least-changes, discard-node-NAME")));
}

TEST(Policy, ZeroPriRejectsPrimaryOnlyValuesWithReason) {
  std::string node;
  EXPECT_THAT(ParseAfterSb0Pri("consensus", &node),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only meaningful when a Primary is involved")));
  EXPECT_THAT(ParseAfterSb0Pri("discard-node-", &node),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs a node name")));
  EXPECT_THAT(ParseAfterSb0Pri("discard-node-a b", &node),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Policy, SetLeavesPolicyUnchangedOnError) {
  SplitBrainPolicy p;
  ASSERT_OK(p.Set("after-sb-0pri", "discard-node-beta"));
  SplitBrainPolicy before = p;
  EXPECT_THAT(p.Set("after-sb-0pri", "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(p.Set("after-sb-3pri", "disconnect"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("valid options: after-sb-0pri")));
  EXPECT_THAT(p.Set("always-asbp", "true"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("yes, no")));
  EXPECT_THAT(p.Set("protocol", "D"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("A, B, C")));
  EXPECT_EQ(p, before);
}

TEST(Policy, ConfigStringRoundTrips) {
  SplitBrainPolicy p;
  ASSERT_OK(p.Set("after-sb-0pri", "discard-node-alpha"));
  ASSERT_OK(p.Set("after-sb-1pri", "call-pri-lost-after-sb"));
  ASSERT_OK(p.Set("after-sb-2pri", "violently-as0p"));
  ASSERT_OK(p.Set("rr-conflict", "retry-connect"));
  ASSERT_OK(p.Set("always-asbp", "yes"));
  ASSERT_OK(p.Set("protocol", "A"));
  SplitBrainPolicy q;
  for (absl::string_view line : absl::StrSplit(p.ToConfigString(), '\n',
                                               absl::SkipEmpty())) {
    ASSERT_TRUE(absl::ConsumeSuffix(&line, ";")) << line;
    std::pair<std::string, std::string> kv = absl::StrSplit(line, ' ');
    ASSERT_OK(q.Set(kv.first, kv.second));
  }
  EXPECT_EQ(p, q);
}

TEST(Policy, PeerCompatibility) {
  SplitBrainPolicy a, b;
  EXPECT_OK(CheckPeerPolicyCompatible(a, b));
  ASSERT_OK(b.Set("after-sb-1pri", "discard-secondary"));
  EXPECT_THAT(CheckPeerPolicyCompatible(a, b),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("incompatible after-sb-1pri"),
                             HasSubstr("\"disconnect\""),
                             HasSubstr("\"discard-secondary\""))));
  SplitBrainPolicy c, d;
  ASSERT_OK(c.Set("after-sb-0pri", "discard-node-alpha"));
  ASSERT_OK(d.Set("after-sb-0pri", "discard-node-beta"));
  EXPECT_THAT(CheckPeerPolicyCompatible(c, d),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("discard-node-beta")));
  // rr-conflict is local: it may differ.
  SplitBrainPolicy e;
  ASSERT_OK(e.Set("rr-conflict", "violently"));
  EXPECT_OK(CheckPeerPolicyCompatible(a, e));
}

}  // namespace
}  // namespace hafs::splitbrain
