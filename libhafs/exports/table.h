// File: libhafs/exports/table.h
// -----------------------------------------------------------------------------
// The export table as `exportfs -ra` builds it: files are parsed in order
// (/etc/exports first, then each exports.d directory's *.exports in
// versionsort order), each entry's client is classified and looked up
// (single hosts through a HostResolver port; never DNS inside the library),
// the path is resolved through a FileSystem port (realpath), duplicates are
// dropped with nfs-utils' messages, and the result is kept in the exact order
// exportfs writes /var/lib/nfs/etab (per client kind, by path hash bucket).
//
// RenderEtabLine() prints one entry exactly as putexportent() does.
// ExitStatus() is exportfs' exit status: 1 iff any error-level message.
//
// Thread-safety: BuildTable is reentrant if its ports are. Ports are used
// only during the call.
//
// Example:
//   RealFileSystem fs; NoDnsResolver dns;
//   ExportTable t = BuildTable({Source::File("/etc/exports"),
//                               Source::Dir("/etc/exports.d")}, fs, dns, {});
//   for (const Export& e : t.exports) std::cout << RenderEtabLine(e, {}) << "\n";
#ifndef HAFS_LIBHAFS_EXPORTS_TABLE_H_
#define HAFS_LIBHAFS_EXPORTS_TABLE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libhafs/exports/exports.h"

namespace hafs::exports {

// An IPv4 or IPv6 address (v4 stored as 4 bytes), with the IPv6 scope id.
struct IpAddr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  uint32_t scope_id = 0;
  bool operator==(const IpAddr& o) const {
    return family == o.family && bytes == o.bytes && scope_id == o.scope_id;
  }
};
// Strict presentation parse (inet_pton; IPv6 may carry %scope, which must be
// numeric or a local interface name). nullopt if not an address.
std::optional<IpAddr> ParseIp(absl::string_view text);
std::string FormatIp(const IpAddr& a);

// ---- ports ----

// Resolves a single-host client name (as getaddrinfo(AI_CANONNAME) would).
class HostResolver {
 public:
  struct Result {
    std::string canonical;       // name written to etab
    std::vector<IpAddr> addrs;   // may be empty when unknown
  };
  virtual ~HostResolver() = default;
  // nullopt = "Failed to resolve" (the entry is dropped, like exportfs).
  virtual std::optional<Result> Resolve(const std::string& name) const = 0;
};

// No lookups at all: numeric addresses are kept as written; names are kept as
// written but lower-cased and assumed to resolve (with no known address).
class NoDnsResolver : public HostResolver {
 public:
  std::optional<Result> Resolve(const std::string& name) const override;
};

// Resolves names only from an /etc/hosts-format text, as glibc's "files"
// backend does with `hosts: files` (case-insensitive name/alias match,
// canonical name = first name on the first matching line, all matching
// lines' addresses). Numeric addresses resolve to themselves as written.
// Unknown names fail to resolve.
class HostsFileResolver : public HostResolver {
 public:
  explicit HostsFileResolver(absl::string_view hosts_text);
  std::optional<Result> Resolve(const std::string& name) const override;

 private:
  struct Line {
    IpAddr addr;
    std::vector<std::string> names;
  };
  std::vector<Line> lines_;
};

class FileSystem {
 public:
  struct StatResult {
    int err = 0;  // errno, 0 if ok
    bool is_dir = false;
  };
  struct DirEntry {
    std::string name;
    enum class Type { kUnknown, kRegular, kSymlink, kOther } type;
  };
  virtual ~FileSystem() = default;
  virtual std::optional<std::string> RealPath(const std::string& path) const = 0;
  virtual StatResult Stat(const std::string& path) const = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) const = 0;
  // kNotFound if the directory does not exist.
  virtual absl::StatusOr<std::vector<DirEntry>> ListDir(
      const std::string& path) const = 0;
};

// The real file system (realpath(3), stat(2), scandir semantics).
class RealFileSystem : public FileSystem {
 public:
  std::optional<std::string> RealPath(const std::string& path) const override;
  StatResult Stat(const std::string& path) const override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override;
  absl::StatusOr<std::vector<DirEntry>> ListDir(
      const std::string& path) const override;
};

// ---- the table ----

struct Client {
  ClientKind kind = ClientKind::kAnonymous;
  std::string hostname;        // m_hostname: what etab shows
  std::vector<IpAddr> addrs;   // kHost: resolved addresses
  IpAddr subnet_addr;          // kSubnet
  IpAddr subnet_mask;          // kSubnet
};

struct Export {
  ExportEntry entry;    // entry.path is the resolved (realpath) path
  std::string written_path;  // path as written in the file
  int client = -1;      // index into ExportTable::clients
  int file_index = 0;   // index into ExportTable::files
  int order = 0;        // position in file order over all files
};

struct Source {
  enum class Kind { kFile, kDir } kind = Kind::kFile;
  std::string path;
  static Source File(std::string p) { return {Kind::kFile, std::move(p)}; }
  static Source Dir(std::string p) { return {Kind::kDir, std::move(p)}; }
};

struct TableOptions {
  ParseOptions parse;
  // Run exportfs' validate_export() stat checks ("Failed to stat ...").
  bool validate_paths = true;
};

struct ExportTable {
  std::vector<std::string> files;        // files actually read, in order
  std::vector<ParsedFile> parsed;        // per file
  std::vector<Client> clients;
  std::vector<Export> exports;           // etab order
  std::vector<Diagnostic> diagnostics;   // all messages (parse + table)
  int ExitStatus() const;                // 0 or 1, like exportfs -ra
};

// Lists exports.d-style directory files in nfs-utils order (versionsort,
// "*.exports", no leading dot, regular/symlink/unknown only).
absl::StatusOr<std::vector<std::string>> ListExportsDir(const FileSystem& fs,
                                                        const std::string& dir);

ExportTable BuildTable(const std::vector<Source>& sources, const FileSystem& fs,
                       const HostResolver& resolver, const TableOptions& options);

// Same, from already parsed files (no file reading; path resolution and
// validation still use `fs`).
ExportTable BuildTableFromParsed(std::vector<ParsedFile> files,
                                 const FileSystem& fs,
                                 const HostResolver& resolver,
                                 const TableOptions& options);

// putexportent(): "<path>\t<client>(<options>)" without the newline.
std::string RenderEtabLine(const ExportTable& table, const Export& e,
                           uint32_t secinfo_flags = kOldSecinfoFlags);
// Just the "(...)" option text (without parentheses). With
// `rereadable`, squash id lists are written as one squash_uids=/squash_gids=
// option per range (nfs-utils' etab spelling "squash_uids=0-15,20," cannot be
// parsed back) and squash_gids uses its own count.
std::string RenderEtabOptions(const ExportOptions& o,
                              uint32_t secinfo_flags = kOldSecinfoFlags,
                              bool rereadable = false);

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_TABLE_H_
