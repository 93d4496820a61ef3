#include "libhafs/cluster/runtime/state_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libhafs/base/checksum.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::cluster {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

RuntimeState Sample() {
  RuntimeState s;
  s.incarnation = 1754000000123456;
  s.known_term = 7;
  s.outdated = true;
  s.generation = 0xfedcba9876543210ULL;
  s.history = {1, 2, 18446744073709551615ULL};
  return s;
}

TEST(RuntimeStateTest, RoundTrip) {
  for (RuntimeState s : {Sample(), RuntimeState{}}) {
    std::string text = SerializeRuntimeState(s);
    auto back_or = ParseRuntimeState(text);
  ASSERT_OK(back_or.status());
  RuntimeState back = *back_or;
    EXPECT_EQ(back, s) << text;
  }
  EXPECT_THAT(SerializeRuntimeState(Sample()),
              HasSubstr("hafs-cluster-state 1\nincarnation 1754000000123456\nknown_term 7\n"
                        "outdated 1\n"));
}

TEST(RuntimeStateTest, DamageIsDataLossNamingTheProblem) {
  std::string good = SerializeRuntimeState(Sample());
  // Any flipped character is caught by the checksum.
  for (size_t i = 0; i + 26 < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_THAT(ParseRuntimeState(bad).status(), StatusIs(absl::StatusCode::kDataLoss))
        << "byte " << i;
  }
  EXPECT_THAT(ParseRuntimeState("").status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no checksum line")));
  EXPECT_THAT(ParseRuntimeState(good.substr(0, good.size() / 2)).status(),
              StatusIs(absl::StatusCode::kDataLoss));
}

// A file with a correct checksum over an arbitrary body.
std::string Sealed(const std::string& body) {
  return absl::StrCat(body, "checksum ", absl::StrFormat("%016x", Checksum64(body)), "\n");
}

TEST(RuntimeStateTest, VersionAndFieldsAreChecked) {
  const std::string fields =
      "incarnation 5\nknown_term 1\noutdated 0\ngeneration 9\nhistory\n";
  auto ok_or = ParseRuntimeState(Sealed("hafs-cluster-state 1\n" + fields));
  ASSERT_OK(ok_or.status());
  RuntimeState ok = *ok_or;
  EXPECT_EQ(ok.incarnation, 5u);
  EXPECT_TRUE(ok.history.empty());
  EXPECT_THAT(ParseRuntimeState(Sealed("hafs-cluster-state 2\n" + fields)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unsupported version 2")));
  EXPECT_THAT(ParseRuntimeState(Sealed("something-else 1\n" + fields)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a hafs cluster state")));
  EXPECT_THAT(ParseRuntimeState(Sealed("hafs-cluster-state 1\n" + fields + "color 3\n")).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unknown field color")));
  EXPECT_THAT(ParseRuntimeState(Sealed("hafs-cluster-state 1\nincarnation 5\n")).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("missing field known_term")));
  EXPECT_THAT(ParseRuntimeState(Sealed("hafs-cluster-state 1\n" + fields + "incarnation 6\n"))
                  .status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("duplicate field incarnation")));
  EXPECT_THAT(
      ParseRuntimeState(Sealed("hafs-cluster-state 1\nincarnation 5\nknown_term 1\noutdated 2\n"
                               "generation 9\nhistory\n"))
          .status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr(":4: outdated must be 0 or 1")));
}

TEST(RuntimeStateTest, FileSaveLoadAndMissingFile) {
  std::string dir = absl::StrCat(::testing::TempDir(), "/statefile.XXXXXX");
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string path = dir + "/cluster.state";
  auto none_or = LoadRuntimeStateFile(path);
  ASSERT_OK(none_or.status());
  std::optional<RuntimeState> none = *none_or;
  EXPECT_FALSE(none.has_value());
  ASSERT_OK(SaveRuntimeStateFile(path, Sample()));
  auto got_or = LoadRuntimeStateFile(path);
  ASSERT_OK(got_or.status());
  std::optional<RuntimeState> got = *got_or;
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Sample());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::stat((path + ".tmp").c_str(), &st), 0) << "tmp file left behind";
  RuntimeState s2 = Sample();
  s2.outdated = false;
  ASSERT_OK(SaveRuntimeStateFile(path, s2));
  { auto r_ = LoadRuntimeStateFile(path); ASSERT_OK(r_.status()); got = *r_; }
  EXPECT_EQ(*got, s2);
  EXPECT_THAT(SaveRuntimeStateFile(dir + "/no/such/dir/x", s2),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("open")));
}

}  // namespace
}  // namespace hafs::cluster
