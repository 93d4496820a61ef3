// File: libhafs/mirror/replicator.h
// -----------------------------------------------------------------------------
// The block mirror's protocol core: one replicated volume on one node, talking
// to one peer (a userspace DRBD). A pure, deterministic state machine in the
// etcd-raft style: no threads, no clock, no sockets, no disk. Events go in
// (application I/O, peer messages, I/O completions, transport up/down, ticks,
// administrative commands); effects come out in a `Ready`.
//
// The Ready contract (the runtime must follow it, in this order):
//   1. If `persist` is set, make it durable (superblock: generation ids and
//      flags) before anything else of this Ready.
//   2. Persist dirty bitmap pages of extents that are not hot in the AL (bits
//      set outside the AL's cover must not be lost in a crash).
//   3. Issue `ios` to the local disk, through the activity log (a write to a
//      cold extent is issued only after its AL transaction is durable). Report
//      each completion with IoDone(token, status). Release AL references per
//      LocalIo::hold_al and `al_release`.
//   4. Send `messages` to the peer, in order, on the replication stream.
//   5. Complete `done` to the application.
//   6. If `drop_connection` is set, close the transport (TransportDown follows).
//
// Semantics (reference/drbd.md §1.1–1.2, §1.7–1.8):
//   * Protocols A, B, C complete an application write after the local write
//     and (A) the Data message was queued, (B) the peer's ACK_RECEIVED,
//     (C) the peer's ACK_WRITTEN. While the peer is not replicating, the local
//     write alone completes it and its blocks are marked out of sync.
//   * Write ordering: a write completed to the application closes the current
//     epoch (Barrier); the secondary finishes and flushes an epoch before it
//     acks the barrier and before it issues any write of the next epoch.
//     Requests stay in the transfer log until their barrier is acked; when the
//     connection is lost, every request not barrier-acked is marked out of sync.
//   * Overlapping local I/O (application writes, replicated writes, resync
//     reads and writes) is serialized in arrival order, so a resync can never
//     overwrite newer data.
//   * Handshake by DRBD 8.4's generation-identifier rules
//     (libhafs/splitbrain); bitmaps are exchanged and merged (union) before a
//     bitmap-based resync; the SyncTarget requests out-of-sync blocks in order,
//     rate-limited, stays Inconsistent until done and then adopts the source's
//     generation identifiers.
//
// Thread-safety: none; one event loop owns a Replicator.
//
// Example (runtime loop):
//   Replicator r(options, persisted, &bitmap);
//   r.Write(id, offset, buf, /*fua=*/false);
//   while (r.HasReady()) {
//     Ready rd = r.TakeReady();
//     if (rd.persist) WriteSuperblock(*rd.persist);
//     for (auto& io : rd.ios) SubmitThroughAl(io);
//     for (auto& m : rd.messages) transport.Send(m);
//     for (auto& d : rd.done) app.Complete(d);
//   }
#ifndef HAFS_LIBHAFS_MIRROR_REPLICATOR_H_
#define HAFS_LIBHAFS_MIRROR_REPLICATOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libhafs/base/random.h"
#include "libhafs/io/block_device.h"
#include "libhafs/io/buffer_pool.h"
#include "libhafs/meta/bitmap.h"
#include "libhafs/mirror/resync_controller.h"
#include "libhafs/peer/peer.pb.h"
#include "libhafs/peer/transport.h"
#include "libhafs/splitbrain/generation_ids.h"
#include "libhafs/splitbrain/handshake.h"
#include "libhafs/splitbrain/policy.h"

