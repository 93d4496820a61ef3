#include "libhafs/meta/activity_log.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {

ActivityLog::ActivityLog(const AlGeometry& geometry, const std::vector<uint32_t>& slots,
                         uint64_t next_tr, uint32_t next_context_start)
    : geometry_(geometry),
      slots_(slots),
      next_tr_(next_tr),
      next_context_start_(next_context_start) {
  HAFS_CHECK(slots_.size() == geometry_.extents)
      << slots_.size() << " slots for an AL of " << geometry_.extents;
  if (next_context_start_ >= geometry_.extents) next_context_start_ = 0;
  for (uint32_t i = geometry_.extents; i-- > 0;) {
    const uint32_t e = slots_[i];
    if (e == kAlEmptyExtent) {
      free_slots_.push_back(i);  // lowest slot on top
      continue;
    }
    if (entries_.contains(e)) {
      // A duplicate on disk: keep one copy; the other slot is reused.
      slots_[i] = kAlEmptyExtent;
      free_slots_.push_back(i);
      continue;
    }
    Entry& ent = entries_[e];
    ent.slot = i;
    ent.state = State::kHot;
    lru_.push_back(e);
    ent.lru = std::prev(lru_.end());
  }
}

void ActivityLog::Touch(Entry& e, uint32_t extent) {
  lru_.splice(lru_.begin(), lru_, e.lru);
  e.lru = lru_.begin();
  (void)extent;
}

absl::StatusOr<ActivityLog::Admit> ActivityLog::Begin(uint64_t write_id, uint32_t first,
                                                      uint32_t last) {
  if (last < first) {
    return absl::InvalidArgumentError(
        absl::StrCat("AL begin: extent range ", first, "..", last, " is reversed"));
  }
  if (last >= geometry_.data_extents) {
    return absl::OutOfRangeError(absl::StrCat("AL begin: extent ", last,
                                              " is past the data area (",
                                              geometry_.data_extents, " extents)"));
  }
  if (uint64_t{last} - first + 1 > geometry_.extents) {
    return absl::InvalidArgumentError(
        absl::StrCat("AL begin: write spans ", uint64_t{last} - first + 1,
                     " extents, more than the AL holds (", geometry_.extents, ")"));
  }
  bool all_hot = true;
  for (uint32_t e = first; e <= last && all_hot; ++e) {
    auto it = entries_.find(e);
    all_hot = it != entries_.end() && it->second.state == State::kHot;
  }
  if (all_hot) {
    for (uint32_t e = first; e <= last; ++e) {
      Entry& ent = entries_.at(e);
      ++ent.refs;
      Touch(ent, e);
    }
    return Admit::kReady;
  }
  pending_.push_back(Pending{write_id, first, last});
  for (uint32_t e = first; e <= last; ++e) {
    auto it = entries_.find(e);
    if (it != entries_.end()) {
      ++it->second.wanted;
    } else if (++cold_wanted_[e] == 1) {
      want_order_.push_back(e);
    }
  }
  ++stats_.waits;
  return Admit::kWait;
}

void ActivityLog::End(uint32_t first, uint32_t last) {
  for (uint32_t e = first; e <= last; ++e) {
    auto it = entries_.find(e);
    HAFS_CHECK(it != entries_.end() && it->second.refs > 0)
        << "AL end for extent " << e << " without a matching begin";
    --it->second.refs;
  }
}

size_t ActivityLog::wanted_cold() const { return cold_wanted_.size(); }

std::optional<uint32_t> ActivityLog::PickVictim(
    const absl::flat_hash_map<uint32_t, bool>& chosen, uint32_t keep_first,
    uint32_t keep_last) {
  for (int pass = 0; pass < 2; ++pass) {
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
      const Entry& ent = entries_.at(*it);
      if (ent.state != State::kHot || ent.refs > 0 || chosen.contains(*it)) continue;
      if (pass == 0 && ent.wanted > 0) continue;
      if (*it >= keep_first && *it <= keep_last) continue;
      return *it;
    }
  }
  return std::nullopt;
}

