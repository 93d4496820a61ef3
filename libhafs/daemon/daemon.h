// File: libhafs/daemon/daemon.h
// -----------------------------------------------------------------------------
// hafsd's body (cmd/hafsd/main.cc only parses flags): load and validate the
// configuration, set up logging, optionally go to the background, serve the
// control socket with the node's ControlTarget, and shut down cleanly on
// SIGTERM/SIGINT (the socket is removed). docs/cli.md, "hafsd".
//
// Exit statuses: 0 clean shutdown; 1 runtime failure (socket in use, cannot
// open the log file, ...); 2 bad configuration (file:line:col: what; hint) or
// unknown --node; 64 usage error (from main).
//
// Thread-safety: RunDaemon is called once, from main, before any other thread
// exists (it blocks SIGTERM/SIGINT/SIGHUP process-wide and waits for them).
//
// Example:
//   return hafs::daemon::RunDaemon({.config_file = "/etc/hafs/hafs.conf",
//                                   .node = "alpha", .foreground = true});
#ifndef HAFS_LIBHAFS_DAEMON_DAEMON_H_
#define HAFS_LIBHAFS_DAEMON_DAEMON_H_

#include <string>
#include <vector>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libhafs/base/logging.h"

namespace hafs::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadConfig = 2;
inline constexpr int kExitUsage = 64;

struct DaemonOptions {
  std::string config_file;
  std::string node;
  // Control socket; empty = /run/hafs/<node>.sock.
  std::string socket_path;
  // Stay in the foreground (for systemd Type=simple, tests, debugging).
  // Otherwise hafsd forks, and the parent exits 0 once the control socket
  // serves (or with the child's error and exit status).
  bool foreground = false;
  // Log file (appended). Empty: stderr in the foreground,
  // /var/log/hafs/<node>.log in the background.
  std::string log_file;
  // Runtime files of the node (FUSE mount point, device link, Ganesha's
  // files). Empty = /run/hafs/<node>.
  std::string run_dir;
  // Persistent state (the cluster runtime's cluster.state) goes to
  // <state_dir>/<node>. Empty = /var/lib/hafs.
  std::string state_dir;
  // How to start the background process: hafsd re-executes itself
  // (`self_exe` with `argv` plus "--foreground --ready-fd 3") in a new
  // session rather than forking a process whose libraries (gRPC) may already
  // run threads. Required unless `foreground`.
  std::string self_exe = "/proc/self/exe";
  std::vector<std::string> argv;
  // Internal (set by the re-executed background process): write "READY" or
  // the startup error to this descriptor, then close it.
  int ready_fd = -1;
};

int RunDaemon(const DaemonOptions& options);

// A LogSink appending one line per message to a file (O_APPEND, so several
// writers and logrotate's copytruncate behave). Thread-safe.
class FileLogSink : public LogSink {
 public:
  static absl::StatusOr<std::unique_ptr<FileLogSink>> Open(const std::string& path);
  ~FileLogSink() override;
  void Send(LogSeverity severity, absl::string_view line) override;

 private:
  explicit FileLogSink(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hafs::daemon

#endif  // HAFS_LIBHAFS_DAEMON_DAEMON_H_
