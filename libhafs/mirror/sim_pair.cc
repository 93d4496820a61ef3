#include "libhafs/mirror/sim_pair.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libhafs/base/logging.h"
#include "libhafs/meta/al_format.h"
#include "libhafs/splitbrain/generations.h"

namespace hafs::mirror {
namespace {

constexpr uint64_t kBlock = io::kBlockSize;
constexpr uint64_t kSector = io::kSectorSize;
constexpr uint64_t kBlocksPerExtent = meta::kAlExtentBytes / kBlock;

// A sector image: [write id][block][sector index][filler derived from id].
void StampSector(char* sector, uint64_t write_id, uint64_t block, uint32_t idx) {
  std::memcpy(sector, &write_id, 8);
  std::memcpy(sector + 8, &block, 8);
  std::memcpy(sector + 16, &idx, 4);
  for (uint64_t i = 20; i < kSector; ++i) {
    sector[i] = static_cast<char>((write_id * 131 + i) & 0xff);
  }
}


}  // namespace

// ---------------------------------------------------------------------------
// SimNode

SimNode::SimNode(SimPair* pair, int id)
    : pair_(pair),
      id_(id),
      bitmap_(pair->options().size_bytes / kBlock),
      durable_bitmap_(pair->options().size_bytes / kBlock),
      transport_(pair->network().endpoint(id)) {
  const SimPairOptions& o = pair->options();
  io::SimDeviceOptions d;
  d.size_bytes = o.size_bytes;
  d.seed = o.seed * 2 + id;
  d.clock = &pair->clock();
  d.write_latency = o.write_latency;
  d.read_latency = o.read_latency;
  d.flush_latency = o.flush_latency;
  d.nonvolatile_cache = o.nonvolatile_cache;
  disk_ = std::make_unique<io::SimDevice>(d);
  durable_state_.gi = GenerationIds::JustCreated();
  durable_al_slots_.assign(o.al_extents, meta::kAlEmptyExtent);
  Boot(durable_state_, DiskState::kInconsistent, o.seed * 7 + id);
}

SimNode::~SimNode() = default;

void SimNode::Boot(const PersistedState& state, DiskState disk, uint64_t seed) {
  const SimPairOptions& o = pair_->options();
  meta::AlGeometry g;
  g.extents = o.al_extents;
  g.ring_blocks = 8;
  g.device_uuid = 0x5eed0000 + id_;
  g.data_extents = (o.size_bytes + meta::kAlExtentBytes - 1) / meta::kAlExtentBytes;
  al_ = std::make_unique<meta::ActivityLog>(g, durable_al_slots_,
                                            durable_al_next_tr_,
                                            durable_al_next_context_);
  ReplicatorOptions r;
  r.node_id = id_;
  r.peer_node_id = 1 - id_;
  r.node_name = absl::StrCat("n", id_);
  r.peer_name = absl::StrCat("n", 1 - id_);
  r.size_bytes = o.size_bytes;
  r.protocol = o.protocol;
  r.resync = o.resync;
  r.csum_resync = o.csum_resync;
  r.pull_ahead = o.pull_ahead;
  r.congestion_fill_bytes = o.congestion_fill_bytes;
  r.disk_flushes = !o.nonvolatile_cache;
  r.on_io_error = o.on_io_error;
  r.ping_int = absl::Seconds(1);
  r.ping_timeout = absl::Milliseconds(500);
  r.timeout = absl::Seconds(6);
  rep_ = std::make_unique<Replicator>(r, state, disk, &bitmap_, seed);
  last_tick_ = absl::InfinitePast();
  ++boot_count_;
  SyncTransportWish();
}

void SimNode::SyncTransportWish() {
  if (rep_) transport_wish_.Sync(*rep_, *transport_, conn_ != 0);
}

std::vector<uint32_t> SimNode::durable_hot_extents() const {
  std::vector<uint32_t> out;
  for (uint32_t e : durable_al_slots_) {
    if (e != meta::kAlEmptyExtent) out.push_back(e);
  }
  return out;
}

void SimNode::Crash(uint64_t seed) {
  if (!up()) return;
  pair_->TraceLine(id_, "*** crash (power loss)");
  io::SimDevice::CrashReport cr = disk_->Crash(seed);
  pair_->TraceLine(id_, absl::StrCat("    unsynced writes: dropped ", cr.writes_dropped,
                                     ", kept ", cr.writes_kept, ", torn ",
                                     cr.writes_torn, ", abandoned ",
                                     cr.requests_abandoned));
  ops_.clear();
  al_parked_.clear();
  backlog_.Clear();
  al_admission_waiting_.clear();
  admitted_.clear();
  al_flush_in_flight_ = false;
  al_tr_.reset();
  rep_.reset();
  al_.reset();
  transport_->Disconnect();
  transport_wish_.Dropped();
  conn_ = 0;
  outbox_.Clear();
  // The application on this node died with it.
  auto pending = std::move(app_done_);
  app_done_.clear();
  for (auto& [id, fn] : pending) fn(absl::AbortedError("node crashed"));
  auto reads = std::move(read_done_);
  read_done_.clear();
  for (auto& [id, fn] : reads) fn(absl::AbortedError("node crashed"), "");
}

void SimNode::Restart() {
  if (up()) return;
  // apply-al: every extent of the durable AL may differ from the peer.
  bitmap_ = durable_bitmap_;
  for (uint32_t e : durable_hot_extents()) {
    bitmap_.SetRange(uint64_t{e} * kBlocksPerExtent,
                     uint64_t{e + 1} * kBlocksPerExtent);
  }
  durable_bitmap_ = bitmap_;
  DiskState disk = DiskState::kInconsistent;
  if (durable_state_.consistent) {
    disk = durable_state_.was_up_to_date ? DiskState::kUpToDate
                                         : DiskState::kOutdated;
  }
  pair_->TraceLine(id_, absl::StrCat("*** restart: disk ", DiskStateName(disk),
                                     ", gi ", durable_state_.gi.DebugString(),
                                     ", bitmap ", bitmap_.Count(), " blocks",
                                     durable_state_.crashed_primary
                                         ? ", crashed primary"
                                         : ""));
  Boot(durable_state_, disk, pair_->options().seed * 13 + boot_count_ * 101 + id_);
}

bool SimNode::Pump() {
  if (!up()) return false;
  bool any = false;
  const absl::Time now = pair_->clock().Now();
  if (now != last_tick_) {
    last_tick_ = now;
    rep_->Tick(now);
  }
  for (;;) {
    bool progress = false;
    std::vector<peer::TransportEvent> events = transport_->TakeEvents();
    for (peer::TransportEvent& e : events) {
      if (!up()) break;
      progress = true;
      switch (e.kind) {
        case peer::TransportEvent::Kind::kConnected:
          conn_ = e.connection;
          rep_->TransportUp();
          break;
        case peer::TransportEvent::Kind::kMessage:
          if (e.connection == conn_) rep_->Receive(std::move(e.message), std::move(e.payload));
          break;
        case peer::TransportEvent::Kind::kDisconnected:
          if (e.connection == conn_) {
            conn_ = 0;
            outbox_.Clear();
            rep_->TransportDown(e.reason.message());
          }
          break;
        case peer::TransportEvent::Kind::kWritable:
          (void)outbox_.Send(*transport_, conn_);  // broken: kDisconnected follows
          break;
        case peer::TransportEvent::Kind::kConnectFailed:
          break;  // SimTransport never fails an attempt
      }
      // Effects of each event are processed before the next event, as the
      // real runtime does.
      while (up() && rep_->HasReady()) ProcessReady(rep_->TakeReady());
    }
    if (!up()) return true;
    while (!admitted_.empty() && up()) {
      const uint64_t token = admitted_.front();
      admitted_.pop_front();
      rep_->AlAdmitted(token);
      progress = true;
      while (up() && rep_->HasReady()) ProcessReady(rep_->TakeReady());
    }
    absl::StatusOr<int> n = disk_->Poll(0, absl::ZeroDuration());
    if (!n.ok()) pair_->Violation(absl::StrCat("disk poll: ", n.status().message()));
    if (n.ok() && *n > 0) progress = true;
    while (up() && rep_->HasReady()) {
      ProcessReady(rep_->TakeReady());
      progress = true;
    }
    if (!progress) break;
    any = true;
  }
  return any;
}

void SimNode::PersistBitmapPages(uint64_t first_block, uint64_t end_block) {
  end_block = std::min(end_block, bitmap_.size());
  if (first_block >= end_block) return;
  durable_bitmap_.ClearRange(first_block, end_block);
  bitmap_.ForEachRun(first_block, end_block, [&](meta::Bitmap::Run r) {
    durable_bitmap_.SetRange(r.start, r.end());
  });
}

void SimNode::ProcessReady(Ready rd) {
  for (const std::string& line : rd.log) {
    pair_->TraceLine(id_, line);
    if (line.find("replication: Established") != std::string::npos) {
      pair_->era_start_[id_] = pair_->event_counter_++;
    }
    if (line == "role: Primary") pair_->primary_since_[id_] = pair_->event_counter_++;
    if (absl::StartsWith(line, "connection lost")) pair_->TakeBackUnconfirmedAfterPassOn(id_);
    if (line.find("failed block(s) (SyncTarget)") != std::string::npos) {
      ++pair_->resyncs_with_failed_blocks_;
    }
    if (line.find("on-io-error pass_on") != std::string::npos) {
      ++pair_->pass_on_inconsistent_;
      pair_->pass_on_fell_at_[id_] = pair_->event_counter_++;
      // No second disk fails while this one awaits its repair: two disks
      // each missing a different acknowledged block cannot be resynced
      // either way (DRBD cannot either; an operator would merge by hand).
      pair_->node(1 - id_).disk()->ClearFaults();
    }
  }
  for (const std::string& h : rd.handlers) {
    pair_->TraceLine(id_, absl::StrCat("handler: ", h));
  }
  // 1. Superblock.
  if (rd.persist) {
    const bool adopting = rep_->repl_state() == ReplState::kSyncTarget ||
                          std::any_of(rd.log.begin(), rd.log.end(),
                                      [](const std::string& l) {
                                        return l.find("handshake:") != std::string::npos ||
                                               l.find("SyncTarget") != std::string::npos;
                                      });
    if (!adopting) {
      absl::Status adv = splitbrain::CheckAdvance(durable_state_.gi, rd.persist->gi);
      if (!adv.ok()) {
        pair_->Violation(absl::StrCat("node ", id_, ": generation ids went back: ",
                                      adv.message()));
      }
    }
    durable_state_ = *rd.persist;
  }
  // 2. Bitmap pages (all dirty pages: bits set outside the AL must survive a
  // crash; cleared bits are safe because every write goes through the AL).
  for (uint64_t page : bitmap_.DirtyPages()) {
    const uint64_t bits = meta::kBitmapBitsPerPage;
    PersistBitmapPages(page * bits, (page + 1) * bits);
    bitmap_.MarkClean(page);
  }
  // 3. Local I/O: AL admissions first (the replicator sends and writes only
  // after them), then the I/Os themselves.
  for (const AlBegin& b : rd.al_begin) {
    const uint32_t first = static_cast<uint32_t>(b.offset / meta::kAlExtentBytes);
    const uint32_t last =
        static_cast<uint32_t>((b.offset + b.length - 1) / meta::kAlExtentBytes);
    absl::StatusOr<meta::ActivityLog::Admit> a = al_->Begin(b.token, first, last);
    if (!a.ok()) {
      pair_->Violation(absl::StrCat("AL refused a write: ", a.status().message()));
      continue;
    }
    if (*a == meta::ActivityLog::Admit::kReady) {
      admitted_.push_back(b.token);
    } else {
      al_admission_waiting_.insert(b.token);
    }
  }
  for (LocalIo& io : rd.ios) Issue(std::move(io));
  for (const auto& [offset, length] : rd.al_release) ReleaseAl(offset, length);
  MaybeStartAlTransaction();
  // 4. Messages.
  (void)outbox_.Send(*transport_, conn_,
                     &rd.messages);  // broken: kDisconnected follows
  // 5. Completions.
  for (AppDone& d : rd.done) {
    if (auto r = read_done_.find(d.id); r != read_done_.end()) {
      auto fn = std::move(r->second);
      read_done_.erase(r);
      fn(d.status, d.data ? std::string(d.data->view()) : std::string());
      continue;
    }
    auto it = app_done_.find(d.id);
    if (it == app_done_.end()) {
      pair_->Violation(absl::StrCat("node ", id_, ": completion for unknown request ", d.id));
      continue;
    }
    auto fn = std::move(it->second);
    app_done_.erase(it);
    last_done_replicated_ = d.replicated;
    fn(d.status);
  }
  // 6. Connection drop.
  if (rd.drop_connection) {
    transport_->Disconnect();
    transport_wish_.Dropped();
    conn_ = 0;
    outbox_.Clear();
  }
  SyncTransportWish();
}

void SimNode::Issue(LocalIo io) {
  if (!backlog_.Hold(io, !al_parked_.empty())) IssueToDisk(std::move(io));
}

void SimNode::ReleaseBacklog() {
  while (std::optional<LocalIo> io = backlog_.Next(!al_parked_.empty())) {
    IssueToDisk(std::move(*io));
  }
}

void SimNode::IssueToDisk(LocalIo io) {
  const uint64_t token = io.token;
  Op op;
  op.io = std::move(io);
  if (op.io.op == io::IoOp::kWrite && !op.io.hold_al) {
    op.first = static_cast<uint32_t>(op.io.offset / meta::kAlExtentBytes);
    op.last = static_cast<uint32_t>((op.io.offset + op.io.length - 1) /
                                    meta::kAlExtentBytes);
    absl::StatusOr<meta::ActivityLog::Admit> a = al_->Begin(token, op.first, op.last);
    if (!a.ok()) {
      pair_->Violation(absl::StrCat("AL refused a write: ", a.status().message()));
      return;
    }
    op.al_held = true;
    if (*a == meta::ActivityLog::Admit::kWait) {
      al_parked_.emplace(token, std::move(op));
      return;
    }
  }
  ops_.emplace(token, std::move(op));
  SubmitOp(token);
}

void SimNode::SubmitOp(uint64_t token) {
  Op& op = ops_.at(token);
  op.req.op = op.io.op;
  op.req.offset = op.io.offset;
  op.req.length = op.io.length;
  op.req.data = op.io.buf ? op.io.buf->data() : nullptr;
  op.req.fua = op.io.fua;
  op.req.barrier = op.io.barrier;
  const uint64_t gen = boot_count_;
  op.req.done = [this, token, gen](absl::Status s) {
    if (gen != boot_count_ || !up()) return;
    auto it = ops_.find(token);
    if (it == ops_.end()) return;
    Op done = std::move(it->second);
    ops_.erase(it);
    if (done.al_held) al_->End(done.first, done.last);
    rep_->IoDone(token, std::move(s));
    MaybeStartAlTransaction();
  };
  absl::Status s = disk_->Submit(&op.req);
  if (!s.ok()) {
    pair_->Violation(absl::StrCat("node ", id_, ": disk refused ",
                                  io::IoOpName(op.io.op), ": ", s.message()));
  }
}

void SimNode::ReleaseAl(uint64_t offset, uint64_t length) {
  al_->End(static_cast<uint32_t>(offset / meta::kAlExtentBytes),
           static_cast<uint32_t>((offset + length - 1) / meta::kAlExtentBytes));
}

void SimNode::MaybeStartAlTransaction() {
  if (!al_ || al_flush_in_flight_ || al_->waiting() == 0 ||
      al_->transaction_in_flight()) {
    return;
  }
  std::optional<meta::ActivityLog::Transaction> tr = al_->PrepareTransaction();
  if (!tr) return;
  // Evicted extents: their bitmap part becomes durable, then every completed
  // data write (flush), then the transaction (FUA; atomic in the simulation).
  for (uint32_t e : tr->evicted) {
    PersistBitmapPages(uint64_t{e} * kBlocksPerExtent,
                       uint64_t{e + 1} * kBlocksPerExtent);
  }
  al_tr_ = std::move(tr);
  al_flush_in_flight_ = true;
  al_flush_req_ = io::IoRequest();
  al_flush_req_.op = io::IoOp::kFlush;
  const uint64_t gen = boot_count_;
  al_flush_req_.done = [this, gen](absl::Status s) {
    if (gen != boot_count_ || !up()) return;
    al_flush_in_flight_ = false;
    if (!s.ok()) {
      pair_->Violation(absl::StrCat("AL flush failed: ", s.message()));
      return;
    }
    std::vector<uint64_t> ids = al_->CommitTransaction();
    durable_al_slots_ = al_->slots();
    durable_al_next_tr_ = al_->next_tr();
    al_tr_.reset();
    for (uint64_t id : ids) {
      if (al_admission_waiting_.erase(id)) {
        admitted_.push_back(id);
        continue;
      }
      auto it = al_parked_.find(id);
      if (it == al_parked_.end()) continue;
      ops_.emplace(id, std::move(it->second));
      al_parked_.erase(it);
      SubmitOp(id);
    }
    ReleaseBacklog();
    MaybeStartAlTransaction();
  };
  absl::Status s = disk_->Submit(&al_flush_req_);
  if (!s.ok()) pair_->Violation(absl::StrCat("AL flush refused: ", s.message()));
}

void SimNode::Write(uint64_t offset, io::AlignedBuffer data, bool fua,
                    std::function<void(absl::Status)> done) {
  const uint64_t id = next_app_id_++;
  app_done_.emplace(id, std::move(done));
  rep_->Write(id, offset, std::make_shared<io::AlignedBuffer>(std::move(data)), fua);
}

void SimNode::Read(uint64_t offset, uint64_t length,
                   std::function<void(absl::Status, std::string)> done) {
  const uint64_t id = next_app_id_++;
  read_done_.emplace(id, std::move(done));
  rep_->Read(id, offset, length);
}

void SimNode::Flush(std::function<void(absl::Status)> done) {
  const uint64_t id = next_app_id_++;
  app_done_.emplace(id, std::move(done));
  rep_->Flush(id);
}

// ---------------------------------------------------------------------------
// SimPair

SimPair::SimPair(const SimPairOptions& options)
    : options_(options), rng_(options.seed) {
  peer::PeerInfo n0, n1;
  n0.node_id = 0;
  n0.node_name = "n0";
  n1.node_id = 1;
  n1.node_name = "n1";
  peer::TransportOptions t;
  t.connect_interval = absl::Milliseconds(500);
  network_ = std::make_unique<peer::SimNetwork>(&clock_, options.seed,
                                                options.network, n0, n1, t);
  nodes_[0] = std::make_unique<SimNode>(this, 0);
  nodes_[1] = std::make_unique<SimNode>(this, 1);
}

SimPair::~SimPair() = default;

void SimPair::TraceLine(int node, absl::string_view line) {
  if (!options_.trace) return;
  trace_.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E6S", clock_.Now(),
                                                 absl::UTCTimeZone()),
                                " n", node, " ", line));
}

