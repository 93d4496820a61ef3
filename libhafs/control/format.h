// File: libhafs/control/format.h
// -----------------------------------------------------------------------------
// `hafsctl status` output (docs/cli.md, "Status format"):
//   * text: DRBD 9's `drbdadm status` layout per volume, a cluster section,
//     and with `verbose` a /proc/drbd-like counters block (DRBD 8.4), the
//     generation ids and the last handshake decision;
//   * JSON: control.proto's StatusReply in protobuf's JSON mapping with the
//     proto field names (stable: field names are part of control version 1).
// Numbers that were not measured are never printed: a volume that is not
// attached shows its detail instead of counters.
//
// Thread-safety: pure functions.
//
// Example:
//   std::cout << FormatStatusText(status, /*verbose=*/true);
#ifndef HAFS_LIBHAFS_CONTROL_FORMAT_H_
#define HAFS_LIBHAFS_CONTROL_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "libhafs/control/control_target.h"

namespace hafs::control {

std::string FormatStatusText(const NodeStatus& status, bool verbose);
absl::StatusOr<std::string> FormatStatusJson(const NodeStatus& status);

// "5:27:02" (h:mm:ss) or "-" when unknown (negative).
std::string FormatEta(int64_t seconds);

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_FORMAT_H_
