#include "libhafs/meta/dump.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/io/mem_device.h"
#include "libhafs/meta/meta_store.h"

namespace hafs::meta {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kDev = uint64_t{40} << 20;

TEST(DumpTest, DumpRestoreRoundTrip) {
  io::MemDevice a(kDev);
  MetaCreateOptions co;
  co.al_extents = 7;
  co.node_id = 2;
  co.gi.current = 0x1235;
  co.gi.history = {9, 8, 7, 6};
  co.flags = kMdConsistent | kMdCrashedPrimary;
  ASSERT_OK(MetaStore::Create(&a, co));
  {
    auto ms = MetaStore::Open(&a, {}, nullptr);
    ASSERT_OK(ms);
    (*ms)->bitmap().SetRange(3, 70);
    (*ms)->bitmap().Set(5000);
    ASSERT_OK((*ms)->Close());
  }
  auto ro = MetaStore::Open(&a, {.read_only = true}, nullptr);
  ASSERT_OK(ro);
  const std::string text = DumpText((*ro)->superblock(), (*ro)->bitmap(), {1});
  EXPECT_THAT(text, HasSubstr("bitmap-run 3 67\n"));
  EXPECT_THAT(text, HasSubstr("flags consistent|crashed-primary|al-clean\n"));
  EXPECT_THAT(DumpJson((*ro)->superblock(), (*ro)->bitmap(), {1}),
              HasSubstr("\"bitmap-runs\": [[3, 67], [5000, 1]]"));
  absl::StatusOr<MetaDump> d = ParseDump(text);
  ASSERT_OK(d);
  EXPECT_EQ(d->sb, (*ro)->superblock());

  io::MemDevice b(kDev);
  ASSERT_OK(RestoreDump(&b, *d, /*force=*/false));
  auto rb = MetaStore::Open(&b, {.expect_node_id = 2, .read_only = true}, nullptr);
  ASSERT_OK(rb);
  EXPECT_EQ((*rb)->superblock().gi, (*ro)->superblock().gi);
  EXPECT_EQ((*rb)->superblock().device_uuid, (*ro)->superblock().device_uuid);
  EXPECT_TRUE((*rb)->superblock().has_flag(kMdCrashedPrimary));
  // Bitmap = runs + the dumped AL extent 1 (blocks 1024..2047).
  EXPECT_EQ((*rb)->bitmap().Count(), 67u + 1024u + 1u);
  EXPECT_TRUE((*rb)->bitmap().Test(1500));

  io::MemDevice c(kDev + 4096);
  EXPECT_THAT(RestoreDump(&c, *d, false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("wrong device")));
}

TEST(DumpTest, ParseErrorsNameTheLine) {
  EXPECT_THAT(ParseDump(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDump("hafs-md-dump 2\nend\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(ParseDump("hafs-md-dump 1\nbogus 1\nend\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2: unknown key")));
  EXPECT_THAT(ParseDump("hafs-md-dump 1\nnode-id 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
}

}  // namespace
}  // namespace hafs::meta
