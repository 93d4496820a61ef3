#include "libhafs/splitbrain/generations.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libhafs/base/logging.h"

namespace hafs::splitbrain {
namespace {

bool IsRealUuid(uint64_t uuid) {
  const uint64_t m = MaskedUuid(uuid);
  return m != 0 && m != kUuidJustCreated;
}

uint64_t WithRole(uint64_t uuid, Role role) {
  return role == Role::kPrimary ? (uuid | kUuidPrimaryBit)
                                : MaskedUuid(uuid);
}

void PushHistory(GenerationIds& gi, uint64_t uuid) {
  for (int i = kHistorySize - 1; i > 0; --i) gi.history[i] = gi.history[i - 1];
  gi.history[0] = uuid;
}

bool Contains(const GenerationIds& gi, uint64_t uuid) {
  const uint64_t m = MaskedUuid(uuid);
  return MaskedUuid(gi.current) == m || MaskedUuid(gi.bitmap) == m ||
         gi.InHistory(uuid);
}

}  // namespace

uint64_t FreshUuid(const GenerationIds& gi, Random& rng) {
  for (;;) {
    const uint64_t v = MaskedUuid(rng.Next64());
    if (v == 0 || v == kUuidJustCreated || Contains(gi, v)) continue;
    // Also avoid values that rules 51/71 would read as a derived sync UUID.
    if (Contains(gi, v - kUuidNewBitmapOffset)) continue;
    return v;
  }
}

GenerationIds NewCurrentUuid(const GenerationIds& gi, Role role, Random& rng) {
  GenerationIds out = gi;
  const uint64_t fresh = FreshUuid(gi, rng);
  if (IsRealUuid(gi.current)) {
    if (gi.bitmap == 0) {
      out.bitmap = gi.current;  // keeps the role bit: "was Primary at split"
    } else {
      PushHistory(out, gi.current);
    }
  }
  out.current = WithRole(fresh, role);
  return out;
}

GenerationIds Promote(const GenerationIds& gi, bool peer_connected, bool force,
                      Random& rng) {
  GenerationIds out = gi;
  if ((!peer_connected && gi.bitmap == 0) || force) {
    out = NewCurrentUuid(gi, Role::kSecondary, rng);
  }
  out.current = WithRole(out.current, Role::kPrimary);
  return out;
}

GenerationIds Demote(const GenerationIds& gi) {
  GenerationIds out = gi;
  out.current = WithRole(gi.current, Role::kSecondary);
  return out;
}

GenerationIds LosePeer(const GenerationIds& gi, Role role, Random& rng) {
  if (role != Role::kPrimary || gi.bitmap != 0) return gi;
  return NewCurrentUuid(gi, role, rng);
}

SyncStart StartResyncAsSource(const GenerationIds& gi, Random& rng) {
  SyncStart s;
  s.gi = gi;
  uint64_t uuid;
  if (IsRealUuid(gi.bitmap)) {
    uuid = gi.bitmap + kUuidNewBitmapOffset;
  } else {
    uuid = FreshUuid(gi, rng);
  }
  if (gi.bitmap != 0) PushHistory(s.gi, gi.bitmap);
  s.gi.bitmap = uuid;
  s.sync_uuid = uuid;
  return s;
}

GenerationIds ReceiveSyncUuid(const GenerationIds& gi, uint64_t sync_uuid,
                              Role role) {
  GenerationIds out = gi;
  out.current = WithRole(sync_uuid, role);
  out.bitmap = 0;
  return out;
}

GenerationIds FinishResyncAsSource(const GenerationIds& gi) {
  if (gi.bitmap == 0) return gi;
  GenerationIds out = gi;
  PushHistory(out, gi.bitmap);
  out.bitmap = 0;
  return out;
}

GenerationIds FinishResyncAsTarget(const GenerationIds& source, Role role) {
  GenerationIds out = FinishResyncAsSource(source);
  out.current = WithRole(source.current, role);
  return out;
}

absl::StatusOr<GenerationIds> StartInitialSync(const GenerationIds& gi,
                                               Random& rng) {
  if (!gi.is_just_created()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "initial sync: generation ids ", gi.DebugString(),
        " are not just-created; this node already holds a data generation "
        "(use `hafsctl primary --force` only for disaster recovery)"));
  }
  GenerationIds out;
  out.current = WithRole(FreshUuid(gi, rng), Role::kPrimary);
  return out;
}

GenerationIds NewCurrentUuidClearBitmap(const GenerationIds& gi, Role role,
                                        Random& rng) {
  GenerationIds out = gi;
  const uint64_t fresh = FreshUuid(gi, rng);
  if (IsRealUuid(gi.current)) PushHistory(out, gi.current);
  out.current = WithRole(fresh, role);
  out.bitmap = 0;
  return out;
}

absl::StatusOr<GenerationIds> AcceptSkipInitialSync(const GenerationIds& gi,
                                                    uint64_t sender_current,
                                                    Role role) {
  if (!gi.is_just_created()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "skip initial sync: this node's generation ids ", gi.DebugString(),
        " are not just-created; only fresh metadata may adopt the peer's "
        "generation without a resync"));
  }
  if (!IsRealUuid(sender_current)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "skip initial sync: the peer's current UUID %016X is not a data "
        "generation",
        sender_current));
  }
  GenerationIds out = gi;
  out.current = WithRole(sender_current, role);
  out.bitmap = 0;
  return out;
}

absl::Status CheckAdvance(const GenerationIds& before,
                          const GenerationIds& after) {
  const uint64_t bc = MaskedUuid(before.current);
  const uint64_t ac = MaskedUuid(after.current);
  if (ac != bc) {
    if (ac != 0 && (MaskedUuid(before.bitmap) == ac || before.InHistory(ac))) {
      return absl::InternalError(absl::StrFormat(
          "generation ids went back: current %016X was already an older "
          "generation in %s (now %s)",
          ac, before.DebugString(), after.DebugString()));
    }
    if (IsRealUuid(before.current) && MaskedUuid(after.bitmap) != bc &&
        !after.InHistory(bc)) {
      return absl::InternalError(absl::StrFormat(
          "generation ids forgot a generation: old current %016X is neither "
          "the bitmap UUID nor in the history of %s (was %s)",
          bc, after.DebugString(), before.DebugString()));
    }
  }
  for (int k = 0; k <= kHistorySize; ++k) {
    bool ok = true;
    for (int i = k; i < kHistorySize && ok; ++i) {
      ok = MaskedUuid(after.history[i]) == MaskedUuid(before.history[i - k]);
    }
    for (int i = 0; i < k && ok; ++i) {
      const uint64_t h = MaskedUuid(after.history[i]);
      ok = h != 0 && (h == bc || h == MaskedUuid(before.bitmap));
    }
    if (ok) return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(
      "history is not a strict shift: ", before.DebugString(), " -> ",
      after.DebugString(),
      " (new history entries must come from the old current or bitmap UUID, "
      "older entries must keep their order)"));
}

}  // namespace hafs::splitbrain
