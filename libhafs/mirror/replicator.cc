#include "libhafs/mirror/replicator.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libhafs/base/checksum.h"
#include "libhafs/base/logging.h"
#include "libhafs/splitbrain/generations.h"

namespace hafs::mirror {
namespace {

constexpr uint64_t kBlock = io::kBlockSize;
constexpr size_t kMaxRunsPerChunk = 4096;

constexpr size_t kDigestBytes = 16;

// XXH3-128 of each 4 KiB block of `data`, concatenated (little-endian low
// word, then high word): the digest format of VerifyReply and ResyncRequest.
std::string BlockDigests(const char* data, uint64_t length) {
  std::string out;
  out.reserve(length / kBlock * kDigestBytes);
  for (uint64_t off = 0; off < length; off += kBlock) {
    Digest128 d = Digest(absl::string_view(data + off, kBlock));
    char le[kDigestBytes];
    std::memcpy(le, &d.low, 8);
    std::memcpy(le + 8, &d.high, 8);
    out.append(le, kDigestBytes);
  }
  return out;
}


bool Aligned(uint64_t offset, uint64_t length) {
  return offset % kBlock == 0 && length % kBlock == 0 && length > 0;
}

}  // namespace

absl::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kA: return "A";
    case Protocol::kB: return "B";
    case Protocol::kC: return "C";
  }
  return "?";
}

absl::string_view ConnStateName(ConnState c) {
  switch (c) {
    case ConnState::kStandAlone: return "StandAlone";
    case ConnState::kConnecting: return "Connecting";
    case ConnState::kHandshaking: return "Handshaking";
    case ConnState::kConnected: return "Connected";
  }
  return "?";
}

absl::string_view ReplStateName(ReplState r) {
  switch (r) {
    case ReplState::kOff: return "Off";
    case ReplState::kEstablished: return "Established";
    case ReplState::kSyncSource: return "SyncSource";
    case ReplState::kSyncTarget: return "SyncTarget";
    case ReplState::kVerifyS: return "VerifyS";
    case ReplState::kVerifyT: return "VerifyT";
    case ReplState::kAhead: return "Ahead";
    case ReplState::kBehind: return "Behind";
  }
  return "?";
}

absl::string_view OnIoErrorName(OnIoError e) {
  switch (e) {
    case OnIoError::kDetach:
      return "detach";
    case OnIoError::kPassOn:
      return "pass_on";
    case OnIoError::kCallLocalIoError:
      return "call-local-io-error";
  }
  return "?";
}

Replicator::Replicator(const ReplicatorOptions& options,
                       const PersistedState& persisted, DiskState disk,
                       meta::Bitmap* bitmap, uint64_t uuid_seed)
    : opt_(options),
      bitmap_(bitmap),
      num_blocks_(options.size_bytes / kBlock),
      persisted_(persisted),
      disk_(disk),
      rng_(uuid_seed),
      crashed_at_attach_(persisted.crashed_primary),
      controller_(options.resync) {
  HAFS_CHECK(opt_.size_bytes % kBlock == 0) << opt_.size_bytes;
  HAFS_CHECK(bitmap_ != nullptr && bitmap_->size() >= num_blocks_)
      << "bitmap too small for " << num_blocks_ << " blocks";
  HAFS_CHECK(opt_.node_id != opt_.peer_node_id);
  counters_.oos = bitmap_->Count() * (kBlock / 1024);
  exposed_uuid_ = persisted_.gi.current;
  // A node that was Primary when it went down is Secondary after attach; the
  // flag stays until the next handshake has settled the data.
}

// ---------------------------------------------------------------------------
// Small helpers.

Buffer Replicator::BulkBuffer(const Inbound& in) {
  if (in.payload != nullptr) return in.payload;
  const absl::string_view bytes = peer::BulkBytes(in.message, nullptr);
  Buffer buf = pool_.Get(bytes.size());
  std::memcpy(buf->data(), bytes.data(), bytes.size());
  return buf;
}

void Replicator::Send(peer::MirrorMessage m) {
  SendDeferred(/*urgent_barriers=*/!m.has_data());
  ready_.messages.push_back(std::move(m));
}

void Replicator::SendLazily(peer::MirrorMessage m) { deferred_.push_back(std::move(m)); }

void Replicator::SendDeferred(bool urgent_barriers) {
  for (peer::MirrorMessage& d : deferred_) {
    if (urgent_barriers && d.has_barrier()) d.mutable_barrier()->set_urgent(true);
    ready_.messages.push_back(std::move(d));
  }
  deferred_.clear();
}

void Replicator::Log(std::string line) {
  ready_.log.push_back(std::move(line));
}

void Replicator::SetGenerations(const GenerationIds& gi) {
  if (gi == persisted_.gi) return;
  persisted_.gi = gi;
  persist_dirty_ = true;
}

void Replicator::FailApp(uint64_t id, absl::Status s) {
  ready_.done.push_back(AppDone{id, std::move(s), nullptr});
}

bool Replicator::HasReady() const {
  return persist_dirty_ || !ready_.ios.empty() || !ready_.messages.empty() ||
         !ready_.done.empty() || ready_.drop_connection || !ready_.log.empty() ||
         !ready_.verify_mismatches.empty() || !ready_.handlers.empty() ||
         !ready_.al_release.empty() || !ready_.al_begin.empty();
}

Ready Replicator::TakeReady() {
  Ready out = std::move(ready_);
  ready_ = Ready();
  if (persist_dirty_) {
    out.persist = persisted_;
    persist_dirty_ = false;
  }
  return out;
}

bool Replicator::Replicating() const { return conn_ == ConnState::kConnected; }

bool Replicator::SendsData() const {
  return Replicating() && repl_ != ReplState::kAhead;
}

bool Replicator::PeerHasDisk() const {
  return peer_disk_ != DiskState::kDiskless && peer_disk_ != DiskState::kFailed;
}

void Replicator::MaybeMarkCleanDemotion() {
  if (!clean_demotion_pending_ || role_ != Role::kSecondary || demote_flush_pending_) return;
  for (const auto& [seq, r] : tl_) {
    if (r.sent && !r.barrier_acked) return;  // the peer may not have it yet
  }
  clean_demotion_pending_ = false;
  // Not while this node still counts as the crashed Primary it restarted as:
  // its writes from before that crash are not on the peer yet (no handshake
  // took them into account), and the next attach must still say so, or the
  // handshake after a second restart would see equal generations and no
  // crash (rule 40) and could resync the peer's older blocks over them.
  if (persisted_.crashed_primary && !crashed_at_attach_) {
    persisted_.crashed_primary = false;
    persist_dirty_ = true;
  }
}

bool Replicator::TlUnconfirmed() const {
  for (const auto& [seq, r] : tl_) {
    if (r.sent && !r.barrier_acked) return true;
  }
  return false;
}

Role Replicator::AnnouncedRole() const {
  // A demoted node tells the peer "Secondary" only once the peer confirmed
  // every write it made as Primary: the peer's promotion can then never be
  // followed by a link drop that leaves both with writes the other misses
  // (this node would start a generation for its unconfirmed writes, the new
  // Primary one for its own: a split brain after a clean switchover).
  return role_ == Role::kPrimary || TlUnconfirmed() ? Role::kPrimary : Role::kSecondary;
}

void Replicator::CrashHandled() {
  crashed_at_attach_ = false;
  // The peer has this node's last writes now: a Secondary no longer counts
  // as a crashed Primary at its next attach (a Primary keeps the flag while
  // Primary; Demote clears it).
  if (role_ != Role::kPrimary && persisted_.crashed_primary) {
    persisted_.crashed_primary = false;
    persist_dirty_ = true;
  }
}

void Replicator::OnlyCurrentCopyHere(absl::string_view why) {
  // DRBD's after_state_ch ("lost contact to peer's copy of the data"): the
  // UpToDate copy here is now the only current one, and the peer's old disk
  // may come back (a transient error, a restart). A new generation makes the
  // next handshake see who is ahead (the peer's current UUID is then this
  // node's bitmap UUID: bitmap-based resync from here), whatever the roles
  // and the tie-break are by then.
  if (disk_ != DiskState::kUpToDate || persisted_.gi.bitmap != 0) return;
  if (role_ != Role::kPrimary && peer_role_ != Role::kPrimary) return;
  SetGenerations(splitbrain::NewCurrentUuid(persisted_.gi, role_, rng_));
  persist_dirty_ = true;
  Log(absl::StrCat(why, ": this node holds the only current copy, new current UUID ",
                   persisted_.gi.DebugString()));
}

bool Replicator::HasLocalDisk() const {
  return disk_ != DiskState::kDiskless && disk_ != DiskState::kFailed;
}

void Replicator::MarkOutOfSync(uint64_t offset, uint64_t length,
                               bool tell_peer) {
  uint64_t first = offset / kBlock;
  uint64_t end = (offset + length + kBlock - 1) / kBlock;
  bitmap_->SetRange(first, std::min(end, num_blocks_));
  if (tell_peer && conn_ != ConnState::kConnecting &&
      conn_ != ConnState::kStandAlone) {
    peer::MirrorMessage m;
    m.mutable_out_of_sync()->set_offset(offset);
    m.mutable_out_of_sync()->set_length(length);
    Send(std::move(m));
  }
}

// ---------------------------------------------------------------------------
// Local I/O with conflict gating.

bool Replicator::Overlaps(uint64_t offset, uint64_t length) const {
  auto it = gate_.upper_bound(offset);
  if (it != gate_.end() && it->first < offset + length) return true;
  if (it != gate_.begin()) {
    --it;
    if (it->first + it->second > offset) return true;
  }
  return false;
}

void Replicator::IssueNow(LocalIo io, IoCtx ctx) {
  io.token = next_token_++;
  io_.emplace(io.token, std::move(ctx));
  ++counters_.lo;
  ready_.ios.push_back(std::move(io));
}

void Replicator::IssueGated(LocalIo io, IoCtx ctx) {
  const uint64_t offset = io.offset, length = io.length;
  Gate(offset, length, [this, io = std::move(io), ctx = std::move(ctx)]() mutable {
    ctx.gated = true;
    const bool peer_write = ctx.kind == IoKind::kPeerWrite && ctx.conn_gen == conn_gen_;
    const uint64_t epoch = ctx.epoch;
    IssueNow(std::move(io), std::move(ctx));
    if (peer_write) PeerWriteIssued(epoch);
  });
}

void Replicator::Gate(uint64_t offset, uint64_t length, std::function<void()> run) {
  bool blocked = Overlaps(offset, length);
  for (const Pending& p : waiting_) {
    if (blocked) break;
    blocked = p.offset < offset + length && offset < p.offset + p.length;
  }
  if (blocked) {
    waiting_.push_back(Pending{offset, length, std::move(run)});
    return;
  }
  gate_.emplace(offset, length);
  run();
}

void Replicator::ReleaseGate(uint64_t offset, uint64_t length) {
  gate_.erase(offset);
  // Take out the waiting operations that no longer overlap anything in flight
  // nor an earlier waiting one (FIFO among overlapping operations), then run
  // them: running one may gate new operations (append to waiting_) or release
  // a gate again, so never while iterating.
  std::vector<std::pair<uint64_t, uint64_t>> earlier;
  std::vector<std::function<void()>> runnable;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    bool blocked = Overlaps(it->offset, it->length);
    for (const auto& [o, l] : earlier) {
      if (blocked) break;
      blocked = o < it->offset + it->length && it->offset < o + l;
    }
    if (blocked) {
      earlier.emplace_back(it->offset, it->length);
      ++it;
      continue;
    }
    gate_.emplace(it->offset, it->length);
    runnable.push_back(std::move(it->run));
    it = waiting_.erase(it);
  }
  for (std::function<void()>& run : runnable) run();
}

// ---------------------------------------------------------------------------
// Application I/O.

void Replicator::Write(uint64_t id, uint64_t offset, Buffer data, bool fua) {
  const uint64_t length = data ? data->size() : 0;
  if (role_ != Role::kPrimary) {
    FailApp(id, absl::FailedPreconditionError(
                    "write refused: this node is Secondary (hint: `hafsctl "
                    "primary` first)"));
    return;
  }
  if (!Aligned(offset, length)) {
    FailApp(id, absl::InvalidArgumentError(absl::StrCat(
                    "write of ", length, " bytes at ", offset,
                    " is not 4096-byte aligned")));
    return;
  }
  if (offset + length > opt_.size_bytes) {
    FailApp(id, absl::OutOfRangeError(absl::StrCat(
                    "write at ", offset, "+", length, " ends past the volume (",
                    opt_.size_bytes, " bytes)")));
    return;
  }
  if (conn_ == ConnState::kHandshaking) {
    // The handshake decides from a bitmap snapshot; writes wait for it.
    deferred_writes_.push_back(DeferredWrite{id, offset, std::move(data), fua});
    ++counters_.ap;
    return;
  }
  ++counters_.ap;
  StartWrite(id, offset, std::move(data), fua);
}

void Replicator::StartWrite(uint64_t id, uint64_t offset, Buffer data,
                            bool fua) {
  const uint64_t length = data->size();
  if (disk_ != DiskState::kUpToDate && !(Replicating() && peer_disk_ == DiskState::kUpToDate)) {
    // No UpToDate copy is reachable (DRBD's on-no-data-accessible io-error):
    // e.g. a Primary still SyncTarget whose source went away. Accepting the
    // write would put it on data the next resync overwrites.
    --counters_.ap;
    FailApp(id, absl::UnavailableError(absl::StrCat(
                    "no UpToDate data: the local disk is ", DiskStateName(disk_), " and the peer ",
                    Replicating() ? absl::StrCat("is ", DiskStateName(peer_disk_))
                                  : std::string("is not connected"))));
    return;
  }
  Request r;
  r.app_id = id;
  r.offset = offset;
  r.length = length;
  r.data = std::move(data);
  r.fua = fua;
  if (HasLocalDisk()) {
    // The extents must be hot in the AL before the data leaves this node or
    // reaches the local disk: after a crash the AL then covers every block
    // that may differ from the peer.
    const uint64_t token = next_token_++;
    r.local_issued = true;
    al_waiting_.emplace(token, std::move(r));
    ready_.al_begin.push_back(AlBegin{token, offset, length});
    return;
  }
  SendAndIssue(std::move(r));
}