namespace hafs::mirror {

using splitbrain::DiskState;
using splitbrain::GenerationIds;
using splitbrain::Role;
using Protocol = splitbrain::WireProtocol;

using splitbrain::DiskStateName;
using splitbrain::RoleName;
absl::string_view ProtocolName(Protocol p);

// Connection state (DRBD's cs without the replication part).
enum class ConnState {
  kStandAlone,   // not trying to connect (after disconnect or a refused handshake)
  kConnecting,   // waiting for the transport
  kHandshaking,  // transport up, handshake / bitmap exchange in progress
  kConnected,
};
absl::string_view ConnStateName(ConnState c);

// Replication state (DRBD 9's repl).
enum class ReplState {
  kOff,
  kEstablished,
  kSyncSource,
  kSyncTarget,
  kVerifyS,
  kVerifyT,
  kAhead,   // pull-ahead: congested, only out-of-sync marks go to the peer
  kBehind,  // the peer is Ahead
};
absl::string_view ReplStateName(ReplState r);

using Buffer = std::shared_ptr<io::AlignedBuffer>;

// What the runtime persists in the superblock (generation ids and flags).
struct PersistedState {
  GenerationIds gi;
  bool consistent = false;       // data is consistent (not a resync target mid-way)
  bool was_up_to_date = false;   // was UpToDate (decides UpToDate vs Outdated on attach)
  bool crashed_primary = false;  // set while Primary; cleared on clean demotion
  bool peer_outdated = false;    // the peer is known Outdated
  friend bool operator==(const PersistedState&, const PersistedState&) = default;
};

// DRBD's on-io-error policies.
enum class OnIoError {
  // The disk goes Diskless; I/O is served by the peer.
  kDetach,
  // The failed blocks are marked out of sync and the I/O is retried on the
  // peer: a read is served by the peer, a write completes with the peer's
  // copy. With an UpToDate peer the disk goes Inconsistent (persisted: it is
  // neither promoted nor a sync source until a resync repaired it; its
  // in-sync blocks are still read locally). Without one the error reaches the
  // application and the disk keeps its state (hafs deviation: it is still
  // the best copy there is). Flush and metadata errors detach.
  kPassOn,
  // As kDetach, and the first error per attach asks for the "local-io-error"
  // handler (Ready::handlers).
  kCallLocalIoError,
};
absl::string_view OnIoErrorName(OnIoError e);

struct ReplicatorOptions {
  uint32_t node_id = 0;
  uint32_t peer_node_id = 1;
  std::string node_name;
  std::string peer_name;
  // Usable data size of the local replica (multiple of 4 KiB).
  uint64_t size_bytes = 0;
  Protocol protocol = Protocol::kC;
  splitbrain::SplitBrainPolicy split_brain;
  // DRBD's max-epoch-size.
  uint32_t max_epoch_writes = 2048;
  // Resync: request size, bytes in flight at most, and the rate controller
  // (fixed resync-rate, or DRBD's dynamic c-plan-ahead controller).
  uint64_t resync_request_bytes = 128 * 1024;
  uint64_t resync_max_inflight_bytes = 4 * 1024 * 1024;
  ResyncControllerOptions resync;
  // Checksum-based resync (DRBD's csums-alg): the SyncTarget sends per-block
  // digests and the source ships only ranges whose digests differ.
  bool csum_resync = false;
  // on-congestion pull-ahead: when more than `congestion_fill_bytes` of
  // replicated data is not yet acknowledged durable by the peer, go Ahead
  // (send only out-of-sync marks) and resync once the backlog drained.
  // DRBD allows it with protocol A only; so does hafs (config validation).
  bool pull_ahead = false;
  uint64_t congestion_fill_bytes = 0;
  // Online verify request size.
  uint64_t verify_request_bytes = 256 * 1024;
  // DRBD without verify-alg: StartVerify is refused.
  bool verify_enabled = true;
  // DRBD's ping-int, ping-timeout, timeout and ko-count.
  absl::Duration ping_int = absl::Seconds(10);
  absl::Duration ping_timeout = absl::Milliseconds(500);
  absl::Duration timeout = absl::Seconds(6);
  int ko_count = 7;
  // DRBD's on-io-error, for a failed read or write of the local data (see
  // OnIoError). Metadata I/O errors (as in DRBD) and failed flushes (which
  // writes they lost is unknown) always detach.
  OnIoError on_io_error = OnIoError::kDetach;
  // DRBD's disk-flushes. true: the Secondary flushes each epoch before its
  // BarrierAck (write ordering "flush"). false, for a backing device with a
  // battery-backed (non-volatile) write cache: write ordering "drain" — an
  // epoch is durable once its writes completed, and the next epoch's first
  // write is an ordering barrier behind them; no flush on the Secondary, not
  // even for an application flush's (urgent) barrier. The Primary's own disk
  // still gets application flushes, and FUA writes stay FUA on both.
  bool disk_flushes = true;
};

// A local I/O the runtime must issue. `token` identifies it in IoDone.
struct LocalIo {
  uint64_t token = 0;
  io::IoOp op = io::IoOp::kRead;
  uint64_t offset = 0;
  uint64_t length = 0;
  Buffer buf;  // kRead: destination; kWrite: source
  bool fua = false;
  // kWrite: the activity-log reference was already taken through
  // Ready::al_begin / AlAdmitted (application writes on the Primary); it is
  // kept after completion until the range appears in Ready::al_release (the
  // write stays in the AL until the peer confirmed it durable, like DRBD's
  // transfer log). Otherwise the runtime takes the reference itself (Begin,
  // waiting for a transaction if needed) and releases it on completion.
  bool hold_al = false;
  // Ordering barrier (io::IoRequest::barrier): starts after every LocalIo
  // issued before it completed; nothing issued after it starts before it
  // completed. The runtime keeps that order also across writes it parks
  // for an AL transaction.
  bool barrier = false;
};

// An application write that needs its AL extents hot before it may be sent
// to the peer or written locally (DRBD: al_begin_io before send and submit).
struct AlBegin {
  uint64_t token = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// An application request finished.
struct AppDone {
  uint64_t id = 0;
  absl::Status status;
  Buffer data;  // reads only
  // Writes: the peer confirmed it wrote the data before completion (always
  // the case for a successful protocol-C write while Connected); false for a
  // write that completed degraded (peer unreachable: the blocks are marked
  // out of sync).
  bool replicated = false;
};

// A block range found different by online verify.
struct VerifyMismatch {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct Ready {
  std::optional<PersistedState> persist;
  std::vector<LocalIo> ios;
  std::vector<peer::MirrorMessage> messages;
  std::vector<AppDone> done;
  bool drop_connection = false;
  std::string drop_reason;
  // State changes and decisions, one operator-readable line each.
  std::vector<std::string> log;
  // Online verify results (reported, not repaired).
  std::vector<VerifyMismatch> verify_mismatches;
  // Handler hooks to run ("initial-split-brain", "split-brain", ...).
  std::vector<std::string> handlers;
  // Application writes that need AL admission; answer with AlAdmitted(token)
  // once the extents are hot (their AL transaction is durable).
  std::vector<AlBegin> al_begin;
  // Ranges (offset, length) of hold_al writes whose AL references the runtime
  // may now release (ActivityLog::End).
  std::vector<std::pair<uint64_t, uint64_t>> al_release;
};

// DRBD-style counters (KiB unless noted), see docs/mirror.md.
struct Counters {
  uint64_t ns = 0;  // net send: replicated data sent
  uint64_t nr = 0;  // net receive: replicated data received
  uint64_t dw = 0;  // disk write
  uint64_t dr = 0;  // disk read
  uint64_t lo = 0;  // local I/Os in flight (count)
  uint64_t pe = 0;  // requests sent to the peer and not yet answered (count)
  uint64_t ua = 0;  // requests received from the peer and not yet answered (count)
  uint64_t ap = 0;  // application requests in flight (count)
  uint64_t oos = 0;  // out of sync
};

struct Status {
  Role role = Role::kSecondary;
  Role peer_role = Role::kSecondary;  // the last one reported; see PeerRoleName
  DiskState disk = DiskState::kDiskless;
  DiskState peer_disk = DiskState::kDUnknown;
  ConnState conn = ConnState::kStandAlone;
  ReplState repl = ReplState::kOff;
  GenerationIds gi;
  Counters counters;
  uint64_t resync_total_blocks = 0;  // at resync start
  uint64_t resync_left_blocks = 0;
  uint64_t resync_same_bytes = 0;  // checksum-based resync: not shipped
  absl::Time resync_started = absl::InfinitePast();  // last BeginSync (Tick time)
  // Replicated data the peer has not yet confirmed durable (barrier-acked);
  // with protocol A a completed write may still be on the way.
  uint64_t unacked_bytes = 0;
  uint64_t verify_done_bytes = 0;
  uint64_t verify_mismatch_blocks = 0;
  std::string last_handshake;  // explanation of the last decision
  // The local I/O error that made the attached disk Diskless (on-io-error
  // detach) or Inconsistent (pass_on); empty otherwise (cleared when a
  // resync made the disk UpToDate again).
  std::string disk_error;
};

// The peer's role as DRBD prints it: "Unknown" unless connected (Status keeps
// the last role the peer reported).
inline absl::string_view PeerRoleName(const Status& s) {
  return s.conn == ConnState::kConnected ? RoleName(s.peer_role) : "Unknown";
}

class Replicator {
 public:
  // `bitmap` (not owned) is the volume's out-of-sync bitmap, one bit per 4 KiB;
  // the runtime persists its dirty pages. `disk` is the local disk state after
  // attach (kUpToDate, kConsistent, kOutdated, kInconsistent or kDiskless).
  Replicator(const ReplicatorOptions& options, const PersistedState& persisted,
             DiskState disk, meta::Bitmap* bitmap, uint64_t uuid_seed);
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // --- Application I/O (ids are the caller's; each gets one AppDone). ---
  // REQUIRES for writes: Primary; offset/length 4 KiB aligned and in range
  // (violations complete with kInvalidArgument / kOutOfRange /
  // kFailedPrecondition).
  void Write(uint64_t id, uint64_t offset, Buffer data, bool fua = false);
  void Read(uint64_t id, uint64_t offset, uint64_t length);
  void Flush(uint64_t id);

