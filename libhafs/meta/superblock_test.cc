#include "libhafs/meta/superblock.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::meta {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

Superblock SampleInternal(uint64_t dev = uint64_t{64} << 20) {
  LayoutRequest req;
  req.md_device_bytes = dev;
  req.al_extents = 61;
  req.al_ring_blocks = 4;
  absl::StatusOr<Superblock> sb = ComputeLayout(req);
  HAFS_CHECK(sb.ok()) << sb.status();
  sb->device_uuid = 0x1234567890abcdefULL;
  sb->node_id = 3;
  sb->flags = kMdConsistent | kMdAlClean;
  sb->gi.current = 0xaaaa0001;
  sb->gi.bitmap = 0xbbbb0000;
  sb->gi.history = {1, 2, 3, 4};
  sb->sequence = 7;
  return *sb;
}

std::string Encode(const Superblock& sb, int slot) {
  std::string b(kMetaBlockBytes, '\0');
  EncodeSuperblock(sb, slot, b.data());
  return b;
}

TEST(LayoutTest, InternalPutsMetadataAtTheEnd) {
  Superblock sb = SampleInternal();
  EXPECT_EQ(sb.sb_offset + kSuperblockAreaBytes, sb.md_device_bytes);
  EXPECT_EQ(sb.al_offset + 4 * kMetaBlockBytes, sb.sb_offset);
  EXPECT_EQ(sb.bitmap_offset + sb.bitmap_bytes, sb.al_offset);
  EXPECT_EQ(sb.data_bytes, sb.md_offset);
  EXPECT_EQ(sb.md_offset + sb.md_bytes, sb.md_device_bytes);
  EXPECT_GE(sb.bitmap_bytes / kMetaBlockBytes * kBitmapBitsPerPage, sb.data_blocks());
  EXPECT_OK(ValidateLayout(sb));
}

