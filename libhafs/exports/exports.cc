// The exports(5) tokenizer and parser. Behaviour follows nfs-utils 2.6.2
// (xio.c's character reader with pushback, xgettok's in-token quote toggling
// and \ooo decoding, getexportent's state machine including its reuse of the
// previous client token buffer, parseopts' per-flavour flag handling); the
// code is our own. See docs/exports.md for the grammar as implemented.
#include "libhafs/exports/exports.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace hafs::exports {

const char* ClientKindName(ClientKind kind) {
  switch (kind) {
    case ClientKind::kHost: return "host";
    case ClientKind::kSubnet: return "subnet";
    case ClientKind::kWildcard: return "wildcard";
    case ClientKind::kNetgroup: return "netgroup";
    case ClientKind::kAnonymous: return "anonymous";
    case ClientKind::kGss: return "gss";
  }
  return "?";
}

ClientKind ClassifyClient(absl::string_view ident) {
  // C-string semantics: an embedded NUL ends the name.
  size_t nul = ident.find('\0');
  if (nul != absl::string_view::npos) ident = ident.substr(0, nul);
  if (ident.empty() || ident == "*") return ClientKind::kAnonymous;
  if (absl::StartsWith(ident, "gss/")) return ClientKind::kGss;
  if (ident[0] == '@') return ClientKind::kNetgroup;
  for (size_t i = 0; i < ident.size(); ++i) {
    char c = ident[i];
    if (c == '*' || c == '?' || c == '[') return ClientKind::kWildcard;
    if (c == '/') return ClientKind::kSubnet;
    if (c == '\\' && i + 1 < ident.size()) ++i;
  }
  return ClientKind::kHost;
}