  // --- Administration. ---
  // Promote: needs an UpToDate disk (or `force`), no Primary peer.
  absl::Status Promote(bool force);
  absl::Status Demote();
  // Start connecting (from StandAlone). `discard_my_data` marks this node the
  // split-brain victim; `tentative` only reports the handshake decision.
  void Connect(bool discard_my_data = false, bool tentative = false);
  // Drop the connection and stay StandAlone.
  void Disconnect();
  // Online verify of the whole volume (needs Connected/Established).
  absl::Status StartVerify();
  // drbdadm adjust for the options a live volume may change: the resync
  // controller (a running resync continues under a fresh controller with the
  // new settings from its next step) and the split-brain policy (used at the
  // next handshake; `protocol` is kept).
  void AdjustResync(const ResyncControllerOptions& resync);
  void AdjustSplitBrain(const splitbrain::SplitBrainPolicy& policy);
  // Resync now from this node (UpToDate) to the connected peer: the blocks
  // marked out of sync (e.g. by online verify), or every block with `full`
  // (DRBD's invalidate-remote).
  absl::Status StartResync(bool full);

  // --- Transport. ---
  void TransportUp();
  void TransportDown(absl::string_view reason);
  // Takes the message by value: move it in (Data payloads are large).
  // `payload`: the bulk bytes when the transport delivered them apart
  // (TransportEvent::payload); they are written as they are, without a copy.
  void Receive(peer::MirrorMessage m, peer::Payload payload = nullptr);

