#include "libhafs/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "absl/time/time.h"
#include "libhafs/cluster/failure_detector.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::config {
namespace {

using google::protobuf::TextFormat;

// Collects the text-format parser's errors as "source:line:col: message".
class Collector : public google::protobuf::io::ErrorCollector {
 public:
  explicit Collector(absl::string_view source) : source_(source) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1,
                                   ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, "warning: " + message);
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

// Validation context: maps a field path to its position in the file.
class Checker {
 public:
  Checker(absl::string_view source, const TextFormat::ParseInfoTree* tree)
      : source_(source), tree_(tree) {}

  // Records an error at `field` of `msg` (index for repeated fields, -1 else),
  // inside the nested message reached through `path` (a list of (field name,
  // index) from the root).
  void Error(const std::vector<std::pair<std::string, int>>& path,
             absl::string_view what, absl::string_view hint) {
    std::string where(source_);
    if (auto loc = Locate(path); loc.has_value()) {
      absl::StrAppend(&where, ":", loc->first + 1, ":", loc->second + 1);
    }
    std::vector<std::string> names;
    for (const auto& [name, index] : path) {
      names.push_back(index >= 0 ? absl::StrCat(name, "[", index, "]") : name);
    }
    std::string line = absl::StrCat(where, ": ", absl::StrJoin(names, "."),
                                    ": ", what);
    if (!hint.empty()) absl::StrAppend(&line, "; hint: ", hint);
    errors_.push_back(std::move(line));
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::optional<std::pair<int, int>> Locate(
      const std::vector<std::pair<std::string, int>>& path) const {
    const google::protobuf::Descriptor* desc = HafsConfig::descriptor();
    const TextFormat::ParseInfoTree* tree = tree_;
    std::optional<std::pair<int, int>> best;
    for (const auto& [name, index] : path) {
      if (tree == nullptr || desc == nullptr) break;
      const google::protobuf::FieldDescriptor* f = desc->FindFieldByName(name);
      if (f == nullptr) break;
      auto loc = tree->GetLocation(f, f->is_repeated() ? std::max(index, 0) : -1);
      if (loc.line < 0) break;
      best = std::make_pair(loc.line, loc.column);
      if (f->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) break;
      tree = tree->GetTreeForNested(f, f->is_repeated() ? std::max(index, 0) : -1);
      desc = f->message_type();
    }
    return best;
  }

  std::string source_;
  const TextFormat::ParseInfoTree* tree_;
  std::vector<std::string> errors_;
};

using Path = std::vector<std::pair<std::string, int>>;

bool ValidName(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// "host:port" or "[v6]:port" with port 1..65535.
bool ValidHostPort(absl::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  absl::string_view host = s.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(s.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return false;
  }
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find(':') == absl::string_view::npos;  // v6 needs brackets
}

void CheckOneOf(Checker& c, const Path& path, const std::string& value,
                const std::vector<absl::string_view>& allowed) {
  for (absl::string_view a : allowed) {
    if (value == a) return;
  }
  c.Error(path, absl::StrCat("\"", value, "\" is not a valid value"),
          absl::StrCat("use one of: ", absl::StrJoin(allowed, ", ")));
}

void DefaultString(std::string* field, absl::string_view value) {
  if (field->empty()) *field = std::string(value);
}
void DefaultU32(uint32_t value, uint32_t def, void (Volume::*set)(uint32_t),
                Volume& v) {
  if (value == 0) (v.*set)(def);
}

void FillDefaults(HafsConfig& cfg) {
  if (cfg.version() == 0) cfg.set_version(kConfigVersion);
  Volume& v = *cfg.mutable_volume();
  DefaultString(v.mutable_protocol(), "C");
  DefaultU32(v.al_extents(), 1237, &Volume::set_al_extents, v);
  if (!v.has_resync_rate_kib_per_s()) v.set_resync_rate_kib_per_s(250);
  if (!v.has_c_plan_ahead_ms()) v.set_c_plan_ahead_ms(2000);
  if (!v.has_c_fill_target_kib()) v.set_c_fill_target_kib(50);  // 0 = use c_delay_target_ms
  DefaultU32(v.c_delay_target_ms(), 1000, &Volume::set_c_delay_target_ms, v);
  if (!v.has_c_max_rate_kib_per_s()) v.set_c_max_rate_kib_per_s(102400);
  if (!v.has_disk_flushes()) v.set_disk_flushes(true);
  if (!v.has_md_flushes()) v.set_md_flushes(true);
  DefaultString(v.mutable_on_io_error(), "detach");
  DefaultString(v.mutable_on_congestion(), "block");
  DefaultString(v.mutable_verify_alg(), "xxh3-128");
  DefaultString(v.mutable_csums_alg(), "none");
  DefaultU32(v.timeout_ms(), 6000, &Volume::set_timeout_ms, v);
  DefaultU32(v.ping_int_ms(), 10000, &Volume::set_ping_int_ms, v);
  DefaultU32(v.ping_timeout_ms(), 500, &Volume::set_ping_timeout_ms, v);
  DefaultU32(v.connect_int_ms(), 10000, &Volume::set_connect_int_ms, v);
  DefaultU32(v.ko_count(), 7, &Volume::set_ko_count, v);

  Heartbeat& h = *cfg.mutable_heartbeat();
  if (h.keepalive_ms() == 0) h.set_keepalive_ms(1000);
  if (h.warntime_ms() == 0) h.set_warntime_ms(5000);
  if (h.deadtime_ms() == 0) h.set_deadtime_ms(10000);
  if (h.initdead_ms() == 0) h.set_initdead_ms(60000);

  Quorum& q = *cfg.mutable_quorum();
  DefaultString(q.mutable_mode(), "two_node");
  DefaultString(q.mutable_on_quorum_loss(), "demote");

  SplitBrain& sb = *cfg.mutable_split_brain();
  DefaultString(sb.mutable_after_sb_0pri(), "disconnect");
  DefaultString(sb.mutable_after_sb_1pri(), "disconnect");
  DefaultString(sb.mutable_after_sb_2pri(), "disconnect");
  DefaultString(sb.mutable_rr_conflict(), "disconnect");

  Nfs& n = *cfg.mutable_nfs();
  DefaultString(n.mutable_server(), "ganesha");
  DefaultString(n.mutable_fs_type(), "ext4");
  if (n.lease_s() == 0) n.set_lease_s(60);
  if (n.grace_s() == 0) n.set_grace_s(90);
  if (n.port() == 0) n.set_port(2049);
  if (n.server_scope().empty()) {
    n.set_server_scope(absl::StrCat("hafs-", cfg.cluster_name()));
  }

  DefaultString(cfg.mutable_security()->mutable_peer_auth(), "hmac");

  Resources& r = *cfg.mutable_resources();
  if (!r.has_migration_threshold()) r.set_migration_threshold(3);
  if (!r.has_failure_timeout_s()) r.set_failure_timeout_s(600);
}

void Validate(const HafsConfig& cfg, Checker& c) {
  if (cfg.version() != kConfigVersion) {
    c.Error({{"version", -1}},
            absl::StrCat("unsupported configuration version ", cfg.version()),
            absl::StrCat("this hafs reads version ", kConfigVersion));
  }
  if (!ValidName(cfg.cluster_name())) {
    c.Error({{"cluster_name", -1}},
            absl::StrCat("\"", cfg.cluster_name(), "\" is not a valid name"),
            "use 1..63 letters, digits, '-', '_' or '.'");
  }
  if (cfg.node_size() != 2) {
    c.Error({{"node", -1}},
            absl::StrCat("a pair needs exactly 2 nodes, found ", cfg.node_size()),
            "add one `node { ... }` block per node");
  }
  std::set<uint32_t> ids;
  std::set<std::string> names;
  for (int i = 0; i < cfg.node_size(); ++i) {
    const Node& n = cfg.node(i);
    if (!ValidName(n.name())) {
      c.Error({{"node", i}, {"name", -1}},
              absl::StrCat("\"", n.name(), "\" is not a valid node name"),
              "use 1..63 letters, digits, '-', '_' or '.'");
    } else if (!names.insert(n.name()).second) {
      c.Error({{"node", i}, {"name", -1}},
              absl::StrCat("duplicate node name \"", n.name(), "\""),
              "each node needs its own name");
    }
    if (n.id() > 1) {
      c.Error({{"node", i}, {"id", -1}},
              absl::StrCat("node id ", n.id(), " is out of range"),
              "the two nodes need ids 0 and 1");
    } else if (!ids.insert(n.id()).second) {
      c.Error({{"node", i}, {"id", -1}},
              absl::StrCat("duplicate node id ", n.id()),
              "the two nodes need ids 0 and 1");
    }
    if (!ValidHostPort(n.peer_address())) {
      c.Error({{"node", i}, {"peer_address", -1}},
              absl::StrCat("\"", n.peer_address(),
                           "\" is not a host:port address"),
              "write \"192.0.2.1:7788\" or \"[2001:db8::1]:7788\"");
    }
    if (!n.heartbeat_udp_address().empty() &&
        !ValidHostPort(n.heartbeat_udp_address())) {
      c.Error({{"node", i}, {"heartbeat_udp_address", -1}},
              absl::StrCat("\"", n.heartbeat_udp_address(),
                           "\" is not a host:port address"),
              "write \"192.0.2.1:7789\" or \"[2001:db8::1]:7789\"");
    }
    if (n.backing_device().empty()) {
      c.Error({{"node", i}, {"backing_device", -1}}, "missing",
              "name the block device or file that holds this node's replica");
    }
  }
  const Volume& v = cfg.volume();
  if (!ValidName(v.name())) {
    c.Error({{"volume", -1}, {"name", -1}},
            absl::StrCat("\"", v.name(), "\" is not a valid volume name"),
            "use 1..63 letters, digits, '-', '_' or '.'");
  }
  CheckOneOf(c, {{"volume", -1}, {"protocol", -1}}, v.protocol(), {"A", "B", "C"});
  if (v.al_extents() < 67 || v.al_extents() > 65534) {
    c.Error({{"volume", -1}, {"al_extents", -1}},
            absl::StrCat(v.al_extents(), " is out of range"),
            "use 67..65534 (each extent covers 4 MiB)");
  }
  CheckOneOf(c, {{"volume", -1}, {"on_io_error", -1}}, v.on_io_error(),
             {"detach", "pass_on", "call-local-io-error"});
  CheckOneOf(c, {{"volume", -1}, {"on_congestion", -1}}, v.on_congestion(),
             {"block", "pull-ahead"});
  if (v.on_congestion() == "pull-ahead" && v.protocol() != "A") {
    c.Error({{"volume", -1}, {"on_congestion", -1}},
            absl::StrCat("pull-ahead needs protocol A (the volume uses ", v.protocol(), ")"),
            "DRBD allows it with protocol A only; use on_congestion: \"block\" with B or C");
  }
  if (v.on_congestion() == "pull-ahead" && v.congestion_fill_kib() == 0) {
    c.Error({{"volume", -1}, {"on_congestion", -1}},
            "pull-ahead without a congestion threshold never goes Ahead",
            "set congestion_fill_kib, e.g. a few seconds of the link's throughput");
  }
  CheckOneOf(c, {{"volume", -1}, {"verify_alg", -1}}, v.verify_alg(),
             {"xxh3-128", "none"});
  CheckOneOf(c, {{"volume", -1}, {"csums_alg", -1}}, v.csums_alg(), {"none", "xxh3-128"});
  if (v.ping_timeout_ms() >= v.timeout_ms()) {
    c.Error({{"volume", -1}, {"ping_timeout_ms", -1}},
            absl::StrCat("ping_timeout_ms (", v.ping_timeout_ms(),
                         ") must be below timeout_ms (", v.timeout_ms(), ")"),
            "DRBD's defaults are 500 and 6000");
  }

  const Heartbeat& h = cfg.heartbeat();
  {
    // One set of rules for Heartbeat's timers: the failure detector's.
    cluster::TimingOptions t;
    t.keepalive = absl::Milliseconds(h.keepalive_ms());
    t.warntime = absl::Milliseconds(h.warntime_ms());
    t.deadtime = absl::Milliseconds(h.deadtime_ms());
    t.initdead = absl::Milliseconds(h.initdead_ms());
    absl::StatusOr<cluster::TimingOptions> checked = cluster::ValidateTiming(t, nullptr);
    if (!checked.ok()) {
      c.Error({{"heartbeat", -1}}, checked.status().message(),
              "e.g. keepalive_ms: 1000 warntime_ms: 5000 deadtime_ms: 10000 "
              "initdead_ms: 60000 (docs/cluster.md, Timers)");
    }
  }
  if (!h.preferred_node().empty() && !names.count(h.preferred_node())) {
    c.Error({{"heartbeat", -1}, {"preferred_node", -1}},
            absl::StrCat("\"", h.preferred_node(), "\" is not a node name"),
            "use one of the names in the node blocks");
  }

  const Quorum& q = cfg.quorum();
  CheckOneOf(c, {{"quorum", -1}, {"mode", -1}}, q.mode(), {"two_node", "off"});
  CheckOneOf(c, {{"quorum", -1}, {"on_quorum_loss", -1}}, q.on_quorum_loss(),
             {"demote", "suspend-io", "fail-io"});
  if (!q.witness_address().empty() && !ValidHostPort(q.witness_address())) {
    c.Error({{"quorum", -1}, {"witness_address", -1}},
            absl::StrCat("\"", q.witness_address(), "\" is not a host:port address"),
            "write \"192.0.2.3:7790\"");
  }

  const Nfs& n = cfg.nfs();
  CheckOneOf(c, {{"nfs", -1}, {"server", -1}}, n.server(), {"ganesha", "knfsd"});
  CheckOneOf(c, {{"nfs", -1}, {"fs_type", -1}}, n.fs_type(), {"ext4", "xfs"});
  if (n.port() > 65535) {
    c.Error({{"nfs", -1}, {"port", -1}}, absl::StrCat(n.port(), " is not a port"),
            "use 1..65535 (2049 is NFS's)");
  }
  if (n.grace_s() < n.lease_s()) {
    c.Error({{"nfs", -1}, {"grace_s", -1}},
            absl::StrCat("grace (", n.grace_s(), " s) is shorter than the lease (",
                         n.lease_s(), " s)"),
            "clients need at least one lease period to reclaim; set grace_s >= lease_s");
  }
  for (int i = 0; i < n.virtual_ip_size(); ++i) {
    std::vector<absl::string_view> parts = absl::StrSplit(n.virtual_ip(i), '/');
    uint32_t len = 0;
    if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &len) ||
        len > (absl::StrContains(parts[0], ':') ? 128u : 32u)) {
      c.Error({{"nfs", -1}, {"virtual_ip", i}},
              absl::StrCat("\"", n.virtual_ip(i), "\" is not address/prefix-length"),
              "write \"2001:db8::10/64\" or \"192.0.2.10/24\"");
    }
  }