void Replicator::AlFailed(uint64_t token, absl::Status status) {
  auto it = al_waiting_.find(token);
  HAFS_CHECK(it != al_waiting_.end()) << "AlFailed for unknown token " << token;
  Request r = std::move(it->second);
  al_waiting_.erase(it);
  // The metadata device failed: detach (whatever the on-io-error policy, as
  // DRBD does); the write then goes to the peer alone, or fails.
  MetadataFailed(
      absl::DataLossError(absl::StrCat("activity-log transaction failed: ", status.message())));
  SendAndIssue(std::move(r));
}

void Replicator::AlAdmitted(uint64_t token) {
  auto it = al_waiting_.find(token);
  HAFS_CHECK(it != al_waiting_.end()) << "AlAdmitted for unknown token " << token;
  Request r = std::move(it->second);
  al_waiting_.erase(it);
  SendAndIssue(std::move(r));
}

void Replicator::SendAndIssue(Request req) {
  if (!req.local_issued || !HasLocalDisk()) {
    SendAndIssueNow(std::move(req), /*gated=*/false);
    return;
  }
  // The Data message is part of the gated operation: a resync read of the
  // same blocks that is already in flight must send its (older) ResyncData
  // before this write's Data, or the SyncTarget would end with old data.
  const uint64_t offset = req.offset, length = req.length;
  Gate(offset, length, [this, req = std::move(req)]() mutable {
    SendAndIssueNow(std::move(req), /*gated=*/true);
  });
}

void Replicator::SendAndIssueNow(Request req, bool gated) {
  // Sequence numbers follow the order in which requests enter the transfer
  // log, which is the order of their Data messages on the wire.
  const uint64_t seq = next_seq_++;
  Request& r = tl_.emplace(seq, std::move(req)).first->second;
  Buffer data = std::move(r.data);
  if (SendsData() && opt_.pull_ahead && opt_.congestion_fill_bytes != 0 &&
      repl_ == ReplState::kEstablished && disk_ == DiskState::kUpToDate &&
      unacked_bytes_ + r.length > opt_.congestion_fill_bytes) {
    repl_ = ReplState::kAhead;
    Log(absl::StrCat("congestion: ", unacked_bytes_,
                     " bytes not yet acknowledged by the peer (congestion-fill ",
                     opt_.congestion_fill_bytes, "): pull-ahead, replication: Ahead"));
    OnlyCurrentCopyHere("pull-ahead");  // the peer goes Behind (Outdated)
    SendState();
  }
  if (SendsData()) {
    peer::MirrorMessage m;
    peer::Data* d = m.mutable_data();
    d->set_seq(seq);
    d->set_epoch(epoch_);
    d->set_offset(r.offset);
    d->set_data(data->data(), r.length);
    d->set_fua(r.fua);
    Send(std::move(m));
    r.epoch = epoch_;
    r.sent = true;
    r.sent_at = now_;
    counters_.ns += r.length / 1024;
    unacked_bytes_ += r.length;
    ++epoch_writes_;
    if (opt_.protocol == Protocol::kA) {
      r.peer_done = true;
      r.peer_accepted = true;
      r.peer_up_to_date = peer_disk_ == DiskState::kUpToDate;
    }
  } else {
    if (!Replicating() && disk_ == DiskState::kUpToDate && persisted_.gi.bitmap == 0) {
      // DRBD 9: a Primary without its peer starts a new generation at its
      // first write (so promoting without writing causes no split brain).
      // Here, where the write is known to miss the peer: a write admitted
      // while connected may get here after the connection dropped. (Ahead:
      // the generation started when the Primary went Ahead.)
      SetGenerations(splitbrain::NewCurrentUuid(persisted_.gi, role_, rng_));
      Log(absl::StrCat("new current UUID at first write without peer: ",
                       persisted_.gi.DebugString()));
    }
    r.peer_done = true;
    r.barrier_acked = true;  // no barrier will come
    // Ahead: the peer learns which blocks it misses (P_OUT_OF_SYNC).
    MarkOutOfSync(r.offset, r.length, /*tell_peer=*/repl_ == ReplState::kAhead);
  }
  if (r.local_issued && HasLocalDisk()) {
    LocalIo io{0, io::IoOp::kWrite, r.offset, r.length, data, r.fua,
               /*hold_al=*/true};
    IoCtx ctx{IoKind::kAppWrite, seq, r.offset, r.length, data};
    ctx.gated = gated;
    IssueNow(std::move(io), std::move(ctx));
  } else {
    if (gated) ReleaseGate(r.offset, r.length);
    // Diskless Primary (or the disk detached while waiting): only the peer
    // can hold the data.
    r.local_done = true;
    if (r.local_issued) {
      r.local_status = absl::UnavailableError("local disk detached");
    } else if (!r.sent) {
      // Neither replicated (Ahead or not connected) nor written locally:
      // the write must fail, never be acknowledged with its data nowhere.
      r.local_status = absl::UnavailableError(
          "no disk holds this write: the local disk is detached and the peer "
          "does not receive writes");
    }
    MaybeCompleteRequest(seq);
  }
  if (epoch_writes_ >= opt_.max_epoch_writes) CloseEpoch();
}

void Replicator::MaybeCompleteRequest(uint64_t seq) {
  auto it = tl_.find(seq);
  if (it == tl_.end()) return;
  Request& r = it->second;
  if (!r.completed && r.local_done && r.peer_done) {
    r.completed = true;
    --counters_.ap;
    absl::Status s = r.local_status;
    const bool peer_holds =
        r.peer_ok || (r.peer_accepted && Replicating() && peer_disk_ == DiskState::kUpToDate);
    if (!s.ok() && r.sent && !r.peer_failed && peer_holds && r.peer_up_to_date) {
      // The peer has it, or under protocol A/B accepted it (DRBD: either
      // part succeeded; RQ_NET_OK is set at the protocol's completion point,
      // so a failed local write of protocol A completes OK once sent, as in
      // drbd_req.c). Should the link drop before the peer confirms it, the
      // next flush reports it (lost_write_seq_). This node's copy is
      // marked out of sync, and its disk detached or is Inconsistent. (Not
      // from a peer that was not UpToDate, e.g. a SyncTarget: the next
      // resync from here would overwrite its copy with this node's stale
      // one.) Under pass_on the disk may have kept its state when the write
      // failed (the peer was not UpToDate yet): it is behind the peer now.
      FallBehindThePeer(r.local_status);
      s = absl::OkStatus();
    }
    const bool peer_may_have_it = r.sent && !r.peer_failed;
    const bool local_counts = r.local_issued && disk_ == DiskState::kUpToDate;
    if (s.ok() && !peer_may_have_it && !local_counts) {
      // Only the peer was to hold it, and it could not (DRBD: neither the
      // local nor the network part succeeded). A local copy on a disk that is
      // not UpToDate (on-io-error pass_on made it Inconsistent) does not
      // count: the next resync towards it overwrites every marked block.
      s = absl::UnavailableError(absl::StrCat(
          "no UpToDate disk is known to hold this write: the local disk is ", DiskStateName(disk_),
          " and the peer ",
          r.sent ? "could not write it, or the connection was lost before it confirmed it"
                 : "did not receive it"));
    }
    r.completed_ok = s.ok();
    ready_.done.push_back(AppDone{r.app_id, std::move(s), nullptr,
                                  r.sent && r.peer_ok});
    // A completed write may be depended on: later writes go to a new epoch.
    if (r.sent) CloseEpoch();
  }
  if (r.completed && r.barrier_acked) {
    if (r.local_issued) ready_.al_release.emplace_back(r.offset, r.length);
    tl_.erase(it);
    MaybeMarkCleanDemotion();
  }
}

void Replicator::CloseEpoch(bool urgent) {
  // Barriers of epochs closed before still waiting to go out: now, and
  // their acks at once too.
  if (urgent) SendDeferred(/*urgent_barriers=*/true);
  if (epoch_writes_ == 0) return;
  peer::MirrorMessage m;
  m.mutable_barrier()->set_epoch(epoch_);
  m.mutable_barrier()->set_writes(epoch_writes_);
  // The Barrier travels with the next write's Data (or at the next tick):
  // the peer flushed the epoch eagerly anyway, and a write that follows in
  // the same frame costs no extra network round of its own.
  if (urgent) {
    m.mutable_barrier()->set_urgent(true);
    Send(std::move(m));
  } else {
    SendLazily(std::move(m));
  }
  epoch_barriers_.emplace(epoch_, epoch_writes_);
  ++epoch_;
  epoch_writes_ = 0;
}

void Replicator::Read(uint64_t id, uint64_t offset, uint64_t length) {
  if (role_ != Role::kPrimary) {
    FailApp(id, absl::FailedPreconditionError(
                    "read refused: this node is Secondary (hint: `hafsctl "
                    "primary` first)"));
    return;
  }
  if (!Aligned(offset, length)) {
    FailApp(id, absl::InvalidArgumentError(absl::StrCat(
                    "read of ", length, " bytes at ", offset,
                    " is not 4096-byte aligned")));
    return;
  }
  if (offset + length > opt_.size_bytes) {
    FailApp(id, absl::OutOfRangeError(absl::StrCat(
                    "read at ", offset, "+", length, " ends past the volume (",
                    opt_.size_bytes, " bytes)")));
    return;
  }
  ++counters_.ap;
  if (CanReadLocally(offset, length)) {
    auto buf = pool_.Get(length);
    IssueNow(LocalIo{0, io::IoOp::kRead, offset, length, buf, false},
             IoCtx{IoKind::kAppRead, id, offset, length, buf});
    return;
  }
  ReadFromPeer(id, offset, length);
}

void Replicator::ReadFromPeer(uint64_t id, uint64_t offset, uint64_t length) {
  if (Replicating() && peer_disk_ == DiskState::kUpToDate) {
    const uint64_t rid = next_remote_read_++;
    remote_reads_.emplace(rid, RemoteRead{id, length});
    peer::MirrorMessage m;
    m.mutable_read_request()->set_id(rid);
    m.mutable_read_request()->set_offset(offset);
    m.mutable_read_request()->set_length(length);
    Send(std::move(m));
    return;
  }
  --counters_.ap;
  FailApp(id, absl::UnavailableError(absl::StrCat(
                  "read at ", offset, ": no UpToDate data (local disk ",
                  DiskStateName(disk_), ", peer ", DiskStateName(peer_disk_),
                  ")")));
}

void Replicator::Flush(uint64_t id) {
  if (role_ != Role::kPrimary) {
    FailApp(id, absl::FailedPreconditionError(
                    "flush refused: this node is Secondary"));
    return;
  }
  if (lost_write_seq_.has_value()) {
    // Reported first: it says more than the refusal below.
    lost_write_seq_.reset();
    FailApp(id, absl::DataLossError(absl::StrCat(
                    "flush failed: writes acknowledged before it are on no UpToDate disk: ",
                    lost_write_why_, ": they may be lost (reported once)")));
    return;
  }
  if (disk_ != DiskState::kUpToDate && !(Replicating() && peer_disk_ == DiskState::kUpToDate)) {
    // Nothing can make the writes durable (DRBD: no data accessible). An OK
    // here would tell the application its data is safe when it may be in a
    // detached disk's volatile cache, or on a disk the next resync overwrites.
    FailApp(id, absl::UnavailableError(absl::StrCat(
                    "flush failed: the local disk is ", DiskStateName(disk_), " and the peer ",
                    Replicating() ? absl::StrCat("is ", DiskStateName(peer_disk_))
                                  : std::string("is not connected"),
                    " (no UpToDate disk can make the writes durable)")));
    return;
  }
  ++counters_.ap;
  // Durable on both nodes: close the epoch so the peer flushes it, and wait
  // for every epoch up to it to be acked, plus a local flush.
  CloseEpoch(/*urgent=*/true);
  AppFlush f;
  f.id = id;
  f.epoch = epoch_ - 1;  // the last closed epoch
  f.next_seq = next_seq_;
  f.with_peer = Replicating() && transport_up_;
  f.conn_gen = conn_gen_;
  f.local_done = !HasLocalDisk();
  const uint64_t fid = next_flush_++;
  flushes_.emplace(fid, f);
  if (HasLocalDisk()) {
    IssueNow(LocalIo{0, io::IoOp::kFlush, 0, 0, nullptr, false},
             IoCtx{IoKind::kAppFlush, fid});
  }
  MaybeCompleteFlushes();
}

void Replicator::MaybeCompleteFlushes() {
  // (Not while LostConnection runs: the epochs it forgot were not acked.)
  const bool replicating = Replicating() && transport_up_;
  const uint64_t oldest_unacked =
      !epoch_barriers_.empty() ? epoch_barriers_.begin()->first : UINT64_MAX;
  for (auto it = flushes_.begin(); it != flushes_.end();) {
    AppFlush& f = it->second;
    // Only the connection the flush's epoch went out on can confirm it (a
    // later one's barriers are newer epochs, and say nothing of it).
    const bool peer_can_confirm = replicating && f.with_peer && f.conn_gen == conn_gen_;
    if (peer_can_confirm && f.epoch < oldest_unacked) f.peer_done = true;
    if (f.local_done && (f.peer_done || !peer_can_confirm)) {
      // If it covers acknowledged writes that no disk holds, it reports their
      // loss (kDataLoss, once), even when both sides confirmed the flush.
      const bool covers_lost = lost_write_seq_.has_value() && f.next_seq > *lost_write_seq_;
      if (f.status.ok() && !f.peer_done && disk_ != DiskState::kUpToDate) {
        // The peer was lost before it confirmed, and the local flush alone
        // makes nothing durable that the next resync keeps: nothing is
        // durable, or writes are lost.
        if (covers_lost) lost_write_seq_.reset();
        f.status = absl::Status(
            covers_lost ? absl::StatusCode::kDataLoss : absl::StatusCode::kUnavailable,
            absl::StrCat("flush failed: the connection was lost before the peer confirmed it, "
                         "and the local disk is ",
                         DiskStateName(disk_), " (no UpToDate disk made the writes durable",
                         covers_lost ? "; acknowledged writes may be lost" : "", ")"));
      } else if (f.status.ok() && covers_lost) {
        lost_write_seq_.reset();
        f.status = absl::DataLossError(
            absl::StrCat("flush failed: writes acknowledged before it are on no UpToDate disk: ",
                         lost_write_why_, ": they may be lost (reported once)"));
      }
      --counters_.ap;
      ready_.done.push_back(AppDone{f.id, f.status, nullptr});
      it = flushes_.erase(it);
    } else {
      ++it;
    }
  }
}