  // --- Local I/O completion, AL admission and time. ---
  void IoDone(uint64_t token, absl::Status status);
  // The AL extents of an al_begin request are hot and referenced.
  void AlAdmitted(uint64_t token);
  // The AL transaction for an al_begin request could not be written: the
  // local disk detaches (as for any metadata error) and the write goes to the
  // peer alone, or fails.
  void AlFailed(uint64_t token, absl::Status status);
  // The metadata device failed (superblock, bitmap or activity-log I/O): the
  // local disk detaches whatever the on-io-error policy (DRBD does the same:
  // without its metadata the disk's state cannot be recorded).
  void MetadataFailed(const absl::Status& status);
  // Time. The first Tick should come before any other input; timers started
  // by inputs that arrive before it (handshake, ping) start at that Tick.
  void Tick(absl::Time now);

  bool HasReady() const;
  // The pending Ready carries `persist` (a synchronous superblock write).
  bool PersistPending() const { return persist_dirty_; }
  Ready TakeReady();

  Status status() const;
  ConnState conn_state() const { return conn_; }
  ReplState repl_state() const { return repl_; }
  Role role() const { return role_; }
  DiskState disk_state() const { return disk_; }
  const PersistedState& persisted() const { return persisted_; }

 private:
  enum class IoKind {
    kAppWrite,
    kAppRead,
    kAppFlush,
    kPeerWrite,     // replicated Data on the secondary
    kBarrierFlush,  // secondary: flush closing an epoch
    kResyncRead,    // source: read for a ResyncRequest
    kResyncWrite,   // target: write of ResyncData
    kVerifyRead,    // either side: read for a digest
    kPeerRead,      // serve a ReadRequest of a diskless peer
    kCsumRead,      // target: read for the digests of a csum ResyncRequest
    kResyncFlush,   // target: flush before the resync's end makes it UpToDate
    kDemoteFlush,   // the last Primary's writes durable before the clean-demotion mark
  };
  struct IoCtx {
    IoKind kind;
    uint64_t ref = 0;  // seq / app id / flush id / epoch / request id, by kind
    uint64_t offset = 0;
    uint64_t length = 0;
    Buffer buf;
    bool gated = false;     // holds a range in the conflict gate
    uint64_t epoch = 0;     // kPeerWrite
    uint64_t conn_gen = 0;  // connection the I/O belongs to
    std::string digest;     // kResyncRead: the target's digests (csum resync)
    bool eager = false;     // kBarrierFlush: an eager flush (see InEpoch)
  };
  // Primary: a replicated application write (transfer log entry).
  struct Request {
    uint64_t app_id = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t epoch = 0;
    bool local_done = false;
    absl::Status local_status;
    bool sent = false;           // a Data message went out for it
    bool peer_done = false;      // the protocol's completion point reached
    bool peer_ok = false;        // the peer wrote it (ACK_WRITTEN / barrier ack)
    // DRBD's RQ_NET_OK: the protocol's completion point on the peer was
    // reached (A: sent, B: received, C: written); A and B "pretend it was
    // written on the peer" when the local part fails.
    bool peer_accepted = false;
    bool peer_up_to_date = false;  // its disk was UpToDate then (peer_ok / peer_accepted)
    bool peer_failed = false;    // the peer could not write it, or was lost before confirming
    bool barrier_acked = false;  // durable on the peer, or no barrier expected
    bool completed = false;      // AppDone emitted
    bool completed_ok = false;   // with OK
    bool local_issued = false;   // AL admission requested (released via al_release)
    Buffer data;                 // until sent and issued
    bool fua = false;
    absl::Time sent_at;
  };
  // Secondary: an epoch received from the primary.
  // Write ordering: when the Barrier arrives and every write of the epoch is
  // issued, the epoch's flush is issued as an ordering barrier (LocalIo::
  // barrier) and the next epoch's writes are issued right behind it: the
  // device starts them only once the flush completed, so the Secondary never
  // waits for a completion between epochs. The BarrierAck follows the flush.
  struct InEpoch {
    uint32_t received = 0;   // Data messages received
    uint32_t issued = 0;     // of which handed to the disk (past the gate)
    uint32_t completed = 0;  // of which locally written
    std::optional<uint32_t> barrier_writes;  // set when the Barrier arrived
    bool flushing = false;   // the epoch's barrier flush is issued (or eager covers it)
    bool durable = false;    // that flush completed: ready for the BarrierAck
    // Eager flush: issued when every write received so far has completed,
    // before the Barrier arrives, so that the flush overlaps the round trip
    // (the Barrier usually follows the next write's Data).
    enum class Eager { kNone, kInFlight, kDone } eager = Eager::kNone;
    uint32_t eager_covers = 0;  // writes completed when it was submitted
    int eager_count = 0;        // at most kMaxEagerFlushes per epoch
    bool urgent = false;        // Barrier.urgent: ack as soon as durable
  };
  // An operation waiting for an overlapping one to finish; `run` issues it
  // (and must leave exactly one gated LocalIo in flight for the range, or
  // release the gate itself).
  struct Pending {
    uint64_t offset;
    uint64_t length;
    std::function<void()> run;
  };
  struct DeferredWrite {
    uint64_t id;
    uint64_t offset;
    Buffer data;
    bool fua;
  };
  struct AppFlush {
    uint64_t id = 0;
    uint64_t epoch = 0;  // every epoch <= this must be barrier-acked
    bool local_done = false;
    bool peer_done = false;  // those epochs were barrier-acked
    uint64_t next_seq = 0;   // it covers the writes with a lower sequence number
    bool with_peer = false;  // issued while replicating, on connection conn_gen
    uint64_t conn_gen = 0;
    absl::Status status;
  };
  // offset -> (length, local digest, peer digest); compared when both are in.
  struct VerifySlot {
    uint64_t length = 0;
    std::optional<std::string> local, remote;
  };

