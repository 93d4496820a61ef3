// File: libhafs/resources/planner.h
// -----------------------------------------------------------------------------
// The resource planner: a PURE function from (group definition, resource
// states, failure history, role decision, now) to an ordered list of actions,
// in the spirit of Pacemaker's scheduler (one transition at a time: the
// executor runs the actions in order, stops at the first failure, records the
// new states and calls the planner again). See docs/cluster.md "Planner".
//
// A group is Heartbeat's haresources line: resources start left to right and
// stop right to left; resource i needs every resource before it.
// Rules, in order:
//   1. A resource whose stop failed (kStopFailed) can't be cleaned up here:
//      the only action is kEscalate (Pacemaker fences, Heartbeat reboots).
//   2. Failures older than the resource's failure_timeout expire
//      (kClearFailures). failure_timeout 0 = never (Pacemaker's default).
//   3. Resources in kUnknown (after a restart) are probed (kProbe) first;
//      nothing else is planned until every state is known.
//   4. The group is banned from this node if a resource has reached its
//      migration_threshold of live failures (0 = never), or, with
//      start_failure_is_fatal, if a start failed (Pacemaker's default).
//   5. If the group should not run here (not primary, or banned): stop every
//      started or failed resource, right to left; then kBan if banned.
//   6. If it should run: let k be the first resource not started. Stop the
//      started/failed resources from the end down to k (a failed k included),
//      then start k..end left to right. All started: nothing to do.
// Start/stop actions carry the resource's timeout.
//
// Thread-safety: pure functions.
//
// Example:
//   HAFS_RETURN_IF_ERROR(ValidateGroup(group));
//   Plan p = PlanGroup(group, {.should_run = primary, .status = st, .now = now});
//   for (const PlannedAction& a : p.actions) if (!executor.Run(a).ok()) break;
#ifndef HAFS_LIBHAFS_RESOURCES_PLANNER_H_
#define HAFS_LIBHAFS_RESOURCES_PLANNER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hafs::resources {

enum class AgentKind { kVirtualIp, kVolume, kFilesystem, kNfsServer, kCommand };
const char* AgentKindName(AgentKind k);
// Parses "VirtualIp", "Volume", "Filesystem", "NfsServer", "Command".
bool ParseAgentKind(const std::string& s, AgentKind* out);

struct ResourceSpec {
  std::string name;
  AgentKind kind = AgentKind::kCommand;
  absl::Duration start_timeout = absl::Seconds(20);  // Pacemaker op default
  absl::Duration stop_timeout = absl::Seconds(20);
  absl::Duration monitor_timeout = absl::Seconds(20);
  absl::Duration monitor_interval = absl::Seconds(10);
  int migration_threshold = 0;                       // 0 = INFINITY (never)
  absl::Duration failure_timeout = absl::ZeroDuration();  // 0 = never expire
  std::map<std::string, std::string> params;         // agent parameters
};

struct GroupSpec {
  std::string name;
  std::vector<ResourceSpec> resources;  // start order
  bool start_failure_is_fatal = true;   // Pacemaker's default
};

// Non-empty unique names ([A-Za-z0-9_.-]), at least one resource, positive
// timeouts and interval, threshold >= 0, failure_timeout >= 0.
absl::Status ValidateGroup(const GroupSpec& g);

enum class ResourceState { kUnknown, kStopped, kStarted, kFailed, kStopFailed };
const char* ResourceStateName(ResourceState s);

struct Failure {
  enum class Op { kStart, kMonitor } op = Op::kMonitor;
  absl::Time at;
};

struct ResourceStatus {
  ResourceState state = ResourceState::kUnknown;
  std::vector<Failure> failures;  // fail count = live entries
};

struct PlannerInput {
  bool should_run = false;  // the role manager's decision: ActivePrimary()
  std::map<std::string, ResourceStatus> status;  // missing = kUnknown
  bool banned = false;  // the group's kBan already ran here: not planned again
  absl::Time now;
};

struct PlannedAction {
  enum class Type { kClearFailures, kProbe, kStop, kStart, kBan, kEscalate };
  Type type;
  std::string resource;  // group name for kBan
  absl::Duration timeout = absl::ZeroDuration();
  std::string reason;
};
const char* ActionTypeName(PlannedAction::Type t);
// "stop fs timeout=20s  # reason"
std::string FormatAction(const PlannedAction& a);

struct Plan {
  std::vector<PlannedAction> actions;
  bool banned = false;
  // The ban rule ran (no stop failure or unknown state came first): when it
  // did and `banned` is false, no live failure keeps the group away.
  bool ban_checked = false;
};

// REQUIRES: ValidateGroup(g).ok(). Status entries for unknown names are
// ignored.
Plan PlanGroup(const GroupSpec& g, const PlannerInput& in);

// Live failures of `r` at `now` (after failure_timeout expiry).
int LiveFailCount(const ResourceSpec& r, const ResourceStatus& s, absl::Time now);

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_PLANNER_H_
