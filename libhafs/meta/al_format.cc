#include "libhafs/meta/al_format.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "libhafs/base/checksum.h"
#include "libhafs/base/logging.h"
#include "libhafs/meta/le.h"
#include "libhafs/meta/superblock.h"

namespace hafs::meta {
namespace {

constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffNUpdates = 12;
constexpr size_t kOffTr = 16;
constexpr size_t kOffUuid = 24;
constexpr size_t kOffExtents = 32;
constexpr size_t kOffCtxStart = 36;
constexpr size_t kOffCtxSize = 40;
constexpr size_t kOffUpdates = 48;
constexpr size_t kOffContext = kOffUpdates + 8 * kAlMaxUpdates;  // 560
constexpr size_t kOffChecksum = kMetaBlockBytes - 8;
static_assert(kOffContext + 4 * kAlContextSlots == kOffChecksum);

bool AllZero(absl::string_view b) {
  return std::all_of(b.begin(), b.end(), [](char c) { return c == 0; });
}

}  // namespace

void EncodeAlTransaction(const AlTransaction& tr, char* out) {
  HAFS_CHECK(tr.updates.size() <= kAlMaxUpdates) << tr.updates.size();
  HAFS_CHECK(tr.context.size() <= kAlContextSlots) << tr.context.size();
  std::memset(out, 0, kMetaBlockBytes);
  PutLe64(out + kOffMagic, kAlTrMagic);
  PutLe32(out + kOffVersion, kMetaFormatVersion);
  PutLe32(out + kOffNUpdates, static_cast<uint32_t>(tr.updates.size()));
  PutLe64(out + kOffTr, tr.tr_number);
  PutLe64(out + kOffUuid, tr.device_uuid);
  PutLe32(out + kOffExtents, tr.al_extents);
  PutLe32(out + kOffCtxStart, tr.context_start);
  PutLe32(out + kOffCtxSize, static_cast<uint32_t>(tr.context.size()));
  for (size_t i = 0; i < tr.updates.size(); ++i) {
    PutLe32(out + kOffUpdates + 8 * i, tr.updates[i].first);
    PutLe32(out + kOffUpdates + 8 * i + 4, tr.updates[i].second);
  }
  for (size_t i = 0; i < tr.context.size(); ++i) {
    PutLe32(out + kOffContext + 4 * i, tr.context[i]);
  }
  PutLe64(out + kOffChecksum, Checksum64(absl::string_view(out, kOffChecksum)));
}

absl::StatusOr<AlTransaction> DecodeAlTransaction(absl::string_view block) {
  if (block.size() != kMetaBlockBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("AL block is ", block.size(), " bytes, expected 4096"));
  }
  const char* p = block.data();
  if (GetLe64(p + kOffMagic) != kAlTrMagic) {
    return absl::NotFoundError("no AL transaction magic");
  }
  if (GetLe32(p + kOffVersion) != kMetaFormatVersion) {
    return absl::DataLossError(
        absl::StrCat("AL transaction format version ", GetLe32(p + kOffVersion)));
  }
  if (GetLe64(p + kOffChecksum) != Checksum64(absl::string_view(p, kOffChecksum))) {
    return absl::DataLossError("AL transaction checksum mismatch (torn or corrupted)");
  }
  AlTransaction tr;
  const uint32_t n = GetLe32(p + kOffNUpdates);
  const uint32_t ctx = GetLe32(p + kOffCtxSize);
  tr.tr_number = GetLe64(p + kOffTr);
  tr.device_uuid = GetLe64(p + kOffUuid);
  tr.al_extents = GetLe32(p + kOffExtents);
  tr.context_start = GetLe32(p + kOffCtxStart);
  if (n > kAlMaxUpdates || ctx > kAlContextSlots) {
    return absl::DataLossError(absl::StrCat("AL transaction ", tr.tr_number, " claims ",
                                            n, " updates and ", ctx, " context slots"));
  }
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t slot = GetLe32(p + kOffUpdates + 8 * i);
    if (slot >= tr.al_extents) {
      return absl::DataLossError(absl::StrCat("AL transaction ", tr.tr_number,
                                              " updates slot ", slot, " of ",
                                              tr.al_extents));
    }
    tr.updates.emplace_back(slot, GetLe32(p + kOffUpdates + 8 * i + 4));
  }
  if (uint64_t{tr.context_start} + ctx > tr.al_extents) {
    return absl::DataLossError(absl::StrCat("AL transaction ", tr.tr_number,
                                            " context [", tr.context_start, ", +", ctx,
                                            ") exceeds ", tr.al_extents, " slots"));
  }
  tr.context.reserve(ctx);
  for (uint32_t i = 0; i < ctx; ++i) tr.context.push_back(GetLe32(p + kOffContext + 4 * i));
  return tr;
}