  // Local I/O issue with conflict gating.
  void IssueGated(LocalIo io, IoCtx ctx);
  void Gate(uint64_t offset, uint64_t length, std::function<void()> run);
  void HandleIoDone(const IoCtx& ctx, absl::Status status);
  void IssueNow(LocalIo io, IoCtx ctx);
  bool Overlaps(uint64_t offset, uint64_t length) const;
  void ReleaseGate(uint64_t offset, uint64_t length);

  // Queues `m` for the peer, after any deferred message.
  void Send(peer::MirrorMessage m);
  // Queues `m` to go out with the next message sent or at the next Tick,
  // whichever comes first (Barriers and BarrierAcks nobody waits for: one
  // network frame per write instead of two).
  void SendLazily(peer::MirrorMessage m);
  // Queues the deferred messages. `urgent_barriers`: no Data follows them in
  // the same frame, so a later application flush would find no Barrier left
  // to mark urgent: mark them now (their acks come at once).
  void SendDeferred(bool urgent_barriers);
  void SendAck(uint64_t seq, peer::AckKind kind);
  void SendState();
  void Log(std::string line);
  void SetGenerations(const GenerationIds& gi);
  bool HasLocalDisk() const;
  bool Replicating() const;  // the peer receives application writes
  void MarkOutOfSync(uint64_t offset, uint64_t length, bool tell_peer);
  void FailApp(uint64_t id, absl::Status s);

