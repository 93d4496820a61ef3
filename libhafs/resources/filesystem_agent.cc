#include "libhafs/resources/filesystem_agent.h"

#include "libhafs/base/files.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/resources/params.h"

namespace hafs::resources {
namespace {

std::string Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
                                      (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string RealPathOr(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) != nullptr) return buf;
  return p;
}

struct MountFlag {
  const char* name;
  unsigned long set;
  unsigned long clear;
};
constexpr MountFlag kFlags[] = {
    {"ro", MS_RDONLY, 0},          {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},      {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},        {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},      {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},   {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},    {"noatime", MS_NOATIME, 0},
    {"atime", 0, MS_NOATIME},      {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME}, {"relatime", MS_RELATIME, 0},
    {"norelatime", 0, MS_RELATIME}, {"strictatime", MS_STRICTATIME, 0},
    {"lazytime", MS_LAZYTIME, 0},  {"nolazytime", 0, MS_LAZYTIME},
    {"defaults", 0, 0},
};

void SplitOptions(const std::string& options, unsigned long* flags, std::string* data) {
  *flags = 0;
  std::vector<std::string> rest;
  for (absl::string_view o : absl::StrSplit(options, ',', absl::SkipEmpty())) {
    bool known = false;
    for (const MountFlag& f : kFlags) {
      if (o == f.name) {
        *flags = (*flags | f.set) & ~f.clear;
        known = true;
      }
    }
    if (!known) rest.emplace_back(o);
  }
  *data = absl::StrJoin(rest, ",");
}

bool HasOption(absl::string_view list, absl::string_view opt) {
  for (absl::string_view o : absl::StrSplit(list, ',')) {
    if (o == opt) return true;
  }
  return false;
}

bool IsExt(const std::string& t) { return t == "ext2" || t == "ext3" || t == "ext4"; }

std::string LastLines(const std::string& s, int n) {
  std::vector<absl::string_view> lines = absl::StrSplit(s, '\n', absl::SkipEmpty());
  size_t from = lines.size() > static_cast<size_t>(n) ? lines.size() - n : 0;
  return absl::StrJoin(lines.begin() + static_cast<long>(from), lines.end(), " | ");
}

}  // namespace

