// Exports manager benchmark: parse + canonicalize (build the export table and
// render every etab line) a generated 10,000-entry exports file, then answer
// 1,000,000 (client, path) match queries with knfsd precedence.
//   bazel run -c opt //benchmarks/exports:exports_bench -- [entries] [queries]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libhafs/base/random.h"
#include "libhafs/exports/match.h"
#include "libhafs/exports/table.h"
#include "libhafs/exports/testing.h"

namespace ex = hafs::exports;

int main(int argc, char** argv) {
  const int entries = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int queries = argc > 2 ? std::atoi(argv[2]) : 1000000;
  hafs::Random rng(42);
  ex::FakeFileSystem fs;
  std::string text = "# generated\n";
  const int paths = entries / 4;  // 4 entries (clients) per path line
  for (int p = 0; p < paths; ++p) {
    std::string path = absl::StrCat("/srv/vol", p / 100, "/share", p);
    fs.AddDir(path);
    absl::StrAppend(&text, path, " ");
    for (int c = 0; c < 4; ++c) {
      switch ((p + c) % 5) {  // 4 distinct kinds per line: no duplicates
        case 0: absl::StrAppendFormat(&text, "10.%d.%d.%d(rw,no_subtree_check) ", rng.Uniform(256), rng.Uniform(256), rng.Uniform(256)); break;
        case 1: absl::StrAppendFormat(&text, "10.%d.0.0/16(ro,sec=sys:krb5,no_subtree_check) ", rng.Uniform(256)); break;
        case 2: absl::StrAppendFormat(&text, "*.rack%d.lab(rw,async,no_subtree_check) ", rng.Uniform(64)); break;
        case 3: absl::StrAppendFormat(&text, "@ng%d(ro,no_root_squash,no_subtree_check) ", rng.Uniform(32)); break;
        default: absl::StrAppend(&text, "*(ro,all_squash,anonuid=1000,no_subtree_check) "); break;
      }
    }
    text += "\n";
  }
  fs.AddFile("/etc/exports", text);
  ex::NoDnsResolver dns;

  auto t0 = std::chrono::steady_clock::now();
  ex::ExportTable t = ex::BuildTable({ex::Source::File("/etc/exports")}, fs, dns, {});
  size_t bytes = 0;
  for (const ex::Export& e : t.exports) bytes += ex::RenderEtabLine(t, e).size() + 1;
  auto t1 = std::chrono::steady_clock::now();

  ex::Matcher m(t);
  std::vector<std::string> ps;
  for (int p = 0; p < paths; ++p) ps.push_back(absl::StrCat("/srv/vol", p / 100, "/share", p));
  std::vector<ex::MatchQuery> qs(4096);
  for (ex::MatchQuery& q : qs) {
    q.addr = ex::ParseIp(absl::StrFormat("10.%d.%d.%d", rng.Uniform(256), rng.Uniform(256), rng.Uniform(256)));
    q.hostname = absl::StrFormat("n%d.rack%d.lab", rng.Uniform(100), rng.Uniform(80));
    q.netgroups = {absl::StrCat("ng", rng.Uniform(40))};
  }
  long hits = 0;
  auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < queries; ++i) {
    hits += m.MatchPath(ps[static_cast<size_t>(i) % ps.size()], qs[static_cast<size_t>(i * 7) % qs.size()]) >= 0;
  }
  auto t3 = std::chrono::steady_clock::now();
  double parse_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  double match_s = std::chrono::duration<double>(t3 - t2).count();
  std::printf("entries=%zu (in %d lines, %zu bytes) etab_bytes=%zu\n",
              t.exports.size(), paths, text.size(), bytes);
  std::printf("parse+canonicalize+render: %.1f ms (%.2f us/entry)\n", parse_ms,
              parse_ms * 1000 / static_cast<double>(t.exports.size()));
  std::printf("match: %d queries in %.3f s = %.0f queries/s (%.0f ns/query), hits=%ld\n",
              queries, match_s, queries / match_s, match_s * 1e9 / queries, hits);
  return t.exports.size() >= static_cast<size_t>(entries) * 9 / 10 ? 0 : 1;
}