  // Primary write and flush path.
  void StartWrite(uint64_t id, uint64_t offset, Buffer data, bool fua);
  void SendAndIssue(Request r);
  void SendAndIssueNow(Request r, bool gated);
  void ReplayDeferredWrites();
  void MaybeCompleteRequest(uint64_t seq);
  // `urgent`: an application flush waits for the barrier ack, so the Barrier
  // goes now and asks for its ack at once.
  void CloseEpoch(bool urgent = false);
  void MaybeCompleteFlushes();
  // Records that the completed write `seq` is on no UpToDate disk (see
  // lost_write_seq_), if its completion counted on the peer's copy alone.
  void NoteLostIfOnlyThePeerHeldIt(uint64_t seq, const Request& r, absl::string_view why);
  void ReadFromPeer(uint64_t id, uint64_t offset, uint64_t length);

  // Receive path.
  void ProcessInbound();
  struct Inbound {
    peer::MirrorMessage message;
    peer::Payload payload;  // the bulk bytes, or nullptr (then in the message)
  };
  bool HandleInbound(const Inbound& in);  // false: blocked
  // The peer's disk state holds data (not Diskless or Failed).
  bool PeerHasDisk() const;
  // The peer's copy stopped receiving writes while connected (its disk went
  // Diskless, Failed or Outdated, or this Primary went Ahead): start a new
  // generation if this node now holds the only current copy. `why` is logged.
  void OnlyCurrentCopyHere(absl::string_view why);
  // Clears the crashed-Primary flag of a demoted node once its writes are
  // durable here and confirmed by the peer (see Demote).
  void MaybeMarkCleanDemotion();
  bool clean_demotion_pending_ = false;
  bool demote_flush_pending_ = false;
  uint64_t demote_flush_id_ = 0;  // of the latest demotion's flush
  // Whether the transfer log holds a write the peer has not confirmed.
  bool TlUnconfirmed() const;
  Role announced_role_ = Role::kSecondary;  // last sent in a State
  // The peer has this node's data after a crash (resync finished as source,
  // or no resync was needed): forget the crash, in memory and on disk.
  void CrashHandled();
  // The bulk bytes of `in` in an aligned buffer: the payload, or a copy.
  Buffer BulkBuffer(const Inbound& in);
  // Issues the epoch's barrier flush once its Barrier arrived and all its
  // writes are issued, then acknowledges what is durable.
  void MaybeFinishEpoch(uint64_t epoch);
  // An epoch before `epoch` has writes that have not completed locally.
  bool EarlierEpochsUnwritten(uint64_t epoch) const;
  void MaybeEagerFlush(uint64_t epoch);
  // A peer write of `epoch` passed the gate and was issued.
  void PeerWriteIssued(uint64_t epoch);
  // Sends BarrierAcks, oldest first, for every durable epoch at the front.
  void AckDurableEpochs();

