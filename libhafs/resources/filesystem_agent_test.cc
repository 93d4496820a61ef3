#include "libhafs/resources/filesystem_agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

ResourceSpec FsSpec(const std::string& dev, const std::string& mp) {
  ResourceSpec s;
  s.name = "fs";
  s.kind = AgentKind::kFilesystem;
  s.params = {{"device", dev}, {"mount_point", mp}};
  return s;
}

std::string TempDir() {
  char tmpl[] = "/tmp/hafs-fs-test.XXXXXX";
  char* d = ::mkdtemp(tmpl);
  return d ? d : "";
}

TEST(MountInfoTest, ParsesOptionalFieldsAndEscapes) {
  std::string text =
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
      "43 27 7:0 / /tmp/with\\040space rw,relatime shared:5 master:2 - ext4 /dev/loop0 rw\n"
      "garbage line\n"
      "50 22 0:45 / /proc rw - proc proc rw\n";
  std::vector<MountInfo> m = ParseMountInfo(text);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].mount_point, "/");
  EXPECT_EQ(m[0].super_options, "rw,errors=remount-ro");
  EXPECT_EQ(m[1].mount_point, "/tmp/with space");
  EXPECT_EQ(m[1].major, 7u);
  EXPECT_EQ(m[1].minor, 0u);
  EXPECT_EQ(m[1].fstype, "ext4");
  EXPECT_EQ(m[1].source, "/dev/loop0");
  EXPECT_EQ(m[2].fstype, "proc");
}

TEST(FilesystemValidateTest, PreciseErrors) {
  EXPECT_OK(FilesystemAgent::Validate(FsSpec("/dev/hafs0", "/srv/nfs")));
  EXPECT_THAT(FilesystemAgent::Validate(FsSpec("", "/srv/nfs")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device is required")));
  EXPECT_THAT(FilesystemAgent::Validate(FsSpec("hafs0", "/srv/nfs")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute path")));
  EXPECT_THAT(FilesystemAgent::Validate(FsSpec("/dev/hafs0", "/")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other than /")));
  ResourceSpec s = FsSpec("/dev/hafs0", "/srv/nfs");
  s.params["fsck"] = "maybe";
  EXPECT_THAT(FilesystemAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auto, yes or no")));
  s = FsSpec("/dev/hafs0", "/srv/nfs");
  s.params["kill_holder"] = "true";
  EXPECT_THAT(FilesystemAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown parameter 'kill_holder'")));
  s = FsSpec("/dev/hafs0", "/srv/nfs");
  s.params["kill_holders"] = "sometimes";
  EXPECT_THAT(FilesystemAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a boolean")));
}

// fsck exit codes through the fake runner. The "device" is a regular file
// (exists, not mountable); fsck failures stop before mount.
class FsckMappingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    ASSERT_FALSE(dir_.empty());
    dev_ = dir_ + "/img";
    std::ofstream(dev_) << "x";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  AgentOutcome StartWith(ProcessResult r, const std::string& fstype = "ext4") {
    runner_.Push(r);
    ResourceSpec s = FsSpec(dev_, dir_ + "/mnt");
    s.params["fstype"] = fstype;
    FilesystemAgent a(s, &runner_, Clock::System());
    return a.Start(absl::Seconds(5));
  }
  std::string dir_, dev_;
  FakeProcessRunner runner_;
};

TEST_F(FsckMappingTest, ExitCodes) {
  auto exit_with = [](int c, std::string out = "") {
    ProcessResult r;
    r.exit_code = c;
    r.output = std::move(out);
    return r;
  };
  AgentOutcome o = StartWith(exit_with(2));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("should be rebooted"));
  o = StartWith(exit_with(4, "line1\n/dev/x: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n"));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("errors left uncorrected"));
  EXPECT_THAT(o.message, HasSubstr("RUN fsck MANUALLY"));
  o = StartWith(exit_with(8));
  EXPECT_THAT(o.message, HasSubstr("operational error"));
  o = StartWith(exit_with(127));
  EXPECT_EQ(o.code, AgentOutcome::kFatal);
  ProcessResult to;
  to.timed_out = true;
  o = StartWith(to);
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("timed out"));
  // 0 and 1 go on to mount(2), which refuses a regular file (or, unprivileged,
  // with EPERM): the failure is then the mount's, not fsck's.
  for (int c : {0, 1}) {
    o = StartWith(exit_with(c));
    EXPECT_THAT(o.message, HasSubstr("mount(ext4")) << c;
  }
  // xfs: check only; 1 = corruption found.
  o = StartWith(exit_with(1, "would fix this"), "xfs");
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("corruption found"));
  std::vector<ProcessSpec> calls = runner_.calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{"/sbin/fsck.ext4", "-p", dev_}));
  EXPECT_EQ(calls.back().argv, (std::vector<std::string>{"/sbin/xfs_repair", "-n", dev_}));
}

// ---- a real ext4 on a loop device (root) ----

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

class LoopFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop device, mount)";
    ::setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);  // Bazel's PATH lacks sbin
    if (Sh("command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null") != 0) {
      GTEST_SKIP() << "losetup / mkfs.ext4 not installed (test fixture only)";
    }
    dir_ = TempDir();
    ASSERT_FALSE(dir_.empty());
    mp_ = dir_ + "/mnt/data";
    std::string img = dir_ + "/img";
    ASSERT_EQ(Sh("truncate -s 32M " + img), 0);
    ASSERT_EQ(Sh("mkfs.ext4 -q -F " + img + " >/dev/null 2>&1"), 0);
    FILE* p = ::popen(("losetup -f --show " + img).c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[64] = {};
    if (std::fgets(buf, sizeof(buf), p) != nullptr) loop_ = buf;
    ::pclose(p);
    while (!loop_.empty() && loop_.back() == '\n') loop_.pop_back();
    ASSERT_FALSE(loop_.empty()) << "losetup failed";
  }
  void TearDown() override {
    for (pid_t c : children_) {
      ::kill(c, SIGKILL);
      ::waitpid(c, nullptr, 0);
    }
    if (!mp_.empty()) ::umount2(mp_.c_str(), MNT_DETACH);
    if (!loop_.empty()) Sh("losetup -d " + loop_);
    if (!dir_.empty()) Sh("rm -rf " + dir_);
  }
  // A child that opens `file` (or just sits in `dir` as its cwd) and waits.
  pid_t Holder(const std::string& file, bool ignore_term) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      if (ignore_term) ::signal(SIGTERM, SIG_IGN);
      int fd = ::open(file.c_str(), O_RDONLY);
      if (fd < 0 && ::chdir(file.c_str()) != 0) ::_exit(3);
      char c = 'x';
      if (::write(fds[1], &c, 1) != 1) ::_exit(4);
      for (;;) ::pause();
    }
    ::close(fds[1]);
    char c;
    EXPECT_EQ(::read(fds[0], &c, 1), 1) << "holder did not start";
    ::close(fds[0]);
    children_.push_back(pid);
    return pid;
  }
  int Reap(pid_t pid) {
    int st = 0;
    EXPECT_EQ(::waitpid(pid, &st, 0), pid);
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
    return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
  }
  ResourceSpec Spec() {
    ResourceSpec s = FsSpec(loop_, mp_);
    s.params["options"] = "noatime,errors=remount-ro";
    return s;
  }

  std::string dir_, mp_, loop_;
  std::vector<pid_t> children_;
};