void Replicator::NoteLostIfOnlyThePeerHeldIt(uint64_t seq, const Request& r,
                                             absl::string_view why) {
  if (!r.completed_ok || r.peer_ok) return;
  if (r.local_issued && r.local_done && r.local_status.ok() && disk_ == DiskState::kUpToDate) {
    return;  // this node's own copy holds it
  }
  lost_write_seq_ = std::max(lost_write_seq_.value_or(0), seq);
  lost_write_why_ = std::string(why);
}

// ---------------------------------------------------------------------------
// Administration.

absl::Status Replicator::Promote(bool force) {
  if (role_ == Role::kPrimary) return absl::OkStatus();
  if (Replicating() && peer_role_ == Role::kPrimary) {
    return absl::FailedPreconditionError(
        "the peer is Primary, or still completing its demotion (hint: demote it first, or "
        "retry in a moment; hafs allows one Primary)");
  }
  const bool peer_has_data = Replicating() && peer_disk_ == DiskState::kUpToDate;
  if (disk_ != DiskState::kUpToDate && !force) {
    if (!(disk_ == DiskState::kDiskless && peer_has_data)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to promote: the local disk is ", DiskStateName(disk_),
          " (hint: wait for the resync, or `--force` to declare this node's "
          "data the new truth)"));
    }
  }
  if (repl_ == ReplState::kSyncTarget) {
    return absl::FailedPreconditionError(
        "a resync towards this node is running: its data is incomplete (hint: "
        "wait for it, or disconnect first; `--force` does not apply here)");
  }
  if (force && disk_ == DiskState::kDiskless) {
    return absl::FailedPreconditionError(
        "cannot force a diskless node to Primary: it has no data");
  }
  role_ = Role::kPrimary;
  clean_demotion_pending_ = false;  // a demotion cut short is not clean
  persisted_.crashed_primary = true;
  if (force && disk_ != DiskState::kUpToDate) {
    Log(absl::StrCat("forced promotion with the disk ", DiskStateName(disk_),
                     ": this node's data is now UpToDate"));
    disk_ = DiskState::kUpToDate;
    persisted_.consistent = true;
    persisted_.was_up_to_date = true;
  }
  if (force || Replicating()) {
    // Connected to a peer without a disk, this node's copy is the only one
    // the writes to come reach: a new generation now (DRBD's drbd_set_role,
    // pdsk <= Failed), or the peer's old disk, attached again later, would
    // meet equal identifiers and rule 40 could resync it over them.
    const bool peer_gets_writes = Replicating() && (PeerHasDisk() || !HasLocalDisk());
    SetGenerations(splitbrain::Promote(persisted_.gi, peer_gets_writes, force, rng_));
  } else {
    // Without the peer: set the role bit now, start a new generation at the
    // first write (DRBD 9).
    SetGenerations(splitbrain::Promote(persisted_.gi, /*peer_connected=*/true,
                                       /*force=*/false, rng_));
  }
  persist_dirty_ = true;
  Log("role: Primary");
  SendState();
  if (force && Replicating() && repl_ == ReplState::kEstablished &&
      peer_disk_ == DiskState::kInconsistent) {
    // `primary --force` on a connected pair whose peer has no good data
    // (e.g. both just created): this node's data becomes the reference and
    // a full sync starts at once, as DRBD does.
    Log("forced Primary with an Inconsistent peer: starting a full sync");
    ResyncFromHere(/*full=*/true);
  }
  return absl::OkStatus();
}

absl::Status Replicator::Demote() {
  if (role_ == Role::kSecondary) return absl::OkStatus();
  if (counters_.ap > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        counters_.ap, " application requests are in flight (hint: stop the "
                      "users of the volume first)"));
  }
  role_ = Role::kSecondary;
  SetGenerations(splitbrain::Demote(persisted_.gi));
  persist_dirty_ = true;
  // A clean demotion tells the next handshake that this node lost nothing in
  // a crash and that the peer has its writes. Until both hold, the node still
  // counts as a crashed Primary: its writes must be durable here (the
  // application may not have flushed: they may sit in the disk's volatile
  // cache) and confirmed by the peer (protocol A/B: sent is not written).
  clean_demotion_pending_ = true;
  demote_flush_pending_ = false;  // an earlier demotion's flush no longer counts
  if (HasLocalDisk() && opt_.disk_flushes && persisted_.crashed_primary) {
    demote_flush_pending_ = true;
    IssueNow(LocalIo{0, io::IoOp::kFlush, 0, 0, nullptr, false},
             IoCtx{IoKind::kDemoteFlush, ++demote_flush_id_});
  }
  // The application that could have been told of lost writes is gone: the
  // operator is told instead.
  if (lost_write_seq_.has_value()) {
    Log(
        absl::StrCat("demoted with a loss not yet reported to the application (no flush since): "
                     "writes acknowledged as Primary are on no UpToDate disk: ",
                     lost_write_why_));
    lost_write_seq_.reset();
  }
  MaybeMarkCleanDemotion();
  Log("role: Secondary");
  SendState();
  return absl::OkStatus();
}

void Replicator::SendState() {
  if (!Replicating()) return;
  announced_role_ = AnnouncedRole();
  peer::MirrorMessage m;
  m.mutable_state()->set_role(static_cast<uint32_t>(announced_role_));
  m.mutable_state()->set_disk_state(static_cast<uint32_t>(disk_));
  m.mutable_state()->set_repl_state(static_cast<uint32_t>(repl_));
  Send(std::move(m));
}

void Replicator::Connect(bool discard_my_data, bool tentative) {
  discard_my_data_ = discard_my_data;
  tentative_ = tentative;
  if (conn_ == ConnState::kStandAlone) {
    conn_ = ConnState::kConnecting;
    Log("connection: Connecting");
  }
}

void Replicator::Disconnect() {
  if (conn_ == ConnState::kStandAlone) return;
  if (transport_up_) {
    // Deferred barrier acks go out first (the messages precede the drop).
    SendDeferred(/*urgent_barriers=*/true);
    DropConnection("administrative disconnect");
  }
  conn_ = ConnState::kStandAlone;
  Log("connection: StandAlone (administrative disconnect)");
}

void Replicator::AdjustResync(const ResyncControllerOptions& resync) {
  opt_.resync = resync;
  if (repl_ == ReplState::kSyncSource || repl_ == ReplState::kSyncTarget) {
    controller_ = ResyncController(opt_.resync);
    last_controller_step_ = now_;
  }
  Log(absl::StrCat("adjusted: resync ",
                   opt_.resync.plan_ahead > absl::ZeroDuration()
                       ? absl::StrCat("dynamic, c-plan-ahead ",
                                      absl::FormatDuration(opt_.resync.plan_ahead))
                       : absl::StrCat("fixed at ", opt_.resync.rate_bytes_per_s / 1024, " KiB/s")));
}

void Replicator::AdjustSplitBrain(const splitbrain::SplitBrainPolicy& policy) {
  const splitbrain::WireProtocol protocol = opt_.split_brain.protocol;
  opt_.split_brain = policy;
  opt_.split_brain.protocol = protocol;
  Log("adjusted: split-brain policy (used at the next handshake)");
}

absl::Status Replicator::StartVerify() {
  if (!opt_.verify_enabled) {
    return absl::FailedPreconditionError(
        "online verify is off (hint: set volume.verify_alg: \"xxh3-128\")");
  }
  if (conn_ != ConnState::kConnected || repl_ != ReplState::kEstablished) {
    return absl::FailedPreconditionError(absl::StrCat(
        "online verify needs an Established connection (now ",
        ConnStateName(conn_), "/", ReplStateName(repl_), ")"));
  }
  if (!HasLocalDisk()) {
    return absl::FailedPreconditionError("online verify needs a local disk");
  }
  repl_ = ReplState::kVerifyS;
  verify_cursor_ = 0;
  verify_done_bytes_ = 0;
  verify_mismatch_blocks_ = 0;
  verify_pending_.clear();
  Log("replication: VerifyS (online verify started)");
  PumpVerify();
  return absl::OkStatus();
}

absl::Status Replicator::StartResync(bool full) {
  if (conn_ != ConnState::kConnected || repl_ != ReplState::kEstablished) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a resync needs an Established connection (now ", ConnStateName(conn_),
        "/", ReplStateName(repl_), ")"));
  }
  if (disk_ != DiskState::kUpToDate) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node's disk is ", DiskStateName(disk_),
        "; only an UpToDate node can be the sync source (hint: run it on the "
        "peer)"));
  }
  if (peer_role_ == Role::kPrimary && peer_disk_ != DiskState::kInconsistent) {
    // (A Primary whose disk went Inconsistent, on-io-error pass_on, becomes
    // a SyncTarget, as in DRBD.)
    return absl::FailedPreconditionError(
        "the peer is Primary: its data is the reference (hint: run the resync "
        "on the Primary)");
  }
  if (peer_disk_ < DiskState::kInconsistent || peer_disk_ == DiskState::kDUnknown) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the peer's disk is ", DiskStateName(peer_disk_), ": it cannot be a sync target"));
  }
  if (!full && bitmap_->CountRange(0, num_blocks_) == 0) {
    return absl::FailedPreconditionError(
        "no block is marked out of sync (hint: run `hafsctl verify` first, "
        "or resync --full)");
  }
  ResyncFromHere(full);
  return absl::OkStatus();
}

void Replicator::ResyncFromHere(bool full) {
  peer::MirrorMessage m;
  m.mutable_begin_resync()->set_full(full);
  Send(std::move(m));
  repl_ = ReplState::kEstablished;  // leaving Ahead
  BeginSync(/*source=*/true, full);
}

// ---------------------------------------------------------------------------
// Transport.

void Replicator::TransportUp() {
  transport_up_ = true;
  if (conn_ == ConnState::kStandAlone) {
    DropConnection("StandAlone: not accepting connections");
    return;
  }
  conn_ = ConnState::kHandshaking;
  handshake_started_ = now_;
  last_rx_ = now_;
  peer_handshake_.reset();
  sync_started_ = false;
  peer_bitmap_done_ = false;
  resync_total_blocks_ = 0;
  resync_same_bytes_ = 0;
  Log("connection: Handshaking");
  SendHandshake();
}

void Replicator::TransportDown(absl::string_view reason) {
  if (!transport_up_) return;
  LostConnection(reason);
}

void Replicator::DropConnection(std::string reason) {
  if (!transport_up_) return;
  ready_.drop_connection = true;
  ready_.drop_reason = reason;
  LostConnection(reason);
}

void Replicator::LostConnection(absl::string_view reason) {
  transport_up_ = false;
  linger_until_.reset();
  deferred_.clear();
  ++conn_gen_;
  const bool was_connected = conn_ == ConnState::kConnected;
  Log(absl::StrCat("connection lost (", reason, ")"));
  // Every request the peer has not confirmed durable (barrier ack) may be
  // missing there: mark it out of sync.
  bool marked = false;
  std::vector<uint64_t> seqs;
  for (auto& [seq, r] : tl_) {
    if (r.sent && !r.barrier_acked) {
      MarkOutOfSync(r.offset, r.length, false);
      marked = true;
      NoteLostIfOnlyThePeerHeldIt(
          seq, r,
          absl::StrCat("the peer had not confirmed them (protocol ", ProtocolName(opt_.protocol),
                       ") when the connection was lost, and this node's own copy did not count "
                       "(its disk was Diskless or Inconsistent, or its write failed)"));
    }
    // Not confirmed written by the peer (protocol A/B: sent or received is
    // not written): its copy there does not count for a completion to come.
    if (r.sent && !r.peer_ok) r.peer_failed = true;
    r.barrier_acked = true;
    r.peer_done = true;
    seqs.push_back(seq);
  }
  epoch_barriers_.clear();
  epoch_writes_ = 0;
  unacked_bytes_ = 0;
  ++epoch_;
  for (uint64_t seq : seqs) MaybeCompleteRequest(seq);
  for (auto& [rid, read] : remote_reads_) {
    --counters_.ap;
    FailApp(read.app_id, absl::UnavailableError("read from the peer failed: connection lost"));
  }
  remote_reads_.clear();
  // Secondary side: forget the stream; local writes in flight still finish.
  inbound_.clear();
  finishing_resync_.reset();
  in_epochs_.clear();
  blocked_epoch_ = 0;
  counters_.ua = 0;
  // Resync and verify stop; the bitmap keeps what is left.
  resync_inflight_bytes_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> gates;  // released below
  for (uint64_t off : resync_gated_) gates.emplace_back(off, resync_requested_.at(off));
  resync_gated_.clear();
  resync_requested_.clear();
  resync_failed_.clear();
  verify_pending_.clear();
  // Only a node with its own UpToDate data starts a generation (a Diskless
  // node's identifiers describe a disk it does not have).
  if (was_connected && peer_disk_ >= DiskState::kInconsistent && disk_ == DiskState::kUpToDate) {
    if (marked && persisted_.gi.bitmap == 0) {
      // Writes the peer may miss: this node is ahead, whatever its role now
      // (a Primary demoted with writes unacknowledged is still ahead).
      SetGenerations(splitbrain::NewCurrentUuid(persisted_.gi, role_, rng_));
      Log(absl::StrCat("lost the peer with writes in flight: new current UUID ",
                       persisted_.gi.DebugString()));
    }
    // Otherwise a Primary starts one at its first write without the peer.
  }
  repl_ = ReplState::kOff;
  peer_disk_ = DiskState::kDUnknown;
  peer_handshake_.reset();
  ping_outstanding_.reset();
  if (conn_ != ConnState::kStandAlone) conn_ = ConnState::kConnecting;
  MaybeCompleteFlushes();
  // The application's writes that waited for these requests go on.
  for (const auto& [off, len] : gates) ReleaseGate(off, len);
  ReplayDeferredWrites();
}

