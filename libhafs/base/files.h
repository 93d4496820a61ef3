// File: libhafs/base/files.h
// -----------------------------------------------------------------------------
// Small file helpers shared by the daemon-side components (agents, node):
// read a whole file, create a directory path, replace a file atomically.
// Errors name the path, the operation and errno's text, with the most
// specific code (kNotFound, kPermissionDenied, else kInternal).
//
// Thread-safety: plain functions.
//
// Example:
//   HAFS_RETURN_IF_ERROR(MakeDirs("/run/hafs/alpha/ganesha", 0755));
//   HAFS_RETURN_IF_ERROR(WriteFileAtomically("/run/hafs/alpha/ganesha/ganesha.conf", text));
#ifndef HAFS_LIBHAFS_BASE_FILES_H_
#define HAFS_LIBHAFS_BASE_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hafs {

// The whole content of `path`.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// mkdir -p with `mode` for the directories it creates.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);

// Writes `contents` to "<dir>/.<name>.tmp" (a dot file: tools that scan the
// directory, like exportfs for *.exports, ignore it), fsyncs it and renames
// it over `path`, then fsyncs the directory: readers see the old or the new
// file, never a partial one, also after a crash. The temporary file is
// removed on failure.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents,
                                 mode_t mode = 0644);

}  // namespace hafs

#endif  // HAFS_LIBHAFS_BASE_FILES_H_
