// File: libhafs/resources/params.h
// -----------------------------------------------------------------------------
// Typed access to ResourceSpec::params for the agents, with errors that name
// the resource, the parameter, the bad value and the accepted form.
// Thread-safety: pure functions.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(int n, IntParam(spec, "arp_count", 5, 1, 100));
#ifndef HAFS_LIBHAFS_RESOURCES_PARAMS_H_
#define HAFS_LIBHAFS_RESOURCES_PARAMS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libhafs/resources/planner.h"

namespace hafs::resources {

// The value, or kInvalidArgument "resource R: parameter P is required (hint)".
absl::StatusOr<std::string> RequiredParam(const ResourceSpec& spec, const std::string& key,
                                          const std::string& hint);
std::string StringParam(const ResourceSpec& spec, const std::string& key,
                        const std::string& def);
// "true/false/yes/no/1/0/on/off" (case-insensitive).
absl::StatusOr<bool> BoolParam(const ResourceSpec& spec, const std::string& key, bool def);
absl::StatusOr<int64_t> IntParam(const ResourceSpec& spec, const std::string& key,
                                 int64_t def, int64_t min, int64_t max);
// An integer number of milliseconds in [min_ms, max_ms].
absl::StatusOr<absl::Duration> MillisParam(const ResourceSpec& spec, const std::string& key,
                                           absl::Duration def, int64_t min_ms,
                                           int64_t max_ms);
// kInvalidArgument for a key not in `known` (catches typos such as
// "kill_holder").
absl::Status CheckKnownParams(const ResourceSpec& spec,
                              std::initializer_list<const char*> known);

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_PARAMS_H_