void Replicator::ReplayDeferredWrites() {
  std::deque<DeferredWrite> writes;
  writes.swap(deferred_writes_);
  for (DeferredWrite& w : writes) {
    StartWrite(w.id, w.offset, std::move(w.data), w.fua);
  }
}

void Replicator::ProtocolError(absl::string_view what) {
  Log(absl::StrCat("protocol error: ", what));
  DropConnection(absl::StrCat("protocol error: ", what));
}

void Replicator::Receive(peer::MirrorMessage m, peer::Payload payload) {
  if (!transport_up_ || linger_until_.has_value()) return;
  last_rx_ = now_;
  switch (m.body_case()) {
    case peer::MirrorMessage::kPing: {
      peer::MirrorMessage a;
      a.mutable_ping_ack()->set_nonce(m.ping().nonce());
      Send(std::move(a));
      return;
    }
    case peer::MirrorMessage::kPingAck:
      if (ping_outstanding_ && ping_outstanding_->first == m.ping_ack().nonce()) {
        ping_outstanding_.reset();
      }
      return;
    case peer::MirrorMessage::kHandshake:
      OnHandshake(m.handshake());
      return;
    case peer::MirrorMessage::BODY_NOT_SET:
      ProtocolError("empty message");
      return;
    default:
      break;
  }
  if (conn_ != ConnState::kConnected && conn_ != ConnState::kHandshaking) {
    return;  // a late message of a dropped connection
  }
  if (!peer_handshake_) {
    ProtocolError("message before the handshake");
    return;
  }
  inbound_.push_back({std::move(m), std::move(payload)});  // never copied here
  ProcessInbound();
}

void Replicator::ProcessInbound() {
  // Not re-entrant: handling a message can unblock the stream (a write that
  // waited at the gate is issued, PeerWriteIssued); the loop below resumes
  // it, a nested call would handle the front message a second time.
  if (processing_inbound_) return;
  processing_inbound_ = true;
  while (!inbound_.empty() && transport_up_) {
    if (!HandleInbound(inbound_.front())) break;
    if (!inbound_.empty()) inbound_.pop_front();
  }
  processing_inbound_ = false;
}

bool Replicator::HandleInbound(const Inbound& in) {
  const peer::MirrorMessage& m = in.message;
  // Data, ResyncData, ReadReply: the length of the bulk bytes.
  const size_t bulk = peer::BulkBytes(m, in.payload).size();
  switch (m.body_case()) {
    case peer::MirrorMessage::kData: {
      // The epoch before has a write waiting at the gate: this one must not
      // overtake it (nor its flush).
      if (blocked_epoch_ != 0) return false;
      const peer::Data& d = m.data();
      if (!Aligned(d.offset(), bulk) || d.offset() + bulk > opt_.size_bytes) {
        ProtocolError(absl::StrCat("Data seq ", d.seq(), " at ", d.offset(), "+", bulk,
                                   " is misaligned or out of range"));
        return true;
      }
      if (!expected_peer_seq_.has_value() || d.seq() > *expected_peer_seq_) {
        expected_peer_seq_ = d.seq();
      } else {
        ProtocolError(absl::StrCat("Data seq ", d.seq(),
                                   " not after ", *expected_peer_seq_,
                                   " (duplicated or reordered stream)"));
        return true;
      }
      if (!in_epochs_.empty() && d.epoch() < in_epochs_.rbegin()->first) {
        ProtocolError(absl::StrCat("Data of epoch ", d.epoch(),
                                   " after epoch ", in_epochs_.rbegin()->first));
        return true;
      }
      InEpoch& ep = in_epochs_[d.epoch()];
      ++ep.received;
      // The only disk of the pair (DRBD's receive_Data): the peer's own copy
      // of these blocks is stale when its disk comes back.
      if (!PeerHasDisk() && HasLocalDisk()) MarkOutOfSync(d.offset(), bulk, /*tell_peer=*/false);
      counters_.nr += bulk / 1024;
      ++counters_.ua;
      if (opt_.protocol == Protocol::kB) SendAck(d.seq(), peer::ACK_RECEIVED);
      if (!HasLocalDisk()) {
        --counters_.ua;
        ++ep.completed;
        SendAck(d.seq(), peer::ACK_FAILED);
        MaybeFinishEpoch(d.epoch());
        return true;
      }
      Buffer buf = BulkBuffer(in);
      IoCtx ctx{IoKind::kPeerWrite, d.seq(), d.offset(), bulk, buf};
      ctx.epoch = d.epoch();
      ctx.conn_gen = conn_gen_;
      LocalIo io{0, io::IoOp::kWrite, d.offset(), bulk, buf, d.fua()};
      // Write ordering "drain" (no epoch flush): the epoch's first write waits
      // for the earlier epochs' writes to complete; the rest wait for it.
      const bool drain_barrier =
          !opt_.disk_flushes && ep.received == 1 && EarlierEpochsUnwritten(d.epoch());
      io.barrier = drain_barrier;
      const uint64_t epoch = d.epoch();
      IssueGated(std::move(io), std::move(ctx));
      // A barrier held at the gate (it overlaps I/O in flight) must still go
      // to the disk before the epoch's other writes: the stream waits for it
      // (PeerWriteIssued resumes it).
      if (drain_barrier && in_epochs_[epoch].issued == 0) blocked_epoch_ = epoch;
      return true;
    }
    case peer::MirrorMessage::kBarrier: {
      if (blocked_epoch_ != 0) return false;
      const peer::Barrier& b = m.barrier();
      InEpoch& ep = in_epochs_[b.epoch()];
      if (ep.received != b.writes()) {
        ProtocolError(absl::StrCat("Barrier ", b.epoch(), " announces ",
                                   b.writes(), " writes, received ",
                                   ep.received));
        return true;
      }
      ep.barrier_writes = b.writes();
      ep.urgent = b.urgent();
      if (HasLocalDisk() && ep.issued < ep.received) blocked_epoch_ = b.epoch();
      MaybeFinishEpoch(b.epoch());
      return true;
    }
    case peer::MirrorMessage::kBarrierAck: {
      const peer::BarrierAck& a = m.barrier_ack();
      auto it = epoch_barriers_.find(a.epoch());
      if (it == epoch_barriers_.end() || it->second != a.writes() ||
          it != epoch_barriers_.begin()) {
        ProtocolError(absl::StrCat("unexpected BarrierAck for epoch ", a.epoch()));
        return true;
      }
      epoch_barriers_.erase(it);
      std::vector<uint64_t> done;
      for (auto& [seq, r] : tl_) {
        if (r.epoch == a.epoch()) {
          r.peer_done = true;
          if (!r.peer_ok && !r.peer_failed) {
            // Written (and flushed) there: for protocols A and B the first
            // such word from the peer.
            r.peer_ok = true;
            r.peer_up_to_date = peer_disk_ == DiskState::kUpToDate;
          }
          r.barrier_acked = true;
          if (r.sent) unacked_bytes_ -= r.length;
          done.push_back(seq);
        }
      }
      for (uint64_t seq : done) MaybeCompleteRequest(seq);
      MaybeCompleteFlushes();
      if (AnnouncedRole() != announced_role_) SendState();  // a demotion confirmed
      return true;
    }
    case peer::MirrorMessage::kAck: {
      const peer::Ack& a = m.ack();
      auto it = tl_.find(a.seq());
      if (it == tl_.end() || !it->second.sent) {
        ProtocolError(absl::StrCat("Ack for unknown request ", a.seq()));
        return true;
      }
      Request& r = it->second;
      if (a.kind() == peer::ACK_FAILED) {
        r.peer_failed = true;
        NoteLostIfOnlyThePeerHeldIt(
            a.seq(), r,
            absl::StrCat("the peer's write of them failed after it had accepted them (protocol ",
                         ProtocolName(opt_.protocol),
                         "), and this node's own copy did not count (its disk was Diskless or "
                         "Inconsistent, or its write failed)"));
        // The peer marked them itself when its write failed. Telling it again
        // would race a resync: the mark could arrive after its resync write
        // of these blocks cleared them, and after this node, the source,
        // finished.
        MarkOutOfSync(r.offset, r.length, /*tell_peer=*/false);
      } else if (a.kind() == peer::ACK_WRITTEN) {
        r.peer_ok = true;
        r.peer_up_to_date = peer_disk_ == DiskState::kUpToDate;
      } else if (a.kind() == peer::ACK_RECEIVED && opt_.protocol == Protocol::kB &&
                 !r.peer_failed) {
        r.peer_accepted = true;
        r.peer_up_to_date = peer_disk_ == DiskState::kUpToDate;
      }
      const bool completes =
          a.kind() == peer::ACK_FAILED ||
          (opt_.protocol == Protocol::kB && a.kind() == peer::ACK_RECEIVED) ||
          (opt_.protocol == Protocol::kC && a.kind() == peer::ACK_WRITTEN);
      if (completes && !r.peer_done) {
        r.peer_done = true;
        MaybeCompleteRequest(a.seq());
      }
      return true;
    }
    case peer::MirrorMessage::kBitmap:
      OnBitmapChunk(m.bitmap());
      return true;
    case peer::MirrorMessage::kSyncUuid:
      OnSyncUuid(m.sync_uuid().uuid());
      return true;
    case peer::MirrorMessage::kOutOfSync:
      if (!Aligned(m.out_of_sync().offset(), m.out_of_sync().length())) {
        ProtocolError("misaligned OutOfSync");
        return true;
      }
      MarkOutOfSync(m.out_of_sync().offset(), m.out_of_sync().length(), false);
      if (repl_ == ReplState::kSyncTarget) PumpResync();
      return true;
    case peer::MirrorMessage::kResyncRequest: {
      const peer::ResyncRequest& q = m.resync_request();
      if (repl_ != ReplState::kSyncSource || !Aligned(q.offset(), q.length()) ||
          q.offset() + q.length() > opt_.size_bytes) {
        ProtocolError(absl::StrCat("bad ResyncRequest at ", q.offset(), " in ",
                                   ReplStateName(repl_)));
        return true;
      }
      if (!q.digest().empty() &&
          q.digest().size() != q.length() / kBlock * kDigestBytes) {
        ProtocolError("ResyncRequest digest of the wrong size");
        return true;
      }
      auto buf = pool_.Get(q.length());
      IoCtx ctx{IoKind::kResyncRead, 0, q.offset(), q.length(), buf};
      ctx.conn_gen = conn_gen_;
      ctx.digest = q.digest();
      IssueGated(LocalIo{0, io::IoOp::kRead, q.offset(), q.length(), buf, false},
                 std::move(ctx));
      return true;
    }
    case peer::MirrorMessage::kResyncData: {
      const peer::ResyncData& d = m.resync_data();
      auto req = resync_requested_.find(d.offset());
      if (repl_ != ReplState::kSyncTarget || req == resync_requested_.end() ||
          req->second != bulk) {
        ProtocolError(absl::StrCat("unrequested ResyncData at ", d.offset()));
        return true;
      }
      counters_.nr += bulk / 1024;
      controller_.Received(bulk);
      Buffer buf = BulkBuffer(in);
      IoCtx ctx{IoKind::kResyncWrite, 0, d.offset(), bulk, buf};
      ctx.conn_gen = conn_gen_;
      LocalIo io{0, io::IoOp::kWrite, d.offset(), bulk, buf, false};
      if (resync_gated_.erase(d.offset()) > 0) {
        ctx.gated = true;  // the request's gate, released once written
        IssueNow(std::move(io), std::move(ctx));
      } else {
        IssueGated(std::move(io), std::move(ctx));
      }
      return true;
    }
    case peer::MirrorMessage::kResyncInSync: {
      const peer::ResyncInSync& q = m.resync_in_sync();
      if (!TakeResyncRequest(q.offset(), q.length(), "ResyncInSync")) return true;
      resync_same_bytes_ += q.length();
      controller_.Received(q.length());
      bitmap_->ClearRange(q.offset() / kBlock, (q.offset() + q.length()) / kBlock);
      peer::MirrorMessage a;
      a.mutable_resync_ack()->set_offset(q.offset());
      a.mutable_resync_ack()->set_length(q.length());
      Send(std::move(a));
      if (resync_gated_.erase(q.offset()) > 0) ReleaseGate(q.offset(), q.length());
      PumpResync();
      return true;
    }
    case peer::MirrorMessage::kResyncFailed: {
      const peer::ResyncFailed& q = m.resync_failed();
      if (!TakeResyncRequest(q.offset(), q.length(), "ResyncFailed")) return true;
      // The blocks stay marked here and on the source; no ResyncAck.
      resync_failed_.emplace(q.offset(), q.length());
      Log(absl::StrCat("resync: the SyncSource cannot read ", q.length() / kBlock, " block(s) at ",
                       q.offset(), "; they stay out of sync"));
      if (resync_gated_.erase(q.offset()) > 0) ReleaseGate(q.offset(), q.length());
      PumpResync();
      return true;
    }
    case peer::MirrorMessage::kBeginResync:
      if (!HasLocalDisk()) {
        ProtocolError("BeginResync towards a node without a local disk");
        return true;
      }
      if (repl_ != ReplState::kEstablished && repl_ != ReplState::kBehind) {
        ProtocolError(absl::StrCat("BeginResync while ", ReplStateName(repl_)));
        return true;
      }
      if (role_ == Role::kPrimary && disk_ > DiskState::kInconsistent) {
        // The peer's StartResync refuses this; a Primary's good data is never
        // overwritten by a resync it did not ask for.
        ProtocolError(
            absl::StrCat("BeginResync towards a Primary whose disk is ", DiskStateName(disk_)));
        return true;
      }
      if (peer_disk_ != DiskState::kUpToDate) {
        // Only UpToDate data is a sync source (its StartResync and catch-up
        // after Ahead check this too).
        ProtocolError(
            absl::StrCat("BeginResync from a peer whose disk is ", DiskStateName(peer_disk_)));
        return true;
      }
      Log("the peer starts a resync towards this node");
      BeginSync(/*source=*/false, m.begin_resync().full());
      SendState();
      return true;
    case peer::MirrorMessage::kResyncAck:
      if (repl_ != ReplState::kSyncSource) {
        ProtocolError("ResyncAck while not SyncSource");
        return true;
      }
      bitmap_->ClearRange(m.resync_ack().offset() / kBlock,
                          std::min(num_blocks_, (m.resync_ack().offset() +
                                                 m.resync_ack().length()) /
                                                    kBlock));
      MaybeFinishResyncAsSource();
      return true;
    case peer::MirrorMessage::kResyncDone:
      FinishResyncAsTarget(m.resync_done());
      return true;
    case peer::MirrorMessage::kVerifyRequest: {
      const peer::VerifyRequest& q = m.verify_request();
      if (!Aligned(q.offset(), q.length()) ||
          q.offset() + q.length() > opt_.size_bytes || !HasLocalDisk()) {
        ProtocolError("bad VerifyRequest");
        return true;
      }
      if (repl_ == ReplState::kEstablished) {
        repl_ = ReplState::kVerifyT;
        Log("replication: VerifyT");
      }
      auto buf = pool_.Get(q.length());
      IoCtx ctx{IoKind::kVerifyRead, /*ref=*/1, q.offset(), q.length(), buf};
      ctx.conn_gen = conn_gen_;
      IssueGated(LocalIo{0, io::IoOp::kRead, q.offset(), q.length(), buf, false},
                 std::move(ctx));
      return true;
    }
    case peer::MirrorMessage::kVerifyReply:
      OnVerifyReply(m.verify_reply());
      return true;
    case peer::MirrorMessage::kState: {
      const DiskState old_peer_disk = peer_disk_;
      const Role old_peer_role = peer_role_;
      peer_role_ = static_cast<Role>(m.state().role());
      peer_disk_ = static_cast<DiskState>(m.state().disk_state());
      // DRBD: "lost contact to peer's copy of the data".
      const auto holds_data = [](DiskState d) {
        return d == DiskState::kInconsistent || d == DiskState::kConsistent ||
               d == DiskState::kUpToDate;
      };
      if (holds_data(old_peer_disk) && (!PeerHasDisk() || peer_disk_ == DiskState::kOutdated)) {
        OnlyCurrentCopyHere(absl::StrCat("the peer's disk is ", DiskStateName(peer_disk_)));
      } else if (!PeerHasDisk() && old_peer_role == Role::kSecondary &&
                 peer_role_ == Role::kPrimary && HasLocalDisk()) {
        // A Diskless peer promoted: its writes reach this disk alone (DRBD's
        // after_state_ch does the same).
        OnlyCurrentCopyHere("the Diskless peer became Primary");
      }
      if (peer_role_ == Role::kPrimary && role_ == Role::kPrimary) {
        ProtocolError("both nodes are Primary");
      }
      const auto peer_repl = static_cast<ReplState>(m.state().repl_state());
      if (repl_ == ReplState::kVerifyT && peer_repl != ReplState::kVerifyS) {
        repl_ = ReplState::kEstablished;
        Log("replication: Established (online verify finished)");
      }
      if (peer_repl == ReplState::kAhead && repl_ == ReplState::kEstablished) {
        repl_ = ReplState::kBehind;
        // Missing the Primary's newest writes: not a failover candidate
        // until the resync that follows makes it UpToDate again.
        if (disk_ == DiskState::kUpToDate) {
          disk_ = DiskState::kOutdated;
          persisted_.was_up_to_date = false;
          persist_dirty_ = true;
        }
        Log("replication: Behind (the peer is Ahead: pull-ahead), disk: "
            "Outdated");
      }
      return true;
    }
    case peer::MirrorMessage::kReadRequest: {
      const peer::ReadRequest& q = m.read_request();
      if (!Aligned(q.offset(), q.length()) ||
          q.offset() + q.length() > opt_.size_bytes) {
        ProtocolError("bad ReadRequest");
        return true;
      }
      if (disk_ != DiskState::kUpToDate) {
        peer::MirrorMessage r;
        r.mutable_read_reply()->set_id(q.id());
        r.mutable_read_reply()->set_error(
            absl::StrCat("peer disk is ", DiskStateName(disk_)));
        Send(std::move(r));
        return true;
      }
      auto buf = pool_.Get(q.length());
      IoCtx ctx{IoKind::kPeerRead, q.id(), q.offset(), q.length(), buf};
      ctx.conn_gen = conn_gen_;
      IssueNow(LocalIo{0, io::IoOp::kRead, q.offset(), q.length(), buf, false},
               std::move(ctx));
      return true;
    }
    case peer::MirrorMessage::kReadReply: {
      const peer::ReadReply& r = m.read_reply();
      auto it = remote_reads_.find(r.id());
      if (it == remote_reads_.end()) {
        ProtocolError("ReadReply for an unknown request");
        return true;
      }
      const uint64_t app_id = it->second.app_id;
      if (r.error().empty() && bulk != it->second.length) {
        ProtocolError(absl::StrCat("ReadReply ", r.id(), " has ", bulk, " bytes, ",
                                   it->second.length, " were asked for"));
        return true;  // the dropped connection fails the read
      }
      remote_reads_.erase(it);
      --counters_.ap;
      if (!r.error().empty()) {
        FailApp(app_id, absl::UnavailableError(
                            absl::StrCat("read from the peer failed: ", r.error())));
      } else {
        ready_.done.push_back(AppDone{app_id, absl::OkStatus(), BulkBuffer(in)});
      }
      return true;
    }
    default:
      ProtocolError(absl::StrCat("unexpected message type ", m.body_case()));
      return true;
  }
}

