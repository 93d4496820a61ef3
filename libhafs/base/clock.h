// File: libhafs/base/clock.h
// -----------------------------------------------------------------------------
// The Clock port: every component that needs time or timers takes a `Clock*`
// (LevelDB Env / absl clock_interface style) instead of calling absl::Now().
//
//   * `Clock::System()` is the real clock; its timers run on one background
//     thread owned by the clock.
//   * `SimClock` is simulated time for tests and the deterministic simulator:
//     time moves only when the test advances it, and timers fire in a fixed
//     order (deadline, then scheduling order) on the advancing thread.
//
// Thread-safety: all methods of both implementations may be called from any
// thread. Timer callbacks run without any clock lock held and may schedule or
// cancel timers.
//
// Example:
//   SimClock clock;
//   int fired = 0;
//   clock.ScheduleAfter(absl::Milliseconds(500), [&] { ++fired; });
//   clock.AdvanceBy(absl::Milliseconds(499));  // fired == 0
//   clock.AdvanceBy(absl::Milliseconds(1));    // fired == 1
#ifndef HAFS_LIBHAFS_BASE_CLOCK_H_
#define HAFS_LIBHAFS_BASE_CLOCK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hafs {

class Clock {
 public:
  // Identifies a scheduled timer; never 0.
  using TimerId = uint64_t;

  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() = 0;

  // Blocks the caller for `d` of this clock's time. On a SimClock this
  // advances simulated time (firing due timers) instead of blocking.
  virtual void SleepFor(absl::Duration d) = 0;

  // Runs `fn` once, at or after `deadline`. Returns the timer's id.
  virtual TimerId ScheduleAt(absl::Time deadline, std::function<void()> fn) = 0;

  // Cancels a pending timer. Returns true iff it had not started to run.
  virtual bool Cancel(TimerId id) = 0;

  TimerId ScheduleAfter(absl::Duration d, std::function<void()> fn) {
    return ScheduleAt(Now() + d, std::move(fn));
  }

  // The process-wide real clock (never destroyed).
  static Clock* System();
};

// Deterministic simulated time. Starts at `start` (default 2030-01-01 UTC, an
// arbitrary fixed instant so that runs replay exactly).
class SimClock final : public Clock {
 public:
  SimClock();
  explicit SimClock(absl::Time start);
  SimClock(const SimClock&) = delete;
  SimClock& operator=(const SimClock&) = delete;

  absl::Time Now() override;
  void SleepFor(absl::Duration d) override { AdvanceBy(d); }
  TimerId ScheduleAt(absl::Time deadline, std::function<void()> fn) override;
  bool Cancel(TimerId id) override;

  // Moves time forward to `t`, firing every timer due at or before `t` in
  // (deadline, scheduling order); while a timer runs Now() is its deadline.
  // Timers scheduled by callbacks fire too if they are due by `t`.
  // REQUIRES: t >= Now().
  void AdvanceTo(absl::Time t);
  void AdvanceBy(absl::Duration d) { AdvanceTo(Now() + d); }

  // Jumps to the earliest pending deadline and fires that one timer.
  // Returns false (and leaves time alone) if no timer is pending.
  bool RunNextTimer();

  // The earliest pending deadline, if any.
  std::optional<absl::Time> NextDeadline();
  size_t PendingTimers();

 private:
  // Pops the first timer due at or before `limit` and sets now_ to its
  // deadline. Returns an empty function if none is due.
  std::function<void()> PopDue(absl::Time limit);

  using Key = std::pair<absl::Time, TimerId>;  // deadline, then schedule order

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<Key, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hafs

#endif  // HAFS_LIBHAFS_BASE_CLOCK_H_
