#include "libhafs/frontend/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/frontend/test_util.h"
#include "libhafs/io/block_device.h"

namespace hafs::frontend {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LoopDeviceTest, RejectsBadOptions) {
  EXPECT_THAT(LoopDevice::Attach({}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no backing file")));
  EXPECT_THAT(LoopDevice::Attach({.backing_file = "/tmp", .block_size = 4000}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("block size 4000")));
  EXPECT_THAT(LoopDevice::Attach({.backing_file = "/nonexistent/hafs.img"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no such file")));
  EXPECT_THAT(LoopDevice::Attach({.backing_file = "/proc/self"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
  EXPECT_THAT(LoopDevice::Attach({.backing_file = "/dev/null"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
}

// Whether /dev/loopN is bound, from sysfs.
bool Bound(int n) {
  std::ifstream f("/sys/block/loop" + std::to_string(n) + "/loop/backing_file");
  return f.good();
}

TEST(LoopDeviceTest, AttachesRegularFileWithDirectIoAndDetaches) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for loop devices";
  if (access("/dev/loop-control", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/loop-control missing (modprobe loop)";
  }
  testing::TempDir dir;
  const std::string image = dir.path() + "/img";
  {
    int fd = open(image.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
    close(fd);
  }
  absl::StatusOr<std::unique_ptr<LoopDevice>> loop =
      LoopDevice::Attach({.backing_file = image});
  ASSERT_OK(loop.status());
  const int n = (*loop)->number();
  EXPECT_EQ((*loop)->path(), "/dev/loop" + std::to_string(n));
  EXPECT_TRUE(Bound(n));
  EXPECT_TRUE((*loop)->configured_atomically());
  EXPECT_TRUE((*loop)->direct_io()) << "ext4 supports O_DIRECT";
  {
    std::ifstream bs("/sys/block/loop" + std::to_string(n) +
                     "/queue/logical_block_size");
    int size = 0;
    bs >> size;
    EXPECT_EQ(size, 4096);
  }
  // Write through the loop device, read from the file.
  {
    int fd = open((*loop)->path().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    io::AlignedBuffer buf(8192);
    std::memset(buf.data(), 'L', buf.size());
    EXPECT_EQ(pwrite(fd, buf.data(), buf.size(), 4096), 8192);
    EXPECT_EQ(fsync(fd), 0);
    close(fd);
    std::ifstream f(image);
    std::string contents((std::istreambuf_iterator<char>(f)),
                         std::istreambuf_iterator<char>());
    EXPECT_EQ(contents.substr(4096, 8192), std::string(8192, 'L'));
    EXPECT_EQ(contents[0], '\0');
  }
  ASSERT_OK((*loop)->Close());
  EXPECT_TRUE((*loop)->closed());
  EXPECT_THAT((*loop)->Close(), IsOk());  // idempotent
  // The detach completes when the last opener is gone (it was us).
  for (int i = 0; i < 100 && Bound(n); ++i) usleep(10000);
  EXPECT_FALSE(Bound(n)) << "/dev/loop" << n << " still bound";
  unlink(image.c_str());
}

}  // namespace
}  // namespace hafs::frontend
