#include "libhafs/base/clock.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs {
namespace {

using ::testing::ElementsAre;

TEST(SimClock, TimersFireInDeadlineThenScheduleOrder) {
  SimClock clock;
  const absl::Time t0 = clock.Now();
  std::vector<std::string> fired;
  clock.ScheduleAfter(absl::Seconds(2), [&] { fired.push_back("b"); });
  clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back("a"); });
  clock.ScheduleAfter(absl::Seconds(2), [&] { fired.push_back("c"); });
  clock.AdvanceBy(absl::Milliseconds(999));
  EXPECT_TRUE(fired.empty());
  clock.AdvanceBy(absl::Milliseconds(1));
  EXPECT_THAT(fired, ElementsAre("a"));
  clock.AdvanceBy(absl::Seconds(5));
  EXPECT_THAT(fired, ElementsAre("a", "b", "c"));
  EXPECT_EQ(clock.Now(), t0 + absl::Seconds(6));
}

TEST(SimClock, CallbackSeesItsDeadlineAndCanReschedule) {
  SimClock clock;
  const absl::Time t0 = clock.Now();
  std::vector<absl::Duration> seen;
  std::function<void()> tick = [&] {
    seen.push_back(clock.Now() - t0);
    if (seen.size() < 3) clock.ScheduleAfter(absl::Milliseconds(100), tick);
  };
  clock.ScheduleAfter(absl::Milliseconds(100), tick);
  clock.AdvanceBy(absl::Seconds(1));
  EXPECT_THAT(seen, ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200),
                                absl::Milliseconds(300)));
}

TEST(SimClock, CancelAndRunNext) {
  SimClock clock;
  int a = 0, b = 0;
  Clock::TimerId ida = clock.ScheduleAfter(absl::Seconds(1), [&] { ++a; });
  clock.ScheduleAfter(absl::Seconds(3), [&] { ++b; });
  EXPECT_EQ(clock.PendingTimers(), 2u);
  EXPECT_TRUE(clock.Cancel(ida));
  EXPECT_FALSE(clock.Cancel(ida));
  const absl::Time t0 = clock.Now();
  ASSERT_TRUE(clock.RunNextTimer());
  EXPECT_EQ(clock.Now(), t0 + absl::Seconds(3));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_FALSE(clock.RunNextTimer());
  EXPECT_FALSE(clock.NextDeadline().has_value());
}

TEST(SimClock, PastDeadlineFiresAtNextAdvance) {
  SimClock clock;
  int fired = 0;
  clock.ScheduleAt(clock.Now() - absl::Seconds(10), [&] { ++fired; });
  EXPECT_EQ(fired, 0);
  clock.AdvanceBy(absl::ZeroDuration());
  EXPECT_EQ(fired, 1);
}

TEST(SimClockDeathTest, CannotGoBack) {
  SimClock clock;
  EXPECT_DEATH(clock.AdvanceTo(clock.Now() - absl::Seconds(1)), "go back");
}

TEST(SystemClock, TimerFiresAndCancelWorks) {
  Clock* clock = Clock::System();
  absl::Notification done;
  std::atomic<int> cancelled_fired{0};
  Clock::TimerId never =
      clock->ScheduleAfter(absl::Seconds(30), [&] { cancelled_fired = 1; });
  const absl::Time start = clock->Now();
  clock->ScheduleAfter(absl::Milliseconds(20), [&] { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(clock->Now() - start, absl::Milliseconds(20));
  EXPECT_TRUE(clock->Cancel(never));
  EXPECT_EQ(cancelled_fired.load(), 0);
}

}  // namespace
}  // namespace hafs
