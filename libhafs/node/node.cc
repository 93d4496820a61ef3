#include "libhafs/node/node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libhafs/auth/keyring.h"
#include "libhafs/base/files.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/config/config.h"
#include "libhafs/cluster/runtime/cluster_node.h"
#include "libhafs/cluster/runtime/config_options.h"
#include "libhafs/frontend/fuse_export.h"
#include "libhafs/frontend/gated_volume_io.h"
#include "libhafs/frontend/loop_device.h"
#include "libhafs/frontend/volume_io.h"
#include "libhafs/mirror/volume.h"
#include "libhafs/node/handler_runner.h"
#include "libhafs/peer/grpc_transport.h"
#include "libhafs/resources/executor.h"
#include "libhafs/resources/filesystem_agent.h"
#include "libhafs/resources/knfsd_server_agent.h"
#include "libhafs/resources/nfs_server_agent.h"
#include "libhafs/resources/process_runner.h"
#include "libhafs/resources/virtual_ip_agent.h"
#include "libhafs/resources/volume_agent.h"
#include "libhafs/splitbrain/policy.h"
#include "libhafs/version/version.h"

namespace hafs::node {
namespace {

// The mirror Volume as the front end's VolumeIo (blocking, thread-safe).
class VolumeIoAdapter final : public frontend::VolumeIo {
 public:
  explicit VolumeIoAdapter(mirror::Volume* v) : v_(v) {}
  uint64_t size_bytes() const override { return v_->size_bytes(); }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    return v_->Read(offset, out);
  }
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua) override {
    return v_->Write(offset, data, fua);
  }
  absl::Status Flush() override { return v_->Flush(); }

 private:
  mirror::Volume* v_;
};

// The mirror Volume as the Volume agent's port.
class VolumeControlAdapter final : public resources::VolumeControl {
 public:
  explicit VolumeControlAdapter(mirror::Volume* v) : v_(v) {}
  absl::Status Promote(bool force) override { return v_->Promote(force); }
  absl::Status Demote() override { return v_->Demote(); }
  resources::VolumeRole Role() override { return v_->status().replication.role; }
  resources::VolumeDiskState DiskState() override { return v_->status().replication.disk; }

 private:
  mirror::Volume* v_;
};

// Loop device over the FUSE file, published as a stable symlink for the
// Filesystem agent; formats a blank volume once when asked to.
class LoopAgent final : public resources::Agent {
 public:
  LoopAgent(std::string file, std::string link, std::string fs_type, bool format_if_blank,
            frontend::VolumeIo* io, resources::ProcessRunner* runner)
      : file_(std::move(file)),
        link_(std::move(link)),
        fs_type_(std::move(fs_type)),
        format_if_blank_(format_if_blank),
        io_(io),
        runner_(runner) {}

  resources::AgentOutcome Start(absl::Duration timeout) override {
    if (loop_ && !loop_->closed()) return {resources::AgentOutcome::kOk, loop_->path()};
    absl::StatusOr<std::unique_ptr<frontend::LoopDevice>> l =
        frontend::LoopDevice::Attach({.backing_file = file_});
    if (!l.ok()) {
      return {resources::AgentOutcome::kFailed,
              absl::StrCat("loop device over ", file_, ": ", l.status().message())};
    }
    loop_ = std::move(*l);
    ::unlink(link_.c_str());
    if (::symlink(loop_->path().c_str(), link_.c_str()) != 0) {
      const int err = errno;
      Reset();
      return {resources::AgentOutcome::kFailed,
              absl::StrCat("symlink ", link_, ": ", std::strerror(err))};
    }
    if (format_if_blank_) {
      absl::StatusOr<bool> blank = Blank();
      if (!blank.ok()) {
        Reset();
        return {resources::AgentOutcome::kFailed,
                absl::StrCat("reading the volume header: ", blank.status().message())};
      }
      if (*blank) {
        HAFS_LOG(WARNING) << "the volume is blank (first 1 MiB all zeros): creating an "
                          << fs_type_ << " file system on " << loop_->path();
        resources::ProcessSpec spec;
        spec.argv = {absl::StrCat("/sbin/mkfs.", fs_type_), "-q", loop_->path()};
        spec.timeout = timeout;
        absl::StatusOr<resources::ProcessResult> r = runner_->Run(spec);
        if (!r.ok() || r->exit_code != 0) {
          Reset();
          return {resources::AgentOutcome::kFailed,
                  absl::StrCat("mkfs.", fs_type_, " failed: ",
                               r.ok() ? r->output : std::string(r.status().message()))};
        }
      }
    }
    return {resources::AgentOutcome::kOk, loop_->path()};
  }

  resources::AgentOutcome Stop(absl::Duration) override {
    ::unlink(link_.c_str());
    if (!loop_) return {resources::AgentOutcome::kOk, ""};
    absl::Status s = loop_->Close();
    loop_.reset();
    if (!s.ok()) return {resources::AgentOutcome::kStopFailed, std::string(s.message())};
    return {resources::AgentOutcome::kOk, ""};
  }

