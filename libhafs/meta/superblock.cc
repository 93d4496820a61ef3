#include "libhafs/meta/superblock.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libhafs/base/checksum.h"
#include "libhafs/meta/al_format.h"
#include "libhafs/meta/le.h"

namespace hafs::meta {
namespace {

// Byte offsets inside a superblock slot (docs/formats.md).
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffSlot = 12;
constexpr size_t kOffSequence = 16;
constexpr size_t kOffUuid = 24;
constexpr size_t kOffKind = 32;
constexpr size_t kOffExtIndex = 36;
constexpr size_t kOffMdDevBytes = 40;
constexpr size_t kOffDataBytes = 48;
constexpr size_t kOffMdOffset = 56;
constexpr size_t kOffMdBytes = 64;
constexpr size_t kOffSbOffset = 72;
constexpr size_t kOffAlOffset = 80;
constexpr size_t kOffBmOffset = 88;
constexpr size_t kOffBmBytes = 96;
constexpr size_t kOffAlRing = 104;
constexpr size_t kOffAlExtents = 108;
constexpr size_t kOffAlShift = 112;
constexpr size_t kOffBmShift = 116;
constexpr size_t kOffNodeId = 120;
constexpr size_t kOffFlags = 124;
constexpr size_t kOffGiCurrent = 128;
constexpr size_t kOffGiBitmap = 136;
constexpr size_t kOffGiHistory = 144;  // kHistoryGis x u64
constexpr size_t kOffAlFloor = 176;
constexpr size_t kOffChecksum = kMetaBlockBytes - 8;


absl::Status ValidateAl(uint32_t extents, uint32_t ring_blocks) {
  if (ring_blocks < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AL ring of ", ring_blocks,
        " blocks is too small (hint: at least 2; 8 = 32 KiB is the default)"));
  }
  if (extents < 1) {
    return absl::InvalidArgumentError("AL needs at least 1 extent");
  }
  const uint64_t max = MaxAlExtents(ring_blocks);
  if (extents > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AL of ", extents, " extents does not fit a ring of ", ring_blocks,
        " blocks (max ", max, " = ", kAlContextSlots,
        " x (ring blocks - 1); hint: a larger ring)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view MdKindName(MdKind kind) {
  switch (kind) {
    case MdKind::kInternal:
      return "internal";
    case MdKind::kExternal:
      return "external";
  }
  return "unknown";
}

std::string FlagsToString(uint32_t flags) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {kMdConsistent, "consistent"},
      {kMdWasUpToDate, "was-up-to-date"},
      {kMdCrashedPrimary, "crashed-primary"},
      {kMdAlClean, "al-clean"},
      {kMdPeerOutdated, "peer-outdated"},
      {kMdFullSync, "full-sync"},
  };
  std::vector<std::string> parts;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) parts.push_back(name);
  }
  if (flags & ~kMdAllFlags) {
    parts.push_back(absl::StrCat("0x", absl::Hex(flags & ~kMdAllFlags)));
  }
  if (parts.empty()) return "none";
  return absl::StrJoin(parts, "|");
}

absl::StatusOr<uint64_t> SuperblockOffset(MdKind kind, int32_t external_index,
                                          uint64_t md_device_bytes) {
  if (kind == MdKind::kInternal) {
    if (md_device_bytes < kSuperblockAreaBytes) {
      return absl::OutOfRangeError(absl::StrCat(
          "device of ", md_device_bytes, " bytes is too small for metadata"));
    }
    return md_device_bytes - kSuperblockAreaBytes;
  }
  if (external_index < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("external index ", external_index,
                     " is invalid (hint: -1 = whole device, or 0, 1, ...)"));
  }
  const uint64_t base =
      external_index < 0 ? 0 : uint64_t(external_index) * kExternalSlotBytes;
  if (base + kSuperblockAreaBytes > md_device_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "external metadata index ", external_index, " starts at byte ", base,
        ", past the end of the ", md_device_bytes, "-byte metadata device"));
  }
  return base;
}

