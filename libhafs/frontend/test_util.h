// File: libhafs/frontend/test_util.h
// -----------------------------------------------------------------------------
// Test helpers for the FUSE/loop tests (testonly): environment checks with
// skip reasons, private temp dirs under /tmp (never under Bazel's TEST_TMPDIR,
// which Bazel must be able to delete even if a mount is left behind), running
// system tools, an RAII guard for kernel mounts, and cleanup of mounts left
// by crashed earlier runs.
//
// Thread-safety: functions are thread-compatible.
#ifndef HAFS_LIBHAFS_FRONTEND_TEST_UTIL_H_
#define HAFS_LIBHAFS_FRONTEND_TEST_UTIL_H_

#include <string>
#include <vector>

namespace hafs::frontend::testing {

// Empty if FUSE mounts can be tried here; otherwise why not (for GTEST_SKIP).
std::string FuseUnavailableReason();
// Same for FUSE + loop devices.
std::string FuseLoopUnavailableReason();

// Lazily unmounts everything under /tmp/hafs-frontend-test.* directories that
// contain a dead FUSE mount (server gone: ENOTCONN), i.e. left-overs of a
// crashed run. Live mounts of concurrently running tests are left alone.
void CleanStaleTestMounts();

// A fresh directory /tmp/hafs-frontend-test.XXXXXX, removed (rmdir of its
// empty subdirectories and itself) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Creates <path>/<name> and returns it.
  std::string Subdir(const std::string& name);

 private:
  std::string path_;
  std::vector<std::string> subdirs_;
};

struct CommandResult {
  int exit_code = -1;  // -1: did not run or was killed
  std::string output;  // stdout and stderr
};

// Runs argv[0] (absolute path) with the given arguments, no shell.
CommandResult RunCommand(const std::vector<std::string>& argv);

// Absolute path of a system tool in /usr/sbin, /sbin, /usr/bin or /bin; empty
// if missing.
std::string FindTool(const std::string& name);

// Unmounts `target` (MNT_DETACH) on destruction unless Release()d or
// Unmount()ed.
class MountGuard {
 public:
  MountGuard() = default;
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  ~MountGuard();
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  // umount2(target, 0); returns errno or 0. The guard is then disarmed.
  int Unmount();

 private:
  std::string target_;
};

}  // namespace hafs::frontend::testing

#endif  // HAFS_LIBHAFS_FRONTEND_TEST_UTIL_H_
