#include "libhafs/cluster/runtime/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libhafs/base/checksum.h"

namespace hafs::cluster {

namespace {
constexpr absl::string_view kMagic = "hafs-cluster-state";
}  // namespace

std::string SerializeRuntimeState(const RuntimeState& s) {
  std::string body = absl::StrCat(kMagic, " ", kRuntimeStateVersion, "\n",
                                  "incarnation ", s.incarnation, "\n",
                                  "known_term ", s.known_term, "\n",
                                  "outdated ", s.outdated ? 1 : 0, "\n",
                                  "generation ", s.generation, "\n",
                                  "history", s.history.empty() ? "" : " ",
                                  absl::StrJoin(s.history, " "), "\n");
  return absl::StrCat(body, "checksum ", absl::StrFormat("%016x", Checksum64(body)), "\n");
}

absl::StatusOr<RuntimeState> ParseRuntimeState(absl::string_view text,
                                               absl::string_view source) {
  auto bad = [&](int line, absl::string_view what) {
    return absl::DataLossError(absl::StrCat(source, ":", line, ": ", what,
                                            "; hint: the file is damaged; move it away to "
                                            "start with a fresh state (the disk is then "
                                            "treated as not known to be current)"));
  };
  size_t pos = text.rfind("checksum ");
  if (pos == absl::string_view::npos || (pos != 0 && text[pos - 1] != '\n')) {
    return bad(0, "no checksum line");
  }
  absl::string_view body = text.substr(0, pos);
  std::string want = absl::StrFormat("%016x", Checksum64(body));
  absl::string_view got = absl::StripSuffix(text.substr(pos + 9), "\n");
  int checksum_line = 1 + static_cast<int>(std::count(body.begin(), body.end(), '\n'));
  if (got != want) {
    return bad(checksum_line, absl::StrCat("checksum mismatch (stored ", got, ", computed ",
                                           want, ")"));
  }
  RuntimeState s;
  std::map<std::string, bool> seen;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    std::string key(f[0]);
    if (line_no == 1) {
      uint32_t v = 0;
      if (key != kMagic || f.size() != 2 || !absl::SimpleAtoi(f[1], &v)) {
        return bad(1, "not a hafs cluster state file");
      }
      if (v != kRuntimeStateVersion) {
        return bad(1, absl::StrCat("unsupported version ", v, " (this build reads ",
                                   kRuntimeStateVersion, ")"));
      }
      continue;
    }
    if (seen[key]) return bad(line_no, absl::StrCat("duplicate field ", key));
    seen[key] = true;
    if (key == "history") {
      for (size_t i = 1; i < f.size(); ++i) {
        uint64_t g;
        if (!absl::SimpleAtoi(f[i], &g)) return bad(line_no, "bad history entry");
        s.history.push_back(g);
      }
      continue;
    }
    uint64_t v = 0;
    if (f.size() != 2 || !absl::SimpleAtoi(f[1], &v)) {
      return bad(line_no, absl::StrCat("bad value for ", key));
    }
    if (key == "incarnation") {
      s.incarnation = v;
    } else if (key == "known_term") {
      s.known_term = v;
    } else if (key == "outdated") {
      if (v > 1) return bad(line_no, "outdated must be 0 or 1");
      s.outdated = v == 1;
    } else if (key == "generation") {
      s.generation = v;
    } else {
      return bad(line_no, absl::StrCat("unknown field ", key));
    }
  }
  if (line_no == 0) return bad(1, "empty file");
  for (const char* k : {"incarnation", "known_term", "outdated", "generation", "history"}) {
    if (!seen[k]) return bad(line_no, absl::StrCat("missing field ", k));
  }
  return s;
}

absl::StatusOr<std::optional<RuntimeState>> LoadRuntimeStateFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<RuntimeState>();
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read cluster state ", path, ": ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<RuntimeState> s = ParseRuntimeState(ss.str(), path);
  if (!s.ok()) return s.status();
  return std::optional<RuntimeState>(*std::move(s));
}

absl::Status SaveRuntimeStateFile(const std::string& path, const RuntimeState& s) {
  std::string text = SerializeRuntimeState(s);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cluster state: open ", tmp, ": ",
                                            std::strerror(errno)));
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) {
    return absl::InternalError(absl::StrCat("cluster state: write ", tmp, ": ",
                                            std::strerror(e)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cluster state: rename ", tmp, " -> ", path, ": ",
                                            std::strerror(errno)));
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    return absl::InternalError(absl::StrCat("cluster state: open directory ", dir, ": ",
                                            std::strerror(errno)));
  }
  int r = ::fsync(dfd);
  e = errno;
  ::close(dfd);
  if (r != 0) {
    return absl::InternalError(absl::StrCat("cluster state: fsync directory ", dir, ": ",
                                            std::strerror(e)));
  }
  return absl::OkStatus();
}

}  // namespace hafs::cluster
