// File: libhafs/resources/process_runner.h
// -----------------------------------------------------------------------------
// The process-runner port: resource agents and the fence-peer hook run external
// commands only through this interface, so that tests and the simulator can
// script results (FakeProcessRunner) while hafsd uses the real one.
//
// SystemProcessRunner: fork/exec in a new process group, stdin /dev/null,
// stdout+stderr captured (first 64 KiB), environment = the spec's env only
// (plus PATH=/usr/sbin:/usr/bin:/sbin:/bin unless given). On timeout the group
// gets SIGTERM, then SIGKILL after `kill_grace`.
// Thread-safety: Run() may be called from several threads at once.
//
// Example:
//   ProcessRunner& r = *ProcessRunner::System();
//   HAFS_ASSIGN_OR_RETURN(ProcessResult res,
//       r.Run({.argv = {"/etc/init.d/nfs", "start"}, .timeout = absl::Seconds(20)}));
//   if (res.timed_out || res.exit_code != 0) ...
#ifndef HAFS_LIBHAFS_RESOURCES_PROCESS_RUNNER_H_
#define HAFS_LIBHAFS_RESOURCES_PROCESS_RUNNER_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hafs::resources {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::map<std::string, std::string> env;
  absl::Duration timeout = absl::Seconds(20);
  absl::Duration kill_grace = absl::Seconds(2);
};

struct ProcessResult {
  bool timed_out = false;
  int exit_code = -1;  // valid when exited normally
  int signal = 0;      // terminating signal, 0 if exited
  std::string output;  // stdout + stderr, truncated to 64 KiB
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs the command to completion or timeout. Errors (kInvalidArgument for an
  // empty argv or relative path, kInternal for fork/pipe failures) mean the
  // command did not run; a non-zero exit is a result, not an error.
  virtual absl::StatusOr<ProcessResult> Run(const ProcessSpec& spec) = 0;
  // The real runner (never destroyed).
  static ProcessRunner* System();
};

// Scripted runner for tests: returns queued results in order and records the
// specs it was given. With nothing queued it returns kFailedPrecondition.
class FakeProcessRunner final : public ProcessRunner {
 public:
  void Push(absl::StatusOr<ProcessResult> r);
  absl::StatusOr<ProcessResult> Run(const ProcessSpec& spec) override;
  std::vector<ProcessSpec> calls();

 private:
  absl::Mutex mu_;
  std::deque<absl::StatusOr<ProcessResult>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<ProcessSpec> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_PROCESS_RUNNER_H_
