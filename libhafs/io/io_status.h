// File: libhafs/io/io_status.h
// -----------------------------------------------------------------------------
// The one errno -> absl::Status mapping shared by the BlockDevice
// implementations (UringDevice reports real errnos, SimDevice injected ones),
// so that callers see the same codes from both:
//
//   EIO, EILSEQ, EBADMSG       kDataLoss           (medium error: data may be lost)
//   ENOSPC, EDQUOT             kResourceExhausted
//   ENODEV, ENXIO, ESHUTDOWN,
//   EAGAIN, EBUSY, ETIMEDOUT   kUnavailable        (device gone or busy: retryable)
//   EINVAL, EFAULT             kInvalidArgument
//   EROFS, EBADF               kFailedPrecondition (e.g. write to a read-only open)
//   EACCES, EPERM              kPermissionDenied
//   ENOENT                     kNotFound
//   ECANCELED                  kCancelled
//   EOPNOTSUPP                 kUnimplemented
//   anything else              kUnknown
//
// Thread-safety: pure function.
//
// Example:
//   return IoErrnoStatus(EIO, "write of 4096 bytes at offset 8192 on /dev/sdb");
//   // kDataLoss: "write of 4096 bytes at offset 8192 on /dev/sdb: Input/output
//   //             error (errno 5 EIO)"
#ifndef HAFS_LIBHAFS_IO_IO_STATUS_H_
#define HAFS_LIBHAFS_IO_IO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hafs::io {

// The status code for errno `err` (table above). `err` may be negative (as in
// io_uring's cqe->res); its absolute value is used.
absl::StatusCode IoErrnoCode(int err);

// A status with IoErrnoCode(err) and the message
// "<context>: <strerror> (errno <n> <NAME>)".
absl::Status IoErrnoStatus(int err, absl::string_view context);

// "EIO", "ENOSPC", ... for the errnos above, else "".
absl::string_view ErrnoName(int err);

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_IO_STATUS_H_
