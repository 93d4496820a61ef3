// File: libhafs/frontend/loop_device.h
// -----------------------------------------------------------------------------
// LoopDevice: attaches a file to a free /dev/loopN with ioctls (no losetup):
//
//   /dev/loop-control LOOP_CTL_GET_FREE -> N
//   /dev/loopN        LOOP_CONFIGURE {fd, block_size, flags}   (Linux >= 5.8)
//                     else LOOP_SET_FD + LOOP_SET_STATUS64 + LOOP_SET_BLOCK_SIZE
//                          + LOOP_SET_DIRECT_IO
//
// Options: direct I/O (LO_FLAGS_DIRECT_IO: the loop driver bypasses the page
// cache of the backing file; needs a backing filesystem with O_DIRECT, which
// FUSE has; if the kernel refuses it, the device is attached with buffered
// I/O and direct_io() says so), logical block size (4096 by default: every
// request to the backing file is then 4 KiB aligned), read-only, autoclear.
//
// Autoclear (default on): the kernel detaches the device by itself when the
// last opener closes it, so a crashed process leaves no stale loop device
// behind once the filesystem on it is unmounted. Close() issues LOOP_CLR_FD
// and closes the device; if the device is still open elsewhere (mounted), the
// kernel detaches it when that last user goes away ("lazy" detach).
//
// Errors: kFailedPrecondition with a hint when /dev/loop-control is missing
// (`modprobe loop`) or no device node exists, kPermissionDenied without
// CAP_SYS_ADMIN, kNotFound for a missing backing file, kResourceExhausted
// when no free loop device can be bound.
//
// Thread-safety: not thread-safe; one owner.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(std::unique_ptr<LoopDevice> loop,
//                         LoopDevice::Attach({.backing_file = fuse->file_path()}));
//   // mkfs/mount loop->path() ...
//   HAFS_RETURN_IF_ERROR(loop->Close());
#ifndef HAFS_LIBHAFS_FRONTEND_LOOP_DEVICE_H_
#define HAFS_LIBHAFS_FRONTEND_LOOP_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hafs::frontend {

struct LoopDeviceOptions {
  std::string backing_file;
  bool direct_io = true;
  bool read_only = false;
  // Logical block size of the loop device: 512, 1024, 2048 or 4096.
  uint32_t block_size = 4096;
  bool autoclear = true;
};

class LoopDevice {
 public:
  static absl::StatusOr<std::unique_ptr<LoopDevice>> Attach(
      const LoopDeviceOptions& options);

  // Close() (errors are logged).
  ~LoopDevice();
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  // Detaches (LOOP_CLR_FD) and closes the device. Idempotent: later calls
  // return OK. An already detached device is not an error.
  absl::Status Close();

  // "/dev/loopN".
  const std::string& path() const { return path_; }
  int number() const { return number_; }
  // Whether the kernel actually uses direct I/O on the backing file.
  bool direct_io() const { return direct_io_; }
  // Whether LOOP_CONFIGURE was used (false: the legacy ioctl sequence).
  bool configured_atomically() const { return configured_atomically_; }
  bool closed() const { return fd_ < 0; }

 private:
  LoopDevice(int fd, int number, bool direct_io, bool atomic);

  int fd_;
  const int number_;
  const std::string path_;
  const bool direct_io_;
  const bool configured_atomically_;
};

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_LOOP_DEVICE_H_
