#include "libhafs/base/clock.h"

#include <thread>

#include "libhafs/base/logging.h"

namespace hafs {
namespace {

// Real time; timers run on one lazily started background thread.
class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }

  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }

  TimerId ScheduleAt(absl::Time deadline, std::function<void()> fn) override {
    absl::MutexLock l(&mu_);
    if (!thread_started_) {
      thread_started_ = true;
      std::thread([this] { Loop(); }).detach();  // the clock lives forever
    }
    TimerId id = next_id_++;
    timers_.emplace(std::make_pair(deadline, id), std::move(fn));
    deadlines_.emplace(id, deadline);
    cv_.Signal();
    return id;
  }

  bool Cancel(TimerId id) override {
    absl::MutexLock l(&mu_);
    auto it = deadlines_.find(id);
    if (it == deadlines_.end()) return false;
    timers_.erase(std::make_pair(it->second, id));
    deadlines_.erase(it);
    return true;
  }

 private:
  void Loop() {
    absl::MutexLock l(&mu_);
    for (;;) {
      if (timers_.empty()) {
        cv_.Wait(&mu_);
        continue;
      }
      auto first = timers_.begin();
      if (first->first.first > absl::Now()) {
        cv_.WaitWithDeadline(&mu_, first->first.first);
        continue;
      }
      std::function<void()> fn = std::move(first->second);
      deadlines_.erase(first->first.second);
      timers_.erase(first);
      mu_.Unlock();
      fn();
      mu_.Lock();
    }
  }

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool thread_started_ ABSL_GUARDED_BY(mu_) = false;
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> timers_
      ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

Clock* Clock::System() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

SimClock::SimClock()
    : SimClock(absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0),
                               absl::UTCTimeZone())) {}

SimClock::SimClock(absl::Time start) : now_(start) {}

absl::Time SimClock::Now() {
  absl::MutexLock l(&mu_);
  return now_;
}

Clock::TimerId SimClock::ScheduleAt(absl::Time deadline,
                                    std::function<void()> fn) {
  absl::MutexLock l(&mu_);
  // A deadline in the past fires at the next advance, at the current time.
  if (deadline < now_) deadline = now_;
  TimerId id = next_id_++;
  timers_.emplace(Key(deadline, id), std::move(fn));
  deadlines_.emplace(id, deadline);
  return id;
}

bool SimClock::Cancel(TimerId id) {
  absl::MutexLock l(&mu_);
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return false;
  timers_.erase(Key(it->second, id));
  deadlines_.erase(it);
  return true;
}

std::function<void()> SimClock::PopDue(absl::Time limit) {
  absl::MutexLock l(&mu_);
  if (timers_.empty() || timers_.begin()->first.first > limit) return nullptr;
  auto first = timers_.begin();
  now_ = first->first.first;
  std::function<void()> fn = std::move(first->second);
  deadlines_.erase(first->first.second);
  timers_.erase(first);
  return fn;
}

void SimClock::AdvanceTo(absl::Time t) {
  {
    absl::MutexLock l(&mu_);
    HAFS_CHECK(t >= now_) << "SimClock cannot go back from " << now_ << " to "
                          << t;
  }
  while (std::function<void()> fn = PopDue(t)) fn();
  absl::MutexLock l(&mu_);
  now_ = t;
}

bool SimClock::RunNextTimer() {
  std::function<void()> fn = PopDue(absl::InfiniteFuture());
  if (!fn) return false;
  fn();
  return true;
}

std::optional<absl::Time> SimClock::NextDeadline() {
  absl::MutexLock l(&mu_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

size_t SimClock::PendingTimers() {
  absl::MutexLock l(&mu_);
  return timers_.size();
}

}  // namespace hafs
