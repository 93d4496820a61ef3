// File: libhafs/splitbrain/generations.h
// -----------------------------------------------------------------------------
// Generation-identifier lifecycle: the pure transitions a node applies to its
// own GenerationIds (DRBD 8.4's drbd_uuid_new_current, drbd_uuid_set_bm,
// drbd_gen_and_send_sync_uuid, receive_sync_uuid, drbd_resync_finished and
// new-current-uuid --clear-bitmap). Fresh UUIDs come from a caller-supplied
// seeded `hafs::Random` so simulations replay exactly; the runtime seeds one
// from the OS.
//
// Invariant ("generation ids only advance", checked by CheckAdvance): on a
// node's own timeline the history only ever shifts (new entries in front, the
// oldest falls off) and the current UUID never returns to a value the node
// already had in its bitmap or history. Two documented exceptions: a sync
// target adopts its source's generation ids (its own data is being
// overwritten), and the fix-ups of handshake rules 51/71 undo a resync start
// that the peer never saw.
//
// Thread-safety: pure functions.
//
// Example:
//   Random rng(seed);
//   gi = LosePeer(gi, Role::kPrimary, rng);        // writes now go to a new
//                                                   // generation; bitmap UUID
//                                                   // = the old current
//   SyncStart s = StartResyncAsSource(gi, rng);    // send s.sync_uuid
//   gi = FinishResyncAsSource(s.gi);
#ifndef HAFS_LIBHAFS_SPLITBRAIN_GENERATIONS_H_
#define HAFS_LIBHAFS_SPLITBRAIN_GENERATIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libhafs/base/random.h"
#include "libhafs/splitbrain/generation_ids.h"
#include "libhafs/splitbrain/handshake.h"

namespace hafs::splitbrain {

// A fresh UUID for `gi`: random, role bit clear, never 0, never
// kUuidJustCreated and different (masked) from every UUID already in `gi`.
uint64_t FreshUuid(const GenerationIds& gi, Random& rng);

// Starts a new data generation unconditionally. The old current UUID is
// remembered: it becomes the bitmap UUID if none is set (the bitmap then
// records every change the peer misses), otherwise it is shifted into the
// history (the bitmap already covers it, so a later resync stays
// bitmap-based). A just-created or unset current is not remembered. The new
// current carries the role bit of `role`.
// (DRBD 8.4 overwrites a set bitmap UUID here; hafs keeps it, see
// docs/splitbrain.md.)
GenerationIds NewCurrentUuid(const GenerationIds& gi, Role role, Random& rng);

// Promotion to Primary. With the peer's disk unreachable (`peer_connected`
// false) and no bitmap UUID set, or with `force`, a new generation starts
// (NewCurrentUuid); then the role bit is set on the current UUID.
GenerationIds Promote(const GenerationIds& gi, bool peer_connected, bool force,
                      Random& rng);

// Demotion to Secondary: clears the role bit of the current UUID.
GenerationIds Demote(const GenerationIds& gi);

// The connection to an UpToDate peer is lost. A Primary with no bitmap UUID
// starts a new generation; everything else is unchanged.
GenerationIds LosePeer(const GenerationIds& gi, Role role, Random& rng);

// Start of a resync on the sync source: the sync UUID is the bitmap UUID plus
// kUuidNewBitmapOffset (or fresh if no usable bitmap UUID is set); the old
// bitmap UUID moves into the history. Send `sync_uuid` to the target.
struct SyncStart {
  GenerationIds gi;
  uint64_t sync_uuid = 0;
};
SyncStart StartResyncAsSource(const GenerationIds& gi, Random& rng);

// The sync target received the sync UUID: it becomes the target's current
// UUID (role bit per `role`), the bitmap UUID is cleared, history unchanged.
GenerationIds ReceiveSyncUuid(const GenerationIds& gi, uint64_t sync_uuid,
                              Role role);

// Resync finished, source side: the bitmap UUID moves into the history.
GenerationIds FinishResyncAsSource(const GenerationIds& gi);

// Resync finished, target side: adopt the source's generation ids as they are
// after FinishResyncAsSource (`source` is the source's set before it
// finished, as sent in the handshake / sync-UUID exchange), with the target's
// own role bit.
GenerationIds FinishResyncAsTarget(const GenerationIds& source, Role role);

// Initial full sync: `primary --force` on just-created metadata. A fresh
// current UUID, nothing remembered. FailedPrecondition if `gi` is not
// just-created (use Promote(force=true) for disaster recovery instead).
absl::StatusOr<GenerationIds> StartInitialSync(const GenerationIds& gi,
                                               Random& rng);

// `new-current-uuid --clear-bitmap`: a new generation without a bitmap UUID
// (disks known identical, e.g. both zeroed, or seeded by disk shipping). A
// real old current UUID moves into the history. The peer then receives the
// new current UUID with kUuidFlagSkipInitialSync and calls
// AcceptSkipInitialSync.
GenerationIds NewCurrentUuidClearBitmap(const GenerationIds& gi, Role role,
                                        Random& rng);

// Peer side of --clear-bitmap: a just-created node adopts the sender's current
// UUID (with its own role bit) and clears its bitmap UUID. FailedPrecondition
// if `gi` is not just-created.
absl::StatusOr<GenerationIds> AcceptSkipInitialSync(const GenerationIds& gi,
                                                    uint64_t sender_current,
                                                    Role role);

// Checks that `after` advanced from `before` on one node's own timeline:
// the history is `before`'s history shifted right by k >= 0 with k new
// entries in front, and the current UUID is either unchanged or not one of
// `before`'s bitmap/history UUIDs (masked; 0 excluded). Internal with a
// description of the violation otherwise.
absl::Status CheckAdvance(const GenerationIds& before,
                          const GenerationIds& after);

}  // namespace hafs::splitbrain

#endif  // HAFS_LIBHAFS_SPLITBRAIN_GENERATIONS_H_
