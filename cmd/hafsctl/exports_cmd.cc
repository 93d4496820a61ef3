// hafsctl exports etab|check|match|ganesha: thin CLI glue over
// libhafs/exports. See docs/exports.md for semantics and exit statuses.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cmd/hafsctl/commands.h"
#include "libhafs/exports/exports.h"
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
}

}  // namespace hafs::cli
