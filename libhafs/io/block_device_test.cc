// Tests of the BlockDevice contract shared by every implementation
// (validation, sync helpers, AlignedBuffer) on MemDevice, plus io_status.
#include "libhafs/io/block_device.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/io/io_status.h"
#include "libhafs/io/mem_device.h"

namespace hafs::io {
namespace {

using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kSize = 16 * kBlockSize;

TEST(AlignedBufferTest, IsAlignedAndZeroed) {
  for (size_t size : {size_t{1}, size_t{4096}, size_t{12345}, size_t{1} << 20}) {
    AlignedBuffer b(size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kBlockSize, 0u);
    EXPECT_EQ(b.size(), size);
    EXPECT_EQ(b.view(), std::string(size, '\0'));
  }
  AlignedBuffer a(4096);
  a.data()[0] = 'x';
  AlignedBuffer moved(std::move(a));
  EXPECT_EQ(moved.data()[0], 'x');
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): documented
}

TEST(ValidateTest, MisalignedOffsetIsRejectedWithValues) {
  MemDevice dev(kSize);
  AlignedBuffer b(kBlockSize);
  EXPECT_THAT(dev.Write(512, b.span()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("write of 4096 bytes at offset 512"),
                             HasSubstr("not aligned"), HasSubstr("multiples of 4096"))));
  EXPECT_THAT(dev.Read(100, b.span()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("read")));
}

TEST(ValidateTest, MisalignedLength) {
  MemDevice dev(kSize);
  AlignedBuffer b(kBlockSize);
  EXPECT_THAT(dev.Read(0, b.span().subspan(0, 1000)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("read of 1000 bytes at offset 0 is not aligned")));
  EXPECT_THAT(dev.Discard(0, 513),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("discard of 513")));
}

TEST(ValidateTest, ZeroLength) {
  MemDevice dev(kSize);
  AlignedBuffer b(kBlockSize);
  EXPECT_THAT(dev.Write(4096, b.span().subspan(0, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("write at offset 4096: length is 0")));
  EXPECT_THAT(dev.Discard(0, 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("length is 0")));
}

TEST(ValidateTest, OutOfRange) {
  MemDevice dev(kSize);
  AlignedBuffer b(2 * kBlockSize);
  EXPECT_THAT(dev.Write(kSize - kBlockSize, b.span()),
              StatusIs(absl::StatusCode::kOutOfRange,
                       HasSubstr("write of 8192 bytes at offset 61440 ends past the "
                                 "device end (65536 bytes)")));
  EXPECT_THAT(dev.Read(kSize, b.span()), StatusIs(absl::StatusCode::kOutOfRange));
  // Offsets near 2^64 must not wrap around the check.
  EXPECT_THAT(dev.Discard(UINT64_MAX - 4095, 8192),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_OK(dev.Write(kSize - 2 * kBlockSize, b.span()));  // exactly to the end
}

TEST(ValidateTest, UnalignedOrMissingBuffer) {
  MemDevice dev(kSize);
  AlignedBuffer b(2 * kBlockSize);
  EXPECT_THAT(dev.Write(0, absl::MakeConstSpan(b.data() + 512, kBlockSize)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("buffer address is not 4096-byte aligned"),
                             HasSubstr("AlignedBuffer"))));
  IoRequest req{.op = IoOp::kRead, .offset = 0, .length = kBlockSize, .data = nullptr};
  req.done = [](absl::Status) { ADD_FAILURE() << "callback of a rejected request"; };
  EXPECT_THAT(dev.Submit(&req),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no buffer")));
  EXPECT_EQ(dev.in_flight(), 0);
}

TEST(ValidateTest, FlushNeedsNoRange) {
  MemDevice dev(kSize);
  EXPECT_OK(dev.Flush());
}

TEST(MemDeviceTest, RoundTripAndDiscard) {
  MemDevice dev(kSize);
  AlignedBuffer w(2 * kBlockSize);
  for (size_t i = 0; i < w.size(); ++i) w.data()[i] = static_cast<char>(i * 7);
  ASSERT_OK(dev.Write(4 * kBlockSize, w.span(), /*fua=*/true));
  AlignedBuffer r(2 * kBlockSize);
  ASSERT_OK(dev.Read(4 * kBlockSize, r.span()));
  EXPECT_EQ(r.view(), w.view());
  ASSERT_OK(dev.Discard(4 * kBlockSize, kBlockSize));
  ASSERT_OK(dev.Read(4 * kBlockSize, r.span()));
  EXPECT_EQ(r.view().substr(0, kBlockSize), std::string(kBlockSize, '\0'));
  EXPECT_EQ(r.view().substr(kBlockSize), w.view().substr(kBlockSize));
  EXPECT_EQ(dev.contents().substr(5 * kBlockSize, kBlockSize), w.view().substr(kBlockSize));
}

TEST(MemDeviceTest, AsyncCompletesInSubmissionOrderAtPoll) {
  MemDevice dev(kSize);
  AlignedBuffer b(kBlockSize);
  std::vector<IoRequest> reqs(4);
  std::vector<int> order;
  for (int i = 0; i < 4; ++i) {
    reqs[i] = IoRequest{.op = i == 3 ? IoOp::kFlush : IoOp::kWrite,
                        .offset = i * kBlockSize, .length = kBlockSize, .data = b.data()};
    reqs[i].done = [&order, i](absl::Status s) {
      EXPECT_OK(s);
      order.push_back(i);
    };
    ASSERT_OK(dev.Submit(&reqs[i]));
  }
  EXPECT_EQ(dev.in_flight(), 4);
  EXPECT_TRUE(order.empty());
  EXPECT_THAT(dev.Poll(1, absl::InfiniteDuration()), IsOkAndHolds(4));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(dev.in_flight(), 0);
}

TEST(IoStatusTest, MapsErrnosToSpecificCodes) {
  EXPECT_EQ(IoErrnoCode(EIO), absl::StatusCode::kDataLoss);
  EXPECT_EQ(IoErrnoCode(-EIO), absl::StatusCode::kDataLoss);
  EXPECT_EQ(IoErrnoCode(ENOSPC), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(IoErrnoCode(ENODEV), absl::StatusCode::kUnavailable);
  EXPECT_EQ(IoErrnoCode(ENXIO), absl::StatusCode::kUnavailable);
  EXPECT_EQ(IoErrnoCode(EROFS), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(IoErrnoCode(12345), absl::StatusCode::kUnknown);
  EXPECT_THAT(IoErrnoStatus(-ENOSPC, "write of 4096 bytes at offset 0 on /x"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("write of 4096 bytes at offset 0 on /x: No space "
                                 "left on device (errno 28 ENOSPC)")));
}

}  // namespace
}  // namespace hafs::io
