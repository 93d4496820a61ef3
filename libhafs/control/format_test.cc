#include "libhafs/control/format.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/control/convert.h"
#include "libhafs/control/fake_target.h"

namespace hafs::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatTest, DrbdStatusLayout) {
  EXPECT_EQ(FormatStatusText(SampleStatus(), false),
            "r0 role:Secondary\n"
            "  disk:UpToDate\n"
            "  bravo role:Secondary\n"
            "    replication:SyncSource peer-disk:Inconsistent done:50.00\n"
            "cluster hafs-test node:alpha id:0\n"
            "  bravo state:Alive links:grpc=Up,udp=Late\n"
            "  quorum:yes mode:two_node\n");
}

TEST(FormatTest, VerboseAddsProcDrbdCounters) {
  std::string out = FormatStatusText(SampleStatus(), true);
  EXPECT_THAT(out, HasSubstr("  0: cs:SyncSource ro:Secondary/Secondary "
                             "ds:UpToDate/Inconsistent C\n"));
  EXPECT_THAT(out, HasSubstr("     ns:101 nr:102 dw:103 dr:104 al:105 bm:106 lo:7 pe:8 "
                             "ua:9 ap:10 oos:4096\n"));
  EXPECT_THAT(out, HasSubstr("     [==========>.........] sync'ed: 50.0% (4096/8192)K "
                             "finish: 5:27:02 speed: 40480 K/sec\n"));
  EXPECT_THAT(out, HasSubstr("     gi: 5A3C000000000001:0000000000001234:"
                             "0000000000000011:0000000000000022:"
                             "0000000000000000:0000000000000000\n"));
  EXPECT_THAT(out, HasSubstr("     last handshake: rule 70: bitmap sync, this node is "
                             "SyncSource\n"));
  EXPECT_THAT(out, HasSubstr("daemon: test control:v1 config:/etc/hafs/hafs.conf\n"));
}

TEST(FormatTest, EstablishedConnectionHidesReplication) {
  NodeStatus s = SampleStatus();
  s.volumes[0].replication = "Established";
  s.volumes[0].peer_disk = "UpToDate";
  s.volumes[0].resync = {};
  EXPECT_THAT(FormatStatusText(s, false), HasSubstr("  bravo role:Secondary\n"
                                                    "    peer-disk:UpToDate\n"));
  EXPECT_THAT(FormatStatusText(s, true), HasSubstr("cs:Connected"));
}

TEST(FormatTest, NotAttachedIsHonest) {
  NodeStatus s = SampleStatus();
  VolumeStatus v;
  v.name = "r0";
  v.peer_name = "bravo";
  v.detail = "volume not attached yet";
  v.counters.ns = 999;  // must not be printed for an unattached volume
  s.volumes = {v};
  s.cluster = ClusterStatus{};
  s.cluster.detail = "heartbeat and quorum not running yet";
  std::string out = FormatStatusText(s, true);
  EXPECT_THAT(out, HasSubstr("r0 role:Unknown\n  disk:Diskless (volume not attached yet)\n"
                             "  bravo connection:StandAlone\n"
                             "    replication:Off peer-disk:DUnknown\n"));
  EXPECT_THAT(out, HasSubstr("counters: not available (volume not attached yet)"));
  EXPECT_THAT(out, HasSubstr("gi: unknown"));
  EXPECT_THAT(out, Not(HasSubstr("ns:")));
  EXPECT_THAT(out, HasSubstr("membership:unknown (heartbeat and quorum not running yet)"));
}

TEST(FormatTest, ADetachedDiskSaysWhyAndWhatToDo) {
  NodeStatus s = SampleStatus();
  s.volumes[0].disk = "Diskless";
  s.volumes[0].disk_note = "detached after a local I/O error: EIO; hint: replace the disk";
  EXPECT_THAT(FormatStatusText(s, false),
              HasSubstr("  disk:Diskless (detached after a local I/O error: EIO; hint: replace "
                        "the disk)\n"));
}

TEST(FormatTest, JsonRoundTripsThroughTheProto) {
  auto json = FormatStatusJson(SampleStatus());
  ASSERT_OK(json.status());
  EXPECT_THAT(*json, HasSubstr("\"node_name\": \"alpha\""));
  EXPECT_THAT(*json, HasSubstr("\"last_handshake\""));
  v1::StatusReply parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_EQ(FromProto(parsed), SampleStatus());
}

TEST(FormatTest, Eta) {
  EXPECT_EQ(FormatEta(-1), "-");
  EXPECT_EQ(FormatEta(0), "0:00:00");
  EXPECT_EQ(FormatEta(19622), "5:27:02");
}

}  // namespace
}  // namespace hafs::control