std::vector<MountInfo> ParseMountInfo(const std::string& text) {
  std::vector<MountInfo> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 10) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) continue;
    MountInfo m;
    std::pair<absl::string_view, absl::string_view> mm = absl::StrSplit(f[2], ':');
    if (!absl::SimpleAtoi(mm.first, &m.major) || !absl::SimpleAtoi(mm.second, &m.minor)) continue;
    m.root = Unescape(f[3]);
    m.mount_point = Unescape(f[4]);
    m.options = std::string(f[5]);
    m.fstype = Unescape(f[dash + 1]);
    m.source = Unescape(f[dash + 2]);
    if (dash + 3 < f.size()) m.super_options = std::string(f[dash + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<pid_t> FindHolders(dev_t dev) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  pid_t self = ::getpid();
  while (struct dirent* de = ::readdir(proc)) {
    int pid;
    if (!absl::SimpleAtoi(de->d_name, &pid) || pid == self) continue;
    std::string base = absl::StrCat("/proc/", pid);
    auto on_dev = [dev](const std::string& p) {
      struct stat st;
      return ::stat(p.c_str(), &st) == 0 && st.st_dev == dev;
    };
    bool holds = on_dev(base + "/cwd") || on_dev(base + "/root") || on_dev(base + "/exe");
    if (!holds) {
      if (DIR* fds = ::opendir((base + "/fd").c_str())) {
        while (struct dirent* fe = ::readdir(fds)) {
          if (fe->d_name[0] == '.') continue;
          if (on_dev(absl::StrCat(base, "/fd/", fe->d_name))) {
            holds = true;
            break;
          }
        }
        ::closedir(fds);
      }
    }
    if (!holds) {
      // maps: "addr perms offset MAJ:MIN inode path" (hex major/minor).
      absl::StatusOr<std::string> maps = ReadFile(base + "/maps");
      if (maps.ok()) {
        for (absl::string_view l : absl::StrSplit(*maps, '\n', absl::SkipEmpty())) {
          std::vector<absl::string_view> f = absl::StrSplit(l, ' ', absl::SkipEmpty());
          if (f.size() < 5 || f[4] == "0") continue;
          std::pair<std::string, std::string> mm = absl::StrSplit(f[3], ':');
          unsigned long ma = std::strtoul(mm.first.c_str(), nullptr, 16);
          unsigned long mi = std::strtoul(mm.second.c_str(), nullptr, 16);
          if (ma == major(dev) && mi == minor(dev)) {
            holds = true;
            break;
          }
        }
      }
    }
    if (holds) out.push_back(pid);
  }
  ::closedir(proc);
  return out;
}

absl::Status FilesystemAgent::Validate(const ResourceSpec& spec) {
  if (spec.kind != AgentKind::kFilesystem) {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name,
                                                   ": not a Filesystem resource"));
  }
  HAFS_RETURN_IF_ERROR(CheckKnownParams(
      spec, {"device", "mount_point", "fstype", "options", "fsck", "fsck_command",
             "kill_holders", "kill_timeout_ms", "lazy_umount"}));
  HAFS_ASSIGN_OR_RETURN(std::string dev, RequiredParam(spec, "device", "e.g. /dev/hafs0"));
  HAFS_ASSIGN_OR_RETURN(std::string mp, RequiredParam(spec, "mount_point", "e.g. /srv/nfs"));
  if (dev[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, ": device '", dev,
                                                   "' must be an absolute path"));
  }
  if (mp[0] != '/' || mp == "/" || absl::StrContains(mp, "/../") || absl::EndsWith(mp, "/..")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource ", spec.name, ": mount_point '", mp,
        "' must be an absolute path other than / without '..'"));
  }
  std::string fstype = StringParam(spec, "fstype", "ext4");
  if (fstype.empty() || fstype.find_first_of(" ,/") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource ", spec.name, ": fstype '", fstype, "' is not a type name"));
  }
  std::string fsck = StringParam(spec, "fsck", "auto");
  if (fsck != "auto" && fsck != "yes" && fsck != "no") {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, ": fsck='", fsck,
                                                   "' must be auto, yes or no"));
  }
  std::string cmd = StringParam(spec, "fsck_command", "");
  if (!cmd.empty() && cmd[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name, ": fsck_command '",
                                                   cmd, "' must be an absolute path"));
  }
  HAFS_RETURN_IF_ERROR(BoolParam(spec, "kill_holders", false).status());
  HAFS_RETURN_IF_ERROR(BoolParam(spec, "lazy_umount", false).status());
  HAFS_RETURN_IF_ERROR(
      MillisParam(spec, "kill_timeout_ms", absl::Seconds(5), 0, 3600000).status());
  return absl::OkStatus();
}

FilesystemAgent::FilesystemAgent(ResourceSpec spec, ProcessRunner* runner, Clock* clock)
    : spec_(std::move(spec)), runner_(runner), clock_(clock) {
  device_ = spec_.params.at("device");
  mount_point_ = spec_.params.at("mount_point");
  while (mount_point_.size() > 1 && mount_point_.back() == '/') mount_point_.pop_back();
  fstype_ = StringParam(spec_, "fstype", "ext4");
  options_ = StringParam(spec_, "options", "");
  fsck_mode_ = StringParam(spec_, "fsck", "auto");
  fsck_command_ = StringParam(spec_, "fsck_command", "");
  kill_holders_ = BoolParam(spec_, "kill_holders", false).value_or(false);
  lazy_umount_ = BoolParam(spec_, "lazy_umount", false).value_or(false);
  kill_timeout_ = MillisParam(spec_, "kill_timeout_ms", absl::Seconds(5), 0, 3600000)
                      .value_or(absl::Seconds(5));
}

