// File: libhafs/daemon/config_target.h
// -----------------------------------------------------------------------------
// `ConfigOnlyTarget`: the ControlTarget hafsd serves until the block mirror
// (libhafs/mirror Volume) and the cluster pieces are wired into the daemon.
// It knows the real configuration and reports it honestly: each volume is
// `attached = false` ("volume not attached yet"), the cluster view is
// unavailable, no counters or generation ids are invented, and every command
// is refused with kFailedPrecondition saying that nothing was changed.
//
// The integration replaces it with a target that owns the Volume(s) and the
// role manager; this one remains the fallback for `hafsd --no-volume`-style
// inspection of a configuration.
//
// Thread-safety: thread-safe (immutable after construction; EventHub is).
//
// Example:
//   ConfigOnlyTarget target(cfg, "alpha", "/etc/hafs/hafs.conf");
//   auto server = ControlServer::Start(&target, {.socket_path = path});
#ifndef HAFS_LIBHAFS_DAEMON_CONFIG_TARGET_H_
#define HAFS_LIBHAFS_DAEMON_CONFIG_TARGET_H_

#include <string>

#include "absl/status/statusor.h"
#include "libhafs/config/config.pb.h"
#include "libhafs/control/control_target.h"
#include "libhafs/control/events.h"

namespace hafs::daemon {

// Shown for every volume until the mirror integration lands.
inline constexpr char kNotAttachedDetail[] =
    "volume not attached yet: this hafsd does not run the block mirror yet";
inline constexpr char kNoClusterDetail[] =
    "heartbeat and quorum not running yet in this hafsd";

class ConfigOnlyTarget : public control::ControlTarget {
 public:
  // REQUIRES: `node_name` names a node of `cfg` (see FindNode).
  // `detail` says why the volume is not attached (shown by hafsctl status and
  // in every refusal).
  ConfigOnlyTarget(const config::HafsConfig& cfg, const std::string& node_name,
                   const std::string& config_file, int64_t started_unix_s,
                   std::string detail = kNotAttachedDetail);

  absl::StatusOr<control::NodeStatus> GetStatus() override;
  absl::StatusOr<std::string> Primary(bool force) override;
  absl::StatusOr<std::string> Secondary() override;
  absl::StatusOr<std::string> Connect(const control::ConnectOptions& options) override;
  absl::StatusOr<std::string> Disconnect() override;
  absl::StatusOr<std::string> Verify() override;
  absl::StatusOr<std::string> Resync(bool full) override;
  absl::StatusOr<std::string> Standby() override;
  absl::StatusOr<std::string> Takeover() override;
  absl::StatusOr<std::string> Cleanup() override;
  control::EventHub* events() override { return &hub_; }

 private:
  absl::Status NotAttached(absl::string_view verb) const;

  control::NodeStatus status_;
  control::EventHub hub_;
};

// The node named `name` in `cfg`, or kNotFound listing the configured names.
absl::StatusOr<config::Node> FindNode(const config::HafsConfig& cfg,
                                      const std::string& name,
                                      const std::string& config_file);

}  // namespace hafs::daemon

#endif  // HAFS_LIBHAFS_DAEMON_CONFIG_TARGET_H_
