#include "libhafs/exports/table.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace hafs::exports {
namespace {

std::optional<IpAddr> FromSockaddr(const struct sockaddr* sa) {
  IpAddr a;
  if (sa->sa_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const struct sockaddr_in*>(sa);
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &s4->sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const struct sockaddr_in6*>(sa);
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), &s6->sin6_addr, 16);
    a.scope_id = s6->sin6_scope_id;
    return a;
  }
  return std::nullopt;
}

// getaddrinfo(AI_NUMERICHOST): pure parsing, no lookups. Returns all
// addresses (one for a numeric host).
std::optional<IpAddr> NumericHost(const std::string& text) {
  struct addrinfo hint = {};
  hint.ai_family = AF_UNSPEC;
  hint.ai_protocol = IPPROTO_UDP;
  hint.ai_flags = AI_NUMERICHOST;
  struct addrinfo* ai = nullptr;
  if (getaddrinfo(text.c_str(), nullptr, &hint, &ai) != 0 || ai == nullptr) {
    return std::nullopt;
  }
  std::optional<IpAddr> a = FromSockaddr(ai->ai_addr);
  freeaddrinfo(ai);
  return a;
}

// host_pton: strict IPv4 (inet_pton) or numeric IPv6.
std::optional<IpAddr> HostPton(const std::string& text) {
  struct in_addr in4;
  bool inet4 = inet_pton(AF_INET, text.c_str(), &in4) == 1;
  std::optional<IpAddr> a = NumericHost(text);
  if (!a) return std::nullopt;
  if (!inet4 && a->family == AF_INET) return std::nullopt;
  return a;
}

bool SameAddr(const IpAddr& a, const IpAddr& b) {
  if (a.family != b.family) return false;
  size_t n = a.family == AF_INET ? 4 : 16;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), n) != 0) return false;
  if (a.family == AF_INET6 && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80) {
    return a.scope_id == b.scope_id;  // link-local: scope matters
  }
  return true;
}

int ExportHash(const std::string& path) {
  unsigned int n = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    n += static_cast<unsigned int>(static_cast<int>(static_cast<signed char>(path[i])) *
                                   static_cast<int>(i));
  }
  return static_cast<int>(n % 1021);
}

}  // namespace

std::optional<IpAddr> ParseIp(absl::string_view text) {
  return NumericHost(std::string(text));
}

std::string FormatIp(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN + 16] = {0};
  inet_ntop(a.family, a.bytes.data(), buf, sizeof(buf));
  std::string s = buf;
  if (a.family == AF_INET6 && a.scope_id != 0) absl::StrAppend(&s, "%", a.scope_id);
  return s;
}

// ---- resolvers ----

std::optional<HostResolver::Result> NoDnsResolver::Resolve(
    const std::string& name) const {
  Result r;
  if (std::optional<IpAddr> a = NumericHost(name)) {
    r.canonical = name;
    r.addrs.push_back(*a);
    return r;
  }
  r.canonical = absl::AsciiStrToLower(name);
  return r;
}

HostsFileResolver::HostsFileResolver(absl::string_view hosts_text) {
  for (absl::string_view line : absl::StrSplit(hosts_text, '\n')) {
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.size() < 2) continue;
    std::optional<IpAddr> a = NumericHost(std::string(words[0]));
    if (!a) continue;
    Line l;
    l.addr = *a;
    for (size_t i = 1; i < words.size(); ++i) l.names.emplace_back(words[i]);
    lines_.push_back(std::move(l));
  }
}

std::optional<HostResolver::Result> HostsFileResolver::Resolve(
    const std::string& name) const {
  Result r;
  if (std::optional<IpAddr> a = NumericHost(name)) {
    r.canonical = name;
    r.addrs.push_back(*a);
    return r;
  }
  bool found = false;
  for (const Line& l : lines_) {
    for (const std::string& n : l.names) {
      if (absl::EqualsIgnoreCase(n, name)) {
        if (!found) r.canonical = l.names[0];
        found = true;
        r.addrs.push_back(l.addr);
        break;
      }
    }
  }
  if (!found) return std::nullopt;
  return r;
}

// ---- file system ----

