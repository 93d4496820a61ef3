#include "libhafs/control/events.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/control/fake_target.h"

namespace hafs::control {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::hafs::testing::StatusIs;

TEST(QuoteEventValueTest, PlainAndQuoted) {
  EXPECT_EQ(QuoteEventValue("UpToDate"), "UpToDate");
  EXPECT_EQ(QuoteEventValue(""), "\"\"");
  EXPECT_EQ(QuoteEventValue("rule 70: a \"b\" \\c"), "\"rule 70: a \\\"b\\\" \\\\c\"");
  EXPECT_EQ(QuoteEventValue("a\nb"), "\"a\\nb\"");
}

TEST(SnapshotLinesTest, EveryObjectThenTerminator) {
  EXPECT_THAT(
      SnapshotLines(SampleStatus()),
      ElementsAre(
          "exists cluster name:hafs-test node:alpha available:yes peer:bravo "
          "peer-state:Alive quorum-mode:two_node quorum:yes",
          "exists link name:hafs-test conn-name:bravo link:grpc state:Up",
          "exists link name:hafs-test conn-name:bravo link:udp state:Late",
          "exists resource name:r0 role:Secondary",
          "exists device name:r0 volume:0 disk:UpToDate attached:yes",
          "exists connection name:r0 conn-name:bravo connection:Connected "
          "role:Secondary handshake:\"rule 70: bitmap sync, this node is SyncSource\"",
          "exists peer-device name:r0 conn-name:bravo volume:0 replication:SyncSource "
          "peer-disk:Inconsistent verify:no",
          "exists -"));
}

TEST(ChangeLinesTest, OnlyChangedKeys) {
  NodeStatus a = SampleStatus();
  NodeStatus b = a;
  EXPECT_THAT(ChangeLines(a, b), IsEmpty());
  b.volumes[0].role = "Primary";
  b.volumes[0].counters.ns += 100;  // counters are not events
  b.volumes[0].peer_disk = "UpToDate";
  b.volumes[0].replication = "Established";
  b.cluster.links[1].state = "Up";
  EXPECT_THAT(ChangeLines(a, b),
              ElementsAre("change link name:hafs-test conn-name:bravo link:udp state:Up",
                          "change resource name:r0 role:Primary",
                          "change peer-device name:r0 conn-name:bravo volume:0 "
                          "replication:Established peer-disk:UpToDate"));
}

TEST(ChangeLinesTest, CreateAndDestroy) {
  NodeStatus a = SampleStatus();
  NodeStatus b = a;
  b.cluster.links.pop_back();
  b.cluster.links.push_back({"udp2", "Init"});
  EXPECT_THAT(ChangeLines(a, b),
              ElementsAre("create link name:hafs-test conn-name:bravo link:udp2 state:Init",
                          "destroy link name:hafs-test conn-name:bravo link:udp"));
}

TEST(ChangeLinesTest, ClusterBecomesAvailable) {
  NodeStatus a = SampleStatus();
  a.cluster = ClusterStatus{};
  a.cluster.detail = "not running";
  NodeStatus b = SampleStatus();
  b.cluster.links.clear();
  EXPECT_THAT(ChangeLines(a, b),
              ElementsAre("change cluster name:hafs-test node:alpha available:yes "
                          "peer:bravo peer-state:Alive quorum-mode:two_node quorum:yes"));
}

std::vector<std::string> Drain(EventSubscription& sub) {
  std::vector<std::string> out;
  while (true) {
    auto line = sub.Next(absl::ZeroDuration());
    if (!line.ok() || !line->has_value()) return out;
    out.push_back(**line);
  }
}

TEST(EventHubTest, NowSnapshotThenChanges) {
  EventHub hub;
  NodeStatus s = SampleStatus();
  hub.PublishStatus(s);
  auto with_now = hub.Subscribe(/*now=*/true);
  auto without = hub.Subscribe(/*now=*/false);
  EXPECT_EQ(hub.subscriber_count(), 2u);
  s.volumes[0].role = "Primary";
  hub.PublishStatus(s);
  hub.Publish("call helper name:r0 helper:split-brain");
  std::vector<std::string> expected = SnapshotLines(SampleStatus());
  expected.push_back("change resource name:r0 role:Primary");
  expected.push_back("call helper name:r0 helper:split-brain");
  EXPECT_EQ(Drain(*with_now), expected);
  EXPECT_THAT(Drain(*without), ElementsAre("change resource name:r0 role:Primary",
                                           "call helper name:r0 helper:split-brain"));
  without.reset();
  EXPECT_EQ(hub.subscriber_count(), 1u);
}

TEST(EventHubTest, NowBeforeAnyStatusIsJustTerminator) {
  EventHub hub;
  auto sub = hub.Subscribe(true);
  EXPECT_THAT(Drain(*sub), ElementsAre("exists -"));
}

TEST(EventHubTest, TimeoutReturnsNoLine) {
  EventHub hub;
  auto sub = hub.Subscribe(false);
  auto line = sub->Next(absl::Milliseconds(10));
  ASSERT_OK(line.status());
  EXPECT_FALSE(line->has_value());
}

TEST(EventHubTest, CloseDrainsThenCancels) {
  EventHub hub;
  auto sub = hub.Subscribe(false);
  hub.Publish("x");
  hub.Close();
  hub.Publish("after close");  // not delivered
  auto l1 = sub->Next(absl::Seconds(1));
  ASSERT_OK(l1.status());
  EXPECT_EQ(**l1, "x");
  EXPECT_THAT(sub->Next(absl::Seconds(1)).status(),
              StatusIs(absl::StatusCode::kCancelled));
  auto late = hub.Subscribe(false);
  EXPECT_THAT(late->Next(absl::Seconds(1)).status(),
              StatusIs(absl::StatusCode::kCancelled));
}

TEST(EventHubTest, SlowSubscriberOverflowsWithPreciseError) {
  EventHub hub(/*max_queued=*/3);
  auto sub = hub.Subscribe(false);
  for (int i = 0; i < 4; ++i) hub.Publish("line");
  auto r = sub->Next(absl::Seconds(1));
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("more than 3 lines"));
}

TEST(EventHubTest, WakesBlockedReader) {
  EventHub hub;
  auto sub = hub.Subscribe(false);
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(20));
    hub.Publish("late");
  });
  auto line = sub->Next(absl::Seconds(10));
  t.join();
  ASSERT_OK(line.status());
  ASSERT_TRUE(line->has_value());
  EXPECT_EQ(**line, "late");
}

}  // namespace
}  // namespace hafs::control
