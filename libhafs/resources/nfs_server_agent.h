// File: libhafs/resources/nfs_server_agent.h
// -----------------------------------------------------------------------------
// NfsServer agent for NFS-Ganesha (4.3): renders ganesha.conf, runs
// `ganesha.nfsd -F` as a supervised child, monitors it, reloads exports with
// SIGHUP. NFSv4 only, without rpcbind or dbus (docs/agents.md "NfsServer").
//
// Parameters (ResourceSpec::params):
//   mount_point     the replicated file system (required): NFSv4 client
//                   recovery records live on it, in
//                   <mount_point>/.hafs/ganesha-recovery (override:
//                   recovery_root, absolute), so the takeover node sees the
//                   clients that may reclaim
//   exports         exports(5) text (or exports_file: a path); rendered by
//                   libhafs/exports' Ganesha renderer (stable Export_Ids)
//   bind_addr       address Ganesha listens on (default 0.0.0.0; usually the
//                   VIP or 0.0.0.0)
//   port            NFS port, default 2049
//   lease_s         Lease_Lifetime 1..180 (default 60)
//   grace_s         Grace_Period 0..270, >= lease_s (default 90)
//   server_scope    Server_Scope and Server_Owner, identical on both nodes
//                   (required; config default "hafs-<cluster_name>")
//   state_dir       where ganesha.conf / .pid / .log go (default
//                   /run/hafs/ganesha-<resource name>)
//   ganesha_path    default /usr/bin/ganesha.nfsd
//   kill_timeout_ms SIGTERM -> SIGKILL on stop (default 10000)
//
// Rendered config: NFS_CORE_PARAM { Protocols = 4; Bind_addr; NFS_Port;
//   Enable_NLM = false; Enable_RQUOTA = false (mandatory without rpcbind);
//   Enable_UDP = false; Clustered = false }, NFSv4 { RecoveryBackend = fs;
//   RecoveryRoot; Grace_Period; Lease_Lifetime; Server_Scope; Server_Owner;
//   Only_Numeric_Owners = true }, then the EXPORT blocks inline. Clustered =
//   false: records go to RecoveryRoot/v4recov (not v4recov/node<N>), so both
//   nodes read the same directory whatever their node id; only one node runs
//   Ganesha at a time.
//
// Start: already running (our pid file, live, same config) -> kOk. Else write
//   the config atomically, mkdir the recovery root, fork/exec ganesha in its
//   own process group (stdout/stderr appended to the log), and wait until the
//   port accepts a TCP connection; if it exits or the start timeout passes:
//   kill the group, kFailed with the last log lines. Missing binary -> kFatal.
// Monitor: process alive and port answering -> kOk; no process -> kNotRunning;
//   process dead (was running) or port silent -> kFailed.
// Stop: SIGTERM to the group, wait up to kill_timeout_ms, SIGKILL; not
//   running -> kOk; still alive after SIGKILL + 2 s -> kStopFailed.
// Reload(exports): re-render, rewrite, SIGHUP (Ganesha re-reads EXPORT blocks:
//   adds, removes, updates).
//
// Thread-safety: one operation at a time (Agent contract; Reload counts as
// one).
//
// Example:
//   NfsServerAgent nfs(spec, Clock::System());
//   AgentOutcome o = nfs.Start(absl::Seconds(30));
//   ... nfs.Reload(new_exports_text);
#ifndef HAFS_LIBHAFS_RESOURCES_NFS_SERVER_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_NFS_SERVER_AGENT_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "libhafs/base/clock.h"
#include "libhafs/resources/agent.h"

namespace hafs::resources {

struct GaneshaSettings {
  std::string bind_addr = "0.0.0.0";
  int port = 2049;
  int lease_s = 60;
  int grace_s = 90;
  std::string server_scope;
  std::string recovery_root;
  std::string export_blocks;  // RenderGanesha() text
};
// The whole ganesha.conf (pure).
std::string RenderGaneshaConf(const GaneshaSettings& s);

// exports(5) text -> Ganesha EXPORT blocks via libhafs/exports (paths must
// exist: they are resolved like exportfs does). kInvalidArgument listing the
// error diagnostics ("exports:LINE:COL: message").
absl::StatusOr<std::string> RenderExportBlocks(const std::string& exports_text);

class NfsServerAgent final : public Agent {
 public:
  // REQUIRES: Validate(spec).ok().
  NfsServerAgent(ResourceSpec spec, Clock* clock);
  ~NfsServerAgent() override;  // does not stop Ganesha (hafsd may restart)
  static absl::Status Validate(const ResourceSpec& spec);

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;
  // New exports text: rewrite the config and SIGHUP a running Ganesha (or
  // just remember it when stopped). kFailed if the text does not render.
  AgentOutcome Reload(const std::string& exports_text);

  std::string config_path() const { return state_dir_ + "/ganesha.conf"; }
  std::string log_path() const { return state_dir_ + "/ganesha.log"; }
  std::string pid_path() const { return state_dir_ + "/ganesha.pid"; }
  std::string recovery_root() const { return settings_.recovery_root; }
  pid_t pid() const { return pid_; }

 private:
  absl::Status WriteConfig();
  // Live pid (our child or from the pid file, checked against the config
  // path in /proc/PID/cmdline), or 0.
  pid_t LivePid();
  bool PortAnswers(absl::Duration timeout);
  std::string LogTail(int lines);

  ResourceSpec spec_;
  Clock* clock_;
  GaneshaSettings settings_;
  std::string exports_text_;
  std::string state_dir_, ganesha_path_;
  absl::Duration kill_timeout_ = absl::Seconds(10);
  pid_t pid_ = 0;         // last known Ganesha pid
  bool our_child_ = false;  // pid_ was forked by this object (we reap it)
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_NFS_SERVER_AGENT_H_