std::optional<std::string> RealFileSystem::RealPath(const std::string& path) const {
  char buf[PATH_MAX + 1];
  if (realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

FileSystem::StatResult RealFileSystem::Stat(const std::string& path) const {
  struct stat st;
  StatResult r;
  if (stat(path.c_str(), &st) < 0) {
    r.err = errno;
    return r;
  }
  r.is_dir = S_ISDIR(st.st_mode);
  return r;
}

absl::StatusOr<std::string> RealFileSystem::ReadFile(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(e)));
    return absl::PermissionDeniedError(absl::StrCat(path, ": ", strerror(e)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::StatusOr<std::vector<FileSystem::DirEntry>> RealFileSystem::ListDir(
    const std::string& path) const {
  struct dirent** names = nullptr;
  int n = scandir(path.c_str(), &names, nullptr, versionsort);
  if (n < 0) {
    int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(e)));
    return absl::FailedPreconditionError(absl::StrCat("scandir ", path, ": ", strerror(e)));
  }
  std::vector<DirEntry> out;
  for (int i = 0; i < n; ++i) {
    DirEntry d;
    d.name = names[i]->d_name;
    switch (names[i]->d_type) {
      case DT_UNKNOWN: d.type = DirEntry::Type::kUnknown; break;
      case DT_REG: d.type = DirEntry::Type::kRegular; break;
      case DT_LNK: d.type = DirEntry::Type::kSymlink; break;
      default: d.type = DirEntry::Type::kOther; break;
    }
    out.push_back(std::move(d));
    free(names[i]);
  }
  free(names);
  return out;
}

absl::StatusOr<std::vector<std::string>> ListExportsDir(const FileSystem& fs,
                                                        const std::string& dir) {
  absl::StatusOr<std::vector<FileSystem::DirEntry>> ents = fs.ListDir(dir);
  if (!ents.ok()) return ents.status();
  std::vector<std::string> out;
  for (const FileSystem::DirEntry& d : *ents) {
    if (d.type == FileSystem::DirEntry::Type::kOther) continue;
    if (d.name.empty() || d.name[0] == '.') continue;
    if (d.name.size() < 8 || !absl::EndsWith(d.name, ".exports")) continue;
    out.push_back(absl::StrCat(dir, "/", d.name));
  }
  return out;
}

int ExportTable::ExitStatus() const {
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::kError) return 1;
  }
  return 0;
}

namespace {

class Builder {
 public:
  Builder(const FileSystem& fs, const HostResolver& resolver,
          const TableOptions& options)
      : fs_(fs), resolver_(resolver), options_(options) {}

  void AddFile(ParsedFile pf) {
    int file_index = static_cast<int>(t_.files.size());
    t_.files.push_back(pf.name);
    for (const Diagnostic& d : pf.diagnostics) t_.diagnostics.push_back(d);
    for (const ExportEntry& e : pf.entries) AddEntry(e, file_index);
    t_.parsed.push_back(std::move(pf));
  }

  void ReadFile(const std::string& path) {
    absl::StatusOr<std::string> text = fs_.ReadFile(path);
    if (!text.ok()) {
      Error(Position{path, 0, 0}, "cannot-open",
            absl::StrFormat("can't open %s for reading", path),
            std::string(text.status().message()));
      ParsedFile pf;
      pf.name = path;
      t_.files.push_back(path);
      t_.parsed.push_back(std::move(pf));
      return;
    }
    AddFile(ParseExports(*text, path, options_.parse));
  }

  void ReadDir(const std::string& dir) {
    absl::StatusOr<std::vector<std::string>> files = ListExportsDir(fs_, dir);
    if (!files.ok()) {
      if (absl::IsNotFound(files.status())) return;  // silently ignored
      Warn(Position{dir, 0, 0}, "scandir", std::string(files.status().message()));
      return;
    }
    for (const std::string& f : *files) ReadFile(f);
  }

  ExportTable Finish() {
    // etab order: kinds in MCL order; within a kind, hash buckets newest
    // first, entries of a bucket in insertion order.
    for (int k = 0; k < kNumClientKinds; ++k) {
      for (auto it = groups_[k].rbegin(); it != groups_[k].rend(); ++it) {
        for (int idx : it->second) t_.exports.push_back(std::move(pending_[idx]));
      }
    }
    if (options_.validate_paths) {
      for (const Export& e : t_.exports) Validate(e);
    }
    return std::move(t_);
  }