void Replicator::SendAck(uint64_t seq, peer::AckKind kind) {
  peer::MirrorMessage m;
  m.mutable_ack()->set_seq(seq);
  m.mutable_ack()->set_kind(kind);
  Send(std::move(m));
}

namespace {
// The Secondary's epoch flush: an ordering barrier (see InEpoch).
LocalIo BarrierFlush() {
  LocalIo io{0, io::IoOp::kFlush, 0, 0, nullptr, false};
  io.barrier = true;
  return io;
}
}  // namespace

bool Replicator::EarlierEpochsUnwritten(uint64_t epoch) const {
  for (const auto& [e, ep] : in_epochs_) {
    if (e >= epoch) break;
    if (ep.completed < ep.received) return true;
  }
  return false;
}

void Replicator::MaybeFinishEpoch(uint64_t epoch) {
  auto it = in_epochs_.find(epoch);
  if (it == in_epochs_.end()) return;
  InEpoch& ep = it->second;
  if (!ep.barrier_writes) return;
  if (!HasLocalDisk()) {
    ep.durable = true;  // nothing to flush; the writes were answered ACK_FAILED
  } else if (!opt_.disk_flushes) {
    // Drained: a non-volatile cache made each completed write durable.
    ep.durable = ep.completed == ep.received;
  } else if (!ep.flushing) {
    if (ep.issued < ep.received) return;  // the flush must follow the last write
    ep.flushing = true;
    if (ep.eager != InEpoch::Eager::kNone && ep.eager_covers == ep.received) {
      // The eager flush (itself a barrier) covers the whole epoch.
      ep.durable = ep.eager == InEpoch::Eager::kDone;
    } else {
      IoCtx ctx{IoKind::kBarrierFlush, epoch};
      ctx.conn_gen = conn_gen_;
      IssueNow(BarrierFlush(), std::move(ctx));
    }
  }
  AckDurableEpochs();
}

void Replicator::MaybeEagerFlush(uint64_t epoch) {
  constexpr int kMaxEagerFlushes = 2;
  auto it = in_epochs_.find(epoch);
  if (it == in_epochs_.end() || !HasLocalDisk() || !opt_.disk_flushes) return;
  InEpoch& ep = it->second;
  if (ep.barrier_writes || ep.completed < ep.received ||
      ep.eager == InEpoch::Eager::kInFlight || ep.eager_count >= kMaxEagerFlushes) {
    return;
  }
  ep.eager = InEpoch::Eager::kInFlight;
  ep.eager_covers = ep.completed;
  ++ep.eager_count;
  IoCtx ctx{IoKind::kBarrierFlush, epoch};
  ctx.conn_gen = conn_gen_;
  ctx.eager = true;
  IssueNow(BarrierFlush(), std::move(ctx));
}

void Replicator::PeerWriteIssued(uint64_t epoch) {
  auto it = in_epochs_.find(epoch);
  if (it == in_epochs_.end()) return;
  ++it->second.issued;
  if (blocked_epoch_ != epoch || it->second.issued < it->second.received) return;
  blocked_epoch_ = 0;
  MaybeFinishEpoch(epoch);  // its flush goes first, then the stream resumes
  ProcessInbound();
}

void Replicator::AckDurableEpochs() {
  while (!in_epochs_.empty()) {
    auto it = in_epochs_.begin();
    const InEpoch& ep = it->second;
    if (!ep.barrier_writes || !ep.durable || ep.completed < ep.received) return;
    peer::MirrorMessage m;
    m.mutable_barrier_ack()->set_epoch(it->first);
    m.mutable_barrier_ack()->set_writes(*ep.barrier_writes);
    // Nobody waits for a plain barrier ack (it releases the primary's
    // transfer log): under protocol C it goes with the next write's Ack (or
    // our next message, or the next tick). Protocols A and B send no Ack
    // after the write, so there it goes at once: the primary's transfer log
    // and congestion accounting (pull-ahead) wait for it.
    if (ep.urgent || opt_.protocol != Protocol::kC) {
      Send(std::move(m));
    } else {
      SendLazily(std::move(m));
    }
    in_epochs_.erase(it);
  }
}

// ---------------------------------------------------------------------------
// Local I/O completions.

void Replicator::IoDone(uint64_t token, absl::Status status) {
  auto it = io_.find(token);
  HAFS_CHECK(it != io_.end()) << "IoDone for unknown token " << token;
  IoCtx ctx = std::move(it->second);
  io_.erase(it);
  --counters_.lo;
  // The gate is released after the completion's effects (e.g. ResyncData)
  // are queued, so that a waiting write's Data cannot overtake them.
  HandleIoDone(ctx, std::move(status));
  if (ctx.gated) ReleaseGate(ctx.offset, ctx.length);
}

