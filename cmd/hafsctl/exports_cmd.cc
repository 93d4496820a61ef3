// hafsctl exports etab|check|match|ganesha: thin CLI glue over
// libhafs/exports. See docs/exports.md for semantics and exit statuses.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cmd/hafsctl/commands.h"
#include "libhafs/exports/exports.h"
#include "libhafs/exports/lint.h"
#include "libhafs/exports/match.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"

namespace hafs::cli {
namespace {

namespace ex = hafs::exports;

struct CommonFlags {
  std::string hosts_file;  // resolve names from this hosts(5) file only
  bool xprtsec = false;
  bool modern_secinfo = false;
};

void AddCommon(CLI::App* cmd, CommonFlags* f) {
  cmd->add_option("--hosts", f->hosts_file,
                  "resolve host names from this hosts(5) file only (names not "
                  "in it are dropped, like exportfs); default: no lookups, "
                  "names kept as written, lower-cased");
  cmd->add_flag("--xprtsec", f->xprtsec,
                "accept xprtsec= (nfs-utils >= 2.7.1); default is 2.6.2");
  cmd->add_flag("--kernel-secinfo", f->modern_secinfo,
                "show insecure/secure per sec= flavour, as exportfs does when "
                "the nfsd module publishes export_features");
}

std::unique_ptr<ex::HostResolver> MakeResolver(const CommonFlags& f,
                                               const ex::FileSystem& fs,
                                               int* exit_code) {
  if (f.hosts_file.empty()) return std::make_unique<ex::NoDnsResolver>();
  absl::StatusOr<std::string> text = fs.ReadFile(f.hosts_file);
  if (!text.ok()) {
    std::cerr << "hafsctl: exports: cannot read --hosts file: "
              << text.status().message() << "\n";
    *exit_code = 2;
    return nullptr;
  }
  return std::make_unique<ex::HostsFileResolver>(*text);
}

ex::TableOptions MakeTableOptions(const CommonFlags& f) {
  ex::TableOptions o;
  o.parse.accept_xprtsec = f.xprtsec;
  o.parse.secinfo_flags =
      f.modern_secinfo ? ex::kModernSecinfoFlags : ex::kOldSecinfoFlags;
  return o;
}

std::vector<ex::Source> SourcesFor(const std::vector<std::string>& args,
                                   const ex::FileSystem& fs) {
  std::vector<ex::Source> out;
  for (const std::string& a : args) {
    ex::FileSystem::StatResult st = fs.Stat(a);
    // A directory, or any argument ending in '/', is read like
    // /etc/exports.d (a missing directory is silently ignored, as there).
    bool dir = (st.err == 0 && st.is_dir) || (!a.empty() && a.back() == '/');
    std::string p = a;
    while (dir && p.size() > 1 && p.back() == '/') p.pop_back();
    out.push_back(dir ? ex::Source::Dir(p) : ex::Source::File(p));
  }
  return out;
}

void PrintDiag(const ex::Diagnostic& d) {
  std::cerr << "exportfs: " << d.pos.file;
  if (d.pos.line > 0) std::cerr << ":" << d.pos.line << ":" << d.pos.col;
  std::cerr << ": "
            << (d.severity == ex::Diagnostic::Severity::kError ? "error"
                                                                : "warning")
            << ": " << d.message << "\n";
}

}  // namespace

void RegisterExportsCommands(CLI::App& app, int* exit_code) {
  CLI::App* exports = app.add_subcommand(
      "exports", "exports(5): etab rendering, linting, matching, Ganesha");
  exports->require_subcommand(1);

  // ---- etab ----
  {
    auto* flags = new CommonFlags;
    auto* args = new std::vector<std::string>;
    auto* quiet = new bool(false);
    CLI::App* cmd = exports->add_subcommand(
        "etab",
        "print the /var/lib/nfs/etab lines `exportfs -ra` would write for "
        "these files (a DIR is read like /etc/exports.d); exit 1 where "
        "exportfs exits 1");
    cmd->add_option("FILE_OR_DIR", *args, "exports file(s) and directories")
        ->required();
    cmd->add_flag("-q,--quiet", *quiet, "do not print nfs-utils' messages");
    AddCommon(cmd, flags);
    cmd->callback([=] {
      ex::RealFileSystem fs;
      auto resolver = MakeResolver(*flags, fs, exit_code);
      if (!resolver) return;
      ex::ExportTable t =
          ex::BuildTable(SourcesFor(*args, fs), fs, *resolver,
                         MakeTableOptions(*flags));
      uint32_t sec = flags->modern_secinfo ? ex::kModernSecinfoFlags
                                           : ex::kOldSecinfoFlags;
      for (const ex::Export& e : t.exports) {
        std::cout << ex::RenderEtabLine(t, e, sec) << "\n";
      }
      if (!*quiet) {
        for (const ex::Diagnostic& d : t.diagnostics) PrintDiag(d);
      }
      *exit_code = t.ExitStatus();
    });
  }
  // ---- check ----
  {
    auto* flags = new CommonFlags;
    auto* args = new std::vector<std::string>;
    CLI::App* cmd = exports->add_subcommand(
        "check",
        "lint exports files: FILE:LINE:COL: error|warning: message + hint. "
        "Exit 0 clean, 1 warnings only, 2 errors");
    cmd->add_option("FILE", *args, "exports file(s); a DIR is read like "
                    "/etc/exports.d")->required();
    AddCommon(cmd, flags);
    cmd->callback([=] {
      ex::RealFileSystem fs;
      auto resolver = MakeResolver(*flags, fs, exit_code);
      if (!resolver) return;
      ex::LintOptions lo;
      lo.table = MakeTableOptions(*flags);
      ex::LintResult r = ex::Lint(SourcesFor(*args, fs), fs, *resolver, lo);
      for (const ex::Diagnostic& d : r.diagnostics) {
        std::cout << ex::FormatDiagnostic(d);
      }
      *exit_code = r.ExitStatus();
    });
  }

  // ---- match ----
  {
    auto* flags = new CommonFlags;
    auto* file = new std::string;
    auto* addr = new std::string;
    auto* hostname = new std::string;
    auto* netgroups = new std::vector<std::string>;
    CLI::App* cmd = exports->add_subcommand(
        "match",
        "show which entries apply to a client (knfsd precedence: host > "
        "subnet > wildcard > netgroup > anonymous; file order within a kind) "
        "and its effective options. Exit 0 if any path matches, 1 if none");
    cmd->add_option("FILE", *file, "exports file or directory")->required();
    cmd->add_option("CLIENT-ADDRESS", *addr, "client IPv4/IPv6 address")
        ->required();
    cmd->add_option("--hostname", *hostname,
                    "the client's name (reverse DNS), for host names and "
                    "wildcards");
    cmd->add_option("--netgroup", *netgroups,
                    "a netgroup the client belongs to (repeatable, no '@')");
    AddCommon(cmd, flags);
    cmd->callback([=] {
      ex::RealFileSystem fs;
      auto resolver = MakeResolver(*flags, fs, exit_code);
      if (!resolver) return;
      ex::MatchQuery q;
      q.addr = ex::ParseIp(*addr);
      if (!q.addr) {
        std::cerr << "hafsctl: exports match: \"" << *addr
                  << "\" is not an IP address\n  hint: give the client's "
                     "numeric address; use --hostname for its name\n";
        *exit_code = 64;
        return;
      }
      q.hostname = *hostname;
      for (std::string g : *netgroups) {
        if (!g.empty() && g[0] == '@') g = g.substr(1);
        q.netgroups.push_back(g);
      }
      ex::TableOptions to = MakeTableOptions(*flags);
      to.validate_paths = false;
      ex::ExportTable t = ex::BuildTable(SourcesFor({*file}, fs), fs, *resolver, to);
      ex::Matcher m(t);
      std::vector<ex::PathMatch> res = m.Match(q);
      for (const ex::PathMatch& pm : res) {
        const ex::Export& w = t.exports[pm.winner];
        const ex::Client& c = t.clients[w.client];
        std::cout << ex::EscapePath(pm.path) << "\t" << c.hostname << " ("
                  << ex::ClientKindName(c.kind) << ", " << w.entry.client_pos.file
                  << ":" << w.entry.client_pos.line << ")\n    "
                  << ex::RenderEtabOptions(w.entry.opts) << "\n";
        for (int s : pm.shadowed) {
          const ex::Export& o = t.exports[s];
          std::cout << "    shadowed: " << t.clients[o.client].hostname << " ("
                    << ex::ClientKindName(t.clients[o.client].kind) << ", "
                    << o.entry.client_pos.file << ":" << o.entry.client_pos.line
                    << ")\n";
        }
      }
      if (res.empty()) std::cout << "no export applies to " << *addr << "\n";
      *exit_code = res.empty() ? 1 : 0;
    });
  }

  // ---- ganesha ----
  {
    auto* flags = new CommonFlags;
    auto* file = new std::string;
    auto* knfsd = new bool(false);
    CLI::App* cmd = exports->add_subcommand(
        "ganesha",
        "render NFS-Ganesha EXPORT blocks (NFSv4 only) for an exports file; "
        "--knfsd renders the canonical exports.d file and exportfs plan "
        "instead. Exit 1 if exportfs would report errors (output still "
        "printed)");
    cmd->add_option("FILE", *file, "exports file or directory")->required();
    cmd->add_flag("--knfsd", *knfsd, "render for knfsd instead");
    AddCommon(cmd, flags);
    cmd->callback([=] {
      ex::RealFileSystem fs;
      auto resolver = MakeResolver(*flags, fs, exit_code);
      if (!resolver) return;
      ex::ExportTable t = ex::BuildTable(SourcesFor({*file}, fs), fs, *resolver,
                                         MakeTableOptions(*flags));
      for (const ex::Diagnostic& d : t.diagnostics) PrintDiag(d);
      if (*knfsd) {
        ex::KnfsdPlan p = ex::RenderKnfsd(t);
        std::cout << p.exports_file << "# plan:\n";
        for (const std::string& c : p.commands) std::cout << "#   " << c << "\n";
      } else {
        std::cout << ex::RenderGanesha(t).text;
      }
      *exit_code = t.ExitStatus();
    });
  }
}

}  // namespace hafs::cli