void SimPair::Violation(std::string what) {
  if (violation_) return;
  violation_ = absl::StrCat(absl::FormatTime("%H:%M:%E6S", clock_.Now(),
                                             absl::UTCTimeZone()),
                            ": ", what);
  TraceLine(-1, absl::StrCat("VIOLATION: ", what));
}

void SimPair::RunFor(absl::Duration d) {
  const absl::Time end = clock_.Now() + d;
  for (;;) {
    bool progress = true;
    while (progress) {
      progress = false;
      for (auto& n : nodes_) progress |= n->Pump();
    }
    if (clock_.Now() >= end || violation_) return;
    // Small steps while disks are busy (their completions are not timers);
    // otherwise jump to the next timer or tick.
    absl::Duration step = options_.tick;
    for (auto& n : nodes_) {
      if (n->up() && n->ios_in_flight() > 0) step = absl::Microseconds(100);
    }
    absl::Time next = std::min(end, clock_.Now() + step);
    if (std::optional<absl::Time> t = clock_.NextDeadline(); t && *t < next) {
      next = std::max(*t, clock_.Now());
    }
    clock_.AdvanceTo(next);
  }
}

bool SimPair::RunUntil(const std::function<bool()>& pred, absl::Duration limit) {
  const absl::Time end = clock_.Now() + limit;
  while (clock_.Now() < end && !violation_) {
    if (pred()) return true;
    RunFor(absl::Milliseconds(5));
  }
  return pred();
}

