// File: libhafs/resources/agent.h
// -----------------------------------------------------------------------------
// Resource agents: start / stop / monitor one resource with a timeout. The
// planner (planner.h) decides what to run; an executor calls agents and turns
// outcomes into ResourceStatus updates:
//   kOk          start/stop succeeded; monitor: running
//   kNotRunning  monitor: cleanly stopped
//   kFailed      soft failure (count it, recover or move)
//   kFatal       the resource cannot run on this node at all (not installed /
//                not configured): ban the group here
//   kStopFailed  stop failed or timed out: the resource may still be active
// This session implements CommandAgent (a generic LSB init-style script);
// VirtualIp, Volume, Filesystem and NfsServer agents come later.
// Thread-safety: one operation at a time per agent.
//
// Example:
//   CommandAgent nfs(spec, ProcessRunner::System());
//   AgentOutcome o = nfs.Start(absl::Seconds(40));
//   if (o.code != AgentOutcome::kOk) HAFS_LOG(WARNING) << o.message;
#ifndef HAFS_LIBHAFS_RESOURCES_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_AGENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libhafs/resources/planner.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {

struct AgentOutcome {
  enum Code { kOk, kNotRunning, kFailed, kFatal, kStopFailed } code = kFailed;
  std::string message;
};
const char* AgentOutcomeName(AgentOutcome::Code c);

class Agent {
 public:
  virtual ~Agent() = default;
  virtual AgentOutcome Start(absl::Duration timeout) = 0;
  virtual AgentOutcome Stop(absl::Duration timeout) = 0;
  virtual AgentOutcome Monitor(absl::Duration timeout) = 0;
};

// Runs `params["script"]` with `start`, `stop` or `status` (the LSB init
// script interface), environment from params "env.NAME" entries plus
// HAFS_RESOURCE=<name>. Exit codes (LSB 3.1, "Init Script Actions"):
//   start/stop: 0 ok; 1 generic, 2 invalid args, 3 unimplemented, 4 no
//   privilege -> kFailed (stop: kStopFailed); 5 not installed, 6 not
//   configured -> kFatal (stop: kStopFailed for 6, kOk for 5: nothing can
//   run); 7 not running -> stop: kOk, start: kFailed.
//   status: 0 running -> kOk; 3 not running -> kNotRunning; 1 dead but pid
//   file, 2 dead but lock file -> kFailed; 4 unknown and others -> kFailed.
//   Timeouts: start/monitor -> kFailed; stop -> kStopFailed.
class CommandAgent final : public Agent {
 public:
  // REQUIRES: spec.kind == kCommand. Use Validate() first.
  CommandAgent(ResourceSpec spec, ProcessRunner* runner);
  // kInvalidArgument unless params has an absolute "script".
  static absl::Status Validate(const ResourceSpec& spec);

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;

 private:
  absl::StatusOr<ProcessResult> Call(const char* action, absl::Duration timeout);
  ResourceSpec spec_;
  ProcessRunner* runner_;
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_AGENT_H_