  // Handshake, resync and verify.
  void SendHandshake();
  void OnHandshake(const peer::VolumeHandshake& h);
  void BeginSync(bool source, bool full);
  void SendBitmap();
  void OnBitmapChunk(const peer::BitmapChunk& c);
  void OnSyncUuid(uint64_t uuid);
  void ResyncFromHere(bool full);
  bool SendsData() const;  // replicating and not Ahead
  void PumpResync();
  // Sends a resync request (or, with csum resync, first reads the local copy
  // for its digests). `gate_held`: the request holds the gate of its range.
  void RequestResync(uint64_t offset, uint64_t bytes, bool gate_held);
  void MaybeFinishResyncAsSource();
  // The SyncTarget's request at `offset` of `length` bytes is answered (by a
  // `what` message): no longer in flight. False after a protocol error if no
  // such request is in flight.
  bool TakeResyncRequest(uint64_t offset, uint64_t length, absl::string_view what);
  // Blocks of resync_failed_ still marked in the bitmap.
  uint64_t FailedBlocksMarked() const;
  void FinishResyncAsTarget(const peer::ResyncDone& d);
  // The rest of FinishResyncAsTarget, once the resynced data is durable.
  void CompleteResyncAsTarget(const peer::ResyncDone& d);
  void PumpVerify();
  void OnVerifyReply(const peer::VerifyReply& r);
  void CompareVerifySlot(uint64_t offset);

  // The role the peer is told (State): Primary until the peer confirmed every
  // write this node made as Primary.
  Role AnnouncedRole() const;
  void LostConnection(absl::string_view reason);
  void DropConnection(std::string reason);
  void ProtocolError(absl::string_view what);
  // A local I/O error: of a read or a write of known blocks (the caller
  // marked them), of a flush (which writes it lost is unknown), or of the
  // metadata device. Only the first two are subject to on-io-error pass_on.
  enum class DiskFault { kRead, kWrite, kFlush, kMetadata };
  void LocalDiskFailed(const absl::Status& s, DiskFault fault);
  // on-io-error pass_on: the UpToDate peer holds blocks this disk failed
  // (marked out of sync): the disk goes Inconsistent, persisted, until a
  // resync repaired them (no-op if detached or already Inconsistent).
  void FallBehindThePeer(const absl::Status& error);
  // on-io-error pass_on: the range whose local read failed is marked out of
  // sync here and at the peer (no-op once detached).
  void MarkFailedRead(uint64_t offset, uint64_t length);
  // An Inconsistent disk still serves reads of blocks not marked out of sync
  // (DRBD's drbd_may_do_local_read).
  bool CanReadLocally(uint64_t offset, uint64_t length) const;

  // ---- constant after construction ----
  ReplicatorOptions opt_;  // changes only through Adjust*
  meta::Bitmap* const bitmap_;
  const uint64_t num_blocks_;

  // ---- state ----
  PersistedState persisted_;
  bool persist_dirty_ = false;
  Role role_ = Role::kSecondary;
  DiskState disk_;
  ConnState conn_ = ConnState::kConnecting;
  ReplState repl_ = ReplState::kOff;
  Role peer_role_ = Role::kSecondary;
  DiskState peer_disk_ = DiskState::kDUnknown;
  bool discard_my_data_ = false;
  bool tentative_ = false;
  Random rng_;                      // fresh UUIDs (seeded: replays exactly)
  bool crashed_at_attach_;          // crashed-primary flag sent in handshakes
  absl::Time now_ = absl::InfinitePast();

  // Connection.
  bool transport_up_ = false;
  uint64_t conn_gen_ = 0;
  absl::Time handshake_started_ = absl::InfinitePast();
  std::optional<peer::VolumeHandshake> peer_handshake_;
  bool sync_started_ = false;
  absl::Time resync_started_ = absl::InfinitePast();
  bool peer_bitmap_done_ = false;
  std::string last_handshake_;
  std::string disk_error_;
  // Writes acknowledged on the strength of the peer's copy alone (protocol A
  // or B, the local disk not UpToDate or its write failed) that the peer then
  // did not hold: lost with the connection before the peer confirmed them, or
  // the peer's own write failed (ACK_FAILED). The newest one's sequence
  // number, and why. The next flush that covers it fails (as fsync(2) reports
  // a writeback error once).
  std::optional<uint64_t> lost_write_seq_;
  std::string lost_write_why_;
  std::optional<uint64_t> expected_peer_seq_;  // last Data seq received
  // A refused handshake keeps the transport open until then (see OnHandshake).
  std::optional<absl::Time> linger_until_;
  std::string linger_reason_;

