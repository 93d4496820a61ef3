#include "libhafs/resources/knfsd_server_agent.h"

#include "libhafs/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/exports/exports.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"
#include "libhafs/resources/params.h"

namespace hafs::resources {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// One write(2) of `text` to a /proc file (the kernel parses each write).
absl::Status WriteProc(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  ssize_t w = ::write(fd, text.data(), text.size());
  int e = errno;
  ::close(fd);
  if (w < 0) return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(e)));
  return absl::OkStatus();
}

std::string Trimmed(const std::string& output) {
  std::string t(absl::StripAsciiWhitespace(output));
  return t.empty() ? "(no output)" : t;
}

}  // namespace

absl::StatusOr<KnfsdExports> RenderKnfsdExports(const std::string& exports_text,
                                                bool validate_paths) {
  namespace ex = hafs::exports;
  ex::ParsedFile f = ex::ParseExports(exports_text, "exports", {});
  ex::RealFileSystem fs;
  ex::NoDnsResolver dns;
  ex::TableOptions opts;
  opts.validate_paths = validate_paths;
  ex::ExportTable t = ex::BuildTableFromParsed({std::move(f)}, fs, dns, opts);
  std::vector<std::string> errors;
  for (const ex::Diagnostic& d : t.diagnostics) {
    if (d.severity != ex::Diagnostic::Severity::kError) continue;
    errors.push_back(absl::StrCat("exports:", d.pos.line, ":", d.pos.col, ": ", d.message));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("exports do not render: ", absl::StrJoin(errors, "; ")));
  }
  ex::KnfsdPlan plan = ex::RenderKnfsd(t);
  if (plan.unrendered > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exports: ", plan.unrendered, " entr", plan.unrendered == 1 ? "y" : "ies",
        " cannot be written back for exportfs (see the NOT RENDERED lines):\n",
        plan.exports_file));
  }
  KnfsdExports r;
  r.file = std::move(plan.exports_file);
  std::set<std::string> seen;
  for (const ex::Export& x : t.exports) {
    if (seen.insert(x.entry.path).second) r.paths.push_back(x.entry.path);
  }
  return r;
}

absl::Status KnfsdServerAgent::Validate(const ResourceSpec& spec) {
  if (spec.kind != AgentKind::kNfsServer) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource ", spec.name, ": not an NfsServer resource"));
  }
  HAFS_RETURN_IF_ERROR(CheckKnownParams(
      spec, {"exports", "mount_point", "exports_d", "file_name", "exportfs_path", "proc_nfsd",
             "lease_s", "grace_s", "v4recovery_dir"}));
  HAFS_RETURN_IF_ERROR(
      RequiredParam(spec, "mount_point", "the replicated file system").status());
  HAFS_ASSIGN_OR_RETURN(std::string text,
                        RequiredParam(spec, "exports", "exports(5) text"));
  for (const char* k :
       {"mount_point", "exports_d", "exportfs_path", "proc_nfsd", "v4recovery_dir"}) {
    std::string v = StringParam(spec, k, "");
    if (!v.empty() && v[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("resource ", spec.name, ": ", k, " '", v, "' must be an absolute path"));
    }
  }
  std::string name = StringParam(spec, "file_name", "hafs.exports");
  if (name.find('/') != std::string::npos || name.empty() || name[0] == '.' ||
      !absl::EndsWith(name, ".exports") || name == ".exports") {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource ", spec.name, ": file_name '", name,
        "' is not read by exportfs (needs NAME.exports, no '/', no leading '.')"));
  }
  HAFS_RETURN_IF_ERROR(IntParam(spec, "lease_s", 90, 10, 3600).status());
  HAFS_RETURN_IF_ERROR(IntParam(spec, "grace_s", 90, 10, 3600).status());
  absl::StatusOr<KnfsdExports> r = RenderKnfsdExports(text, /*validate_paths=*/false);
  if (!r.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource ", spec.name, ": ", r.status().message()));
  }
  return absl::OkStatus();
}

