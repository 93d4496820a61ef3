#include "libhafs/base/random.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hafs {
namespace {

TEST(Random, SameSeedSameStream) {
  Random a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = a.Next64();
    EXPECT_EQ(x, b.Next64());
    differs |= x != c.Next64();
  }
  EXPECT_TRUE(differs);
}

TEST(Random, StreamIsPinned) {
  // std::mt19937_64's 10000th output for the default seed is fixed by the
  // standard ([rand.predef]); our stream must not depend on the library.
  Random r(5489);
  uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = r.Next64();
  EXPECT_EQ(x, 9981545732273789042ULL);
}

TEST(Random, UniformInRangeAndRoughlyFlat) {
  Random r(42);
  std::vector<int> counts(10);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = r.Uniform(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) {
    EXPECT_GT(c, 9000);
    EXPECT_LT(c, 11000);
  }
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = r.Range(5, 7);
    EXPECT_GE(v, 5u);
    EXPECT_LE(v, 7u);
  }
  EXPECT_EQ(r.Uniform(1), 0u);
}

TEST(Random, BernoulliEdgesAndFill) {
  Random r(1);
  int hits = 0;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_FALSE(r.Bernoulli(0));
    EXPECT_TRUE(r.Bernoulli(1));
    hits += r.Bernoulli(0.25);
  }
  EXPECT_GT(hits, 2200);
  EXPECT_LT(hits, 2800);
  std::string buf(37, '\0');
  r.Fill(absl::MakeSpan(buf));
  EXPECT_NE(buf, std::string(37, '\0'));
}

TEST(Random, ForkIsIndependentAndDeterministic) {
  Random a(3), b(3);
  Random fa = a.Fork(), fb = b.Fork();
  EXPECT_EQ(fa.seed(), fb.seed());
  EXPECT_NE(fa.seed(), a.seed());
  EXPECT_EQ(fa.Next64(), fb.Next64());
}

}  // namespace
}  // namespace hafs
