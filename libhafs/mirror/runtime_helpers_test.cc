#include "libhafs/mirror/runtime_helpers.h"

#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace hafs::mirror {
namespace {

LocalIo Io(uint64_t token, bool barrier = false) {
  LocalIo io;
  io.token = token;
  io.op = barrier ? io::IoOp::kFlush : io::IoOp::kWrite;
  io.barrier = barrier;
  return io;
}

std::vector<uint64_t> Release(BarrierBacklog& b, bool parked) {
  std::vector<uint64_t> out;
  while (std::optional<LocalIo> io = b.Next(parked)) out.push_back(io->token);
  return out;
}

TEST(BarrierBacklogTest, PassesEverythingWhileNothingIsParked) {
  BarrierBacklog b;
  LocalIo w = Io(1), f = Io(2, true);
  EXPECT_FALSE(b.Hold(w, /*writes_parked=*/false));
  EXPECT_FALSE(b.Hold(f, /*writes_parked=*/false));
  EXPECT_EQ(b.size(), 0u);
}

TEST(BarrierBacklogTest, BarrierAndWhatFollowsWaitForParkedWrites) {
  BarrierBacklog b;
  LocalIo w1 = Io(1), f = Io(2, true), w3 = Io(3), w4 = Io(4);
  EXPECT_FALSE(b.Hold(w1, /*writes_parked=*/true));  // plain I/O passes a parked write
  EXPECT_TRUE(b.Hold(f, /*writes_parked=*/true));
  EXPECT_TRUE(b.Hold(w3, /*writes_parked=*/true));   // behind the held barrier
  EXPECT_TRUE(b.Hold(w4, /*writes_parked=*/false));  // still behind it
  EXPECT_TRUE(Release(b, /*parked=*/true).empty());
  EXPECT_EQ(Release(b, /*parked=*/false), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(b.size(), 0u);
}

TEST(BarrierBacklogTest, ASecondBarrierWaitsForWritesParkedAfterTheFirst) {
  BarrierBacklog b;
  LocalIo f1 = Io(1, true), w2 = Io(2), f3 = Io(3, true), w4 = Io(4);
  ASSERT_TRUE(b.Hold(f1, true));
  ASSERT_TRUE(b.Hold(w2, true));
  ASSERT_TRUE(b.Hold(f3, true));
  ASSERT_TRUE(b.Hold(w4, true));
  // The first barrier goes; w2 is issued and parks (an AL transaction), so
  // the second barrier must wait again.
  std::vector<uint64_t> issued;
  bool parked = false;
  while (std::optional<LocalIo> io = b.Next(parked)) {
    issued.push_back(io->token);
    if (io->token == 2) parked = true;
  }
  EXPECT_EQ(issued, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Release(b, /*parked=*/false), (std::vector<uint64_t>{3, 4}));
}

}  // namespace
}  // namespace hafs::mirror
