// File: libhafs/splitbrain/generation_ids.h
// -----------------------------------------------------------------------------
// Generation identifiers (DRBD 8.4 "UUIDs"): the small value type shared by the
// split-brain resolver, the block mirror and the on-disk metadata (libhafs/meta).
//
// A node's data generation is described by four 64-bit values:
//   current   - the generation the local data belongs to now;
//   bitmap    - the generation at which the quick-sync bitmap started recording
//               changes that the peer does not have (0 = not recording);
//   history   - older generations, newest first (history[0] is the newest).
// Representation rules (identical to DRBD 8.4 and to what libhafs/meta stores):
//   * bit 0 of a stored value marks "this node was Primary when the value was
//     current"; every comparison masks it off (`MaskedUuid`);
//   * 0 means "unset"; kUuidJustCreated (4) is the current UUID of freshly
//     created metadata that has never held data.
// The peer flag word that travels with the UUIDs in the handshake uses the
// kUuidFlag* bits (also DRBD 8.4's values).
//
// Thread-safety: plain values; no shared state.
//
// Example:
//   GenerationIds gi{.current = 0x5A3C...01, .bitmap = 0, .history = {}};
//   if (MaskedUuid(gi.current) == MaskedUuid(peer.current)) { ... }
//   std::cout << gi.DebugString();  // "5A3C...01:0000...:0000...:..."
#ifndef HAFS_LIBHAFS_SPLITBRAIN_GENERATION_IDS_H_
#define HAFS_LIBHAFS_SPLITBRAIN_GENERATION_IDS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::splitbrain {

// Number of history UUIDs. DRBD 8.4 keeps 2 (UI_HISTORY_START..END), DRBD 9
// keeps 32; hafs keeps 4, the count libhafs/meta stores (kHistoryGis), so the
// superblock and the handshake carry the same values. Rules 34/35 look at
// history[0] and history[1] exactly as DRBD 8.4 does; rules 60, 80 and 100
// scan every entry. All code is written against this constant.
inline constexpr int kHistorySize = 4;

// Bit 0 of a UUID: set while the owner is Primary. Masked in comparisons.
inline constexpr uint64_t kUuidPrimaryBit = 1;
// Current UUID of just-created metadata (`create-md`), DRBD's UUID_JUST_CREATED.
inline constexpr uint64_t kUuidJustCreated = 4;
// Added to the old bitmap UUID to form the sync UUID when a resync starts
// (DRBD's UUID_NEW_BM_OFFSET); rules 51 and 71 recognize it.
inline constexpr uint64_t kUuidNewBitmapOffset = 0x0001000000000000ULL;

// Flag bits exchanged with the UUIDs during the handshake (DRBD UI_FLAGS).
inline constexpr uint64_t kUuidFlagDiscardMyData = 1;    // connect --discard-my-data
inline constexpr uint64_t kUuidFlagCrashedPrimary = 2;   // was Primary at crash
inline constexpr uint64_t kUuidFlagInconsistent = 4;     // disk is Inconsistent
inline constexpr uint64_t kUuidFlagSkipInitialSync = 8;  // new-current-uuid --clear-bitmap

// The UUID with the role bit cleared; the value comparisons use.
inline constexpr uint64_t MaskedUuid(uint64_t uuid) { return uuid & ~kUuidPrimaryBit; }

struct GenerationIds {
  uint64_t current = 0;
  uint64_t bitmap = 0;
  std::array<uint64_t, kHistorySize> history{};  // newest first

  // Metadata as written by `create-md`: current = kUuidJustCreated, rest 0.
  static GenerationIds JustCreated() {
    GenerationIds gi;
    gi.current = kUuidJustCreated;
    return gi;
  }

  bool is_just_created() const { return MaskedUuid(current) == kUuidJustCreated; }

  // True iff MaskedUuid(uuid) is one of the history entries (masked).
  bool InHistory(uint64_t uuid) const;

  // "CCCCCCCCCCCCCCCC:BBBBBBBBBBBBBBBB:H0...:H1...:H2...:H3...", the format
  // of DRBD's `show-gi` / kernel log (unmasked, upper-case hex, all
  // kHistorySize history entries).
  std::string DebugString() const;

  // Parses DebugString()'s format: 1-16 hex digits per field, current and
  // bitmap, then 0 to kHistorySize history entries (missing ones are 0).
  // InvalidArgument naming the offending field otherwise.
  static absl::StatusOr<GenerationIds> Parse(absl::string_view text);

  friend bool operator==(const GenerationIds&, const GenerationIds&) = default;
};

// Compares with the role bit masked on every field: same generation state.
bool SameGenerations(const GenerationIds& a, const GenerationIds& b);

}  // namespace hafs::splitbrain

#endif  // HAFS_LIBHAFS_SPLITBRAIN_GENERATION_IDS_H_