bool SimPair::Bootstrap() {
  absl::Status s = node(0).replicator()->Promote(/*force=*/true);
  if (!s.ok()) {
    Violation(absl::StrCat("bootstrap promote: ", s.message()));
    return false;
  }
  if (!RunUntil([&] { return Converged(); }, absl::Seconds(60))) {
    Violation("bootstrap: the initial full sync did not finish");
    return false;
  }
  return true;
}

bool SimPair::Converged() {
  for (auto& n : nodes_) {
    if (!n->up()) return false;
    Replicator* r = n->replicator();
    if (r->conn_state() != ConnState::kConnected ||
        r->repl_state() != ReplState::kEstablished ||
        r->disk_state() != DiskState::kUpToDate || n->bitmap().Count() != 0 ||
        n->ios_in_flight() != 0 || r->status().unacked_bytes != 0) {
      return false;
    }
  }
  return writes_in_flight_ == 0;
}

void SimPair::CheckIdentical() {
  const std::string& a = node(0).disk()->contents();
  const std::string& b = node(1).disk()->contents();
  if (a == b) return;
  for (uint64_t off = 0; off < a.size(); off += kSector) {
    if (std::memcmp(a.data() + off, b.data() + off, kSector) != 0) {
      Violation(absl::StrCat("replicas differ after convergence at byte ", off,
                             " (block ", off / kBlock, "): n0 has write ",
                             StampOf(a.data() + off), ", n1 has write ",
                             StampOf(b.data() + off)));
      return;
    }
  }
}

