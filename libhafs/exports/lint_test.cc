// Linter golden tests: testdata/lint/NAME.exports -> NAME.golden (the
// `hafsctl exports check` text followed by "exit=N"). One file per
// diagnostic. Regenerate with HAFS_REWRITE_GOLDEN=1 and review the diff.
#include "libhafs/exports/lint.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libhafs/exports/testing.h"

namespace hafs::exports {
namespace {

constexpr char kDir[] = "libhafs/exports/testdata/lint";

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  DIR* d = opendir(kDir);
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (absl::EndsWith(n, ".exports")) out.push_back(n.substr(0, n.size() - 8));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LintGolden, AllCases) {
  std::vector<std::string> cases = Cases();
  ASSERT_GE(cases.size(), 25u) << "testdata missing? cwd must be the workspace";
  bool rewrite = getenv("HAFS_REWRITE_GOLDEN") != nullptr;
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    FakeFileSystem fs;
    for (const char* d : {"/srv", "/srv/a", "/srv/a/b", "/srv/b"}) fs.AddDir(d);
    fs.AddFile("/srv/file");
    std::string name = absl::StrCat(c, ".exports");
    fs.AddFile(name, ReadAll(absl::StrCat(kDir, "/", name)));
    NoDnsResolver dns;
    LintResult r = Lint({Source::File(name)}, fs, dns, {});
    std::string got;
    for (const Diagnostic& d : r.diagnostics) got += FormatDiagnostic(d);
    absl::StrAppend(&got, "exit=", r.ExitStatus(), "\n");
    std::string golden_path = absl::StrCat(kDir, "/", c, ".golden");
    if (rewrite) {
      const char* ws = getenv("BUILD_WORKSPACE_DIRECTORY");
      std::ofstream(absl::StrCat(ws ? ws : ".", "/", golden_path)) << got;
      continue;
    }
    EXPECT_EQ(got, ReadAll(golden_path));
    // Each file demonstrates its own diagnostic (named after the file).
    std::string code = c;
    std::replace(code.begin(), code.end(), '_', '-');
    if (c == "misspelled_option") code = "unknown-option";
    if (c == "wrong_case") code = "option-case";
    if (c == "xprtsec_unsupported") code = "unsupported-option";
    if (c == "long_client_token") code = "syntax-error";
    if (c != "clean") {
      EXPECT_TRUE(absl::StrContains(got, "[" + code + "]")) << got;
    }
    if (c == "clean") EXPECT_EQ(r.ExitStatus(), 0);
  }
}

TEST(Lint, SuggestsClosestOption) {
  EXPECT_EQ(SuggestOption("no_root_sqash"), "no_root_squash");
  EXPECT_EQ(SuggestOption("anonuidd=5"), "anonuid=");
  EXPECT_EQ(SuggestOption("zzzzzzzzzz"), "");
}

}  // namespace
}  // namespace hafs::exports