absl::StatusOr<FilesystemAgent::Mounted> FilesystemAgent::FindMount() {
  HAFS_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  std::string mp = RealPathOr(mount_point_);
  Mounted m;
  for (const MountInfo& i : ParseMountInfo(text)) {
    if (i.mount_point == mp) {  // the last one is the visible (top) mount
      m.here = true;
      m.info = i;
    }
  }
  if (!m.here) return m;
  std::string dev = RealPathOr(device_);
  struct stat st;
  if (::stat(dev.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    m.ours = major(st.st_rdev) == m.info.major && minor(st.st_rdev) == m.info.minor;
  } else {
    m.ours = m.info.source == dev || m.info.source == device_;
  }
  return m;
}

AgentOutcome FilesystemAgent::Fsck(absl::Duration timeout) {
  bool want = fsck_mode_ == "yes" || (fsck_mode_ == "auto" && (IsExt(fstype_) || fstype_ == "xfs"));
  if (!want) return {AgentOutcome::kOk, "fsck skipped"};
  bool xfs = fstype_ == "xfs";
  std::string cmd = fsck_command_;
  if (cmd.empty()) cmd = xfs ? "/sbin/xfs_repair" : absl::StrCat("/sbin/fsck.", fstype_);
  ProcessSpec p;
  p.argv = xfs ? std::vector<std::string>{cmd, "-n", device_}
               : std::vector<std::string>{cmd, "-p", device_};
  p.timeout = timeout;
  std::string who = absl::StrCat(spec_.name, " fsck (", absl::StrJoin(p.argv, " "), ")");
  absl::StatusOr<ProcessResult> r = runner_->Run(p);
  if (!r.ok()) {
    return {absl::IsNotFound(r.status()) ? AgentOutcome::kFatal : AgentOutcome::kFailed,
            absl::StrCat(who, ": ", r.status().message())};
  }
  if (r->timed_out) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": timed out after ",
                                                absl::FormatDuration(timeout))};
  }
  if (r->signal != 0) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": killed by signal ", r->signal)};
  }
  int c = r->exit_code;
  if (c == 127) {
    return {AgentOutcome::kFatal, absl::StrCat(who, ": checker not installed (exit 127)")};
  }
  if (xfs) {
    if (c == 0) return {AgentOutcome::kOk, "xfs_repair -n: clean"};
    return {AgentOutcome::kFailed,
            absl::StrCat(who, c == 1 ? ": corruption found (run xfs_repair by hand)"
                                     : absl::StrCat(": exit ", c),
                         ": ", LastLines(r->output, 10))};
  }
  if (c == 0) return {AgentOutcome::kOk, "fsck: clean"};
  if (c == 1) return {AgentOutcome::kOk, "fsck: errors corrected"};
  if (c == 2 || c == 3) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": exit ", c,
                         " (errors corrected, system should be rebooted; not mounting): ",
                         LastLines(r->output, 10))};
  }
  std::vector<std::string> what;
  if (c & 4) what.push_back("errors left uncorrected");
  if (c & 8) what.push_back("operational error");
  if (c & 16) what.push_back("usage or syntax error");
  if (c & 32) what.push_back("cancelled by user request");
  if (c & 128) what.push_back("shared-library error");
  return {AgentOutcome::kFailed, absl::StrCat(who, ": exit ", c, " (", absl::StrJoin(what, ", "),
                                              "): ", LastLines(r->output, 10))};
}

AgentOutcome FilesystemAgent::Start(absl::Duration timeout) {
  absl::Time deadline = clock_->Now() + timeout;
  std::string who = absl::StrCat(spec_.name, " start ", device_, " on ", mount_point_);
  absl::StatusOr<Mounted> m = FindMount();
  if (!m.ok()) return {AgentOutcome::kFailed, absl::StrCat(who, ": ", m.status().message())};
  if (m->here && m->ours) return {AgentOutcome::kOk, absl::StrCat(who, ": already mounted")};
  if (m->here) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": ", m->info.source, " (", m->info.major, ":", m->info.minor,
                         ") is mounted there; unmount it first")};
  }
  struct stat st;
  std::string dev = RealPathOr(device_);
  if (::stat(dev.c_str(), &st) != 0) {
    return {AgentOutcome::kFatal, absl::StrCat(who, ": device: ", std::strerror(errno))};
  }
  AgentOutcome f = Fsck(deadline - clock_->Now());
  if (f.code != AgentOutcome::kOk) return f;

  // mkdir -p
  std::string path;
  for (absl::string_view part : absl::StrSplit(mount_point_, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, "/", part);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return {AgentOutcome::kFailed,
              absl::StrCat(who, ": mkdir ", path, ": ", std::strerror(errno))};
    }
  }
  unsigned long flags;
  std::string data;
  SplitOptions(options_, &flags, &data);
  if (::mount(dev.c_str(), mount_point_.c_str(), fstype_.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    int e = errno;
    AgentOutcome::Code code =
        (e == ENODEV || e == ENOTBLK || e == ENOENT) ? AgentOutcome::kFatal : AgentOutcome::kFailed;
    std::string hint;
    if (e == ENODEV) hint = " (file system type not supported by the kernel)";
    if (e == ENOTBLK) hint = " (not a block device; image files need a loop device)";
    if (e == EINVAL) hint = " (bad superblock or options; see dmesg)";
    if (e == EBUSY) hint = " (device already mounted elsewhere?)";
    return {code, absl::StrCat(who, ": mount(", fstype_, ", \"", options_, "\"): ",
                               std::strerror(e), hint)};
  }
  return {AgentOutcome::kOk, absl::StrCat(who, ": ", f.message, "; mounted")};
}

