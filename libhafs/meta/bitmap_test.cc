#include "libhafs/meta/bitmap.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::meta {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

// The naive reference: one bool per bit.
struct Naive {
  std::vector<bool> bits;
  uint64_t Count(uint64_t b, uint64_t e) const {
    uint64_t n = 0;
    for (uint64_t i = b; i < std::min<uint64_t>(e, bits.size()); ++i) n += bits[i];
    return n;
  }
  uint64_t Next(uint64_t from, bool v) const {
    for (uint64_t i = from; i < bits.size(); ++i) {
      if (bits[i] == v) return i;
    }
    return bits.size();
  }
  std::vector<Bitmap::Run> Runs(uint64_t b, uint64_t e) const {
    std::vector<Bitmap::Run> out;
    e = std::min<uint64_t>(e, bits.size());
    for (uint64_t i = b; i < e;) {
      if (!bits[i]) {
        ++i;
        continue;
      }
      uint64_t j = i;
      while (j < e && bits[j]) ++j;
      out.push_back({i, j - i});
      i = j;
    }
    return out;
  }
};

void ExpectSame(const Bitmap& bm, const Naive& n, uint64_t seed) {
  ASSERT_EQ(bm.Count(), n.Count(0, n.bits.size())) << "seed=" << seed;
  for (uint64_t i = 0; i < n.bits.size(); ++i) {
    ASSERT_EQ(bm.Test(i), n.bits[i]) << "bit " << i << " seed=" << seed;
  }
}

TEST(BitmapTest, MatchesNaiveReferenceOnRandomOperations) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    // Sizes around word and page boundaries, up to 3 pages.
    const uint64_t sizes[] = {1, 63, 64, 65, 1000, kBitmapBitsPerPage - 1,
                              kBitmapBitsPerPage + 1, 3 * kBitmapBitsPerPage - 5};
    const uint64_t n = sizes[rng.Uniform(std::size(sizes))];
    Bitmap bm(n);
    Naive ref{std::vector<bool>(n, false)};
    Bitmap other(n);
    Naive oref{std::vector<bool>(n, false)};
    for (int op = 0; op < 60; ++op) {
      const uint64_t a = rng.Uniform(n + 10), len = rng.OneIn(3) ? rng.Uniform(200) : rng.Uniform(n + 1);
      const uint64_t b = a + len;
      switch (rng.Uniform(9)) {
        case 0: {
          const uint64_t want = ref.Count(a, b) ;
          const uint64_t span = b > n ? (a < n ? n - a : 0) : (a < b ? b - a : 0);
          EXPECT_EQ(bm.SetRange(a, b), span - want);
          for (uint64_t i = a; i < std::min(b, n); ++i) ref.bits[i] = true;
          break;
        }
        case 1: {
          EXPECT_EQ(bm.ClearRange(a, b), ref.Count(a, b));
          for (uint64_t i = a; i < std::min(b, n); ++i) ref.bits[i] = false;
          break;
        }
        case 2:
          if (a < n) {
            EXPECT_EQ(bm.Set(a), !ref.bits[a]);
            ref.bits[a] = true;
          }
          break;
        case 3:
          if (a < n) {
            EXPECT_EQ(bm.Clear(a), ref.bits[a]);
            ref.bits[a] = false;
          }
          break;
        case 4:
          EXPECT_EQ(bm.CountRange(a, b), ref.Count(a, b));
          break;
        case 5:
          EXPECT_EQ(bm.FindNextSet(a), ref.Next(a, true)) << "from " << a;
          EXPECT_EQ(bm.FindNextClear(a), ref.Next(a, false)) << "from " << a;
          break;
        case 6: {
          std::vector<Bitmap::Run> got;
          bm.ForEachRun(a, b, [&](Bitmap::Run r) { got.push_back(r); });
          EXPECT_EQ(got, ref.Runs(a, b));
          Bitmap::Run r = bm.NextRun(a);
          std::vector<Bitmap::Run> all = ref.Runs(a, n);
          if (all.empty()) {
            EXPECT_EQ(r.length, 0u);
          } else {
            EXPECT_EQ(r, all[0]);
          }
          break;
        }
        case 7: {
          other.SetRange(a, b);
          for (uint64_t i = a; i < std::min(b, n); ++i) oref.bits[i] = true;
          uint64_t newly = 0;
          for (uint64_t i = 0; i < n; ++i) newly += oref.bits[i] && !ref.bits[i];
          EXPECT_EQ(bm.Merge(other), newly);
          for (uint64_t i = 0; i < n; ++i) ref.bits[i] = ref.bits[i] || oref.bits[i];
          break;
        }
        case 8: {
          // Page round trip through the on-disk encoding.
          Bitmap copy(n);
          for (uint64_t p = 0; p < bm.num_pages(); ++p) {
            std::string img(kMetaBlockBytes, '\0');
            bm.EncodePage(p, 42, img.data());
            ASSERT_OK(copy.DecodePage(p, 42, img));
          }
          ExpectSame(copy, ref, seed);
          break;
        }
      }
    }
    ExpectSame(bm, ref, seed);
  }
}

