#include "libhafs/frontend/byte_range_io.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/frontend/block_range_lock.h"
#include "libhafs/frontend/volume_io.h"
#include "libhafs/io/mem_device.h"

namespace hafs::frontend {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
using io::kBlockSize;

// Yields between calls so that concurrent read-modify-write cycles interleave
// (MemDevice alone is so fast that races would rarely show).
class YieldingVolume final : public VolumeIo {
 public:
  explicit YieldingVolume(VolumeIo* inner) : inner_(inner) {}
  uint64_t size_bytes() const override { return inner_->size_bytes(); }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    absl::Status s = inner_->Read(offset, out);
    std::this_thread::yield();
    return s;
  }
  absl::Status Write(uint64_t offset, absl::Span<const char> data,
                     bool fua) override {
    std::this_thread::yield();
    return inner_->Write(offset, data, fua);
  }
  absl::Status Flush() override { return inner_->Flush(); }
  absl::Status WriteZeroes(uint64_t offset, uint64_t length) override {
    return inner_->WriteZeroes(offset, length);
  }

 private:
  VolumeIo* inner_;
};

TEST(VolumeIoTest, AdapterEnforcesAlignmentRules) {
  io::MemDevice dev(16 * kBlockSize);
  BlockDeviceVolumeIo volume(&dev);
  io::AlignedBuffer buf(2 * kBlockSize);
  EXPECT_THAT(volume.Read(100, buf.span().subspan(0, kBlockSize)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not aligned")));
  EXPECT_THAT(volume.Write(0, buf.span().subspan(1, kBlockSize), false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("buffer address")));
  EXPECT_THAT(volume.Read(15 * kBlockSize, buf.span()),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past")));
  EXPECT_THAT(volume.WriteZeroes(0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(volume.stats().reads, 0u);
  EXPECT_EQ(volume.stats().writes, 0u);
}

TEST(VolumeIoTest, AdapterCountsAndZeroes) {
  for (bool discard_zeroes : {false, true}) {
    SCOPED_TRACE(absl::StrCat("discard_zeroes=", discard_zeroes));
    io::MemDevice dev(16 * kBlockSize);
    BlockDeviceVolumeIo volume(&dev, {.discard_zeroes = discard_zeroes});
    io::AlignedBuffer buf(4 * kBlockSize);
    std::memset(buf.data(), 0x5a, buf.size());
    ASSERT_OK(volume.Write(0, buf.span(), /*fua=*/true));
    ASSERT_OK(volume.Flush());
    ASSERT_OK(volume.WriteZeroes(kBlockSize, 2 * kBlockSize));
    ASSERT_OK(volume.Read(0, buf.span()));
    EXPECT_EQ(buf.data()[0], 0x5a);
    EXPECT_EQ(buf.data()[kBlockSize], 0);
    EXPECT_EQ(buf.data()[3 * kBlockSize - 1], 0);
    EXPECT_EQ(buf.data()[3 * kBlockSize], 0x5a);
    BlockDeviceVolumeIo::Stats st = volume.stats();
    EXPECT_EQ(st.fua_writes, 1u);
    EXPECT_EQ(st.flushes, 1u);
    EXPECT_EQ(st.zeroes, discard_zeroes ? 1u : 0u);
  }
}

TEST(ByteRangeIoTest, RejectsRangesPastTheEnd) {
  io::MemDevice dev(4 * kBlockSize);
  BlockDeviceVolumeIo volume(&dev);
  ByteRangeIo bytes(&volume);
  char c[2] = {1, 2};
  EXPECT_THAT(bytes.Write(4 * kBlockSize - 1, absl::MakeConstSpan(c, 2), false),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past")));
  EXPECT_THAT(bytes.Read(4 * kBlockSize + 1, absl::MakeSpan(c, 0)),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(bytes.Zero(0, 4 * kBlockSize + 1),
              StatusIs(absl::StatusCode::kOutOfRange));
  ASSERT_OK(bytes.Write(4 * kBlockSize - 1, absl::MakeConstSpan(c, 1), false));
  EXPECT_EQ(dev.contents().back(), 1);
  ASSERT_OK(bytes.Read(4 * kBlockSize, absl::MakeSpan(c, 0)));  // empty at end
}

TEST(ByteRangeIoTest, AlignedWriteFromAlignedBufferNeedsNoReadModifyWrite) {
  io::MemDevice dev(16 * kBlockSize);
  BlockDeviceVolumeIo volume(&dev);
  ByteRangeIo bytes(&volume);
  io::AlignedBuffer buf(2 * kBlockSize);
  ASSERT_OK(bytes.Write(kBlockSize, buf.span(), true));
  EXPECT_EQ(bytes.read_modify_writes(), 0u);
  EXPECT_EQ(volume.stats().reads, 0u);
  EXPECT_EQ(volume.stats().fua_writes, 1u);
  // Aligned range from an unaligned buffer: bounce, still no read.
  std::string s(kBlockSize, 'x');
  ASSERT_OK(bytes.Write(0, absl::MakeConstSpan(s.data() + 0, s.size()), false));
  EXPECT_EQ(volume.stats().reads, 0u);
  ASSERT_OK(bytes.Write(10, absl::MakeConstSpan(s.data(), 5), false));
  EXPECT_EQ(bytes.read_modify_writes(), 1u);
  EXPECT_EQ(volume.stats().writes, 3u);
}

// Seeded random unaligned reads, writes and zeroing against a std::string.
TEST(ByteRangeIoTest, RandomUnalignedOpsMatchModel) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed=", seed));
    Random rng(seed);
    const uint64_t size = (1 + rng.Uniform(24)) * kBlockSize;
    io::MemDevice dev(size);
    BlockDeviceVolumeIo volume(&dev, {.discard_zeroes = rng.OneIn(2)});
    ByteRangeIo bytes(&volume);
    std::string model(size, '\0');
    std::string buf;
    for (int op = 0; op < 400; ++op) {
      // Bias towards small requests and block edges.
      uint64_t offset = rng.Uniform(size + 1);
      if (rng.OneIn(4)) offset = std::min(size, offset / kBlockSize * kBlockSize);
      uint64_t max_len = size - offset;
      uint64_t len = rng.OneIn(3) ? rng.Uniform(std::min<uint64_t>(max_len, 64) + 1)
                                  : rng.Uniform(max_len + 1);
      const int kind = static_cast<int>(rng.Uniform(10));
      if (kind < 5) {
        buf.assign(len, '\0');
        rng.Fill(absl::MakeSpan(buf));
        ASSERT_OK(bytes.Write(offset, buf, rng.OneIn(8)))
            << "op=" << op << " offset=" << offset << " len=" << len;
        model.replace(offset, len, buf);
      } else if (kind < 6) {
        ASSERT_OK(bytes.Zero(offset, len)) << "op=" << op;
        model.replace(offset, len, std::string(len, '\0'));
      } else {
        // Misaligned destination buffers too.
        const size_t skew = rng.Uniform(8);
        buf.assign(len + skew, '\1');
        ASSERT_OK(bytes.Read(offset, absl::MakeSpan(buf).subspan(skew)))
            << "op=" << op;
        ASSERT_EQ(buf.substr(skew), model.substr(offset, len))
            << "op=" << op << " offset=" << offset << " len=" << len;
      }
    }
    ASSERT_EQ(dev.contents(), model);
  }
}

// Threads own interleaved byte slices of the SAME blocks and write them with
// unaligned requests concurrently. Without the per-block serialization a
// read-modify-write would write back a stale copy of a neighbour's slice.
TEST(ByteRangeIoTest, ConcurrentPartialWritesToSharedBlocksLoseNothing) {
  constexpr int kThreads = 4;
  constexpr uint64_t kBlocks = 8;
  constexpr uint64_t kSlice = kBlockSize / kThreads;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed=", seed));
    io::MemDevice dev(kBlocks * kBlockSize);
    BlockDeviceVolumeIo base(&dev);
    YieldingVolume volume(&base);
    ByteRangeIo bytes(&volume);
    std::vector<std::string> models(kThreads,
                                    std::string(kBlocks * kBlockSize, '\0'));
    std::vector<std::thread> threads;
    std::vector<absl::Status> errors(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Random rng(seed * 100 + t);
        std::string data;
        for (int i = 0; i < 1500; ++i) {
          const uint64_t block = rng.Uniform(kBlocks);
          const uint64_t from = rng.Uniform(kSlice);
          const uint64_t len = 1 + rng.Uniform(kSlice - from);
          const uint64_t offset = block * kBlockSize + t * kSlice + from;
          data.assign(len, '\0');
          rng.Fill(absl::MakeSpan(data));
          absl::Status s = bytes.Write(offset, data, false);
          if (!s.ok()) {
            errors[t] = s;
            return;
          }
          models[t].replace(offset, len, data);
        }
      });
    }
    for (std::thread& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) ASSERT_OK(errors[t]) << "thread " << t;
    const std::string& got = dev.contents();
    for (uint64_t block = 0; block < kBlocks; ++block) {
      for (int t = 0; t < kThreads; ++t) {
        const uint64_t at = block * kBlockSize + t * kSlice;
        ASSERT_EQ(got.substr(at, kSlice), models[t].substr(at, kSlice))
            << "block " << block << " slice of thread " << t;
      }
    }
  }
}

// A whole-block writer and a partial writer on the same block: the partial
// writer's read-modify-write must never write back an older copy of the
// whole-block writer's data.
TEST(ByteRangeIoTest, PartialWriteNeverRevertsConcurrentWholeBlockWrite) {
  io::MemDevice dev(4 * kBlockSize);
  BlockDeviceVolumeIo base(&dev);
  YieldingVolume volume(&base);
  ByteRangeIo bytes(&volume);
  constexpr int kRounds = 3000;
  std::thread whole([&] {
    io::AlignedBuffer buf(kBlockSize);
    for (int i = 1; i <= kRounds; ++i) {
      std::memset(buf.data(), static_cast<char>(i % 251 + 1), kBlockSize);
      ASSERT_OK(bytes.Write(kBlockSize, buf.span(), false));
    }
  });
  std::thread partial([&] {
    const char x[16] = {};
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_OK(bytes.Write(kBlockSize + 7, absl::MakeConstSpan(x, 16), false));
    }
  });
  whole.join();
  partial.join();
  const char last = static_cast<char>(kRounds % 251 + 1);
  const std::string& got = dev.contents();
  for (uint64_t i = kBlockSize + 23; i < 2 * kBlockSize; ++i) {
    ASSERT_EQ(got[i], last) << "byte " << i << " reverted";
  }
  EXPECT_GT(bytes.read_modify_writes(), 0u);
}

TEST(BlockRangeLockTest, SharedRangesOverlapExclusiveOnesWait) {
  BlockRangeLock locks;
  {
    BlockRangeLock::Guard a = locks.Lock(0, 10, false);
    BlockRangeLock::Guard b = locks.Lock(5, 15, false);  // shared: no wait
    BlockRangeLock::Guard c = locks.Lock(15, 20, true);  // disjoint: no wait
    EXPECT_EQ(locks.entries(), 3);
  }
  EXPECT_EQ(locks.entries(), 0);
  std::atomic<int> stage{0};
  BlockRangeLock::Guard* held = new BlockRangeLock::Guard(locks.Lock(0, 4, true));
  std::thread waiter([&] {
    BlockRangeLock::Guard g = locks.Lock(3, 5, false);
    stage.store(2);
  });
  while (locks.entries() < 2) std::this_thread::yield();
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(stage.load(), 0) << "shared lock granted over an exclusive one";
  delete held;
  waiter.join();
  EXPECT_EQ(stage.load(), 2);
}

}  // namespace
}  // namespace hafs::frontend
