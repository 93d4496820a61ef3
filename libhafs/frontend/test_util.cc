#include "libhafs/frontend/test_util.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libhafs/base/logging.h"

namespace hafs::frontend::testing {
namespace {

constexpr char kPrefix[] = "/tmp/hafs-frontend-test.";

// Mount points from /proc/self/mountinfo (octal escapes decoded).
std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    std::string decoded;
    const std::string& m = f[4];
    for (size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\\' && i + 3 < m.size()) {
        decoded.push_back(static_cast<char>(std::stoi(m.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        decoded.push_back(m[i]);
      }
    }
    out.push_back(decoded);
  }
  return out;
}

}  // namespace

std::string FuseUnavailableReason() {
  if (geteuid() != 0) {
    return "needs root to mount FUSE (CI runs these tests as root)";
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    return absl::StrCat("/dev/fuse is not usable (", std::strerror(errno),
                        "; modprobe fuse)");
  }
  return "";
}

std::string FuseLoopUnavailableReason() {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) return why;
  if (access("/dev/loop-control", R_OK | W_OK) != 0) {
    return absl::StrCat("/dev/loop-control is not usable (",
                        std::strerror(errno), "; modprobe loop)");
  }
  return "";
}

void CleanStaleTestMounts() {
  std::set<std::string> dead_roots;
  const std::vector<std::string> mounts = MountPoints();
  for (const std::string& m : mounts) {
    if (!absl::StartsWith(m, kPrefix)) continue;
    struct stat st;
    if (stat(m.c_str(), &st) != 0 && errno == ENOTCONN) {
      const size_t slash = m.find('/', sizeof(kPrefix) - 1);
      dead_roots.insert(slash == std::string::npos ? m : m.substr(0, slash));
    }
  }
  // Deepest first, so that ext4 mounts go before the FUSE mount under them.
  std::vector<std::string> victims;
  for (const std::string& m : mounts) {
    for (const std::string& root : dead_roots) {
      if (m == root || absl::StartsWith(m, root + "/")) victims.push_back(m);
    }
  }
  std::sort(victims.begin(), victims.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  for (const std::string& m : victims) {
    HAFS_LOG(WARNING) << "cleaning up stale test mount " << m;
    umount2(m.c_str(), MNT_DETACH);
  }
}

TempDir::TempDir() {
  std::string templ = absl::StrCat(kPrefix, "XXXXXX");
  char* p = mkdtemp(templ.data());
  HAFS_CHECK(p != nullptr) << "mkdtemp " << templ << ": " << std::strerror(errno);
  path_ = p;
}

TempDir::~TempDir() {
  for (auto it = subdirs_.rbegin(); it != subdirs_.rend(); ++it) {
    rmdir(it->c_str());
  }
  rmdir(path_.c_str());
}

std::string TempDir::Subdir(const std::string& name) {
  std::string p = absl::StrCat(path_, "/", name);
  HAFS_CHECK(mkdir(p.c_str(), 0755) == 0) << "mkdir " << p << ": "
                                          << std::strerror(errno);
  subdirs_.push_back(p);
  return p;
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return result;
  // Built before fork(): the child of a multithreaded process must not
  // allocate.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::array<char, 4096> buf;
  ssize_t n;
  while ((n = read(pipefd[0], buf.data(), buf.size())) > 0 ||
         (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buf.data(), static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string FindTool(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string p = absl::StrCat(dir, "/", name);
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

MountGuard::~MountGuard() {
  if (!target_.empty()) umount2(target_.c_str(), MNT_DETACH);
}

int MountGuard::Unmount() {
  if (target_.empty()) return 0;
  const int rc = umount2(target_.c_str(), 0) == 0 ? 0 : errno;
  if (rc == 0) target_.clear();
  return rc;
}

}  // namespace hafs::frontend::testing