void SimPair::CheckDurableWrites() {
  uint64_t last_failover = 0;
  for (const CrashRec& c : crashes_) {
    if (c.failover) last_failover = std::max(last_failover, c.at);
  }
  for (int n = 0; n < 2; ++n) {
    // A failover may legitimately drop what the promoted node never had.
    const std::optional<LostWrite> l = FindLostWrite(n, [&](const WriteRec& w) {
      return w.durable_at != 0 && w.acked_at >= last_failover;
    });
    if (l.has_value()) {
      Violation(absl::StrCat("durable write ", l->write, " lost: block ", l->block, " sector ",
                             l->sector, " on n", n, " has write ", l->have,
                             " after convergence (a resync from a stale replica?)"));
      return;
    }
  }
}

uint64_t SimPair::StampOf(const char* sector) {
  uint64_t id;
  std::memcpy(&id, sector, 8);
  return id;
}

std::optional<std::pair<uint64_t, uint64_t>> SimPair::RandomRange(int n, uint64_t max_blocks) {
  SimNode& nd = node(n);
  if (!nd.up() || nd.replicator()->role() != Role::kPrimary) return std::nullopt;
  const uint64_t num_blocks = options_.size_bytes / kBlock;
  const uint64_t blocks = rng_.Range(1, max_blocks);
  const uint64_t first = rng_.Uniform(num_blocks - blocks + 1);
  return std::make_pair(first, blocks);
}

void SimPair::RandomWrite(int n, uint64_t max_blocks) {
  const auto range = RandomRange(n, max_blocks);
  if (!range) return;
  SimNode& nd = node(n);
  const auto [first, blocks] = *range;
  WriteRec w;
  w.id = next_write_id_++;
  w.node = n;
  w.offset = first * kBlock;
  w.length = blocks * kBlock;
  w.issued_at = event_counter_++;
  io::AlignedBuffer buf(w.length);
  for (uint64_t b = 0; b < blocks; ++b) {
    for (uint32_t s = 0; s < kBlock / kSector; ++s) {
      StampSector(buf.data() + b * kBlock + s * kSector, w.id, first + b, s);
    }
  }
  writes_.emplace(w.id, w);
  ++writes_in_flight_;
  TraceLine(n, absl::StrCat("app write ", w.id, ": blocks ", first, "+", blocks));
  const uint64_t id = w.id;
  const bool fua = rng_.OneIn(8);
  nd.Write(w.offset, std::move(buf), fua, [this, id, n](absl::Status s) {
    WriteRec& rec = writes_.at(id);
    rec.acked_at = event_counter_++;
    rec.ok = s.ok();
    // Durable on its node's own disk, if that disk counts (a Diskless node's
    // write is only where the peer put it, and an Inconsistent disk's copy
    // is resynced over by the peer's: the protocol decides what it promises
    // then, and protocols A and B acknowledge before the peer wrote it).
    const bool own_copy_counts =
        node(n).up() && node(n).replicator()->disk_state() == DiskState::kUpToDate;
    if (rec.ok && options_.nonvolatile_cache && own_copy_counts) rec.durable_at = rec.acked_at;
    // Protocol C promises survival of a single node failure only when the
    // peer holding the copy is UpToDate (a SyncTarget is Inconsistent and
    // cannot take over).
    // Judged from what the application can observe, not from the
    // replicator's own claim: a protocol-C write that completes while the
    // pair is connected is replicated.
    rec.confirmed = s.ok() && options_.protocol == Protocol::kC && node(n).up() &&
                    node(n).replicator()->conn_state() == ConnState::kConnected &&
                    node(n).replicator()->status().peer_disk == DiskState::kUpToDate;
    if (rec.confirmed && !node(n).last_done_replicated()) {
      Violation(absl::StrCat("write ", id, " completed while Connected under "
                             "protocol C but is not marked replicated"));
    }
    --writes_in_flight_;
    TraceLine(n, absl::StrCat("app write ", id, " done: ", s.ok() ? "ok" : s.ToString(),
                              rec.confirmed ? ", replicated" : ""));
  });
}

