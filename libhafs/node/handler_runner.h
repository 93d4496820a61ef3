// File: libhafs/node/handler_runner.h
// -----------------------------------------------------------------------------
// Runs the volume's DRBD-style handler commands (`split_brain.split_brain_handler`,
// `split_brain.pri_lost_after_sb_handler`) one at a time on a thread of its own.
// The volume reports a handler from inside one of its steps, which must not
// block; DRBD runs its handlers from a worker thread too.
//
// A command is the configured string split at spaces (argv[0] an absolute
// path, as for fence-peer) plus the handler's name as the last argument; its
// environment names the resource and the handler (HAFS_* and, for scripts
// written for DRBD, DRBD_RESOURCE / DRBD_PEER). Each outcome (exit status,
// time-out, the first line of output) goes to `report`.
//
// Example:
//   HandlerRunner h(resources::ProcessRunner::System(), {.resource = "r0"},
//                   [](const std::string& line) { HAFS_LOG(WARNING) << line; });
//   h.Call("split-brain", "/usr/local/sbin/notify-admin --mail ops");
#ifndef HAFS_LIBHAFS_NODE_HANDLER_RUNNER_H_
#define HAFS_LIBHAFS_NODE_HANDLER_RUNNER_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::node {

struct HandlerRunnerOptions {
  std::string resource;   // volume name
  std::string node_name;  // this node
  std::string peer_name;
  absl::Duration timeout = absl::Seconds(60);
  size_t max_queued = 16;  // further calls are dropped (and reported) while full
};

class HandlerRunner {
 public:
  HandlerRunner(resources::ProcessRunner* runner, HandlerRunnerOptions options,
                std::function<void(const std::string&)> report);
  // Waits for the command running now; queued ones are dropped (reported).
  ~HandlerRunner();

  // Queues `command` for `handler` (returns at once; empty command: nothing).
  void Call(const std::string& handler, const std::string& command);

 private:
  struct Job {
    std::string handler;
    resources::ProcessSpec spec;
  };
  void Loop();

  resources::ProcessRunner* const runner_;
  const HandlerRunnerOptions opt_;
  const std::function<void(const std::string&)> report_;
  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hafs::node

#endif  // HAFS_LIBHAFS_NODE_HANDLER_RUNNER_H_
