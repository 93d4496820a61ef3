// End to end: MemDevice-backed volume -> FuseExport -> LoopDevice -> ext4.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/frontend/fuse_export.h"
#include "libhafs/frontend/loop_device.h"
#include "libhafs/frontend/test_util.h"
#include "libhafs/frontend/volume_io.h"
#include "libhafs/io/mem_device.h"

namespace hafs::frontend {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)),
                     std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& data) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()))
      << path << ": " << std::strerror(errno);
  ASSERT_EQ(fsync(fd), 0) << std::strerror(errno);
  ASSERT_EQ(close(fd), 0);
}

TEST(FrontendE2ETest, Ext4OnLoopOnFuseOnMemDevice) {
  const std::string why = testing::FuseLoopUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string mkfs = testing::FindTool("mkfs.ext4");
  const std::string fsck = testing::FindTool("fsck.ext4");
  if (mkfs.empty() || fsck.empty()) {
    GTEST_SKIP() << "mkfs.ext4/fsck.ext4 missing (apt install e2fsprogs)";
  }
  testing::CleanStaleTestMounts();

  constexpr uint64_t kSize = 64 << 20;
  const uint64_t seed = 20240601;
  SCOPED_TRACE(absl::StrCat("seed=", seed));
  io::MemDevice dev(kSize);
  BlockDeviceVolumeIo volume(&dev, {.discard_zeroes = true});

  // Destroyed in reverse order on any failure: ext4 unmount, loop detach,
  // FUSE unmount, directories.
  testing::TempDir dir;
  const std::string fuse_mnt = dir.Subdir("fuse");
  const std::string ext4_mnt = dir.Subdir("ext4");
  absl::StatusOr<std::unique_ptr<FuseExport>> fuse = FuseExport::Start(
      &volume, {.mountpoint = fuse_mnt, .fsname = "hafs-test"});
  ASSERT_OK(fuse.status()) << "root with /dev/fuse, but the FUSE mount failed";
  absl::StatusOr<std::unique_ptr<LoopDevice>> loop =
      LoopDevice::Attach({.backing_file = (*fuse)->file_path()});
  ASSERT_OK(loop.status());
  const std::string dev_path = (*loop)->path();
  // FUSE with FOPEN_DIRECT_IO supports O_DIRECT, so the loop driver can
  // bypass the (here: nonexistent) page cache of the backing file.
  EXPECT_TRUE((*loop)->direct_io());
  std::cerr << "loop device " << dev_path << " direct_io="
            << (*loop)->direct_io() << "\n";

  testing::CommandResult r = testing::RunCommand({mkfs, "-q", "-F", dev_path});
  ASSERT_EQ(r.exit_code, 0) << "mkfs.ext4 failed:\n" << r.output;

  Random rng(seed);
  std::vector<std::pair<std::string, std::string>> files;
  {
    ASSERT_EQ(mount(dev_path.c_str(), ext4_mnt.c_str(), "ext4", 0, ""), 0)
        << "mount " << dev_path << ": " << std::strerror(errno);
    testing::MountGuard ext4_guard(ext4_mnt);
    ASSERT_EQ(mkdir((ext4_mnt + "/dir").c_str(), 0755), 0);
    for (int i = 0; i < 12; ++i) {
      std::string data(1 + rng.Uniform(2 << 20), '\0');
      rng.Fill(absl::MakeSpan(data));
      const std::string name = absl::StrCat(i % 2 ? "dir/" : "", "file", i);
      WriteFile(ext4_mnt + "/" + name, data);
      files.emplace_back(name, std::move(data));
    }
    ASSERT_EQ(unlink((ext4_mnt + "/file0").c_str()), 0);  // frees blocks
    files.erase(files.begin());
    sync();
    ASSERT_EQ(ext4_guard.Unmount(), 0) << "umount ext4";
  }
  r = testing::RunCommand({fsck, "-n", "-f", dev_path});
  ASSERT_EQ(r.exit_code, 0) << "fsck.ext4 -n -f found problems:\n" << r.output;

  // Remount read-only and read everything back.
  {
    ASSERT_EQ(mount(dev_path.c_str(), ext4_mnt.c_str(), "ext4", MS_RDONLY, ""), 0)
        << std::strerror(errno);
    testing::MountGuard ext4_guard(ext4_mnt);
    for (const auto& [name, data] : files) {
      ASSERT_EQ(ReadFile(ext4_mnt + "/" + name), data) << name;
    }
    ASSERT_EQ(ext4_guard.Unmount(), 0);
  }

  ASSERT_OK((*loop)->Close());
  ASSERT_OK((*fuse)->Stop()) << "unmount after the loop device is gone";

  // ext4's journal commits arrive as flushes; mkfs's discard as zeroing.
  const BlockDeviceVolumeIo::Stats st = volume.stats();
  EXPECT_GT(st.flushes, 0u);
  EXPECT_GT(st.zeroes, 0u);
  uint64_t file_bytes = 0;
  for (const auto& f : files) file_bytes += f.second.size();
  EXPECT_GE(st.bytes_written, file_bytes);
  // The data really is in the volume (ext4 places file data block-aligned).
  for (const auto& [name, data] : files) {
    if (data.size() < io::kBlockSize) continue;
    EXPECT_NE(dev.contents().find(data.substr(0, io::kBlockSize)),
              std::string::npos) << name << " not found in the volume";
  }
  std::cerr << "volume saw " << st.reads << " reads, " << st.writes
            << " writes (" << st.bytes_written << " bytes), " << st.flushes
            << " flushes, " << st.zeroes << " zeroings\n";

  // The ext4 superblock (offset 1024) has its magic 0xEF53 at offset 56.
  io::AlignedBuffer sb(io::kBlockSize);
  ASSERT_OK(volume.Read(0, sb.span()));
  EXPECT_EQ(static_cast<unsigned char>(sb.data()[1080]), 0x53);
  EXPECT_EQ(static_cast<unsigned char>(sb.data()[1081]), 0xEF);
}

}  // namespace
}  // namespace hafs::frontend