 private:
  void Error(Position p, std::string code, std::string msg, std::string hint = "") {
    t_.diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, std::move(p),
                                        std::move(code), std::move(msg),
                                        std::move(hint)});
  }
  void Warn(Position p, std::string code, std::string msg, std::string hint = "") {
    t_.diagnostics.push_back(Diagnostic{Diagnostic::Severity::kWarning,
                                        std::move(p), std::move(code),
                                        std::move(msg), std::move(hint)});
  }

  // client_lookup. Returns the client index or -1 (entry dropped).
  int LookupClient(const std::string& written, const Position& pos) {
    ClientKind kind = ClassifyClient(written);
    std::string hname = written.substr(0, written.find('\0'));
    if (kind == ClientKind::kHost) {
      std::optional<HostResolver::Result> r = resolver_.Resolve(hname);
      if (!r) {
        Warn(pos, "unresolved-host", absl::StrFormat("Failed to resolve %s", hname),
             "the entry is dropped; use an address or a name the server can "
             "resolve");
        return -1;
      }
      for (size_t i = 0; i < t_.clients.size(); ++i) {
        const Client& c = t_.clients[i];
        if (c.kind != ClientKind::kHost) continue;
        bool match = false;
        if (r->addrs.empty() || c.addrs.empty()) {
          match = absl::EqualsIgnoreCase(c.hostname, r->canonical);
        } else {
          for (const IpAddr& a : r->addrs) {
            for (const IpAddr& b : c.addrs) match = match || SameAddr(a, b);
          }
        }
        if (match) return static_cast<int>(i);
      }
      Client c;
      c.kind = kind;
      c.hostname = r->canonical;
      c.addrs = r->addrs;
      if (c.addrs.size() > 16) c.addrs.resize(16);
      t_.clients.push_back(std::move(c));
      return static_cast<int>(t_.clients.size() - 1);
    }
    for (size_t i = 0; i < t_.clients.size(); ++i) {
      const Client& c = t_.clients[i];
      if (c.kind == kind && strcasecmp(c.hostname.c_str(), hname.c_str()) == 0) {
        return static_cast<int>(i);
      }
    }
    Client c;
    c.kind = kind;
    c.hostname = hname;
    if (kind == ClientKind::kSubnet && !InitSubnet(&c, pos)) return -1;
    t_.clients.push_back(std::move(c));
    return static_cast<int>(t_.clients.size() - 1);
  }

  bool InitSubnet(Client* c, const Position& pos) {
    size_t slash = c->hostname.find('/');
    std::string addr = c->hostname.substr(0, slash);
    std::optional<IpAddr> a = HostPton(addr);
    if (!a) {
      Error(pos, "bad-subnet", absl::StrFormat("Invalid IP address %s", c->hostname),
            "write a subnet as ADDR/LEN or IPv4 ADDR/DOTTED.MASK");
      return false;
    }
    c->subnet_addr = *a;
    c->subnet_addr.scope_id = 0;
    IpAddr mask;
    mask.family = a->family;
    const std::string m = c->hostname.substr(slash + 1);
    bool v4 = a->family == AF_INET;
    const char sep = v4 ? '.' : ':';
    if (m.find(sep) != std::string::npos) {
      if (inet_pton(a->family, m.c_str(), mask.bytes.data()) != 1) {
        Error(pos, "bad-subnet",
              absl::StrFormat("Invalid netmask `%s' for %s", m, c->hostname),
              "a dotted netmask must be a valid address, e.g. 255.255.255.0");
        return false;
      }
      c->subnet_mask = mask;
      return true;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long len = std::strtoul(m.c_str(), &end, 10);
    unsigned long max = v4 ? 32 : 128;
    if ((*end != '\0' && len != ULONG_MAX && errno != ERANGE) || len > max) {
      Error(pos, "bad-subnet",
            absl::StrFormat("Invalid prefix `%s' for %s", m, c->hostname),
            absl::StrFormat("the prefix length must be 0..%d", max));
      return false;
    }
    // Exactly what nfs-utils computes on x86-64: a shift by 32 is a shift by
    // 0, so /0 means "all ones" in the first 32-bit word.
    size_t word = 0;
    while (len > 32) {
      for (int b = 0; b < 4; ++b) mask.bytes[word * 4 + b] = 0xff;
      ++word;
      len -= 32;
    }
    uint32_t shift = 32 - static_cast<uint32_t>(len);
    uint32_t w = shift >= 32 ? 0xffffffffu : (0xffffffffu << shift);
    for (int b = 0; b < 4; ++b) {
      mask.bytes[word * 4 + b] = static_cast<uint8_t>(w >> (24 - 8 * b));
    }
    c->subnet_mask = mask;
    return true;
  }

  void AddEntry(const ExportEntry& in, int file_index) {
    Export x;
    x.entry = in;
    x.written_path = in.path;
    x.file_index = file_index;
    x.order = next_order_++;
    if (std::optional<std::string> rp = fs_.RealPath(in.path)) {
      x.entry.path = rp->substr(0, 1024);
    }
    int client = LookupClient(in.client, in.client_pos);
    if (client < 0) return;
    x.client = client;
    auto key = std::make_pair(client, x.entry.path);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      const Export& first = pending_[it->second];
      const Client& c = t_.clients[client];
      if (first.entry.opts.flags != x.entry.opts.flags) {
        Error(in.client_pos, "incompatible-duplicate",
              absl::StrFormat("incompatible duplicated export entries: %s:%s "
                              "(0x%x) [IGNORED], %s:%s (0x%x)",
                              in.client, x.entry.path, x.entry.opts.flags,
                              first.entry.client, first.entry.path,
                              first.entry.opts.flags),
              absl::StrFormat("the first entry for %s:%s (%s:%d) wins; merge "
                              "or delete this one",
                              c.hostname, x.entry.path,
                              first.entry.client_pos.file,
                              first.entry.client_pos.line));
      } else {
        Error(in.client_pos, "duplicate",
              absl::StrFormat("duplicated export entries: %s:%s, %s:%s",
                              in.client, x.entry.path, first.entry.client,
                              first.entry.path),
              absl::StrFormat("delete this entry; %s:%d already exports it",
                              first.entry.client_pos.file,
                              first.entry.client_pos.line));
      }
      return;
    }
    int idx = static_cast<int>(pending_.size());
    int kind = static_cast<int>(t_.clients[client].kind);
    int h = ExportHash(x.entry.path);
    auto& groups = groups_[kind];
    auto git = group_index_[kind].find(h);
    if (git == group_index_[kind].end()) {
      group_index_[kind][h] = groups.size();
      groups.emplace_back(h, std::vector<int>{idx});
    } else {
      groups[git->second].second.push_back(idx);
    }
    by_key_[key] = idx;
    pending_.push_back(std::move(x));
  }

  void Validate(const Export& e) {
    FileSystem::StatResult st = fs_.Stat(e.entry.path);
    if (st.err != 0) {
      Error(e.entry.path_pos, "path-missing",
            absl::StrFormat("Failed to stat %s: %s", e.entry.path,
                            strerror(st.err)),
            "create the directory or fix the path; knfsd cannot export it");
      return;
    }
    if (!st.is_dir) {
      Error(e.entry.path_pos, "not-a-directory",
            absl::StrFormat("%s is not a directory. Remote access will fail",
                            e.entry.path));
    }
  }

  const FileSystem& fs_;
  const HostResolver& resolver_;
  TableOptions options_;
  ExportTable t_;
  std::vector<Export> pending_;
  std::map<std::pair<int, std::string>, int> by_key_;
  std::vector<std::pair<int, std::vector<int>>> groups_[kNumClientKinds];
  std::map<int, size_t> group_index_[kNumClientKinds];
  int next_order_ = 0;
};