void SimPair::RandomRead(int n, uint64_t max_blocks) {
  const auto range = RandomRange(n, max_blocks);
  if (!range) return;
  SimNode& nd = node(n);
  const auto [first, blocks] = *range;
  const uint64_t issued = event_counter_++;
  const uint64_t since = primary_since_[n];
  const bool up_to_date = nd.replicator()->disk_state() == DiskState::kUpToDate;
  TraceLine(n, absl::StrCat("app read: blocks ", first, "+", blocks));
  nd.Read(first * kBlock, blocks * kBlock,
          [this, n, first, blocks, issued, since, up_to_date](absl::Status s, std::string data) {
            const uint64_t done = event_counter_++;
            TraceLine(n, absl::StrCat("app read of blocks ", first, "+", blocks,
                                      " done: ", s.ok() ? "ok" : s.ToString()));
            // Served by the local disk if it was UpToDate throughout.
            const bool local = up_to_date && node(n).up() &&
                               node(n).replicator()->disk_state() == DiskState::kUpToDate;
            if (s.ok()) CheckRead(n, first, data, issued, done, since, local);
          });
}

void SimPair::CheckRead(int n, uint64_t first_block, const std::string& data, uint64_t issued,
                        uint64_t done, uint64_t primary_since, bool local) {
  // Read from the peer, A and B promise less.
  if (!local && options_.protocol != Protocol::kC) return;
  for (uint64_t i = 0; i < data.size() / kSector; ++i) {
    const uint64_t off = first_block * kBlock + i * kSector;
    const WriteRec* newest = nullptr;
    bool in_flight = false;
    for (const auto& [id, w] : writes_) {
      if (off < w.offset || off >= w.offset + w.length) continue;
      if (w.issued_at < done && (w.acked_at == 0 || w.acked_at > issued)) {
        in_flight = true;
        break;
      }
      if (w.node == n && w.ok && w.acked_at < issued && w.issued_at > primary_since &&
          (newest == nullptr || w.issued_at > newest->issued_at)) {
        newest = &w;
      }
    }
    if (in_flight || newest == nullptr) continue;
    // (A crash of this node ended its time as Primary.)
    const bool peer_crash_since =
        std::any_of(crashes_.begin(), crashes_.end(),
                    [&](const CrashRec& c) { return c.node != n && c.at > newest->issued_at; });
    if (peer_crash_since && !local) continue;
    if (newest->taken_back) continue;  // the application was told it may be lost
    const uint64_t have = StampOf(data.data() + i * kSector);
    ++sectors_read_checked_;
    if (have != newest->id && !ConcurrentOrLater(have, newest->id)) {
      Violation(absl::StrCat("read on n", n, " of block ", off / kBlock, " (sector ",
                             i % (kBlock / kSector), ") returned write ", have, ", not write ",
                             newest->id, " acknowledged before the read"));
      return;
    }
  }
}

void SimPair::AppFlush(int n) {
  SimNode& nd = node(n);
  if (!nd.up() || nd.replicator()->role() != Role::kPrimary) return;
  const uint64_t issued = event_counter_++;
  TraceLine(n, "app flush issued");
  nd.Flush([this, issued, n](absl::Status s) {
    TraceLine(n, absl::StrCat("app flush done: ", s.ok() ? "ok" : s.ToString()));
    if (!s.ok()) {
      // As fsync(2): a failed flush makes no promise for the writes before
      // it, and a later successful one does not either. One that reports a
      // loss (kDataLoss) also takes back what a nonvolatile cache promised at
      // their completion (a disk error and a crash of the peer in a row), and
      // what a read after it would return (under protocols A and B such a
      // write may be resynced over from the peer).
      last_failed_flush_[n] = event_counter_++;
      if (s.code() == absl::StatusCode::kDataLoss) {
        for (auto& [id, w] : writes_) {
          if (w.node == n && w.acked_at < issued && !w.flushed) {
            w.durable_at = 0;
            w.taken_back = true;
          }
        }
      }
      return;
    }
    flushes_.push_back(FlushRec{issued, event_counter_++});
    if (!node(n).up() || node(n).replicator()->disk_state() == DiskState::kDiskless) return;
    // Durable now: this node's writes acknowledged before the flush was
    // issued, since its last crash (what the crash lost, the flush cannot
    // save) and its last failed flush.
    uint64_t since = last_failed_flush_[n];
    for (const CrashRec& c : crashes_) {
      if (c.node == n) since = std::max(since, c.at);
    }
    for (auto& [id, w] : writes_) {
      if (w.node == n && w.ok && w.acked_at > since && w.acked_at < issued) {
        if (w.durable_at == 0) w.durable_at = flushes_.back().done;
        w.flushed = true;
      }
    }
  });
}

void SimPair::TakeBackUnconfirmedAfterPassOn(int n) {
  // Protocols A and B acknowledge a write on this node's own copy before the
  // peer has it. Once pass_on made this disk Inconsistent, that copy no longer
  // counts: the next connection resyncs the peer's data over it. If the link
  // drops before the peer confirmed such a write, it is lost (DRBD's pass_on
  // does the same); the replicator reports it at the next flush. Taken back
  // here: this node's writes acknowledged in this connection before its disk
  // fell, not covered by a flush since (the harness cannot tell which ones the
  // peer confirmed).
  const uint64_t fell = pass_on_fell_at_[n];
  if (options_.protocol == Protocol::kC || fell == 0 || fell < era_start_[n]) return;
  for (auto& [id, w] : writes_) {
    if (w.node == n && w.ok && w.acked_at > era_start_[n] && w.acked_at < fell && !w.flushed) {
      w.durable_at = 0;
      w.taken_back = true;
    }
  }
}

void SimPair::NoteCrash(int n) { crashes_.push_back(CrashRec{event_counter_++, n}); }

void SimPair::NoteFailover() {
  if (!crashes_.empty()) crashes_.back().failover = true;
}

bool SimPair::Protected(const WriteRec& w) const {
  // What protocol C promises (reference/drbd.md §1.1), and no more:
  //  * while the writer has not crashed, its copy stands;
  //  * a flush issued after the ack and completed made it durable on both;
  //  * if the writer crashed and the peer (UpToDate, connected) took over at
  //    that moment, the peer's copy stands;
  //  * otherwise (the writer crashed without a failover, or both crashed)
  //    an unflushed write may be lost, as with DRBD.
  uint64_t first_crash[2] = {0, 0};
  bool failover_at_first[2] = {false, false};
  for (const CrashRec& c : crashes_) {
    if (c.at > w.acked_at && first_crash[c.node] == 0) {
      first_crash[c.node] = c.at;
      failover_at_first[c.node] = c.failover;
    }
  }
  const uint64_t writer_crash = first_crash[w.node];
  const uint64_t other_crash = first_crash[1 - w.node];
  if (writer_crash == 0 && other_crash == 0) return true;
  uint64_t earliest = writer_crash == 0 ? other_crash
                      : other_crash == 0 ? writer_crash
                                         : std::min(writer_crash, other_crash);
  for (const FlushRec& f : flushes_) {
    if (f.issued > w.acked_at && f.done < earliest) return true;
  }
  if (writer_crash == 0) return true;  // only the replica crashed
  if (!failover_at_first[w.node]) return false;
  // Failed over to the replica: it holds the write unless it crashed too.
  return other_crash == 0;
}

