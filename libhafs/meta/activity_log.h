// File: libhafs/meta/activity_log.h
// -----------------------------------------------------------------------------
// ActivityLog: the pure core of the activity log (no I/O, no clock, no
// threads). It decides which 4 MiB extents are hot, which writes may be issued
// now, and which AL transaction must become durable first. The runtime
// (MetaStore, or a simulator) performs the effects.
//
// Contract (durability before issue, like raft's Ready/Advance):
//   1. Begin(id, first, last) for every data write touching extents
//      [first, last]. kReady: every extent is hot, a reference is taken, the
//      write may be issued now. kWait: the write must not be issued yet.
//   2. When there are waiting writes and no transaction is in flight, the
//      runtime calls PrepareTransaction(). Activations that arrived together
//      share one transaction (up to kAlMaxUpdates). For its `evicted` extents
//      the runtime must first make durable (a) their bitmap pages and (b)
//      every data write that completed before (a Flush), then write `block`
//      to ring block `ring_index` with FUA (or write + Flush).
//   3. Only when that is durable: CommitTransaction(), which returns the ids
//      of writes that may now be issued (their references are taken).
//      On a failed write: AbortTransaction() (state rolls back; the waiting
//      writes stay waiting).
//   4. End(first, last) when the data write is complete (after its bitmap
//      bits, if any, are set). Extents with references are never evicted.
//
// Eviction is LRU among extents with no references, preferring extents no
// waiting write needs. A write may span at most `extents` extents.
//
// Thread-safety: none; one owner (the event loop).
//
// Example:
//   ActivityLog al(geometry, recovery);
//   if (*al.Begin(7, e, e) == ActivityLog::Admit::kWait) {
//     auto tr = al.PrepareTransaction();   // runtime writes tr->block (FUA)
//     for (uint64_t id : al.CommitTransaction()) Issue(id);
//   }
#ifndef HAFS_LIBHAFS_META_ACTIVITY_LOG_H_
#define HAFS_LIBHAFS_META_ACTIVITY_LOG_H_

#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libhafs/meta/al_format.h"

namespace hafs::meta {

struct AlGeometry {
  uint32_t extents = 0;        // E
  uint32_t ring_blocks = 0;    // R
  uint64_t device_uuid = 0;
  uint64_t data_extents = 0;   // extents of the data area
};

class ActivityLog {
 public:
  enum class Admit { kReady, kWait };

  struct Transaction {
    uint64_t tr_number = 0;
    uint32_t ring_index = 0;
    std::vector<uint32_t> activated;
    // Persist their bitmap pages and flush completed data before `block`.
    std::vector<uint32_t> evicted;
    std::string block;  // 4 KiB, encoded
  };

  struct Stats {
    uint64_t transactions = 0;  // committed
    uint64_t activations = 0;
    uint64_t evictions = 0;
    uint64_t waits = 0;         // Begin() calls that returned kWait
  };

  // `slots` (size extents, kAlEmptyExtent = free) is the recovered table,
  // `next_tr` and `next_context_start` continue the ring.
  ActivityLog(const AlGeometry& geometry, const std::vector<uint32_t>& slots,
              uint64_t next_tr, uint32_t next_context_start);
  ActivityLog(const ActivityLog&) = delete;
  ActivityLog& operator=(const ActivityLog&) = delete;

  // kInvalidArgument if the write spans more than E extents or last < first;
  // kOutOfRange if past the data area.
  absl::StatusOr<Admit> Begin(uint64_t write_id, uint32_t first, uint32_t last);
  // REQUIRES: a matching Begin returned kReady (or its id was returned by
  // CommitTransaction).
  void End(uint32_t first, uint32_t last);

  // Writes waiting for a transaction.
  size_t waiting() const { return pending_.size(); }
  // Distinct cold extents wanted by waiting writes.
  size_t wanted_cold() const;
  bool transaction_in_flight() const { return in_flight_.has_value(); }

  // nullopt if a transaction is in flight or nothing can be activated now
  // (every hot extent is referenced: wait for End).
  std::optional<Transaction> PrepareTransaction();
  std::vector<uint64_t> CommitTransaction();
  // Returns writes that became admissible (their extents are all hot again).
  std::vector<uint64_t> AbortTransaction();
  // Drops every waiting write (e.g. the metadata device failed) and returns
  // their ids; their callers must fail them. No transaction may be in flight.
  std::vector<uint64_t> CancelWaiting();

  bool IsHot(uint32_t extent) const;
  uint32_t refs(uint32_t extent) const;
  // Hot extents (committed), sorted.
  std::vector<uint32_t> HotExtents() const;
  const std::vector<uint32_t>& slots() const { return slots_; }
  uint64_t next_tr() const { return next_tr_; }
  const AlGeometry& geometry() const { return geometry_; }
  const Stats& stats() const { return stats_; }

 private:
  enum class State { kHot, kActivating, kEvicting };
  struct Entry {
    uint32_t slot = 0;
    uint32_t refs = 0;
    uint32_t wanted = 0;  // waiting writes that need it
    State state = State::kHot;
    std::list<uint32_t>::iterator lru;  // valid iff in lru_ (kHot/kEvicting)
  };
  struct Pending {
    uint64_t id;
    uint32_t first, last;
  };

  void Touch(Entry& e, uint32_t extent);
  // Admits every waiting write whose extents are all hot.
  std::vector<uint64_t> AdmitPending();
  // A victim slot for one activation, or nullopt.
  // The least recently used hot extent without references, not in `chosen`;
  // one that waiting writes want only if no other is left, and never one the
  // oldest waiting write wants (extents [keep_first, keep_last]): evicting
  // those would let two writes that span extents take each other's extents
  // away forever in a small AL.
  std::optional<uint32_t> PickVictim(const absl::flat_hash_map<uint32_t, bool>& chosen,
                                     uint32_t keep_first, uint32_t keep_last);

  AlGeometry geometry_;
  std::vector<uint32_t> slots_;  // committed table
  std::vector<uint32_t> free_slots_;
  absl::flat_hash_map<uint32_t, Entry> entries_;  // hot or in transition
  std::list<uint32_t> lru_;                       // front = most recent
  absl::flat_hash_map<uint32_t, uint32_t> cold_wanted_;  // extent -> writes
  std::deque<uint32_t> want_order_;                      // arrival order
  std::deque<Pending> pending_;
  struct InFlight {
    std::vector<std::pair<uint32_t, uint32_t>> updates;  // slot, extent
    std::vector<uint32_t> activated, evicted;
    std::vector<uint32_t> free_slots_used;
    uint32_t next_context_start;
  };
  std::optional<InFlight> in_flight_;
  uint64_t next_tr_;
  uint32_t next_context_start_;
  Stats stats_;
};

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_ACTIVITY_LOG_H_