  resources::AgentOutcome Monitor(absl::Duration) override {
    if (!loop_ || loop_->closed()) return {resources::AgentOutcome::kNotRunning, ""};
    struct stat st;
    if (::stat(link_.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
      return {resources::AgentOutcome::kFailed, absl::StrCat(link_, " is gone")};
    }
    return {resources::AgentOutcome::kOk, loop_->path()};
  }

 private:
  // Undoes a partial start so that a retry starts from scratch.
  void Reset() {
    ::unlink(link_.c_str());
    if (loop_) (void)loop_->Close();
    loop_.reset();
  }

  absl::StatusOr<bool> Blank() {
    io::AlignedBuffer head(1 << 20);
    HAFS_RETURN_IF_ERROR(io_->Read(0, head.span()));
    for (size_t i = 0; i < head.size(); ++i) {
      if (head.data()[i] != 0) return false;
    }
    return true;
  }

  const std::string file_, link_, fs_type_;
  const bool format_if_blank_;
  frontend::VolumeIo* io_;
  resources::ProcessRunner* runner_;
  std::unique_ptr<frontend::LoopDevice> loop_;
};

uint64_t Kib(uint64_t bytes) { return bytes / 1024; }

// The cluster runtime's view of the local disk: the transient states count as
// no usable disk.
cluster::DiskState ClusterDisk(splitbrain::DiskState d) {
  switch (d) {
    case splitbrain::DiskState::kUpToDate:
    case splitbrain::DiskState::kConsistent:
    case splitbrain::DiskState::kOutdated:
    case splitbrain::DiskState::kInconsistent:
      return d;
    default:
      return splitbrain::DiskState::kDiskless;
  }
}

// The volume options hafsd may change on a live volume (SIGHUP, as drbdadm
// adjust): the resync controller and the split-brain policy.
mirror::ResyncControllerOptions ResyncFromConfig(const config::HafsConfig& cfg) {
  mirror::ResyncControllerOptions r;
  r.plan_ahead = absl::Milliseconds(cfg.volume().c_plan_ahead_ms());
  r.fill_target_bytes = uint64_t{cfg.volume().c_fill_target_kib()} * 1024;
  r.delay_target = absl::Milliseconds(cfg.volume().c_delay_target_ms());
  r.max_rate_bytes_per_s = uint64_t{cfg.volume().c_max_rate_kib_per_s()} * 1024;
  r.rate_bytes_per_s = uint64_t{cfg.volume().resync_rate_kib_per_s()} * 1024;
  return r;
}

absl::StatusOr<splitbrain::SplitBrainPolicy> SplitBrainFromConfig(const config::HafsConfig& cfg) {
  splitbrain::SplitBrainPolicy policy;
  const config::SplitBrain& sb = cfg.split_brain();
  for (const auto& [key, value] :
       std::vector<std::pair<const char*, std::string>>{
           {"after-sb-0pri", sb.after_sb_0pri()},
           {"after-sb-1pri", sb.after_sb_1pri()},
           {"after-sb-2pri", sb.after_sb_2pri()},
           {"rr-conflict", sb.rr_conflict()}}) {
    HAFS_RETURN_IF_ERROR(policy.Set(key, value));
  }
  return policy;
}

// The config fields ResyncFromConfig / SplitBrainFromConfig read: (section,
// field) of HafsConfig, both singular.
constexpr std::pair<const char*, const char*> kLiveFields[] = {
    {"volume", "c_plan_ahead_ms"},      {"volume", "c_fill_target_kib"},
    {"volume", "c_delay_target_ms"},    {"volume", "c_max_rate_kib_per_s"},
    {"volume", "resync_rate_kib_per_s"}, {"split_brain", "after_sb_0pri"},
    {"split_brain", "after_sb_1pri"},   {"split_brain", "after_sb_2pri"},
    {"split_brain", "rr_conflict"}};

// A DescribeChanges line about one of kLiveFields.
bool IsLiveAdjustable(absl::string_view change) {
  for (const auto& [section, field] : kLiveFields) {
    if (absl::StrContains(change, absl::StrCat(" ", section, ".", field, ":"))) return true;
  }
  return false;
}

// Copies kLiveFields from `from` into `to`.
void CopyLiveFields(const config::HafsConfig& from, config::HafsConfig* to) {
  namespace pb = google::protobuf;
  for (const auto& [section, field] : kLiveFields) {
    const pb::FieldDescriptor* s = to->GetDescriptor()->FindFieldByName(section);
    HAFS_CHECK(s != nullptr) << section;
    const pb::Message& src = from.GetReflection()->GetMessage(from, s);
    pb::Message* dst = to->GetReflection()->MutableMessage(to, s);
    const pb::FieldDescriptor* f = src.GetDescriptor()->FindFieldByName(field);
    HAFS_CHECK(f != nullptr) << section << "." << field;
    const pb::Reflection* sr = src.GetReflection();
    const pb::Reflection* dr = dst->GetReflection();
    if (!sr->HasField(src, f)) {
      dr->ClearField(dst, f);
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32) {
      dr->SetUInt32(dst, f, sr->GetUInt32(src, f));
    } else {
      HAFS_CHECK(f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) << section << "." << field;
      dr->SetString(dst, f, sr->GetString(src, f));
    }
  }
}

absl::StatusOr<mirror::Protocol> ParseProtocol(const std::string& p) {
  if (p == "A") return mirror::Protocol::kA;
  if (p == "B") return mirror::Protocol::kB;
  if (p == "C") return mirror::Protocol::kC;
  return absl::InvalidArgumentError(absl::StrCat("protocol \"", p, "\""));
}

}  // namespace

struct Node::Parts {
  const config::Node* self = nullptr;
  const config::Node* peer = nullptr;
  std::unique_ptr<peer::PeerServer> server;
  std::unique_ptr<peer::GrpcTransport> transport;
  // Handler commands the volume asks for (split-brain, pri-lost-after-sb,
  // local-io-error); outlives the volume.
  std::unique_ptr<HandlerRunner> handlers;
  std::unique_ptr<mirror::Volume> volume;
  std::unique_ptr<VolumeIoAdapter> io;
  // What the front end uses: the volume behind the quorum-loss I/O gate.
  std::unique_ptr<frontend::GatedVolumeIo> gated;
  std::unique_ptr<VolumeControlAdapter> control;
  std::unique_ptr<frontend::FuseExport> fuse;
  std::unique_ptr<resources::GroupExecutor> executor;
  std::unique_ptr<cluster::ClusterNode> cluster;
  resources::VolumeAgent* volume_agent = nullptr;  // owned by the executor
  // Reload(exports) of the NFS server agent (Ganesha or knfsd; the agent is
  // owned by the executor); empty when the node runs no NFS server.
  std::function<resources::AgentOutcome(const std::string&)> nfs_reload;
};

Node::Node(NodeOptions options)
    : opt_(std::move(options)),
      clock_(opt_.clock ? opt_.clock : Clock::System()),
      parts_(std::make_unique<Parts>()),
      live_config_(opt_.config) {}

Node::~Node() {
  (void)Stop();
}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(NodeOptions options) {
  std::unique_ptr<Node> node(new Node(std::move(options)));
  HAFS_RETURN_IF_ERROR(node->Init());
  return node;
}

