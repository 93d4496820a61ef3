// File: libhafs/mirror/volume.h
// -----------------------------------------------------------------------------
// Volume: the public API of one replicated block volume (a userspace DRBD
// resource) on this node. It owns the runtime that drives the pure Replicator
// (replicator.h): one event-loop thread per volume that owns the Replicator,
// the backing UringDevice(s), the MetaStore (superblock, bitmap, activity log)
// and drives the peer Transport. Application calls post into the loop's inbox
// and wake it; see docs/mirror.md for the threading model and the Ready
// contract as implemented.
//
// Lifecycle
//   create-md (hafsctl create-md, or CreateVolumeMetadata below) once per node;
//   Open = attach: MetaStore::Open (apply-al), disk state from the superblock
//     flags (consistent + was-up-to-date -> UpToDate; consistent -> Outdated;
//     else Inconsistent), then the connection starts (unless StandAlone);
//   Close = down: drain application I/O, wait for the peer's barrier acks,
//     demote a Primary (options.demote_on_close), disconnect, let local I/O
//     finish, then MetaStore::Close (bitmap durable, al-clean).
//   Destroying a Volume without Close() behaves like a crash of the process:
//     pending requests fail with kAborted, nothing more is written, the next
//     Open replays the activity log (and a Primary comes back as a crashed
//     primary). The OS page cache / disk cache are NOT dropped (O_DIRECT writes
//     that completed stay); this is a process crash, not a power loss.
//
// Thread-safety: every public method is thread-safe. The volume's state is
// driven in "steps" by one thread at a time: its loop thread, or the thread
// that brings an event (an application thread inside a call, a transport
// thread with a peer message) when no other thread runs a step. Async
// callbacks and `on_event` run inside a step — possibly on the calling thread
// before WriteAsync/ReadAsync/FlushAsync/status() returns, or on a transport
// thread — so they must not block, and a caller must not hold a lock across
// those calls that its callbacks take. Blocking methods (and destroying the
// Volume) from inside a callback are a checked error.
//
// Example:
//   VolumeOptions o;
//   o.backing_path = "/dev/vdb"; o.node_id = 0; o.node_name = "alice";
//   o.peer_node_id = 1; o.peer_name = "bob"; o.transport = transport.get();
//   HAFS_ASSIGN_OR_RETURN(std::unique_ptr<Volume> v, Volume::Open(o));
//   HAFS_RETURN_IF_ERROR(v->Promote(/*force=*/false));
//   HAFS_RETURN_IF_ERROR(v->Write(0, buf.span(), /*fua=*/false));
//   HAFS_RETURN_IF_ERROR(v->Close());
#ifndef HAFS_LIBHAFS_MIRROR_VOLUME_H_
#define HAFS_LIBHAFS_MIRROR_VOLUME_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libhafs/base/clock.h"
#include "libhafs/meta/meta_store.h"
#include "libhafs/mirror/replicator.h"
#include "libhafs/peer/transport.h"

namespace hafs::mirror {

// Something the operator (hafsd) should see: a state-change line, a handler
// to run, or an online-verify mismatch.
struct VolumeEvent {
  enum class Kind { kLog, kHandler, kVerifyMismatch };
  Kind kind = Kind::kLog;
  std::string text;     // kLog: the line; kHandler: the handler name
  uint64_t offset = 0;  // kVerifyMismatch: the differing range
  uint64_t length = 0;
};

struct VolumeOptions {
  // Resource name, used in log lines ("r0: role: Primary").
  std::string name = "r0";
  // Backing device or file: the data (and, with internal metadata, the
  // metadata at its end). O_DIRECT is required (not tmpfs/ramfs).
  std::string backing_path;
  // External metadata device or file; empty = internal metadata.
  std::string meta_path;
  int32_t meta_index = -1;  // external only: 128 MiB slot index, -1 = whole device
  // Identity. The metadata must belong to `node_id` unless !check_node_id.
  uint32_t node_id = 0;
  std::string node_name;
  uint32_t peer_node_id = 1;
  std::string peer_name;
  bool check_node_id = true;
  // Protocol, split-brain policy, resync rate/controller, timeouts (timeout,
  // ping-int, ping-timeout, ko-count), on-io-error. Its node_id, peer_node_id,
  // node_name, peer_name and size_bytes are ignored: Open sets them from the
  // fields above and from the metadata.
  ReplicatorOptions replication;
  // DRBD's md-flushes (meta::MetaOpenOptions::md_flushes): false only for a
  // metadata device with a battery-backed write cache.
  bool md_flushes = true;
  // The peer transport (not owned; must outlive the Volume). Open takes it
  // over: installs its wake-up callback, discards stale events and connects.
  // Close/destruction disconnect it and remove the callback, so the same
  // transport can serve the next Open. nullptr = no peer (always StandAlone).
  peer::Transport* transport = nullptr;
  // Start StandAlone instead of connecting (drbdadm attach without connect).
  bool start_standalone = false;
  // Clock for ticks (not owned); nullptr = Clock::System().
  Clock* clock = nullptr;
  // Replicator tick period (ping, timeouts, resync controller).
  absl::Duration tick = absl::Milliseconds(10);
  // io_uring queue depth of the backing device.
  int queue_depth = 128;
  // Close(): demote a Primary first (a cleanly stopped node is not a crashed
  // primary), and how long to wait for application I/O and barrier acks.
  bool demote_on_close = true;
  absl::Duration close_timeout = absl::Seconds(30);
  // Bitmap pages whose bits were only cleared (resync progress) or set inside
  // hot AL extents are written lazily, at most this often (DRBD's lazy bitmap
  // writeout; makes resync progress survive a crash).
  absl::Duration bitmap_writeout_interval = absl::Seconds(2);
  // Every log line / handler / verify mismatch, on the loop thread (must not
  // block or call blocking Volume methods). Log lines are also logged with
  // HAFS_LOG(INFO) as "<name>: <line>", handler calls with HAFS_LOG(WARNING) as
  // "<name>: handler <handler>": a handler need not log them again.
  std::function<void(const VolumeEvent&)> on_event;
};

struct VolumeStatus {
  std::string name;
  uint64_t size_bytes = 0;        // usable data size
  Status replication;             // roles, states, GIs, ns/nr/dw/dr/lo/pe/ua/ap/oos
  // DRBD's al and bm: activity-log transactions and bitmap pages written.
  uint64_t al = 0;
  uint64_t bm = 0;
  uint64_t md_flushes = 0;        // metadata flushes (AL evictions, bitmap writeout)
  uint64_t superblock_writes = 0;
  uint64_t al_hot_extents = 0;
  uint64_t al_extents = 0;        // the activity log's size E (set by create-md)
  std::string open_report;        // MetaStore's RecoveryReport at Open
  // Why the last attempt to connect to the peer failed (unreachable, refused
  // authentication, ...), and when; cleared once connected.
  std::string connect_error;
  absl::Time connect_error_at = absl::InfinitePast();
  bool closed = false;
  // "r0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C
  //      ns:.. nr:.. dw:.. dr:.. al:.. bm:.. lo:.. pe:.. ua:.. ap:.. oos:.."
  std::string ToString() const;
};

class Volume {
 public:
  using Callback = std::function<void(absl::Status)>;
  using ReadCallback = std::function<void(absl::StatusOr<Buffer>)>;

