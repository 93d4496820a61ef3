// File: libhafs/cluster/runtime/state_file.h
// -----------------------------------------------------------------------------
// What a ClusterNode must remember across a restart (docs/cluster.md
// "Runtime", state file v1): the last incarnation it used (so the next boot's
// envelopes are never taken for replays), the highest witness term whose data
// it is sure to have (QuorumTracker::known_term), the persisted Outdated flag
// (set when the witness shows that the peer may have written without us) and
// the role manager's data generation + history (split-brain detection).
//
// Text format, version 1, guarded by an XXH3-64 checksum of everything before
// the checksum line:
//   hafs-cluster-state 1
//   incarnation 1754000000123456
//   known_term 7
//   outdated 0
//   generation 12345678901234
//   history 111 222 333
//   checksum 0123456789abcdef
// Saved atomically: <path>.tmp written and fsync'ed, renamed over <path>, the
// directory fsync'ed.
//
// Thread-safety: pure functions (the file functions touch only their paths).
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(std::optional<RuntimeState> s, LoadRuntimeStateFile(p));
//   RuntimeState st = s.value_or(RuntimeState{});
//   st.outdated = true;
//   HAFS_RETURN_IF_ERROR(SaveRuntimeStateFile(p, st));
#ifndef HAFS_LIBHAFS_CLUSTER_RUNTIME_STATE_FILE_H_
#define HAFS_LIBHAFS_CLUSTER_RUNTIME_STATE_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::cluster {

inline constexpr uint32_t kRuntimeStateVersion = 1;

struct RuntimeState {
  uint64_t incarnation = 0;  // the last incarnation this node used
  uint64_t known_term = 0;   // QuorumTracker::known_term
  bool outdated = false;     // disk marked Outdated by the quorum rule
  uint64_t generation = 1;   // RoleManager PersistedRoleState
  std::vector<uint64_t> history;
  bool operator==(const RuntimeState&) const = default;
};

std::string SerializeRuntimeState(const RuntimeState& s);
// kDataLoss for a bad checksum, version, missing field or syntax, naming the
// line; `source` prefixes messages.
absl::StatusOr<RuntimeState> ParseRuntimeState(absl::string_view text,
                                               absl::string_view source = "cluster state");
// std::nullopt when the file does not exist (first start).
absl::StatusOr<std::optional<RuntimeState>> LoadRuntimeStateFile(const std::string& path);
// Atomic replace (tmp + fsync + rename + directory fsync). kInternal with the
// failing step and errno text.
absl::Status SaveRuntimeStateFile(const std::string& path, const RuntimeState& s);

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_RUNTIME_STATE_FILE_H_