void AppendSecinfoFlags(std::string* out, uint32_t flags, uint32_t mask) {
  struct M {
    uint32_t flag;
    const char* set;
    const char* unset;
  };
  static constexpr M kMap[] = {{kReadOnly, "ro", "rw"},
                               {kInsecurePort, "insecure", "secure"},
                               {kRootSquash, "root_squash", "no_root_squash"},
                               {kAllSquash, "all_squash", "no_all_squash"}};
  for (const M& m : kMap) {
    if (!(mask & m.flag)) continue;
    absl::StrAppend(out, ",", (flags & m.flag) ? m.set : m.unset);
  }
}

}  // namespace

ExportTable BuildTable(const std::vector<Source>& sources, const FileSystem& fs,
                       const HostResolver& resolver, const TableOptions& options) {
  Builder b(fs, resolver, options);
  for (const Source& s : sources) {
    if (s.kind == Source::Kind::kFile) {
      b.ReadFile(s.path);
    } else {
      b.ReadDir(s.path);
    }
  }
  return b.Finish();
}

ExportTable BuildTableFromParsed(std::vector<ParsedFile> files, const FileSystem& fs,
                                 const HostResolver& resolver,
                                 const TableOptions& options) {
  Builder b(fs, resolver, options);
  for (ParsedFile& f : files) b.AddFile(std::move(f));
  return b.Finish();
}