  // Attaches and starts the loop. Errors: the device (kNotFound,
  // kFailedPrecondition for O_DIRECT refusal), the metadata (kNotFound: no
  // metadata, hint create-md; kFailedPrecondition: another node's metadata,
  // wrong device), kInvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<Volume>> Open(const VolumeOptions& options);
  // Without Close(): crash-like, see the file comment.
  ~Volume();
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  uint64_t size_bytes() const;
  const std::string& name() const;

  // --- Application I/O (Primary only; 4 KiB aligned offsets and lengths). ---
  absl::Status Read(uint64_t offset, absl::Span<char> out);
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua = false);
  // Durable on this node and (while connected) on the peer.
  absl::Status Flush();
  // Async variants; callbacks run on the loop thread. `data` must not be
  // modified until `done` runs.
  void WriteAsync(uint64_t offset, Buffer data, bool fua, Callback done);
  void ReadAsync(uint64_t offset, uint64_t length, ReadCallback done);
  void FlushAsync(Callback done);

  // --- Status and administration (drbdadm verbs). ---
  VolumeStatus status();
  absl::Status Promote(bool force = false);
  absl::Status Demote();
  absl::Status Connect(bool discard_my_data = false, bool tentative = false);
  absl::Status Disconnect();
  absl::Status StartVerify();
  // drbdadm adjust: new resync-controller settings and split-brain policy
  // on the live volume (Replicator::AdjustResync / AdjustSplitBrain).
  absl::Status Adjust(const ResyncControllerOptions& resync,
                      const splitbrain::SplitBrainPolicy& split_brain);
  // invalidate-remote style: resync the out-of-sync (or, with full, all)
  // blocks from this node to the connected peer.
  absl::Status StartResync(bool full);

  // Clean shutdown (drbdadm down). Errors: kDeadlineExceeded if application
  // I/O did not drain within close_timeout (the volume then stays open),
  // metadata errors. Idempotent; the Volume accepts no calls afterwards
  // (they fail with kFailedPrecondition) except status().
  absl::Status Close();

  class Impl;

 private:
  explicit Volume(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// create-md on a backing file or device for tests and tools (hafsctl create-md
// is the operator's path). If `create_size_bytes` > 0 the file is created /
// extended to that size first. `md` carries kind, index, al_extents, node_id.
absl::StatusOr<meta::Superblock> CreateVolumeMetadata(const std::string& path,
                                                      uint64_t create_size_bytes,
                                                      const meta::MetaCreateOptions& md);

// Superblock <-> replicator state (exposed for tests and hafsctl).
PersistedState PersistedFromSuperblock(const meta::Superblock& sb);
void ApplyPersisted(const PersistedState& ps, meta::Superblock& sb);
splitbrain::GenerationIds ToSplitbrainGi(const meta::GenerationIds& gi);
meta::GenerationIds ToMetaGi(const splitbrain::GenerationIds& gi);
// Disk state after attach from the superblock flags.
DiskState DiskStateFromFlags(uint32_t flags);

}  // namespace hafs::mirror

#endif  // HAFS_LIBHAFS_MIRROR_VOLUME_H_
