// File: libhafs/meta/al_format.h
// -----------------------------------------------------------------------------
// The activity-log ring on disk: R checksummed 4 KiB transactions (like DRBD's
// al_transaction_on_disk). Transaction t lives in ring block t % R and holds
// up to kAlMaxUpdates slot->extent updates plus a rolling slice of the whole
// slot table (kAlContextSlots slots), so any R-1 consecutive transactions
// describe every slot. Byte format: docs/formats.md.
//
// Recovery (RecoverAlRing) is a pure function of the ring blocks: it takes
// every authentic transaction (magic, version, checksum, metadata uuid, slot
// count, number >= the superblock's floor), finds the newest, walks back over
// consecutive numbers and replays that window oldest first. The hot set is
// "complete" if the window reaches the floor (the table was empty before it)
// or covers every slot; otherwise the caller must assume every extent may be
// hot. Everything rejected is reported.
//
// Thread-safety: plain values and pure functions.
#ifndef HAFS_LIBHAFS_META_AL_FORMAT_H_
#define HAFS_LIBHAFS_META_AL_FORMAT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::meta {

// "HAFSALTR" little-endian.
inline constexpr uint64_t kAlTrMagic = 0x52544c4153464148ULL;
inline constexpr uint32_t kAlMaxUpdates = 64;
inline constexpr uint32_t kAlContextSlots = 882;
inline constexpr uint32_t kAlEmptyExtent = 0xffffffffu;

// Largest hot set a ring of `ring_blocks` transactions can describe.
inline uint64_t MaxAlExtents(uint32_t ring_blocks) {
  return ring_blocks < 2 ? 0 : uint64_t{kAlContextSlots} * (ring_blocks - 1);
}

struct AlTransaction {
  uint64_t tr_number = 0;
  uint64_t device_uuid = 0;
  uint32_t al_extents = 0;
  std::vector<std::pair<uint32_t, uint32_t>> updates;  // (slot, extent)
  uint32_t context_start = 0;
  std::vector<uint32_t> context;  // extents of slots context_start, ...
};

// REQUIRES: updates.size() <= kAlMaxUpdates, context.size() <= kAlContextSlots,
// out has 4096 bytes.
void EncodeAlTransaction(const AlTransaction& tr, char* out);

// Decodes one ring block. kNotFound: blank (no magic); kDataLoss: checksum,
// version or field errors. Identity checks (uuid, position) are the caller's.
absl::StatusOr<AlTransaction> DecodeAlTransaction(absl::string_view block);

struct AlRecovery {
  std::vector<uint32_t> slots;   // al_extents entries, kAlEmptyExtent = free
  bool complete = true;          // every slot's content is known
  uint64_t newest_tr = 0;        // 0: no transaction since the floor
  uint64_t window_first_tr = 0;  // oldest transaction replayed
  uint64_t max_seen_tr = 0;      // highest authentic number anywhere
  uint64_t applied = 0;          // transactions replayed
  uint64_t next_tr = 0;          // number for the next transaction
  uint32_t next_context_start = 0;
  std::vector<std::string> dropped;  // one line per rejected block
  std::vector<uint32_t> HotExtents() const;
};

// `blocks[i]` is ring block i (4096 bytes each).
AlRecovery RecoverAlRing(const std::vector<absl::string_view>& blocks,
                         uint64_t device_uuid, uint32_t al_extents,
                         uint64_t floor_tr);

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_AL_FORMAT_H_