absl::Status Node::Init() {
  const config::HafsConfig& cfg = opt_.config;
  Parts& p = *parts_;
  for (const config::Node& n : cfg.node()) {
    if (n.name() == opt_.node_name) {
      p.self = &n;
    } else {
      p.peer = &n;
    }
  }
  if (p.self == nullptr || p.peer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node \"", opt_.node_name, "\" is not in the configuration (nodes: ",
        cfg.node(0).name(), ", ", cfg.node(1).name(), ")"));
  }
  if (opt_.run_dir.empty()) opt_.run_dir = absl::StrCat("/run/hafs/", opt_.node_name);
  HAFS_RETURN_IF_ERROR(MakeDirs(opt_.run_dir));
  started_unix_s_ = absl::ToUnixSeconds(absl::Now());

  // 1. Peer service with authentication.
  peer::PeerServiceOptions ps;
  ps.auth.cluster_name = cfg.cluster_name();
  ps.auth.node_id = p.self->id();
  ps.auth.node_name = p.self->name();
  ps.auth.incarnation = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  ps.auth.expected_peer_node_id = p.peer->id();
  if (cfg.security().peer_auth() == "mtls") {
    ps.auth.mode = peer::AuthMode::kMtls;
    ps.tls = {cfg.security().tls_cert_file(), cfg.security().tls_key_file(),
              cfg.security().tls_ca_file(), ""};
  }
  if (!cfg.security().authkeys_file().empty()) {
    absl::StatusOr<auth::KeyRing> keys = auth::KeyRing::LoadFile(cfg.security().authkeys_file());
    if (!keys.ok()) {
      return absl::Status(keys.status().code(),
                          absl::StrCat("authkeys: ", keys.status().message()));
    }
    ps.auth.keys = std::make_shared<const auth::KeyRing>(std::move(*keys));
  }
  absl::StatusOr<std::unique_ptr<peer::PeerServer>> server =
      peer::PeerServer::Start(ps, p.self->peer_address());
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("peer service on ", p.self->peer_address(), ": ",
                                     server.status().message()));
  }
  p.server = std::move(*server);
  peer::GrpcTransportOptions to;
  to.channel = cfg.volume().name();
  to.peer_address = p.peer->peer_address();
  to.transport.connect_interval = absl::Milliseconds(cfg.volume().connect_int_ms());
  HAFS_ASSIGN_OR_RETURN(p.transport, peer::GrpcTransport::Create(p.server.get(), to));

  // 2. The replicated volume.
  mirror::VolumeOptions vo;
  vo.name = cfg.volume().name();
  vo.backing_path = p.self->backing_device();
  vo.meta_path = p.self->meta_device();
  vo.node_id = p.self->id();
  vo.node_name = p.self->name();
  vo.peer_node_id = p.peer->id();
  vo.peer_name = p.peer->name();
  vo.transport = p.transport.get();
  vo.clock = clock_;
  mirror::ReplicatorOptions& r = vo.replication;
  HAFS_ASSIGN_OR_RETURN(r.protocol, ParseProtocol(cfg.volume().protocol()));
  HAFS_ASSIGN_OR_RETURN(r.split_brain, SplitBrainFromConfig(cfg));
  r.split_brain.protocol = r.protocol;
  r.resync = ResyncFromConfig(cfg);
  r.ping_int = absl::Milliseconds(cfg.volume().ping_int_ms());
  r.ping_timeout = absl::Milliseconds(cfg.volume().ping_timeout_ms());
  r.timeout = absl::Milliseconds(cfg.volume().timeout_ms());
  r.ko_count = static_cast<int>(cfg.volume().ko_count());
  // Validated at load: one of the three.
  r.on_io_error = cfg.volume().on_io_error() == "pass_on" ? mirror::OnIoError::kPassOn
                  : cfg.volume().on_io_error() == "call-local-io-error"
                      ? mirror::OnIoError::kCallLocalIoError
                      : mirror::OnIoError::kDetach;
  r.disk_flushes = cfg.volume().disk_flushes();
  vo.md_flushes = cfg.volume().md_flushes();
  if (!r.disk_flushes || !vo.md_flushes) {
    HAFS_LOG(WARNING) << vo.name << ": "
                      << (!r.disk_flushes && !vo.md_flushes ? "disk_flushes and md_flushes are"
                          : !r.disk_flushes                 ? "disk_flushes is"
                                                            : "md_flushes is")
                      << " off: safe only if " << vo.backing_path
                      << " has a battery-backed (non-volatile) write cache; on any other "
                         "device a power cut loses acknowledged writes";
  }
  r.pull_ahead = cfg.volume().on_congestion() == "pull-ahead";
  r.congestion_fill_bytes = uint64_t{cfg.volume().congestion_fill_kib()} * 1024;
  r.verify_enabled = cfg.volume().verify_alg() != "none";
  r.csum_resync = cfg.volume().csums_alg() == "xxh3-128";
  p.handlers = std::make_unique<HandlerRunner>(
      resources::ProcessRunner::System(),
      HandlerRunnerOptions{.resource = vo.name, .node_name = vo.node_name,
                           .peer_name = vo.peer_name},
      [this](const std::string& line) {
        HAFS_LOG(WARNING) << opt_.config.volume().name() << ": " << line;
        events_.Publish(absl::StrCat("helper result name:", opt_.config.volume().name(),
                                     " result:", line));
      });
  vo.on_event = [this](const mirror::VolumeEvent& e) {
    switch (e.kind) {
      // The volume has logged the line (and the handler call) itself.
      case mirror::VolumeEvent::Kind::kLog:
        events_.Publish(absl::StrCat("log resource name:", opt_.config.volume().name(),
                                     " message:", e.text));
        break;
      case mirror::VolumeEvent::Kind::kHandler: {
        events_.Publish(absl::StrCat("call helper name:", opt_.config.volume().name(),
                                     " helper:", e.text));
        const config::SplitBrain& sbc = opt_.config.split_brain();
        if (e.text == "split-brain") {
          parts_->handlers->Call(e.text, sbc.split_brain_handler());
        } else if (e.text == "pri-lost-after-sb") {
          parts_->handlers->Call(e.text, sbc.pri_lost_after_sb_handler());
        } else if (e.text == "local-io-error") {
          parts_->handlers->Call(e.text, opt_.config.volume().local_io_error_handler());
        }
        break;
      }
      case mirror::VolumeEvent::Kind::kVerifyMismatch:
        events_.Publish(absl::StrCat("out-of-sync name:", opt_.config.volume().name(),
                                     " offset:", e.offset, " length:", e.length));
        break;
    }
  };
  absl::StatusOr<std::unique_ptr<mirror::Volume>> volume = mirror::Volume::Open(vo);
  if (!volume.ok()) {
    return absl::Status(volume.status().code(),
                        absl::StrCat("volume ", vo.name, " on ", vo.backing_path, ": ",
                                     volume.status().message(),
                                     " (hint: `hafsctl create-md` creates its metadata)"));
  }
  p.volume = std::move(*volume);
  // The AL's size lives in the metadata (create-md); DRBD would resize it,
  // hafs keeps the metadata's and says so.
  if (const uint64_t md_al = p.volume->status().al_extents;
      md_al != 0 && md_al != cfg.volume().al_extents()) {
    HAFS_LOG(WARNING) << vo.name << ": the configuration says al_extents: "
                      << cfg.volume().al_extents() << " but the metadata on "
                      << vo.backing_path << " holds an activity log of " << md_al
                      << " extents (set by create-md), which is used; hint: set al_extents: "
                      << md_al << ", or re-create the metadata of an empty device with "
                      << "`hafsctl create-md --al-extents " << cfg.volume().al_extents() << "`";
  }
  p.io = std::make_unique<VolumeIoAdapter>(p.volume.get());
  p.gated = std::make_unique<frontend::GatedVolumeIo>(p.io.get());
  p.control = std::make_unique<VolumeControlAdapter>(p.volume.get());

  // 3. Front end: the volume as one file in a FUSE mount.
  const std::string fuse_dir = absl::StrCat(opt_.run_dir, "/fuse");
  HAFS_RETURN_IF_ERROR(MakeDirs(fuse_dir));
  frontend::FuseExportOptions fo;
  fo.mountpoint = fuse_dir;
  fo.fsname = absl::StrCat("hafs-", vo.name);
  absl::StatusOr<std::unique_ptr<frontend::FuseExport>> fuse =
      frontend::FuseExport::Start(p.gated.get(), fo);
  if (!fuse.ok()) {
    return absl::Status(fuse.status().code(),
                        absl::StrCat("FUSE front end at ", fuse_dir, ": ",
                                     fuse.status().message()));
  }
  p.fuse = std::move(*fuse);

  // 4. The resource group.
  resources::GroupSpec g;
  g.name = absl::StrCat(cfg.cluster_name(), "-nfs");
  g.start_failure_is_fatal = false;
  std::map<std::string, std::unique_ptr<resources::Agent>> agents;
  const config::Nfs& nfs = cfg.nfs();
  {
    resources::ResourceSpec s;
    s.name = "volume";
    s.kind = resources::AgentKind::kVolume;
    s.params["volume"] = vo.name;
    auto a = std::make_unique<resources::VolumeAgent>(s, p.control.get());
    p.volume_agent = a.get();
    agents[s.name] = std::move(a);
    g.resources.push_back(s);
  }
  const std::string device_link = absl::StrCat(opt_.run_dir, "/volume.dev");
  {
    resources::ResourceSpec s;
    s.name = "device";
    s.kind = resources::AgentKind::kCommand;  // node-internal agent
    s.start_timeout = absl::Seconds(120);      // may format a blank volume
    agents[s.name] = std::make_unique<LoopAgent>(
        p.fuse->file_path(), device_link, nfs.fs_type(), nfs.format_if_blank(), p.gated.get(),
        resources::ProcessRunner::System());
    g.resources.push_back(s);
  }
  if (!nfs.mount_point().empty()) {
    resources::ResourceSpec s;
    s.name = "fs";
    s.kind = resources::AgentKind::kFilesystem;
    s.start_timeout = absl::Seconds(120);
    s.params["device"] = device_link;
    s.params["mount_point"] = nfs.mount_point();
    s.params["fstype"] = nfs.fs_type();
    s.params["kill_holders"] = "true";
    HAFS_RETURN_IF_ERROR(resources::FilesystemAgent::Validate(s));
    agents[s.name] = std::make_unique<resources::FilesystemAgent>(
        s, resources::ProcessRunner::System(), clock_);
    g.resources.push_back(s);
    if (!nfs.exports().empty() && nfs.server() == "knfsd") {
      // The host's kernel nfsd: hafs owns one /etc/exports.d file.
      resources::ResourceSpec n;
      n.name = "nfsd";
      n.kind = resources::AgentKind::kNfsServer;
      n.start_timeout = absl::Seconds(60);
      n.params["mount_point"] = nfs.mount_point();
      n.params["exports"] = nfs.exports();
      n.params["lease_s"] = absl::StrCat(nfs.lease_s());
      n.params["grace_s"] = absl::StrCat(nfs.grace_s());
      HAFS_RETURN_IF_ERROR(resources::KnfsdServerAgent::Validate(n));
      auto nfs_agent = std::make_unique<resources::KnfsdServerAgent>(
          n, resources::ProcessRunner::System());
      resources::KnfsdServerAgent* raw = nfs_agent.get();
      p.nfs_reload = [raw](const std::string& e) { return raw->Reload(e); };
      agents[n.name] = std::move(nfs_agent);
      g.resources.push_back(n);
    } else if (!nfs.exports().empty()) {
      resources::ResourceSpec n;
      n.name = "nfsd";
      n.kind = resources::AgentKind::kNfsServer;
      n.start_timeout = absl::Seconds(60);
      n.params["mount_point"] = nfs.mount_point();
      n.params["exports"] = nfs.exports();
      n.params["port"] = absl::StrCat(nfs.port());
      n.params["lease_s"] = absl::StrCat(nfs.lease_s());
      n.params["grace_s"] = absl::StrCat(nfs.grace_s());
      n.params["server_scope"] = nfs.server_scope();
      n.params["state_dir"] = absl::StrCat(opt_.run_dir, "/ganesha");
      n.params["bind_addr"] = "0.0.0.0";  // the VIP comes after Ganesha
      HAFS_RETURN_IF_ERROR(resources::NfsServerAgent::Validate(n));
      auto nfs_agent = std::make_unique<resources::NfsServerAgent>(n, clock_);
      resources::NfsServerAgent* raw = nfs_agent.get();
      p.nfs_reload = [raw](const std::string& e) { return raw->Reload(e); };
      agents[n.name] = std::move(nfs_agent);
      g.resources.push_back(n);
    }
  }
  // The address comes last: clients reach it once NFS serves.
  int vip_index = 0;
  for (const std::string& vip : nfs.virtual_ip()) {
    resources::ResourceSpec s;
    s.name = absl::StrCat("vip", vip_index++);
    s.kind = resources::AgentKind::kVirtualIp;
    s.params["ip"] = vip;
    s.params["interface"] = nfs.interface().empty() ? "lo" : nfs.interface();
    HAFS_RETURN_IF_ERROR(resources::VirtualIpAgent::Validate(s));
    agents[s.name] = std::make_unique<resources::VirtualIpAgent>(s, clock_);
    g.resources.push_back(s);
  }
  // Pacemaker's migration-threshold / failure-timeout for every resource but
  // the volume, whose promotion is refused for a moment during every takeover
  // (start_failure_is_fatal is off for the same reason).
  for (resources::ResourceSpec& s : g.resources) {
    s.failure_timeout = absl::Seconds(cfg.resources().failure_timeout_s());
    if (s.name != "volume") {
      s.migration_threshold = static_cast<int>(cfg.resources().migration_threshold());
    }
  }
  HAFS_RETURN_IF_ERROR(resources::ValidateGroup(g));
  p.executor =
      std::make_unique<resources::GroupExecutor>(g, std::move(agents), clock_);

  // 5. The cluster runtime: heartbeats, failure detection, quorum, roles.
  if (opt_.state_dir.empty()) opt_.state_dir = absl::StrCat("/var/lib/hafs/", opt_.node_name);
  HAFS_RETURN_IF_ERROR(MakeDirs(opt_.state_dir));
  absl::StatusOr<cluster::ClusterNodeOptions> co =
      cluster::ClusterOptionsFromConfig(cfg, opt_.node_name, opt_.state_dir, ps.auth.keys);
  if (!co.ok()) {
    return absl::Status(co.status().code(),
                        absl::StrCat("cluster runtime: ", co.status().message()));
  }
  co->peer_server = p.server.get();
  co->clock = clock_;
  // The resource loop reports when the group is down (ResourcesStopped): the
  // peer starts it only then, as Pacemaker orders a stop before a start.
  co->confirm_demote = true;
  co->disk = ClusterDisk(p.volume->status().replication.disk);
  absl::StatusOr<std::unique_ptr<cluster::ClusterNode>> cn =
      cluster::ClusterNode::Create(*std::move(co));
  if (!cn.ok()) {
    return absl::Status(cn.status().code(),
                        absl::StrCat("cluster runtime: ", cn.status().message()));
  }
  p.cluster = std::move(*cn);
  HAFS_RETURN_IF_ERROR(p.cluster->Start());
  cluster_thread_ = std::thread([this] { ClusterLoop(); });
  // The resource thread reports bans to the cluster: it starts once that runs.
  resource_thread_ = std::thread([this] { ResourceLoop(); });
  HAFS_LOG(INFO) << "node " << opt_.node_name << " up: volume " << vo.name << " ("
                 << p.volume->size_bytes() / (1 << 20) << " MiB) exposed as "
                 << p.fuse->file_path() << "; peer " << p.peer->name() << " at "
                 << p.peer->peer_address();
  return absl::OkStatus();
}

