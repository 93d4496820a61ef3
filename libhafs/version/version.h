// File: libhafs/version/version.h
// -----------------------------------------------------------------------------
// hafs's release version and the versions of its on-disk and wire formats.
#ifndef HAFS_LIBHAFS_VERSION_VERSION_H_
#define HAFS_LIBHAFS_VERSION_VERSION_H_

#include <string>

namespace hafs {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;

// e.g. "hafs 0.1.0 (gRPC 1.51.1, protobuf 3.21.12)".
std::string VersionString();

}  // namespace hafs

#endif  // HAFS_LIBHAFS_VERSION_VERSION_H_
