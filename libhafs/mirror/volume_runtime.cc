// The block mirror's runtime: one event-loop thread per Volume drives the pure
// Replicator with a UringDevice, the MetaStore and a peer Transport, following
// the Ready contract of replicator.h. Threading model and contract as
// implemented: docs/mirror.md.
#include "libhafs/mirror/volume.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/io/uring_device.h"
#include "libhafs/mirror/runtime_helpers.h"

namespace hafs::mirror {
namespace {

constexpr uint64_t kBlock = io::kBlockSize;
// Bitmap words per AL extent: 4 MiB / 4 KiB = 1024 bits = 16 words.
constexpr uint64_t kWordsPerExtent = (meta::kAlExtentBytes / kBlock) / 64;
static_assert(kWordsPerExtent * 64 * kBlock == meta::kAlExtentBytes);
static_assert(splitbrain::kHistorySize == meta::kHistoryGis,
              "metadata and handshake carry the same number of history GIs");

uint64_t RandomSeed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

// ---------------------------------------------------------------------------
// Superblock mapping.

splitbrain::GenerationIds ToSplitbrainGi(const meta::GenerationIds& gi) {
  splitbrain::GenerationIds out;
  out.current = gi.current;
  out.bitmap = gi.bitmap;
  for (int i = 0; i < splitbrain::kHistorySize; ++i) out.history[i] = gi.history[i];
  return out;
}

meta::GenerationIds ToMetaGi(const splitbrain::GenerationIds& gi) {
  meta::GenerationIds out;
  out.current = gi.current;
  out.bitmap = gi.bitmap;
  for (int i = 0; i < meta::kHistoryGis; ++i) out.history[i] = gi.history[i];
  return out;
}

PersistedState PersistedFromSuperblock(const meta::Superblock& sb) {
  PersistedState ps;
  ps.gi = ToSplitbrainGi(sb.gi);
  ps.consistent = sb.has_flag(meta::kMdConsistent);
  ps.was_up_to_date = sb.has_flag(meta::kMdWasUpToDate);
  ps.crashed_primary = sb.has_flag(meta::kMdCrashedPrimary);
  ps.peer_outdated = sb.has_flag(meta::kMdPeerOutdated);
  return ps;
}

void ApplyPersisted(const PersistedState& ps, meta::Superblock& sb) {
  sb.gi = ToMetaGi(ps.gi);
  auto set = [&](uint32_t flag, bool on) {
    if (on) {
      sb.flags |= flag;
    } else {
      sb.flags &= ~flag;
    }
  };
  set(meta::kMdConsistent, ps.consistent);
  set(meta::kMdWasUpToDate, ps.was_up_to_date);
  set(meta::kMdCrashedPrimary, ps.crashed_primary);
  set(meta::kMdPeerOutdated, ps.peer_outdated);
}

DiskState DiskStateFromFlags(uint32_t flags) {
  if (flags & meta::kMdConsistent) {
    return (flags & meta::kMdWasUpToDate) ? DiskState::kUpToDate : DiskState::kOutdated;
  }
  return DiskState::kInconsistent;
}

std::string VolumeStatus::ToString() const {
  const Status& s = replication;
  const Counters& c = s.counters;
  std::string out =
      absl::StrCat(name, ": cs:", ConnStateName(s.conn), "/", ReplStateName(s.repl),
                   " ro:", RoleName(s.role), "/", PeerRoleName(s), " ds:", DiskStateName(s.disk),
                   "/", DiskStateName(s.peer_disk), closed ? " (closed)" : "", "\n    ns:", c.ns,
                   " nr:", c.nr, " dw:", c.dw, " dr:", c.dr, " al:", al, " bm:", bm, " lo:", c.lo,
                   " pe:", c.pe, " ua:", c.ua, " ap:", c.ap, " oos:", c.oos);
  if (s.repl == ReplState::kSyncSource || s.repl == ReplState::kSyncTarget) {
    const double done =
        s.resync_total_blocks == 0
            ? 100.0
            : 100.0 * static_cast<double>(s.resync_total_blocks - s.resync_left_blocks) /
                  static_cast<double>(s.resync_total_blocks);
    absl::StrAppend(&out, absl::StrFormat("\n    sync'ed: %.1f%% (%d/%d) blocks", done,
                                          s.resync_total_blocks - s.resync_left_blocks,
                                          s.resync_total_blocks));
  }
  if (s.conn != ConnState::kConnected && !connect_error.empty()) {
    absl::StrAppend(&out, "\n    last connection attempt failed: ", connect_error);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The runtime.

class Volume::Impl {
 public:
  explicit Impl(const VolumeOptions& o) : opt_(o) {
    clock_ = o.clock != nullptr ? o.clock : Clock::System();
  }
  ~Impl();

  absl::Status Attach();

  // Queues `fn` for the runner (runs in order with other posted calls) and
  // kicks. Returns false if the loop is not running. If the volume closes
  // before `fn` ran, `abandon` runs instead (on the closing thread).
  bool Post(std::function<void()> fn, std::function<void()> abandon = nullptr);
  // Runs `fn` as a step and waits for it.
  template <typename T>
  absl::StatusOr<T> Call(std::function<T()> fn);
  absl::Status CallStatus(std::function<absl::Status()> fn);

  // Queues an application request; `fail` gets kFailedPrecondition if the
  // volume does not accept it or closes before it ran.
  void PostRequest(std::function<void()> run, std::function<void(absl::Status)> fail);
  void SubmitWrite(uint64_t offset, Buffer data, bool fua, Callback done);
  void SubmitRead(uint64_t offset, uint64_t length, ReadCallback done);
  void SubmitFlush(Callback done);

  VolumeStatus Snapshot();
  absl::Status Close();
  void CheckNotLoopThread(const char* what) const {
    HAFS_CHECK(!InStep()) << "Volume::" << what << " is blocking and must not be called from a "
                          << "completion or event callback of the volume";
  }

  bool closed() const { return closed_.load(); }
  bool accepting() const { return running_.load() && !closing_.load(); }
  const VolumeOptions& options() const { return opt_; }
  uint64_t size_bytes() const { return size_bytes_; }
  // Loop thread only (admin calls run there through CallStatus).
  Replicator* rep() { return rep_.get(); }

 private:
  // A local I/O the runtime owns until its completion is reported.
  struct Op {
    io::IoRequest req;
    LocalIo io;
    bool al_held = false;  // BeginWrite taken by the runtime (non-hold writes)
  };
  struct AppReq {
    Callback done;
    ReadCallback read_done;
    uint64_t read_length = 0;
  };

  void Loop();
  // Signals the loop thread.
  void Wake();
  // Runs the step on this thread if no other thread does (run-to-completion,
  // saving a thread hand-off), else signals the loop thread. A transport
  // thread's step never blocks: it hands over to the loop thread before a
  // Ready that needs synchronous metadata I/O (the transport's threads also
  // carry the cluster's heartbeats).
  void Kick(bool from_transport = false);
  // One pass over every event source; true if anything happened. Runner only.
  bool RunOnce();
  // This thread is the runner (inside a step, e.g. in a callback).
  bool InStep() const { return runner_.load() == std::this_thread::get_id(); }
  // Stops the loop thread and waits until no other thread runs a step.
  void StopRunners();
  // Closes the inbox and runs the `abandon` of every call still queued.
  void AbandonInbox();
  // Processing the pending Ready would block (superblock or bitmap write, or
  // the bitmap write-out after a resync).
  bool ReadyWouldBlock();
  bool BitmapNeedsPersist(bool all);
  bool RunInbox();
  bool RunTransport();
  bool RunCompletions();
  bool MaybeTick();
  void DrainReady();
  // `bitmap_checked`: ReadyWouldBlock() just found no bitmap page to write
  // (a transport thread's step), so step 2 need not scan the bitmap again.
  void ProcessReady(Ready rd, bool bitmap_checked);
  void Emit(VolumeEvent e);
  // Ready step 2: persist bitmap pages holding bits newly set outside hot
  // AL extents (or everything when `all`).
  void PersistBitmap(bool all);
  void WaitForAlIdle();
  void Issue(LocalIo io);
  void IssueToDevice(LocalIo io);
  // Issues what the barrier backlog releases (a parked write moved on).
  void ReleaseBacklog();
  void SubmitOp(uint64_t token);
  void SyncTransportWish();
  void MetaFailed(const absl::Status& s);
  absl::Status ShutdownLoop();
  void DetachTransport();
  bool LocalIdle() const;

  const VolumeOptions opt_;
  Clock* clock_;
  uint64_t size_bytes_ = 0;
  std::string open_report_;

  // Owned by the runner — the thread holding run_mu_: the loop thread, or an
  // application or transport thread that kicked — once the loop runs (and by
  // the constructing / closing thread before it starts and after it stopped).
  std::unique_ptr<io::UringDevice> dev_;
  std::unique_ptr<io::UringDevice> meta_dev_;  // external metadata only
  std::unique_ptr<meta::MetaStore> md_;
  std::unique_ptr<Replicator> rep_;
  peer::Transport* transport_ = nullptr;
  peer::ConnectionId conn_ = 0;
  TransportWish transport_wish_;
  Outbox outbox_;
  std::string connect_error_;  // last failed connection attempt
  absl::Time connect_error_at_ = absl::InfinitePast();
  std::map<uint64_t, Op> ops_;            // submitted to the device, by token
  std::map<uint64_t, Op> parked_;         // waiting for an AL transaction
  BarrierBacklog backlog_;                // behind a barrier that waits for parked_
  std::deque<uint64_t> admitted_;         // al_begin tokens to report
  std::deque<std::pair<uint64_t, absl::Status>> al_failed_;  // AL write failed
  size_t al_begin_waiting_ = 0;           // al_begin tokens waiting for the AL
  uint64_t holds_ = 0;                    // hold_al references not yet released
  std::multiset<std::pair<uint64_t, uint64_t>> unreferenced_holds_;
  std::vector<std::pair<uint64_t, absl::Status>> completed_;  // from Poll callbacks
  std::map<uint64_t, AppReq> app_;
  uint64_t next_app_id_ = 1;
  std::vector<uint64_t> shadow_;  // bitmap words known durable (subset of disk)
  absl::Status md_error_;         // metadata device failed
  bool md_error_unreported_ = false;  // the replicator has not been told yet
  absl::Time next_tick_ = absl::InfinitePast();
  absl::Time next_writeout_ = absl::InfinitePast();
  bool in_ready_ = false;
  bool was_syncing_ = false;

  // Runner, loop thread and inbox.
  absl::Mutex run_mu_;
  std::atomic<std::thread::id> runner_{};
  std::atomic<bool> kicks_run_{false};  // the loop did its first tick
  std::atomic<bool> rerun_{false};      // work posted from inside a step
  bool may_block_ = true;               // runner: may do synchronous metadata I/O
  bool yield_ = false;                  // runner: stopped before a blocking Ready
  std::deque<peer::TransportEvent> events_;  // taken from the transport, not yet handled
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> closing_{false};
  std::atomic<bool> closed_{false};
  absl::Mutex inbox_mu_;
  struct InboxItem {
    std::function<void()> run;
    std::function<void()> abandon;
  };
  std::deque<InboxItem> inbox_ ABSL_GUARDED_BY(inbox_mu_);
  bool inbox_open_ ABSL_GUARDED_BY(inbox_mu_) = false;
  absl::Mutex status_mu_;
  VolumeStatus last_status_ ABSL_GUARDED_BY(status_mu_);
};

Volume::Impl::~Impl() {
  HAFS_CHECK(!InStep()) << opt_.name
                        << ": a Volume must not be destroyed from its own callback";
  if (running_.load()) {
    // Crash-like: stop the loop, abandon everything, no clean shutdown.
    HAFS_LOG(WARNING) << opt_.name
                      << ": volume destroyed without Close(): the next Open replays the "
                         "activity log";
    StopRunners();
  }
  DetachTransport();
  // Fail what the application still waits for (the loop is gone).
  auto app = std::move(app_);
  app_.clear();
  for (auto& [id, r] : app) {
    absl::Status s = absl::AbortedError(absl::StrCat(opt_.name, ": volume destroyed"));
    if (r.done) r.done(s);
    if (r.read_done) r.read_done(s);
  }
  AbandonInbox();
  // Devices first: their destructors wait for the kernel to release the
  // buffers of in-flight requests (owned by ops_, the MetaStore and the
  // replicator) and drop the callbacks.
  meta_dev_.reset();
  dev_.reset();
  md_.reset();  // logs "destroyed without Close()" unless closed
  ops_.clear();
  parked_.clear();
  backlog_.Clear();
  rep_.reset();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Volume::Impl::DetachTransport() {
  if (transport_ == nullptr) return;
  transport_->SetWakeup(nullptr);
  transport_->Disconnect();
  (void)transport_->TakeEvents();
  transport_ = nullptr;
}

absl::Status Volume::Impl::Attach() {
  if (opt_.backing_path.empty()) {
    return absl::InvalidArgumentError("VolumeOptions.backing_path is empty");
  }
  if (opt_.node_id == opt_.peer_node_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node id ", opt_.node_id, " is also the peer's node id (hint: ids must differ)"));
  }
  if (opt_.tick <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("VolumeOptions.tick must be positive");
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  {
    io::UringDeviceOptions d;
    d.path = opt_.backing_path;
    d.queue_depth = opt_.queue_depth;
    HAFS_ASSIGN_OR_RETURN(dev_, io::UringDevice::Open(d));
    HAFS_RETURN_IF_ERROR(dev_->SetCompletionEventFd(wake_fd_));
  }
  io::BlockDevice* md_dev = dev_.get();
  meta::MetaOpenOptions mo;
  mo.kind = meta::MdKind::kInternal;
  mo.md_flushes = opt_.md_flushes;
  if (!opt_.meta_path.empty()) {
    io::UringDeviceOptions d;
    d.path = opt_.meta_path;
    d.queue_depth = 32;
    HAFS_ASSIGN_OR_RETURN(meta_dev_, io::UringDevice::Open(d));
    HAFS_RETURN_IF_ERROR(meta_dev_->SetCompletionEventFd(wake_fd_));
    md_dev = meta_dev_.get();
    mo.kind = meta::MdKind::kExternal;
    mo.external_index = opt_.meta_index;
    mo.expect_data_bytes = dev_->size_bytes();
  }
  if (opt_.check_node_id) mo.expect_node_id = opt_.node_id;
  meta::RecoveryReport report;
  absl::StatusOr<std::unique_ptr<meta::MetaStore>> md =
      meta::MetaStore::Open(md_dev, mo, &report);
  if (!md.ok()) {
    return absl::Status(md.status().code(),
                        absl::StrCat(opt_.name, ": attaching ", opt_.backing_path, ": ",
                                     md.status().message()));
  }
  md_ = std::move(*md);
  open_report_ = report.ToString();
  const meta::Superblock& sb = md_->superblock();
  size_bytes_ = sb.data_bytes;
  if (sb.has_flag(meta::kMdFullSync)) {
    md_->bitmap().SetAll();
    HAFS_RETURN_IF_ERROR(md_->FlushBitmap());
    HAFS_RETURN_IF_ERROR(
        md_->UpdateSuperblock([](meta::Superblock& s) { s.flags &= ~meta::kMdFullSync; }));
  }
  shadow_ = md_->bitmap().words();

  const PersistedState ps = PersistedFromSuperblock(md_->superblock());
  const DiskState disk = DiskStateFromFlags(md_->superblock().flags);
  HAFS_LOG(INFO) << opt_.name << ": attached " << opt_.backing_path << " ("
                 << size_bytes_ << " bytes, disk " << DiskStateName(disk) << ", gi "
                 << ps.gi.DebugString() << (ps.crashed_primary ? ", crashed primary" : "")
                 << "); " << open_report_;

  ReplicatorOptions ro = opt_.replication;
  ro.node_id = opt_.node_id;
  ro.peer_node_id = opt_.peer_node_id;
  ro.node_name = opt_.node_name;
  ro.peer_name = opt_.peer_name;
  ro.size_bytes = size_bytes_;
  rep_ = std::make_unique<Replicator>(ro, ps, disk, &md_->bitmap(), RandomSeed());
  if (opt_.start_standalone || opt_.transport == nullptr) rep_->Disconnect();

  transport_ = opt_.transport;
  if (transport_ != nullptr) {
    // Take the transport over: forget a previous owner's connection.
    transport_->SetWakeup(nullptr);
    transport_->Disconnect();
    (void)transport_->TakeEvents();
    transport_->SetWakeup([this] { Kick(/*from_transport=*/true); });
  }
  {
    absl::MutexLock l(&inbox_mu_);
    inbox_open_ = true;
  }
  running_.store(true);
  absl::Notification started;
  thread_ = std::thread([this, &started] {
    started.Notify();
    Loop();
  });
  started.WaitForNotification();
  return absl::OkStatus();
}

void Volume::Impl::Wake() {
  const uint64_t one = 1;
  ssize_t r = write(wake_fd_, &one, sizeof(one));
  (void)r;  // EAGAIN: the counter is saturated, the loop wakes anyway
}

bool Volume::Impl::Post(std::function<void()> fn, std::function<void()> abandon) {
  {
    absl::MutexLock l(&inbox_mu_);
    if (!inbox_open_) return false;
    inbox_.push_back(InboxItem{std::move(fn), std::move(abandon)});
  }
  Kick();
  return true;
}

void Volume::Impl::AbandonInbox() {
  std::deque<InboxItem> left;
  {
    absl::MutexLock l(&inbox_mu_);
    inbox_open_ = false;
    left.swap(inbox_);
  }
  for (InboxItem& item : left) {
    if (item.abandon) item.abandon();
  }
}

void Volume::Impl::Kick(bool from_transport) {
  // Inside a step (a callback posting more work): that step's RunOnce loop
  // picks it up.
  if (InStep()) {
    rerun_.store(true);
    return;
  }
  // Before the loop's first tick, and while another thread runs a step, the
  // loop thread takes the work (a runner that is about to unlock has already
  // looked: the eventfd makes the loop look again).
  if (!kicks_run_.load() || !run_mu_.TryLock()) {
    Wake();
    return;
  }
  // A bounded number of passes: a kicking thread is the application's or the
  // transport's, and a steady stream of events is the loop thread's job.
  constexpr int kMaxPasses = 8;
  bool more = false;
  if (!stop_.load()) {
    runner_.store(std::this_thread::get_id());
    may_block_ = !from_transport;
    for (int pass = 0; pass < kMaxPasses && !yield_; ++pass) {
      more = RunOnce();
      if (!more) break;
    }
    more |= yield_;
    yield_ = false;
    may_block_ = true;
    runner_.store(std::thread::id());
  }
  run_mu_.Unlock();
  if (more) Wake();
}

void Volume::Impl::StopRunners() {
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  // A kick that took run_mu_ before stop_ was set finishes its step; later
  // ones see stop_.
  { absl::MutexLock l(&run_mu_); }
  running_.store(false);
}

template <typename T>
absl::StatusOr<T> Volume::Impl::Call(std::function<T()> fn) {
  CheckNotLoopThread("(admin call)");
  absl::Notification n;
  T out{};
  bool abandoned = false;
  if (!Post(
          [&] {
            out = fn();
            n.Notify();
          },
          [&] {
            abandoned = true;
            n.Notify();
          })) {
    return absl::FailedPreconditionError(absl::StrCat(opt_.name, ": volume is closed"));
  }
  n.WaitForNotification();
  if (abandoned) {
    return absl::FailedPreconditionError(absl::StrCat(opt_.name, ": volume closed"));
  }
  return out;
}

absl::Status Volume::Impl::CallStatus(std::function<absl::Status()> fn) {
  absl::StatusOr<absl::Status> s = Call<absl::Status>(std::move(fn));
  if (!s.ok()) return s.status();
  return *s;
}

// ---- the loop ----

void Volume::Impl::Loop() {
  // Sleeping: the loop waits in poll(2) on one eventfd that is signalled by
  // (a) application calls posting to the inbox, (b) the transport's wake-up
  // callback, and (c) the kernel, for every io_uring completion of the
  // backing (and metadata) device (io_uring_register_eventfd). So no source
  // waits for another's timeout; the poll timeout is only the next tick.
  // The replicator gets its clock before any event (a connection that comes
  // up first would otherwise start its handshake timer at no time).
  //
  // Steps also run on other threads (Kick): an application thread submitting
  // a request or the transport's thread delivering a message runs the step
  // itself when no other thread does, which saves a thread hand-off (tens of
  // microseconds) per event; run_mu_ makes the runners take turns.
  const std::thread::id self = std::this_thread::get_id();
  {
    absl::MutexLock l(&run_mu_);
    runner_.store(self);
    MaybeTick();
    DrainReady();
    SyncTransportWish();
    runner_.store(std::thread::id());
  }
  kicks_run_.store(true);
  while (!stop_.load()) {
    uint64_t junk;
    while (read(wake_fd_, &junk, sizeof(junk)) > 0) {
    }
    bool progress;
    absl::Duration left;
    {
      absl::MutexLock l(&run_mu_);
      runner_.store(self);
      progress = RunOnce();
      left = next_tick_ - clock_->Now();
      runner_.store(std::thread::id());
    }
    if (progress) continue;
    int timeout_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)), 0,
                            1000));
    pollfd p{wake_fd_, POLLIN, 0};
    (void)poll(&p, 1, timeout_ms);
  }
}

bool Volume::Impl::RunOnce() {
  bool progress = rerun_.exchange(false);
  progress |= RunInbox();
  progress |= RunTransport();
  progress |= RunCompletions();
  // The loop thread ticks (a tick may write the bitmap out).
  if (may_block_) progress |= MaybeTick();
  return progress;
}

bool Volume::Impl::RunInbox() {
  std::deque<InboxItem> work;
  {
    absl::MutexLock l(&inbox_mu_);
    work.swap(inbox_);
  }
  const bool any = !work.empty();
  while (!work.empty() && !yield_) {
    std::function<void()> fn = std::move(work.front().run);
    work.pop_front();
    fn();
    DrainReady();
  }
  if (!work.empty()) {  // yielded: the rest stays first in line
    absl::MutexLock l(&inbox_mu_);
    for (auto it = work.rbegin(); it != work.rend(); ++it) inbox_.push_front(std::move(*it));
  }
  return any;
}

bool Volume::Impl::RunTransport() {
  if (transport_ == nullptr) return false;
  for (peer::TransportEvent& e : transport_->TakeEvents()) events_.push_back(std::move(e));
  const bool any = !events_.empty();
  while (!events_.empty() && !yield_) {
    peer::TransportEvent e = std::move(events_.front());
    events_.pop_front();
    switch (e.kind) {
      case peer::TransportEvent::Kind::kConnected:
        conn_ = e.connection;
        outbox_.Clear();
        connect_error_.clear();
        HAFS_LOG(INFO) << opt_.name << ": transport connected to node " << e.peer.node_id
                       << " ('" << e.peer.node_name << "', " << e.peer.address << ")";
        rep_->TransportUp();
        break;
      case peer::TransportEvent::Kind::kMessage:
        if (e.connection == conn_ && conn_ != 0) {
          rep_->Receive(std::move(e.message), std::move(e.payload));
        }
        break;
      case peer::TransportEvent::Kind::kDisconnected:
        if (e.connection == conn_ && conn_ != 0) {
          conn_ = 0;
          outbox_.Clear();
          rep_->TransportDown(e.reason.message());
        }
        break;
      case peer::TransportEvent::Kind::kConnectFailed:
        if (conn_ == 0) {
          if (connect_error_ != e.reason.ToString()) {
            HAFS_LOG(WARNING) << opt_.name << ": connecting to the peer failed: " << e.reason;
          }
          connect_error_ = e.reason.ToString();
          connect_error_at_ = clock_->Now();
        }
        break;
      case peer::TransportEvent::Kind::kWritable:
        if (transport_ != nullptr && (e.connection == conn_ || e.connection == 0)) {
          (void)outbox_.Send(*transport_, conn_);  // broken: kDisconnected follows
        }
        break;
    }
    // Effects of each event before the next one (as the simulator does).
    DrainReady();
  }
  return any;
}

bool Volume::Impl::RunCompletions() {
  bool any = false;
  for (io::UringDevice* d : {dev_.get(), meta_dev_.get()}) {
    if (d == nullptr) continue;
    absl::StatusOr<int> n = d->Poll(0, absl::ZeroDuration());
    if (!n.ok()) {
      HAFS_LOG(ERROR) << opt_.name << ": polling " << d->path() << ": " << n.status();
    } else if (*n > 0) {
      any = true;
    }
  }
  while (
      (md_error_unreported_ || !completed_.empty() || !admitted_.empty() || !al_failed_.empty()) &&
      !yield_) {
    any = true;
    if (md_error_unreported_) {
      // Before the completions it failed: the replicator detaches first.
      md_error_unreported_ = false;
      rep_->MetadataFailed(md_error_);
      DrainReady();
      if (yield_) break;
    }
    std::vector<std::pair<uint64_t, absl::Status>> done;
    done.swap(completed_);
    for (size_t i = 0; i < done.size(); ++i) {
      if (yield_) {  // the rest stays first in line
        completed_.insert(completed_.begin(), std::make_move_iterator(done.begin() + i),
                          std::make_move_iterator(done.end()));
        break;
      }
      auto& [token, status] = done[i];
      auto it = ops_.find(token);
      if (it != ops_.end()) {
        Op op = std::move(it->second);
        ops_.erase(it);
        if (op.al_held) md_->EndWrite(op.io.offset, op.io.length);
      } else if (parked_.erase(token) > 0) {  // failed while waiting for the AL
        ReleaseBacklog();
      }
      rep_->IoDone(token, std::move(status));
      DrainReady();
    }
    while (!admitted_.empty() && !yield_) {
      const uint64_t token = admitted_.front();
      admitted_.pop_front();
      rep_->AlAdmitted(token);
      DrainReady();
    }
    while (!al_failed_.empty() && !yield_) {
      auto [token, status] = std::move(al_failed_.front());
      al_failed_.pop_front();
      rep_->AlFailed(token, std::move(status));
      DrainReady();
    }
  }
  return any;
}

bool Volume::Impl::MaybeTick() {
  const absl::Time now = clock_->Now();
  if (now < next_tick_) return false;
  next_tick_ = now + opt_.tick;
  rep_->Tick(now);
  const bool effects = rep_->HasReady();
  DrainReady();
  if (now >= next_writeout_) {
    next_writeout_ = now + opt_.bitmap_writeout_interval;
    if (md_->bitmap().dirty_page_count() > 0 && md_error_.ok()) PersistBitmap(/*all=*/true);
  }
  return effects;
}

void Volume::Impl::DrainReady() {
  if (in_ready_ || yield_) return;  // re-entered from a callback: the outer loop continues
  in_ready_ = true;
  while (rep_->HasReady()) {
    if (!may_block_ && ReadyWouldBlock()) {
      yield_ = true;  // the loop thread takes it from here
      in_ready_ = false;
      return;
    }
    ProcessReady(rep_->TakeReady(), /*bitmap_checked=*/!may_block_);
  }
  // A resync ended (finished or interrupted): write its progress out now, as
  // DRBD does, so a crash right after it does not redo it.
  const ReplState repl = rep_->repl_state();
  const bool syncing = repl == ReplState::kSyncSource || repl == ReplState::kSyncTarget;
  if (was_syncing_ && !syncing && md_error_.ok()) {
    if (!may_block_ && md_->bitmap().dirty_page_count() > 0) {
      yield_ = true;
      in_ready_ = false;
      return;
    }
    PersistBitmap(/*all=*/true);
  }
  was_syncing_ = syncing;
  in_ready_ = false;
}

bool Volume::Impl::ReadyWouldBlock() {
  if (!md_error_.ok()) return false;  // no metadata I/O any more
  return rep_->PersistPending() || BitmapNeedsPersist(/*all=*/false);
}

void Volume::Impl::Emit(VolumeEvent e) {
  if (opt_.on_event) opt_.on_event(e);
}

void Volume::Impl::MetaFailed(const absl::Status& s) {
  if (md_error_.ok()) {
    md_error_ = s;
    md_error_unreported_ = true;
    rerun_.store(true);  // told at the loop's next pass (RunCompletions)
    HAFS_LOG(ERROR) << opt_.name << ": metadata I/O failed: " << s
                    << "; the local disk detaches (whatever the on-io-error policy)";
  }
}

void Volume::Impl::WaitForAlIdle() {
  io::BlockDevice* d = md_->device();
  while (md_->al_busy()) {
    absl::StatusOr<int> n = d->Poll(1, absl::Milliseconds(100));
    if (!n.ok()) {
      MetaFailed(n.status());
      return;
    }
  }
}

bool Volume::Impl::BitmapNeedsPersist(bool all) {
  meta::Bitmap& bm = md_->bitmap();
  if (bm.dirty_page_count() == 0) return false;
  const std::vector<uint64_t>& words = bm.words();
  const std::vector<uint64_t> pages = bm.DirtyPages();
  bool need = all;
  const bool al_busy = md_->al_busy();
  const meta::ActivityLog& al = md_->activity_log();
  for (uint64_t p : pages) {
    const uint64_t w0 = p * meta::kBitmapWordsPerPage;
    const uint64_t w1 = std::min<uint64_t>(w0 + meta::kBitmapWordsPerPage, words.size());
    for (uint64_t w = w0; w < w1; ++w) {
      // A bit cleared in memory may reach the disk any time (AL eviction
      // writes the page): the shadow keeps only bits the disk surely has.
      shadow_[w] &= words[w];
      if (need) continue;
      if ((words[w] & ~shadow_[w]) == 0) continue;
      // Newly set: covered by the AL only if its extent is hot and cannot
      // be evicted by a transaction in flight (a referenced extent never is).
      const uint32_t extent = static_cast<uint32_t>(w / kWordsPerExtent);
      if (!al.IsHot(extent) || (al_busy && al.refs(extent) == 0)) need = true;
    }
  }
  return need;
}

void Volume::Impl::PersistBitmap(bool all) {
  if (!BitmapNeedsPersist(all)) return;
  meta::Bitmap& bm = md_->bitmap();
  const std::vector<uint64_t>& words = bm.words();
  const std::vector<uint64_t> pages = bm.DirtyPages();
  WaitForAlIdle();  // never race the AL's own page writes
  absl::Status s = md_->FlushBitmap();
  if (!s.ok()) {
    MetaFailed(s);
    return;
  }
  for (uint64_t p : pages) {
    const uint64_t w0 = p * meta::kBitmapWordsPerPage;
    const uint64_t w1 = std::min<uint64_t>(w0 + meta::kBitmapWordsPerPage, words.size());
    for (uint64_t w = w0; w < w1; ++w) shadow_[w] = words[w];
  }
}

void Volume::Impl::ProcessReady(Ready rd, bool bitmap_checked) {
  for (std::string& line : rd.log) {
    HAFS_LOG(INFO) << opt_.name << ": " << line;
    Emit(VolumeEvent{VolumeEvent::Kind::kLog, std::move(line)});
  }
  for (std::string& h : rd.handlers) {  // split-brain, pri-lost-after-sb, local-io-error
    HAFS_LOG(WARNING) << opt_.name << ": handler " << h;
    Emit(VolumeEvent{VolumeEvent::Kind::kHandler, std::move(h)});
  }
  for (const VerifyMismatch& m : rd.verify_mismatches) {
    Emit(VolumeEvent{VolumeEvent::Kind::kVerifyMismatch, "", m.offset, m.length});
  }
  // 1. Superblock (generation ids and flags), synchronous FUA write.
  if (rd.persist && md_error_.ok()) {
    const PersistedState ps = *rd.persist;
    absl::Status s =
        md_->UpdateSuperblock([&](meta::Superblock& sb) { ApplyPersisted(ps, sb); });
    if (!s.ok()) MetaFailed(s);
  }
  // 2. Bitmap pages with bits set outside the AL's cover.
  if (md_error_.ok() && !bitmap_checked) PersistBitmap(/*all=*/false);
  // 3. AL admissions, local I/O, AL releases.
  for (const AlBegin& b : rd.al_begin) {
    if (!md_error_.ok()) {
      // No AL reference can be taken: the replicator detaches and the write
      // goes to the peer alone (or fails).
      unreferenced_holds_.emplace(b.offset, b.length);
      al_failed_.emplace_back(b.token, md_error_);
      continue;
    }
    const uint64_t token = b.token;
    const uint64_t off = b.offset, len = b.length;
    absl::StatusOr<meta::MetaStore::WriteAdmit> a =
        md_->BeginWrite(off, len, [this, token, off, len](absl::Status s) {
          --al_begin_waiting_;
          if (!s.ok()) {
            MetaFailed(s);
            unreferenced_holds_.emplace(off, len);
            al_failed_.emplace_back(token, s);
            return;
          }
          ++holds_;
          admitted_.push_back(token);
        });
    if (!a.ok()) {
      MetaFailed(a.status());
      unreferenced_holds_.emplace(off, len);
      al_failed_.emplace_back(token, a.status());
    } else if (*a == meta::MetaStore::WriteAdmit::kReady) {
      ++holds_;
      admitted_.push_back(token);
    } else {
      ++al_begin_waiting_;
    }
  }
  for (LocalIo& io : rd.ios) Issue(std::move(io));
  for (const auto& [offset, length] : rd.al_release) {
    auto it = unreferenced_holds_.find({offset, length});
    if (it != unreferenced_holds_.end()) {
      unreferenced_holds_.erase(it);
      continue;
    }
    --holds_;
    md_->EndWrite(offset, length);
  }
  // 4. Messages, in order, as one batch (one network frame where they fit).
  if (transport_ != nullptr) {
    // A broken connection drops the rest: its kDisconnected follows.
    (void)outbox_.Send(*transport_, conn_, &rd.messages);
  }
  // 5. Completions.
  for (AppDone& d : rd.done) {
    auto it = app_.find(d.id);
    if (it == app_.end()) {
      HAFS_LOG(ERROR) << opt_.name << ": completion for unknown request " << d.id;
      continue;
    }
    AppReq r = std::move(it->second);
    app_.erase(it);
    if (r.read_done) {
      if (d.status.ok()) {
        r.read_done(std::move(d.data));
      } else {
        r.read_done(std::move(d.status));
      }
    } else if (r.done) {
      r.done(std::move(d.status));
    }
  }
  // 6. Connection drop.
  if (rd.drop_connection && transport_ != nullptr) {
    HAFS_LOG(INFO) << opt_.name << ": dropping the connection: " << rd.drop_reason;
    transport_->Disconnect();
    transport_wish_.Dropped();
    conn_ = 0;
    outbox_.Clear();
  }
  SyncTransportWish();
}

void Volume::Impl::SyncTransportWish() {
  if (transport_ == nullptr || rep_ == nullptr) return;
  transport_wish_.Sync(*rep_, *transport_, conn_ != 0);
}

void Volume::Impl::Issue(LocalIo io) {
  if (!backlog_.Hold(io, !parked_.empty())) IssueToDevice(std::move(io));
}

void Volume::Impl::ReleaseBacklog() {
  while (std::optional<LocalIo> io = backlog_.Next(!parked_.empty())) {
    IssueToDevice(std::move(*io));
  }
}

void Volume::Impl::IssueToDevice(LocalIo io) {
  const uint64_t token = io.token;
  Op op;
  op.io = std::move(io);
  if (op.io.op == io::IoOp::kWrite && !md_error_.ok()) {
    completed_.emplace_back(token, md_error_);
    ops_.emplace(token, std::move(op));
    return;
  }
  if (op.io.op == io::IoOp::kWrite && !op.io.hold_al) {
    // Replicated, resync and other writes: the runtime takes the AL
    // reference itself and releases it at completion.
    const uint64_t off = op.io.offset, len = op.io.length;
    absl::StatusOr<meta::MetaStore::WriteAdmit> a =
        md_->BeginWrite(off, len, [this, token](absl::Status s) {
          auto it = parked_.find(token);
          if (it == parked_.end()) return;
          Op parked = std::move(it->second);
          parked_.erase(it);
          if (!s.ok()) {
            MetaFailed(s);
            completed_.emplace_back(token, s);
          } else {
            parked.al_held = true;
            ops_.emplace(token, std::move(parked));
            SubmitOp(token);
          }
          ReleaseBacklog();
        });
    if (!a.ok()) {
      MetaFailed(a.status());
      completed_.emplace_back(token, a.status());
      return;
    }
    if (*a == meta::MetaStore::WriteAdmit::kWait) {
      parked_.emplace(token, std::move(op));
      return;
    }
    op.al_held = true;
  }
  ops_.emplace(token, std::move(op));
  SubmitOp(token);
}

void Volume::Impl::SubmitOp(uint64_t token) {
  Op& op = ops_.at(token);
  op.req.op = op.io.op;
  op.req.offset = op.io.offset;
  op.req.length = op.io.length;
  op.req.data = op.io.buf ? op.io.buf->data() : nullptr;
  op.req.fua = op.io.fua;
  op.req.barrier = op.io.barrier;
  op.req.done = [this, token](absl::Status s) { completed_.emplace_back(token, std::move(s)); };
  absl::Status s = dev_->Submit(&op.req);
  if (!s.ok()) completed_.emplace_back(token, std::move(s));
}

// ---- application requests (run inside a step via Post) ----

void Volume::Impl::PostRequest(std::function<void()> run,
                               std::function<void(absl::Status)> fail) {
  auto closed = [this] {
    return absl::FailedPreconditionError(
        absl::StrCat(opt_.name, closing_.load() ? ": volume is closing" : ": volume is closed"));
  };
  if (!accepting()) {
    fail(closed());
    return;
  }
  if (!Post(std::move(run), [fail, closed] { fail(closed()); })) fail(closed());
}

void Volume::Impl::SubmitWrite(uint64_t offset, Buffer data, bool fua, Callback done) {
  auto shared = std::make_shared<Callback>(std::move(done));
  PostRequest(
      [this, offset, data = std::move(data), fua, shared]() mutable {
        const uint64_t id = next_app_id_++;
        app_[id].done = std::move(*shared);
        rep_->Write(id, offset, std::move(data), fua);
      },
      [shared](absl::Status s) { (*shared)(std::move(s)); });
}

void Volume::Impl::SubmitRead(uint64_t offset, uint64_t length, ReadCallback done) {
  auto shared = std::make_shared<ReadCallback>(std::move(done));
  PostRequest(
      [this, offset, length, shared]() mutable {
        const uint64_t id = next_app_id_++;
        app_[id].read_done = std::move(*shared);
        rep_->Read(id, offset, length);
      },
      [shared](absl::Status s) { (*shared)(std::move(s)); });
}

void Volume::Impl::SubmitFlush(Callback done) {
  auto shared = std::make_shared<Callback>(std::move(done));
  PostRequest(
      [this, shared]() mutable {
        const uint64_t id = next_app_id_++;
        app_[id].done = std::move(*shared);
        rep_->Flush(id);
      },
      [shared](absl::Status s) { (*shared)(std::move(s)); });
}

VolumeStatus Volume::Impl::Snapshot() {
  if (running_.load() && !InStep()) {
    absl::StatusOr<VolumeStatus> s = Call<VolumeStatus>([this] {
      VolumeStatus v;
      v.name = opt_.name;
      v.size_bytes = size_bytes_;
      v.replication = rep_->status();
      const meta::MetaStore::Stats& st = md_->stats();
      v.al = st.al_writes;
      v.bm = st.bitmap_writes;
      v.md_flushes = st.flushes;
      v.superblock_writes = st.superblock_writes;
      v.al_hot_extents = md_->activity_log().HotExtents().size();
      v.al_extents = md_->superblock().al_extents;
      v.open_report = open_report_;
      v.connect_error = connect_error_;
      v.connect_error_at = connect_error_at_;
      return v;
    });
    if (s.ok()) {
      absl::MutexLock l(&status_mu_);
      last_status_ = *s;
      return *s;
    }
  }
  absl::MutexLock l(&status_mu_);
  VolumeStatus v = last_status_;
  v.closed = closed_.load();
  return v;
}

bool Volume::Impl::LocalIdle() const {
  return ops_.empty() && parked_.empty() && admitted_.empty() && completed_.empty() &&
         al_failed_.empty() &&
         al_begin_waiting_ == 0 && !md_->al_busy() && md_->al_waiting() == 0 &&
         dev_->in_flight() == 0 && (meta_dev_ == nullptr || meta_dev_->in_flight() == 0);
}

absl::Status Volume::Impl::Close() {
  CheckNotLoopThread("Close");
  if (closed_.load()) return absl::OkStatus();
  if (!running_.load()) return absl::FailedPreconditionError("volume is not running");
  closing_.store(true);
  // Time through the injected Clock port, like the rest of the runtime.
  const absl::Time deadline = clock_->Now() + opt_.close_timeout;
  auto wait_until = [&](std::function<bool()> pred, absl::Time until) -> bool {
    for (;;) {
      absl::StatusOr<bool> ok = Call<bool>(pred);
      if (ok.ok() && *ok) return true;
      if (clock_->Now() >= until) return false;
      clock_->SleepFor(absl::Milliseconds(1));
    }
  };
  // 1. Application requests drain.
  if (!wait_until([this] { return app_.empty(); }, deadline)) {
    closing_.store(false);
    return absl::DeadlineExceededError(absl::StrCat(
        opt_.name, ": close: application requests still in flight after ",
        absl::FormatDuration(opt_.close_timeout), " (the volume stays open)"));
  }
  // 2. Replicated writes leave the transfer log when the peer acked their
  // barrier; disconnecting earlier would mark them out of sync. Bounded.
  (void)wait_until([this] { return holds_ == 0 || conn_ == 0; },
                   std::min(deadline, clock_->Now() + opt_.replication.timeout));
  // 3. Demote, disconnect.
  absl::Status demote = CallStatus([this] {
    absl::Status s;
    if (opt_.demote_on_close && rep_->role() == Role::kPrimary) s = rep_->Demote();
    DrainReady();
    rep_->Disconnect();
    DrainReady();
    return s;
  });
  if (!demote.ok()) {
    HAFS_LOG(WARNING) << opt_.name << ": close: demotion refused: " << demote;
  }
  // 4. Local I/O and AL transactions finish.
  if (!wait_until([this] { return LocalIdle() && holds_ == 0; }, deadline + absl::Seconds(5))) {
    HAFS_LOG(ERROR) << opt_.name << ": close: local I/O did not finish; closing uncleanly";
    absl::Status md = ShutdownLoop();
    return absl::DeadlineExceededError(absl::StrCat(
        opt_.name, ": close: local I/O did not finish; metadata ",
        md.ok() ? "closed" : absl::StrCat("left unclean (", md.message(), ")")));
  }
  {
    VolumeStatus v = Snapshot();
    absl::MutexLock l(&status_mu_);
    last_status_ = v;
  }
  return ShutdownLoop();
}

absl::Status Volume::Impl::ShutdownLoop() {
  {
    absl::MutexLock l(&inbox_mu_);
    inbox_open_ = false;
  }
  StopRunners();
  AbandonInbox();  // calls queued after the loop's last pass fail
  // The loop is stopped: this thread owns everything now.
  DetachTransport();
  absl::Status s = md_error_.ok() ? md_->Close() : md_error_;
  if (s.ok()) {
    HAFS_LOG(INFO) << opt_.name << ": closed cleanly (al-clean)";
  } else {
    HAFS_LOG(ERROR) << opt_.name << ": close: " << s;
  }
  closed_.store(true);
  rep_.reset();
  md_.reset();
  meta_dev_.reset();
  dev_.reset();
  {
    absl::MutexLock l(&status_mu_);
    last_status_.closed = true;
  }
  return s;
}

// ---------------------------------------------------------------------------
// Volume.

Volume::Volume(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Volume::~Volume() = default;

absl::StatusOr<std::unique_ptr<Volume>> Volume::Open(const VolumeOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  HAFS_RETURN_IF_ERROR(impl->Attach());
  return std::unique_ptr<Volume>(new Volume(std::move(impl)));
}

uint64_t Volume::size_bytes() const { return impl_->size_bytes(); }
const std::string& Volume::name() const { return impl_->options().name; }

void Volume::WriteAsync(uint64_t offset, Buffer data, bool fua, Callback done) {
  impl_->SubmitWrite(offset, std::move(data), fua, std::move(done));
}

void Volume::ReadAsync(uint64_t offset, uint64_t length, ReadCallback done) {
  impl_->SubmitRead(offset, length, std::move(done));
}

void Volume::FlushAsync(Callback done) { impl_->SubmitFlush(std::move(done)); }

absl::Status Volume::Write(uint64_t offset, absl::Span<const char> data, bool fua) {
  impl_->CheckNotLoopThread("Write");
  auto buf = std::make_shared<io::AlignedBuffer>(data.size());
  if (!data.empty()) std::memcpy(buf->data(), data.data(), data.size());
  absl::Notification n;
  absl::Status out;
  impl_->SubmitWrite(offset, std::move(buf), fua, [&](absl::Status s) {
    out = std::move(s);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

absl::Status Volume::Read(uint64_t offset, absl::Span<char> out) {
  impl_->CheckNotLoopThread("Read");
  absl::Notification n;
  absl::Status st;
  impl_->SubmitRead(offset, out.size(), [&](absl::StatusOr<Buffer> b) {
    if (!b.ok()) {
      st = b.status();
    } else if (*b == nullptr || (*b)->size() != out.size()) {
      st = absl::InternalError("read returned a buffer of the wrong size");
    } else {
      std::memcpy(out.data(), (*b)->data(), out.size());
    }
    n.Notify();
  });
  n.WaitForNotification();
  return st;
}

absl::Status Volume::Flush() {
  impl_->CheckNotLoopThread("Flush");
  absl::Notification n;
  absl::Status out;
  impl_->SubmitFlush([&](absl::Status s) {
    out = std::move(s);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

VolumeStatus Volume::status() { return impl_->Snapshot(); }

// Admin calls run on the loop; the replicator's answer is returned.
#define HAFS_VOLUME_ADMIN(expr)                                              \
  do {                                                                       \
    if (impl_->closed()) {                                                   \
      return absl::FailedPreconditionError(                                  \
          absl::StrCat(impl_->options().name, ": volume is closed"));        \
    }                                                                        \
    return impl_->CallStatus([&]() -> absl::Status { return (expr); });      \
  } while (0)

absl::Status Volume::Promote(bool force) {
  HAFS_VOLUME_ADMIN([&]() -> absl::Status {
    Replicator* r = impl_->rep();
    // `primary --force` while Connected to an Inconsistent peer also starts
    // the initial full sync (DRBD's procedure; done by the core).
    return r->Promote(force);
  }());
}
absl::Status Volume::Demote() { HAFS_VOLUME_ADMIN(impl_->rep()->Demote()); }
absl::Status Volume::Connect(bool discard_my_data, bool tentative) {
  HAFS_VOLUME_ADMIN((impl_->rep()->Connect(discard_my_data, tentative), absl::OkStatus()));
}
absl::Status Volume::Disconnect() {
  HAFS_VOLUME_ADMIN((impl_->rep()->Disconnect(), absl::OkStatus()));
}
absl::Status Volume::StartVerify() { HAFS_VOLUME_ADMIN(impl_->rep()->StartVerify()); }
absl::Status Volume::Adjust(const ResyncControllerOptions& resync,
                            const splitbrain::SplitBrainPolicy& split_brain) {
  HAFS_VOLUME_ADMIN((impl_->rep()->AdjustResync(resync),
                     impl_->rep()->AdjustSplitBrain(split_brain), absl::OkStatus()));
}
absl::Status Volume::StartResync(bool full) {
  HAFS_VOLUME_ADMIN(impl_->rep()->StartResync(full));
}
#undef HAFS_VOLUME_ADMIN

absl::Status Volume::Close() { return impl_->Close(); }

// ---------------------------------------------------------------------------

absl::StatusOr<meta::Superblock> CreateVolumeMetadata(const std::string& path,
                                                      uint64_t create_size_bytes,
                                                      const meta::MetaCreateOptions& md) {
  io::UringDeviceOptions d;
  d.path = path;
  d.create = create_size_bytes > 0;
  d.size_bytes = create_size_bytes;
  d.queue_depth = 8;
  HAFS_ASSIGN_OR_RETURN(std::unique_ptr<io::UringDevice> dev, io::UringDevice::Open(d));
  return meta::MetaStore::Create(dev.get(), md);
}

}  // namespace hafs::mirror