void Node::ResourceLoop() {
  bool escalated = false;
  bool banned_reported = false;
  for (;;) {
    bool want, force, cleanup;
    uint64_t demote_seq;
    std::optional<std::string> exports;
    {
      absl::MutexLock l(&mu_);
      exports.swap(exports_pending_);
      if (stopping_) break;
      want = want_primary_;
      demote_seq = demote_seq_;
      // A forced promotion is armed only for the promotion it was asked for.
      force = want && force_next_;
      if (want) force_next_ = false;
      cleanup = cleanup_pending_;
      cleanup_pending_ = false;
    }
    if (cleanup) parts_->executor->Cleanup();
    if (exports && parts_->nfs_reload) {
      // Agents run one operation at a time: the reload runs on this thread.
      resources::AgentOutcome o = parts_->nfs_reload(*exports);
      HAFS_LOG(INFO) << "resources: " << o.message;
      events_.Publish(absl::StrCat("resource reload nfsd: ", o.message));
    }
    if (force && parts_->volume_agent != nullptr) parts_->volume_agent->ForceNextPromote();
    resources::GroupExecutor::Step s = parts_->executor->Reconcile(want);
    for (const std::string& line : s.log) {
      HAFS_LOG(INFO) << "resources: " << line;
      events_.Publish(absl::StrCat("resource ", line));
    }
    if (s.escalate && !escalated) {
      HAFS_LOG(ERROR) << "resources: a stop failed, so the group may still be active on "
                         "this node; nothing is started until the cause is fixed (see the "
                         "line above; `hafsctl status --verbose` shows the states)";
    }
    escalated = s.escalate;
    // The group is down here (every resource stopped, the volume Secondary):
    // the demotion this pass saw (read with `want`) is complete and the peer
    // may start the group. Reported on every pass that sees it; the cluster
    // ignores it if another demotion came since (a promotion in between may
    // have started resources on a later pass).
    if (!want && s.settled && !s.escalate && parts_->cluster != nullptr) {
      parts_->cluster->ResourcesStopped(demote_seq);
    }
    // A group banned here (repeated failures) must not keep the Primary role:
    // the cluster hands over to the peer until the ban is lifted.
    if (s.banned != banned_reported && parts_->cluster != nullptr) {
      parts_->cluster->SetResourcesBanned(s.banned);
      banned_reported = s.banned;
    }
    std::vector<std::string> states;
    for (const resources::ResourceSpec& r : parts_->executor->group().resources) {
      auto it = parts_->executor->status().find(r.name);
      states.push_back(absl::StrCat(
          r.name, ":",
          resources::ResourceStateName(it == parts_->executor->status().end()
                                           ? resources::ResourceState::kUnknown
                                           : it->second.state)));
    }
    {
      absl::MutexLock l(&mu_);
      resource_summary_ = absl::StrJoin(states, " ");
      if (s.banned) resource_summary_ += " (banned here)";
      if (stopping_) break;
      // Act quickly while a transition runs; otherwise monitor at the interval.
      const absl::Duration wait =
          s.changed ? absl::Milliseconds(100) : opt_.reconcile_interval;
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](Node* n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return n->stopping_ || n->cleanup_pending_;
                               },
                               this),
                           wait);
    }
  }
}