absl::StatusOr<Superblock> ComputeLayout(const LayoutRequest& req) {
  if (absl::Status s = ValidateAl(req.al_extents, req.al_ring_blocks); !s.ok()) {
    return s;
  }
  if (req.md_device_bytes % kMetaBlockBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata device size ", req.md_device_bytes,
        " is not a multiple of 4096 bytes"));
  }
  Superblock sb;
  sb.kind = req.kind;
  sb.md_device_bytes = req.md_device_bytes;
  sb.al_ring_blocks = req.al_ring_blocks;
  sb.al_extents = req.al_extents;
  const uint64_t al_bytes = uint64_t{req.al_ring_blocks} * kMetaBlockBytes;
  if (req.kind == MdKind::kInternal) {
    const uint64_t d = req.md_device_bytes;
    // Size the bitmap for the whole device (an upper bound on the data).
    const uint64_t bm_bytes =
        BitmapPagesFor(d >> kBitmapBlockShift) * kMetaBlockBytes;
    const uint64_t md = kSuperblockAreaBytes + al_bytes + bm_bytes;
    if (d < md + kMinDataBytes) {
      return absl::OutOfRangeError(absl::StrCat(
          "device too small: ", d, " bytes; internal metadata needs ", md,
          " bytes plus at least ", kMinDataBytes, " bytes of data"));
    }
    sb.external_index = -1;
    sb.md_offset = d - md;
    sb.md_bytes = md;
    sb.bitmap_offset = sb.md_offset;
    sb.bitmap_bytes = bm_bytes;
    sb.al_offset = sb.bitmap_offset + bm_bytes;
    sb.sb_offset = sb.al_offset + al_bytes;
    sb.data_bytes = sb.md_offset;
    return sb;
  }
  if (req.data_bytes % kMetaBlockBytes != 0 || req.data_bytes < kMinDataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data size ", req.data_bytes,
        " must be a multiple of 4096 bytes and at least ", kMinDataBytes));
  }
  auto base = SuperblockOffset(req.kind, req.external_index, req.md_device_bytes);
  if (!base.ok()) return base.status();
  const uint64_t bm_bytes =
      BitmapPagesFor(req.data_bytes >> kBitmapBlockShift) * kMetaBlockBytes;
  const uint64_t md = kSuperblockAreaBytes + al_bytes + bm_bytes;
  const uint64_t room = req.external_index < 0
                            ? req.md_device_bytes - *base
                            : std::min(kExternalSlotBytes, req.md_device_bytes - *base);
  if (md > room) {
    return absl::OutOfRangeError(absl::StrCat(
        "device too small: external metadata for ", req.data_bytes,
        " bytes of data needs ", md, " bytes, only ", room,
        " available at index ", req.external_index,
        req.external_index >= 0 ? " (indexed slots are 128 MiB: max ~3.9 TiB "
                                  "of data; hint: index -1 for a whole device)"
                                : ""));
  }
  sb.external_index = req.external_index;
  sb.md_offset = *base;
  sb.md_bytes = md;
  sb.sb_offset = *base;
  sb.al_offset = *base + kSuperblockAreaBytes;
  sb.bitmap_offset = sb.al_offset + al_bytes;
  sb.bitmap_bytes = bm_bytes;
  sb.data_bytes = req.data_bytes;
  return sb;
}

absl::Status ValidateLayout(const Superblock& sb) {
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("superblock layout is inconsistent: ", what));
  };
  if (sb.kind != MdKind::kInternal && sb.kind != MdKind::kExternal) {
    return bad(absl::StrCat("unknown kind ", static_cast<uint32_t>(sb.kind)));
  }
  if (sb.al_extent_shift != kAlExtentShift || sb.bm_block_shift != kBitmapBlockShift) {
    return bad(absl::StrCat("extent shift ", sb.al_extent_shift, " / bitmap shift ",
                            sb.bm_block_shift, " (this build supports 22 / 12)"));
  }
  if (absl::Status s = ValidateAl(sb.al_extents, sb.al_ring_blocks); !s.ok()) {
    return bad(s.message());
  }
  for (uint64_t v : {sb.md_device_bytes, sb.data_bytes, sb.md_offset, sb.md_bytes,
                     sb.sb_offset, sb.al_offset, sb.bitmap_offset, sb.bitmap_bytes}) {
    if (v % kMetaBlockBytes != 0) return bad("unaligned offset or size");
  }
  const uint64_t end = sb.md_offset + sb.md_bytes;
  if (sb.md_bytes > sb.md_device_bytes || sb.md_offset > sb.md_device_bytes - sb.md_bytes) {
    return bad("metadata area past the device end");
  }
  auto inside = [&](uint64_t off, uint64_t len) {
    return off >= sb.md_offset && len <= end - off && off <= end;
  };
  if (!inside(sb.sb_offset, kSuperblockAreaBytes) ||
      !inside(sb.al_offset, uint64_t{sb.al_ring_blocks} * kMetaBlockBytes) ||
      !inside(sb.bitmap_offset, sb.bitmap_bytes)) {
    return bad("a region lies outside the metadata area");
  }
  if (sb.bitmap_bytes < BitmapPagesFor(sb.data_blocks()) * kMetaBlockBytes) {
    return bad("bitmap too small for the data size");
  }
  if (sb.kind == MdKind::kInternal && sb.data_bytes > sb.md_offset) {
    return bad("data overlaps internal metadata");
  }
  return absl::OkStatus();
}

