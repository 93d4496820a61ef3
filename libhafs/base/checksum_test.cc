#include "libhafs/base/checksum.h"

#include <string>

#include "gtest/gtest.h"

namespace hafs {
namespace {

TEST(Checksum, KnownValuesAreStable) {
  // XXH3 output is frozen since xxHash 0.8.0; values stored on disk depend on it.
  EXPECT_EQ(Checksum64(""), 0x2D06800538D394C2ULL);
  EXPECT_NE(Checksum64("a"), Checksum64("b"));
  EXPECT_NE(Checksum64("a", 1), Checksum64("a", 2));
}

TEST(Checksum, BuilderEqualsOneShot) {
  std::string data(10000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  Checksum64Builder b(9);
  b.Update(absl::string_view(data).substr(0, 1234));
  b.Update(absl::string_view(data).substr(1234));
  EXPECT_EQ(b.Finish(), Checksum64(data, 9));
}

TEST(Checksum, DigestDetectsSingleBitFlip) {
  std::string block(4096, '\0');
  Digest128 d0 = Digest(block);
  block[4000] ^= 0x10;
  Digest128 d1 = Digest(block);
  EXPECT_NE(d0, d1);
  EXPECT_EQ(d0.ToHex().size(), 32u);
}

}  // namespace
}  // namespace hafs
