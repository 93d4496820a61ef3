#include "libhafs/frontend/block_range_lock.h"

#include <utility>

#include "libhafs/base/logging.h"

namespace hafs::frontend {

BlockRangeLock::Guard::Guard(Guard&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), it_(other.it_) {}

BlockRangeLock::Guard::~Guard() {
  if (owner_ != nullptr) owner_->Release(it_);
}

BlockRangeLock::~BlockRangeLock() {
  absl::MutexLock l(&mu_);
  HAFS_CHECK(entries_.empty())
      << entries_.size() << " block range locks outstanding at destruction";
}

bool BlockRangeLock::Ready(std::list<Entry>::iterator it) const {
  for (auto e = entries_.begin(); e != it; ++e) {
    if (Conflicts(*e, *it)) return false;
  }
  return true;
}

BlockRangeLock::Guard BlockRangeLock::Lock(uint64_t begin, uint64_t end,
                                           bool exclusive) {
  HAFS_CHECK(begin < end) << "empty block range [" << begin << ", " << end
                          << ")";
  absl::MutexLock l(&mu_);
  auto it = entries_.insert(entries_.end(), Entry{begin, end, exclusive});
  struct Waiter {
    const BlockRangeLock* lock;
    std::list<Entry>::iterator it;
    bool Ready() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return lock->Ready(it);
    }
  } waiter{this, it};
  mu_.Await(absl::Condition(&waiter, &Waiter::Ready));
  return Guard(this, it);
}

void BlockRangeLock::Release(std::list<Entry>::iterator it) {
  absl::MutexLock l(&mu_);
  entries_.erase(it);
}

int BlockRangeLock::entries() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(entries_.size());
}

}  // namespace hafs::frontend
