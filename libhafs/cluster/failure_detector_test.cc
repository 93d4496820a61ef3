#include "libhafs/cluster/failure_detector.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::cluster {
namespace {

using ::hafs::testing::IsOkAndHolds;
using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using T = DetectorEvent::Type;

constexpr absl::Duration kMs = absl::Milliseconds(1);

TimingOptions Raw(int keepalive_ms, int warn_ms, int dead_ms, int init_ms) {
  TimingOptions t;
  t.keepalive = keepalive_ms * kMs;
  t.warntime = warn_ms * kMs;
  t.deadtime = dead_ms * kMs;
  t.initdead = init_ms * kMs;
  return t;
}

TEST(ValidateTimingTest, HeartbeatDefaultsAreDerived) {
  std::vector<std::string> warnings;
  auto t = ValidateTiming(TimingOptions{}, &warnings);  // 1s / 30s
  ASSERT_OK(t);
  EXPECT_EQ(t->warntime, absl::Seconds(15));
  EXPECT_EQ(t->initdead, absl::Seconds(30));  // deadtime > 10s
  EXPECT_THAT(warnings, ElementsAre(HasSubstr("less than twice")));

  t = ValidateTiming(Raw(100, 0, 500, 0), nullptr);
  ASSERT_OK(t);
  EXPECT_EQ(t->warntime, 250 * kMs);
  EXPECT_EQ(t->initdead, absl::Seconds(12));  // deadtime < 6s

  t = ValidateTiming(Raw(1000, 0, 8000, 0), nullptr);
  ASSERT_OK(t);
  EXPECT_EQ(t->initdead, absl::Seconds(16));  // 6s <= deadtime <= 10s
}

TEST(ValidateTimingTest, SeedDocumentConfigIsValid) {
  // The seed's ha.cf: keepalive 1, deadtime 10.
  std::vector<std::string> warnings;
  auto t = ValidateTiming(Raw(1000, 0, 10000, 0), &warnings);
  ASSERT_OK(t);
  EXPECT_EQ(t->warntime, absl::Seconds(5));
  EXPECT_EQ(t->initdead, absl::Seconds(20));
  EXPECT_THAT(warnings, IsEmpty());
}

TEST(ValidateTimingTest, DeadtimeMustExceedTwiceKeepalive) {
  EXPECT_THAT(ValidateTiming(Raw(1000, 0, 2000, 0), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("deadtime (2s) is too small compared to "
                                 "keepalive (1s)")));
  EXPECT_OK(ValidateTiming(Raw(1000, 0, 2001, 0), nullptr));
}

TEST(ValidateTimingTest, KeepaliveMustBePositive) {
  EXPECT_THAT(ValidateTiming(Raw(0, 0, 2000, 0), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("keepalive")));
}

TEST(ValidateTimingTest, WarntimeMustLieBetween) {
  EXPECT_THAT(ValidateTiming(Raw(1000, 1000, 10000, 0), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("warntime (1s) must lie strictly between")));
  EXPECT_THAT(ValidateTiming(Raw(1000, 10000, 10000, 0), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("warntime")));
  EXPECT_THAT(ValidateTiming(Raw(1000, -1, 10000, 0), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("warntime")));
  EXPECT_OK(ValidateTiming(Raw(1000, 1001, 10000, 0), nullptr));
}

TEST(ValidateTimingTest, InitdeadRules) {
  EXPECT_THAT(ValidateTiming(Raw(1000, 0, 10000, 9999), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("initdead (9.999s) is smaller than deadtime")));
  std::vector<std::string> warnings;
  EXPECT_OK(ValidateTiming(Raw(100, 0, 500, 600), &warnings));
  EXPECT_THAT(warnings, ElementsAre(HasSubstr("less than twice"),
                                    HasSubstr("should be >= 10s")));
  warnings.clear();
  EXPECT_OK(ValidateTiming(Raw(1000, 0, 10000, 120000), &warnings));
  EXPECT_THAT(warnings, IsEmpty());
}

class DetectorTest : public ::testing::Test {
 protected:
  DetectorTest()
      : start_(absl::FromUnixSeconds(1000)),
        fd_(*ValidateTiming(Raw(100, 250, 500, 1000), nullptr),
            {{.node = 2, .links = {"grpc", "udp"}}}, start_) {}

  absl::Time At(int ms) { return start_ + ms * kMs; }
  std::vector<DetectorEvent> Hb(int link, uint64_t seq, int ms, uint64_t inc = 1) {
    auto r = fd_.OnHeartbeat(2, link, inc, seq, At(ms));
    EXPECT_OK(r);
    return r.ok() ? *r : std::vector<DetectorEvent>{};
  }

