#include "libhafs/exports/exports.h"

#include "gtest/gtest.h"
#include "libhafs/exports/table.h"

namespace hafs::exports {
namespace {

TEST(Parse, Basic) {
  ParsedFile f = ParseExports("/srv *(rw,no_subtree_check)\n", "e", {});
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_EQ(f.entries[0].client, "*");
  EXPECT_FALSE(f.entries[0].opts.flags & kReadOnly);
}

}  // namespace
}  // namespace hafs::exports