  // Local I/O.
  uint64_t next_token_ = 1;
  std::map<uint64_t, IoCtx> io_;       // by token
  std::map<uint64_t, uint64_t> gate_;  // in-flight gated ranges: offset -> length
  std::deque<Pending> waiting_;        // blocked by the gate, FIFO

  // Primary.
  uint64_t next_seq_ = 1;
  uint64_t epoch_ = 1;
  uint32_t epoch_writes_ = 0;
  std::map<uint64_t, Request> tl_;                // transfer log, by seq
  std::map<uint64_t, Request> al_waiting_;        // by AL admission token
  std::map<uint64_t, uint32_t> epoch_barriers_;   // closed epochs awaiting BarrierAck
  std::deque<DeferredWrite> deferred_writes_;     // arrived during the handshake
  uint64_t next_flush_ = 1;
  std::map<uint64_t, AppFlush> flushes_;
  struct RemoteRead {
    uint64_t app_id;
    uint64_t length;
  };
  std::map<uint64_t, RemoteRead> remote_reads_;  // by request id
  uint64_t next_remote_read_ = 1;

  // Secondary.
  std::deque<Inbound> inbound_;
  // The generation of the data the application sees: this disk's current
  // UUID, or on a Diskless node the one it last used (its own at detach, then
  // the peer's it connects to). A Diskless Primary uses only that data.
  uint64_t exposed_uuid_ = 0;
  // SyncTarget: the source's ResyncDone, held while the resync flush runs.
  std::optional<peer::ResyncDone> finishing_resync_;
  std::vector<peer::MirrorMessage> deferred_;  // SendLazily
  bool processing_inbound_ = false;
  std::map<uint64_t, InEpoch> in_epochs_;
  // 0: not blocked; else the epoch whose Barrier arrived while one of its
  // writes still waited at the gate (its flush, and the stream, follow that
  // write), or — without disk flushes — whose first write, the drain barrier,
  // waits at the gate (the epoch's other writes follow it).
  uint64_t blocked_epoch_ = 0;

  // Resync (target side drives).
  uint64_t resync_cursor_ = 0;
  uint64_t resync_inflight_bytes_ = 0;
  std::map<uint64_t, uint64_t> resync_requested_;  // offset -> bytes
  // Ranges the source could not read in this resync (ResyncFailed), on both
  // sides: offset -> bytes. Their blocks stay marked; the resync ends with
  // them as failed blocks.
  std::map<uint64_t, uint64_t> resync_failed_;
  // A Primary SyncTarget's requests that hold the gate over their range until
  // their data is written (or found in sync): see PumpResync.
  std::set<uint64_t> resync_gated_;
  ResyncController controller_;
  uint64_t resync_budget_ = 0;  // bytes the controller allows this step
  absl::Time last_controller_step_ = absl::InfinitePast();
  uint64_t resync_same_bytes_ = 0;  // csum resync: ranges found in sync
  uint64_t unacked_bytes_ = 0;      // replicated, not yet barrier-acked
  uint64_t resync_total_blocks_ = 0;

  // Verify (VerifyS side).
  uint64_t verify_cursor_ = 0;
  std::map<uint64_t, VerifySlot> verify_pending_;
  uint64_t verify_mismatch_blocks_ = 0;
  uint64_t verify_done_bytes_ = 0;

  // Liveness.
  absl::Time last_rx_ = absl::InfinitePast();
  std::optional<std::pair<uint64_t, absl::Time>> ping_outstanding_;
  uint64_t ping_nonce_ = 1;

  Counters counters_;
  Ready ready_;
  // Recycles data buffers (received Data/ResyncData, reads): no allocation
  // per message on the data path.
  io::BufferPool pool_;
};

}  // namespace hafs::mirror

#endif  // HAFS_LIBHAFS_MIRROR_REPLICATOR_H_