KnfsdServerAgent::KnfsdServerAgent(ResourceSpec spec, ProcessRunner* runner)
    : spec_(std::move(spec)), runner_(runner) {
  exports_text_ = StringParam(spec_, "exports", "");
  mount_point_ = StringParam(spec_, "mount_point", "");
  exports_d_ = StringParam(spec_, "exports_d", "/etc/exports.d");
  file_name_ = StringParam(spec_, "file_name", "hafs.exports");
  exportfs_path_ = StringParam(spec_, "exportfs_path", "/usr/sbin/exportfs");
  proc_nfsd_ = StringParam(spec_, "proc_nfsd", "/proc/fs/nfsd");
  v4recovery_dir_ =
      StringParam(spec_, "v4recovery_dir", absl::StrCat(mount_point_, "/.hafs/nfsd-v4recovery"));
  if (spec_.params.count("lease_s")) {
    lease_s_ = static_cast<int>(IntParam(spec_, "lease_s", 90, 10, 3600).value_or(0));
  }
  if (spec_.params.count("grace_s")) {
    grace_s_ = static_cast<int>(IntParam(spec_, "grace_s", 90, 10, 3600).value_or(0));
  }
}

bool KnfsdServerAgent::Running() const { return Exists(exports_file_path()); }

absl::StatusOr<ProcessResult> KnfsdServerAgent::Exportfs(const std::string& flag,
                                                         absl::Duration timeout) {
  ProcessSpec ps;
  ps.argv = {exportfs_path_, flag};
  ps.timeout = timeout;
  return runner_->Run(ps);
}

AgentOutcome KnfsdServerAgent::Apply(const KnfsdExports& r, absl::Duration timeout,
                                     const std::string& who) {
  if (absl::Status s = MakeDirs(exports_d_, 0755); !s.ok()) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": ", s.message())};
  }
  if (absl::Status s = WriteFileAtomically(absl::StrCat(exports_d_, "/", file_name_), r.file); !s.ok()) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": ", s.message())};
  }
  absl::StatusOr<ProcessResult> res = Exportfs("-ra", timeout);
  if (!res.ok()) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": ", exportfs_path_, " -ra did not run: ", res.status().message())};
  }
  if (res->timed_out || res->exit_code != 0) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": ", exportfs_path_, " -ra ",
                         res->timed_out ? "timed out"
                                        : absl::StrCat("exited with status ", res->exit_code),
                         ": ", Trimmed(res->output))};
  }
  return {AgentOutcome::kOk, absl::StrCat(who, ": wrote ", exports_file_path(), " (",
                                          r.paths.size(), " path",
                                          r.paths.size() == 1 ? "" : "s", "), exportfs -ra ok")};
}

AgentOutcome KnfsdServerAgent::Start(absl::Duration timeout) {
  std::string who = absl::StrCat(spec_.name, " start knfsd exports");
  std::string threads_path = proc_nfsd_ + "/threads";
  absl::StatusOr<std::string> threads = ReadFile(threads_path);
  if (!threads.ok()) {
    return {AgentOutcome::kFatal,
            absl::StrCat(who, ": this host has no kernel NFS server (nfsd module not loaded; ",
                         threads_path, " absent); use nfs.server: \"ganesha\"")};
  }
  absl::StatusOr<KnfsdExports> r = RenderKnfsdExports(exports_text_, /*validate_paths=*/true);
  if (!r.ok()) {
    return {AgentOutcome::kFatal, absl::StrCat(who, ": ", r.status().message())};
  }
  std::vector<std::string> notes;
  std::string nthreads(absl::StripAsciiWhitespace(*threads));
  for (auto [value, file] : {std::pair{lease_s_, "nfsv4leasetime"},
                             std::pair{grace_s_, "nfsv4gracetime"}}) {
    if (value == 0) continue;
    std::string path = absl::StrCat(proc_nfsd_, "/", file);
    if (nthreads != "0") {
      notes.push_back(absl::StrCat(file, " not set to ", value, ": nfsd is running (", nthreads,
                                   " threads; the kernel refuses with EBUSY); set it in "
                                   "nfs.conf [nfsd] or restart nfsd"));
      continue;
    }
    if (absl::Status s = WriteProc(path, absl::StrCat(value, "\n")); !s.ok()) {
      notes.push_back(std::string(s.message()));
    } else {
      notes.push_back(absl::StrCat(file, "=", value));
    }
  }
  std::string recdir_file = proc_nfsd_ + "/nfsv4recoverydir";
  if (Exists(recdir_file)) {
    absl::Status s = MakeDirs(v4recovery_dir_, 0700);
    if (s.ok()) s = WriteProc(recdir_file, v4recovery_dir_ + "\n");
    notes.push_back(s.ok() ? absl::StrCat("nfsv4recoverydir=", v4recovery_dir_)
                           : absl::StrCat("v4 recovery dir not set: ", s.message()));
  }
  AgentOutcome o = Apply(*r, timeout, who);
  if (!notes.empty()) absl::StrAppend(&o.message, "; ", absl::StrJoin(notes, "; "));
  return o;
}