std::string RenderEtabOptions(const ExportOptions& o, uint32_t secinfo_flags,
                              bool rereadable) {
  const uint32_t f = o.flags;
  std::string s;
  s.reserve(256);
  absl::StrAppend(&s, (f & kReadOnly) ? "ro," : "rw,");
  absl::StrAppend(&s, (f & kAsync) ? "async," : "sync,");
  absl::StrAppend(&s, (f & kGatheredWrites) ? "wdelay," : "no_wdelay,");
  absl::StrAppend(&s, (f & kNoHide) ? "nohide," : "hide,");
  absl::StrAppend(&s, (f & kCrossMount) ? "crossmnt," : "nocrossmnt,");
  absl::StrAppend(&s, (f & kInsecurePort) ? "insecure," : "secure,");
  absl::StrAppend(&s, (f & kRootSquash) ? "root_squash," : "no_root_squash,");
  absl::StrAppend(&s, (f & kAllSquash) ? "all_squash," : "no_all_squash,");
  absl::StrAppend(&s, (f & kNoSubtreeCheck) ? "no_subtree_check," : "subtree_check,");
  absl::StrAppend(&s, (f & kNoAuthNlm) ? "insecure_locks," : "secure_locks,");
  absl::StrAppend(&s, (f & kNoAcl) ? "no_acl," : "acl,");
  if (f & kNoReaddirPlus) absl::StrAppend(&s, "nordirplus,");
  if (f & kSecurityLabel) absl::StrAppend(&s, "security_label,");
  absl::StrAppend(&s, (f & kPnfs) ? "pnfs," : "no_pnfs,");
  if (f & kFsid) absl::StrAppend(&s, "fsid=", o.fsid, ",");
  if (o.uuid) absl::StrAppend(&s, "fsid=", *o.uuid, ",");
  if (o.mountpoint) {
    absl::StrAppend(&s, "mountpoint", o.mountpoint->empty() ? "" : "=",
                    *o.mountpoint, ",");
  }
  if (o.fsloc == FsLocMethod::kRefer) {
    absl::StrAppend(&s, "refer=", EscapePath(o.fsloc_data), ",");
  } else if (o.fsloc == FsLocMethod::kReplicas) {
    absl::StrAppend(&s, "replicas=", EscapePath(o.fsloc_data), ",");
  }
  auto ids = [&](const char* name, const std::vector<int>& v, size_t n) {
    absl::StrAppend(&s, name);
    // nfs-utils loops over the uid count for both lists.
    for (size_t i = 0; i < n && i + 1 < v.size(); i += 2) {
      if (v[i] != v[i + 1]) {
        absl::StrAppend(&s, v[i], "-", v[i + 1], ",");
      } else {
        absl::StrAppend(&s, v[i], ",");
      }
    }
  };
  if (rereadable) {
    auto each = [&](const char* name, const std::vector<int>& v) {
      for (size_t i = 0; i + 1 < v.size(); i += 2) {
        absl::StrAppend(&s, name, v[i]);
        if (v[i] != v[i + 1]) absl::StrAppend(&s, "-", v[i + 1]);
        absl::StrAppend(&s, ",");
      }
    };
    each("squash_uids=", o.squash_uids);
    each("squash_gids=", o.squash_gids);
  } else {
    if (!o.squash_uids.empty()) ids("squash_uids=", o.squash_uids, o.squash_uids.size());
    if (!o.squash_gids.empty()) ids("squash_gids=", o.squash_gids, o.squash_uids.size());
  }
  absl::StrAppend(&s, "anonuid=", o.anonuid, ",anongid=", o.anongid);
  std::vector<SecFlavor> sec = o.secinfo;
  if (sec.empty()) sec.push_back(SecFlavor{"sys", 1, f});
  for (size_t i = 0; i < sec.size();) {
    absl::StrAppend(&s, ",sec=", sec[i].name);
    size_t j = i + 1;
    while (j < sec.size() && sec[j].flags == sec[i].flags) {
      absl::StrAppend(&s, ":", sec[j].name);
      ++j;
    }
    AppendSecinfoFlags(&s, sec[i].flags, secinfo_flags);
    i = j;
  }
  for (size_t i = 0; i < o.xprtsec.size();) {
    absl::StrAppend(&s, ",xprtsec=", o.xprtsec[i].name);
    size_t j = i + 1;
    while (j < o.xprtsec.size() && o.xprtsec[j].flags == o.xprtsec[i].flags) {
      absl::StrAppend(&s, ":", o.xprtsec[j].name);
      ++j;
    }
    i = j;
  }
  return s;
}

std::string RenderEtabLine(const ExportTable& table, const Export& e,
                           uint32_t secinfo_flags) {
  return absl::StrCat(EscapePath(e.entry.path), "\t",
                      table.clients[e.client].hostname, "(",
                      RenderEtabOptions(e.entry.opts, secinfo_flags), ")");
}

}  // namespace hafs::exports
