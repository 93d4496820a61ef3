// File: libhafs/control/control_target.h
// -----------------------------------------------------------------------------
// What the control plane drives: the `ControlTarget` interface that hafsd
// implements with its volume(s) and cluster pieces, and the plain status
// structs it reports (the C++ face of control.proto's StatusReply; see
// docs/control.md). The control server (server.h) maps each RPC to one method
// and each absl::Status to the same gRPC code and message, so a method's error
// message is exactly what the operator reads after "hafsctl: <verb>: ".
//
// Rules for implementations:
//   * Refusals return the most specific code with a precise message that
//     starts with the verb and the volume, then what and a hint, e.g.
//     FailedPrecondition("primary: r0: local disk is Inconsistent; hint: ...")
//     (hafsctl prints "hafsctl: " + message, adding "<verb>: " only if the
//     message does not start with it). A refused command changes nothing.
//   * Never report numbers that were not measured: a volume the daemon does not
//     run yet is `attached = false` with `detail` saying why, and its states
//     are "Unknown"/"Diskless", not invented.
//   * Publish every state change to `events()` (EventHub::PublishStatus after
//     the change, or Publish for free-form lines), so `hafsctl events` sees it.
//
// Thread-safety: methods are called concurrently from the gRPC server's
// threads; implementations must be thread-safe.
//
// Example (a target that only knows its configuration):
//   class ConfigOnlyTarget : public ControlTarget {
//     absl::StatusOr<NodeStatus> GetStatus() override { return status_; }
//     absl::StatusOr<std::string> Primary(bool) override {
//       return absl::FailedPreconditionError("primary: r0: not attached");
//     }
//     ...
//   };
#ifndef HAFS_LIBHAFS_CONTROL_CONTROL_TARGET_H_
#define HAFS_LIBHAFS_CONTROL_CONTROL_TARGET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hafs::control {

class EventHub;

// Version of the control protocol (control.proto, docs/control.md).
inline constexpr uint32_t kControlVersion = 1;

// DRBD-style counters: KiB unless noted (docs/control.md).
struct Counters {
  uint64_t ns = 0, nr = 0, dw = 0, dr = 0;  // KiB
  uint64_t al = 0, bm = 0;                  // AL transactions, bitmap writes
  uint64_t lo = 0, pe = 0, ua = 0, ap = 0;  // in flight (counts)
  uint64_t oos = 0;                         // KiB out of sync
  friend bool operator==(const Counters&, const Counters&) = default;
};

struct ResyncProgress {
  bool active = false;
  uint64_t total_kib = 0;
  uint64_t left_kib = 0;
  double done_percent = 0;  // 0..100
  uint64_t speed_kib_per_s = 0;
  int64_t eta_s = -1;  // -1 = unknown
  uint64_t same_kib = 0;
  friend bool operator==(const ResyncProgress&, const ResyncProgress&) = default;
};

struct VerifyProgress {
  bool active = false;
  uint64_t done_kib = 0;
  uint64_t total_kib = 0;
  double done_percent = 0;
  uint64_t mismatch_blocks = 0;
  int64_t eta_s = -1;
  friend bool operator==(const VerifyProgress&, const VerifyProgress&) = default;
};

struct GenerationIdsView {
  bool known = false;  // false: not attached, the fields are meaningless
  uint64_t current = 0;
  uint64_t bitmap = 0;
  std::vector<uint64_t> history;  // newest first
  friend bool operator==(const GenerationIdsView&, const GenerationIdsView&) = default;
};

struct VolumeStatus {
  std::string name;
  bool attached = false;
  std::string detail;  // why not attached, or other operator notes
  std::string role = "Unknown";
  std::string disk = "Diskless";
  std::string connection = "StandAlone";
  std::string replication = "Off";
  std::string peer_name;
  std::string peer_role = "Unknown";
  std::string peer_disk = "DUnknown";
  std::string protocol;
  uint64_t size_bytes = 0;
  std::string backing_device;
  Counters counters;
  ResyncProgress resync;
  VerifyProgress verify;
  GenerationIdsView gi;
  std::string last_handshake;
  std::string disk_note;  // attached but Diskless: why, and what to do
  friend bool operator==(const VolumeStatus&, const VolumeStatus&) = default;
};

struct LinkStatus {
  std::string name;
  std::string state;  // Init | Up | Late | Dead
  friend bool operator==(const LinkStatus&, const LinkStatus&) = default;
};

struct ClusterStatus {
  bool available = false;
  std::string detail;
  std::string peer_name;
  std::string peer_state = "Unknown";
  std::vector<LinkStatus> links;
  std::string quorum_mode;
  bool has_quorum = false;
  std::string quorum_detail;
  std::string witness;
  friend bool operator==(const ClusterStatus&, const ClusterStatus&) = default;
};

struct NodeStatus {
  uint32_t control_version = kControlVersion;
  std::string node_name;
  uint32_t node_id = 0;
  std::string cluster_name;
  std::string daemon_version;
  int64_t started_unix_s = 0;
  std::string config_file;
  std::vector<VolumeStatus> volumes;
  ClusterStatus cluster;
  friend bool operator==(const NodeStatus&, const NodeStatus&) = default;
};

struct ConnectOptions {
  bool discard_my_data = false;
  bool tentative = false;
};

// The operations `hafsctl` drives. Each command returns an operator-readable
// line describing what was done (may be empty) or a precise error.
class ControlTarget {
 public:
  virtual ~ControlTarget() = default;

  virtual absl::StatusOr<NodeStatus> GetStatus() = 0;
  // drbdadm primary [--force].
  virtual absl::StatusOr<std::string> Primary(bool force) = 0;
  virtual absl::StatusOr<std::string> Secondary() = 0;
  virtual absl::StatusOr<std::string> Connect(const ConnectOptions& options) = 0;
  virtual absl::StatusOr<std::string> Disconnect() = 0;
  virtual absl::StatusOr<std::string> Verify() = 0;
  // `full`: every block (DRBD's invalidate-remote).
  virtual absl::StatusOr<std::string> Resync(bool full) = 0;
  // Heartbeat's hb_standby / hb_takeover.
  virtual absl::StatusOr<std::string> Standby() = 0;
  virtual absl::StatusOr<std::string> Takeover() = 0;
  // crm_resource --cleanup: forget resource failures, lift a ban from here.
  virtual absl::StatusOr<std::string> Cleanup() = 0;

  // The hub the target publishes its state changes to; must outlive the
  // server. Never null.
  virtual EventHub* events() = 0;
};

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_CONTROL_TARGET_H_
