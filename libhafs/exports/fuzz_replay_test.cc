// Replays the committed libFuzzer corpus (testdata/fuzz_corpus, produced by
// tests/fuzz/exports_fuzz.sh --merge) through the fuzz body, so CI checks
// that no known input crashes, hangs or breaks an invariant.
#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libhafs/exports/fuzz_body.h"

namespace hafs::exports {
namespace {

TEST(FuzzReplay, CommittedCorpus) {
  const std::string dir = "libhafs/exports/testdata/fuzz_corpus";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    SCOPED_TRACE(e->d_name);
    FuzzExportsOnce(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++n;
  }
  closedir(d);
  EXPECT_GE(n, 50) << "corpus too small";
}

}  // namespace
}  // namespace hafs::exports
