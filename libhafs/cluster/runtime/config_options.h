// File: libhafs/cluster/runtime/config_options.h
// -----------------------------------------------------------------------------
// HafsConfig -> ClusterNodeOptions for hafsd (docs/cluster.md "Runtime"):
//   * node ids: the config's 0/1 become cluster ids 1/2 (the cluster cores use
//     0 for "none"/"any");
//   * links: gRPC = the peer's Node.peer_address (the daemon sets
//     peer_server), UDP = Node.heartbeat_udp_address of both nodes (both or
//     neither must be set);
//   * heartbeat timers, auto_failback, preferred_node (name -> id);
//   * quorum: mode "off" -> kDisabled; "two_node" with a witness_address ->
//     kWitness, without -> kTwoNode; leases = deadtime; on_quorum_loss;
//   * fence_peer_command split on whitespace (no shell), fencing resource-only;
//   * keys from Security.authkeys_file.
// The caller still sets `peer_server` (and may set clock, runner, disk,
// initial_generation, on_decision).
//
// Thread-safety: pure apart from reading the authkeys file.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(ClusterNodeOptions o,
//                         ClusterOptionsFromConfig(cfg, "alpha", "/var/lib/hafs"));
#ifndef HAFS_LIBHAFS_CLUSTER_RUNTIME_CONFIG_OPTIONS_H_
#define HAFS_LIBHAFS_CLUSTER_RUNTIME_CONFIG_OPTIONS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/cluster/runtime/cluster_node.h"
#include "libhafs/config/config.pb.h"

namespace hafs::cluster {

// `keys`: the already loaded authkeys (nullptr = load Security.authkeys_file).
// kNotFound if `self_name` is not a node of the config; kInvalidArgument for
// an inconsistent cluster section (names the field).
absl::StatusOr<ClusterNodeOptions> ClusterOptionsFromConfig(
    const config::HafsConfig& cfg, absl::string_view self_name, const std::string& state_dir,
    std::shared_ptr<const auth::KeyRing> keys = nullptr);

}  // namespace hafs::cluster

#endif  // HAFS_LIBHAFS_CLUSTER_RUNTIME_CONFIG_OPTIONS_H_
