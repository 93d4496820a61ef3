#include "libhafs/config/config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::config {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kMinimal[] = R"(version: 1
cluster_name: "c1"
node { name: "a" id: 0 peer_address: "192.0.2.1:7788" backing_device: "/dev/vdb" }
node { name: "b" id: 1 peer_address: "[2001:db8::2]:7788" backing_device: "/dev/vdb" }
volume { name: "r0" }
)";

TEST(Config, DefaultsAreFilledIn) {
  absl::StatusOr<HafsConfig> cfg = LoadConfigText(kMinimal, "min.conf");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->volume().protocol(), "C");
  EXPECT_EQ(cfg->volume().al_extents(), 1237u);
  EXPECT_EQ(cfg->volume().resync_rate_kib_per_s(), 250u);
  EXPECT_EQ(cfg->volume().c_plan_ahead_ms(), 2000u);
  EXPECT_EQ(cfg->volume().ko_count(), 7u);
  EXPECT_EQ(cfg->heartbeat().deadtime_ms(), 10000u);
  EXPECT_EQ(cfg->quorum().mode(), "two_node");
  EXPECT_EQ(cfg->split_brain().after_sb_0pri(), "disconnect");
  EXPECT_EQ(cfg->nfs().server_scope(), "hafs-c1");
  EXPECT_EQ(cfg->volume().csums_alg(), "none");
  EXPECT_EQ(cfg->resources().migration_threshold(), 3u);
  EXPECT_EQ(cfg->resources().failure_timeout_s(), 600u);
  EXPECT_TRUE(cfg->volume().disk_flushes());
  EXPECT_TRUE(cfg->volume().md_flushes());
}

TEST(Config, ExplicitZeroIsKeptWhereItMeansSomething) {
  std::string text(kMinimal);
  text.replace(text.find("volume { name: \"r0\" }"), 21,
               "volume { name: \"r0\" resync_rate_kib_per_s: 0 c_plan_ahead_ms: 0 "
               "c_fill_target_kib: 0 disk_flushes: false md_flushes: false }");
  absl::StatusOr<HafsConfig> cfg = LoadConfigText(text, "z.conf");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->volume().resync_rate_kib_per_s(), 0u);  // unlimited
  EXPECT_EQ(cfg->volume().c_plan_ahead_ms(), 0u);        // fixed rate
  EXPECT_EQ(cfg->volume().c_fill_target_kib(), 0u);      // delay-target mode
  EXPECT_FALSE(cfg->volume().disk_flushes());            // battery-backed cache
  EXPECT_FALSE(cfg->volume().md_flushes());
  text += "resources { migration_threshold: 0 failure_timeout_s: 0 }\n";
  cfg = LoadConfigText(text, "z.conf");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->resources().migration_threshold(), 0u);  // never move
  EXPECT_EQ(cfg->resources().failure_timeout_s(), 0u);    // keep until cleanup
}

TEST(Config, ResourcePolicyOutOfRangeNamesTheFieldAndAHint) {
  std::string text(kMinimal);
  text += "resources { migration_threshold: 5000\n            failure_timeout_s: 9999999 }\n";
  EXPECT_THAT(LoadConfigText(text, "r.conf").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("r.conf:6:13: resources.migration_threshold: 5000 "
                                       "failures is not a useful threshold"),
                             HasSubstr("hint: use 1..1000"),
                             HasSubstr("r.conf:7:13: resources.failure_timeout_s: 9999999 s "
                                       "is longer than a week"))));
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(LoadConfigText("version: 1\ncluster_nme: \"x\"\n", "bad.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("bad.conf:2:1"), HasSubstr("cluster_nme"))));
}

TEST(Config, SemanticErrorsNameFieldLineAndHint) {
  std::string text = R"(version: 1
cluster_name: "c1"
node { name: "a" id: 0 peer_address: "192.0.2.1:7788" backing_device: "/dev/vdb" }
node { name: "b"
       id: 0
       peer_address: "2001:db8::2:7788" backing_device: "/dev/vdb" }
volume { name: "r0" protocol: "D" }
heartbeat { keepalive_ms: 2000 warntime_ms: 1000 }
)";
  absl::Status s = LoadConfigText(text, "h.conf").status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("h.conf:5:8: node[1].id: duplicate node id 0"),
                                HasSubstr("node[1].peer_address"),
                                HasSubstr("[2001:db8::1]:7788"),
                                HasSubstr("h.conf:7:21: volume.protocol: \"D\" is not a "
                                          "valid value; hint: use one of: A, B, C"),
                                HasSubstr("h.conf:8:1: heartbeat: "),
                                HasSubstr("warntime"))));
}