AgentOutcome FilesystemAgent::Monitor(absl::Duration) {
  std::string who = absl::StrCat(spec_.name, " monitor ", mount_point_);
  absl::StatusOr<Mounted> m = FindMount();
  if (!m.ok()) return {AgentOutcome::kFailed, absl::StrCat(who, ": ", m.status().message())};
  if (!m->here) return {AgentOutcome::kNotRunning, absl::StrCat(who, ": not mounted")};
  if (!m->ours) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": mounted from ", m->info.source, ", not ", device_)};
  }
  bool want_ro = HasOption(options_, "ro");
  if (!want_ro && (HasOption(m->info.options, "ro") || HasOption(m->info.super_options, "ro"))) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": mounted read-only (file system errors? see dmesg)")};
  }
  struct stat st;
  if (::stat(mount_point_.c_str(), &st) != 0) {
    return {AgentOutcome::kFailed, absl::StrCat(who, ": stat: ", std::strerror(errno))};
  }
  return {AgentOutcome::kOk, absl::StrCat(who, ": mounted from ", m->info.source)};
}

AgentOutcome FilesystemAgent::Stop(absl::Duration timeout) {
  absl::Time deadline = clock_->Now() + timeout;
  std::string who = absl::StrCat(spec_.name, " stop ", mount_point_);
  absl::StatusOr<Mounted> m = FindMount();
  if (!m.ok()) return {AgentOutcome::kStopFailed, absl::StrCat(who, ": ", m.status().message())};
  if (!m->here) return {AgentOutcome::kOk, absl::StrCat(who, ": not mounted")};
  dev_t dev = makedev(m->info.major, m->info.minor);
  std::set<pid_t> termed;
  absl::Time term_at = absl::InfiniteFuture();
  bool killed = false;
  std::vector<pid_t> holders;
  int err = 0;
  for (;;) {
    if (::umount2(mount_point_.c_str(), 0) == 0) {
      std::string msg = absl::StrCat(who, ": unmounted");
      if (!termed.empty()) {
        absl::StrAppend(&msg, " after signalling holders ", absl::StrJoin(termed, ","),
                        killed ? " (SIGKILL needed)" : " (SIGTERM)");
      }
      return {AgentOutcome::kOk, msg};
    }
    err = errno;
    if (err == EINVAL || err == ENOENT) {
      absl::StatusOr<Mounted> again = FindMount();
      if (again.ok() && !again->here) return {AgentOutcome::kOk, absl::StrCat(who, ": not mounted")};
      return {AgentOutcome::kStopFailed,
              absl::StrCat(who, ": umount: ", std::strerror(err))};
    }
    if (err != EBUSY) break;
    holders = FindHolders(dev);
    if (!kill_holders_) break;
    absl::Time now = clock_->Now();
    for (pid_t p : holders) {
      if (termed.insert(p).second) ::kill(p, SIGTERM);
    }
    if (!holders.empty() && term_at == absl::InfiniteFuture()) term_at = now;
    if (now - term_at >= kill_timeout_) {
      for (pid_t p : holders) ::kill(p, SIGKILL);
      if (!holders.empty()) killed = true;
    }
    if (now >= deadline) break;
    clock_->SleepFor(std::min(absl::Milliseconds(100), deadline - now));
  }
  std::string why = absl::StrCat(
      "umount: ", std::strerror(err),
      err == EBUSY ? absl::StrCat(holders.empty() ? " (no holder process found: submount, "
                                                    "NFS server or kernel user?)"
                                                  : absl::StrCat(" (held by pids ",
                                                                 absl::StrJoin(holders, ","), ")"),
                                  kill_holders_ ? "" : "; set kill_holders=true to kill them")
                   : "");
  if (lazy_umount_ && ::umount2(mount_point_.c_str(), MNT_DETACH) == 0) {
    return {AgentOutcome::kOk,
            absl::StrCat(who, ": ", why, "; lazily detached (MNT_DETACH): the file system "
                                         "stays alive until the last user goes")};
  }
  return {AgentOutcome::kStopFailed, absl::StrCat(who, ": ", why)};
}

}  // namespace hafs::resources