void Replicator::HandleIoDone(const IoCtx& ctx, absl::Status status) {
  const bool same_conn = ctx.conn_gen == conn_gen_ && transport_up_;
  if (status.ok()) {
    if (ctx.kind == IoKind::kAppWrite || ctx.kind == IoKind::kPeerWrite ||
        ctx.kind == IoKind::kResyncWrite) {
      counters_.dw += ctx.length / 1024;
    } else if (ctx.kind != IoKind::kAppFlush &&
               ctx.kind != IoKind::kBarrierFlush) {
      counters_.dr += ctx.length / 1024;
    }
  }
  switch (ctx.kind) {
    case IoKind::kAppWrite: {
      auto r = tl_.find(ctx.ref);
      HAFS_CHECK(r != tl_.end()) << "write " << ctx.ref << " not in the TL";
      r->second.local_done = true;
      r->second.local_status = status;
      if (!status.ok()) {
        // The local copy of these blocks is not what the peer has; the peer
        // marks them too, since this node's bitmap may be on the failed disk.
        MarkOutOfSync(ctx.offset, ctx.length, /*tell_peer=*/true);
        LocalDiskFailed(status, DiskFault::kWrite);
      }
      MaybeCompleteRequest(ctx.ref);
      break;
    }
    case IoKind::kAppRead:
      if (status.ok()) {
        --counters_.ap;
        ready_.done.push_back(AppDone{ctx.ref, status, ctx.buf});
      } else {
        // Retried on the peer (DRBD does for every policy); without an
        // UpToDate peer the read fails.
        MarkFailedRead(ctx.offset, ctx.length);
        LocalDiskFailed(status, DiskFault::kRead);
        ReadFromPeer(ctx.ref, ctx.offset, ctx.length);
      }
      break;
    case IoKind::kAppFlush: {
      auto f = flushes_.find(ctx.ref);
      if (f != flushes_.end()) {
        f->second.local_done = true;
        // Only an UpToDate peer's flush (its barrier ack) stands in for the
        // local one.
        if (!status.ok() && !(SendsData() && peer_disk_ == DiskState::kUpToDate)) {
          f->second.status = status;
        }
      }
      // (May drop the connection, which completes flushes: `f` is not used
      // after it.)
      if (!status.ok()) LocalDiskFailed(status, DiskFault::kFlush);
      MaybeCompleteFlushes();
      break;
    }
    case IoKind::kPeerWrite:
      if (!status.ok()) {
        // Marked here too (the Primary marks it at ACK_FAILED): this copy of
        // the blocks is not the Primary's.
        MarkOutOfSync(ctx.offset, ctx.length, /*tell_peer=*/false);
        LocalDiskFailed(status, DiskFault::kWrite);
      }
      if (!same_conn) break;
      --counters_.ua;
      if (opt_.protocol == Protocol::kC || !status.ok()) {
        SendAck(ctx.ref, status.ok() ? peer::ACK_WRITTEN : peer::ACK_FAILED);
      }
      if (auto ep = in_epochs_.find(ctx.epoch); ep != in_epochs_.end()) {
        ++ep->second.completed;
        if (opt_.disk_flushes) {
          MaybeEagerFlush(ctx.epoch);
          AckDurableEpochs();
        } else {
          MaybeFinishEpoch(ctx.epoch);  // durable now if it was the last
        }
      }
      break;
    case IoKind::kDemoteFlush: {
      // An earlier demotion's flush counts for nothing but its failure.
      const bool current = ctx.ref == demote_flush_id_;
      if (current) demote_flush_pending_ = false;
      if (!status.ok()) {
        clean_demotion_pending_ = false;  // not clean: it stays a crashed Primary
        LocalDiskFailed(status, DiskFault::kFlush);
      } else if (current) {
        MaybeMarkCleanDemotion();
      }
      break;
    }
    case IoKind::kResyncFlush: {
      std::optional<peer::ResyncDone> done = std::move(finishing_resync_);
      finishing_resync_.reset();
      if (!status.ok()) {
        LocalDiskFailed(status, DiskFault::kFlush);
        if (same_conn) {
          DropConnection(absl::StrCat("flush at the end of the resync failed: ", status.message()));
        }
        break;
      }
      if (same_conn && done.has_value() && repl_ == ReplState::kSyncTarget) {
        CompleteResyncAsTarget(*done);
      }
      break;
    }
    case IoKind::kBarrierFlush:
      if (!status.ok()) {
        LocalDiskFailed(status, DiskFault::kFlush);
        if (same_conn) {
          DropConnection(absl::StrCat("flush for epoch ", ctx.ref,
                                      " failed: ", status.message()));
        }
        break;
      }
      if (!same_conn) break;
      if (auto ep = in_epochs_.find(ctx.ref); ep != in_epochs_.end()) {
        InEpoch& e = ep->second;
        if (!ctx.eager) {
          e.durable = true;
        } else {
          e.eager = InEpoch::Eager::kDone;
          // The Barrier was waiting for this flush.
          if (e.flushing && e.eager_covers == e.received) e.durable = true;
        }
        AckDurableEpochs();
      }
      break;
    case IoKind::kResyncRead:
      if (!status.ok()) {
        LocalDiskFailed(status, DiskFault::kRead);
        if (!same_conn) break;
        if (repl_ == ReplState::kSyncSource && HasLocalDisk()) {
          // on-io-error pass_on kept the disk: the range stays marked and
          // the resync goes on without it (DRBD's P_NEG_RS_DREPLY); it ends
          // with failed blocks instead of starting over at every connect.
          resync_failed_.emplace(ctx.offset, ctx.length);
          peer::MirrorMessage m;
          m.mutable_resync_failed()->set_offset(ctx.offset);
          m.mutable_resync_failed()->set_length(ctx.length);
          Send(std::move(m));
          Log(absl::StrCat("resync: cannot read ", ctx.length / kBlock, " block(s) at ", ctx.offset,
                           " here (", status.message(), "); they stay out of sync"));
          MaybeFinishResyncAsSource();
        } else {
          DropConnection("resync read failed on the SyncSource");
        }
        break;
      }
      if (same_conn) {
        peer::MirrorMessage m;
        if (!ctx.digest.empty() &&
            BlockDigests(ctx.buf->data(), ctx.length) == ctx.digest) {
          m.mutable_resync_in_sync()->set_offset(ctx.offset);
          m.mutable_resync_in_sync()->set_length(ctx.length);
        } else {
          m.mutable_resync_data()->set_offset(ctx.offset);
          m.mutable_resync_data()->set_data(ctx.buf->data(), ctx.length);
          counters_.ns += ctx.length / 1024;
        }
        Send(std::move(m));
      }
      break;
    case IoKind::kCsumRead: {
      if (!status.ok()) {
        LocalDiskFailed(status, DiskFault::kRead);
        if (same_conn) DropConnection("checksum read failed on the SyncTarget");
        break;
      }
      if (!same_conn || repl_ != ReplState::kSyncTarget) break;
      peer::MirrorMessage m;
      m.mutable_resync_request()->set_offset(ctx.offset);
      m.mutable_resync_request()->set_length(ctx.length);
      m.mutable_resync_request()->set_digest(BlockDigests(ctx.buf->data(), ctx.length));
      Send(std::move(m));
      break;
    }
    case IoKind::kResyncWrite:
      if (!status.ok()) {
        LocalDiskFailed(status, DiskFault::kWrite);
        if (same_conn) DropConnection("resync write failed on the SyncTarget");
        break;
      }
      if (!same_conn) break;
      bitmap_->ClearRange(ctx.offset / kBlock, (ctx.offset + ctx.length) / kBlock);
      resync_requested_.erase(ctx.offset);
      resync_inflight_bytes_ -= ctx.length;
      {
        peer::MirrorMessage m;
        m.mutable_resync_ack()->set_offset(ctx.offset);
        m.mutable_resync_ack()->set_length(ctx.length);
        Send(std::move(m));
      }
      PumpResync();
      break;
    case IoKind::kVerifyRead: {
      if (!status.ok()) {
        MarkFailedRead(ctx.offset, ctx.length);
        LocalDiskFailed(status, DiskFault::kRead);
        if (same_conn) DropConnection("verify read failed");
        break;
      }
      if (!same_conn) break;
      std::string digest = BlockDigests(ctx.buf->data(), ctx.length);
      if (ctx.ref == 1) {  // answering the peer's VerifyRequest
        peer::MirrorMessage m;
        m.mutable_verify_reply()->set_offset(ctx.offset);
        m.mutable_verify_reply()->set_length(ctx.length);
        m.mutable_verify_reply()->set_digest(digest);
        Send(std::move(m));
      } else {
        VerifySlot& slot = verify_pending_[ctx.offset];
        slot.length = ctx.length;
        slot.local = std::move(digest);
        CompareVerifySlot(ctx.offset);
      }
      break;
    }
    case IoKind::kPeerRead: {
      if (!same_conn) break;
      peer::MirrorMessage m;
      m.mutable_read_reply()->set_id(ctx.ref);
      if (status.ok()) {
        m.mutable_read_reply()->set_data(ctx.buf->data(), ctx.length);
      } else {
        MarkFailedRead(ctx.offset, ctx.length);
        LocalDiskFailed(status, DiskFault::kRead);
        m.mutable_read_reply()->set_error(std::string(status.message()));
      }
      Send(std::move(m));
      break;
    }
  }
}

void Replicator::FallBehindThePeer(const absl::Status& error) {
  if (!HasLocalDisk() || disk_ <= DiskState::kInconsistent) return;
  disk_ = DiskState::kInconsistent;
  persisted_.consistent = false;
  persist_dirty_ = true;
  disk_error_ = std::string(error.message());
  Log("disk: Inconsistent (on-io-error pass_on: the failed blocks are marked out of sync; "
      "`hafsctl resync` on the peer, or a reconnect, repairs them)");
  SendState();
}

void Replicator::MetadataFailed(const absl::Status& status) {
  LocalDiskFailed(status, DiskFault::kMetadata);
}

void Replicator::MarkFailedRead(uint64_t offset, uint64_t length) {
  if (opt_.on_io_error == OnIoError::kPassOn && HasLocalDisk()) {
    MarkOutOfSync(offset, length, /*tell_peer=*/true);
  }
}

bool Replicator::CanReadLocally(uint64_t offset, uint64_t length) const {
  if (disk_ == DiskState::kUpToDate) return true;
  if (disk_ != DiskState::kInconsistent) return false;
  const uint64_t first = offset / kBlock;
  return bitmap_->CountRange(first, first + (length + kBlock - 1) / kBlock) == 0;
}

void Replicator::LocalDiskFailed(const absl::Status& s, DiskFault fault) {
  if (!HasLocalDisk()) return;
  const bool metadata = fault == DiskFault::kMetadata;
  Log(absl::StrCat(metadata ? "metadata" : "local", " I/O error: ", s.message()));
  if (opt_.on_io_error == OnIoError::kCallLocalIoError) {
    ready_.handlers.push_back("local-io-error");  // once per attach: it detaches below
  }
  // pass_on covers errors of known blocks; a failed flush may have lost any
  // write since the last one (which, nobody knows), a metadata error the
  // record of the disk's state: both detach.
  const bool pass_on = opt_.on_io_error == OnIoError::kPassOn &&
                       (fault == DiskFault::kRead || fault == DiskFault::kWrite);
  if (pass_on) {
    // The failed blocks are marked (by the caller). With an UpToDate peer
    // that has them (a write it took, a block it can read), this disk as a
    // whole is behind it until a resync repaired them: it must neither be
    // promoted nor be a sync source, also after a restart, and it is the
    // target of the repair (DRBD: disk Inconsistent, MDF_CONSISTENT
    // cleared). Without such a peer this disk is still the best copy there
    // is (the application saw the error; a failed write may leave old data):
    // hafs keeps its state, where DRBD's Inconsistent would have the next
    // handshake resync the peer's older data over all of it.
    // (An Ahead Primary's peer misses its latest writes, whatever state it
    // announced last: SendsData() is false then.)
    if (SendsData() && peer_disk_ == DiskState::kUpToDate) FallBehindThePeer(s);
  } else {
    disk_ = DiskState::kDiskless;
    exposed_uuid_ = persisted_.gi.current;  // the generation the application saw
    disk_error_ = std::string(s.message());
    Log(absl::StrCat("disk: Diskless (",
                     metadata ? std::string("metadata I/O error")
                     : fault == DiskFault::kFlush
                         ? std::string("a flush failed")
                         : absl::StrCat("on-io-error ", OnIoErrorName(opt_.on_io_error)),
                     ")"));
    SendState();
  }
  // (A failed read under pass_on changed no data: the resync goes on, and
  // rewrites the marked blocks, wrapping around if it passed them.)
  if ((repl_ == ReplState::kSyncSource || repl_ == ReplState::kSyncTarget ||
       repl_ == ReplState::kAhead) &&
      !(pass_on && fault == DiskFault::kRead)) {
    // A resync needs both disks: a source without one has nothing to send
    // (nor has an Ahead Primary for its catch-up), a target nowhere to write
    // (and must never end up "UpToDate"); the next connection is then a
    // diskless one, without a resync decision. Under pass_on the blocks just
    // marked out of sync may be ones the resync already passed, or has in
    // flight (a ResyncAck would clear the new mark): the next connection
    // resumes from both bitmaps, marks included. The resync stops here; the
    // target stays Inconsistent or Outdated.
    DropConnection(absl::StrCat("the ", ReplStateName(repl_), "'s disk ",
                                HasLocalDisk() ? "failed" : "detached", ": ", s.message()));
  }
}

// ---------------------------------------------------------------------------
// Handshake.

void Replicator::SendHandshake() {
  peer::MirrorMessage m;
  peer::VolumeHandshake* h = m.mutable_handshake();
  h->set_size_bytes(opt_.size_bytes);
  // A Diskless node has no data of its own: it names the generation it
  // exposes (see OnHandshake).
  h->set_current_uuid(HasLocalDisk() ? persisted_.gi.current : exposed_uuid_);
  h->set_bitmap_uuid(persisted_.gi.bitmap);
  for (uint64_t u : persisted_.gi.history) h->add_history_uuids(u);
  uint64_t flags = 0;
  if (discard_my_data_) flags |= splitbrain::kUuidFlagDiscardMyData;
  if (crashed_at_attach_) flags |= splitbrain::kUuidFlagCrashedPrimary;
  if (disk_ == DiskState::kInconsistent) flags |= splitbrain::kUuidFlagInconsistent;
  h->set_uuid_flags(flags);
  h->set_bitmap_bits_set(bitmap_->CountRange(0, num_blocks_));
  h->set_disk_state(static_cast<uint32_t>(disk_));
  h->set_role(static_cast<uint32_t>(role_));
  h->set_protocol(std::string(ProtocolName(opt_.protocol)));
  h->set_discard_my_data(discard_my_data_);
  h->set_tentative(tentative_);
  h->set_resolve_conflicts(
      splitbrain::ResolvesConflicts(opt_.node_id, opt_.peer_node_id));
  Send(std::move(m));
}

