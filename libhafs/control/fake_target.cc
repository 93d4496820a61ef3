#include "libhafs/control/fake_target.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hafs::control {

NodeStatus SampleStatus() {
  NodeStatus s;
  s.node_name = "alpha";
  s.node_id = 0;
  s.cluster_name = "hafs-test";
  s.daemon_version = "test";
  s.started_unix_s = 1700000000;
  s.config_file = "/etc/hafs/hafs.conf";
  VolumeStatus v;
  v.name = "r0";
  v.attached = true;
  v.role = "Secondary";
  v.disk = "UpToDate";
  v.connection = "Connected";
  v.replication = "SyncSource";
  v.peer_name = "bravo";
  v.peer_role = "Secondary";
  v.peer_disk = "Inconsistent";
  v.protocol = "C";
  v.size_bytes = 1 << 30;
  v.backing_device = "/var/lib/hafs/alpha.img";
  v.counters = {.ns = 101, .nr = 102, .dw = 103, .dr = 104, .al = 105, .bm = 106,
                .lo = 7, .pe = 8, .ua = 9, .ap = 10, .oos = 4096};
  v.resync = {.active = true, .total_kib = 8192, .left_kib = 4096,
              .done_percent = 50.0, .speed_kib_per_s = 40480, .eta_s = 19622,
              .same_kib = 0};
  v.verify = {.active = false, .mismatch_blocks = 0};
  v.gi = {.known = true, .current = 0x5A3C000000000001ULL, .bitmap = 0x1234,
          .history = {0x11, 0x22, 0, 0}};
  v.last_handshake = "rule 70: bitmap sync, this node is SyncSource";
  s.volumes.push_back(v);
  s.cluster.available = true;
  s.cluster.peer_name = "bravo";
  s.cluster.peer_state = "Alive";
  s.cluster.links = {{"grpc", "Up"}, {"udp", "Late"}};
  s.cluster.quorum_mode = "two_node";
  s.cluster.has_quorum = true;
  return s;
}

FakeControlTarget::FakeControlTarget(NodeStatus status) : status_(std::move(status)) {
  hub_.PublishStatus(status_);
}

absl::Status FakeControlTarget::Take(const std::string& verb, const std::string& call) {
  calls_.push_back(call);
  auto it = fail_.find(verb);
  if (it == fail_.end()) return absl::OkStatus();
  absl::Status s = std::move(it->second);
  fail_.erase(it);
  return s;
}

absl::StatusOr<NodeStatus> FakeControlTarget::GetStatus() {
  absl::MutexLock l(&mu_);
  absl::Status s = Take("status", "status");
  if (!s.ok()) return s;
  return status_;
}

absl::StatusOr<std::string> FakeControlTarget::Change(const std::string& verb,
                                                      const std::string& call,
                                                      void (*apply)(VolumeStatus&),
                                                      std::string reply) {
  absl::MutexLock l(&mu_);
  absl::Status s = Take(verb, call);
  if (!s.ok()) return s;
  if (apply != nullptr) {
    for (VolumeStatus& v : status_.volumes) apply(v);
    hub_.PublishStatus(status_);
  }
  return reply;
}

absl::StatusOr<std::string> FakeControlTarget::Primary(bool force) {
  return Change("primary", absl::StrCat("primary force=", force),
                [](VolumeStatus& v) { v.role = "Primary"; }, "r0: now Primary");
}
absl::StatusOr<std::string> FakeControlTarget::Secondary() {
  return Change("secondary", "secondary", [](VolumeStatus& v) { v.role = "Secondary"; },
                "r0: now Secondary");
}
absl::StatusOr<std::string> FakeControlTarget::Connect(const ConnectOptions& o) {
  return Change("connect",
                absl::StrCat("connect discard=", o.discard_my_data,
                             " tentative=", o.tentative),
                [](VolumeStatus& v) { v.connection = "Connecting"; },
                "r0: connecting to bravo");
}
absl::StatusOr<std::string> FakeControlTarget::Disconnect() {
  return Change("disconnect", "disconnect",
                [](VolumeStatus& v) {
                  v.connection = "StandAlone";
                  v.replication = "Off";
                  v.peer_role = "Unknown";
                  v.peer_disk = "DUnknown";
                },
                "");
}
absl::StatusOr<std::string> FakeControlTarget::Verify() {
  return Change("verify", "verify", [](VolumeStatus& v) { v.verify.active = true; },
                "r0: online verify started");
}
absl::StatusOr<std::string> FakeControlTarget::Resync(bool full) {
  return Change("resync", absl::StrCat("resync full=", full), nullptr,
                full ? "r0: full resync started" : "r0: resync started");
}
absl::StatusOr<std::string> FakeControlTarget::Standby() {
  return Change("standby", "standby", [](VolumeStatus& v) { v.role = "Secondary"; },
                "giving up resources to bravo");
}
absl::StatusOr<std::string> FakeControlTarget::Cleanup() {
  return Change("cleanup", "cleanup", nullptr, "resource failures forgotten");
}
absl::StatusOr<std::string> FakeControlTarget::Takeover() {
  return Change("takeover", "takeover", [](VolumeStatus& v) { v.role = "Primary"; },
                "taking over resources from bravo");
}

void FakeControlTarget::FailNext(const std::string& verb, absl::Status s) {
  absl::MutexLock l(&mu_);
  fail_[verb] = std::move(s);
}

void FakeControlTarget::SetStatus(const NodeStatus& s) {
  absl::MutexLock l(&mu_);
  status_ = s;
  hub_.PublishStatus(status_);
}

std::vector<std::string> FakeControlTarget::calls() const {
  absl::MutexLock l(&mu_);
  return calls_;
}

}  // namespace hafs::control
