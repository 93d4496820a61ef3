#include "libhafs/frontend/gated_volume_io.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/io/mem_device.h"

namespace hafs::frontend {
namespace {

using ::hafs::testing::StatusIs;

TEST(GatedVolumeIo, SuspendHoldsRequestsUntilResume) {
  io::MemDevice dev(1 << 20);
  BlockDeviceVolumeIo inner(&dev);
  GatedVolumeIo gated(&inner);
  io::AlignedBuffer buf(4096);
  ASSERT_OK(gated.Write(0, buf.span(), false));
  gated.Suspend();
  std::atomic<bool> done{false};
  absl::Status result;
  std::thread writer([&] {
    io::AlignedBuffer b(4096);
    b.data()[0] = 'x';
    result = gated.Write(4096, b.span(), false);
    done = true;
  });
  // The writer must be parked in the gate, not finished.
  for (int i = 0; i < 1000 && gated.waiting() == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(gated.waiting(), 1);
  EXPECT_FALSE(done.load());
  gated.Resume();
  writer.join();
  EXPECT_OK(result);
  EXPECT_EQ(dev.contents()[4096], 'x');
}

TEST(GatedVolumeIo, FailReturnsUnavailableAndReleasesWaiters) {
  io::MemDevice dev(1 << 20);
  BlockDeviceVolumeIo inner(&dev);
  GatedVolumeIo gated(&inner);
  gated.Suspend();
  absl::Status result;
  std::thread reader([&] {
    io::AlignedBuffer b(4096);
    result = gated.Read(0, b.span());
  });
  for (int i = 0; i < 1000 && gated.waiting() == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  gated.Fail();  // quorum-loss policy switched to fail-io: waiters get the error
  reader.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(gated.Flush(), StatusIs(absl::StatusCode::kUnavailable));
  gated.Resume();
  EXPECT_OK(gated.Flush());
}

}  // namespace
}  // namespace hafs::frontend
