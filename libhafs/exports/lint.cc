#include "libhafs/exports/lint.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hafs::exports {
namespace {

using Sev = Diagnostic::Severity;

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Keyword(const std::string& opt) {
  size_t eq = opt.find('=');
  return eq == std::string::npos ? opt : opt.substr(0, eq + 1);
}

bool IsUnder(const std::string& path, const std::string& root) {
  if (root == "/") return absl::StartsWith(path, "/");
  return path == root || absl::StartsWith(path, root + "/");
}

std::string FlavorSet(const ExportOptions& o) {
  std::set<std::string> names;
  for (const SecFlavor& f : o.secinfo) {
    std::string n = f.name == "unix" ? "sys" : (f.name == "null" ? "none" : f.name);
    names.insert(n);
  }
  if (names.empty()) names.insert("sys");
  return absl::StrJoin(names, ":");
}

const char* kDefaultHint = "see exports(5) and docs/exports.md";

}  // namespace

std::string SuggestOption(const std::string& word) {
  std::string key = Keyword(word);
  std::string best;
  size_t best_d = 100;
  for (const std::string& k : KnownOptionKeywords()) {
    size_t d = EditDistance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  size_t limit = std::max<size_t>(2, key.size() / 3);
  if (best_d > limit) return "";
  return best;
}

int LintResult::ExitStatus() const {
  int rc = 0;
  for (const Diagnostic& d : diagnostics) {
    rc = std::max(rc, d.severity == Sev::kError ? 2 : 1);
  }
  return rc;
}

std::string FormatDiagnostic(const Diagnostic& d) {
  std::string s = d.pos.file;
  if (d.pos.line > 0) absl::StrAppend(&s, ":", d.pos.line, ":", d.pos.col);
  absl::StrAppend(&s, ": ", d.severity == Sev::kError ? "error" : "warning",
                  ": ", d.message, " [", d.code, "]\n");
  absl::StrAppend(&s, "  hint: ", d.hint.empty() ? kDefaultHint : d.hint, "\n");
  return s;
}

LintResult Lint(const std::vector<Source>& sources, const FileSystem& fs,
                const HostResolver& resolver, const LintOptions& options) {
  LintResult r;
  r.table = BuildTable(sources, fs, resolver, options.table);
  const ExportTable& t = r.table;
  std::vector<Diagnostic>& out = r.diagnostics;
  auto add = [&](Sev sev, const Position& p, std::string code, std::string msg,
                 std::string hint) {
    out.push_back(Diagnostic{sev, p, std::move(code), std::move(msg),
                             std::move(hint)});
  };

  // 1. nfs-utils' own messages, re-graded and explained.
  for (const Diagnostic& d0 : t.diagnostics) {
    Diagnostic d = d0;
    if (d.code == "unknown-option") {
      // Recover the keyword from the message: unknown keyword "X".
      std::string word = d.message.substr(17, d.message.size() - 18);
      std::string lower = absl::AsciiStrToLower(word);
      bool known_lower = false;
      for (const std::string& k : KnownOptionKeywords()) {
        if (Keyword(lower) == k) known_lower = true;
      }
      if (absl::StartsWith(word, "xprtsec=")) {
        d.code = "unsupported-option";
        d.hint = "xprtsec= needs nfs-utils >= 2.7.1; 2.6.2 rejects it and "
                 "ignores the rest of this file";
      } else if (known_lower && lower != word) {
        d.code = "option-case";
        d.message = absl::StrFormat("option \"%s\" is not recognised: options "
                                    "are case-sensitive", word);
        d.hint = absl::StrFormat("write \"%s\"; nfs-utils ignores the rest of "
                                 "this file after a bad option", lower);
      } else {
        std::string sug = SuggestOption(word);
        d.hint = sug.empty()
                     ? "not an exports(5) option; nfs-utils ignores the rest "
                       "of this file after a bad option"
                     : absl::StrFormat("did you mean \"%s\"? nfs-utils ignores "
                                       "the rest of this file after a bad "
                                       "option", sug);
      }
    } else if (d.code == "duplicate") {
      d.severity = Sev::kWarning;
    } else if (d.code == "no-host-name" || d.code == "no-options") {
      continue;  // explained by space-before-paren / handled below
    } else if (d.code == "path-too-long") {
      d.severity = Sev::kError;
      d.hint = "paths are limited to 1024 bytes";
    }
    out.push_back(std::move(d));
  }

  // 2. Files that stopped early: the rest is silently ignored.
  for (const ParsedFile& f : t.parsed) {
    if (!f.stopped) continue;
    add(Sev::kError, f.stop_pos, "rest-ignored",
        "nfs-utils stops reading this file at this bad entry: every later "
        "entry in it is ignored",
        "fix the entry above; later files in exports.d are still read");
  }

  // 3. Per-entry checks on the parsed entries (file order, before dedup).
  for (const ParsedFile& f : t.parsed) {
    for (size_t i = 0; i < f.entries.size(); ++i) {
      const ExportEntry& e = f.entries[i];
      if (e.empty_host_paren) {
        // Was the previous entry the same path, same line, with no list?
        const ExportEntry* prev = i > 0 ? &f.entries[i - 1] : nullptr;
        if (prev != nullptr && prev->path_pos.line == e.path_pos.line &&
            prev->path == e.path && !prev->has_option_list) {
          std::string opts;
          for (const OptionUse& u : e.options) {
            if (!u.from_defaults) absl::StrAppend(&opts, opts.empty() ? "" : ",", u.text);
          }
          add(Sev::kError, e.client_pos, "space-before-paren",
              absl::StrFormat("space before '(': this line creates two "
                              "entries: %s exported to '%s' with default "
                              "options (ro,root_squash,...) AND to everyone "
                              "('*') with (%s)",
                              e.path, prev->client, opts),
              absl::StrFormat("write \"%s(%s)\" without the space", prev->client,
                              opts));
        } else {
          add(Sev::kWarning, e.client_pos, "no-host-name",
              absl::StrFormat("option list with no host name: exported to "
                              "everyone ('*') with these options"),
              "write *(...) to say so explicitly");
        }
      } else if (!e.has_option_list && !e.has_default_opts) {
        add(Sev::kWarning, e.client_pos, "no-options",
            absl::StrFormat("no options for client '%s': defaults apply "
                            "(ro,sync,wdelay,root_squash,no_subtree_check,"
                            "sec=sys)",
                            e.client),
            absl::StrFormat("write %s(ro,sync,no_subtree_check) (or the "
                            "options you mean) explicitly",
                            e.client.empty() ? "*" : e.client));
      }
      if (!e.path.empty() && e.path[0] != '/') {
        add(Sev::kError, e.path_pos, "relative-path",
            absl::StrFormat("export path \"%s\" is relative", e.path),
            "exports(5) paths must be absolute; exportfs resolves a relative "
            "path against its own working directory");
      }
      ClientKind kind = ClassifyClient(e.client);
      if (kind == ClientKind::kAnonymous) {
        if (!(e.opts.flags & kReadOnly)) {
          add(Sev::kWarning, e.client_pos, "world-rw",
              absl::StrFormat("%s is exported read-write to every host",
                              e.path),
              "restrict the client to a subnet or host list, or use ro");
        }
        if (!(e.opts.flags & kRootSquash)) {
          add(Sev::kWarning, e.client_pos, "world-no-root-squash",
              absl::StrFormat("%s gives root access (no_root_squash) to every "
                              "host", e.path),
              "grant no_root_squash only to named admin hosts");
        }
      }
      if (kind == ClientKind::kGss) {
        add(Sev::kWarning, e.client_pos, "gss-client",
            "gss/krb5* client names are deprecated",
            "use *(sec=krb5...) instead");
      }
      if ((e.opts.flags & kInsecurePort) &&
          absl::StrContains(FlavorSet(e.opts), "sys")) {
        add(Sev::kWarning, e.client_pos, "insecure-sys",
            "insecure with sec=sys: any local user on a client can forge "
            "AUTH_SYS credentials from an unprivileged port",
            "drop insecure, or require sec=krb5i/krb5p");
      }
      for (const OptionUse& u : e.options) {
        if (absl::StartsWith(u.text, "anonuid=") ||
            absl::StartsWith(u.text, "anongid=")) {
          long v = std::strtol(u.text.c_str() + 8, nullptr, 10);
          if (v < -1 || v > 4294967295L) {
            add(Sev::kWarning, u.pos, "anonid-range",
                absl::StrFormat("%s is outside the uid/gid range and wraps to "
                                "%d", u.text,
                                static_cast<int>(static_cast<unsigned long>(v))),
                "use a value in 0..4294967294 (65534 = nobody)");
          }
        }
        if (absl::StartsWith(u.text, "fsid=") && u.text != "fsid=root") {
          const char* v = u.text.c_str() + 5;
          char* end = nullptr;
          unsigned long n = std::strtoul(v, &end, 0);
          if (*v != '\0' && *end == '\0' && (*v == '-' || n > 0xffffffffUL)) {
            add(Sev::kWarning, u.pos, "fsid-range",
                absl::StrFormat("%s wraps to %d", u.text,
                                static_cast<int>(static_cast<unsigned>(n))),
                "use a small positive number, 0/root for the NFSv4 root, or "
                "a UUID");
          }
        }
      }
      if (!e.had_subtree_opt) {
        add(Sev::kWarning, e.client_pos, "no-subtree-option",
            absl::StrFormat("neither subtree_check nor no_subtree_check given "
                            "for %s:%s (no_subtree_check assumed)",
                            e.client, e.path),
            "say no_subtree_check (recommended) or subtree_check explicitly");
      }
    }
  }
  // Parser already warned per entry; drop its duplicate wording.
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const Diagnostic& d) {
                             return d.code == "no-subtree-option" &&
                                    absl::StartsWith(d.message, "Neither");
                           }),
            out.end());

  // 4. Table-wide checks on the deduplicated exports.
  std::map<std::string, const Export*> roots;  // path -> first fsid=0 export
  for (const Export& x : t.exports) {
    const ExportOptions& o = x.entry.opts;
    if ((o.flags & kFsid) && o.fsid == 0) {
      if (!roots.count(x.entry.path)) roots[x.entry.path] = &x;
    }
  }
  if (roots.size() > 1) {
    auto it = roots.begin();
    const Export* first = it->second;
    for (++it; it != roots.end(); ++it) {
      add(Sev::kError, it->second->entry.path_pos, "two-v4-roots",
          absl::StrFormat("second NFSv4 pseudo-root: %s and %s both have "
                          "fsid=0/root", first->entry.path, it->first),
          "only one export may be fsid=0; give the other a distinct fsid");
    }
  }
  if (roots.size() == 1) {
    const std::string& root = roots.begin()->first;
    std::set<std::string> warned;
    for (const Export& x : t.exports) {
      if (IsUnder(x.entry.path, root) || warned.count(x.entry.path)) continue;
      warned.insert(x.entry.path);
      add(Sev::kWarning, x.entry.path_pos, "outside-v4-root",
          absl::StrFormat("%s is outside the NFSv4 pseudo-root %s (fsid=0): "
                          "NFSv4 clients cannot reach it",
                          x.entry.path, root),
          absl::StrFormat("move it under %s, or drop fsid=0 to let mountd "
                          "build the pseudo-root", root));
    }
  }
  // Nested exports with conflicting sec= (per client name).
  std::set<std::tuple<std::string, std::string>> seen_nested;
  for (const Export& a : t.exports) {
    for (const Export& b : t.exports) {
      if (&a == &b || a.entry.path == b.entry.path) continue;
      if (!IsUnder(b.entry.path, a.entry.path)) continue;
      if (t.clients[a.client].hostname != t.clients[b.client].hostname) continue;
      std::string fa = FlavorSet(a.entry.opts), fb = FlavorSet(b.entry.opts);
      if (fa == fb) continue;
      if (!seen_nested.insert({a.entry.path, b.entry.path}).second) continue;
      add(Sev::kWarning, b.entry.path_pos, "nested-sec-conflict",
          absl::StrFormat("%s is nested in %s but uses sec=%s there vs sec=%s",
                          b.entry.path, a.entry.path, fb, fa),
          "clients crossing into the inner export must renegotiate the "
          "flavour; use the same sec= list on both");
    }
  }

  // exportfs repeats some messages (one "Failed to stat" per client); keep one.
  {
    std::set<std::tuple<std::string, int, int, std::string, std::string>> seen;
    std::vector<Diagnostic> uniq;
    for (Diagnostic& d : out) {
      if (seen.insert({d.pos.file, d.pos.line, d.pos.col, d.code, d.message}).second) {
        uniq.push_back(std::move(d));
      }
    }
    out = std::move(uniq);
  }
  std::stable_sort(out.begin(), out.end(), [&](const Diagnostic& x,
                                               const Diagnostic& y) {
    auto fi = [&](const std::string& f) {
      auto it = std::find(t.files.begin(), t.files.end(), f);
      return it - t.files.begin();
    };
    return std::make_tuple(fi(x.pos.file), x.pos.line, x.pos.col) <
           std::make_tuple(fi(y.pos.file), y.pos.line, y.pos.col);
  });
  return r;
}

}  // namespace hafs::exports
