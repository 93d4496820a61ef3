// File: libhafs/control/convert.h
// -----------------------------------------------------------------------------
// Conversions between the control structs (control_target.h) and control.proto,
// and between absl::Status and grpc::Status (same code number, same message:
// the 1:1 mapping of DESIGN.md principle 4).
//
// Thread-safety: pure functions.
//
// Example:
//   v1::StatusReply reply = ToProto(status);
//   NodeStatus back = FromProto(reply);  // == status
#ifndef HAFS_LIBHAFS_CONTROL_CONVERT_H_
#define HAFS_LIBHAFS_CONTROL_CONVERT_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "libhafs/control/control.pb.h"
#include "libhafs/control/control_target.h"

namespace hafs::control {

v1::StatusReply ToProto(const NodeStatus& s);
NodeStatus FromProto(const v1::StatusReply& p);

grpc::Status ToGrpcStatus(const absl::Status& s);
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_CONVERT_H_
