#include "libhafs/control/format.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "libhafs/control/convert.h"

namespace hafs::control {
namespace {

// DRBD 8.4's cs: the connection state, or the replication state once connected.
std::string Cs(const VolumeStatus& v) {
  if (v.connection != "Connected") return v.connection;
  return v.replication == "Established" ? "Connected" : v.replication;
}

std::string Percent(double p) { return absl::StrFormat("%.2f", p); }

std::string ProgressBar(double percent) {
  int filled = static_cast<int>(std::clamp(percent, 0.0, 100.0) / 5.0);
  std::string bar = "[";
  for (int i = 0; i < 20; ++i) bar += i < filled ? '=' : (i == filled ? '>' : '.');
  return bar + "]";
}

std::string GiText(const GenerationIdsView& gi) {
  std::string s = absl::StrFormat("%016X:%016X", gi.current, gi.bitmap);
  for (uint64_t h : gi.history) absl::StrAppend(&s, absl::StrFormat(":%016X", h));
  return s;
}

void AppendVolume(const VolumeStatus& v, size_t index, bool verbose, std::string* out) {
  absl::StrAppend(out, v.name, " role:", v.role, "\n");
  absl::StrAppend(out, "  disk:", v.disk);
  if (!v.attached) {
    absl::StrAppend(out, " (", v.detail.empty() ? "volume not attached" : v.detail, ")");
  } else if (!v.disk_note.empty()) {
    absl::StrAppend(out, " (", v.disk_note, ")");
  }
  absl::StrAppend(out, "\n");
  const std::string peer = v.peer_name.empty() ? "peer" : v.peer_name;
  if (v.connection == "Connected") {
    absl::StrAppend(out, "  ", peer, " role:", v.peer_role, "\n");
  } else {
    absl::StrAppend(out, "  ", peer, " connection:", v.connection, "\n");
  }
  std::string pd = "   ";
  if (v.replication != "Established") absl::StrAppend(&pd, " replication:", v.replication);
  absl::StrAppend(&pd, " peer-disk:", v.peer_disk);
  if (v.resync.active) absl::StrAppend(&pd, " done:", Percent(v.resync.done_percent));
  if (v.verify.active) {
    absl::StrAppend(&pd, " verify-done:", Percent(v.verify.done_percent));
  }
  if (v.attached && v.verify.mismatch_blocks > 0) {
    absl::StrAppend(&pd, " verify-mismatches:", v.verify.mismatch_blocks);
  }
  absl::StrAppend(out, pd, "\n");
  if (!verbose) return;

  // /proc/drbd (8.4) style block.
  absl::StrAppend(out, "  ", index, ": cs:", Cs(v), " ro:", v.role, "/", v.peer_role,
                  " ds:", v.disk, "/", v.peer_disk, " ",
                  v.protocol.empty() ? "-" : v.protocol, "\n");
  if (!v.attached) {
    absl::StrAppend(out, "     counters: not available (",
                    v.detail.empty() ? "volume not attached" : v.detail, ")\n");
  } else {
    const Counters& c = v.counters;
    absl::StrAppend(out, "     ns:", c.ns, " nr:", c.nr, " dw:", c.dw, " dr:", c.dr,
                    " al:", c.al, " bm:", c.bm, " lo:", c.lo, " pe:", c.pe,
                    " ua:", c.ua, " ap:", c.ap, " oos:", c.oos, "\n");
    if (v.resync.active) {
      absl::StrAppend(out, "     ", ProgressBar(v.resync.done_percent),
                      " sync'ed: ", absl::StrFormat("%.1f", v.resync.done_percent),
                      "% (", v.resync.left_kib, "/", v.resync.total_kib, ")K finish: ",
                      FormatEta(v.resync.eta_s), " speed: ", v.resync.speed_kib_per_s,
                      " K/sec");
      if (v.resync.same_kib > 0) absl::StrAppend(out, " same: ", v.resync.same_kib, "K");
      absl::StrAppend(out, "\n");
    }
    if (v.verify.active || v.verify.mismatch_blocks > 0) {
      absl::StrAppend(out, "     verify: ", absl::StrFormat("%.1f", v.verify.done_percent),
                      "% (", v.verify.done_kib, "/", v.verify.total_kib, ")K finish: ",
                      FormatEta(v.verify.eta_s), " mismatched blocks: ",
                      v.verify.mismatch_blocks, v.verify.active ? "" : " (done)", "\n");
    }
  }
  if (v.attached && !v.detail.empty()) absl::StrAppend(out, "     ", v.detail, "\n");
  if (!v.backing_device.empty()) {
    absl::StrAppend(out, "     backing: ", v.backing_device);
    if (v.size_bytes > 0) absl::StrAppend(out, " size: ", v.size_bytes / 1024, "K");
    absl::StrAppend(out, "\n");
  }
  absl::StrAppend(out, "     gi: ", v.gi.known ? GiText(v.gi) : std::string("unknown"),
                  "\n");
  absl::StrAppend(out, "     last handshake: ",
                  v.last_handshake.empty() ? std::string("none") : v.last_handshake,
                  "\n");
}

void AppendCluster(const NodeStatus& s, std::string* out) {
  const ClusterStatus& c = s.cluster;
  absl::StrAppend(out, "cluster ", s.cluster_name, " node:", s.node_name, " id:",
                  s.node_id, "\n");
  if (!c.available) {
    absl::StrAppend(out, "  membership:unknown (",
                    c.detail.empty() ? "cluster view not available" : c.detail, ")\n");
    return;
  }
  absl::StrAppend(out, "  ", c.peer_name, " state:", c.peer_state);
  if (!c.links.empty()) {
    absl::StrAppend(out, " links:");
    for (size_t i = 0; i < c.links.size(); ++i) {
      absl::StrAppend(out, i ? "," : "", c.links[i].name, "=", c.links[i].state);
    }
  }
  absl::StrAppend(out, "\n");
  absl::StrAppend(out, "  quorum:", c.has_quorum ? "yes" : "no", " mode:", c.quorum_mode);
  if (!c.witness.empty()) absl::StrAppend(out, " witness:", c.witness);
  if (!c.quorum_detail.empty()) absl::StrAppend(out, " (", c.quorum_detail, ")");
  absl::StrAppend(out, "\n");
}

}  // namespace

std::string FormatEta(int64_t seconds) {
  if (seconds < 0) return "-";
  return absl::StrFormat("%d:%02d:%02d", seconds / 3600, (seconds / 60) % 60,
                         seconds % 60);
}

std::string FormatStatusText(const NodeStatus& status, bool verbose) {
  std::string out;
  for (size_t i = 0; i < status.volumes.size(); ++i) {
    AppendVolume(status.volumes[i], i, verbose, &out);
  }
  AppendCluster(status, &out);
  if (verbose && !status.daemon_version.empty()) {
    absl::StrAppend(&out, "daemon: ", status.daemon_version, " control:v",
                    status.control_version);
    if (!status.config_file.empty()) absl::StrAppend(&out, " config:", status.config_file);
    absl::StrAppend(&out, "\n");
  }
  return out;
}

absl::StatusOr<std::string> FormatStatusJson(const NodeStatus& status) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  auto s = google::protobuf::util::MessageToJsonString(ToProto(status), &out, o);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("status: JSON encoding failed: ",
                                            s.ToString()));
  }
  return out;
}

}  // namespace hafs::control