void EncodeSuperblock(const Superblock& sb, int slot, char* out) {
  std::memset(out, 0, kMetaBlockBytes);
  PutLe64(out + kOffMagic, kSuperblockMagic);
  PutLe32(out + kOffVersion, sb.format_version);
  PutLe32(out + kOffSlot, static_cast<uint32_t>(slot));
  PutLe64(out + kOffSequence, sb.sequence);
  PutLe64(out + kOffUuid, sb.device_uuid);
  PutLe32(out + kOffKind, static_cast<uint32_t>(sb.kind));
  PutLe32(out + kOffExtIndex, static_cast<uint32_t>(sb.external_index));
  PutLe64(out + kOffMdDevBytes, sb.md_device_bytes);
  PutLe64(out + kOffDataBytes, sb.data_bytes);
  PutLe64(out + kOffMdOffset, sb.md_offset);
  PutLe64(out + kOffMdBytes, sb.md_bytes);
  PutLe64(out + kOffSbOffset, sb.sb_offset);
  PutLe64(out + kOffAlOffset, sb.al_offset);
  PutLe64(out + kOffBmOffset, sb.bitmap_offset);
  PutLe64(out + kOffBmBytes, sb.bitmap_bytes);
  PutLe32(out + kOffAlRing, sb.al_ring_blocks);
  PutLe32(out + kOffAlExtents, sb.al_extents);
  PutLe32(out + kOffAlShift, sb.al_extent_shift);
  PutLe32(out + kOffBmShift, sb.bm_block_shift);
  PutLe32(out + kOffNodeId, sb.node_id);
  PutLe32(out + kOffFlags, sb.flags);
  PutLe64(out + kOffGiCurrent, sb.gi.current);
  PutLe64(out + kOffGiBitmap, sb.gi.bitmap);
  for (int i = 0; i < kHistoryGis; ++i) {
    PutLe64(out + kOffGiHistory + 8 * i, sb.gi.history[i]);
  }
  PutLe64(out + kOffAlFloor, sb.al_floor_tr);
  PutLe64(out + kOffChecksum,
          Checksum64(absl::string_view(out, kOffChecksum)));
}

