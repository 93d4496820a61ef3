#include "libhafs/daemon/config_target.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libhafs/version/version.h"

namespace hafs::daemon {

absl::StatusOr<config::Node> FindNode(const config::HafsConfig& cfg,
                                      const std::string& name,
                                      const std::string& config_file) {
  std::vector<std::string> names;
  for (const config::Node& n : cfg.node()) {
    if (n.name() == name) return n;
    names.push_back(absl::StrCat("\"", n.name(), "\""));
  }
  return absl::NotFoundError(absl::StrCat(
      config_file, ": no node named \"", name, "\" (configured: ",
      absl::StrJoin(names, ", "), "); hint: --node must be one of them"));
}

ConfigOnlyTarget::ConfigOnlyTarget(const config::HafsConfig& cfg,
                                   const std::string& node_name,
                                   const std::string& config_file,
                                   int64_t started_unix_s, std::string detail) {
  status_.node_name = node_name;
  status_.cluster_name = cfg.cluster_name();
  status_.daemon_version = VersionString();
  status_.started_unix_s = started_unix_s;
  status_.config_file = config_file;
  std::string peer_name;
  std::string backing;
  for (const config::Node& n : cfg.node()) {
    if (n.name() == node_name) {
      status_.node_id = n.id();
      backing = n.backing_device();
    } else {
      peer_name = n.name();
    }
  }
  control::VolumeStatus v;
  v.name = cfg.volume().name();
  v.attached = false;
  v.detail = std::move(detail);
  v.role = "Secondary";  // nothing is promoted: hafsd promotes nothing yet
  v.disk = "Diskless";
  v.connection = "StandAlone";
  v.replication = "Off";
  v.peer_name = peer_name;
  v.peer_role = "Unknown";
  v.peer_disk = "DUnknown";
  v.protocol = cfg.volume().protocol();
  v.backing_device = backing;
  status_.volumes.push_back(v);
  control::ClusterStatus& c = status_.cluster;
  c.available = false;
  c.detail = kNoClusterDetail;
  c.peer_name = peer_name;
  c.peer_state = "Unknown";
  c.quorum_mode = cfg.quorum().mode();
  c.witness = cfg.quorum().witness_address();
  hub_.PublishStatus(status_);
}

absl::StatusOr<control::NodeStatus> ConfigOnlyTarget::GetStatus() { return status_; }

absl::Status ConfigOnlyTarget::NotAttached(absl::string_view verb) const {
  return absl::FailedPreconditionError(absl::StrCat(
      verb, ": ", status_.volumes[0].name, ": ", status_.volumes[0].detail,
      "; nothing was changed"));
}

absl::StatusOr<std::string> ConfigOnlyTarget::Primary(bool) { return NotAttached("primary"); }
absl::StatusOr<std::string> ConfigOnlyTarget::Secondary() { return NotAttached("secondary"); }
absl::StatusOr<std::string> ConfigOnlyTarget::Connect(const control::ConnectOptions&) {
  return NotAttached("connect");
}
absl::StatusOr<std::string> ConfigOnlyTarget::Disconnect() {
  return NotAttached("disconnect");
}
absl::StatusOr<std::string> ConfigOnlyTarget::Verify() { return NotAttached("verify"); }
absl::StatusOr<std::string> ConfigOnlyTarget::Resync(bool) { return NotAttached("resync"); }
absl::StatusOr<std::string> ConfigOnlyTarget::Standby() {
  return absl::FailedPreconditionError(
      absl::StrCat("standby: ", kNoClusterDetail, "; nothing was changed"));
}
absl::StatusOr<std::string> ConfigOnlyTarget::Cleanup() {
  return absl::FailedPreconditionError(
      absl::StrCat("cleanup: ", kNoClusterDetail, "; nothing was changed"));
}
absl::StatusOr<std::string> ConfigOnlyTarget::Takeover() {
  return absl::FailedPreconditionError(
      absl::StrCat("takeover: ", kNoClusterDetail, "; nothing was changed"));
}

}  // namespace hafs::daemon