  const Resources& r = cfg.resources();
  if (r.migration_threshold() > 1000) {
    c.Error({{"resources", -1}, {"migration_threshold", -1}},
            absl::StrCat(r.migration_threshold(), " failures is not a useful threshold"),
            "use 1..1000 (default 3), or 0 to never move the service because of failures");
  }
  if (r.failure_timeout_s() > 7 * 24 * 3600) {
    c.Error({{"resources", -1}, {"failure_timeout_s", -1}},
            absl::StrCat(r.failure_timeout_s(), " s is longer than a week"),
            "use up to 604800 (default 600), or 0 to keep failures until `hafsctl cleanup`");
  }

  // The split-brain policies, by the resolver's own parser (its error names
  // every valid value).
  {
    const SplitBrain& sb = cfg.split_brain();
    const std::vector<std::tuple<const char*, const char*, const std::string*>> keys = {
        {"after_sb_0pri", "after-sb-0pri", &sb.after_sb_0pri()},
        {"after_sb_1pri", "after-sb-1pri", &sb.after_sb_1pri()},
        {"after_sb_2pri", "after-sb-2pri", &sb.after_sb_2pri()},
        {"rr_conflict", "rr-conflict", &sb.rr_conflict()}};
    for (const auto& [field, key, value] : keys) {
      splitbrain::SplitBrainPolicy scratch;
      absl::Status st = scratch.Set(key, *value);
      if (!st.ok()) {
        c.Error({{"split_brain", -1}, {field, -1}}, st.message(),
                "docs/splitbrain.md lists what each value does");
      }
    }
  }
  // Commands hafs runs: an absolute path first (no shell, no PATH lookup).
  auto check_command = [&](std::vector<std::pair<std::string, int>> where,
                           const std::string& command) {
    const size_t first = command.find_first_not_of(' ');
    if (first == std::string::npos || command[first] == '/') return;
    c.Error(std::move(where),
            absl::StrCat("\"", command, "\" does not start with an absolute path"),
            "write the program's full path, e.g. \"/usr/local/sbin/notify-admin --mail ops\"");
  };
  check_command({{"quorum", -1}, {"fence_peer_command", -1}}, q.fence_peer_command());
  check_command({{"volume", -1}, {"local_io_error_handler", -1}},
                cfg.volume().local_io_error_handler());
  if (cfg.volume().on_io_error() == "call-local-io-error" &&
      cfg.volume().local_io_error_handler().empty()) {
    c.Error({{"volume", -1}, {"on_io_error", -1}},
            "call-local-io-error without a local_io_error_handler",
            "set volume.local_io_error_handler, or use on_io_error: \"pass_on\"");
  }
  check_command({{"split_brain", -1}, {"split_brain_handler", -1}},
                cfg.split_brain().split_brain_handler());
  check_command({{"split_brain", -1}, {"pri_lost_after_sb_handler", -1}},
                cfg.split_brain().pri_lost_after_sb_handler());

