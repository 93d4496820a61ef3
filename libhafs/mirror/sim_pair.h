// File: libhafs/mirror/sim_pair.h
// -----------------------------------------------------------------------------
// testonly: the block mirror's deterministic simulator. Two nodes, each a
// Replicator driven by a small simulated runtime (SimDevice disk, the real
// ActivityLog core with a durable slot table, an out-of-sync bitmap with a
// durable copy, superblock state persisted atomically), connected by the
// seeded SimNetwork of libhafs/peer, all on one SimClock. The runtime follows
// the Ready contract of replicator.h exactly as hafsd's does.
//
// A SimPair is driven by a test (scenarios) or by RunSeed() (swarm testing:
// one seed picks the faults, the workload and their timing) and checks the
// invariants of DESIGN.md as it goes:
//   * no acknowledged protocol-C write is lost after failover;
//   * write-order fidelity on the replica;
//   * after a crash, every block that may differ between the replicas is
//     covered by the activity log or a bitmap;
//   * generation ids only advance;
//   * a healed pair converges and the replicas are then byte-identical.
// The first violation is recorded with the simulated time and a description;
// a failing seed replays exactly.
//
// Thread-safety: none; single-threaded simulation.
#ifndef HAFS_LIBHAFS_MIRROR_SIM_PAIR_H_
#define HAFS_LIBHAFS_MIRROR_SIM_PAIR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/random.h"
#include "libhafs/io/sim_device.h"
#include "libhafs/meta/activity_log.h"
#include "libhafs/meta/bitmap.h"
#include "libhafs/mirror/replicator.h"
#include "libhafs/mirror/runtime_helpers.h"
#include "libhafs/peer/sim_transport.h"

namespace hafs::mirror {

struct SimPairOptions {
  uint64_t seed = 1;
  uint64_t size_bytes = 16 << 20;  // 4 AL extents
  uint32_t al_extents = 2;
  Protocol protocol = Protocol::kC;
  peer::SimNetworkOptions network;
  absl::Duration write_latency = absl::Microseconds(200);
  absl::Duration read_latency = absl::Microseconds(100);
  absl::Duration flush_latency = absl::Milliseconds(1);
  absl::Duration tick = absl::Milliseconds(10);
  // Unlimited fixed-rate resync by default (fast simulations).
  ResyncControllerOptions resync = {.plan_ahead = absl::ZeroDuration(),
                                    .rate_bytes_per_s = 0};
  bool csum_resync = false;
  bool pull_ahead = false;
  uint64_t congestion_fill_bytes = 0;
  // Battery-backed disks (SimDeviceOptions::nonvolatile_cache) and, as DRBD
  // advises for them, disk-flushes off (ReplicatorOptions::disk_flushes).
  bool nonvolatile_cache = false;
  OnIoError on_io_error = OnIoError::kDetach;
  // Keep a trace of every log line (printed by tests on failure).
  bool trace = true;
};

class SimPair;

// One node: a Replicator and its simulated runtime.
class SimNode {
 public:
  SimNode(SimPair* pair, int id);
  ~SimNode();

  Replicator* replicator() { return rep_.get(); }
  io::SimDevice* disk() { return disk_.get(); }
  meta::Bitmap& bitmap() { return bitmap_; }
  bool up() const { return rep_ != nullptr; }
  int id() const { return id_; }
  Status status() const { return rep_->status(); }

  // Power loss: the disk loses/tears unsynced writes (seeded), the process
  // state is gone, the network connection breaks.
  void Crash(uint64_t seed);
  // Attach after a crash: apply-al (hot extents -> bitmap), rebuild the
  // replicator from the durable superblock state, reconnect.
  void Restart();

  // Processes everything that is ready at the current simulated time.
  // Returns true if anything happened.
  bool Pump();

  // Application I/O on this node; `done` runs when it completes.
  void Write(uint64_t offset, io::AlignedBuffer data, bool fua,
             std::function<void(absl::Status)> done);
  void Flush(std::function<void(absl::Status)> done);
  void Read(uint64_t offset, uint64_t length,
            std::function<void(absl::Status, std::string)> done);

  // Durable state as a crash would leave it (for the coverage check).
  const meta::Bitmap& durable_bitmap() const { return durable_bitmap_; }
  std::vector<uint32_t> durable_hot_extents() const;

  // Whether the last completed application request was replicated.
  bool last_done_replicated() const { return last_done_replicated_; }

  // Number of local I/Os in flight (the runtime's view).
  size_t ios_in_flight() const {
    return ops_.size() + al_parked_.size() + backlog_.size() +
           al_admission_waiting_.size() + admitted_.size();
  }

 private:
  struct Op {
    io::IoRequest req;
    LocalIo io;
    bool al_held = false;  // Begin() taken for a write
    uint32_t first = 0, last = 0;
  };

