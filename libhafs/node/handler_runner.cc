#include "libhafs/node/handler_runner.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace hafs::node {
namespace {

std::vector<std::string> SplitCommand(const std::string& command) {
  std::vector<std::string> argv;
  for (absl::string_view a : absl::StrSplit(command, ' ', absl::SkipWhitespace())) {
    argv.emplace_back(a);
  }
  return argv;
}

std::string FirstLine(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

HandlerRunner::HandlerRunner(resources::ProcessRunner* runner, HandlerRunnerOptions options,
                             std::function<void(const std::string&)> report)
    : runner_(runner), opt_(std::move(options)), report_(std::move(report)) {
  thread_ = std::thread([this] { Loop(); });
}

HandlerRunner::~HandlerRunner() {
  std::deque<Job> dropped;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    dropped.swap(queue_);
  }
  thread_.join();
  for (const Job& j : dropped) {
    report_(absl::StrCat("handler ", j.handler, ": not run (the node is stopping)"));
  }
}

void HandlerRunner::Call(const std::string& handler, const std::string& command) {
  std::vector<std::string> argv = SplitCommand(command);
  if (argv.empty()) return;
  argv.push_back(handler);
  Job job;
  job.handler = handler;
  job.spec.argv = std::move(argv);
  job.spec.timeout = opt_.timeout;
  job.spec.env = {{"HAFS_RESOURCE", opt_.resource}, {"HAFS_HANDLER", handler},
                  {"HAFS_NODE", opt_.node_name},    {"HAFS_PEER", opt_.peer_name},
                  {"DRBD_RESOURCE", opt_.resource}, {"DRBD_PEER", opt_.peer_name}};
  {
    absl::MutexLock l(&mu_);
    if (!stop_ && queue_.size() < opt_.max_queued) {
      queue_.push_back(std::move(job));
      return;
    }
  }
  report_(absl::StrCat("handler ", handler, ": not run (", opt_.max_queued,
                       " handler calls already queued, or the node is stopping)"));
}

void HandlerRunner::Loop() {
  for (;;) {
    Job job;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](HandlerRunner* h)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->mu_) { return h->stop_ || !h->queue_.empty(); },
          this));
      if (stop_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const std::string what = absl::StrCat("handler ", job.handler, " (", job.spec.argv[0], ")");
    absl::StatusOr<resources::ProcessResult> r = runner_->Run(job.spec);
    if (!r.ok()) {
      report_(absl::StrCat(what, ": did not run: ", r.status().message()));
    } else if (r->timed_out) {
      report_(absl::StrCat(what, ": killed after ", absl::FormatDuration(job.spec.timeout)));
    } else if (r->signal != 0) {
      report_(absl::StrCat(what, ": killed by signal ", r->signal));
    } else {
      report_(absl::StrCat(what, ": exit code ", r->exit_code,
                           r->output.empty() ? "" : absl::StrCat(": ", FirstLine(r->output))));
    }
  }
}

}  // namespace hafs::node