std::vector<uint32_t> AlRecovery::HotExtents() const {
  std::vector<uint32_t> out;
  for (uint32_t e : slots) {
    if (e != kAlEmptyExtent) out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

AlRecovery RecoverAlRing(const std::vector<absl::string_view>& blocks,
                         uint64_t device_uuid, uint32_t al_extents,
                         uint64_t floor_tr) {
  AlRecovery r;
  r.slots.assign(al_extents, kAlEmptyExtent);
  const uint64_t ring = blocks.size();
  struct Found {
    AlTransaction tr;
    bool in_place;
  };
  std::map<uint64_t, Found> valid;
  for (uint64_t i = 0; i < ring; ++i) {
    absl::StatusOr<AlTransaction> d = DecodeAlTransaction(blocks[i]);
    if (!d.ok()) {
      if (d.status().code() == absl::StatusCode::kNotFound && AllZero(blocks[i])) continue;
      r.dropped.push_back(absl::StrCat("AL block ", i, ": ", d.status().message()));
      continue;
    }
    if (d->device_uuid != device_uuid) {
      r.dropped.push_back(absl::StrCat("AL block ", i, ": transaction ", d->tr_number,
                                       " of another metadata instance (uuid 0x",
                                       absl::Hex(d->device_uuid), "): stale"));
      continue;
    }
    if (d->al_extents != al_extents) {
      r.dropped.push_back(absl::StrCat("AL block ", i, ": transaction ", d->tr_number,
                                       " is for ", d->al_extents, " slots, not ",
                                       al_extents));
      continue;
    }
    if (d->tr_number < floor_tr) continue;  // void: before the last apply-al
    r.max_seen_tr = std::max(r.max_seen_tr, d->tr_number);
    const bool in_place = d->tr_number % ring == i;
    if (!in_place) {
      r.dropped.push_back(absl::StrCat(
          "AL block ", i, ": holds transaction ", d->tr_number, " which belongs in block ",
          d->tr_number % ring, " (misdirected write; its content is authentic and kept)"));
    }
    auto [it, inserted] = valid.try_emplace(d->tr_number, Found{*d, in_place});
    if (!inserted && !it->second.in_place && in_place) it->second = Found{*d, in_place};
  }
  r.next_tr = std::max(floor_tr, r.max_seen_tr + 1);
  if (valid.empty()) return r;  // nothing since the floor: the table is empty
  uint64_t first = valid.rbegin()->first;
  r.newest_tr = first;
  while (first > floor_tr && valid.count(first - 1)) --first;
  r.window_first_tr = first;
  std::vector<bool> covered(al_extents, first == floor_tr);
  for (uint64_t t = first; t <= r.newest_tr; ++t) {
    const AlTransaction& tr = valid.at(t).tr;
    for (const auto& [slot, extent] : tr.updates) {
      r.slots[slot] = extent;
      covered[slot] = true;
    }
    for (size_t i = 0; i < tr.context.size(); ++i) {
      r.slots[tr.context_start + i] = tr.context[i];
      covered[tr.context_start + i] = true;
    }
    ++r.applied;
    r.next_context_start = static_cast<uint32_t>(
        (tr.context_start + tr.context.size()) % std::max<uint32_t>(al_extents, 1));
  }
  const uint64_t uncovered = std::count(covered.begin(), covered.end(), false);
  if (uncovered > 0) {
    r.complete = false;
    r.dropped.push_back(absl::StrCat(
        "AL window ", first, "..", r.newest_tr, " leaves ", uncovered, " of ", al_extents,
        " slots unknown (transaction ", first - 1,
        " is missing or corrupt): the hot set cannot be trusted"));
  }
  return r;
}

}  // namespace hafs::meta
