#include "libhafs/base/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs {
namespace {

using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

std::string TempDirFor(const char* name) {
  std::string d = std::string(::testing::TempDir()) + "/files_test_" + name;
  ::system(("rm -rf '" + d + "'").c_str());
  return d;
}

TEST(Files, MakeDirsWriteAtomicallyReadBack) {
  const std::string d = TempDirFor("a") + "/x/y/z";
  ASSERT_OK(MakeDirs(d));
  ASSERT_OK(MakeDirs(d));  // idempotent
  const std::string f = d + "/conf";
  ASSERT_OK(WriteFileAtomically(f, "one\n"));
  ASSERT_OK(WriteFileAtomically(f, "two\n", 0600));
  EXPECT_THAT(ReadFile(f), IsOkAndHolds(std::string("two\n")));
  EXPECT_NE(::access((d + "/.conf.tmp").c_str(), F_OK), 0) << "temporary file left behind";
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Files, PreciseErrors) {
  EXPECT_THAT(ReadFile("/nonexistent/hafs/file"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/hafs/file")));
  EXPECT_THAT(WriteFileAtomically("/nonexistent/hafs/file", "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(".file.tmp")));
  const std::string d = TempDirFor("b");
  ASSERT_OK(MakeDirs(d));
  ASSERT_OK(WriteFileAtomically(d + "/plain", "x"));
  EXPECT_THAT(MakeDirs(d + "/plain/sub"), StatusIs(absl::StatusCode::kInternal,
                                                   HasSubstr("mkdir " + d + "/plain/sub")));
}

}  // namespace
}  // namespace hafs
