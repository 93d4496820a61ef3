#include "libhafs/frontend/fuse_export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <dirent.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/frontend/test_util.h"
#include "libhafs/frontend/volume_io.h"
#include "libhafs/io/mem_device.h"

namespace hafs::frontend {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using io::kBlockSize;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

TEST(FuseExportOptionsTest, RejectsBadOptionsBeforeMounting) {
  io::MemDevice dev(16 * kBlockSize);
  BlockDeviceVolumeIo volume(&dev);
  EXPECT_THAT(FuseExport::Start(&volume, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no mountpoint")));
  EXPECT_THAT(FuseExport::Start(&volume, {.mountpoint = "/nonexistent/hafs-x"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("mkdir -p")));
  EXPECT_THAT(FuseExport::Start(&volume, {.mountpoint = "/proc/self/status"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a directory")));
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_THAT(FuseExport::Start(&volume, {.mountpoint = "/tmp",
                                            .file_name = bad}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("bad file name")))
        << "'" << bad << "'";
  }
  EXPECT_THAT(FuseExport::Start(&volume, {.mountpoint = "/tmp",
                                          .max_io_bytes = 2 << 20}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StatusToErrnoTest, MapsVolumeErrors) {
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusToErrno(absl::DataLossError("x")), EIO);
  EXPECT_EQ(StatusToErrno(absl::ResourceExhaustedError("x")), ENOSPC);
  EXPECT_EQ(StatusToErrno(absl::FailedPreconditionError("x")), EROFS);
  EXPECT_EQ(StatusToErrno(absl::UnavailableError("x")), EIO);
}

// A mounted export over a MemDevice. Skips (with the reason) when FUSE
// cannot be used here; fails when it should work but does not.
class MountedTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 4 << 20;

  void SetUp() override {
    const std::string why = testing::FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    testing::CleanStaleTestMounts();
    dir_ = std::make_unique<testing::TempDir>();
    mnt_ = dir_->Subdir("mnt");
  }

  void TearDown() override {
    if (fuse_ != nullptr) {
      EXPECT_OK(fuse_->Stop(/*force=*/true));
    }
    fuse_.reset();
  }

  void Mount(FuseExportOptions options = {}) {
    options.mountpoint = mnt_;
    options.fsname = "hafs-test";
    absl::StatusOr<std::unique_ptr<FuseExport>> f =
        FuseExport::Start(&volume_, options);
    ASSERT_OK(f.status()) << "FUSE is available here but the mount failed";
    fuse_ = *std::move(f);
  }

  io::MemDevice dev_{kSize};
  BlockDeviceVolumeIo volume_{&dev_, {.discard_zeroes = true}};
  std::unique_ptr<testing::TempDir> dir_;
  std::string mnt_;
  std::unique_ptr<FuseExport> fuse_;
};

TEST_F(MountedTest, DirectoryHoldsExactlyOneFileOfTheVolumeSize) {
  Mount({.file_name = "disk0"});
  std::vector<std::string> names;
  DIR* d = opendir(mnt_.c_str());
  ASSERT_NE(d, nullptr) << std::strerror(errno);
  while (dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  EXPECT_THAT(names, ElementsAre(".", "..", "disk0"));
  struct stat st;
  ASSERT_EQ(stat(fuse_->file_path().c_str(), &st), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, static_cast<off_t>(kSize));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(stat((mnt_ + "/other").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(open((mnt_ + "/new").c_str(), O_CREAT | O_RDWR, 0600), 0);
  struct statvfs vfs;
  ASSERT_EQ(statvfs(mnt_.c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_blocks * vfs.f_frsize, kSize);
}

TEST_F(MountedTest, SizeIsFixed) {
  Mount();
  const char* path = fuse_->file_path().c_str();
  EXPECT_EQ(truncate(path, 4096), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(truncate(path, kSize), 0) << std::strerror(errno);  // no-op
  EXPECT_EQ(open(path, O_RDWR | O_TRUNC), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(chmod(path, 0644), -1);
  Fd fd(open(path, O_RDWR));
  ASSERT_GE(fd.get(), 0) << std::strerror(errno);
  char buf[100] = {1};
  // Straddling the end: short write; at the end: ENOSPC; reads stop there.
  EXPECT_EQ(pwrite(fd.get(), buf, 100, kSize - 10), 10);
  EXPECT_EQ(pwrite(fd.get(), buf, 100, kSize), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(pread(fd.get(), buf, 100, kSize - 10), 10);
  EXPECT_EQ(pread(fd.get(), buf, 100, kSize), 0);
}

TEST_F(MountedTest, UnalignedReadsAndWritesMatchModel) {
  for (bool direct_io : {true, false}) {
    SCOPED_TRACE(absl::StrCat("direct_io=", direct_io));
    Mount({.direct_io = direct_io});
    const uint64_t seed = direct_io ? 7 : 8;
    SCOPED_TRACE(absl::StrCat("seed=", seed));
    Random rng(seed);
    std::string model = dev_.contents();
    Fd fd(open(fuse_->file_path().c_str(), O_RDWR));
    ASSERT_GE(fd.get(), 0) << std::strerror(errno);
    std::string buf;
    for (int i = 0; i < 300; ++i) {
      const uint64_t offset = rng.Uniform(kSize);
      const uint64_t len = 1 + rng.Uniform(std::min<uint64_t>(kSize - offset, 300000));
      if (rng.OneIn(2)) {
        buf.assign(len, '\0');
        rng.Fill(absl::MakeSpan(buf));
        ASSERT_EQ(pwrite(fd.get(), buf.data(), len, offset),
                  static_cast<ssize_t>(len)) << std::strerror(errno);
        model.replace(offset, len, buf);
      } else {
        buf.assign(len, '\0');
        ASSERT_EQ(pread(fd.get(), buf.data(), len, offset),
                  static_cast<ssize_t>(len)) << std::strerror(errno);
        ASSERT_EQ(buf, model.substr(offset, len)) << "offset=" << offset;
      }
    }
    ASSERT_EQ(fsync(fd.get()), 0);
    fd.reset();
    EXPECT_EQ(dev_.contents(), model);
    ASSERT_OK(fuse_->Stop());
    fuse_.reset();
  }
}

TEST_F(MountedTest, PunchHoleAndZeroRangeReadAsZeros) {
  Mount();
  Fd fd(open(fuse_->file_path().c_str(), O_RDWR));
  ASSERT_GE(fd.get(), 0);
  std::string ones(64 * 1024, '\x11');
  ASSERT_EQ(pwrite(fd.get(), ones.data(), ones.size(), 0),
            static_cast<ssize_t>(ones.size()));
  ASSERT_EQ(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      100, 10000), 0) << std::strerror(errno);
  ASSERT_EQ(fallocate(fd.get(), FALLOC_FL_ZERO_RANGE, 40000, 8192), 0)
      << std::strerror(errno);
  std::string expect = ones;
  expect.replace(100, 10000, std::string(10000, '\0'));
  expect.replace(40000, 8192, std::string(8192, '\0'));
  EXPECT_EQ(dev_.contents().substr(0, ones.size()), expect);
  // Allocation inside the file is a no-op; growing it is impossible.
  EXPECT_EQ(fallocate(fd.get(), 0, 0, 4096), 0);
  EXPECT_EQ(fallocate(fd.get(), 0, kSize - 4096, 8192), -1);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(fallocate(fd.get(), FALLOC_FL_COLLAPSE_RANGE, 0, 4096), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(fuse_->stats().zeroes, 2u);
}

TEST_F(MountedTest, DiscardCanBeDisabled) {
  Mount({.enable_discard = false});
  Fd fd(open(fuse_->file_path().c_str(), O_RDWR));
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                      4096), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
}

TEST_F(MountedTest, ReadOnlyExportRefusesWrites) {
  Mount({.read_only = true});
  EXPECT_EQ(open(fuse_->file_path().c_str(), O_RDWR), -1);
  EXPECT_EQ(errno, EROFS);
  Fd fd(open(fuse_->file_path().c_str(), O_RDONLY));
  EXPECT_GE(fd.get(), 0) << std::strerror(errno);
}

// Durability mapping: fsync on the file reaches VolumeIo::Flush, O_DSYNC
// writes are FUA writes, close of a writable handle flushes.
TEST_F(MountedTest, FsyncAndODirectReachTheVolume) {
  Mount();
  Fd fd(open(fuse_->file_path().c_str(), O_RDWR | O_DIRECT));
  ASSERT_GE(fd.get(), 0) << "O_DIRECT open: " << std::strerror(errno);
  io::AlignedBuffer buf(64 * 1024);
  std::memset(buf.data(), 0x7e, buf.size());
  const uint64_t flushes_before = volume_.stats().flushes;
  ASSERT_EQ(pwrite(fd.get(), buf.data(), buf.size(), 1 << 20),
            static_cast<ssize_t>(buf.size())) << std::strerror(errno);
  // Written through to the volume before the write returned (no cache) ...
  EXPECT_EQ(dev_.contents().substr(1 << 20, buf.size()), std::string(buf.view()));
  // ... but only durable after fsync.
  EXPECT_EQ(volume_.stats().flushes, flushes_before);
  ASSERT_EQ(fsync(fd.get()), 0) << std::strerror(errno);
  EXPECT_EQ(volume_.stats().flushes, flushes_before + 1);
  ASSERT_EQ(fdatasync(fd.get()), 0);
  EXPECT_EQ(volume_.stats().flushes, flushes_before + 2);
  EXPECT_EQ(fuse_->stats().fsyncs, 2u);

  Fd dsync(open(fuse_->file_path().c_str(), O_RDWR | O_DIRECT | O_DSYNC));
  ASSERT_GE(dsync.get(), 0);
  const uint64_t fua_before = volume_.stats().fua_writes;
  ASSERT_EQ(pwrite(dsync.get(), buf.data(), 4096, 0), 4096);
  EXPECT_GT(volume_.stats().fua_writes, fua_before);

  const uint64_t before_close = volume_.stats().flushes;
  fd.reset();
  EXPECT_GT(volume_.stats().flushes, before_close) << "close did not flush";
}

TEST_F(MountedTest, StopRefusesWhileOpenUnlessForced) {
  FuseExportOptions options;
  options.stop_timeout = absl::Milliseconds(200);
  Mount(options);
  Fd fd(open(fuse_->file_path().c_str(), O_RDWR));
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(fuse_->open_handles(), 1);
  EXPECT_THAT(fuse_->Stop(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                      HasSubstr("still open")));
  // Still served.
  char c;
  EXPECT_EQ(pread(fd.get(), &c, 1, 0), 1);
  ASSERT_OK(fuse_->Stop(/*force=*/true));
  // The connection was aborted: the open handle now fails.
  EXPECT_EQ(pread(fd.get(), &c, 1, 0), -1);
  EXPECT_THAT(fuse_->Stop(), IsOk());  // idempotent
  fd.reset();
  // Unmounted: the directory is empty again and can be mounted again.
  struct stat st;
  EXPECT_NE(stat((mnt_ + "/volume").c_str(), &st), 0);
  fuse_.reset();
  Mount();
  EXPECT_EQ(stat((mnt_ + "/volume").c_str(), &st), 0);
}

TEST_F(MountedTest, DestructorUnmounts) {
  Mount();
  fuse_.reset();
  struct stat st;
  EXPECT_NE(stat((mnt_ + "/volume").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

}  // namespace
}  // namespace hafs::frontend
