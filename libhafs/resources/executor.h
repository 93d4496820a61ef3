// File: libhafs/resources/executor.h
// -----------------------------------------------------------------------------
// GroupExecutor: runs the planner's transitions against real agents, keeps
// each resource's state and failure history, and monitors started resources
// at their interval — the part of Pacemaker's controller/executor that hafsd
// needs for one resource group.
//
// Reconcile(should_run) plans (PlanGroup), runs the actions in order and
// stops at the first one that did not succeed; the next Reconcile replans
// from the new states (one transition at a time, like Pacemaker). Monitors
// run as part of Reconcile for started resources whose interval elapsed; a
// failed monitor marks the resource kFailed and counts a failure, so the next
// plan recovers it (restart in place, or move the group away once the
// migration threshold is reached).
//
// Agents may block up to their operation timeout; run Reconcile on a thread
// that may block (hafsd's resource thread), never on an event loop.
//
// Thread-safety: not thread-safe; one owner thread.
//
// Example:
//   GroupExecutor ex(group, std::move(agents), Clock::System());
//   for (;;) {
//     GroupExecutor::Step s = ex.Reconcile(role_manager_says_primary);
//     for (const std::string& line : s.log) HAFS_LOG(INFO) << line;
//     if (s.escalate) ...;   // a stop failed: the node must not go on
//   }
#ifndef HAFS_LIBHAFS_RESOURCES_EXECUTOR_H_
#define HAFS_LIBHAFS_RESOURCES_EXECUTOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/base/clock.h"
#include "libhafs/resources/agent.h"
#include "libhafs/resources/planner.h"

namespace hafs::resources {

class GroupExecutor {
 public:
  struct Step {
    // "start fs: ok", "monitor nfs: failed: port 2049 not answering", ...
    std::vector<std::string> log;
    bool changed = false;    // an action ran or a monitor failed
    bool banned = false;     // the group may not run on this node
    bool escalate = false;   // a stop failed: the resource may still be active
    bool settled = false;    // nothing left to do for `should_run`
  };

  // REQUIRES: ValidateGroup(group).ok(); an agent for every resource.
  GroupExecutor(GroupSpec group, std::map<std::string, std::unique_ptr<Agent>> agents,
                Clock* clock);

  // One reconciliation pass (see the file comment).
  Step Reconcile(bool should_run);

  // Forgets the ban and the failure history (operator's `cleanup`).
  void Cleanup();

  const std::map<std::string, ResourceStatus>& status() const { return status_; }
  const GroupSpec& group() const { return group_; }
  bool AllStarted() const;
  bool AllStopped() const;

 private:
  void RunMonitors(Step& step);
  // Runs one action; returns true if it succeeded.
  bool Run(const PlannedAction& a, Step& step);
  const ResourceSpec& Spec(const std::string& name) const;

  GroupSpec group_;
  std::map<std::string, std::unique_ptr<Agent>> agents_;
  Clock* clock_;
  std::map<std::string, ResourceStatus> status_;
  std::map<std::string, absl::Time> last_monitor_;
  bool banned_ = false;
  bool fatal_ = false;  // banned by a fatal agent error: only Cleanup lifts it
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_EXECUTOR_H_