  const Security& s = cfg.security();
  CheckOneOf(c, {{"security", -1}, {"peer_auth", -1}}, s.peer_auth(), {"hmac", "mtls"});
  if (s.peer_auth() == "mtls" &&
      (s.tls_cert_file().empty() || s.tls_key_file().empty() || s.tls_ca_file().empty())) {
    c.Error({{"security", -1}, {"peer_auth", -1}},
            "mtls needs tls_cert_file, tls_key_file and tls_ca_file",
            "set all three, or use peer_auth: \"hmac\" with an authkeys_file");
  }
}

}  // namespace

absl::StatusOr<HafsConfig> LoadConfigText(absl::string_view text,
                                          absl::string_view source) {
  HafsConfig cfg;
  TextFormat::Parser parser;
  Collector collector(source);
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &cfg)) {
    std::vector<std::string> errors = collector.errors();
    if (errors.empty()) errors.push_back(absl::StrCat(source, ": cannot parse"));
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  FillDefaults(cfg);
  Checker checker(source, &tree);
  Validate(cfg, checker);
  if (!checker.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(checker.errors(), "\n"));
  }
  return cfg;
}

absl::StatusOr<HafsConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int err = errno;
    std::string msg = absl::StrCat(path, ": cannot read: ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), path);
}