std::optional<ActivityLog::Transaction> ActivityLog::PrepareTransaction() {
  if (in_flight_.has_value() || pending_.empty()) return std::nullopt;
  InFlight f;
  absl::flat_hash_map<uint32_t, bool> chosen;
  // The oldest waiting write keeps the extents it already has hot: it is
  // admitted once all of them are, and is then the next to go.
  const uint32_t keep_first = pending_.front().first, keep_last = pending_.front().last;
  while (!want_order_.empty()) {
    const uint32_t e = want_order_.front();
    auto cw = cold_wanted_.find(e);
    if (cw == cold_wanted_.end() || entries_.contains(e)) {
      want_order_.pop_front();  // stale entry
      continue;
    }
    if (f.updates.size() >= kAlMaxUpdates) break;
    uint32_t slot;
    if (!free_slots_.empty()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
      f.free_slots_used.push_back(slot);
    } else {
      std::optional<uint32_t> victim = PickVictim(chosen, keep_first, keep_last);
      if (!victim.has_value()) break;  // everything referenced: wait for End
      chosen[*victim] = true;
      Entry& v = entries_.at(*victim);
      v.state = State::kEvicting;
      slot = v.slot;
      f.evicted.push_back(*victim);
    }
    want_order_.pop_front();
    Entry& ent = entries_[e];
    ent.slot = slot;
    ent.refs = 0;
    ent.wanted = cw->second;
    ent.state = State::kActivating;
    cold_wanted_.erase(cw);
    f.updates.emplace_back(slot, e);
    f.activated.push_back(e);
  }
  if (f.updates.empty()) return std::nullopt;

  const uint32_t n_slots = geometry_.extents;
  std::vector<uint32_t> table = slots_;
  for (auto [slot, e] : f.updates) table[slot] = e;
  AlTransaction tr;
  tr.tr_number = next_tr_;
  tr.device_uuid = geometry_.device_uuid;
  tr.al_extents = n_slots;
  tr.updates = f.updates;
  tr.context_start = next_context_start_;
  const uint32_t n = std::min<uint32_t>(kAlContextSlots, n_slots - next_context_start_);
  tr.context.assign(table.begin() + next_context_start_,
                    table.begin() + next_context_start_ + n);
  f.next_context_start = (next_context_start_ + n) % n_slots;

  Transaction out;
  out.tr_number = next_tr_;
  out.ring_index = static_cast<uint32_t>(next_tr_ % geometry_.ring_blocks);
  out.activated = f.activated;
  out.evicted = f.evicted;
  out.block.assign(kMetaBlockBytes, '\0');
  EncodeAlTransaction(tr, out.block.data());
  in_flight_ = std::move(f);
  return out;
}

std::vector<uint64_t> ActivityLog::CommitTransaction() {
  HAFS_CHECK(in_flight_.has_value()) << "AL commit without a prepared transaction";
  InFlight f = std::move(*in_flight_);
  in_flight_.reset();
  for (auto [slot, e] : f.updates) slots_[slot] = e;
  for (uint32_t v : f.evicted) {
    auto it = entries_.find(v);
    HAFS_CHECK(it != entries_.end() && it->second.refs == 0)
        << "evicted extent " << v << " is referenced";
    lru_.erase(it->second.lru);
    if (it->second.wanted > 0) {
      cold_wanted_[v] += it->second.wanted;
      want_order_.push_back(v);
    }
    entries_.erase(it);
  }
  for (uint32_t a : f.activated) {
    Entry& ent = entries_.at(a);
    ent.state = State::kHot;
    lru_.push_front(a);
    ent.lru = lru_.begin();
  }
  ++next_tr_;
  next_context_start_ = f.next_context_start;
  ++stats_.transactions;
  stats_.activations += f.activated.size();
  stats_.evictions += f.evicted.size();
  return AdmitPending();
}

std::vector<uint64_t> ActivityLog::AdmitPending() {
  std::vector<uint64_t> ready;
  std::deque<Pending> still;
  for (const Pending& p : pending_) {
    bool all_hot = true;
    for (uint32_t e = p.first; e <= p.last && all_hot; ++e) {
      auto it = entries_.find(e);
      all_hot = it != entries_.end() && it->second.state == State::kHot;
    }
    if (!all_hot) {
      still.push_back(p);
      continue;
    }
    for (uint32_t e = p.first; e <= p.last; ++e) {
      Entry& ent = entries_.at(e);
      ++ent.refs;
      HAFS_CHECK(ent.wanted > 0) << "extent " << e;
      --ent.wanted;
      Touch(ent, e);
    }
    ready.push_back(p.id);
  }
  pending_ = std::move(still);
  return ready;
}

std::vector<uint64_t> ActivityLog::AbortTransaction() {
  HAFS_CHECK(in_flight_.has_value()) << "AL abort without a prepared transaction";
  InFlight f = std::move(*in_flight_);
  in_flight_.reset();
  for (auto it = f.activated.rbegin(); it != f.activated.rend(); ++it) {
    Entry& ent = entries_.at(*it);
    if (ent.wanted > 0) {
      cold_wanted_[*it] += ent.wanted;
      want_order_.push_front(*it);
    }
    entries_.erase(*it);
  }
  for (uint32_t v : f.evicted) entries_.at(v).state = State::kHot;
  for (auto it = f.free_slots_used.rbegin(); it != f.free_slots_used.rend(); ++it) {
    free_slots_.push_back(*it);
  }
  return AdmitPending();
}

std::vector<uint64_t> ActivityLog::CancelWaiting() {
  HAFS_CHECK(!in_flight_.has_value()) << "cancel with a transaction in flight";
  std::vector<uint64_t> ids;
  for (const Pending& p : pending_) ids.push_back(p.id);
  pending_.clear();
  cold_wanted_.clear();
  want_order_.clear();
  for (auto& [e, ent] : entries_) ent.wanted = 0;
  return ids;
}

bool ActivityLog::IsHot(uint32_t extent) const {
  auto it = entries_.find(extent);
  return it != entries_.end() && it->second.state != State::kActivating;
}

uint32_t ActivityLog::refs(uint32_t extent) const {
  auto it = entries_.find(extent);
  return it == entries_.end() ? 0 : it->second.refs;
}

std::vector<uint32_t> ActivityLog::HotExtents() const {
  std::vector<uint32_t> out;
  for (uint32_t e : slots_) {
    if (e != kAlEmptyExtent) out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hafs::meta
