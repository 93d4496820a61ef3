// File: libhafs/exports/lint.h
// -----------------------------------------------------------------------------
// The exports linter: everything nfs-utils would say about a set of exports
// files (with real FILE:LINE:COL positions) plus the traps it does not
// explain: the space before '(', misspelled or wrong-case options, relative
// or missing paths, NFSv4 pseudo-root problems, rw/no_root_squash to the
// world, insecure with sec=sys, nested exports with conflicting sec=, and
// entries silently ignored after a bad one. Every diagnostic carries a hint.
//
// Exit status (LintResult::ExitStatus): 0 clean, 1 warnings only, 2 errors.
//
// Thread-safety: reentrant; the ports are used only during the call.
//
// Example:
//   LintResult r = Lint({Source::File("/etc/exports")}, fs, resolver, {});
//   for (const Diagnostic& d : r.diagnostics) std::cout << FormatDiagnostic(d);
#ifndef HAFS_LIBHAFS_EXPORTS_LINT_H_
#define HAFS_LIBHAFS_EXPORTS_LINT_H_

#include <string>
#include <vector>

#include "libhafs/exports/exports.h"
#include "libhafs/exports/table.h"

namespace hafs::exports {

struct LintOptions {
  TableOptions table;
};

struct LintResult {
  ExportTable table;
  std::vector<Diagnostic> diagnostics;  // sorted by file order, line, col
  int ExitStatus() const;               // 0 clean, 1 warnings, 2 errors
};

LintResult Lint(const std::vector<Source>& sources, const FileSystem& fs,
                const HostResolver& resolver, const LintOptions& options);

// "FILE:LINE:COL: error|warning: message\n  hint: ...\n"
std::string FormatDiagnostic(const Diagnostic& d);

// Closest known option keyword by edit distance (empty if none is close).
std::string SuggestOption(const std::string& word);

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_LINT_H_
