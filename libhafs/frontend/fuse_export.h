// File: libhafs/frontend/fuse_export.h
// -----------------------------------------------------------------------------
// FuseExport: exposes a VolumeIo as ONE regular file in a FUSE filesystem
// (libfuse3 low-level API, multithreaded loop), so that a loop device
// (loop_device.h) can turn it into a block device for ext4/xfs. This works on
// any kernel with FUSE and loop, including VMs without nbd/ublk modules.
//
//   <mountpoint>/            directory, mode 0755, nothing else in it
//   <mountpoint>/volume      regular file, size = volume size (fixed)
//
// Mapping (details and rationale in docs/frontend.md):
//   read / write     ByteRangeIo (any offset and length; partial blocks are
//                    read-modify-written under a per-block lock). A write on a
//                    file opened O_SYNC/O_DSYNC is a FUA write. Writes past
//                    the end are short (nothing fits: ENOSPC).
//   fsync/fdatasync  VolumeIo::Flush()  (this is what makes loop's flushes,
//                    i.e. ext4 journal commits, durable)
//   flush (close)    VolumeIo::Flush() when the handle was opened for writing
//                    and options.flush_on_close (default)
//   fallocate        PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE -> ByteRangeIo::Zero
//                    (VolumeIo::WriteZeroes) when options.enable_discard;
//                    mode 0 / KEEP_SIZE inside the file: no-op (preallocated);
//                    anything else EOPNOTSUPP.
//   truncate/O_TRUNC EPERM (the size is fixed); chmod/chown EPERM.
// With options.direct_io (default) every open gets FOPEN_DIRECT_IO: the FUSE
// page cache is bypassed, so a loop device on top does not cache twice and
// its O_DIRECT opens work.
//
// Lifetime: Start() mounts and serves on background threads (returns once the
// file is reachable). Stop() unmounts; it refuses (kFailedPrecondition) while
// the file is still open, e.g. by an attached loop device, unless force, which
// aborts the FUSE connection first (pending and later I/O on the file fail).
// The destructor does Stop(force = true). If the process dies, the kernel
// aborts the connection; the mountpoint then reports ENOTCONN until the
// operator runs `umount -l <mountpoint>` (see docs/frontend.md).
//
// Needs root (or fusermount3 for an unprivileged mount; then Stop(force) can
// only detach lazily).
//
// Thread-safety: Stop() and the accessors may be called from any thread; the
// VolumeIo is called from the FUSE worker threads concurrently.
//
// Example:
//   io::MemDevice dev(64 << 20);
//   BlockDeviceVolumeIo volume(&dev, {.discard_zeroes = true});
//   HAFS_ASSIGN_OR_RETURN(std::unique_ptr<FuseExport> fuse,
//                         FuseExport::Start(&volume, {.mountpoint = "/run/hafs/vol0"}));
//   // /run/hafs/vol0/volume is now a 64 MiB file; attach a LoopDevice to it.
//   HAFS_RETURN_IF_ERROR(fuse->Stop());
#ifndef HAFS_LIBHAFS_FRONTEND_FUSE_EXPORT_H_
#define HAFS_LIBHAFS_FRONTEND_FUSE_EXPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libhafs/frontend/byte_range_io.h"
#include "libhafs/frontend/volume_io.h"

struct fuse_session;

namespace hafs::frontend {

struct FuseExportOptions {
  // An existing, empty directory. Required.
  std::string mountpoint;
  // Name of the single file; no '/', not "." or "..".
  std::string file_name = "volume";
  // FOPEN_DIRECT_IO on every open (no FUSE page cache; see above).
  bool direct_io = true;
  // Reject writes, fallocate and opens for writing with EROFS.
  bool read_only = false;
  // fallocate PUNCH_HOLE / ZERO_RANGE -> VolumeIo::WriteZeroes. Off: those
  // fail with EOPNOTSUPP (the kernel then stops sending them).
  bool enable_discard = true;
  // close() of a handle opened for writing calls VolumeIo::Flush().
  bool flush_on_close = true;
  // Mount option allow_other: users other than the mounting one may access
  // the mount (needs user_allow_other in /etc/fuse.conf for non-root).
  bool allow_other = false;
  // File mode bits of the volume file.
  uint32_t file_mode = 0600;
  // FUSE worker threads kept idle (libfuse max_idle_threads).
  int max_idle_threads = 8;
  // Largest read/write request the kernel sends (bytes, <= 1 MiB).
  uint32_t max_io_bytes = 1 << 20;
  // How long Stop() waits for open handles to be released (the loop driver
  // releases its file asynchronously after detach) and for the loop to end.
  absl::Duration stop_timeout = absl::Seconds(5);
  // Shown as the mount source in /proc/mounts ("hafs" -> "hafs on /mnt type
  // fuse.hafs").
  std::string fsname = "hafs";
};

class FuseExport {
 public:
  struct Stats {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t fua_writes = 0;
    uint64_t fsyncs = 0;
    uint64_t close_flushes = 0;
    uint64_t zeroes = 0;
    uint64_t errors = 0;  // requests answered with an errno
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
  };

  // Mounts and starts serving. `volume` is not owned and must outlive the
  // FuseExport. Errors: kInvalidArgument (options), kNotFound (mountpoint
  // missing), kFailedPrecondition (not a directory, /dev/fuse missing),
  // kInternal (libfuse refused; its message went to stderr).
  static absl::StatusOr<std::unique_ptr<FuseExport>> Start(
      VolumeIo* volume, FuseExportOptions options);

  ~FuseExport();
  FuseExport(const FuseExport&) = delete;
  FuseExport& operator=(const FuseExport&) = delete;

  // Unmounts and stops the worker threads. Idempotent (later calls return
  // OK). See the header comment for `force`.
  absl::Status Stop(bool force = false);

  // <mountpoint>/<file_name>.
  const std::string& file_path() const { return file_path_; }
  const std::string& mountpoint() const { return options_.mountpoint; }
  // Open handles on the file right now.
  int open_handles() const { return open_handles_.load(); }
  Stats stats() const;

 private:
  class Ops;  // the libfuse callbacks
  friend class Ops;

  FuseExport(VolumeIo* volume, FuseExportOptions options);
  absl::Status Mount();
  void Count(uint64_t Stats::*field, uint64_t n = 1);

  VolumeIo* const volume_;
  const FuseExportOptions options_;
  const std::string file_path_;
  ByteRangeIo bytes_;
  const int64_t start_time_ns_;
  std::atomic<int64_t> mtime_ns_;

  fuse_session* session_ = nullptr;
  std::thread loop_thread_;
  absl::Notification loop_done_;
  int loop_result_ = 0;  // written before loop_done_ is notified
  // The kernel's FUSE connection number (/sys/fs/fuse/connections/<id>).
  uint64_t connection_id_ = 0;
  std::atomic<int> open_handles_{0};

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;

  mutable absl::Mutex stats_mu_;
  Stats stats_ ABSL_GUARDED_BY(stats_mu_);
};

// errno for a VolumeIo error (EIO for kDataLoss, ENOSPC for
// kResourceExhausted, EROFS for kFailedPrecondition, ...).
int StatusToErrno(const absl::Status& status);

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_FUSE_EXPORT_H_