AgentOutcome KnfsdServerAgent::Monitor(absl::Duration timeout) {
  std::string who = absl::StrCat(spec_.name, " monitor knfsd exports");
  if (!Running()) {
    return {AgentOutcome::kNotRunning, absl::StrCat(who, ": ", exports_file_path(), " absent")};
  }
  absl::StatusOr<KnfsdExports> r = RenderKnfsdExports(exports_text_, /*validate_paths=*/false);
  if (!r.ok()) return {AgentOutcome::kFailed, absl::StrCat(who, ": ", r.status().message())};
  absl::StatusOr<ProcessResult> res = Exportfs("-s", timeout);
  if (!res.ok()) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": ", exportfs_path_, " -s did not run: ", res.status().message())};
  }
  if (res->timed_out || res->exit_code != 0) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": ", exportfs_path_, " -s ",
                         res->timed_out ? "timed out"
                                        : absl::StrCat("exited with status ", res->exit_code),
                         ": ", Trimmed(res->output))};
  }
  // `exportfs -s` lines: "<path \ooo-escaped> <client>(<options>)".
  std::set<std::string> listed;
  for (absl::string_view line : absl::StrSplit(res->output, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> tok =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!tok.empty()) listed.insert(std::string(tok[0]));
  }
  std::vector<std::string> missing;
  for (const std::string& p : r->paths) {
    if (!listed.count(hafs::exports::EscapePath(p))) missing.push_back(p);
  }
  if (!missing.empty()) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": not exported by the kernel: ", absl::StrJoin(missing, ", "),
                         " (exportfs -s lists ", listed.size(), " path",
                         listed.size() == 1 ? "" : "s", ")")};
  }
  return {AgentOutcome::kOk,
          absl::StrCat(who, ": ", r->paths.size(), " path", r->paths.size() == 1 ? "" : "s",
                       " exported")};
}

AgentOutcome KnfsdServerAgent::Stop(absl::Duration timeout) {
  std::string who = absl::StrCat(spec_.name, " stop knfsd exports");
  std::string path = exports_file_path();
  if (!Running()) return {AgentOutcome::kOk, absl::StrCat(who, ": ", path, " absent")};
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return {AgentOutcome::kStopFailed,
            absl::StrCat(who, ": unlink ", path, ": ", std::strerror(errno))};
  }
  absl::StatusOr<ProcessResult> res = Exportfs("-ra", timeout);
  if (!res.ok() || res->timed_out || res->exit_code != 0) {
    std::string why = !res.ok() ? absl::StrCat("did not run: ", res.status().message())
                      : res->timed_out
                          ? std::string("timed out")
                          : absl::StrCat("exited with status ", res->exit_code, ": ",
                                         Trimmed(res->output));
    return {AgentOutcome::kStopFailed,
            absl::StrCat(who, ": removed ", path, " but ", exportfs_path_, " -ra ", why,
                         " (the exports may still be active)")};
  }
  std::string msg = absl::StrCat(who, ": removed ", path, ", exportfs -ra ok");
  std::string unlock = proc_nfsd_ + "/unlock_filesystem";
  if (Exists(unlock)) {
    absl::Status s = WriteProc(unlock, mount_point_ + "\n");
    absl::StrAppend(&msg, s.ok() ? absl::StrCat("; unlocked ", mount_point_)
                                 : absl::StrCat("; unlock_filesystem: ", s.message()));
  }
  return {AgentOutcome::kOk, msg};
}

AgentOutcome KnfsdServerAgent::Reload(const std::string& exports_text) {
  std::string who = absl::StrCat(spec_.name, " reload exports");
  bool running = Running();
  absl::StatusOr<KnfsdExports> r = RenderKnfsdExports(exports_text, /*validate_paths=*/running);
  if (!r.ok()) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": ", r.status().message(),
                                                " (previous exports kept)")};
  }
  exports_text_ = exports_text;
  spec_.params["exports"] = exports_text;
  if (!running) return {AgentOutcome::kOk, absl::StrCat(who, ": not running; used at next start")};
  return Apply(*r, absl::Seconds(30), who);
}

}  // namespace hafs::resources