  absl::Time start_;
  FailureDetector fd_;
};

TEST_F(DetectorTest, FirstHeartbeatBringsLinkAndNodeUp) {
  EXPECT_EQ(fd_.node_state(2), NodeState::kUnknown);
  EXPECT_THAT(Hb(0, 1, 10),
              ElementsAre(DetectorEvent{T::kLinkUp, 2, 0, At(10)},
                          DetectorEvent{T::kNodeAlive, 2, -1, At(10)}));
  EXPECT_THAT(Hb(1, 1, 11), ElementsAre(DetectorEvent{T::kLinkUp, 2, 1, At(11)}));
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);
}

TEST_F(DetectorTest, InitdeadAppliesBeforeFirstHeartbeat) {
  EXPECT_EQ(fd_.NextDeadline(), At(1000));
  EXPECT_THAT(fd_.Tick(At(999)), IsEmpty());
  EXPECT_THAT(fd_.Tick(At(1000)),
              ElementsAre(DetectorEvent{T::kLinkDead, 2, 0, At(1000)},
                          DetectorEvent{T::kLinkDead, 2, 1, At(1000)},
                          DetectorEvent{T::kNodeDead, 2, -1, At(1000)}));
  EXPECT_EQ(fd_.node_state(2), NodeState::kDead);
}

TEST_F(DetectorTest, SilenceGoesLateThenDeadAtExactTimes) {
  Hb(0, 1, 0);
  Hb(1, 1, 0);
  EXPECT_EQ(fd_.NextDeadline(), At(250));
  EXPECT_THAT(fd_.Tick(At(249)), IsEmpty());
  EXPECT_THAT(fd_.Tick(At(250)),
              ElementsAre(DetectorEvent{T::kLinkLate, 2, 0, At(250)},
                          DetectorEvent{T::kLinkLate, 2, 1, At(250)}));
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);
  EXPECT_THAT(fd_.Tick(At(499)), IsEmpty());
  auto ev = fd_.Tick(At(500));
  EXPECT_THAT(ev, ElementsAre(DetectorEvent{T::kLinkDead, 2, 0, At(500)},
                              DetectorEvent{T::kLinkDead, 2, 1, At(500)},
                              DetectorEvent{T::kNodeDead, 2, -1, At(500)}));
  EXPECT_EQ(fd_.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(DetectorTest, OneLinkLostIsAWarningNotANodeFailure) {
  for (int ms = 0; ms <= 2000; ms += 100) {
    Hb(0, ms / 100 + 1, ms);
    if (ms < 300) Hb(1, ms / 100 + 1, ms);  // the UDP path breaks after 200ms
    for (const auto& e : fd_.Tick(At(ms + 50))) {
      EXPECT_NE(e.type, T::kNodeDead) << DebugString(e);
    }
  }
  EXPECT_EQ(fd_.link_state(2, 1), LinkState::kDead);
  EXPECT_EQ(fd_.link_state(2, 0), LinkState::kUp);
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);
}

TEST_F(DetectorTest, LateLinkRecoversSilentlyDeadLinkAnnounces) {
  Hb(0, 1, 0);
  fd_.Tick(At(300));
  EXPECT_EQ(fd_.link_state(2, 0), LinkState::kLate);
  EXPECT_THAT(Hb(0, 2, 310), IsEmpty());
  EXPECT_EQ(fd_.link_state(2, 0), LinkState::kUp);
  fd_.Tick(At(900));
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);  // link 1 still in initdead
  fd_.Tick(At(1000));
  EXPECT_EQ(fd_.node_state(2), NodeState::kDead);
  EXPECT_THAT(Hb(0, 3, 1100),
              ElementsAre(DetectorEvent{T::kLinkUp, 2, 0, At(1100)},
                          DetectorEvent{T::kNodeAlive, 2, -1, At(1100)}));
}

TEST_F(DetectorTest, StaleOrDuplicateSequenceDoesNotRefresh) {
  Hb(0, 5, 0);
  Hb(0, 5, 200);  // duplicate
  Hb(0, 4, 240);  // reordered, older
  EXPECT_EQ(fd_.last_heard(2), At(0));
  fd_.Tick(At(250));
  EXPECT_EQ(fd_.link_state(2, 0), LinkState::kLate);
}

TEST_F(DetectorTest, RestartWithHigherIncarnationResetsSequence) {
  Hb(0, 100, 0, /*inc=*/1);
  EXPECT_THAT(Hb(0, 1, 50, /*inc=*/2),
              ElementsAre(DetectorEvent{T::kNodeRestarted, 2, -1, At(50)}));
  EXPECT_EQ(fd_.last_heard(2), At(50));
  Hb(0, 200, 60, /*inc=*/1);  // an old life: ignored
  EXPECT_EQ(fd_.last_heard(2), At(50));
}

