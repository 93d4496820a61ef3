#include "libhafs/daemon/config_target.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/config/config.h"
#include "libhafs/control/events.h"

namespace hafs::daemon {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

config::HafsConfig DefaultConfig() {
  auto cfg = config::LoadConfigText(config::DefaultLocalPairConfigText("/srv/hafs"),
                                    "default");
  EXPECT_OK(cfg.status());
  return *cfg;
}

TEST(ConfigOnlyTargetTest, StatusReportsTheConfigurationAndNothingInvented) {
  ConfigOnlyTarget t(DefaultConfig(), "bravo", "/etc/hafs/hafs.conf", 1700000000);
  auto s = t.GetStatus();
  ASSERT_OK(s.status());
  EXPECT_EQ(s->node_name, "bravo");
  EXPECT_EQ(s->node_id, 1u);
  EXPECT_EQ(s->cluster_name, "local");
  EXPECT_EQ(s->config_file, "/etc/hafs/hafs.conf");
  EXPECT_EQ(s->started_unix_s, 1700000000);
  ASSERT_EQ(s->volumes.size(), 1u);
  const control::VolumeStatus& v = s->volumes[0];
  EXPECT_EQ(v.name, "r0");
  EXPECT_FALSE(v.attached);
  EXPECT_EQ(v.detail, kNotAttachedDetail);
  EXPECT_EQ(v.disk, "Diskless");
  EXPECT_EQ(v.connection, "StandAlone");
  EXPECT_EQ(v.peer_name, "alpha");
  EXPECT_EQ(v.peer_disk, "DUnknown");
  EXPECT_EQ(v.protocol, "C");
  EXPECT_EQ(v.backing_device, "/srv/hafs/bravo.img");
  EXPECT_EQ(v.counters, control::Counters{});
  EXPECT_FALSE(v.gi.known);
  EXPECT_FALSE(v.resync.active);
  EXPECT_FALSE(s->cluster.available);
  EXPECT_EQ(s->cluster.detail, kNoClusterDetail);
  EXPECT_EQ(s->cluster.quorum_mode, "off");
}

TEST(ConfigOnlyTargetTest, EveryCommandIsRefusedAndChangesNothing) {
  ConfigOnlyTarget t(DefaultConfig(), "alpha", "c", 0);
  const control::NodeStatus before = *t.GetStatus();
  auto sub = t.events()->Subscribe(false);
  std::vector<std::pair<std::string, absl::Status>> results = {
      {"primary", t.Primary(true).status()},
      {"secondary", t.Secondary().status()},
      {"connect", t.Connect({}).status()},
      {"disconnect", t.Disconnect().status()},
      {"verify", t.Verify().status()},
      {"resync", t.Resync(true).status()},
      {"standby", t.Standby().status()},
      {"takeover", t.Takeover().status()},
      {"cleanup", t.Cleanup().status()},
  };
  for (const auto& [verb, s] : results) {
    SCOPED_TRACE(verb);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(std::string(s.message()), HasSubstr(verb + ": "));
    EXPECT_THAT(std::string(s.message()), HasSubstr("nothing was changed"));
  }
  EXPECT_EQ(*t.GetStatus(), before);
  auto line = sub->Next(absl::ZeroDuration());
  ASSERT_OK(line.status());
  EXPECT_FALSE(line->has_value());  // no state change was published
}

TEST(ConfigOnlyTargetTest, EventsSnapshotIsTheHonestState) {
  ConfigOnlyTarget t(DefaultConfig(), "alpha", "c", 0);
  auto sub = t.events()->Subscribe(true);
  std::vector<std::string> lines;
  while (true) {
    auto l = sub->Next(absl::ZeroDuration());
    ASSERT_OK(l.status());
    if (!l->has_value()) break;
    lines.push_back(**l);
  }
  EXPECT_THAT(lines, ::testing::Contains("exists device name:r0 volume:0 disk:Diskless "
                                         "attached:no"));
  EXPECT_EQ(lines.back(), "exists -");
}

TEST(FindNodeTest, UnknownNodeListsConfiguredOnes) {
  auto n = FindNode(DefaultConfig(), "gamma", "/etc/hafs/hafs.conf");
  EXPECT_THAT(n.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(n.status().message(),
            "/etc/hafs/hafs.conf: no node named \"gamma\" (configured: \"alpha\", "
            "\"bravo\"); hint: --node must be one of them");
  ASSERT_OK(FindNode(DefaultConfig(), "alpha", "x").status());
}

}  // namespace
}  // namespace hafs::daemon