bool SimPair::ConcurrentOrLater(uint64_t have, uint64_t id) const {
  // Two overlapping writes in flight at once may land in either order (the
  // Primary's AL can admit the later one first; both nodes then apply them
  // in that order, behind the same overlap gate). Only a write that had
  // completed before `id` was issued is older than it for sure.
  auto h = writes_.find(have);
  if (h == writes_.end()) return false;
  return h->second.acked_at == 0 || h->second.acked_at > writes_.at(id).issued_at;
}

std::optional<SimPair::LostWrite> SimPair::FindLostWrite(
    int n, const std::function<bool(const WriteRec&)>& counts) const {
  // Every block's newest counted write must be on node `n`, or a write
  // concurrent with it or issued after it.
  const uint64_t num_blocks = options_.size_bytes / kBlock;
  std::vector<uint64_t> newest(num_blocks, 0);
  for (const auto& [id, w] : writes_) {
    if (!counts(w)) continue;
    for (uint64_t b = w.offset / kBlock; b < (w.offset + w.length) / kBlock; ++b) {
      newest[b] = std::max(newest[b], id);
    }
  }
  const std::string& img = nodes_[n]->disk()->contents();
  for (uint64_t b = 0; b < num_blocks; ++b) {
    if (newest[b] == 0) continue;
    for (uint64_t s = 0; s < kBlock / kSector; ++s) {
      const uint64_t have = StampOf(img.data() + b * kBlock + s * kSector);
      if (have == newest[b] || ConcurrentOrLater(have, newest[b])) continue;
      return LostWrite{newest[b], b, s, have};
    }
  }
  return std::nullopt;
}

void SimPair::CheckFailover(int promoted) {
  // Protected confirmed writes (protocol C, acked while connected).
  const std::optional<LostWrite> l =
      FindLostWrite(promoted, [&](const WriteRec& w) { return w.confirmed && Protected(w); });
  if (l.has_value()) {
    Violation(absl::StrCat("failover lost an acknowledged protocol-C write: block ", l->block,
                           " sector ", l->sector, " on n", promoted, " has write ", l->have,
                           ", write ", l->write, " was acknowledged"));
  }
}

void SimPair::CheckWriteOrderFidelity(int replica) {
  // Writes confirmed during the replica's current era (since it last became
  // Established) reached it in epoch order; the durable image after a crash
  // must not show a later write without an earlier completed one.
  const std::string& img = node(replica).disk()->contents();
  const uint64_t era = era_start_[replica];
  uint64_t newest_issue = 0;
  for (uint64_t off = 0; off < img.size(); off += kSector) {
    const uint64_t id = StampOf(img.data() + off);
    auto it = writes_.find(id);
    if (it == writes_.end() || it->second.issued_at < era) continue;
    if (it->second.node == replica) continue;
    newest_issue = std::max(newest_issue, it->second.issued_at);
  }
  for (const auto& [id, w] : writes_) {
    if (!w.confirmed || w.node == replica || w.issued_at < era ||
        w.acked_at >= newest_issue) {
      continue;
    }
    for (uint64_t off = w.offset; off < w.offset + w.length; off += kSector) {
      const uint64_t have = StampOf(img.data() + off);
      if (have >= id) continue;
      // An older write of the same Primary still in flight when this one was
      // issued is concurrent with it: either may land last.
      auto h = writes_.find(have);
      if (h != writes_.end() && h->second.node == w.node && ConcurrentOrLater(have, id)) {
        continue;
      }
      Violation(absl::StrCat("write-order fidelity: replica n", replica, " lost write ", id,
                             " (sector at byte ", off, ", which holds write ", have,
                             ") but kept a write issued after it completed"));
      return;
    }
  }
}