void Node::ClusterLoop() {
  cluster::ClusterNode* c = parts_->cluster.get();
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    c->SetLocalDisk(ClusterDisk(parts_->volume->status().replication.disk));
    for (const cluster::ClusterDecision& d : c->WaitDecisions(absl::Milliseconds(200))) {
      if (!d.IsRoleAction()) {
        events_.Publish(absl::StrCat("cluster ", d.reason));
        continue;
      }
      switch (d.type) {
        case cluster::ClusterDecision::Type::kPromote: {
          absl::MutexLock l(&mu_);
          want_primary_ = true;
          cleanup_pending_ = true;  // a new decision: forget earlier failures
          break;
        }
        case cluster::ClusterDecision::Type::kDemote: {
          // The I/O gate during the stop comes as its own decision just
          // before (kResumeIo for a handover, kFailIo after quorum loss).
          absl::MutexLock l(&mu_);
          want_primary_ = false;
          demote_seq_ = d.demote_seq;
          break;
        }
        case cluster::ClusterDecision::Type::kSuspendIo: {
          // Requests on the volume wait (NFS clients see a stall, not errors)
          // until quorum returns or the cluster decides to demote — unless
          // the node is stopping: nothing would resume them (Stop's check
          // runs under the same lock).
          absl::MutexLock l(&mu_);
          if (stopping_) {
            parts_->gated->Fail();
          } else {
            parts_->gated->Suspend();
          }
          break;
        }
        case cluster::ClusterDecision::Type::kFailIo:
          parts_->gated->Fail();
          break;
        case cluster::ClusterDecision::Type::kResumeIo:
          parts_->gated->Resume();
          break;
        default:
          break;
      }
      HAFS_LOG(INFO) << "cluster decision: " << d.reason;
      events_.Publish(absl::StrCat("cluster decision ", d.reason));
    }
  }
}

