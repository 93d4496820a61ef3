#include "libhafs/control/convert.h"

#include <string>

namespace hafs::control {
namespace {

void ToProto(const Counters& c, v1::Counters* p) {
  p->set_ns(c.ns);
  p->set_nr(c.nr);
  p->set_dw(c.dw);
  p->set_dr(c.dr);
  p->set_al(c.al);
  p->set_bm(c.bm);
  p->set_lo(c.lo);
  p->set_pe(c.pe);
  p->set_ua(c.ua);
  p->set_ap(c.ap);
  p->set_oos(c.oos);
}

Counters FromProto(const v1::Counters& p) {
  Counters c;
  c.ns = p.ns();
  c.nr = p.nr();
  c.dw = p.dw();
  c.dr = p.dr();
  c.al = p.al();
  c.bm = p.bm();
  c.lo = p.lo();
  c.pe = p.pe();
  c.ua = p.ua();
  c.ap = p.ap();
  c.oos = p.oos();
  return c;
}

void ToProto(const VolumeStatus& v, v1::VolumeStatus* p) {
  p->set_name(v.name);
  p->set_attached(v.attached);
  p->set_detail(v.detail);
  p->set_role(v.role);
  p->set_disk(v.disk);
  p->set_connection(v.connection);
  p->set_replication(v.replication);
  p->set_peer_name(v.peer_name);
  p->set_peer_role(v.peer_role);
  p->set_peer_disk(v.peer_disk);
  p->set_protocol(v.protocol);
  p->set_size_bytes(v.size_bytes);
  p->set_backing_device(v.backing_device);
  ToProto(v.counters, p->mutable_counters());
  v1::ResyncProgress* r = p->mutable_resync();
  r->set_active(v.resync.active);
  r->set_total_kib(v.resync.total_kib);
  r->set_left_kib(v.resync.left_kib);
  r->set_done_percent(v.resync.done_percent);
  r->set_speed_kib_per_s(v.resync.speed_kib_per_s);
  r->set_eta_s(v.resync.eta_s);
  r->set_same_kib(v.resync.same_kib);
  v1::VerifyProgress* vp = p->mutable_verify();
  vp->set_active(v.verify.active);
  vp->set_done_kib(v.verify.done_kib);
  vp->set_total_kib(v.verify.total_kib);
  vp->set_done_percent(v.verify.done_percent);
  vp->set_mismatch_blocks(v.verify.mismatch_blocks);
  vp->set_eta_s(v.verify.eta_s);
  if (v.gi.known) {
    v1::GenerationIds* g = p->mutable_gi();
    g->set_current(v.gi.current);
    g->set_bitmap(v.gi.bitmap);
    for (uint64_t h : v.gi.history) g->add_history(h);
  }
  p->set_last_handshake(v.last_handshake);
  p->set_disk_note(v.disk_note);
}

VolumeStatus FromProto(const v1::VolumeStatus& p) {
  VolumeStatus v;
  v.name = p.name();
  v.attached = p.attached();
  v.detail = p.detail();
  v.role = p.role();
  v.disk = p.disk();
  v.connection = p.connection();
  v.replication = p.replication();
  v.peer_name = p.peer_name();
  v.peer_role = p.peer_role();
  v.peer_disk = p.peer_disk();
  v.protocol = p.protocol();
  v.size_bytes = p.size_bytes();
  v.backing_device = p.backing_device();
  v.counters = FromProto(p.counters());
  v.resync.active = p.resync().active();
  v.resync.total_kib = p.resync().total_kib();
  v.resync.left_kib = p.resync().left_kib();
  v.resync.done_percent = p.resync().done_percent();
  v.resync.speed_kib_per_s = p.resync().speed_kib_per_s();
  v.resync.eta_s = p.has_resync() ? p.resync().eta_s() : -1;
  v.resync.same_kib = p.resync().same_kib();
  v.verify.active = p.verify().active();
  v.verify.done_kib = p.verify().done_kib();
  v.verify.total_kib = p.verify().total_kib();
  v.verify.done_percent = p.verify().done_percent();
  v.verify.mismatch_blocks = p.verify().mismatch_blocks();
  v.verify.eta_s = p.has_verify() ? p.verify().eta_s() : -1;
  if (p.has_gi()) {
    v.gi.known = true;
    v.gi.current = p.gi().current();
    v.gi.bitmap = p.gi().bitmap();
    v.gi.history.assign(p.gi().history().begin(), p.gi().history().end());
  }
  v.last_handshake = p.last_handshake();
  v.disk_note = p.disk_note();
  return v;
}

}  // namespace

v1::StatusReply ToProto(const NodeStatus& s) {
  v1::StatusReply p;
  p.set_control_version(s.control_version);
  p.set_node_name(s.node_name);
  p.set_node_id(s.node_id);
  p.set_cluster_name(s.cluster_name);
  p.set_daemon_version(s.daemon_version);
  p.set_started_unix_s(s.started_unix_s);
  p.set_config_file(s.config_file);
  for (const VolumeStatus& v : s.volumes) ToProto(v, p.add_volumes());
  v1::ClusterStatus* c = p.mutable_cluster();
  c->set_available(s.cluster.available);
  c->set_detail(s.cluster.detail);
  c->set_peer_name(s.cluster.peer_name);
  c->set_peer_state(s.cluster.peer_state);
  for (const LinkStatus& l : s.cluster.links) {
    v1::LinkStatus* lp = c->add_links();
    lp->set_name(l.name);
    lp->set_state(l.state);
  }
  c->set_quorum_mode(s.cluster.quorum_mode);
  c->set_has_quorum(s.cluster.has_quorum);
  c->set_quorum_detail(s.cluster.quorum_detail);
  c->set_witness(s.cluster.witness);
  return p;
}

NodeStatus FromProto(const v1::StatusReply& p) {
  NodeStatus s;
  s.control_version = p.control_version();
  s.node_name = p.node_name();
  s.node_id = p.node_id();
  s.cluster_name = p.cluster_name();
  s.daemon_version = p.daemon_version();
  s.started_unix_s = p.started_unix_s();
  s.config_file = p.config_file();
  for (const v1::VolumeStatus& v : p.volumes()) s.volumes.push_back(FromProto(v));
  const v1::ClusterStatus& c = p.cluster();
  s.cluster.available = c.available();
  s.cluster.detail = c.detail();
  s.cluster.peer_name = c.peer_name();
  s.cluster.peer_state = c.peer_state();
  for (const v1::LinkStatus& l : c.links()) {
    s.cluster.links.push_back(LinkStatus{l.name(), l.state()});
  }
  s.cluster.quorum_mode = c.quorum_mode();
  s.cluster.has_quorum = c.has_quorum();
  s.cluster.quorum_detail = c.quorum_detail();
  s.cluster.witness = c.witness();
  return s;
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share the google.rpc.Code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                      s.error_message());
}

}  // namespace hafs::control
