#include "libhafs/io/io_status.h"

#include <cerrno>
#include <cstdlib>

#include "absl/base/internal/strerror.h"
#include "absl/strings/str_cat.h"

namespace hafs::io {

absl::StatusCode IoErrnoCode(int err) {
  switch (std::abs(err)) {
    case EIO:
    case EILSEQ:
    case EBADMSG:
      return absl::StatusCode::kDataLoss;
    case ENOSPC:
    case EDQUOT:
      return absl::StatusCode::kResourceExhausted;
    case ENODEV:
    case ENXIO:
    case ESHUTDOWN:
    case EAGAIN:
    case EBUSY:
    case ETIMEDOUT:
      return absl::StatusCode::kUnavailable;
    case EINVAL:
    case EFAULT:
      return absl::StatusCode::kInvalidArgument;
    case EROFS:
    case EBADF:
      return absl::StatusCode::kFailedPrecondition;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case ECANCELED:
      return absl::StatusCode::kCancelled;
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::string_view ErrnoName(int err) {
  switch (std::abs(err)) {
    case EIO: return "EIO";
    case EILSEQ: return "EILSEQ";
    case EBADMSG: return "EBADMSG";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case ESHUTDOWN: return "ESHUTDOWN";
    case EAGAIN: return "EAGAIN";
    case EBUSY: return "EBUSY";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ECANCELED: return "ECANCELED";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EINTR: return "EINTR";
    default: return "";
  }
}

absl::Status IoErrnoStatus(int err, absl::string_view context) {
  const int e = std::abs(err);
  const absl::string_view name = ErrnoName(e);
  return absl::Status(
      IoErrnoCode(e),
      absl::StrCat(context, ": ", absl::base_internal::StrError(e), " (errno ",
                   e, name.empty() ? "" : " ", name, ")"));
}

}  // namespace hafs::io
