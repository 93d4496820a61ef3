// File: libhafs/resources/filesystem_agent.h
// -----------------------------------------------------------------------------
// Filesystem agent: fsck + mount(2) of the replicated volume's file system,
// monitor via /proc/self/mountinfo, umount(2) with busy handling (what
// Heartbeat's / Pacemaker's Filesystem agent does, without shelling out to
// mount/umount/fuser).
//
// Parameters (ResourceSpec::params):
//   device         block device or image path (required; symlinks resolved)
//   mount_point    absolute directory (required; created with mode 0755 if
//                  missing)
//   fstype         e.g. ext4 (default), ext3, ext2, xfs, or anything mount(2)
//                  knows
//   options        comma list; the generic flags ro, rw, nosuid, suid, nodev,
//                  dev, noexec, exec, sync, async, dirsync, noatime, atime,
//                  nodiratime, diratime, relatime, norelatime, strictatime,
//                  lazytime, nolazytime, defaults become MS_* flags, the rest
//                  is passed to the file system as data (e.g. errors=remount-ro)
//   fsck           "auto" (default: ext2/3/4 and xfs), "yes" or "no"
//   fsck_command   override the checker's absolute path (default
//                  /sbin/fsck.<fstype>, /sbin/xfs_repair for xfs)
//   kill_holders   on EBUSY, signal the processes holding the mount
//                  (default false)
//   kill_timeout_ms  SIGTERM -> SIGKILL delay (default 5000)
//   lazy_umount    last resort: MNT_DETACH when still busy (default false)
//
// Start: (1) already mounted from this device -> ok (idempotent); something
//   else mounted there -> kFailed. (2) fsck through the ProcessRunner port:
//   ext*: `fsck.<type> -p DEVICE`, exit 0 clean / 1 errors corrected -> go on,
//   2 "system should be rebooted" -> kFailed, >=4 (uncorrected, operational,
//   usage, cancelled, library) -> kFailed with the checker's output; xfs:
//   `xfs_repair -n DEVICE` (check only; XFS replays its log at mount) exit 0
//   -> go on, 1 "corruption found" -> kFailed with output, other -> kFailed.
//   A checker that is not installed (exit 127 / kNotFound) is kFatal.
//   (3) mkdir -p the mount point, mount(2). ENODEV (fs type unknown) and
//   ENOENT/ENOTBLK (no device) are kFatal, others kFailed with errno text.
// Monitor: kOk iff mountinfo has the mount point mounted from the device
//   (same major:minor for block devices, else same source path); kNotRunning
//   if not mounted; kFailed if mounted from something else, or read-only when
//   "ro" was not requested (ext4 errors=remount-ro), or the mount point cannot
//   be stat'ed (hung I/O shows up as the timeout of the caller).
// Stop: umount(2) (not mounted -> ok). On EBUSY: with kill_holders, find the
//   processes whose cwd, root, exe, open fds or mapped files are on the
//   mount's device (/proc/*/{cwd,root,exe,fd/*,maps}; this process is never
//   killed), send SIGTERM, retry umount every 100 ms, SIGKILL the survivors
//   after kill_timeout_ms, retry until the stop timeout; then, with
//   lazy_umount, MNT_DETACH (ok, with a warning in the message); otherwise
//   kStopFailed naming the holders.
//
// Thread-safety: one operation at a time (Agent contract).
//
// Example:
//   FilesystemAgent fs(spec, ProcessRunner::System(), Clock::System());
//   if (fs.Start(absl::Seconds(60)).code == AgentOutcome::kOk) ...
#ifndef HAFS_LIBHAFS_RESOURCES_FILESYSTEM_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_FILESYSTEM_AGENT_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libhafs/base/clock.h"
#include "libhafs/resources/agent.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {

// One line of /proc/self/mountinfo (escapes \040 etc. decoded).
struct MountInfo {
  unsigned major = 0, minor = 0;
  std::string root;         // root of the mount within the fs
  std::string mount_point;
  std::string options;      // per-mount options, e.g. "rw,relatime"
  std::string fstype;
  std::string source;
  std::string super_options;
};
// Parses mountinfo text; malformed lines are skipped.
std::vector<MountInfo> ParseMountInfo(const std::string& text);

// Processes (pid != self) that use files on device `dev` (cwd, root, exe,
// fds, mappings). Reads /proc; unreadable entries are skipped.
std::vector<pid_t> FindHolders(dev_t dev);

class FilesystemAgent final : public Agent {
 public:
  // REQUIRES: Validate(spec).ok().
  FilesystemAgent(ResourceSpec spec, ProcessRunner* runner, Clock* clock);
  static absl::Status Validate(const ResourceSpec& spec);

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;

 private:
  struct Mounted {
    bool here = false;        // something is mounted on mount_point
    bool ours = false;        // ...from our device
    MountInfo info;
  };
  absl::StatusOr<Mounted> FindMount();
  AgentOutcome Fsck(absl::Duration timeout);

  ResourceSpec spec_;
  ProcessRunner* runner_;
  Clock* clock_;
  std::string device_, mount_point_, fstype_, options_, fsck_mode_, fsck_command_;
  bool kill_holders_ = false, lazy_umount_ = false;
  absl::Duration kill_timeout_ = absl::Seconds(5);
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_FILESYSTEM_AGENT_H_
