#include "libhafs/frontend/loop_device.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/io/io_status.h"

namespace hafs::frontend {
namespace {

// Closes an fd on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::Status PermissionHint(int err, const std::string& what) {
  return absl::PermissionDeniedError(absl::StrCat(
      what, ": ", std::strerror(err),
      " (hint: loop devices need root or CAP_SYS_ADMIN)"));
}

void FillInfo(const LoopDeviceOptions& options, uint32_t flags,
              loop_info64* info) {
  std::memset(info, 0, sizeof(*info));
  info->lo_flags = flags;
  // Shown by `losetup -a`; the kernel truncates at LO_NAME_SIZE - 1.
  std::strncpy(reinterpret_cast<char*>(info->lo_file_name),
               options.backing_file.c_str(), LO_NAME_SIZE - 1);
}

}  // namespace

LoopDevice::LoopDevice(int fd, int number, bool direct_io, bool atomic)
    : fd_(fd),
      number_(number),
      path_(absl::StrCat("/dev/loop", number)),
      direct_io_(direct_io),
      configured_atomically_(atomic) {}

absl::StatusOr<std::unique_ptr<LoopDevice>> LoopDevice::Attach(
    const LoopDeviceOptions& options) {
  if (options.backing_file.empty()) {
    return absl::InvalidArgumentError("loop device: no backing file");
  }
  const uint32_t bs = options.block_size;
  if (bs != 512 && bs != 1024 && bs != 2048 && bs != 4096) {
    return absl::InvalidArgumentError(absl::StrCat(
        "loop device: block size ", bs, " is not one of 512, 1024, 2048, 4096"));
  }
  const int backing_flags =
      (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  FdCloser backing(open(options.backing_file.c_str(), backing_flags));
  if (backing.get() < 0) {
    const int err = errno;
    const std::string what =
        absl::StrCat("loop device: open backing file ", options.backing_file);
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(what, ": no such file"));
    }
    if (err == EISDIR) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": is a directory, not a regular file or block device"));
    }
    if (err == ENOTCONN) {
      return absl::UnavailableError(absl::StrCat(
          what, ": the FUSE server behind it is gone (hint: umount -l the "
                "mountpoint and restart the export)"));
    }
    return io::IoErrnoStatus(err, what);
  }
  struct stat st;
  if (fstat(backing.get(), &st) != 0 ||
      !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
    return absl::InvalidArgumentError(
        absl::StrCat("loop device: ", options.backing_file,
                     " is not a regular file or block device"));
  }

  FdCloser control(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      return absl::FailedPreconditionError(
          "loop device: /dev/loop-control is missing (hint: modprobe loop; "
          "in a container, pass the host's /dev/loop-control and /dev/loop* "
          "devices)");
    }
    if (err == EACCES || err == EPERM) {
      return PermissionHint(err, "loop device: open /dev/loop-control");
    }
    return io::IoErrnoStatus(err, "loop device: open /dev/loop-control");
  }

  uint32_t flags = 0;
  if (options.autoclear) flags |= LO_FLAGS_AUTOCLEAR;
  if (options.read_only) flags |= LO_FLAGS_READ_ONLY;

  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const int n = ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) {
      const int err = errno;
      if (err == EPERM || err == EACCES) {
        return PermissionHint(err, "loop device: LOOP_CTL_GET_FREE");
      }
      return absl::ResourceExhaustedError(absl::StrCat(
          "loop device: no free loop device (LOOP_CTL_GET_FREE: ",
          std::strerror(err), "; hint: raise max_loop or detach unused "
          "devices with losetup -D)"));
    }
    const std::string path = absl::StrCat("/dev/loop", n);
    FdCloser dev(open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) |
                                        O_CLOEXEC));
    if (dev.get() < 0) {
      const int err = errno;
      if (err == ENOENT) {
        return absl::FailedPreconditionError(absl::StrCat(
            "loop device: ", path, " has no device node (hint: mknod ", path,
            " b 7 ", n, ", or mount devtmpfs on /dev)"));
      }
      if (err == EACCES || err == EPERM) {
        return PermissionHint(err, absl::StrCat("loop device: open ", path));
      }
      return io::IoErrnoStatus(err, absl::StrCat("loop device: open ", path));
    }

    // Preferred: one atomic LOOP_CONFIGURE.
    bool atomic = true;
    bool try_dio = options.direct_io;
    int err = 0;
    while (true) {
      loop_config config;
      std::memset(&config, 0, sizeof(config));
      config.fd = static_cast<uint32_t>(backing.get());
      config.block_size = bs;
      FillInfo(options, flags | (try_dio ? LO_FLAGS_DIRECT_IO : 0),
               &config.info);
      if (ioctl(dev.get(), LOOP_CONFIGURE, &config) == 0) {
        err = 0;
        break;
      }
      err = errno;
      if (err == EINVAL && try_dio) {
        // The kernel refused direct I/O on this backing file.
        HAFS_LOG(WARNING) << "loop device: " << path
                          << " refused direct I/O on " << options.backing_file
                          << "; using buffered I/O";
        try_dio = false;
        continue;
      }
      break;
    }
    if (err == ENOTTY || err == EINVAL) {
      // Kernels before 5.8 reject LOOP_CONFIGURE (EINVAL or ENOTTY): the
      // legacy sequence.
      atomic = false;
      if (ioctl(dev.get(), LOOP_SET_FD, backing.get()) != 0) {
        err = errno;
      } else {
        loop_info64 info;
        FillInfo(options, flags, &info);
        if (ioctl(dev.get(), LOOP_SET_STATUS64, &info) != 0 ||
            ioctl(dev.get(), LOOP_SET_BLOCK_SIZE, static_cast<unsigned long>(bs)) != 0) {
          err = errno;
          ioctl(dev.get(), LOOP_CLR_FD, 0);
        } else {
          err = 0;
          if (options.direct_io &&
              ioctl(dev.get(), LOOP_SET_DIRECT_IO, 1UL) != 0) {
            HAFS_LOG(WARNING) << "loop device: " << path
                              << " refused direct I/O (" << std::strerror(errno)
                              << "); using buffered I/O";
          }
        }
      }
    }
    if (err == EBUSY) continue;  // another process bound it first; retry
    if (err != 0) {
      if (err == EPERM || err == EACCES) {
        return PermissionHint(err, absl::StrCat("loop device: configure ", path));
      }
      return io::IoErrnoStatus(
          err, absl::StrCat("loop device: attach ", options.backing_file,
                            " to ", path));
    }
    loop_info64 info;
    std::memset(&info, 0, sizeof(info));
    bool direct_io = false;
    if (ioctl(dev.get(), LOOP_GET_STATUS64, &info) == 0) {
      direct_io = (info.lo_flags & LO_FLAGS_DIRECT_IO) != 0;
    }
    if (options.direct_io && !direct_io) {
      HAFS_LOG(WARNING) << "loop device: " << path
                        << " runs without direct I/O on "
                        << options.backing_file
                        << " (the backing file's page cache is used)";
    }
    HAFS_LOG(INFO) << "loop device: attached " << options.backing_file
                   << " to " << path << " (block size " << bs
                   << (direct_io ? ", direct I/O" : ", buffered") << ")";
    return std::unique_ptr<LoopDevice>(
        new LoopDevice(dev.release(), n, direct_io, atomic));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "loop device: every free loop device was taken by another process "
      "before we could bind it (", kAttempts, " attempts)"));
}

absl::Status LoopDevice::Close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status;
  if (ioctl(fd_, LOOP_CLR_FD, 0) != 0) {
    const int err = errno;
    // ENXIO: not bound any more (autoclear already ran); fine.
    if (err != ENXIO) {
      status = io::IoErrnoStatus(
          err, absl::StrCat("loop device: detach (LOOP_CLR_FD) ", path_));
    }
  }
  close(fd_);
  fd_ = -1;
  return status;
}

LoopDevice::~LoopDevice() {
  absl::Status s = Close();
  if (!s.ok()) HAFS_LOG(ERROR) << s;
}

}  // namespace hafs::frontend