TEST(Config, PullAheadAndCommandsAreChecked) {
  std::string text(kMinimal);
  text.replace(text.find("volume { name: \"r0\" }"), 21,
               "volume { name: \"r0\" on_congestion: \"pull-ahead\" "
               "on_io_error: \"call-local-io-error\" }");
  text += "split_brain { split_brain_handler: \"notify-admin --mail ops\"\n"
          "              after_sb_1pri: \"discard-younger\" }\n";
  text += "quorum { fence_peer_command: \"/usr/sbin/fence-it\" }\n";
  absl::Status s = LoadConfigText(text, "p.conf").status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("volume.on_congestion: pull-ahead needs protocol A "
                                          "(the volume uses C)"),
                                HasSubstr("pull-ahead without a congestion threshold"),
                                HasSubstr("split_brain.split_brain_handler: \"notify-admin --mail "
                                          "ops\" does not start with an absolute path"),
                                HasSubstr("split_brain.after_sb_1pri: "),
                                HasSubstr("call-local-io-error without a local_io_error_handler"),
                                HasSubstr("discard-younger"))));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("fence_peer_command")));
  text = kMinimal;
  text.replace(text.find("volume { name: \"r0\" }"), 21,
               "volume { name: \"r0\" protocol: \"A\" on_congestion: \"pull-ahead\" "
               "congestion_fill_kib: 65536 }");
  absl::StatusOr<HafsConfig> cfg = LoadConfigText(text, "ok.conf");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->volume().congestion_fill_kib(), 65536u);
}

TEST(Config, WrongVersionAndNodeCount) {
  EXPECT_THAT(LoadConfigText("version: 2 cluster_name: \"x\"", "v.conf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unsupported configuration version 2"),
                             HasSubstr("exactly 2 nodes, found 0"))));
}

TEST(Config, EmbeddedDefaultIsValidAndRoundTrips) {
  std::string text = DefaultLocalPairConfigText("/var/lib/hafs-demo");
  absl::StatusOr<HafsConfig> cfg = LoadConfigText(text, "<default>");
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->node(1).backing_device(), "/var/lib/hafs-demo/bravo.img");
  absl::StatusOr<HafsConfig> again = LoadConfigText(ToText(*cfg), "<again>");
  ASSERT_OK(again);
  EXPECT_EQ(ToText(*again), ToText(*cfg));
}

TEST(Config, MissingFileIsNotFound) {
  EXPECT_THAT(LoadConfigFile("/nonexistent/hafs.conf"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/hafs.conf")));
}

// SIGHUP tells the operator exactly which settings wait for a restart.
TEST(Config, DescribeChangesNamesEveryChangedField) {
  absl::StatusOr<HafsConfig> a = LoadConfigText(kMinimal, "a.conf");
  ASSERT_OK(a);
  EXPECT_THAT(DescribeChanges(*a, *a), ::testing::IsEmpty());
  HafsConfig b = *a;
  b.mutable_heartbeat()->set_deadtime_ms(5000);
  b.mutable_node(1)->set_peer_address("192.0.2.2:7788");
  EXPECT_THAT(DescribeChanges(*a, b),
              ::testing::UnorderedElementsAre(
                  "modified: node[1].peer_address: \"[2001:db8::2]:7788\" -> \"192.0.2.2:7788\"",
                  "modified: heartbeat.deadtime_ms: 10000 -> 5000"));
}

}  // namespace
}  // namespace hafs::config
