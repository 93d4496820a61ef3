// File: libhafs/control/server.h
// -----------------------------------------------------------------------------
// The control server: serves control.proto's `hafs.control.v1.Control` on a
// local Unix socket for `hafsctl`, forwarding each RPC to a `ControlTarget`
// and mapping its absl::Status 1:1 to the gRPC status (code and message).
//
// The socket:
//   * default path /run/hafs/<node>.sock (DefaultSocketPath); the parent
//     directory is created (0755) if missing;
//   * created with mode 0600 (umask 0177 while binding, then chmod), owned by
//     the daemon's user (root in production): only that user may drive it;
//   * a lock file "<path>.lock" (flock) makes a second daemon on the same path
//     fail with kAlreadyExists instead of stealing the socket;
//   * a stale socket (left by a crashed daemon: nobody accepts on it) is
//     removed with a log line; a path that exists and is not a socket is
//     refused (kFailedPrecondition), never deleted;
//   * Shutdown() ends event streams, stops serving and removes the socket and
//     the lock file (only if the socket is still the one it created).
//
// Thread-safety: Start/Shutdown from one thread; RPCs run on gRPC's threads
// and call the target concurrently. With share_poller, the RPCs still run on
// this server's own threads, which wait for requests without polling; the
// polling thread of another server reads the requests. (A handler that sends
// its reply, or an events stream writing a line, polls gRPC briefly, in the
// per-call queue of gRPC's synchronous API.)
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(auto server, ControlServer::Start(
//       &target, {.socket_path = DefaultSocketPath("alpha")}));
//   ... wait for SIGTERM ...
//   server->Shutdown();
#ifndef HAFS_LIBHAFS_CONTROL_SERVER_H_
#define HAFS_LIBHAFS_CONTROL_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libhafs/control/control_target.h"

namespace grpc {
class Server;
class ServerCompletionQueue;
}  // namespace grpc

namespace hafs::control {

// "/run/hafs/<node>.sock".
std::string DefaultSocketPath(absl::string_view node_name);

// Trailing metadata key set on every reply of the daemon (value "1").
inline constexpr char kVersionMetadataKey[] = "hafs-control-version";

struct ControlServerOptions {
  std::string socket_path;
  mode_t socket_mode = 0600;
  // How long Shutdown() lets in-flight RPCs finish before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(2);
  // How often an events stream checks for cancellation and shutdown.
  absl::Duration events_poll = absl::Milliseconds(100);
  // True: start no gRPC polling thread for this server; its socket is served
  // by the polling thread of another gRPC server in this process (in hafsd,
  // the PeerServer's), which must keep polling until Shutdown() returns.
  // Every thread that waits in a gRPC completion queue takes part in gRPC's
  // poller election, which hands each network event of the process to
  // another thread; one more poller made a QD1 mirror write 27-67 us slower
  // (docs/benchmarks.md, session 9). This needs gRPC's epoll1 engine (one
  // epoll set for the whole process); with any other engine the server polls
  // on its own as with false, and says so in the log.
  bool share_poller = false;
};

class ControlService;

class ControlServer {
 public:
  // Prepares the socket path (see above) and starts serving. Errors:
  // kInvalidArgument (empty or too long path: a Unix socket path has at most
  // 107 bytes), kAlreadyExists (another daemon holds the lock or accepts on
  // the socket), kFailedPrecondition (the path is not a socket), kInternal /
  // errno-mapped codes for system call failures; each names the path.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(
      ControlTarget* target, const ControlServerOptions& options);

  ~ControlServer();  // Shutdown()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Idempotent.
  void Shutdown();

  const std::string& socket_path() const { return options_.socket_path; }
  // Whether the server runs without a polling thread of its own (see
  // ControlServerOptions::share_poller).
  bool shares_poller() const { return idle_cq_ != nullptr; }

 private:
  ControlServer(ControlTarget* target, const ControlServerOptions& options);

  ControlTarget* const target_;
  const ControlServerOptions options_;
  std::unique_ptr<ControlService> service_;
  // With share_poller: the asynchronous queue that makes gRPC run the
  // synchronous service from non-polling queues. Nothing is ever requested
  // on it and no thread waits in it. (Destroyed after server_.)
  std::unique_ptr<grpc::ServerCompletionQueue> idle_cq_;
  std::unique_ptr<grpc::Server> server_;
  int lock_fd_ = -1;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  bool shut_down_ = false;
};

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_SERVER_H_
