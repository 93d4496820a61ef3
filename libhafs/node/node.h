// File: libhafs/node/node.h
// -----------------------------------------------------------------------------
// Node: one hafs node assembled from the SDK's components — what hafsd runs.
//
//   PeerService (gRPC, authenticated) ── GrpcTransport ── mirror::Volume
//        │                                                   │ VolumeIo
//        │                                     frontend::FuseExport (one file)
//   resource group (planner + executor, on its own thread):
//     [VirtualIp] → Volume (promote/demote) → Loop (loop device over the FUSE
//     file, formats a blank volume once if configured) → Filesystem (fsck +
//     mount) → NfsServer (NFS-Ganesha, exports from the exports manager)
//
// Who runs the group: `should_run` is the cluster runtime's role decision
// (libhafs/cluster/runtime: heartbeats on the gRPC and UDP paths, failure
// detection, quorum, the role manager's placement with stickiness and
// auto_failback, fencing). Operator commands go through it: primary ->
// takeover (--force also arms a forced promotion of a non-UpToDate disk),
// secondary -> standby. The Volume's own rules (UpToDate disk, no Primary
// peer) still apply underneath.
//
// Node implements control::ControlTarget, so hafsd serves it on the control
// socket. Thread-safety: all ControlTarget methods are thread-safe.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(std::unique_ptr<Node> node,
//                         Node::Start({.config = cfg, .node_name = "alpha"}));
//   ... serve node.get() on the control socket ...
//   node->Stop();
#ifndef HAFS_LIBHAFS_NODE_NODE_H_
#define HAFS_LIBHAFS_NODE_NODE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/base/clock.h"
#include "libhafs/config/config.pb.h"
#include "libhafs/control/control_target.h"
#include "libhafs/control/events.h"

namespace hafs::node {

struct NodeOptions {
  config::HafsConfig config;
  std::string config_file;  // for status only
  std::string node_name;
  // Runtime files of this node: FUSE mount point, device symlink, Ganesha's
  // config/log/pid. Default /run/hafs/<node>.
  std::string run_dir;
  // Persistent state of the cluster runtime (cluster.state). Default
  // /var/lib/hafs/<node>.
  std::string state_dir;
  Clock* clock = nullptr;  // nullptr = Clock::System()
  // How often the resource thread reconciles and monitors.
  absl::Duration reconcile_interval = absl::Seconds(1);
  // Stop() on the Primary first hands the service to a connected peer
  // (standby) and waits this long at most for the peer to run it.
  absl::Duration handover_timeout = absl::Seconds(60);
};

class Node final : public control::ControlTarget {
 public:
  // Attaches the volume (its metadata must exist: hafsctl create-md), starts
  // the peer service and the FUSE front end, and the resource thread. Errors
  // name the component and the reason.
  static absl::StatusOr<std::unique_ptr<Node>> Start(NodeOptions options);
  ~Node() override;

  // Orderly shutdown: hand the service over to a connected peer that can run
  // it (as Heartbeat does when it stops: the peer takes over now, not after
  // deadtime), stop the resource group (if it still runs here), close the
  // volume (clean: al-clean), unmount the front end, stop the peer service.
  absl::Status Stop();
  // Stop()'s first step, callable earlier (hafsd calls it while its control
  // socket still answers): on the Primary, hand the service to a connected
  // peer whose copy is in sync and wait until it runs it; on a Secondary,
  // accept no hand-over any more. Once; Stop() skips it when done.
  // `give_up` (optional) is polled while waiting: true stops waiting (hafsd:
  // a second SIGTERM / SIGINT).
  void HandOverBeforeStop(const std::function<bool()>& give_up = nullptr);

  // Applies a reloaded configuration: new exports go to the NFS server at
  // once (rewritten config + SIGHUP to Ganesha, or used at its next start);
  // every other difference is listed as needing a restart. Returns what was
  // done. InvalidArgument if the new exports do not render.
  absl::StatusOr<std::string> ReloadConfig(const config::HafsConfig& fresh);

  // control::ControlTarget.
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
  control::EventHub* events() override { return &events_; }

 private:
  struct Parts;
  explicit Node(NodeOptions options);
  absl::Status Init();
  void ResourceLoop();
  void ClusterLoop();

  NodeOptions opt_;
  Clock* clock_;
  control::EventHub events_;
  std::unique_ptr<Parts> parts_;
  int64_t started_unix_s_ = 0;

  std::atomic<bool> handover_done_{false};  // HandOverBeforeStop ran

  absl::Mutex mu_;
  bool want_primary_ ABSL_GUARDED_BY(mu_) = false;
  // demote_seq of the last kDemote applied (ClusterNode::ResourcesStopped).
  uint64_t demote_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool force_next_ ABSL_GUARDED_BY(mu_) = false;
  bool cleanup_pending_ ABSL_GUARDED_BY(mu_) = false;
  // Exports waiting to be handed to the NFS server agent (resource thread).
  std::optional<std::string> exports_pending_ ABSL_GUARDED_BY(mu_);
  // The configuration in force: as started, plus what reloads applied
  // (exports, the volume's adjustable options).
  absl::Mutex reload_mu_;
  config::HafsConfig live_config_ ABSL_GUARDED_BY(reload_mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string resource_summary_ ABSL_GUARDED_BY(mu_);
  // Resync speed estimate for status: (time, KiB left) at the last sample.
  std::optional<std::pair<absl::Time, uint64_t>> resync_sample_ ABSL_GUARDED_BY(mu_);
  uint64_t resync_speed_kib_s_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread resource_thread_;
  std::thread cluster_thread_;
};

}  // namespace hafs::node

#endif  // HAFS_LIBHAFS_NODE_NODE_H_
