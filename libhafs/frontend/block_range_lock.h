// File: libhafs/frontend/block_range_lock.h
// -----------------------------------------------------------------------------
// BlockRangeLock: shared/exclusive locks on half-open ranges of blocks, FIFO
// fair. A request may proceed when no EARLIER request (granted or waiting)
// overlaps it in a conflicting mode (exclusive vs anything). Arrival order
// therefore decides, which makes it starvation-free and deadlock-free as long
// as each thread holds at most one guard at a time.
//
// Used by ByteRangeIo: read-modify-write of partial blocks takes exclusive
// locks, whole-block writes shared ones (they only must not interleave with a
// read-modify-write of the same block).
//
// Thread-safety: all methods may be called concurrently.
//
// Example:
//   BlockRangeLock locks;
//   {
//     BlockRangeLock::Guard g = locks.Lock(first_block, end_block, true);
//     ... read, modify, write the blocks ...
//   }  // released
#ifndef HAFS_LIBHAFS_FRONTEND_BLOCK_RANGE_LOCK_H_
#define HAFS_LIBHAFS_FRONTEND_BLOCK_RANGE_LOCK_H_

#include <cstdint>
#include <list>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hafs::frontend {

class BlockRangeLock {
 private:
  struct Entry {
    uint64_t begin;
    uint64_t end;
    bool exclusive;
  };

 public:
  // Releases its range on destruction. Movable.
  class Guard {
   public:
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();

   private:
    friend class BlockRangeLock;
    Guard(BlockRangeLock* owner, std::list<Entry>::iterator it)
        : owner_(owner), it_(it) {}
    BlockRangeLock* owner_;
    std::list<Entry>::iterator it_;
  };

  BlockRangeLock() = default;
  BlockRangeLock(const BlockRangeLock&) = delete;
  BlockRangeLock& operator=(const BlockRangeLock&) = delete;
  // REQUIRES: no guard outstanding.
  ~BlockRangeLock();

  // Blocks until [begin, end) may be held in the requested mode.
  // REQUIRES: begin < end.
  Guard Lock(uint64_t begin, uint64_t end, bool exclusive);

  // Entries granted or waiting (for tests).
  int entries() const;

 private:
  bool Conflicts(const Entry& a, const Entry& b) const {
    return a.begin < b.end && b.begin < a.end && (a.exclusive || b.exclusive);
  }
  bool Ready(std::list<Entry>::iterator it) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(std::list<Entry>::iterator it);

  mutable absl::Mutex mu_;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);  // arrival order
};

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_BLOCK_RANGE_LOCK_H_
