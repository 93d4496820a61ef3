// File: libhafs/meta/superblock.h
// -----------------------------------------------------------------------------
// The metadata superblock: identity, layout, flags and generation identifiers
// of one replicated volume, and the layout computation for internal and
// external metadata. Byte format: docs/formats.md, "On-disk metadata".
//
// Layouts (all offsets bytes, 4 KiB aligned)
//   internal (metadata at the end of the backing device):
//     [data][bitmap][AL ring][superblock slot 0][superblock slot 1]
//   external (separate device or file; index >= 0 selects a fixed 128 MiB
//   slot at index * 128 MiB, index -1 uses the whole device):
//     [superblock slot 0][superblock slot 1][AL ring][bitmap]
//
// Torn-write safety: the superblock is written alternately to two 4 KiB slots
// with an increasing sequence number (write N goes to slot N % 2), each slot
// checksummed and self-identifying (slot number and offset inside the
// checksum, so misdirected writes are detected). Readers take the valid slot
// with the highest sequence; a torn write can only destroy the copy being
// written, never the last good one.
//
// Thread-safety: plain values and pure functions.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(Superblock sb, ComputeLayout(req));
//   EncodeSuperblock(sb, sb.sequence % 2, block.data());
#ifndef HAFS_LIBHAFS_META_SUPERBLOCK_H_
#define HAFS_LIBHAFS_META_SUPERBLOCK_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hafs::meta {

inline constexpr uint32_t kMetaFormatVersion = 1;
inline constexpr uint64_t kMetaBlockBytes = 4096;
// "HAFSMETA" read as a little-endian u64.
inline constexpr uint64_t kSuperblockMagic = 0x4154454d53464148ULL;
inline constexpr int kSuperblockSlots = 2;
inline constexpr uint64_t kSuperblockAreaBytes = kSuperblockSlots * kMetaBlockBytes;
inline constexpr uint32_t kBitmapBlockShift = 12;  // 4 KiB of data per bit
inline constexpr uint64_t kBitmapBlockBytes = uint64_t{1} << kBitmapBlockShift;
inline constexpr uint32_t kAlExtentShift = 22;  // 4 MiB extents
inline constexpr uint64_t kAlExtentBytes = uint64_t{1} << kAlExtentShift;
inline constexpr uint64_t kExternalSlotBytes = uint64_t{128} << 20;
inline constexpr int kHistoryGis = 4;
inline constexpr uint64_t kMinDataBytes = uint64_t{1} << 20;

enum class MdKind : uint32_t { kInternal = 1, kExternal = 2 };
absl::string_view MdKindName(MdKind kind);

// Superblock flags (bit values are part of the on-disk format).
enum MdFlag : uint32_t {
  kMdConsistent = 1u << 0,      // data is consistent (not mid-resync target)
  kMdWasUpToDate = 1u << 1,     // was UpToDate when last attached
  kMdCrashedPrimary = 1u << 2,  // set while Primary, cleared at demotion
  kMdAlClean = 1u << 3,         // clean shutdown: AL ring content is void
  kMdPeerOutdated = 1u << 4,    // the peer is known Outdated
  kMdFullSync = 1u << 5,        // a full sync is required
  kMdAllFlags = (1u << 6) - 1,
};
// "consistent|al-clean" style names; unknown bits as hex.
std::string FlagsToString(uint32_t flags);

// Generation identifiers (DRBD 8.4 style: current, bitmap, history).
// Bit 0 of a GI is the primary marker and is ignored in comparisons.
struct GenerationIds {
  static constexpr uint64_t kPrimaryMarker = 1;
  static constexpr uint64_t kJustCreated = 4;
  uint64_t current = kJustCreated;
  uint64_t bitmap = 0;
  std::array<uint64_t, kHistoryGis> history{};  // [0] is the newest

  // The GI without the primary marker.
  static uint64_t Strip(uint64_t gi) { return gi & ~kPrimaryMarker; }
  friend bool operator==(const GenerationIds&, const GenerationIds&) = default;
};