std::string DefaultLocalPairConfigText(absl::string_view state_dir) {
  return absl::Substitute(R"conf(# hafs embedded default: a local pair on one machine (loopback).
version: 1
cluster_name: "local"
node {
  name: "alpha"
  id: 0
  peer_address: "127.0.0.1:7788"
  heartbeat_udp_address: "127.0.0.1:7789"
  backing_device: "$0/alpha.img"
}
node {
  name: "bravo"
  id: 1
  peer_address: "127.0.0.1:7798"
  heartbeat_udp_address: "127.0.0.1:7799"
  backing_device: "$0/bravo.img"
}
volume { name: "r0" protocol: "C" al_extents: 67 connect_int_ms: 1000
         c_fill_target_kib: 8192 }
heartbeat { keepalive_ms: 200 warntime_ms: 600 deadtime_ms: 1000 initdead_ms: 4000
            auto_failback: false preferred_node: "alpha" }
quorum { mode: "off" }
nfs {
  server: "ganesha"
  mount_point: "$0/mnt"
  exports: "$0/mnt *(rw,fsid=0,no_root_squash,sync,no_subtree_check)"
  format_if_blank: true
  virtual_ip: "127.0.0.100/32"
  interface: "lo"
  lease_s: 10
  grace_s: 15
  port: 20490
}
security { peer_auth: "hmac" authkeys_file: "$0/authkeys" }
)conf",
                          state_dir);
}

std::string ToText(const HafsConfig& cfg) {
  std::string out;
  TextFormat::PrintToString(cfg, &out);
  return out;
}

std::vector<std::string> DescribeChanges(const HafsConfig& from, const HafsConfig& to) {
  using google::protobuf::util::MessageDifferencer;
  std::string text;
  {
    google::protobuf::io::StringOutputStream stream(&text);
    MessageDifferencer::StreamReporter reporter(&stream);
    reporter.set_report_modified_aggregates(false);
    MessageDifferencer d;
    d.ReportDifferencesTo(&reporter);
    d.Compare(from, to);
  }  // the reporter flushes into `text` here
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(line));
  }
  return out;
}

}  // namespace hafs::config