void Replicator::OnHandshake(const peer::VolumeHandshake& h) {
  if (conn_ != ConnState::kHandshaking || peer_handshake_) {
    ProtocolError("unexpected handshake");
    return;
  }
  if (h.protocol() != ProtocolName(opt_.protocol)) {
    Log(absl::StrCat("handshake refused: this node uses protocol ",
                     ProtocolName(opt_.protocol), ", the peer uses ",
                     h.protocol(), " (hint: set the same volume.protocol on both)"));
    conn_ = ConnState::kStandAlone;
    DropConnection("protocol mismatch");
    return;
  }
  if (h.size_bytes() != opt_.size_bytes) {
    Log(absl::StrCat("handshake refused: volume size ", opt_.size_bytes,
                     " bytes here, ", h.size_bytes(),
                     " on the peer (hint: both replicas need the same size)"));
    conn_ = ConnState::kStandAlone;
    DropConnection("size mismatch");
    return;
  }
  if (h.history_uuids_size() < splitbrain::kHistorySize) {
    ProtocolError("handshake with too few history UUIDs");
    return;
  }
  peer_handshake_ = h;
  const DiskState handshake_peer_disk = static_cast<DiskState>(h.disk_state());
  if (!HasLocalDisk() || handshake_peer_disk == DiskState::kDiskless ||
      handshake_peer_disk == DiskState::kFailed) {
    // A Diskless side has no data to compare (its identifiers describe a
    // disk it does not have): the pair connects without a resync, as DRBD's
    // diskless client does, and the side with a disk serves both. (Deciding
    // by the identifiers would make a detached node a SyncTarget of a disk
    // that failed.)
    peer_role_ = static_cast<Role>(h.role());
    peer_disk_ = handshake_peer_disk;
    if (peer_role_ == Role::kPrimary && role_ == Role::kPrimary) {
      ProtocolError("both nodes are Primary");
      return;
    }
    // A Diskless Primary exposes the data of its last generation: it may
    // only use a disk that holds that generation (DRBD: "Can only connect to
    // data with current UUID=..."), or the application would see its
    // recent writes vanish.
    // The disk qualifies if its data is that generation or descends from
    // it (the peer starts a new generation when its Primary goes Diskless).
    const auto descends_from = [](uint64_t exposed, uint64_t current, uint64_t bitmap,
                                  absl::Span<const uint64_t> history) {
      const auto same = [](uint64_t a, uint64_t b) { return (a | 1) == (b | 1); };
      if (exposed == 0 || same(exposed, current) || same(exposed, bitmap)) return true;
      for (uint64_t u : history) {
        if (u != 0 && same(exposed, u)) return true;
      }
      return false;
    };
    const bool diskless_primary_here = !HasLocalDisk() && role_ == Role::kPrimary;
    const bool diskless_primary_there = HasLocalDisk() && peer_role_ == Role::kPrimary;
    const bool qualifies =
        diskless_primary_here
            ? descends_from(exposed_uuid_, h.current_uuid(), h.bitmap_uuid(),
                            absl::MakeConstSpan(h.history_uuids().data(), h.history_uuids_size()))
            : !diskless_primary_there ||
                  descends_from(h.current_uuid(), persisted_.gi.current, persisted_.gi.bitmap,
                                absl::MakeConstSpan(persisted_.gi.history));
    if (!qualifies) {
      last_handshake_ = absl::StrCat(
          diskless_primary_here ? "this node is a Diskless Primary"
                                : "the peer is a Diskless Primary",
          ": it can only use data of its own generation (",
          absl::Hex(diskless_primary_here ? exposed_uuid_ : h.current_uuid()),
          ") or newer, and the disk ", diskless_primary_here ? "there" : "here", " holds ",
          absl::Hex(diskless_primary_here ? h.current_uuid() : persisted_.gi.current),
          " (hint: attach the Primary's disk again, or demote it and promote a node whose "
          "data is current)");
      Log(absl::StrCat("handshake refused: ", last_handshake_));
      conn_ = ConnState::kStandAlone;
      linger_reason_ = "handshake: a Diskless Primary cannot use this data";
      linger_until_ = now_ + std::max(opt_.ping_timeout, absl::Milliseconds(100));
      ReplayDeferredWrites();
      return;
    }
    last_handshake_ = HasLocalDisk()
                          ? "no resync: the peer is Diskless; this node's disk serves both"
                          : "no resync: this node is Diskless; the peer's disk serves both";
    Log(absl::StrCat("handshake: ", last_handshake_));
    if (!HasLocalDisk()) exposed_uuid_ = h.current_uuid();  // the data it uses now
    const auto same = [](uint64_t a, uint64_t b) { return (a | 1) == (b | 1); };
    if (HasLocalDisk() && disk_ == DiskState::kUpToDate &&
        !same(h.current_uuid(), persisted_.gi.current) &&
        descends_from(persisted_.gi.current, h.current_uuid(), h.bitmap_uuid(),
                      absl::MakeConstSpan(h.history_uuids().data(), h.history_uuids_size()))) {
      // The Diskless peer last used data newer than this disk (written while
      // this node's copy was away): this disk is Outdated until that data
      // returns, so it is no failover candidate (DRBD would outdate it by
      // fencing).
      disk_ = DiskState::kOutdated;
      persisted_.was_up_to_date = false;
      persist_dirty_ = true;
      Log(absl::StrCat("disk: Outdated: the Diskless peer last used generation ",
                       absl::Hex(h.current_uuid()), ", newer than this disk's ",
                       absl::Hex(persisted_.gi.current),
                       " (hint: attach the peer's disk again; it holds the newest data)"));
    }
    discard_my_data_ = false;
    conn_ = ConnState::kConnected;
    expected_peer_seq_.reset();
    repl_ = ReplState::kEstablished;
    Log("connection: Connected, replication: Established");
    if (HasLocalDisk()) OnlyCurrentCopyHere("the peer is Diskless");
    SendState();
    ReplayDeferredWrites();
    return;
  }
  splitbrain::NodeState self;
  self.gi = persisted_.gi;
  self.role = role_;
  self.disk = disk_;
  self.crashed_primary = crashed_at_attach_;
  self.bitmap_bits = bitmap_->CountRange(0, num_blocks_);
  self.discard_my_data = discard_my_data_;
  self.dry_run = tentative_;
  self.can_demote = counters_.ap == 0;
  self.name = opt_.node_name;
  splitbrain::NodeState peer;
  peer.gi.current = h.current_uuid();
  peer.gi.bitmap = h.bitmap_uuid();
  for (int i = 0; i < splitbrain::kHistorySize; ++i) {
    peer.gi.history[i] = h.history_uuids(i);
  }
  peer.role = static_cast<Role>(h.role());
  peer.disk = static_cast<DiskState>(h.disk_state());
  peer.crashed_primary = h.uuid_flags() & splitbrain::kUuidFlagCrashedPrimary;
  peer.bitmap_bits = h.bitmap_bits_set();
  peer.discard_my_data = h.discard_my_data();
  peer.dry_run = h.tentative();
  peer.name = opt_.peer_name;
  splitbrain::SplitBrainPolicy policy = opt_.split_brain;
  policy.protocol = opt_.protocol;
  splitbrain::HandshakeDecision d = splitbrain::SyncHandshake(
      self, peer, splitbrain::ResolvesConflicts(opt_.node_id, opt_.peer_node_id),
      policy);
  last_handshake_ = d.explanation;
  Log(absl::StrCat("handshake: ", splitbrain::OutcomeName(d.outcome),
                   " by rule ", d.rule, ": ", d.explanation));
  for (splitbrain::Handler handler : d.handlers) {
    if (!d.dry_run) {
      ready_.handlers.push_back(std::string(splitbrain::HandlerName(handler)));
    }
  }
  peer_role_ = peer.role;
  peer_disk_ = peer.disk;
  if (d.dry_run || !d.connects()) {
    conn_ = d.outcome == splitbrain::Outcome::kRetryConnect
                ? ConnState::kConnecting
                : ConnState::kStandAlone;
    // Linger before closing so that the peer receives our handshake and
    // reaches (and logs) its own decision; it normally closes first.
    linger_reason_ = d.dry_run ? "tentative connect: decision reported only"
                               : absl::StrCat("handshake: ",
                                              splitbrain::OutcomeName(d.outcome));
    linger_until_ = now_ + std::max(opt_.ping_timeout, absl::Milliseconds(100));
    ReplayDeferredWrites();
    return;
  }
  if (d.self_fixed) SetGenerations(*d.self_fixed);
  if (d.demote_self && role_ == Role::kPrimary) {
    role_ = Role::kSecondary;
    persisted_.crashed_primary = false;
    SetGenerations(splitbrain::Demote(persisted_.gi));
    Log("role: Secondary (split-brain victim)");
  }
  discard_my_data_ = false;
  conn_ = ConnState::kConnected;
  expected_peer_seq_.reset();
  switch (d.outcome) {
    case splitbrain::Outcome::kNoSync:
      if (bitmap_->CountRange(0, num_blocks_) > 0 || peer.bitmap_bits > 0) {
        // Never clear a non-empty bitmap on a no-sync decision: resync the
        // marked blocks from the Primary (or the tie-break winner).
        const bool source =
            role_ == Role::kPrimary ||
            (peer.role != Role::kPrimary &&
             !splitbrain::ResolvesConflicts(opt_.node_id, opt_.peer_node_id));
        Log(absl::StrCat("no-sync by rule ", d.rule,
                         ", but the bitmaps hold out-of-sync blocks (",
                         bitmap_->Count(), " here, ", peer.bitmap_bits,
                         " on the peer): resyncing them as ",
                         source ? "SyncSource" : "SyncTarget"));
        BeginSync(source, /*full=*/false);
      } else {
        repl_ = ReplState::kEstablished;
        CrashHandled();
        Log("connection: Connected, replication: Established");
      }
      break;
    case splitbrain::Outcome::kBitmapSyncSource:
      BeginSync(true, false);
      break;
    case splitbrain::Outcome::kBitmapSyncTarget:
      BeginSync(false, false);
      break;
    case splitbrain::Outcome::kFullSyncSource:
      BeginSync(true, true);
      break;
    case splitbrain::Outcome::kFullSyncTarget:
      BeginSync(false, true);
      break;
    default:
      ProtocolError("unhandled handshake outcome");
      return;
  }
  SendState();
  ReplayDeferredWrites();
}

void Replicator::BeginSync(bool source, bool full) {
  repl_ = source ? ReplState::kSyncSource : ReplState::kSyncTarget;
  resync_started_ = now_;
  peer_bitmap_done_ = false;
  resync_cursor_ = 0;
  HAFS_CHECK(resync_gated_.empty()) << "gated resync requests outlived their connection";
  resync_requested_.clear();
  resync_failed_.clear();
  resync_inflight_bytes_ = 0;
  resync_same_bytes_ = 0;
  resync_total_blocks_ = 0;
  controller_ = ResyncController(opt_.resync);
  last_controller_step_ = now_;
  resync_budget_ = controller_.Step(0);
  if (full) bitmap_->SetRange(0, num_blocks_);
  Log(absl::StrCat("connection: Connected, replication: ", ReplStateName(repl_),
                   full ? " (full sync)" : " (bitmap-based)"));
  SendBitmap();
  if (source) {
    splitbrain::SyncStart s = splitbrain::StartResyncAsSource(persisted_.gi, rng_);
    SetGenerations(s.gi);
    peer::MirrorMessage m;
    m.mutable_sync_uuid()->set_uuid(s.sync_uuid);
    Send(std::move(m));
    peer_disk_ = DiskState::kInconsistent;
  } else {
    if (disk_ != DiskState::kInconsistent) {
      disk_ = DiskState::kInconsistent;
      persisted_.consistent = false;
      persist_dirty_ = true;
      Log("disk: Inconsistent (SyncTarget)");
    }
  }
}

void Replicator::SendBitmap() {
  // Run-length encoding: alternating clear/set run lengths from bit 0.
  peer::MirrorMessage m;
  peer::BitmapChunk* c = m.mutable_bitmap();
  c->set_first_bit(0);
  uint64_t pos = 0;
  while (pos < num_blocks_) {
    meta::Bitmap::Run run = bitmap_->NextRun(pos);
    uint64_t start = run.length == 0 ? num_blocks_ : std::min(run.start, num_blocks_);
    uint64_t end = std::min(run.end(), num_blocks_);
    if (run.length == 0 || start >= num_blocks_) {
      c->add_runs(num_blocks_ - pos);
      pos = num_blocks_;
      break;
    }
    c->add_runs(start - pos);
    c->add_runs(end - start);
    pos = end;
    if (static_cast<size_t>(c->runs_size()) >= kMaxRunsPerChunk && pos < num_blocks_) {
      Send(std::move(m));
      m = peer::MirrorMessage();
      c = m.mutable_bitmap();
      c->set_first_bit(pos);
    }
  }
  c->set_last(true);
  Send(std::move(m));
}

void Replicator::OnBitmapChunk(const peer::BitmapChunk& c) {
  if (repl_ != ReplState::kSyncSource && repl_ != ReplState::kSyncTarget) {
    ProtocolError("bitmap outside a resync");
    return;
  }
  uint64_t pos = c.first_bit();
  bool set = false;
  for (uint64_t len : c.runs()) {
    if (len > num_blocks_ - std::min(pos, num_blocks_)) {
      ProtocolError("bitmap chunk runs past the volume");
      return;
    }
    if (set) bitmap_->SetRange(pos, pos + len);
    pos += len;
    set = !set;
  }
  if (!c.last()) return;
  peer_bitmap_done_ = true;
  resync_total_blocks_ = bitmap_->CountRange(0, num_blocks_);
  counters_.oos = resync_total_blocks_ * (kBlock / 1024);
  if (repl_ == ReplState::kSyncTarget) {
    resync_cursor_ = 0;
    PumpResync();
  } else {
    MaybeFinishResyncAsSource();
  }
}

void Replicator::OnSyncUuid(uint64_t uuid) {
  if (repl_ != ReplState::kSyncTarget) {
    ProtocolError("SyncUuid while not SyncTarget");
    return;
  }
  SetGenerations(splitbrain::ReceiveSyncUuid(persisted_.gi, uuid, role_));
}

// ---------------------------------------------------------------------------
// Resync.

void Replicator::PumpResync() {
  if (repl_ != ReplState::kSyncTarget || !peer_bitmap_done_ || !transport_up_) {
    return;
  }
  const uint64_t max_blocks = std::max<uint64_t>(1, opt_.resync_request_bytes / kBlock);
  const bool unlimited = controller_.unlimited();
  bool wrapped = false;
  while (resync_inflight_bytes_ < opt_.resync_max_inflight_bytes) {
    meta::Bitmap::Run run = bitmap_->NextRun(resync_cursor_);
    if (run.length == 0 || run.start >= num_blocks_) {
      // Bits set behind the cursor (OutOfSync during the resync): go round
      // again once nothing is in flight.
      if (!wrapped && resync_inflight_bytes_ == 0 &&
          bitmap_->CountRange(0, num_blocks_) > FailedBlocksMarked()) {
        resync_cursor_ = 0;
        wrapped = true;
        continue;
      }
      break;
    }
    // What the source could not read is not asked for again in this resync.
    const auto next = resync_failed_.upper_bound(run.start * kBlock);
    if (next != resync_failed_.begin()) {
      const auto& [offset, bytes] = *std::prev(next);
      if (run.start * kBlock < offset + bytes) {
        resync_cursor_ = (offset + bytes) / kBlock;
        continue;
      }
    }
    const uint64_t next_failed = next != resync_failed_.end() ? next->first / kBlock : num_blocks_;
    uint64_t blocks =
        std::min({run.length, max_blocks, num_blocks_ - run.start, next_failed - run.start});
    const uint64_t offset = run.start * kBlock;
    if (resync_requested_.count(offset)) {  // already requested
      resync_cursor_ = run.start + blocks;
      continue;
    }
    if (!unlimited) {
      // Shrink the request to what the controller allows this step.
      blocks = std::min(blocks, resync_budget_ / kBlock);
      if (blocks == 0) break;
    }
    const uint64_t bytes = blocks * kBlock;
    if (!unlimited) resync_budget_ -= bytes;
    resync_requested_.emplace(offset, bytes);
    resync_inflight_bytes_ += bytes;
    resync_cursor_ = run.start + blocks;
    if (role_ != Role::kPrimary) {
      RequestResync(offset, bytes, /*gate_held=*/false);
      continue;
    }
    // A Primary SyncTarget (its disk went Inconsistent) also takes the
    // application's writes. One of these blocks written here after the
    // request left would reach the source after the source read them for
    // the request: the older resync data would then land over it. So the
    // request holds the gate of its range until its data is written; the
    // application's write (and its Data) waits (DRBD: resync extents exclude
    // activity-log extents).
    Gate(offset, bytes, [this, gen = conn_gen_, offset, bytes] {
      if (gen != conn_gen_) {  // the connection dropped meanwhile
        ReleaseGate(offset, bytes);
        return;
      }
      resync_gated_.insert(offset);
      RequestResync(offset, bytes, /*gate_held=*/true);
    });
  }
}

