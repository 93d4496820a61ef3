// File: libhafs/exports/exports.h
// -----------------------------------------------------------------------------
// The exports(5) model and parser, exactly as nfs-utils 2.6.2 reads it
// (support/nfs/xio.c + support/nfs/exports.c), re-implemented from the
// documented behaviour and checked differentially against /usr/sbin/exportfs.
//
// ParseExports() turns the text of ONE exports file into entries. It is a pure
// function (no file system, no DNS, no clock). Like getexportent(), a bad
// entry ends the file: `stopped` is set and no later entry is returned. Every
// message nfs-utils would log is reported as a Diagnostic with the real
// FILE:LINE:COL of the token (nfs-utils' own line counter drifts after
// comments; ours does not).
//
// Thread-safety: all functions are reentrant; values are plain structs.
//
// Example:
//   hafs::exports::ParsedFile f =
//       hafs::exports::ParseExports("/srv *(rw,no_subtree_check)\n",
//                                    "/etc/exports", {});
//   // f.entries[0].client == "*", f.entries[0].opts.flags has no kReadOnly.
#ifndef HAFS_LIBHAFS_EXPORTS_EXPORTS_H_
#define HAFS_LIBHAFS_EXPORTS_EXPORTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hafs::exports {

// Export flags; the numeric values are the kernel's NFSEXP_* values.
enum Flag : uint32_t {
  kReadOnly = 0x0001,
  kInsecurePort = 0x0002,
  kRootSquash = 0x0004,
  kAllSquash = 0x0008,
  kAsync = 0x0010,
  kGatheredWrites = 0x0020,  // wdelay
  kNoReaddirPlus = 0x0040,
  kSecurityLabel = 0x0080,
  kNoHide = 0x0200,
  kNoSubtreeCheck = 0x0400,
  kNoAuthNlm = 0x0800,
  kFsid = 0x2000,
  kCrossMount = 0x4000,
  kNoAcl = 0x8000,
  kPnfs = 0x20000,
};

// ro, root_squash, wdelay, no_subtree_check (EXPORT_DEFAULT_FLAGS).
inline constexpr uint32_t kDefaultFlags =
    kReadOnly | kRootSquash | kGatheredWrites | kNoSubtreeCheck;
// Flags that may differ per sec= flavour when the kernel has no
// /proc/fs/nfsd/export_features (no nfsd loaded): what exportfs uses here.
inline constexpr uint32_t kOldSecinfoFlags = kReadOnly | kRootSquash | kAllSquash;
// The same set as reported by kernels with export_features (>= 3.x).
inline constexpr uint32_t kModernSecinfoFlags =
    kReadOnly | kInsecurePort | kRootSquash | kAllSquash;

// Client kinds in knfsd/mountd precedence order (MCL_* order).
enum class ClientKind { kHost = 0, kSubnet, kWildcard, kNetgroup, kAnonymous, kGss };
inline constexpr int kNumClientKinds = 6;
const char* ClientKindName(ClientKind kind);
// client_gettype(): classification of a client string as written.
ClientKind ClassifyClient(absl::string_view client);

struct Position {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based byte column
};

// One sec= flavour with the flags in force for it.
struct SecFlavor {
  std::string name;  // as first written: sys, unix, krb5, krb5i, krb5p, null, none
  int number = 0;    // RPC flavour number (sys == unix, null == none)
  uint32_t flags = 0;
};

// One xprtsec= mode (nfs-utils >= 2.7.1 only; see ParseOptions).
struct XprtsecMode {
  std::string name;  // none, tls, mtls
  int number = 0;
  uint32_t flags = 0;
};

enum class FsLocMethod { kNone, kRefer, kReplicas };

// The fully expanded options of one (path, client) entry.
struct ExportOptions {
  uint32_t flags = kDefaultFlags;
  int anonuid = 65534;
  int anongid = 65534;
  int fsid = 0;                     // meaningful iff flags & kFsid
  std::optional<std::string> uuid;  // fsid=<32 hex digits somewhere>
  std::optional<std::string> mountpoint;  // "" for bare mountpoint/mp
  FsLocMethod fsloc = FsLocMethod::kNone;
  std::string fsloc_data;
  std::vector<int> squash_uids;  // pairs lo,hi
  std::vector<int> squash_gids;  // pairs lo,hi
  std::vector<SecFlavor> secinfo;
  std::vector<XprtsecMode> xprtsec;
};

// An option keyword as written, with its source position (for the linter).
struct OptionUse {
  std::string text;
  Position pos;
  bool from_defaults = false;  // came from a "-opts" token
};

struct ExportEntry {
  std::string path;    // decoded (quotes stripped, \ooo decoded), not resolved
  std::string client;  // as written; "" = no client given; "*" for "(opts)"
  ExportOptions opts;
  Position path_pos;
  Position client_pos;
  bool has_option_list = false;   // "client(opts)" form
  bool has_default_opts = false;  // line has "-opts"
  bool had_subtree_opt = false;   // subtree_check/no_subtree_check given
  bool empty_host_paren = false;  // "(opts)" with no host
  std::vector<OptionUse> options;  // defaults first, then the client's
};

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  Position pos;
  std::string code;     // stable id, e.g. "unknown-option"
  std::string message;  // one line
  std::string hint;     // may be empty
};

struct ParseOptions {
  // Accept xprtsec= (nfs-utils >= 2.7.1). Off = exactly 2.6.2, which
  // rejects it as an unknown keyword.
  bool accept_xprtsec = false;
  // Flags allowed to vary per flavour (see kOldSecinfoFlags).
  uint32_t secinfo_flags = kOldSecinfoFlags;
};

struct ParsedFile {
  std::string name;
  std::vector<ExportEntry> entries;
  std::vector<Diagnostic> diagnostics;  // nfs-utils' own messages, in order
  bool stopped = false;                 // a bad entry ended the file here
  Position stop_pos;
};

ParsedFile ParseExports(absl::string_view text, absl::string_view filename,
                        const ParseOptions& options);

// The option keywords nfs-utils 2.6.2 accepts (bare, or with "=" suffix for
// valued ones, e.g. "anonuid="). Used by the linter for suggestions.
const std::vector<std::string>& KnownOptionKeywords();

// fprintpath(): escapes control chars, space, '"', '\\' and '#' as \ooo.
std::string EscapePath(absl::string_view path);

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_EXPORTS_H_