  void Boot(const PersistedState& state, DiskState disk, uint64_t seed);
  void ProcessReady(Ready rd);
  void PersistBitmapPages(uint64_t first_block, uint64_t end_block);
  void Issue(LocalIo io);
  void IssueToDisk(LocalIo io);
  void ReleaseBacklog();
  void SubmitOp(uint64_t token);
  void MaybeStartAlTransaction();
  void ReleaseAl(uint64_t offset, uint64_t length);
  void SyncTransportWish();

  SimPair* const pair_;
  const int id_;
  std::unique_ptr<io::SimDevice> disk_;
  meta::Bitmap bitmap_;
  meta::Bitmap durable_bitmap_;
  PersistedState durable_state_;
  std::vector<uint32_t> durable_al_slots_;
  uint64_t durable_al_next_tr_ = 1;
  uint32_t durable_al_next_context_ = 0;
  std::unique_ptr<meta::ActivityLog> al_;
  std::unique_ptr<Replicator> rep_;
  peer::SimTransport* transport_;
  peer::ConnectionId conn_ = 0;
  TransportWish transport_wish_;
  Outbox outbox_;                            // refused by back-pressure
  std::map<uint64_t, Op> ops_;               // by token, submitted to the disk
  std::map<uint64_t, Op> al_parked_;         // waiting for an AL transaction
  BarrierBacklog backlog_;                   // behind a barrier that waits for al_parked_
  std::set<uint64_t> al_admission_waiting_;  // al_begin tokens waiting
  std::deque<uint64_t> admitted_;            // al_begin tokens to report
  bool al_flush_in_flight_ = false;
  std::optional<meta::ActivityLog::Transaction> al_tr_;
  io::IoRequest al_flush_req_;
  std::map<uint64_t, std::function<void(absl::Status)>> app_done_;
  std::map<uint64_t, std::function<void(absl::Status, std::string)>> read_done_;
  uint64_t next_app_id_ = 1;
  uint64_t boot_count_ = 0;
  bool last_done_replicated_ = false;
  absl::Time last_tick_ = absl::InfinitePast();
};

class SimPair {
 public:
  explicit SimPair(const SimPairOptions& options);
  ~SimPair();

  SimClock& clock() { return clock_; }
  SimNode& node(int i) { return *nodes_[i]; }
  peer::SimNetwork& network() { return *network_; }
  const SimPairOptions& options() const { return options_; }
  Random& rng() { return rng_; }

  // Runs the simulation for `d` of simulated time.
  void RunFor(absl::Duration d);
  // Runs until `pred` holds or `limit` passes; returns whether it held.
  bool RunUntil(const std::function<bool()>& pred, absl::Duration limit);

  // Initial set-up: node 0 Primary --force, full sync to node 1.
  // Returns false (with a violation recorded) if it does not finish in time.
  bool Bootstrap();

  // Records the first invariant violation.
  void Violation(std::string what);
  const std::optional<std::string>& violation() const { return violation_; }
  void TraceLine(int node, absl::string_view line);
  const std::vector<std::string>& trace() const { return trace_; }

  // Checks, each recording a violation on failure.
  void CheckIdentical();
  void CheckCoverageAfterRestart(int restarted);
  void CheckFailover(int promoted);
  void CheckWriteOrderFidelity(int replica);
  // After convergence: every durable acknowledged write (flushed after its
  // ack, or on a nonvolatile cache) with no failover after it is on both
  // nodes, or a write concurrent with it or issued after it. A resync from a
  // stale replica breaks it.
  void CheckDurableWrites();
  bool Converged();

