#include "benchmarks/mirror/common.h"

#include <malloc.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/control/fake_target.h"
#include "libhafs/control/server.h"

namespace hafs::mirror::bench {

absl::Status CreatePresynced(const std::string& path, uint64_t data_mib, uint32_t node_id) {
  meta::MetaCreateOptions md;
  md.node_id = node_id;
  md.force = true;
  md.gi.current = kPresyncedUuid;
  md.flags = meta::kMdConsistent | meta::kMdWasUpToDate;
  return CreateVolumeMetadata(path, (data_mib + 4) << 20, md).status();
}

absl::StatusOr<Net> StartNet(uint32_t node_id, const std::string& listen,
                             const std::string& peer_address, const std::string& key) {
  peer::PeerServiceOptions o;
  o.auth.cluster_name = "bench";
  o.auth.node_id = node_id;
  o.auth.node_name = absl::StrCat("node", node_id);
  o.auth.incarnation = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  o.auth.expected_peer_node_id = 1 - node_id;
  HAFS_ASSIGN_OR_RETURN(auth::KeyRing ring, auth::KeyRing::Create({{1, key}}, 1));
  o.auth.keys = std::make_shared<const auth::KeyRing>(std::move(ring));
  Net net;
  HAFS_ASSIGN_OR_RETURN(net.server, peer::PeerServer::Start(o, listen));
  peer::GrpcTransportOptions t;
  t.channel = "r0";
  t.peer_address = peer_address;
  t.transport.connect_interval = absl::Milliseconds(200);
  HAFS_ASSIGN_OR_RETURN(net.transport, peer::GrpcTransport::Create(net.server.get(), t));
  return net;
}

struct Control {
  control::FakeControlTarget target{control::SampleStatus()};
  std::unique_ptr<control::ControlServer> server;
};

void AddControlFlags(CLI::App& app, ControlFlags* flags) {
  app.add_option("--control", flags->mode,
                 "hafsd's control server in this process: none, own (its own polling thread) or "
                 "shared (served by the peer service's polling thread, as hafsd does)")
      ->check(CLI::IsMember({"none", "own", "shared"}));
  app.add_option("--control_socket", flags->socket_path,
                 "its socket (default /tmp/hafs-bench-PID.sock)");
}

absl::StatusOr<std::shared_ptr<Control>> StartControl(const ControlFlags& flags) {
  const std::string& mode = flags.mode;
  const std::string socket_path = flags.socket_path.empty()
                                      ? absl::StrCat("/tmp/hafs-bench-", getpid(), ".sock")
                                      : flags.socket_path;
  if (mode == "none") return nullptr;
  auto c = std::make_shared<Control>();
  HAFS_ASSIGN_OR_RETURN(
      c->server, control::ControlServer::Start(
                     &c->target, {.socket_path = socket_path, .share_poller = mode == "shared"}));
  if ((mode == "shared") != c->server->shares_poller()) {
    return absl::FailedPreconditionError("--control=shared: gRPC does not poll with epoll1 here");
  }
  return c;
}

void TuneAllocator() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

VolumeOptions BaseOptions(uint32_t node_id, const std::string& path,
                          peer::Transport* transport, uint64_t resync_rate_mib) {
  VolumeOptions o;
  o.name = absl::StrCat("r0@node", node_id);
  o.backing_path = path;
  o.node_id = node_id;
  o.node_name = absl::StrCat("node", node_id);
  o.peer_node_id = 1 - node_id;
  o.peer_name = absl::StrCat("node", 1 - node_id);
  o.transport = transport;
  o.replication.protocol = Protocol::kC;
  // Fixed rate (c-plan-ahead 0); 0 = unlimited.
  o.replication.resync.plan_ahead = absl::ZeroDuration();
  o.replication.resync.rate_bytes_per_s = resync_rate_mib << 20;
  o.replication.resync.max_rate_bytes_per_s = 0;
  return o;
}

}  // namespace hafs::mirror::bench