absl::StatusOr<Superblock> DecodeSuperblock(absl::string_view block, int slot,
                                            uint64_t expected_offset) {
  if (block.size() != kMetaBlockBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("superblock slot is ", block.size(), " bytes, expected 4096"));
  }
  const char* p = block.data();
  const uint64_t at = expected_offset + slot * kMetaBlockBytes;
  if (GetLe64(p + kOffMagic) != kSuperblockMagic) {
    return absl::NotFoundError(
        absl::StrCat("no hafs metadata magic in superblock slot ", slot, " at byte ", at));
  }
  const uint32_t version = GetLe32(p + kOffVersion);
  if (version != kMetaFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "superblock slot ", slot, " at byte ", at, " has metadata format version ",
        version, "; this build reads version ", kMetaFormatVersion,
        " (hint: use a matching hafsctl, or wipe-md and create-md)"));
  }
  const uint64_t want = GetLe64(p + kOffChecksum);
  const uint64_t got = Checksum64(absl::string_view(p, kOffChecksum));
  if (want != got) {
    return absl::DataLossError(absl::StrCat(
        "superblock slot ", slot, " at byte ", at, ": checksum mismatch (stored 0x",
        absl::Hex(want), ", computed 0x", absl::Hex(got), "): torn or corrupted"));
  }
  Superblock sb;
  sb.format_version = version;
  const uint32_t stored_slot = GetLe32(p + kOffSlot);
  sb.sequence = GetLe64(p + kOffSequence);
  sb.device_uuid = GetLe64(p + kOffUuid);
  sb.kind = static_cast<MdKind>(GetLe32(p + kOffKind));
  sb.external_index = static_cast<int32_t>(GetLe32(p + kOffExtIndex));
  sb.md_device_bytes = GetLe64(p + kOffMdDevBytes);
  sb.data_bytes = GetLe64(p + kOffDataBytes);
  sb.md_offset = GetLe64(p + kOffMdOffset);
  sb.md_bytes = GetLe64(p + kOffMdBytes);
  sb.sb_offset = GetLe64(p + kOffSbOffset);
  sb.al_offset = GetLe64(p + kOffAlOffset);
  sb.bitmap_offset = GetLe64(p + kOffBmOffset);
  sb.bitmap_bytes = GetLe64(p + kOffBmBytes);
  sb.al_ring_blocks = GetLe32(p + kOffAlRing);
  sb.al_extents = GetLe32(p + kOffAlExtents);
  sb.al_extent_shift = GetLe32(p + kOffAlShift);
  sb.bm_block_shift = GetLe32(p + kOffBmShift);
  sb.node_id = GetLe32(p + kOffNodeId);
  sb.flags = GetLe32(p + kOffFlags);
  sb.gi.current = GetLe64(p + kOffGiCurrent);
  sb.gi.bitmap = GetLe64(p + kOffGiBitmap);
  for (int i = 0; i < kHistoryGis; ++i) {
    sb.gi.history[i] = GetLe64(p + kOffGiHistory + 8 * i);
  }
  sb.al_floor_tr = GetLe64(p + kOffAlFloor);
  if (stored_slot != static_cast<uint32_t>(slot) || sb.sb_offset != expected_offset ||
      sb.sequence % kSuperblockSlots != static_cast<uint64_t>(slot)) {
    return absl::DataLossError(absl::StrCat(
        "superblock slot ", slot, " at byte ", at, " holds the block of slot ",
        stored_slot, " at byte ", sb.slot_offset(static_cast<int>(stored_slot) & 1),
        " (sequence ", sb.sequence, "): misdirected write"));
  }
  if (absl::Status s = ValidateLayout(sb); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat("superblock slot ", slot, " at byte ", at, ": ", s.message()));
  }
  return sb;
}

absl::StatusOr<PickedSuperblock> PickSuperblock(absl::string_view slot0,
                                                absl::string_view slot1,
                                                uint64_t sb_offset) {
  PickedSuperblock out;
  absl::StatusOr<Superblock> s[2] = {DecodeSuperblock(slot0, 0, sb_offset),
                                     DecodeSuperblock(slot1, 1, sb_offset)};
  bool any_version = false, any_magic = false;
  for (int i = 0; i < 2; ++i) {
    if (s[i].ok()) continue;
    out.dropped.push_back(std::string(s[i].status().message()));
    if (s[i].status().code() == absl::StatusCode::kFailedPrecondition) any_version = true;
    if (s[i].status().code() != absl::StatusCode::kNotFound) any_magic = true;
  }
  if (any_version) {
    // Never fall back to an older-format copy when a newer one exists.
    return absl::FailedPreconditionError(absl::StrJoin(out.dropped, "; "));
  }
  int best = -1;
  for (int i = 0; i < 2; ++i) {
    if (s[i].ok() && (best < 0 || s[i]->sequence > s[best]->sequence)) best = i;
  }
  if (best < 0) {
    if (any_magic) {
      return absl::DataLossError(absl::StrCat(
          "both superblock copies are unusable: ", absl::StrJoin(out.dropped, "; ")));
    }
    return absl::NotFoundError(absl::StrCat(
        "no hafs metadata at byte ", sb_offset,
        " (hint: create-md first, or check --internal/--external and --index)"));
  }
  if (s[0].ok() && s[1].ok() && s[0]->device_uuid != s[1]->device_uuid) {
    out.dropped.push_back(absl::StrCat(
        "superblock slot ", 1 - best, " belongs to another metadata instance (uuid 0x",
        absl::Hex(s[1 - best]->device_uuid), "), ignored"));
  }
  out.sb = *s[best];
  out.slot = best;
  return out;
}

}  // namespace hafs::meta