std::string EscapePath(absl::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char ch : path) {
    if (ch == '\0') break;
    // iscntrl/isspace on a (signed) char: bytes >= 0x80 are neither in "C".
    int c = static_cast<signed char>(ch);
    bool esc = (c >= 0 && (std::iscntrl(c) || std::isspace(c))) || ch == '"' ||
               ch == '\\' || ch == '#';
    if (esc) {
      absl::StrAppendFormat(&out, "\\%03o", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

const std::vector<std::string>& KnownOptionKeywords() {
  static const auto* kw = new std::vector<std::string>{
      "ro", "rw", "secure", "insecure", "sync", "async", "nordirplus",
      "security_label", "nohide", "hide", "crossmnt", "nocrossmnt", "wdelay",
      "no_wdelay", "root_squash", "no_root_squash", "all_squash",
      "no_all_squash", "subtree_check", "no_subtree_check", "auth_nlm",
      "no_auth_nlm", "secure_locks", "insecure_locks", "acl", "no_acl", "pnfs",
      "no_pnfs", "anonuid=", "anongid=", "squash_uids=", "squash_gids=",
      "fsid=", "mountpoint", "mp", "mountpoint=", "mp=", "refer=", "replicas=",
      "sec="};
  return *kw;
}

namespace {

constexpr int kEof = -1;
constexpr size_t kPathBufLen = 1024 + 1;  // NFS_MAXPATHLEN + 1
constexpr size_t kExpBufLen = 512;

struct Flav {
  const char* name;
  int number;
};
constexpr Flav kFlavors[] = {{"krb5", 390003}, {"krb5i", 390004},
                             {"krb5p", 390005}, {"unix", 1},
                             {"sys", 1},        {"null", 0},
                             {"none", 0}};
constexpr Flav kXprtsec[] = {{"none", 1}, {"tls", 2}, {"mtls", 3}};

// The entry of `table` named `name`, or nullptr.
template <size_t N>
const Flav* FindFlav(const Flav (&table)[N], absl::string_view name) {
  for (const Flav& f : table) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

// A character with the byte offset it came from (for positions).
struct Ch {
  int c;
  size_t off;
};

// A token: decoded bytes plus the source offset of each byte.
struct Tok {
  std::string s;
  std::vector<size_t> off;
};

class Parser {
 public:
  Parser(absl::string_view text, absl::string_view filename,
         const ParseOptions& options)
      : text_(text), options_(options) {
    out_.name = std::string(filename);
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  ParsedFile Run() {
    for (;;) {
      ExportEntry e;
      int r = Next(&e);
      if (r <= 0) {
        if (r < 0) {
          out_.stopped = true;
          out_.stop_pos = stop_pos_;
        }
        break;
      }
      out_.entries.push_back(std::move(e));
    }
    return std::move(out_);
  }

 private:
  Position Pos(size_t off) const {
    Position p;
    p.file = out_.name;
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    size_t line = static_cast<size_t>(it - line_starts_.begin());
    p.line = static_cast<int>(line);
    p.col = static_cast<int>(off - line_starts_[line - 1]) + 1;
    return p;
  }

  void Diag(Diagnostic::Severity sev, size_t off, std::string code,
            std::string msg, std::string hint = "") {
    Diagnostic d;
    d.severity = sev;
    d.pos = Pos(off);
    d.code = std::move(code);
    d.message = std::move(msg);
    d.hint = std::move(hint);
    out_.diagnostics.push_back(std::move(d));
  }
  void Error(size_t off, std::string code, std::string msg,
             std::string hint = "") {
    Diag(Diagnostic::Severity::kError, off, std::move(code), std::move(msg),
         std::move(hint));
  }
  void Warn(size_t off, std::string code, std::string msg,
            std::string hint = "") {
    Diag(Diagnostic::Severity::kWarning, off, std::move(code), std::move(msg),
         std::move(hint));
  }

  // ---- character layer (stdio getc/ungetc with an unbounded pushback) ----
  Ch RawGetc() {
    if (!pushback_.empty()) {
      Ch c = pushback_.back();
      pushback_.pop_back();
      return c;
    }
    if (pos_ >= text_.size()) return {kEof, text_.size()};
    size_t off = pos_++;
    return {static_cast<unsigned char>(text_[off]), off};
  }
  void RawUngetc(Ch c) {
    if (c.c == kEof) return;
    pushback_.push_back(Ch{c.c & 0xff, c.off});
  }
  // xgetc: backslash-newline becomes one space and eats the next line's
  // leading blanks.
  Ch XGetc() {
    Ch c = RawGetc();
    if (c.c != '\\') return c;
    Ch n = RawGetc();
    if (n.c != '\n') {
      RawUngetc(n);
      return c;
    }
    Ch s;
    do {
      s = RawGetc();
    } while (s.c == ' ' || s.c == '\t');
    RawUngetc(s);
    return {' ', c.off};
  }
  Ch SkipComment() {
    Ch c;
    do {
      c = RawGetc();
    } while (c.c != kEof && c.c != '\n');
    return c;
  }
  // xskip: skip characters in `set` (NUL counts as a member, like strchr),
  // treating '#' as the start of a comment.
  void XSkip(const char* set) {
    Ch c;
    while ((c = XGetc()).c != kEof) {
      if (c.c == '#') c = SkipComment();
      bool member = c.c != kEof &&
                    (c.c == 0 || std::strchr(set, static_cast<char>(c.c)));
      if (!member) break;
    }
    RawUngetc(c);
  }
  static bool IsOctal(int c) { return c >= '0' && c <= '7'; }
  // xgettok with sepa == 0. Returns 1 token, 0 none, -1 too long.
  // On 0 the buffer is left untouched (callers rely on that).
  int XGetTok(size_t len, Tok* tok, size_t* start_off) {
    std::vector<int> buf;
    std::vector<size_t> offs;
    int c = 0;
    size_t last_off = 0;
    bool quoted = false;
    bool first = true;
    for (;;) {
      if (!(buf.size() < len)) break;
      Ch ch = XGetc();
      c = ch.c;
      last_off = ch.off;
      if (c == kEof) break;
      if (!quoted && (c == 0 || std::isspace(c))) break;
      if (first) {
        *start_off = ch.off;
        first = false;
      }
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      buf.push_back(static_cast<signed char>(c));
      offs.push_back(ch.off);
      size_t i = buf.size();
      if (i >= 4 && buf[i - 4] == '\\' && IsOctal(buf[i - 3]) &&
          IsOctal(buf[i - 2]) && IsOctal(buf[i - 1])) {
        c = (buf[i - 3] - '0') * 64 + (buf[i - 2] - '0') * 8 + (buf[i - 1] - '0');
        if (c < 256) {
          size_t o = offs[i - 4];
          buf.resize(i - 4);
          offs.resize(i - 4);
          buf.push_back(static_cast<signed char>(c));
          offs.push_back(o);
        }
      }
    }
    if (c == '\n') RawUngetc(Ch{'\n', last_off});
    if (buf.empty()) return 0;
    if (buf.size() >= len) return -1;
    tok->s.clear();
    for (int b : buf) tok->s.push_back(static_cast<char>(b));
    tok->off = std::move(offs);
    return 1;
  }

  int GetPath(Tok* path, size_t* off) {
    XSkip(" \t\n");
    *off = pos_;
    if (!pushback_.empty()) *off = pushback_.back().off;
    return XGetTok(kPathBufLen, path, off);
  }
  int GetExport(size_t* off) {
    XSkip(" \t");
    size_t start = pos_;
    if (!pushback_.empty()) start = pushback_.back().off;
    size_t tok_off = start;
    Tok t;
    int ok = XGetTok(kExpBufLen, &t, &tok_off);
    if (ok > 0) {
      exp_ = std::move(t);
      exp_off_ = tok_off;
      exp_cstr_ = exp_.s.substr(0, exp_.s.find('\0'));
    }
    *off = ok > 0 ? tok_off : start;
    if (ok < 0) {
      Error(start, "syntax-error",
            "syntax error: client token is 512 bytes or longer",
            "shorten the client specification");
    }
    return ok;
  }

  // ---- options ----
  static void SetFlags(uint32_t mask, uint32_t active, ExportOptions* o) {
    o->flags |= mask;
    for (size_t b = 0; b < o->secinfo.size(); ++b) {
      if (active & (1u << b)) o->secinfo[b].flags |= mask;
    }
  }
  static void ClearFlags(uint32_t mask, uint32_t active, ExportOptions* o) {
    o->flags &= ~mask;
    for (size_t b = 0; b < o->secinfo.size(); ++b) {
      if (active & (1u << b)) o->secinfo[b].flags &= ~mask;
    }
  }

  // strtol-like parse of an id for squash lists (parsenum: optional '-',
  // digits, then atoi of that span).
  static int ParseNum(const std::string& s, size_t* i) {
    size_t start = *i;
    if (*i < s.size() && s[*i] == '-') ++*i;
    while (*i < s.size() && std::isdigit(static_cast<unsigned char>(s[*i]))) ++*i;
    std::string span = s.substr(start, *i - start);
    return static_cast<int>(std::strtol(span.c_str(), nullptr, 10));
  }

  // parsesquash on the option's own (comma-free) value.
  bool ParseSquash(const std::string& list, std::vector<int>* ids, size_t off) {
    size_t i = 0;
    for (;;) {
      int id0 = ParseNum(list, &i);
      int id1 = id0;
      if (i < list.size() && list[i] == '-') {
        ++i;
        id1 = ParseNum(list, &i);
      }
      if (id0 == -1 || id1 == -1) {
        Error(off, "bad-squash", "syntax error: uid/gid -1 not permitted");
        return false;
      }
      ids->push_back(id0);
      ids->push_back(id1);
      if (i >= list.size() || list[i] == ')') break;
      // list[i] == ',' cannot happen (the option was cut at the comma).
      Error(off, "bad-squash", "syntax error: bad uid/gid list",
            "use squash_uids=N or squash_uids=LO-HI");
      return false;
    }
    return true;
  }

  static int AddFlavor(const Flav& f, ExportOptions* o) {
    for (size_t i = 0; i < o->secinfo.size(); ++i) {
      if (o->secinfo[i].number == f.number) return static_cast<int>(i);
    }
    o->secinfo.push_back(SecFlavor{f.name, f.number, o->flags});
    return static_cast<int>(o->secinfo.size() - 1);
  }
  static int AddXprtsec(const Flav& f, ExportOptions* o) {
    for (size_t i = 0; i < o->xprtsec.size(); ++i) {
      if (o->xprtsec[i].number == f.number) return static_cast<int>(i);
    }
    if (o->xprtsec.size() >= 3) return -1;
    o->xprtsec.push_back(XprtsecMode{f.name, f.number, o->flags});
    return static_cast<int>(o->xprtsec.size() - 1);
  }

  // parseopts. `cp` may be null (no option list). Returns false on error.
  bool ParseOpts(const Tok* cp, size_t cp_begin, ExportEntry* e,
                 ExportOptions* o, bool warn, bool* had_subtree_out,
                 bool from_defaults, const std::string& host_for_warning,
                 const std::string& path_for_warning, size_t warn_off) {
    bool had_subtree = false;
    uint32_t active = 0;
    if (cp != nullptr) {
      const std::string& s = cp->s;
      // C-string semantics: an embedded NUL (from \000) ends the list.
      size_t end = s.find('\0', cp_begin);
      if (end == std::string::npos) end = s.size();
      size_t i = cp_begin;
      while (i < end && (s[i] == ' ' || s[i] == '\t')) ++i;
      while (i < end) {
        size_t start = i;
        while (i < end && s[i] != ',') ++i;
        std::string opt = s.substr(start, i - start);
        size_t off = start < cp->off.size() ? cp->off[start]
                     : (cp->off.empty() ? 0 : cp->off.back());
        if (i < end) ++i;  // the comma
        if (e != nullptr) {
          e->options.push_back(OptionUse{opt, Pos(off), from_defaults});
        }
        if (!ApplyOption(opt, off, o, &active, &had_subtree)) return false;
        while (i < end && (s[i] == ' ' || s[i] == '\t')) ++i;
      }
      // fix_pseudoflavor_flags
      for (SecFlavor& f : o->secinfo) f.flags |= o->flags & ~options_.secinfo_flags;
    }
    if (warn && !had_subtree) {
      Warn(warn_off, "no-subtree-option",
           absl::StrFormat("Neither 'subtree_check' or 'no_subtree_check' "
                           "specified for export \"%s:%s\"",
                           host_for_warning, path_for_warning),
           "add no_subtree_check (the default) or subtree_check explicitly");
    }
    if (had_subtree_out != nullptr) *had_subtree_out = had_subtree;
    return true;
  }

  bool ApplyOption(const std::string& opt, size_t off, ExportOptions* o,
                   uint32_t* active, bool* had_subtree) {
    struct Simple {
      const char* name;
      uint32_t mask;
      bool set;
    };
    static constexpr Simple kSimple[] = {
        {"ro", kReadOnly, true},
        {"rw", kReadOnly, false},
        {"secure", kInsecurePort, false},
        {"insecure", kInsecurePort, true},
        {"sync", kAsync, false},
        {"async", kAsync, true},
        {"nordirplus", kNoReaddirPlus, true},
        {"security_label", kSecurityLabel, true},
        {"nohide", kNoHide, true},
        {"hide", kNoHide, false},
        {"crossmnt", kCrossMount, true},
        {"nocrossmnt", kCrossMount, false},
        {"wdelay", kGatheredWrites, true},
        {"no_wdelay", kGatheredWrites, false},
        {"root_squash", kRootSquash, true},
        {"no_root_squash", kRootSquash, false},
        {"all_squash", kAllSquash, true},
        {"no_all_squash", kAllSquash, false},
        {"subtree_check", kNoSubtreeCheck, false},
        {"no_subtree_check", kNoSubtreeCheck, true},
        {"auth_nlm", kNoAuthNlm, false},
        {"no_auth_nlm", kNoAuthNlm, true},
        {"secure_locks", kNoAuthNlm, false},
        {"insecure_locks", kNoAuthNlm, true},
        {"acl", kNoAcl, false},
        {"no_acl", kNoAcl, true},
        {"pnfs", kPnfs, true},
        {"no_pnfs", kPnfs, false},
    };
    for (const Simple& s : kSimple) {
      if (opt == s.name) {
        if (s.mask == kNoSubtreeCheck) *had_subtree = true;
        if (s.set) {
          SetFlags(s.mask, *active, o);
        } else {
          ClearFlags(s.mask, *active, o);
        }
        return true;
      }
    }
    auto starts = [&](const char* p) { return absl::StartsWith(opt, p); };
    if (starts("anonuid=") || starts("anongid=")) {
      bool uid = starts("anonuid=");
      const char* v = opt.c_str() + 8;
      char* oe = nullptr;
      long n = std::strtol(v, &oe, 10);
      (uid ? o->anonuid : o->anongid) = static_cast<int>(n);
      if (*v == '\0' || *oe != '\0') {
        Error(off, uid ? "bad-anonuid" : "bad-anongid",
              absl::StrFormat("bad %s \"%s\"", uid ? "anonuid" : "anongid", opt),
              "give a decimal number, e.g. anonuid=65534");
        return false;
      }
      return true;
    }
    if (starts("squash_uids=")) {
      return ParseSquash(opt.substr(12), &o->squash_uids, off);
    }
    if (starts("squash_gids=")) {
      return ParseSquash(opt.substr(12), &o->squash_gids, off);
    }
    if (starts("fsid=")) {
      const char* v = opt.c_str() + 5;
      if (std::strcmp(v, "root") == 0) {
        o->fsid = 0;
        SetFlags(kFsid, *active, o);
        return true;
      }
      char* oe = nullptr;
      unsigned long n = std::strtoul(v, &oe, 0);
      o->fsid = static_cast<int>(static_cast<unsigned int>(n));
      if (*v != '\0' && *oe == '\0') {
        SetFlags(kFsid, *active, o);
        return true;
      }
      int hex = 0;
      for (const char* p = v; *p; ++p) {
        if (std::isxdigit(static_cast<unsigned char>(*p))) ++hex;
      }
      if (hex == 32) {
        o->uuid = std::string(v);
        return true;
      }
      Error(off, "bad-fsid", absl::StrFormat("bad fsid \"%s\"", opt),
            "fsid takes a number, root, or a UUID with 32 hex digits");
      return false;
    }
    if (opt == "mountpoint" || opt == "mp" || starts("mountpoint=") ||
        starts("mp=")) {
      size_t eq = opt.find('=');
      o->mountpoint = eq == std::string::npos ? "" : opt.substr(eq + 1);
      return true;
    }
    if (starts("refer=")) {
      o->fsloc = FsLocMethod::kRefer;
      o->fsloc_data = opt.substr(6);
      return true;
    }
    if (starts("replicas=")) {
      o->fsloc = FsLocMethod::kReplicas;
      o->fsloc_data = opt.substr(9);
      return true;
    }
    if (starts("sec=")) {
      uint32_t out = 0;
      for (absl::string_view name : absl::StrSplit(opt.substr(4), ':')) {
        const Flav* f = FindFlav(kFlavors, name);
        if (f == nullptr) {
          Error(off, "unknown-flavor",
                absl::StrFormat("unknown flavor %s", name),
                "flavours are sys, krb5, krb5i, krb5p (also unix, null, none)");
          return false;
        }
        out |= 1u << AddFlavor(*f, o);
      }
      *active = out;
      return true;
    }
    if (options_.accept_xprtsec && starts("xprtsec=")) {
      for (absl::string_view name : absl::StrSplit(opt.substr(8), ':')) {
        const Flav* f = FindFlav(kXprtsec, name);
        if (f == nullptr) {
          Error(off, "unknown-xprtsec",
                absl::StrFormat("unknown xprtsec mode %s", name),
                "xprtsec modes are none, tls, mtls");
          return false;
        }
        if (AddXprtsec(*f, o) < 0) return false;
      }
      return true;
    }
    Error(off, "unknown-option", absl::StrFormat("unknown keyword \"%s\"", opt));
    return false;
  }

  // getexportent. Returns 1 entry, 0 end of file, -1 bad entry (file ends).
  int Next(ExportEntry* e) {
    int ok = 0;
    size_t tok_off = 0;
    if (first_ || (ok = GetExport(&tok_off)) == 0) {
      has_default_opts_ = false;
      has_default_subtree_opts_ = false;
      def_ = ExportOptions();
      def_options_.clear();
      Tok path;
      size_t path_off = 0;
      int pok = GetPath(&path, &path_off);
      if (pok <= 0) {
        if (pok < 0) {
          // nfs-utils stops silently here (no message, exit status kept).
          Warn(path_off, "path-too-long",
               "path is 1025 bytes or longer: nfs-utils silently ignores "
               "the rest of this file");
          stop_pos_ = Pos(path_off);
          return -1;
        }
        return 0;
      }
      path_ = path.s.substr(0, path.s.find('\0'));
      path_off_ = path_off;
      ok = GetExport(&tok_off);
    }
    if (ok < 0) {
      Error(tok_off, "syntax-error", "expected client(options...)");
      stop_pos_ = Pos(tok_off);
      return -1;
    }
    first_ = false;

    // Default options: the current (possibly stale) client buffer starts
    // with '-'.
    if (!exp_cstr_.empty() && exp_cstr_[0] == '-') {
      Tok defs = exp_;
      defs.s = exp_cstr_;
      defs.off.resize(std::min(defs.off.size(), defs.s.size()));
      ExportEntry sink;
      if (!ParseOpts(&defs, 1, &sink, &def_, false, &has_default_subtree_opts_,
                     true, "", path_, exp_off_)) {
        stop_pos_ = Pos(exp_off_);
        return -1;
      }
      def_options_ = std::move(sink.options);
      has_default_opts_ = true;
      ok = GetExport(&tok_off);
      if (ok < 0) {
        Error(tok_off, "syntax-error", "expected client(options...)");
        stop_pos_ = Pos(tok_off);
        return -1;
      }
    }

    e->path = path_;
    e->path_pos = Pos(path_off_);
    e->opts = def_;
    e->options = def_options_;
    e->has_default_opts = has_default_opts_;
    e->had_subtree_opt = has_default_subtree_opts_;

    if (ok == 0) {
      exp_cstr_.clear();
      tok_off = pos_;
    }
    size_t host_off = ok == 0 ? path_off_ : exp_off_;
    std::string hostname = exp_cstr_;
    const Tok* optlist = nullptr;
    size_t opt_begin = 0;
    size_t paren = exp_cstr_.find('(');
    if (paren != std::string::npos) {
      e->has_option_list = true;
      if (paren == 0) {
        Warn(host_off, "no-host-name",
             absl::StrFormat("No host name given with %s %s, suggest *%s to "
                             "avoid warning",
                             e->path, exp_cstr_, exp_cstr_),
             "");
        e->empty_host_paren = true;
        hostname = "*";
      } else {
        hostname = exp_cstr_.substr(0, paren);
      }
      size_t close = exp_cstr_.find(')', paren + 1);
      if (close == std::string::npos || close + 1 != exp_cstr_.size()) {
        size_t eoff = exp_off_;
        if (close != std::string::npos && close + 1 < exp_.off.size()) {
          eoff = exp_.off[close + 1];
        } else if (!exp_.off.empty()) {
          eoff = exp_.off[std::min(paren, exp_.off.size() - 1)];
        }
        Error(eoff, "bad-option-list", "syntax error: bad option list",
              "an option list is client(opt,opt,...) with nothing after ')'");
        stop_pos_ = Pos(eoff);
        exp_cstr_ = exp_cstr_.substr(0, paren);
        return -1;
      }
      opt_tok_ = exp_;
      opt_tok_.s = exp_cstr_.substr(0, close);
      opt_tok_.off.resize(std::min(opt_tok_.off.size(), opt_tok_.s.size() + 1));
      optlist = &opt_tok_;
      opt_begin = paren + 1;
      exp_cstr_ = exp_cstr_.substr(0, paren);
    } else if (!has_default_opts_) {
      Warn(host_off, "no-options",
           absl::StrFormat("No options for %s %s: suggest %s(sync) to avoid "
                           "warning",
                           e->path, exp_cstr_, exp_cstr_));
    }
    e->client = hostname;
    e->client_pos = Pos(host_off);
    bool had = false;
    if (!ParseOpts(optlist, opt_begin, e, &e->opts, !has_default_subtree_opts_,
                   &had, false, hostname, e->path, host_off)) {
      stop_pos_ = e->options.empty() ? Pos(host_off) : e->options.back().pos;
      return -1;
    }
    e->had_subtree_opt = e->had_subtree_opt || had;
    return 1;
  }

  absl::string_view text_;
  ParseOptions options_;
  ParsedFile out_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  std::vector<Ch> pushback_;
  Position stop_pos_;

  bool first_ = true;
  bool has_default_opts_ = false;
  bool has_default_subtree_opts_ = false;
  ExportOptions def_;
  std::vector<OptionUse> def_options_;
  std::string path_;
  size_t path_off_ = 0;
  Tok exp_;                // last client token read (the "exp" buffer)
  size_t exp_off_ = 0;
  std::string exp_cstr_;   // the buffer as a C string after in-place edits
  Tok opt_tok_;
};

}  // namespace

ParsedFile ParseExports(absl::string_view text, absl::string_view filename,
                        const ParseOptions& options) {
  return Parser(text, filename, options).Run();
}

}  // namespace hafs::exports
