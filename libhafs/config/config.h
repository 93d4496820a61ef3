// File: libhafs/config/config.h
// -----------------------------------------------------------------------------
// Loading and validating a hafs configuration (schema: config.proto, protobuf
// text format). Errors name the file, line and column, what is wrong and how to
// fix it, e.g.
//   hafs.conf:12:3: node[1].id: duplicate node id 0 (node "alpha" has it);
//   hint: the two nodes need ids 0 and 1
// Defaults documented in config.proto are filled in by Load*, so callers see a
// complete configuration.
//
// Thread-safety: pure functions.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(hafs::config::HafsConfig cfg,
//                         hafs::config::LoadConfigFile("/etc/hafs/hafs.conf"));
#ifndef HAFS_LIBHAFS_CONFIG_CONFIG_H_
#define HAFS_LIBHAFS_CONFIG_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libhafs/config/config.pb.h"

namespace hafs::config {

inline constexpr uint32_t kConfigVersion = 1;

// Parses `text` (named `source` in messages), fills defaults and validates.
// Returns kInvalidArgument with every problem found (one per line).
absl::StatusOr<HafsConfig> LoadConfigText(absl::string_view text,
                                          absl::string_view source);

// Reads and loads a file; kNotFound / kPermissionDenied if it cannot be read.
absl::StatusOr<HafsConfig> LoadConfigFile(const std::string& path);

// The embedded default: a local pair ("alpha", "bravo") on loopback with
// backing files under `state_dir`, NFS-Ganesha, quorum off (no witness on a
// single machine); what `tools/run.sh` starts. Always valid.
std::string DefaultLocalPairConfigText(absl::string_view state_dir);

// Text format of `cfg`, as a user would write it.
std::string ToText(const HafsConfig& cfg);

// What differs between two configurations, one line per field in the text
// format's paths ("modified: heartbeat.deadtime_ms: 10000 -> 5000",
// "added: volume.csums_alg: \"xxh3-128\"", "deleted: ..."); empty when equal.
std::vector<std::string> DescribeChanges(const HafsConfig& from, const HafsConfig& to);

}  // namespace hafs::config

#endif  // HAFS_LIBHAFS_CONFIG_CONFIG_H_