void Node::HandOverBeforeStop(const std::function<bool()>& give_up) {
  if (handover_done_.exchange(true)) return;
  cluster::ClusterNode* c = parts_->cluster.get();
  if (c == nullptr) return;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
  }
  cluster::ClusterStatus st = c->Status();
  if (st.role != cluster::Role::kPrimary) {
    // A Secondary that is leaving accepts no hand-over either.
    c->Standby(true);
    return;
  }
  if (!st.connected || st.split_brain || st.peer_state != cluster::NodeState::kAlive ||
      st.peer_disk != cluster::DiskState::kUpToDate) {
    return;
  }
  // The peer must have every write: the replication link up and nothing out
  // of sync (its heartbeats say UpToDate also while the link is cut).
  if (parts_->volume == nullptr) return;
  const mirror::Status rs = parts_->volume->status().replication;
  if (rs.conn != mirror::ConnState::kConnected || rs.repl != mirror::ReplState::kEstablished ||
      rs.peer_disk != mirror::DiskState::kUpToDate || rs.counters.oos != 0) {
    HAFS_LOG(INFO) << "stop: not handing over to " << st.peer_name << ": its copy is not in sync ("
                   << mirror::ConnStateName(rs.conn) << "/" << mirror::ReplStateName(rs.repl)
                   << ", peer disk " << mirror::DiskStateName(rs.peer_disk) << ", oos "
                   << rs.counters.oos << " KiB); it takes over after deadtime if it may";
    return;
  }
  HAFS_LOG(INFO) << "stop: handing the service over to " << st.peer_name << " first";
  events_.Publish(absl::StrCat("cluster handover to:", st.peer_name, " reason:stopping"));
  c->Standby(true);
  const absl::Time start = absl::Now();
  // Our demotion comes within a few heartbeats unless the peer cannot be
  // designated (it is in standby itself, or banned).
  const absl::Duration demote_within =
      std::max(absl::Seconds(3), 2 * absl::Milliseconds(opt_.config.heartbeat().deadtime_ms()));
  while (absl::Now() - start < opt_.handover_timeout) {
    absl::SleepFor(absl::Milliseconds(100));
    if (give_up && give_up()) {
      HAFS_LOG(WARNING) << "stop: hand-over to " << st.peer_name << " cut short; stopping here";
      return;
    }
    st = c->Status();
    if (st.peer_role == cluster::Role::kPrimary) {
      HAFS_LOG(INFO) << "stop: " << st.peer_name << " runs the service now (handed over in "
                     << absl::FormatDuration(absl::Now() - start) << ")";
      return;
    }
    if (!st.connected) {
      HAFS_LOG(WARNING) << "stop: lost " << st.peer_name << " during the hand-over; stopping here";
      return;
    }
    if (st.role == cluster::Role::kPrimary && absl::Now() - start > demote_within) {
      HAFS_LOG(WARNING) << "stop: " << st.peer_name << " cannot take the service over ("
                        << st.blocked_reason << "); stopping here";
      return;
    }
  }
  HAFS_LOG(WARNING) << "stop: " << st.peer_name << " did not take the service over within "
                    << absl::FormatDuration(opt_.handover_timeout) << "; stopping here";
}

absl::Status Node::Stop() {
  Parts& p = *parts_;
  HandOverBeforeStop();
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && !resource_thread_.joinable() && p.volume == nullptr) {
      return absl::OkStatus();
    }
    stopping_ = true;
    // Nothing may wait in a suspension while we shut down (the resource
    // thread's own I/O goes through the gate too); but I/O suspended or
    // failed for lost quorum must not run now (the peer may be primary): it
    // fails, and the unmount below completes without writing. (Under mu_:
    // the cluster loop suspends under it, and fails instead once stopping_.)
    if (p.gated && p.gated->mode() == frontend::GatedVolumeIo::Mode::kSuspended) {
      p.gated->Fail();
    }
  }
  if (resource_thread_.joinable()) resource_thread_.join();
  absl::Status result;
  if (p.executor) {
    // Give the group up here (reverse order, demote) while the cluster still
    // heartbeats: the peer must not see this node dead while it is Primary.
    for (int i = 0; i < 20; ++i) {
      resources::GroupExecutor::Step s = p.executor->Reconcile(false);
      for (const std::string& line : s.log) HAFS_LOG(INFO) << "resources: " << line;
      if (s.settled || s.escalate) {
        if (s.escalate) result.Update(absl::InternalError("a resource did not stop"));
        break;
      }
    }
    p.executor.reset();
  }
  if (cluster_thread_.joinable()) cluster_thread_.join();
  if (p.cluster) {
    p.cluster->Stop();
    p.cluster.reset();
  }
  if (p.fuse) {
    absl::Status s = p.fuse->Stop(/*force=*/true);
    if (!s.ok()) HAFS_LOG(WARNING) << "FUSE front end: " << s;
    p.fuse.reset();
  }
  if (p.volume) {
    absl::Status s = p.volume->Close();
    if (!s.ok()) {
      HAFS_LOG(WARNING) << "volume close: " << s;
      result.Update(s);
    }
    p.volume.reset();
  }
  p.transport.reset();
  if (p.server) {
    p.server->Shutdown();
    p.server.reset();
  }
  return result;
}