struct Superblock {
  uint32_t format_version = kMetaFormatVersion;
  uint64_t sequence = 0;          // write N goes to slot N % 2
  uint64_t device_uuid = 0;       // random at create-md; never 0
  MdKind kind = MdKind::kInternal;
  int32_t external_index = -1;    // external only; -1 = whole device
  uint64_t md_device_bytes = 0;   // size of the device holding the metadata
  uint64_t data_bytes = 0;        // usable data size (multiple of 4 KiB)
  uint64_t md_offset = 0;         // start of the metadata area
  uint64_t md_bytes = 0;          // size of the metadata area
  uint64_t sb_offset = 0;         // superblock slot 0 (slot 1 follows)
  uint64_t al_offset = 0;
  uint64_t bitmap_offset = 0;
  uint64_t bitmap_bytes = 0;
  uint32_t al_ring_blocks = 0;    // 4 KiB transactions in the ring
  uint32_t al_extents = 0;        // E: hot-set size
  uint32_t al_extent_shift = kAlExtentShift;
  uint32_t bm_block_shift = kBitmapBlockShift;
  uint32_t node_id = 0;
  uint32_t flags = 0;
  GenerationIds gi;
  // AL transactions numbered below this are void (the hot set was empty
  // just before it). Set at create-md, apply-al and clean shutdown.
  uint64_t al_floor_tr = 1;

  uint64_t data_blocks() const { return data_bytes >> bm_block_shift; }
  uint64_t data_extents() const {
    return (data_bytes + (uint64_t{1} << al_extent_shift) - 1) >> al_extent_shift;
  }
  bool has_flag(uint32_t f) const { return (flags & f) == f; }
  uint64_t slot_offset(int slot) const { return sb_offset + slot * kMetaBlockBytes; }
  friend bool operator==(const Superblock&, const Superblock&) = default;
};

// What to lay out.
struct LayoutRequest {
  MdKind kind = MdKind::kInternal;
  uint64_t md_device_bytes = 0;  // the device holding the metadata
  // External only: the data device's size (usable data) and the slot index.
  uint64_t data_bytes = 0;
  int32_t external_index = -1;
  uint32_t al_extents = 1237;
  uint32_t al_ring_blocks = 8;   // 32 KiB ring
};

// Bitmap geometry: each 4 KiB bitmap page holds 508 64-bit words of bits and
// a 32-byte trailer (docs/formats.md).
inline constexpr uint64_t kBitmapWordsPerPage = 508;
inline constexpr uint64_t kBitmapBitsPerPage = kBitmapWordsPerPage * 64;
inline uint64_t BitmapPagesFor(uint64_t bits) {
  return (bits + kBitmapBitsPerPage - 1) / kBitmapBitsPerPage;
}

// Fills every layout field of a Superblock (identity, flags and GIs left at
// defaults). Errors: kInvalidArgument (bad AL geometry, unaligned sizes, bad
// index), kOutOfRange ("device too small": the metadata does not fit or less
// than 1 MiB of data would remain).
absl::StatusOr<Superblock> ComputeLayout(const LayoutRequest& req);

// Where the superblock slots of a given layout live, without reading them:
// internal: the last 8 KiB of the device; external: at the slot base.
absl::StatusOr<uint64_t> SuperblockOffset(MdKind kind, int32_t external_index,
                                          uint64_t md_device_bytes);

// Checks the internal consistency of a decoded superblock's layout.
absl::Status ValidateLayout(const Superblock& sb);

// Encodes `sb` into one 4 KiB block for slot `slot` (0 or 1).
// REQUIRES: out has kMetaBlockBytes bytes.
void EncodeSuperblock(const Superblock& sb, int slot, char* out);

// Decodes one slot read from `expected_offset`. Errors: kNotFound (no magic:
// no metadata here), kFailedPrecondition (other format version), kDataLoss
// (checksum mismatch, misdirected write, inconsistent layout).
absl::StatusOr<Superblock> DecodeSuperblock(absl::string_view block, int slot,
                                            uint64_t expected_offset);

// Picks the newest valid of the two slots. `dropped` (optional) receives one
// line per rejected slot. Errors when neither is valid: kFailedPrecondition if
// any slot has another format version, else kDataLoss if any slot had the
// magic, else kNotFound.
struct PickedSuperblock {
  Superblock sb;
  int slot = 0;
  std::vector<std::string> dropped;
};
absl::StatusOr<PickedSuperblock> PickSuperblock(absl::string_view slot0,
                                                absl::string_view slot1,
                                                uint64_t sb_offset);

}  // namespace hafs::meta

#endif  // HAFS_LIBHAFS_META_SUPERBLOCK_H_
