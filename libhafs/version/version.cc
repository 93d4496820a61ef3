#include "libhafs/version/version.h"

#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"

namespace hafs {

std::string VersionString() {
  return absl::StrFormat(
      "hafs %d.%d.%d (gRPC %s, protobuf %s)", kVersionMajor,
      kVersionMinor, kVersionPatch, grpc::Version(),
      google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
}

}  // namespace hafs