absl::StatusOr<control::NodeStatus> Node::GetStatus() {
  control::NodeStatus st;
  const config::HafsConfig& cfg = opt_.config;
  st.node_name = opt_.node_name;
  st.node_id = parts_->self ? parts_->self->id() : 0;
  st.cluster_name = cfg.cluster_name();
  st.daemon_version = VersionString();
  st.started_unix_s = started_unix_s_;
  st.config_file = opt_.config_file;
  control::VolumeStatus v;
  v.name = cfg.volume().name();
  v.protocol = cfg.volume().protocol();
  v.backing_device = parts_->self ? parts_->self->backing_device() : "";
  v.peer_name = parts_->peer ? parts_->peer->name() : "";
  if (parts_->volume == nullptr) {
    v.detail = "volume not attached";
  } else {
    mirror::VolumeStatus vs = parts_->volume->status();
    const mirror::Status& r = vs.replication;
    v.attached = true;
    v.size_bytes = vs.size_bytes;
    v.role = std::string(mirror::RoleName(r.role));
    v.disk = std::string(mirror::DiskStateName(r.disk));
    v.connection = std::string(mirror::ConnStateName(r.conn));
    v.replication = std::string(mirror::ReplStateName(r.repl));
    v.peer_role = std::string(mirror::PeerRoleName(r));
    v.peer_disk = std::string(mirror::DiskStateName(r.peer_disk));
    if (r.conn != mirror::ConnState::kConnected && !vs.connect_error.empty()) {
      v.detail = absl::StrCat("last connection attempt failed ",
                              absl::FormatDuration(absl::Trunc(
                                  clock_->Now() - vs.connect_error_at, absl::Seconds(1))),
                              " ago: ", vs.connect_error);
    }
    v.counters.ns = r.counters.ns;
    v.counters.nr = r.counters.nr;
    v.counters.dw = r.counters.dw;
    v.counters.dr = r.counters.dr;
    v.counters.al = vs.al;
    v.counters.bm = vs.bm;
    v.counters.lo = r.counters.lo;
    v.counters.pe = r.counters.pe;
    v.counters.ua = r.counters.ua;
    v.counters.ap = r.counters.ap;
    v.counters.oos = r.counters.oos;
    if (r.repl == mirror::ReplState::kSyncSource || r.repl == mirror::ReplState::kSyncTarget) {
      v.resync.active = true;
      v.resync.total_kib = r.resync_total_blocks * 4;
      v.resync.left_kib = r.resync_left_blocks * 4;
      v.resync.done_percent =
          r.resync_total_blocks == 0 || r.resync_left_blocks >= r.resync_total_blocks
              ? (r.resync_total_blocks == 0 ? 100.0 : 0.0)
              : 100.0 * (r.resync_total_blocks - r.resync_left_blocks) /
                    static_cast<double>(r.resync_total_blocks);
      v.resync.same_kib = Kib(r.resync_same_bytes);
      // Speed over the interval since the previous status call (>= 1 s).
      const absl::Time now = clock_->Now();
      absl::MutexLock l(&mu_);
      if (resync_sample_ && v.resync.left_kib <= resync_sample_->second &&
          now - resync_sample_->first >= absl::Seconds(1)) {
        const double dt = absl::ToDoubleSeconds(now - resync_sample_->first);
        resync_speed_kib_s_ =
            static_cast<uint64_t>((resync_sample_->second - v.resync.left_kib) / dt);
        resync_sample_ = std::make_pair(now, v.resync.left_kib);
      } else if (!resync_sample_ || v.resync.left_kib > resync_sample_->second) {
        resync_sample_ = std::make_pair(now, v.resync.left_kib);
      }
      // Until two samples are a second apart: the average since the resync
      // started (DRBD's second figure), rather than nothing.
      const absl::Duration since = now - r.resync_started;
      if (resync_speed_kib_s_ == 0 && r.resync_started != absl::InfinitePast() &&
          since >= absl::Milliseconds(100) && v.resync.left_kib < v.resync.total_kib) {
        v.resync.speed_kib_per_s = static_cast<uint64_t>(
            (v.resync.total_kib - v.resync.left_kib) / absl::ToDoubleSeconds(since));
      } else {
        v.resync.speed_kib_per_s = resync_speed_kib_s_;
      }
      v.resync.eta_s = v.resync.speed_kib_per_s > 0
                           ? static_cast<int64_t>(v.resync.left_kib / v.resync.speed_kib_per_s)
                           : -1;
    } else {
      absl::MutexLock l(&mu_);
      resync_sample_.reset();
      resync_speed_kib_s_ = 0;
    }
    if (r.repl == mirror::ReplState::kVerifyS) {
      v.verify.active = true;
      v.verify.done_kib = Kib(r.verify_done_bytes);
      v.verify.total_kib = Kib(vs.size_bytes);
      v.verify.done_percent =
          vs.size_bytes == 0 ? 100.0 : 100.0 * r.verify_done_bytes / vs.size_bytes;
    }
    v.verify.mismatch_blocks = r.verify_mismatch_blocks;
    v.gi.known = true;
    v.gi.current = r.gi.current;
    v.gi.bitmap = r.gi.bitmap;
    v.gi.history.assign(r.gi.history.begin(), r.gi.history.end());
    v.last_handshake = r.last_handshake;
    if (r.disk == mirror::DiskState::kDiskless && !r.disk_error.empty()) {
      v.disk_note = absl::StrCat("detached after a local I/O error: ", r.disk_error,
                                 "; hint: replace the disk, then restart hafsd on this node "
                                 "(it attaches the new disk and resyncs it from the peer)");
    } else if (r.disk == mirror::DiskState::kInconsistent && !r.disk_error.empty()) {
      v.disk_note = absl::StrCat(
          "Inconsistent after a local I/O error (on_io_error: pass_on): ", r.disk_error,
          "; the failed blocks are marked out of sync and read from the peer; hint: `hafsctl "
          "resync` on the peer repairs them (replace the disk if errors repeat)");
    }
  }
  {
    absl::MutexLock l(&mu_);
    if (!resource_summary_.empty()) {
      v.detail = absl::StrCat(v.detail.empty() ? "" : v.detail + "; ", "resources ",
                              want_primary_ ? "wanted here" : "not wanted here", ": ",
                              resource_summary_);
    }
  }
  st.volumes.push_back(std::move(v));
  st.cluster.peer_name = parts_->peer ? parts_->peer->name() : "";
  st.cluster.quorum_mode = cfg.quorum().mode();
  if (parts_->cluster == nullptr) {
    st.cluster.available = false;
    st.cluster.detail = "cluster runtime not running";
  } else {
    const cluster::ClusterStatus cs = parts_->cluster->Status();
    st.cluster.available = cs.running;
    st.cluster.peer_state = cluster::NodeStateName(cs.peer_state);
    for (const cluster::LinkStatus& ls : cs.links) {
      st.cluster.links.push_back({ls.name, cluster::LinkStateName(ls.state)});
    }
    st.cluster.quorum_mode = cluster::QuorumModeName(cs.quorum_mode);
    st.cluster.has_quorum = cs.quorate;
    st.cluster.quorum_detail = absl::StrCat(
        "votes ", cs.votes, "/", cs.expected_votes, cs.quorum_pending ? ", pending" : "",
        cs.standby ? ", standby" : "", cs.resources_banned ? ", resources banned here" : "",
        cs.outdated ? ", disk marked Outdated" : "",
        cs.split_brain ? ", SPLIT BRAIN" : "",
        cs.blocked_reason.empty() ? "" : absl::StrCat(", ", cs.blocked_reason));
    st.cluster.witness = cfg.quorum().witness_address();
    if (cs.witness_term != 0) {
      absl::StrAppend(&st.cluster.witness, " term ", cs.witness_term);
    }
  }
  events_.PublishStatus(st);
  return st;
}

