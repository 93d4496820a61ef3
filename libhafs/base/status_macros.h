// File: libhafs/base/status_macros.h
// -----------------------------------------------------------------------------
// HAFS_RETURN_IF_ERROR and HAFS_ASSIGN_OR_RETURN: early returns on a non-OK
// absl::Status / absl::StatusOr. Abseil 20220623 has neither (they arrived in
// 20260526 as ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN).
//
// Example:
//   absl::StatusOr<Superblock> ReadSuperblock(BlockDevice& dev) {
//     std::string buf(4096, '\0');
//     HAFS_RETURN_IF_ERROR(dev.Read(offset, buf));
//     HAFS_ASSIGN_OR_RETURN(Superblock sb, Superblock::Decode(buf));
//     return sb;
//   }
#ifndef HAFS_LIBHAFS_BASE_STATUS_MACROS_H_
#define HAFS_LIBHAFS_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hafs::internal {
inline const absl::Status& AsStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace hafs::internal

// Evaluates `expr` (an absl::Status or absl::StatusOr<T>) once; returns its
// status from the enclosing function if it is not OK.
#define HAFS_RETURN_IF_ERROR(expr)                                   \
  do {                                                               \
    const auto& hafs_status_ = (expr);                               \
    if (!::hafs::internal::AsStatus(hafs_status_).ok()) {            \
      return ::hafs::internal::AsStatus(hafs_status_);               \
    }                                                                \
  } while (false)

#define HAFS_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define HAFS_STATUS_MACROS_CONCAT_(x, y) HAFS_STATUS_MACROS_CONCAT_INNER_(x, y)

// HAFS_ASSIGN_OR_RETURN(lhs, rexpr): evaluates `rexpr` (an absl::StatusOr<T>);
// on error returns its status, otherwise move-assigns the value to `lhs`, which
// may be a declaration (`Foo foo`) or an existing lvalue.
#define HAFS_ASSIGN_OR_RETURN(lhs, rexpr)                                      \
  HAFS_ASSIGN_OR_RETURN_IMPL_(                                                 \
      HAFS_STATUS_MACROS_CONCAT_(hafs_statusor_, __LINE__), lhs, rexpr)

#define HAFS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()

#endif  // HAFS_LIBHAFS_BASE_STATUS_MACROS_H_
