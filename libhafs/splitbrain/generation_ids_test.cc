#include "libhafs/splitbrain/generation_ids.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::splitbrain {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

TEST(GenerationIds, JustCreated) {
  GenerationIds gi = GenerationIds::JustCreated();
  EXPECT_EQ(gi.current, 4u);
  EXPECT_TRUE(gi.is_just_created());
  gi.current |= kUuidPrimaryBit;
  EXPECT_TRUE(gi.is_just_created());
}

TEST(GenerationIds, DebugStringParsesBack) {
  GenerationIds gi;
  gi.current = 0x5A3CF00DDEADBEEFULL;
  gi.bitmap = 0x10;
  gi.history = {0xABCDEF, 0};
  EXPECT_EQ(gi.DebugString(),
            "5A3CF00DDEADBEEF:0000000000000010:0000000000ABCDEF:0000000000000000"
            ":0000000000000000:0000000000000000");
  auto parsed = GenerationIds::Parse(gi.DebugString());
  ASSERT_OK(parsed);
  EXPECT_EQ(*parsed, gi);
  auto short_form = GenerationIds::Parse("5a3cf00ddeadbeef:10:abcdef:0");
  ASSERT_OK(short_form);
  EXPECT_EQ(*short_form, gi);
}

TEST(GenerationIds, ParseErrorsArePrecise) {
  EXPECT_THAT(GenerationIds::Parse("1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 2 to 6 ':'-separated hex fields")));
  EXPECT_THAT(GenerationIds::Parse("1:2:3:4:5:6:7"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("got 7")));
  auto padded = GenerationIds::Parse("10:20:30");
  ASSERT_OK(padded);
  EXPECT_EQ(padded->history[0], 0x30u);
  EXPECT_EQ(padded->history[1], 0u);
  EXPECT_THAT(GenerationIds::Parse("1:2:3:x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 4 (\"x\") has a non-hex character 'x'")));
  EXPECT_THAT(GenerationIds::Parse("1::3:4"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 2")));
  EXPECT_THAT(GenerationIds::Parse("11111111111111111:0:0:0"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 to 16 hex digits")));
}

TEST(GenerationIds, RoleBitIsMaskedInComparisons) {
  GenerationIds a, b;
  a.current = 0x21;
  b.current = 0x20;
  a.history = {0x31, 0};
  b.history = {0x30, 0};
  EXPECT_TRUE(SameGenerations(a, b));
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a.InHistory(0x30));
  EXPECT_TRUE(a.InHistory(0x31));
  EXPECT_FALSE(a.InHistory(0x40));
}

}  // namespace
}  // namespace hafs::splitbrain