absl::StatusOr<std::string> Node::Primary(bool force) {
  if (parts_->volume == nullptr) return absl::FailedPreconditionError("volume not attached");
  const mirror::VolumeStatus vs = parts_->volume->status();
  const mirror::Status& r = vs.replication;
  if (!force && r.disk != splitbrain::DiskState::kUpToDate) {
    return absl::FailedPreconditionError(absl::StrCat(
        "primary: ", opt_.config.volume().name(), ": local disk is ",
        mirror::DiskStateName(r.disk),
        "; hint: wait for the resync, or `hafsctl primary --force` declares this "
        "node's data the new truth"));
  }
  // A Primary peer is not a refusal: takeover asks the cluster to move the
  // group (the peer stops it and demotes first; one Primary at a time).
  {
    absl::MutexLock l(&mu_);
    force_next_ = force;
  }
  parts_->cluster->Standby(false);
  if (force) parts_->cluster->ForcePromote();
  parts_->cluster->Takeover();
  return absl::StrCat("takeover requested on ", opt_.node_name,
                      force ? " (forced promotion)" : "",
                      "; the cluster moves the resource group here; follow it with "
                      "`hafsctl status` or `hafsctl events`");
}

absl::StatusOr<std::string> Node::Secondary() {
  {
    absl::MutexLock l(&mu_);
    force_next_ = false;
  }
  parts_->cluster->Standby(true);
  return absl::StrCat("standby: ", opt_.node_name,
                      " gives the resource group up (stopped in reverse order, volume "
                      "demoted) and the peer takes it if it can; `hafsctl primary` ends "
                      "the standby");
}

absl::StatusOr<std::string> Node::Takeover() { return Primary(/*force=*/false); }
absl::StatusOr<std::string> Node::Standby() { return Secondary(); }

absl::StatusOr<std::string> Node::Cleanup() {
  if (parts_->executor == nullptr) {
    return absl::FailedPreconditionError("no resource group runs on this node");
  }
  absl::MutexLock l(&mu_);
  cleanup_pending_ = true;  // the resource thread runs it, then reports the ban lifted
  return absl::StrCat("cleanup: ", opt_.node_name,
                      " forgets its resource failures; a ban from this node is lifted "
                      "and the node is a candidate again");
}

absl::StatusOr<std::string> Node::ReloadConfig(const config::HafsConfig& fresh) {
  absl::MutexLock reload(&reload_mu_);  // one reload at a time
  // Exports are tracked on their own (the resource thread hands them over).
  config::HafsConfig a = live_config_, b = fresh;
  a.mutable_nfs()->clear_exports();
  b.mutable_nfs()->clear_exports();
  std::vector<std::string> live, others;
  for (std::string& c : config::DescribeChanges(a, b)) {
    (IsLiveAdjustable(c) ? live : others).push_back(std::move(c));
  }
  std::vector<std::string> done;
  if (fresh.nfs().exports() != live_config_.nfs().exports()) {
    if (!parts_->nfs_reload) {
      return absl::FailedPreconditionError(
          "reload: this node runs no NFS server (no nfs.mount_point or exports at "
          "start); restart hafsd to add one");
    }
    {
      absl::MutexLock l(&mu_);
      exports_pending_ = fresh.nfs().exports();
    }
    live_config_.mutable_nfs()->set_exports(fresh.nfs().exports());
    done.push_back("new exports handed to the NFS server");
  }
  if (!live.empty()) {
    if (parts_->volume == nullptr) {
      return absl::FailedPreconditionError("reload: volume not attached; restart hafsd");
    }
    HAFS_ASSIGN_OR_RETURN(splitbrain::SplitBrainPolicy policy, SplitBrainFromConfig(fresh));
    HAFS_RETURN_IF_ERROR(parts_->volume->Adjust(ResyncFromConfig(fresh), policy));
    CopyLiveFields(fresh, &live_config_);
    done.push_back(absl::StrCat("applied to the volume (", absl::StrJoin(live, "; "), ")"));
  }
  if (!others.empty()) {
    done.push_back(
        absl::StrCat("not applied, restart hafsd for them (", absl::StrJoin(others, "; "), ")"));
  }
  return done.empty() ? std::string("nothing changed") : absl::StrJoin(done, "; ");
}

absl::StatusOr<std::string> Node::Connect(const control::ConnectOptions& o) {
  if (parts_->volume == nullptr) return absl::FailedPreconditionError("volume not attached");
  HAFS_RETURN_IF_ERROR(parts_->volume->Connect(o.discard_my_data, o.tentative));
  return std::string(o.discard_my_data ? "connecting; this node's changes will be discarded"
                                       : "connecting");
}

absl::StatusOr<std::string> Node::Disconnect() {
  if (parts_->volume == nullptr) return absl::FailedPreconditionError("volume not attached");
  HAFS_RETURN_IF_ERROR(parts_->volume->Disconnect());
  return std::string("disconnected (StandAlone)");
}

absl::StatusOr<std::string> Node::Verify() {
  if (parts_->volume == nullptr) return absl::FailedPreconditionError("volume not attached");
  HAFS_RETURN_IF_ERROR(parts_->volume->StartVerify());
  return std::string("online verify started; differences are reported, not repaired "
                     "(`hafsctl resync` repairs them)");
}

absl::StatusOr<std::string> Node::Resync(bool full) {
  if (parts_->volume == nullptr) return absl::FailedPreconditionError("volume not attached");
  HAFS_RETURN_IF_ERROR(parts_->volume->StartResync(full));
  return std::string(full ? "full resync to the peer started"
                          : "resync of the out-of-sync blocks started");
}

}  // namespace hafs::node
