#include "libhafs/cluster/runtime/config_options.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libhafs/base/status_macros.h"

namespace hafs::cluster {

absl::StatusOr<ClusterNodeOptions> ClusterOptionsFromConfig(
    const config::HafsConfig& cfg, absl::string_view self_name, const std::string& state_dir,
    std::shared_ptr<const auth::KeyRing> keys) {
  const config::Node* self = nullptr;
  const config::Node* peer = nullptr;
  for (const config::Node& n : cfg.node()) {
    if (n.name() == self_name) {
      self = &n;
    } else {
      peer = &n;
    }
  }
  if (self == nullptr) {
    return absl::NotFoundError(absl::StrCat("cluster: node \"", self_name,
                                            "\" is not in the configuration"));
  }
  if (peer == nullptr || cfg.node_size() != 2) {
    return absl::InvalidArgumentError("cluster: the configuration needs exactly two nodes");
  }
  ClusterNodeOptions o;
  o.cluster_name = cfg.cluster_name();
  o.self = self->id() + 1;
  o.peer = peer->id() + 1;
  o.self_name = self->name();
  o.peer_name = peer->name();
  o.peer_grpc_address = peer->peer_address();
  if (self->heartbeat_udp_address().empty() != peer->heartbeat_udp_address().empty()) {
    return absl::InvalidArgumentError(
        "cluster: node.heartbeat_udp_address is set on one node only; hint: set it on both "
        "nodes (second heartbeat path) or on neither");
  }
  o.udp_address = self->heartbeat_udp_address();
  o.peer_udp_address = peer->heartbeat_udp_address();

  const config::Heartbeat& h = cfg.heartbeat();
  o.timing.keepalive = absl::Milliseconds(h.keepalive_ms());
  o.timing.warntime = absl::Milliseconds(h.warntime_ms());
  o.timing.deadtime = absl::Milliseconds(h.deadtime_ms());
  o.timing.initdead = absl::Milliseconds(h.initdead_ms());
  o.auto_failback = h.auto_failback();
  if (!h.preferred_node().empty()) {
    if (h.preferred_node() == self->name()) {
      o.preferred = o.self;
    } else if (h.preferred_node() == peer->name()) {
      o.preferred = o.peer;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "cluster: heartbeat.preferred_node \"", h.preferred_node(), "\" is not a node name"));
    }
  }

  const config::Quorum& q = cfg.quorum();
  if (q.mode() == "off") {
    o.quorum.mode = QuorumMode::kDisabled;
  } else if (!q.witness_address().empty()) {
    o.quorum.mode = QuorumMode::kWitness;
    o.witness_address = q.witness_address();
  } else {
    o.quorum.mode = QuorumMode::kTwoNode;
  }
  o.quorum.peer_lease = o.timing.deadtime;
  o.quorum.witness_lease = o.timing.deadtime;
  if (q.on_quorum_loss() == "suspend-io") {
    o.quorum.loss_action = QuorumLossAction::kSuspendIo;
  } else if (q.on_quorum_loss() == "fail-io") {
    o.quorum.loss_action = QuorumLossAction::kFailIo;
  } else {
    o.quorum.loss_action = QuorumLossAction::kDemote;
  }
  for (absl::string_view a : absl::StrSplit(q.fence_peer_command(), ' ', absl::SkipWhitespace())) {
    o.fence_peer_command.emplace_back(a);
  }
  o.fencing = FencingPolicy::kResourceOnly;
  o.fence_env["DRBD_RESOURCE"] = cfg.volume().name();

  if (keys == nullptr) {
    if (cfg.security().authkeys_file().empty()) {
      return absl::InvalidArgumentError(
          "cluster: security.authkeys_file is empty; heartbeats need authkeys");
    }
    HAFS_ASSIGN_OR_RETURN(auth::KeyRing ring,
                          auth::KeyRing::LoadFile(cfg.security().authkeys_file()));
    keys = std::make_shared<const auth::KeyRing>(std::move(ring));
  }
  o.keys = std::move(keys);
  o.state_dir = state_dir;
  return o;
}

}  // namespace hafs::cluster
