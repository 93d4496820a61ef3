// File: libhafs/resources/knfsd_server_agent.h
// -----------------------------------------------------------------------------
// NfsServer agent for the kernel NFS server (knfsd) driven by nfs-utils'
// exportfs: hafs owns one file in /etc/exports.d and nothing else; nfsd itself
// (threads, rpc.mountd / nfsv4.exportd) is the host's service (docs/agents.md
// "NfsServer (knfsd)").
//
// Parameters (ResourceSpec::params):
//   exports          exports(5) text (required); rendered by libhafs/exports'
//                    knfsd renderer (RenderKnfsd: fully expanded, one line per
//                    (path, client), paths \ooo escaped)
//   mount_point      the replicated file system (required, absolute)
//   exports_d        default /etc/exports.d
//   file_name        default hafs.exports (must end in ".exports", no '/',
//                    no leading '.': exportfs reads nothing else)
//   exportfs_path    default /usr/sbin/exportfs
//   proc_nfsd        default /proc/fs/nfsd
//   lease_s, grace_s 10..3600; written to <proc_nfsd>/nfsv4leasetime and
//                    nfsv4gracetime at start, only while nfsd has 0 threads
//                    (the kernel answers EBUSY otherwise): reported, not fatal
//   v4recovery_dir   default <mount_point>/.hafs/nfsd-v4recovery; created and
//                    written to <proc_nfsd>/nfsv4recoverydir (when that file
//                    exists) so the legacy client-tracking records live on the
//                    replicated volume; failures are reported, not fatal
//
// Start: no <proc_nfsd>/threads -> kFatal (no kernel NFS server here). Else
//   timers / recovery dir as above, write <exports_d>/<file_name> atomically
//   (".<file_name>.tmp" + rename; exportfs ignores dot files) and run
//   `exportfs -ra`; non-zero -> kFailed with its output.
// Monitor: our file absent -> kNotRunning; every path of our exports listed
//   by `exportfs -s` -> kOk; else (or exportfs fails) kFailed.
// Stop: our file absent -> kOk (nothing exported by us). Else remove it, run
//   `exportfs -ra` (non-zero -> kStopFailed: the exports may still be
//   active), then write mount_point to <proc_nfsd>/unlock_filesystem when it
//   exists (releases NFSv4/NLM state so the following umount is not EBUSY).
// Reload(exports): re-render; when running (our file exists) rewrite it and
//   `exportfs -ra`; otherwise remembered for the next start.
//
// Thread-safety: one operation at a time (Agent contract; Reload counts).
//
// Example:
//   KnfsdServerAgent nfs(spec, ProcessRunner::System());
//   AgentOutcome o = nfs.Start(absl::Seconds(30));
//   ... nfs.Reload(new_exports_text);
#ifndef HAFS_LIBHAFS_RESOURCES_KNFSD_SERVER_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_KNFSD_SERVER_AGENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libhafs/resources/agent.h"
#include "libhafs/resources/process_runner.h"

namespace hafs::resources {

struct KnfsdExports {
  std::string file;                // RenderKnfsd().exports_file
  std::vector<std::string> paths;  // resolved paths, first-appearance order
};
// exports(5) text -> the exports.d file. `validate_paths`: run exportfs'
// stat checks (paths must exist). kInvalidArgument listing the errors
// ("exports:LINE:COL: message") or entries that cannot be rendered.
absl::StatusOr<KnfsdExports> RenderKnfsdExports(const std::string& exports_text,
                                                bool validate_paths);

class KnfsdServerAgent final : public Agent {
 public:
  // REQUIRES: Validate(spec).ok().
  KnfsdServerAgent(ResourceSpec spec, ProcessRunner* runner);
  // Parameters and the exports text (syntax and options; paths are checked
  // at start, when the file system is mounted).
  static absl::Status Validate(const ResourceSpec& spec);

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;
  // kFailed (nothing changed) if the text does not render.
  AgentOutcome Reload(const std::string& exports_text);

  std::string exports_file_path() const { return exports_d_ + "/" + file_name_; }

 private:
  // Writes the file atomically and runs exportfs -ra.
  AgentOutcome Apply(const KnfsdExports& r, absl::Duration timeout, const std::string& who);
  absl::StatusOr<ProcessResult> Exportfs(const std::string& flag, absl::Duration timeout);
  bool Running() const;

  ResourceSpec spec_;
  ProcessRunner* runner_;
  std::string exports_text_;
  std::string mount_point_, exports_d_, file_name_, exportfs_path_, proc_nfsd_,
      v4recovery_dir_;
  int lease_s_ = 0, grace_s_ = 0;  // 0: leave the kernel's value
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_KNFSD_SERVER_AGENT_H_