void Replicator::RequestResync(uint64_t offset, uint64_t bytes, bool gate_held) {
  if (opt_.csum_resync && HasLocalDisk()) {
    // Read our copy first; the request carries its digests.
    auto buf = pool_.Get(bytes);
    IoCtx ctx{IoKind::kCsumRead, 0, offset, bytes, buf};
    ctx.conn_gen = conn_gen_;
    LocalIo io{0, io::IoOp::kRead, offset, bytes, buf, false};
    if (gate_held) {
      IssueNow(std::move(io), std::move(ctx));
    } else {
      IssueGated(std::move(io), std::move(ctx));
    }
    return;
  }
  peer::MirrorMessage m;
  m.mutable_resync_request()->set_offset(offset);
  m.mutable_resync_request()->set_length(bytes);
  Send(std::move(m));
}

bool Replicator::TakeResyncRequest(uint64_t offset, uint64_t length, absl::string_view what) {
  auto req = resync_requested_.find(offset);
  if (repl_ != ReplState::kSyncTarget || req == resync_requested_.end() || req->second != length) {
    ProtocolError(absl::StrCat("unrequested ", what, " at ", offset));
    return false;
  }
  resync_requested_.erase(req);
  resync_inflight_bytes_ -= length;
  return true;
}

uint64_t Replicator::FailedBlocksMarked() const {
  uint64_t n = 0;
  for (const auto& [offset, bytes] : resync_failed_) {
    n += bitmap_->CountRange(offset / kBlock, (offset + bytes) / kBlock);
  }
  return n;
}

void Replicator::MaybeFinishResyncAsSource() {
  if (repl_ != ReplState::kSyncSource || !peer_bitmap_done_) return;
  const uint64_t failed = FailedBlocksMarked();
  if (bitmap_->CountRange(0, num_blocks_) != failed) return;
  peer::MirrorMessage m;
  peer::ResyncDone* d = m.mutable_resync_done();
  d->set_current_uuid(persisted_.gi.current);
  d->set_bitmap_uuid(persisted_.gi.bitmap);
  for (uint64_t u : persisted_.gi.history) d->add_history_uuids(u);
  d->set_failed_blocks(failed);
  Send(std::move(m));
  if (failed > 0) {
    // DRBD's drbd_resync_finished with rs_failed: no generation changes;
    // this disk stays UpToDate, the peer's Inconsistent, the blocks marked.
    repl_ = ReplState::kEstablished;
    Log(absl::StrCat("resync finished with ", failed,
                     " failed block(s) (SyncSource): replication: Established, the peer "
                     "stays Inconsistent"));
    return;
  }
  SetGenerations(splitbrain::FinishResyncAsSource(persisted_.gi));
  repl_ = ReplState::kEstablished;
  // The target is UpToDate once its resync writes are durable: its State
  // says so (until then it is still Inconsistent, and e.g. a pass_on error
  // here must not count on its copy).
  CrashHandled();
  persisted_.peer_outdated = false;
  persist_dirty_ = true;
  Log("resync finished (SyncSource): replication: Established");
}

void Replicator::FinishResyncAsTarget(const peer::ResyncDone& d) {
  if (repl_ != ReplState::kSyncTarget) {
    ProtocolError("ResyncDone while not SyncTarget");
    return;
  }
  uint64_t failed = FailedBlocksMarked();
  if (bitmap_->CountRange(0, num_blocks_) != failed || resync_inflight_bytes_ != 0) {
    ProtocolError(absl::StrCat("ResyncDone with ", bitmap_->Count(),
                               " blocks still out of sync here, ", failed, " of them failed"));
    return;
  }
  // (The two counts may differ by a failed block an application write
  // cleared here but not yet on the source: either one makes the resync
  // fail, as the source's generations stay as they are.)
  if (failed > 0 || d.failed_blocks() > 0) {
    failed = std::max(failed, d.failed_blocks());
    // The source could not read them: this disk stays Inconsistent with its
    // generations as they are; the next resync (a reconnect, or `hafsctl
    // resync` on the peer) takes up the blocks still marked.
    repl_ = ReplState::kEstablished;
    disk_error_ = absl::StrCat(
        "the resync ended with ", failed,
        " block(s) the peer could not read; they stay out of sync here (hint: repair or "
        "replace the peer's disk, or overwrite those blocks, then run `hafsctl resync` on "
        "the peer)");
    Log(absl::StrCat("resync finished with ", failed,
                     " failed block(s) (SyncTarget): disk stays Inconsistent, replication: "
                     "Established"));
    SendState();
    return;
  }
  if (opt_.disk_flushes && HasLocalDisk()) {
    // The resync writes may still sit in the disk's volatile cache: flush
    // before this node calls its data UpToDate (after a power loss it would
    // otherwise come back UpToDate without them, and could even be chosen as
    // a sync source). Data keeps flowing meanwhile; the state changes when
    // the flush completes.
    finishing_resync_ = d;
    IoCtx ctx{IoKind::kResyncFlush, 0, 0, 0, nullptr};
    ctx.conn_gen = conn_gen_;
    IssueNow(LocalIo{0, io::IoOp::kFlush, 0, 0, nullptr, false}, std::move(ctx));
    return;
  }
  CompleteResyncAsTarget(d);
}

void Replicator::CompleteResyncAsTarget(const peer::ResyncDone& d) {
  GenerationIds source;
  source.current = d.current_uuid();
  source.bitmap = d.bitmap_uuid();
  for (int i = 0; i < splitbrain::kHistorySize && i < d.history_uuids_size(); ++i) {
    source.history[i] = d.history_uuids(i);
  }
  SetGenerations(splitbrain::FinishResyncAsTarget(source, role_));
  disk_ = DiskState::kUpToDate;
  disk_error_.clear();
  persisted_.consistent = true;
  persisted_.was_up_to_date = true;
  persisted_.crashed_primary = role_ == Role::kPrimary;
  crashed_at_attach_ = false;
  persist_dirty_ = true;
  repl_ = ReplState::kEstablished;
  // (peer_disk_ stays what the source announced last: its disk may have
  // detached since it sent ResyncDone, while this node flushed.)
  Log("resync finished (SyncTarget): disk: UpToDate, replication: Established");
  SendState();
  if (!PeerHasDisk()) OnlyCurrentCopyHere("the source's disk detached as the resync ended");
}

// ---------------------------------------------------------------------------
// Online verify (VerifyS side).

void Replicator::PumpVerify() {
  if (repl_ != ReplState::kVerifyS) return;
  constexpr size_t kMaxVerifyInFlight = 8;
  while (verify_pending_.size() < kMaxVerifyInFlight &&
         verify_cursor_ < opt_.size_bytes) {
    const uint64_t len =
        std::min(opt_.verify_request_bytes, opt_.size_bytes - verify_cursor_);
    const uint64_t offset = verify_cursor_;
    verify_cursor_ += len;
    verify_pending_[offset].length = len;
    peer::MirrorMessage m;
    m.mutable_verify_request()->set_offset(offset);
    m.mutable_verify_request()->set_length(len);
    Send(std::move(m));
    auto buf = pool_.Get(len);
    IoCtx ctx{IoKind::kVerifyRead, /*ref=*/0, offset, len, buf};
    ctx.conn_gen = conn_gen_;
    IssueGated(LocalIo{0, io::IoOp::kRead, offset, len, buf, false},
               std::move(ctx));
  }
  if (verify_pending_.empty() && verify_cursor_ >= opt_.size_bytes) {
    repl_ = ReplState::kEstablished;
    Log(absl::StrCat("replication: Established (online verify finished, ", verify_mismatch_blocks_,
                     " 4k blocks out of sync)"));
    if (verify_mismatch_blocks_ > 0) {  // DRBD's alert, for those who search for it
      Log(absl::StrCat("Online verify found ", verify_mismatch_blocks_, " 4k blocks out of sync!"));
    }
    SendState();  // lets the VerifyT side return to Established
  }
}

void Replicator::OnVerifyReply(const peer::VerifyReply& r) {
  auto it = verify_pending_.find(r.offset());
  if (repl_ != ReplState::kVerifyS || it == verify_pending_.end() ||
      it->second.length != r.length()) {
    ProtocolError(absl::StrCat("unexpected VerifyReply at ", r.offset()));
    return;
  }
  it->second.remote = r.digest();
  CompareVerifySlot(r.offset());
}

void Replicator::CompareVerifySlot(uint64_t offset) {
  auto it = verify_pending_.find(offset);
  if (it == verify_pending_.end() || !it->second.local || !it->second.remote) {
    return;
  }
  const uint64_t len = it->second.length;
  const std::string& local = *it->second.local;
  const std::string& remote = *it->second.remote;
  if (remote.size() != local.size()) {
    ProtocolError(absl::StrCat("VerifyReply at ", offset, " carries ",
                               remote.size(), " digest bytes, expected ",
                               local.size()));
    return;
  }
  // One digest per 4 KiB block: report maximal runs of differing blocks.
  const uint64_t blocks = len / kBlock;
  uint64_t run_start = 0, run_len = 0;
  auto flush_run = [&] {
    if (run_len == 0) return;
    const uint64_t off = offset + run_start * kBlock;
    const uint64_t bytes = run_len * kBlock;
    MarkOutOfSync(off, bytes, /*tell_peer=*/true);
    verify_mismatch_blocks_ += run_len;
    ready_.verify_mismatches.push_back(VerifyMismatch{off, bytes});
    Log(absl::StrFormat("Out of sync: start=%d, size=%d (sectors)", off / 512,
                        bytes / 512));
    run_len = 0;
  };
  for (uint64_t b = 0; b < blocks; ++b) {
    if (local.compare(b * kDigestBytes, kDigestBytes, remote, b * kDigestBytes,
                      kDigestBytes) != 0) {
      if (run_len == 0) run_start = b;
      ++run_len;
    } else {
      flush_run();
    }
  }
  flush_run();
  verify_done_bytes_ += len;
  verify_pending_.erase(it);
  PumpVerify();
}

// ---------------------------------------------------------------------------
// Time.

void Replicator::Tick(absl::Time now) {
  if (now_ == absl::InfinitePast()) {
    // The first tick: timers started before it (a connection that came up
    // first) had no time to start from.
    if (handshake_started_ == absl::InfinitePast()) handshake_started_ = now;
    if (last_rx_ == absl::InfinitePast()) last_rx_ = now;
  }
  now_ = now;
  if (!transport_up_) return;
  SendDeferred(/*urgent_barriers=*/true);
  if (linger_until_) {
    if (now_ >= *linger_until_) DropConnection(linger_reason_);
    return;
  }
  if (conn_ == ConnState::kHandshaking &&
      now_ - handshake_started_ > opt_.timeout) {
    DropConnection("handshake did not finish within timeout");
    return;
  }
  if (ping_outstanding_) {
    if (now_ - ping_outstanding_->second > opt_.ping_timeout) {
      DropConnection(absl::StrCat("PingAck did not arrive within ping-timeout (",
                                  absl::FormatDuration(opt_.ping_timeout), ")"));
      return;
    }
  } else if (now_ - last_rx_ >= opt_.ping_int) {
    const uint64_t nonce = ping_nonce_++;
    ping_outstanding_ = std::make_pair(nonce, now_);
    peer::MirrorMessage m;
    m.mutable_ping()->set_nonce(nonce);
    Send(std::move(m));
  }
  // ko-count: the peer answers pings but does not complete writes.
  for (const auto& [seq, r] : tl_) {
    if (r.sent && !r.peer_done) {
      if (now_ - r.sent_at > opt_.timeout * opt_.ko_count) {
        DropConnection(absl::StrCat(
            "the peer did not complete write ", seq, " within timeout × ko-count (",
            absl::FormatDuration(opt_.timeout * opt_.ko_count), ")"));
        return;
      }
      break;  // the oldest pending request decides
    }
  }
  if (repl_ == ReplState::kSyncTarget &&
      now_ - last_controller_step_ >= controller_.options().step) {
    last_controller_step_ = now_;
    // Carry unused budget over (a rate below one block per step still
    // progresses), bounded by what may be in flight.
    const uint64_t step = controller_.Step(resync_inflight_bytes_);
    resync_budget_ = step == UINT64_MAX
                         ? UINT64_MAX
                         : std::min<uint64_t>(resync_budget_ + step,
                                              std::max<uint64_t>(opt_.resync_max_inflight_bytes,
                                                                 step));
  }
  if (repl_ == ReplState::kAhead && unacked_bytes_ == 0 && disk_ == DiskState::kUpToDate) {
    Log("pull-ahead: the backlog drained; resyncing the marked blocks");
    ResyncFromHere(/*full=*/false);
  }
  PumpResync();
}

Status Replicator::status() const {
  Status s;
  s.role = role_;
  s.peer_role = peer_role_;
  s.disk = disk_;
  s.peer_disk = peer_disk_;
  s.conn = conn_;
  s.repl = repl_;
  s.gi = persisted_.gi;
  s.counters = counters_;
  s.counters.oos = bitmap_->CountRange(0, num_blocks_) * (kBlock / 1024);
  s.counters.pe = 0;
  for (const auto& [seq, r] : tl_) s.counters.pe += r.sent && !r.peer_done;
  s.resync_total_blocks = resync_total_blocks_;
  s.resync_left_blocks = repl_ == ReplState::kSyncSource ||
                                 repl_ == ReplState::kSyncTarget
                             ? bitmap_->CountRange(0, num_blocks_)
                             : 0;
  s.resync_same_bytes = resync_same_bytes_;
  s.resync_started = resync_started_;
  s.unacked_bytes = unacked_bytes_;
  s.verify_done_bytes = verify_done_bytes_;
  s.disk_error = disk_error_;
  s.verify_mismatch_blocks = verify_mismatch_blocks_;
  s.last_handshake = last_handshake_;
  return s;
}

}  // namespace hafs::mirror
