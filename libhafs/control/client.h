// File: libhafs/control/client.h
// -----------------------------------------------------------------------------
// A client of hafsd's control socket (what `hafsctl` uses; storage products can
// link it to drive a node from their own code).
//
// Errors come in two kinds, told apart with IsTransportError():
//   * transport: the daemon could not be reached or the connection was lost,
//     e.g. kUnavailable "cannot reach hafsd at /run/hafs/alpha.sock: connection
//     refused" (the reason is the errno of a connect(2) probe, so "no such file
//     or directory", "connection refused" and "permission denied" are told
//     apart);
//   * daemon: the daemon answered and refused, with its own code and message
//     (every daemon reply carries the trailing metadata kVersionMetadataKey).
//
// Thread-safety: a ControlClient may be used from several threads.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(auto c, ControlClient::Connect("/run/hafs/alpha.sock"));
//   HAFS_ASSIGN_OR_RETURN(NodeStatus s, c->GetStatus());
//   absl::StatusOr<std::string> r = c->Primary(/*force=*/false);
#ifndef HAFS_LIBHAFS_CONTROL_CLIENT_H_
#define HAFS_LIBHAFS_CONTROL_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libhafs/control/control_target.h"

namespace hafs::control {

// True iff `s` is a transport error of ControlClient (not a daemon refusal).
bool IsTransportError(const absl::Status& s);

struct ControlClientOptions {
  // Deadline of Status and of connecting.
  absl::Duration status_timeout = absl::Seconds(10);
  // Deadline of the commands (promotion may wait for fencing).
  absl::Duration command_timeout = absl::Seconds(120);
};

class ControlClient {
 public:
  // Probes the socket with connect(2) and opens a channel; transport error
  // if nothing accepts on `socket_path`.
  static absl::StatusOr<std::unique_ptr<ControlClient>> Connect(
      const std::string& socket_path, const ControlClientOptions& options = {});
  ~ControlClient();

  absl::StatusOr<NodeStatus> GetStatus();
  absl::StatusOr<std::string> Primary(bool force);
  absl::StatusOr<std::string> Secondary();
  absl::StatusOr<std::string> ConnectPeer(const ConnectOptions& options);
  absl::StatusOr<std::string> Disconnect();
  absl::StatusOr<std::string> Verify();
  absl::StatusOr<std::string> Resync(bool full);
  absl::StatusOr<std::string> Standby();
  absl::StatusOr<std::string> Cleanup();
  absl::StatusOr<std::string> Takeover();

  // Streams event lines to `on_line` until it returns false (then OK), or the
  // stream ends (the daemon's status: kCancelled when it shuts down).
  absl::Status Events(bool now, const std::function<bool(const std::string&)>& on_line);

  const std::string& socket_path() const { return path_; }

 private:
  ControlClient(std::string path, const ControlClientOptions& options);
  std::string path_;
  ControlClientOptions options_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_CLIENT_H_
