#include "libhafs/resources/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hafs::resources {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat("process runner: ", what, ": ", std::strerror(errno)));
}

class SystemRunner final : public ProcessRunner {
 public:
  absl::StatusOr<ProcessResult> Run(const ProcessSpec& spec) override {
    if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
      return absl::InvalidArgumentError(
          "process runner: argv[0] must be an absolute path");
    }
    std::vector<std::string> envs;
    bool has_path = false;
    for (const auto& [k, v] : spec.env) {
      envs.push_back(k + "=" + v);
      has_path = has_path || k == "PATH";
    }
    if (!has_path) envs.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    std::vector<char*> argv, envp;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe2");
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return Errno("fork");
    }
    if (pid == 0) {  // child: async-signal-safe calls only
      ::setpgid(0, 0);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also in the parent, to avoid a race
    ::close(fds[1]);
    ProcessResult res;
    absl::Time deadline = absl::Now() + spec.timeout;
    absl::Time kill_at = absl::InfiniteFuture();
    bool eof = false;
    int status = 0;
    bool reaped = false;
    while (!reaped) {
      absl::Time now = absl::Now();
      if (!res.timed_out && now >= deadline) {
        res.timed_out = true;
        ::kill(-pid, SIGTERM);
        kill_at = now + spec.kill_grace;
      }
      if (res.timed_out && now >= kill_at) {
        ::kill(-pid, SIGKILL);
        kill_at = absl::InfiniteFuture();
      }
      if (!eof) {
        struct pollfd p = {fds[0], POLLIN, 0};
        absl::Time until = std::min(res.timed_out ? kill_at : deadline, now + absl::Milliseconds(50));
        int ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(until - now)));
        int n = ::poll(&p, 1, ms);
        if (n > 0) {
          char buf[4096];
          ssize_t r = ::read(fds[0], buf, sizeof(buf));
          if (r > 0) {
            size_t room = kMaxOutput - std::min(kMaxOutput, res.output.size());
            res.output.append(buf, std::min(room, static_cast<size_t>(r)));
          } else if (r == 0) {
            eof = true;
          }
        }
      } else {
        ::usleep(5000);
      }
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) reaped = true;
    }
    ::close(fds[0]);
    if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
    // A normal exit leaves the group alone: an init script's "start" leaves
    // its daemon running, possibly in this process group.
    return res;
  }
};

}  // namespace

ProcessRunner* ProcessRunner::System() {
  static ProcessRunner* r = new SystemRunner();
  return r;
}

void FakeProcessRunner::Push(absl::StatusOr<ProcessResult> r) {
  absl::MutexLock l(&mu_);
  results_.push_back(std::move(r));
}

absl::StatusOr<ProcessResult> FakeProcessRunner::Run(const ProcessSpec& spec) {
  absl::MutexLock l(&mu_);
  calls_.push_back(spec);
  if (results_.empty()) {
    return absl::FailedPreconditionError("FakeProcessRunner: no scripted result left");
  }
  auto r = std::move(results_.front());
  results_.pop_front();
  return r;
}

std::vector<ProcessSpec> FakeProcessRunner::calls() {
  absl::MutexLock l(&mu_);
  return calls_;
}

}  // namespace hafs::resources