TEST(BitmapTest, DirtyPagesTrackChanges) {
  Bitmap bm(4 * kBitmapBitsPerPage);
  EXPECT_EQ(bm.dirty_page_count(), 0u);
  bm.Set(kBitmapBitsPerPage + 5);
  EXPECT_EQ(bm.DirtyPages(), std::vector<uint64_t>{1});
  bm.MarkClean(1);
  bm.Set(kBitmapBitsPerPage + 5);  // no change: stays clean
  EXPECT_EQ(bm.dirty_page_count(), 0u);
  bm.SetRange(kBitmapBitsPerPage - 1, 3 * kBitmapBitsPerPage + 1);
  EXPECT_EQ(bm.DirtyPages(), (std::vector<uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(bm.PagesOf(kBitmapBitsPerPage - 1, kBitmapBitsPerPage + 1),
            (std::pair<uint64_t, uint64_t>{0, 2}));
}

TEST(BitmapTest, BadPagesAreRejectedAndLeaveMemoryUnchanged) {
  Bitmap bm(2 * kBitmapBitsPerPage);
  bm.SetRange(10, 20);
  std::string img(kMetaBlockBytes, '\0');
  bm.EncodePage(0, 7, img.data());
  Bitmap fresh(2 * kBitmapBitsPerPage);
  std::string flipped = img;
  flipped[3] ^= 4;
  EXPECT_THAT(fresh.DecodePage(0, 7, flipped),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum")));
  EXPECT_THAT(fresh.DecodePage(1, 7, img),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("misdirected")));
  EXPECT_THAT(fresh.DecodePage(0, 8, img),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("stale")));
  EXPECT_THAT(fresh.DecodePage(0, 7, std::string(kMetaBlockBytes, '\0')),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic")));
  EXPECT_EQ(fresh.Count(), 0u);
  fresh.SetPage(1);
  EXPECT_EQ(fresh.Count(), kBitmapBitsPerPage);
}

TEST(BitmapTest, LargeVolumeOperationsAreWordAtATime) {
  // 4 TiB of 4 KiB blocks = 2^30 bits (128 MiB of bitmap).
  const uint64_t n = uint64_t{1} << 30;
  Bitmap bm(n);
  EXPECT_EQ(bm.SetRange(0, n), n);
  EXPECT_EQ(bm.Count(), n);
  EXPECT_EQ(bm.ClearRange(1, n - 1), n - 2);
  EXPECT_EQ(bm.FindNextSet(1), n - 1);
  EXPECT_EQ(bm.CountRange(0, n), 2u);
  EXPECT_EQ(bm.dirty_page_count(), bm.num_pages());
}

}  // namespace
}  // namespace hafs::meta