TEST_F(DetectorTest, BadInputIsRefusedWithoutStateChange) {
  EXPECT_THAT(fd_.OnHeartbeat(9, 0, 1, 1, At(0)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown node 9")));
  EXPECT_THAT(fd_.OnHeartbeat(2, 2, 1, 1, At(0)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no link 2")));
  Hb(0, 1, 100);
  EXPECT_THAT(fd_.OnHeartbeat(2, 0, 1, 2, At(50)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backwards")));
  EXPECT_EQ(fd_.last_heard(2), At(100));
}

TEST_F(DetectorTest, LongGapReportsLateAndDeadBeforeRecovery) {
  Hb(0, 1, 0);
  Hb(1, 1, 0);
  auto ev = Hb(0, 2, 5000);  // no Tick in between, and no pause detection (PauseTest)
  std::vector<T> types;
  for (const auto& e : ev) types.push_back(e.type);
  EXPECT_THAT(types, ElementsAre(T::kLinkLate, T::kLinkDead, T::kLinkLate,
                                 T::kLinkDead, T::kNodeDead, T::kLinkUp,
                                 T::kNodeAlive));
}

// The owner steps every 100 ms (keepalive) and says so: max_call_gap 200 ms.
class PauseTest : public ::testing::Test {
 protected:
  PauseTest()
      : start_(absl::FromUnixSeconds(1000)),
        fd_(*ValidateTiming(Raw(100, 250, 500, 1000), nullptr),
            {{.node = 2, .links = {"grpc", "udp"}}}, start_, 200 * kMs) {}
  absl::Time At(int ms) { return start_ + ms * kMs; }
  void Hb(int link, uint64_t seq, int ms) { ASSERT_OK(fd_.OnHeartbeat(2, link, 1, seq, At(ms))); }

  absl::Time start_;
  FailureDetector fd_;
};

TEST_F(PauseTest, OwnPauseIsNotThePeersSilenceIfItsHeartbeatsAreQueued) {
  Hb(0, 1, 0);
  Hb(1, 1, 0);
  EXPECT_THAT(fd_.Tick(At(100)), IsEmpty());
  // Stopped for 5 s: the first call after it reports the pause and nothing else.
  EXPECT_THAT(fd_.Tick(At(5100)),
              ElementsAre(DetectorEvent{T::kSelfPaused, 0, -1, At(5100), 5000 * kMs}));
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);
  EXPECT_EQ(fd_.NextDeadline(), At(5300));
  // The heartbeats that waited in the sockets arrive: the peer stays alive.
  Hb(0, 40, 5101);
  Hb(1, 40, 5101);
  EXPECT_THAT(fd_.Tick(At(5300)), IsEmpty());
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);
}

TEST_F(PauseTest, ASilentPeerIsJudgedAfterTheHold) {
  Hb(0, 1, 0);
  Hb(1, 1, 0);
  // A heartbeat is the first call after the pause: it reports the pause,
  // refreshes its link, and the other link waits for the hold.
  auto r = fd_.OnHeartbeat(2, 0, 1, 2, At(3000));
  ASSERT_OK(r);
  EXPECT_THAT(*r, ElementsAre(DetectorEvent{T::kSelfPaused, 0, -1, At(3000), 3000 * kMs}));
  EXPECT_THAT(fd_.Tick(At(3199)), IsEmpty());
  EXPECT_THAT(fd_.Tick(At(3200)), ElementsAre(DetectorEvent{T::kLinkLate, 2, 1, At(3200)},
                                              DetectorEvent{T::kLinkDead, 2, 1, At(3200)}));
  EXPECT_EQ(fd_.node_state(2), NodeState::kAlive);  // link 0 was heard
  // Nothing more from the peer: dead at the normal times, no hold any more.
  EXPECT_THAT(fd_.Tick(At(3250)), ElementsAre(DetectorEvent{T::kLinkLate, 2, 0, At(3250)}));
  EXPECT_THAT(fd_.Tick(At(3450)), IsEmpty());  // the owner keeps its promise
  EXPECT_THAT(fd_.Tick(At(3500)), ElementsAre(DetectorEvent{T::kLinkDead, 2, 0, At(3500)},
                                              DetectorEvent{T::kNodeDead, 2, -1, At(3500)}));
}

TEST_F(PauseTest, AStarvedOwnerDoesNotKeepADeadPeerAlive) {
  Hb(0, 1, 0);
  Hb(1, 1, 0);
  // Every call comes 300 ms after the last (> max_call_gap): one hold only
  // per deadtime, so the silent peer is declared dead all the same.
  EXPECT_THAT(fd_.Tick(At(300)),
              ElementsAre(DetectorEvent{T::kSelfPaused, 0, -1, At(300), 300 * kMs}));
  auto ev = fd_.Tick(At(600));
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), (DetectorEvent{T::kNodeDead, 2, -1, At(600)}));
}

TEST_F(PauseTest, ShortGapsAreNotPauses) {
  Hb(0, 1, 0);
  EXPECT_THAT(fd_.Tick(At(200)), IsEmpty());  // exactly max_call_gap
  EXPECT_THAT(fd_.Tick(At(250)), ElementsAre(DetectorEvent{T::kLinkLate, 2, 0, At(250)}));
}

}  // namespace
}  // namespace hafs::cluster
