// examples/exports_check.cc
// -----------------------------------------------------------------------------
// Lints exports(5) files with libhafs/exports and prints what the kernel would
// get. Shows the two halves of the exports manager's read path:
//   1. Lint(): every message nfs-utils 2.6.2 would print (with real
//      FILE:LINE:COL) plus the traps it does not explain, each with a hint;
//   2. the export table built on the way (LintResult::table), rendered as the
//      /var/lib/nfs/etab lines `exportfs -ra` would write (RenderEtabLine).
// Paths are resolved and checked on the real file system (RealFileSystem);
// host names are not looked up (NoDnsResolver: kept as written).
//
// Usage:   exports_check FILE [FILE...]      (a directory is read like
//                                             /etc/exports.d)
// Output:  "== diagnostics" then FormatDiagnostic() text, "== etab" then one
//          line per export. Exit status: 0 clean, 1 warnings, 2 errors
//          (LintResult::ExitStatus), 64 usage.
//
//   bazel run //examples:exports_check -- $PWD/examples/testdata/example.exports
#include <iostream>
#include <string>
#include <vector>

#include "libhafs/exports/exports.h"
#include "libhafs/exports/lint.h"
#include "libhafs/exports/table.h"

int main(int argc, char** argv) {
  namespace ex = hafs::exports;
  if (argc < 2) {
    std::cerr << "usage: exports_check FILE [FILE...]\n";
    return 64;
  }
  ex::RealFileSystem fs;
  ex::NoDnsResolver resolver;
  std::vector<ex::Source> sources;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const ex::FileSystem::StatResult st = fs.Stat(arg);
    sources.push_back(st.err == 0 && st.is_dir ? ex::Source::Dir(arg)
                                               : ex::Source::File(arg));
  }

  const ex::LintResult result = ex::Lint(sources, fs, resolver, {});

  std::cout << "== diagnostics (" << result.diagnostics.size() << ")\n";
  for (const ex::Diagnostic& d : result.diagnostics) {
    std::cout << ex::FormatDiagnostic(d);
  }
  std::cout << "== etab (" << result.table.exports.size() << ")\n";
  for (const ex::Export& e : result.table.exports) {
    std::cout << ex::RenderEtabLine(result.table, e) << "\n";
  }
  return result.ExitStatus();
}