TEST(LayoutTest, ExternalIndexedSlots) {
  LayoutRequest req;
  req.kind = MdKind::kExternal;
  req.md_device_bytes = uint64_t{512} << 20;
  req.data_bytes = uint64_t{1} << 40;  // 1 TiB
  req.external_index = 2;
  absl::StatusOr<Superblock> sb = ComputeLayout(req);
  ASSERT_OK(sb);
  EXPECT_EQ(sb->sb_offset, 2 * kExternalSlotBytes);
  EXPECT_EQ(sb->al_offset, sb->sb_offset + kSuperblockAreaBytes);
  EXPECT_EQ(sb->bitmap_offset, sb->al_offset + 8 * kMetaBlockBytes);
  EXPECT_LE(sb->md_bytes, kExternalSlotBytes);
  EXPECT_OK(ValidateLayout(*sb));
  // 8 TiB does not fit a 128 MiB slot.
  req.data_bytes = uint64_t{8} << 40;
  EXPECT_THAT(ComputeLayout(req), StatusIs(absl::StatusCode::kOutOfRange,
                                           HasSubstr("device too small")));
  // Index past the end of the device.
  req.data_bytes = uint64_t{1} << 30;
  req.external_index = 4;
  EXPECT_THAT(ComputeLayout(req), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST(LayoutTest, DeviceTooSmallAndBadAl) {
  LayoutRequest req;
  req.md_device_bytes = 1 << 20;
  EXPECT_THAT(ComputeLayout(req), StatusIs(absl::StatusCode::kOutOfRange,
                                           HasSubstr("device too small")));
  req.md_device_bytes = uint64_t{64} << 20;
  req.al_ring_blocks = 2;
  req.al_extents = 882;
  EXPECT_OK(ComputeLayout(req));
  req.al_extents += 1;
  EXPECT_THAT(ComputeLayout(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("does not fit a ring")));
  req.al_ring_blocks = 1;
  EXPECT_THAT(ComputeLayout(req), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SuperblockTest, RoundTrip) {
  Superblock sb = SampleInternal();
  absl::StatusOr<Superblock> d = DecodeSuperblock(Encode(sb, 1), 1, sb.sb_offset);
  ASSERT_OK(d);
  EXPECT_EQ(*d, sb);
}

TEST(SuperblockTest, EncodingIsLittleEndianAtDocumentedOffsets) {
  Superblock sb = SampleInternal();
  std::string b = Encode(sb, 1);
  EXPECT_EQ(b.substr(0, 8), "HAFSMETA");
  EXPECT_EQ(static_cast<unsigned char>(b[8]), kMetaFormatVersion);
  EXPECT_EQ(static_cast<unsigned char>(b[16]), 7);  // sequence
  EXPECT_EQ(static_cast<unsigned char>(b[24]), 0xef);  // uuid low byte
  EXPECT_EQ(static_cast<unsigned char>(b[120]), 3);   // node id
}

TEST(SuperblockTest, NoMagicIsNotFound) {
  std::string zero(kMetaBlockBytes, '\0');
  EXPECT_THAT(DecodeSuperblock(zero, 0, 0), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(PickSuperblock(zero, zero, 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("create-md")));
}

TEST(SuperblockTest, EveryFlippedByteIsDetected) {
  Superblock sb = SampleInternal();
  const std::string good = Encode(sb, 1);
  for (size_t i = 0; i < kMetaBlockBytes; i += 7) {
    std::string b = good;
    b[i] ^= 0x20;
    absl::StatusOr<Superblock> d = DecodeSuperblock(b, 1, sb.sb_offset);
    EXPECT_FALSE(d.ok()) << "flipped byte " << i << " went unnoticed";
  }
}

TEST(SuperblockTest, WrongVersionIsFailedPrecondition) {
  Superblock sb = SampleInternal();
  sb.format_version = 2;
  std::string b = Encode(sb, 1);
  EXPECT_THAT(DecodeSuperblock(b, 1, sb.sb_offset),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("version 2")));
  // Even with a valid version-1 copy in the other slot: never fall back.
  Superblock old = SampleInternal();
  old.sequence = 6;
  EXPECT_THAT(PickSuperblock(Encode(old, 0), b, sb.sb_offset),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SuperblockTest, MisdirectedSlotIsRejected) {
  Superblock sb = SampleInternal();  // sequence 7 -> slot 1
  std::string b = Encode(sb, 1);
  // The slot-1 image landing in slot 0.
  EXPECT_THAT(DecodeSuperblock(b, 0, sb.sb_offset),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("misdirected")));
  // A superblock of another layout (offset) landing here.
  EXPECT_THAT(DecodeSuperblock(b, 1, sb.sb_offset + 4096 * 4),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("misdirected")));
}

TEST(SuperblockTest, PickTakesNewestValidAndSurvivesATornWrite) {
  Superblock a = SampleInternal();
  a.sequence = 10;
  Superblock b = a;
  b.sequence = 11;
  b.gi.current = 0xcccc0000;
  const std::string sa = Encode(a, 0), sbk = Encode(b, 1);
  absl::StatusOr<PickedSuperblock> p = PickSuperblock(sa, sbk, a.sb_offset);
  ASSERT_OK(p);
  EXPECT_EQ(p->sb.sequence, 11u);
  EXPECT_EQ(p->slot, 1);
  EXPECT_TRUE(p->dropped.empty());
  // Torn write of sequence 11: each 512-byte sector old or new.
  // Only sectors 0 (fields) and 7 (checksum) differ; a tear that takes both
  // or neither is not a tear.
  for (int mask = 1; mask < 255; ++mask) {
    if ((mask & 0x81) == 0x81 || (mask & 0x81) == 0) continue;
    std::string torn = Encode(a, 1);  // whatever was there before: slot 1 old image
    for (int s = 0; s < 8; ++s) {
      if (mask & (1 << s)) torn.replace(s * 512, 512, sbk.substr(s * 512, 512));
    }
    p = PickSuperblock(sa, torn, a.sb_offset);
    ASSERT_OK(p);
    EXPECT_EQ(p->sb.sequence, 10u) << "mask " << mask;
    EXPECT_EQ(p->dropped.size(), 1u);
  }
  // Both slots bad: kDataLoss naming both.
  std::string bad = sa;
  bad[100] ^= 1;
  std::string bad2 = sbk;
  bad2[200] ^= 1;
  EXPECT_THAT(PickSuperblock(bad, bad2, a.sb_offset),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("both superblock copies")));
}

TEST(SuperblockTest, FlagNames) {
  EXPECT_EQ(FlagsToString(0), "none");
  EXPECT_EQ(FlagsToString(kMdConsistent | kMdAlClean), "consistent|al-clean");
  EXPECT_EQ(FlagsToString(kMdCrashedPrimary | 0x100), "crashed-primary|0x100");
}

}  // namespace
}  // namespace hafs::meta
