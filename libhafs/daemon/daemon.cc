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
#include "libhafs/node/node.h"
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

// Starts the background process (this binary again, in the foreground of a
// new session, stdio on /dev/null) and waits for its readiness. Returns the
// exit status for the launching process.
int Background(const DaemonOptions& o, const std::string& log_file) {
  if (o.argv.empty()) {
    std::cerr << "hafsd: internal error: no argv to start the background process\n";
    return kExitFailure;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    std::cerr << "hafsd: pipe: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  std::vector<std::string> args = o.argv;
  args.insert(args.end(), {"--foreground", "--ready-fd", "3"});
  if (o.log_file.empty()) args.insert(args.end(), {"--log-file", log_file});
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    std::cerr << "hafsd: fork: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    dup2(p[1], 3);  // dup2 clears O_CLOEXEC on the copy
    if (chdir("/") != 0) _exit(kExitFailure);
    execv(o.self_exe.c_str(), cargs.data());
    _exit(127);
  }
  close(p[1]);
  std::string got;
  char buf[4096];
  while (true) {
    ssize_t n = read(p[0], buf, sizeof(buf));
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(p[0]);
  if (got == "READY") {
    std::cout << "hafsd: started in the background (pid " << pid << "); log: "
              << log_file << "\n";
    return kExitOk;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (got.empty()) {
    got = absl::StrCat("hafsd: the background process exited before it was ready",
                       WIFEXITED(status) && WEXITSTATUS(status) == 127
                           ? absl::StrCat(" (cannot execute ", o.self_exe, ")")
                           : absl::StrCat("; see ", log_file));
  }
  std::cerr << got << "\n";
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status)
                                                        : kExitFailure;
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

  Readiness readiness(options.ready_fd);
  auto fail = [&readiness](int code, const std::string& msg) {
    std::cerr << msg << "\n";
    readiness.Fail(msg);
    return code;
  };
  absl::StatusOr<config::HafsConfig> cfg = config::LoadConfigFile(options.config_file);
  if (!cfg.ok()) {
    return fail(kExitBadConfig, absl::StrCat("hafsd: ", cfg.status().message()));
  }
  absl::StatusOr<config::Node> node = FindNode(*cfg, options.node, options.config_file);
  if (!node.ok()) {
    return fail(kExitBadConfig, absl::StrCat("hafsd: ", node.status().message()));
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
      return fail(kExitFailure, absl::StrCat("hafsd: ", s.status().message(),
                                             "; hint: pass --log-file PATH or --foreground"));
    }
    sink = *std::move(s);
    SetLogSink(sink.get());
  }

  if (!options.foreground) {
    SetLogSink(nullptr);
    return Background(options, log_file);
  }

  HAFS_LOG(INFO) << "hafsd (" << VersionString() << ") starting: node "
                 << options.node << " (id " << node->id() << ") of cluster "
                 << cfg->cluster_name() << ", config " << options.config_file;
  const int64_t started = absl::ToUnixSeconds(absl::Now());
  // The node: volume, front end, resources. If it cannot start (no metadata,
  // port in use, ...) hafsd still serves the control socket and says why, so
  // `hafsctl status` explains the problem instead of "connection refused".
  std::unique_ptr<control::ControlTarget> target;
  absl::StatusOr<std::unique_ptr<node::Node>> n = node::Node::Start(
      {.config = *cfg,
       .config_file = options.config_file,
       .node_name = options.node,
       .run_dir = options.run_dir,
       .state_dir = options.state_dir.empty()
                        ? std::string()
                        : absl::StrCat(options.state_dir, "/", options.node)});
  if (n.ok()) {
    target = std::move(*n);
  } else {
    HAFS_LOG(ERROR) << "volume " << cfg->volume().name()
                    << " not attached: " << n.status().message();
    target = std::make_unique<ConfigOnlyTarget>(
        *cfg, options.node, options.config_file, started,
        absl::StrCat("volume not attached: ", n.status().message()));
  }

  // With the node up, its peer service's polling thread serves the control
  // socket too (it polls until node->Stop(), after the control server's
  // Shutdown below): a second polling thread would slow every replicated
  // write down (ControlServerOptions::share_poller).
  const bool node_up = dynamic_cast<node::Node*>(target.get()) != nullptr;
  absl::StatusOr<std::unique_ptr<control::ControlServer>> server = control::ControlServer::Start(
      target.get(), {.socket_path = socket_path, .share_poller = node_up});
  if (!server.ok()) {
    std::string msg = absl::StrCat("hafsd: ", server.status().message());
    if (sink != nullptr) HAFS_LOG(ERROR) << msg;
    SetLogSink(nullptr);
    return fail(kExitFailure, msg);
  }
  HAFS_LOG(INFO) << "hafsd: node " << options.node << " ready; control socket "
                 << socket_path;
  readiness.Ready();

  int sig = 0;
  while (true) {
    if (sigwait(&stop, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // Reload: the exports are applied at once (Ganesha re-reads them);
      // any other change is reported as needing a restart.
      absl::StatusOr<config::HafsConfig> fresh = config::LoadConfigFile(options.config_file);
      if (!fresh.ok()) {
        HAFS_LOG(ERROR) << "hafsd: SIGHUP: configuration not reloaded: "
                        << fresh.status().message();
      } else if (auto* node = dynamic_cast<node::Node*>(target.get())) {
        absl::StatusOr<std::string> r = node->ReloadConfig(*fresh);
        if (r.ok()) {
          HAFS_LOG(INFO) << "hafsd: SIGHUP: " << *r;
        } else {
          HAFS_LOG(ERROR) << "hafsd: SIGHUP: " << r.status().message();
        }
      } else {
        HAFS_LOG(WARNING) << "hafsd: SIGHUP: the volume is not attached; restart hafsd "
                             "to apply the configuration";
      }
      continue;
    }
    break;
  }
  HAFS_LOG(INFO) << "hafsd: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                 << ": shutting down";
  // The hand-over first, while `hafsctl status` and `hafsctl events` still
  // answer; a second SIGTERM / SIGINT cuts the wait short.
  if (auto* node = dynamic_cast<node::Node*>(target.get())) {
    node->HandOverBeforeStop([&stop] {
      const timespec now{0, 0};
      const int s = sigtimedwait(&stop, nullptr, &now);
      return s == SIGTERM || s == SIGINT;
    });
  }
  target->events()->Close();
  (*server)->Shutdown();
  if (auto* node = dynamic_cast<node::Node*>(target.get())) {
    absl::Status st = node->Stop();
    if (!st.ok()) HAFS_LOG(WARNING) << "hafsd: shutdown: " << st;
  }
  HAFS_LOG(INFO) << "hafsd: node " << options.node << " stopped";
  SetLogSink(nullptr);
  return kExitOk;
}

}  // namespace hafs::daemon