TEST_F(LoopFsTest, FsckMountMonitorKillHoldersUnmount) {
  ResourceSpec s = Spec();
  s.params["kill_holders"] = "true";
  s.params["kill_timeout_ms"] = "500";
  FilesystemAgent fs(s, ProcessRunner::System(), Clock::System());
  EXPECT_EQ(fs.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
  AgentOutcome o = fs.Start(absl::Seconds(30));
  ASSERT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_THAT(o.message, HasSubstr("fsck: clean"));
  AgentOutcome m = fs.Monitor(absl::Seconds(5));
  EXPECT_EQ(m.code, AgentOutcome::kOk) << m.message;
  AgentOutcome again = fs.Start(absl::Seconds(30));
  EXPECT_EQ(again.code, AgentOutcome::kOk);
  EXPECT_THAT(again.message, HasSubstr("already mounted"));

  std::ofstream(mp_ + "/held.txt") << "data";
  pid_t polite = Holder(mp_ + "/held.txt", /*ignore_term=*/false);
  pid_t stubborn = Holder(mp_, /*ignore_term=*/true);  // cwd on the mount
  struct stat mst;
  ASSERT_EQ(::stat(mp_.c_str(), &mst), 0);
  std::vector<pid_t> h = FindHolders(mst.st_dev);
  EXPECT_THAT(h, ::testing::IsSupersetOf({polite, stubborn}));

  AgentOutcome st = fs.Stop(absl::Seconds(20));
  ASSERT_EQ(st.code, AgentOutcome::kOk) << st.message;
  EXPECT_THAT(st.message, HasSubstr("SIGKILL needed"));
  EXPECT_EQ(Reap(polite), SIGTERM);
  EXPECT_EQ(Reap(stubborn), SIGKILL);
  EXPECT_EQ(fs.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
  EXPECT_EQ(fs.Stop(absl::Seconds(5)).code, AgentOutcome::kOk);
}

TEST_F(LoopFsTest, BusyWithoutKillHoldersFailsNamingTheHolderThenLazyDetaches) {
  {
    FilesystemAgent fs(Spec(), ProcessRunner::System(), Clock::System());
    ASSERT_EQ(fs.Start(absl::Seconds(30)).code, AgentOutcome::kOk);
    pid_t holder = Holder(mp_, false);
    AgentOutcome st = fs.Stop(absl::Seconds(2));
    EXPECT_EQ(st.code, AgentOutcome::kStopFailed);
    EXPECT_THAT(st.message, HasSubstr(absl::StrCat("held by pids ", holder)));
    EXPECT_THAT(st.message, HasSubstr("kill_holders=true"));
    EXPECT_EQ(fs.Monitor(absl::Seconds(5)).code, AgentOutcome::kOk);
  }
  ResourceSpec s = Spec();
  s.params["lazy_umount"] = "true";
  FilesystemAgent lazy(s, ProcessRunner::System(), Clock::System());
  AgentOutcome st = lazy.Stop(absl::Seconds(1));
  EXPECT_EQ(st.code, AgentOutcome::kOk) << st.message;
  EXPECT_THAT(st.message, HasSubstr("MNT_DETACH"));
  EXPECT_EQ(lazy.Monitor(absl::Seconds(5)).code, AgentOutcome::kNotRunning);
}

TEST_F(LoopFsTest, SomethingElseMountedThereIsRefused) {
  ASSERT_EQ(Sh("mkdir -p " + mp_), 0);
  ASSERT_EQ(::mount("tmpfs", mp_.c_str(), "tmpfs", 0, nullptr), 0);
  FilesystemAgent fs(Spec(), ProcessRunner::System(), Clock::System());
  AgentOutcome o = fs.Start(absl::Seconds(10));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("tmpfs"));
  EXPECT_EQ(fs.Monitor(absl::Seconds(5)).code, AgentOutcome::kFailed);
  ::umount2(mp_.c_str(), 0);
}

}  // namespace
}  // namespace hafs::resources
