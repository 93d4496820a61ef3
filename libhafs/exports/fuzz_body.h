// File: libhafs/exports/fuzz_body.h
// -----------------------------------------------------------------------------
// The body shared by the libFuzzer target (tests/fuzz/exports_fuzz.cc) and
// the corpus replay test: parse arbitrary bytes as an exports file, build
// the table (in-memory file system, no DNS), render etab / knfsd / Ganesha,
// lint and match, and check invariants that must hold for any input.
// Thread-safety: reentrant.
#ifndef HAFS_LIBHAFS_EXPORTS_FUZZ_BODY_H_
#define HAFS_LIBHAFS_EXPORTS_FUZZ_BODY_H_

#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "libhafs/exports/exports.h"
#include "libhafs/exports/lint.h"
#include "libhafs/exports/match.h"
#include "libhafs/exports/render.h"
#include "libhafs/exports/table.h"
#include "libhafs/exports/testing.h"

namespace hafs::exports {

inline void FuzzExportsOnce(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  ParsedFile f = ParseExports(text, "fuzz", {});
  for (const ExportEntry& e : f.entries) {
    if (e.path_pos.line < 1 || e.path_pos.col < 1) abort();
  }
  FakeFileSystem fs;
  fs.AddDir("/srv");
  fs.AddDir("/srv/a");
  fs.AddFile("/e", text);
  NoDnsResolver dns;
  ExportTable t = BuildTable({Source::File("/e")}, fs, dns, {});
  if (t.exports.size() > f.entries.size()) abort();
  for (const Export& x : t.exports) {
    // The path is \ooo-escaped (the host name is written raw, as nfs-utils
    // does), so the text before the first tab has no control characters.
    std::string line = RenderEtabLine(t, x);
    std::string path = line.substr(0, line.find('\t'));
    for (char ch : path) {
      if (static_cast<unsigned char>(ch) < 0x20) abort();
    }
  }
  // The rendered knfsd file must re-read to the same etab.
  KnfsdPlan plan = RenderKnfsd(t);
  // Re-read from a file system with the same nodes (only /e's text differs),
  // so path resolution is identical.
  FakeFileSystem fs2 = fs;
  fs2.AddFile("/e", plan.exports_file);
  (void)RenderGanesha(t);
  (void)Lint({Source::File("/e")}, fs, dns, {});
  Matcher m(t);
  MatchQuery q;
  q.addr = ParseIp("10.0.0.1");
  q.hostname = "n1.lab";
  q.netgroups = {"ng"};
  (void)m.Match(q);
  ExportTable t2 = BuildTable({Source::File("/e")}, fs2, dns, {});
  if (plan.unrendered > 0) return;
  if (t2.exports.size() != t.exports.size()) abort();
  // Same lines (etab order may differ: it follows path-hash buckets in
  // first-appearance order; per-path precedence order is preserved).
  std::vector<std::string> a, b;
  for (const Export& x : t.exports) a.push_back(RenderEtabLine(t, x));
  for (const Export& x : t2.exports) b.push_back(RenderEtabLine(t2, x));
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) abort();
}

}  // namespace hafs::exports

#endif  // HAFS_LIBHAFS_EXPORTS_FUZZ_BODY_H_
