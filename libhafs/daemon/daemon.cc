#include "libhafs/daemon/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libhafs/config/config.h"
#include "libhafs/control/server.h"
#include "libhafs/daemon/config_target.h"
#include "libhafs/version/version.h"

namespace hafs::daemon {

absl::StatusOr<std::unique_ptr<FileLogSink>> FileLogSink::Open(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    mkdir(path.substr(0, slash).c_str(), 0750);  // best effort; open reports
  }
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("log file ", path, ": open"));
  }
  return std::unique_ptr<FileLogSink>(new FileLogSink(fd));
}

FileLogSink::~FileLogSink() { close(fd_); }

void FileLogSink::Send(LogSeverity, absl::string_view line) {
  std::string buf = absl::StrCat(line, "\n");
  // One write per line: O_APPEND makes it atomic with respect to other writers.
  ssize_t n = write(fd_, buf.data(), buf.size());
  (void)n;
}

namespace {

// Reports "ready" or an error from the background child to the waiting parent.
class Readiness {
 public:
  Readiness() = default;
  explicit Readiness(int fd) : fd_(fd) {}
  ~Readiness() {
    if (fd_ >= 0) close(fd_);
  }
  void Ready() { Send("READY"); }
  void Fail(const std::string& message) { Send(message); }

 private:
  void Send(const std::string& s) {
    if (fd_ < 0) return;
    ssize_t n = write(fd_, s.data(), s.size());
    (void)n;
    close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// Forks. In the parent: waits for the child's readiness and returns the
// parent's exit status (>= 0). In the child: returns -1 and sets *readiness.
int Background(const std::string& log_file, Readiness* readiness) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    std::cerr << "hafsd: pipe: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::cerr << "hafsd: fork: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (pid > 0) {
    close(p[1]);
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) got.append(buf, n);
    }
    close(p[0]);
    if (got == "READY") {
      std::cout << "hafsd: started in the background (pid " << pid << "); log: "
                << log_file << "\n";
      return kExitOk;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::cerr << (got.empty() ? "hafsd: the background process died before it was "
                                "ready; see " + log_file
                              : got)
              << "\n";
    return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status)
                                                          : kExitFailure;
  }
  close(p[0]);
  setsid();
  if (chdir("/") != 0) {
    // Not fatal: "/" always exists; keep the working directory.
  }
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    if (devnull > STDERR_FILENO) close(devnull);
  }
  *readiness = Readiness(p[1]);
  return -1;
}

}  // namespace

int RunDaemon(const DaemonOptions& options) {
  // Block the stop signals before any thread exists, so that every thread
  // inherits the mask and sigwait() below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<config::HafsConfig> cfg = config::LoadConfigFile(options.config_file);
  if (!cfg.ok()) {
    std::cerr << "hafsd: " << cfg.status().message() << "\n";
    return kExitBadConfig;
  }
  absl::StatusOr<config::Node> node = FindNode(*cfg, options.node, options.config_file);
  if (!node.ok()) {
    std::cerr << "hafsd: " << node.status().message() << "\n";
    return kExitBadConfig;
  }
  const std::string socket_path = options.socket_path.empty()
                                      ? control::DefaultSocketPath(options.node)
                                      : options.socket_path;

  std::string log_file = options.log_file;
  if (log_file.empty() && !options.foreground) {
    log_file = absl::StrCat("/var/log/hafs/", options.node, ".log");
  }
  std::unique_ptr<FileLogSink> sink;
  if (!log_file.empty()) {
    absl::StatusOr<std::unique_ptr<FileLogSink>> s = FileLogSink::Open(log_file);
    if (!s.ok()) {
      std::cerr << "hafsd: " << s.status().message()
                << "; hint: pass --log-file PATH or --foreground\n";
      return kExitFailure;
    }
    sink = *std::move(s);
    SetLogSink(sink.get());
  }

  Readiness readiness;
  if (!options.foreground) {
    int rc = Background(log_file, &readiness);
    if (rc >= 0) {
      SetLogSink(nullptr);
      return rc;
    }
  }

  HAFS_LOG(INFO) << "hafsd (" << VersionString() << ") starting: node "
                 << options.node << " (id " << node->id() << ") of cluster "
                 << cfg->cluster_name() << ", config " << options.config_file;
  const int64_t started = absl::ToUnixSeconds(absl::Now());
  ConfigOnlyTarget target(*cfg, options.node, options.config_file, started);
  HAFS_LOG(WARNING) << "volume " << cfg->volume().name() << ": "
                    << kNotAttachedDetail << "; " << kNoClusterDetail;

  absl::StatusOr<std::unique_ptr<control::ControlServer>> server =
      control::ControlServer::Start(&target, {.socket_path = socket_path});
  if (!server.ok()) {
    std::string msg = absl::StrCat("hafsd: ", server.status().message());
    if (sink != nullptr) HAFS_LOG(ERROR) << msg;
    if (options.foreground) {
      std::cerr << msg << "\n";
    } else {
      readiness.Fail(msg);
    }
    SetLogSink(nullptr);
    return kExitFailure;
  }
  HAFS_LOG(INFO) << "hafsd: node " << options.node << " ready; control socket "
                 << socket_path;
  readiness.Ready();

  int sig = 0;
  while (true) {
    if (sigwait(&stop, &sig) != 0) continue;
    if (sig == SIGHUP) {
      HAFS_LOG(WARNING) << "hafsd: SIGHUP: configuration reload is not supported yet; "
                           "restart hafsd to apply a new configuration";
      continue;
    }
    break;
  }
  HAFS_LOG(INFO) << "hafsd: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                 << ": shutting down";
  target.events()->Close();
  (*server)->Shutdown();
  HAFS_LOG(INFO) << "hafsd: node " << options.node << " stopped";
  SetLogSink(nullptr);
  return kExitOk;
}

}  // namespace hafs::daemon