  // Workload bookkeeping (per 512-byte sector stamps).
  struct WriteRec {
    uint64_t id = 0;
    int node = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t issued_at = 0;   // event counter
    uint64_t acked_at = 0;    // 0 = not acked
    bool ok = false;
    bool confirmed = false;   // acked while connected (protocol C: on both)
    uint64_t durable_at = 0;  // event counter when durable on its node (0 = not)
    bool flushed = false;     // a completed flush covered it
    // A later flush on its node reported a loss (kDataLoss) before the write
    // was covered by a successful one: the application was told it may be
    // gone, so a read need not return it.
    bool taken_back = false;
  };
  // Issues an application flush on `node` (if Primary); records completion.
  void AppFlush(int node);
  // The first sector of node `n` that holds neither the newest write `counts`
  // selects among those covering it nor a write concurrent with it or later.
  struct LostWrite {
    uint64_t write, block, sector, have;
  };
  std::optional<LostWrite> FindLostWrite(int n,
                                         const std::function<bool(const WriteRec&)>& counts) const;
  // Whether write `have` (a sector's stamp) may legitimately stand where write
  // `id` was acknowledged: it is `id`'s concurrent or a later write.
  bool ConcurrentOrLater(uint64_t have, uint64_t id) const;
  // Records that `node` crashed (for the failover check's double-failure rule).
  void NoteCrash(int node);
  // Node `n` lost its connection: see sim_pair.cc.
  void TakeBackUnconfirmedAfterPassOn(int n);
  // Records that the last crash was followed by a failover to the peer.
  void NoteFailover();
  // Whether protocol C promises `w` survives (see CheckFailover).
  bool Protected(const WriteRec& w) const;
  // A random range (first block, blocks) of at most `max_blocks` for an
  // application request on `node`; none unless it is up and Primary.
  std::optional<std::pair<uint64_t, uint64_t>> RandomRange(int node, uint64_t max_blocks);
  // Issues a random stamped write on `node` (must be Primary).
  void RandomWrite(int node, uint64_t max_blocks);
  // Issues a random read on `node` (if Primary) and checks what it returns
  // (CheckRead).
  void RandomRead(int node, uint64_t max_blocks);
  // Read your writes: a successful read on a node that stayed Primary returns,
  // in each sector, its newest write acknowledged before the read was issued
  // (or one concurrent with it or later), unless a write of the sector was in
  // flight during the read. `local`: the node's disk was UpToDate throughout
  // (the read was served by it). Otherwise (an Inconsistent disk's in-sync
  // blocks, or the peer) only under protocol C, and not if the peer crashed
  // since that write (it may have taken an unflushed copy). A crash of this
  // node ends its time as Primary.
  void CheckRead(int node, uint64_t first_block, const std::string& data, uint64_t issued,
                 uint64_t done, uint64_t primary_since, bool local);
  size_t writes_in_flight() const { return writes_in_flight_; }
  // Coverage: sectors CheckRead compared; disks pass_on made Inconsistent.
  uint64_t sectors_read_checked() const { return sectors_read_checked_; }
  uint64_t pass_on_inconsistent() const { return pass_on_inconsistent_; }
  uint64_t resyncs_with_failed_blocks() const { return resyncs_with_failed_blocks_; }
  // The write id stamped in a sector image (0 = never written).
  static uint64_t StampOf(const char* sector);

 private:
  friend class SimNode;
  SimPairOptions options_;
  SimClock clock_;
  Random rng_;
  std::unique_ptr<peer::SimNetwork> network_;
  std::unique_ptr<SimNode> nodes_[2];
  std::optional<std::string> violation_;
  std::vector<std::string> trace_;
  std::map<uint64_t, WriteRec> writes_;
  uint64_t next_write_id_ = 1;
  uint64_t event_counter_ = 1;
  size_t writes_in_flight_ = 0;
  uint64_t era_start_[2] = {0, 0};
  uint64_t primary_since_[2] = {0, 0};  // event counter at the last promotion
  uint64_t pass_on_fell_at_[2] = {0, 0};    // the last time pass_on made the disk Inconsistent
  uint64_t last_failed_flush_[2] = {0, 0};  // event counter
  // Coverage of the checks (SeedResult).
  uint64_t sectors_read_checked_ = 0;
  uint64_t pass_on_inconsistent_ = 0;
  uint64_t resyncs_with_failed_blocks_ = 0;  // ended so on the SyncTarget
  struct FlushRec {
    uint64_t issued, done;
  };
  struct CrashRec {
    uint64_t at;
    int node;
    bool failover = false;  // the peer was promoted right after this crash
  };
  std::vector<FlushRec> flushes_;
  std::vector<CrashRec> crashes_;  // event counter when each became Established
};

// Swarm test: one seed picks faults, workload and timing; runs a safety phase
// with faults and a liveness phase after healing. Returns the violation, if
// any, with the seed and the tail of the trace.
struct SeedResult {
  bool ok = true;
  std::string failure;
  uint64_t writes = 0;
  uint64_t crashes = 0;
  uint64_t failovers = 0;
  uint64_t reads_checked = 0;         // sectors CheckRead compared
  uint64_t pass_on_inconsistent = 0;  // disks on-io-error pass_on made Inconsistent
  uint64_t resyncs_with_failed_blocks = 0;  // the source could not read some blocks
};
// `extended` adds disk errors (a failed read or write; the node detaches until
// its next restart, which attaches the same disk again, or with on-io-error
// pass_on in one seed of three goes Inconsistent until a resync), clean
// switchovers and clean stops of both nodes to the faults, application reads
// (CheckRead), and checks at the end that every durable acknowledged write
// survived (CheckDurableWrites). See docs/replication.md, "The simulator and
// its invariants".
SeedResult RunSeed(uint64_t seed, bool full_trace = false, bool extended = false);

}  // namespace hafs::mirror

#endif  // HAFS_LIBHAFS_MIRROR_SIM_PAIR_H_