void SimPair::CheckCoverageAfterRestart(int restarted) {
  SimNode& r = node(restarted);
  SimNode& o = node(1 - restarted);
  if (!o.up()) return;
  const std::string& a = r.disk()->contents();
  const std::string& b = o.disk()->contents();
  for (uint64_t block = 0; block < a.size() / kBlock; ++block) {
    if (std::memcmp(a.data() + block * kBlock, b.data() + block * kBlock, kBlock) == 0) {
      continue;
    }
    if (!r.bitmap().Test(block) && !o.bitmap().Test(block)) {
      Violation(absl::StrCat("block ", block, " differs between the replicas after n",
                             restarted, " restarted but is in neither bitmap nor AL (n",
                             restarted, " has write ", StampOf(a.data() + block * kBlock),
                             ", n", 1 - restarted, " has write ",
                             StampOf(b.data() + block * kBlock), ")"));
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Swarm test.

SeedResult RunSeed(uint64_t seed, bool full_trace, bool extended) {
  SeedResult res;
  Random r(seed ^ 0x6a09e667f3bcc908ULL);
  SimPairOptions o;
  o.seed = seed;
  o.network.drop_probability = r.OneIn(3) ? 0 : r.NextDouble() * 0.003;
  o.network.max_delay = absl::Microseconds(r.Range(100, 2000));
  switch (r.Uniform(3)) {
    case 0:  // unlimited fixed rate
      o.resync.plan_ahead = absl::ZeroDuration();
      o.resync.rate_bytes_per_s = 0;
      break;
    case 1:  // fixed rate
      o.resync.plan_ahead = absl::ZeroDuration();
      o.resync.rate_bytes_per_s = 64u << 20;
      break;
    default:  // dynamic controller
      o.resync.plan_ahead = absl::Milliseconds(500);
      o.resync.fill_target_bytes = r.OneIn(2) ? (1u << 20) : 0;
      o.resync.max_rate_bytes_per_s = 256u << 20;
      break;
  }
  o.csum_resync = r.OneIn(3);
  switch (r.Uniform(10)) {
    case 0:
    case 1:
      o.protocol = Protocol::kA;
      if (r.OneIn(2)) {
        o.pull_ahead = true;
        o.congestion_fill_bytes = r.Range(16, 512) * 1024;
        o.network.bandwidth_bytes_per_s = r.Range(1, 64) * 1024.0 * 1024.0;
      }
      break;
    case 2:
      o.protocol = Protocol::kB;
      break;
    default:
      break;  // protocol C
  }
  // From its own stream, so that the draws above stay what they were per seed.
  o.nonvolatile_cache = Random(seed ^ 0xbb67ae8584caa73bULL).OneIn(5);
  // The extended scenario's disk errors: one seed in three with on-io-error
  // pass_on (the disk stays attached, Inconsistent) instead of detach.
  if (extended && Random(seed ^ 0x3c6ef372fe94f82bULL).OneIn(3)) {
    o.on_io_error = OnIoError::kPassOn;
  }
  SimPair p(o);
  auto fail = [&](absl::string_view why) {
    res.ok = false;
    const auto& t = p.trace();
    const size_t from = full_trace || t.size() <= 60 ? 0 : t.size() - 60;
    res.failure = absl::StrCat("seed ", seed, ": ", why, "\ntrace (last lines):\n",
                               absl::StrJoin(t.begin() + from, t.end(), "\n"));
    return res;
  };
  if (!p.Bootstrap()) return fail(*p.violation());
  // What an operator does for a disk that on-io-error pass_on left
  // Inconsistent while connected (DRBD starts no resync by itself then):
  // `hafsctl resync` on the node with the good data.
  const auto repair_inconsistent = [&p] {
    for (int i = 0; i < 2; ++i) {
      SimNode& n = p.node(i);
      SimNode& peer = p.node(1 - i);
      if (n.up() && peer.up() && n.replicator()->disk_state() == DiskState::kInconsistent &&
          n.replicator()->repl_state() == ReplState::kEstablished &&
          peer.replicator()->disk_state() == DiskState::kUpToDate) {
        (void)peer.replicator()->StartResync(/*full=*/false);
      }
    }
  };
  int primary = 0;
  const int steps = 150 + static_cast<int>(r.Uniform(150));
  for (int step = 0; step < steps && !p.violation(); ++step) {
    const uint64_t a = r.Uniform(100);
    const int secondary = 1 - primary;
    if (a < 55) {
      for (uint64_t i = r.Range(1, 4); i > 0 && p.writes_in_flight() < 8; --i) {
        p.RandomWrite(primary, 8);
        ++res.writes;
      }
    } else if (a < 58) {
      p.AppFlush(primary);
    } else if (a < 62) {
      p.network().BreakConnection();
    } else if (a < 65) {
      p.network().SetBlocked(r.OneIn(2), r.OneIn(2));
    } else if (a < 70) {
      p.network().Heal();
    } else if (a < 74) {
      // Crash and restart the secondary.
      SimNode& s = p.node(secondary);
      if (s.up()) {
        const bool fidelity = s.replicator()->repl_state() == ReplState::kEstablished;
        s.Crash(r.Next64());
        p.NoteCrash(secondary);
        ++res.crashes;
        if (fidelity) p.CheckWriteOrderFidelity(secondary);
        p.RunFor(absl::Milliseconds(r.Range(1, 300)));
        s.disk()->ClearFaults();  // injected disk errors are transient
        s.Restart();
        p.CheckCoverageAfterRestart(secondary);
      }
    } else if (a < 77) {
      // Crash the primary; fail over if the secondary is in sync.
      SimNode& pr = p.node(primary);
      SimNode& s = p.node(secondary);
      if (pr.up() && s.up()) {
        // A Primary that went Ahead has writes its Secondary misses (DRBD
        // makes the Secondary Outdated in the same cluster-wide state change;
        // here it learns a message later): no failover to it then. If one
        // happens in that window anyway, the handshake reports a split brain
        // (both wrote), never a silent loss: replicator_test pins that.
        // (Nor while it catches up after Ahead as SyncSource: the Secondary
        // may not have heard yet.)
        const bool in_sync = s.replicator()->repl_state() == ReplState::kEstablished &&
                             s.replicator()->disk_state() == DiskState::kUpToDate &&
                             s.replicator()->conn_state() == ConnState::kConnected &&
                             pr.replicator()->repl_state() == ReplState::kEstablished;
        // A Primary whose disk had detached wrote through its peer only: its
        // own disk is stale when it comes back.
        const bool pr_was_diskless = pr.replicator()->disk_state() == DiskState::kDiskless;
        pr.Crash(r.Next64());
        p.NoteCrash(pr.id());
        ++res.crashes;
        p.RunFor(absl::Milliseconds(r.Range(1, 50)));
        // (Its disk may have detached meanwhile: then no failover.)
        const bool failover = in_sync && s.replicator()->disk_state() == DiskState::kUpToDate;
        if (failover) {
          p.NoteFailover();
          p.CheckFailover(secondary);
          // The peer is gone for good from the secondary's point of view.
          absl::Status st = s.replicator()->Promote(/*force=*/false);
          if (!st.ok()) {
            p.Violation(absl::StrCat("failover: promote refused: ", st.message()));
            break;
          }
          ++res.failovers;
          primary = secondary;
        }
        p.RunFor(absl::Milliseconds(r.Range(1, 500)));
        pr.disk()->ClearFaults();
        pr.Restart();
        p.CheckCoverageAfterRestart(pr.id());
        if (!failover) {
          // The old primary comes back as Secondary; promote it again once
          // it has reconnected (the only node with the newest data).
          p.RunUntil([&] {
            return pr.replicator()->conn_state() == ConnState::kConnected &&
                   pr.replicator()->repl_state() == ReplState::kEstablished;
          }, absl::Seconds(20));
          // Not alone on a stale disk (a cluster manager with fencing would
          // not either): that would be a split brain of the harness's making.
          absl::Status st =
              pr_was_diskless && pr.replicator()->conn_state() != ConnState::kConnected
                  ? absl::FailedPreconditionError("stale disk, peer not connected")
                  : pr.replicator()->Promote(false);
          if (!st.ok()) {
            // Could not get back in sync within the budget: heal first. If
            // the newest data is on the peer's detached disk (this one came
            // back Outdated), the operator attaches that disk again.
            p.network().Heal();
            p.RunUntil(
                [&] {
                  // (Also if it detaches only now, e.g. as the sync source.)
                  if (s.up() && s.replicator()->disk_state() == DiskState::kDiskless) {
                    s.Crash(r.Next64());
                    p.NoteCrash(s.id());
                    s.disk()->ClearFaults();
                    s.Restart();
                  }
                  // A resync that ended with blocks the source could not
                  // read leaves this one Inconsistent: the operator resyncs.
                  repair_inconsistent();
                  return pr.replicator()->disk_state() == DiskState::kUpToDate &&
                         pr.replicator()->repl_state() == ReplState::kEstablished;
                },
                absl::Seconds(60));
            st = pr.replicator()->Promote(false);
            if (!st.ok()) {
              p.Violation(absl::StrCat("could not promote the old primary again: ",
                                       st.message()));
              break;
            }
          }
        }
      }
    } else if (a < 80) {
      if (p.node(primary).up() &&
          p.node(primary).replicator()->repl_state() == ReplState::kEstablished) {
        (void)p.node(primary).replicator()->StartVerify();
      }
    } else if (!extended) {
      // The remaining actions belong to the extended scenario.
    } else if (a < 82) {
      // A disk fails one write (a transient error): that node detaches
      // until its next restart, which attaches the same disk again.
      const int n = static_cast<int>(r.Uniform(2));
      // Not while a disk awaits its repair (see SimNode::ProcessReady).
      const bool awaiting_repair = [&] {
        for (int i = 0; i < 2; ++i) {
          if (p.node(i).up() && p.node(i).replicator()->disk_state() == DiskState::kInconsistent &&
              !p.node(i).status().disk_error.empty()) {
            return true;
          }
        }
        return false;
      }();
      if (p.node(n).up() && !awaiting_repair) {
        // One armed fault at a time: both disks failing the same write is a
        // double fault that leaves no disk to resync from.
        p.node(1 - n).disk()->ClearFaults();
        const bool read = r.OneIn(4);
        p.node(n).disk()->AddFault(
            io::SimFault::FailNext(read ? io::IoOp::kRead : io::IoOp::kWrite, 1, EIO));
        p.TraceLine(n, absl::StrCat("*** the disk will fail its next ", read ? "read" : "write"));
      }
    } else if (a < 84) {
      // Clean switchover of a pair in sync (as a cluster manager moves the
      // service).
      SimNode& pr = p.node(primary);
      SimNode& s = p.node(secondary);
      const auto in_sync = [](SimNode& n) {
        return n.up() && n.replicator()->conn_state() == ConnState::kConnected &&
               n.replicator()->repl_state() == ReplState::kEstablished &&
               n.replicator()->disk_state() == DiskState::kUpToDate;
      };
      if (in_sync(pr) && in_sync(s) && pr.replicator()->Demote().ok()) {
        p.RunFor(absl::Milliseconds(r.Range(1, 50)));
        // Only once the peer saw the demotion (a cluster manager waits for
        // the old Primary's "stopped"; a link drop meanwhile is no handover),
        // and over a link that delivers both ways: with one direction cut,
        // the Secondary's view of the old Primary is stale and a promotion
        // on it ends in two Primaries (hafs promotes unilaterally; DRBD's
        // cluster-wide state change would ask the peer first).
        const bool handed_over = s.replicator()->conn_state() == ConnState::kConnected &&
                                 s.status().peer_role == Role::kSecondary &&
                                 !p.network().blocked(0) && !p.network().blocked(1);
        if (handed_over && s.replicator()->Promote(/*force=*/false).ok()) {
          primary = secondary;
        } else if (!pr.replicator()->Promote(/*force=*/false).ok()) {
          p.Violation("switchover: neither node could be promoted again");
          break;
        }
      }
    } else if (a < 86) {
      // Clean stop of both (the Primary demoted first), then both start as
      // Secondaries; the old Primary is promoted once they are in sync.
      SimNode& pr = p.node(primary);
      SimNode& s = p.node(secondary);
      if (pr.up() && s.up() && pr.replicator()->Demote().ok()) {
        p.RunFor(absl::Milliseconds(50));  // the demotion reaches the metadata
        for (int n : {primary, secondary}) {
          p.node(n).Crash(r.Next64());
          p.NoteCrash(n);
        }
        ++res.crashes;
        for (int n : {secondary, primary}) {
          p.node(n).disk()->ClearFaults();
          p.node(n).Restart();
          p.CheckCoverageAfterRestart(n);
        }
        p.network().Heal();
        if (!p.RunUntil([&] { return p.Converged(); }, absl::Seconds(60))) {
          // Nobody wrote on either side alone: never a split brain.
          p.Violation("after a clean stop the pair did not converge");
          break;
        }
        p.CheckDurableWrites();
        if (!pr.replicator()->Promote(/*force=*/false).ok()) {
          p.Violation("after a clean stop the old Primary could not be promoted");
          break;
        }
      }
    } else if (a < 87) {
      repair_inconsistent();
    } else if (a < 95) {
      p.RandomRead(primary, 8);  // CheckRead
    }
    p.RunFor(absl::Microseconds(r.Range(100, 30000)));
  }
  if (p.violation()) return fail(*p.violation());
  // Liveness: heal everything and wait for convergence.
  p.network().Heal();
  for (int i = 0; i < 2; ++i) p.node(i).disk()->ClearFaults();
  p.RunFor(absl::Milliseconds(100));  // I/O already hit by a fault completes
  for (int i = 0; i < 2; ++i) {
    SimNode& n = p.node(i);
    // A detached disk is attached again by restarting its node.
    if (n.up() && n.replicator()->disk_state() == DiskState::kDiskless) {
      n.Crash(r.Next64());
      p.NoteCrash(i);
    }
    if (!n.up()) n.Restart();
    // An operator reconnects a node a refusal left StandAlone (a split brain
    // stays one: the handshake refuses again).
    if (extended && n.replicator()->conn_state() == ConnState::kStandAlone) {
      n.replicator()->Connect();
    }
  }
  const auto converged = [&] {
    repair_inconsistent();
    return p.Converged();
  };
  if (!p.RunUntil(converged, absl::Seconds(120))) {
    if (p.violation()) return fail(*p.violation());
    std::string why = "the healed pair did not converge:";
    for (int i = 0; i < 2; ++i) {
      Status st = p.node(i).status();
      absl::StrAppend(&why, " n", i, "=", RoleName(st.role), "/",
                      ConnStateName(st.conn), "/", ReplStateName(st.repl), "/",
                      DiskStateName(st.disk), " oos=", st.counters.oos, "KiB");
    }
    return fail(why);
  }
  p.CheckIdentical();
  if (!p.violation() && extended) p.CheckDurableWrites();
  if (p.violation()) return fail(*p.violation());
  res.reads_checked = p.sectors_read_checked();
  res.pass_on_inconsistent = p.pass_on_inconsistent();
  res.resyncs_with_failed_blocks = p.resyncs_with_failed_blocks();
  return res;
}

}  // namespace hafs::mirror
