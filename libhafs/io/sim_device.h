// File: libhafs/io/sim_device.h
// -----------------------------------------------------------------------------
// SimDevice: a simulated BlockDevice for crash and fault tests (testonly).
//
// Model (see docs/io.md, "SimDevice fault model")
//   The device holds two images:
//     * the volatile view: what reads return (every completed write);
//     * the durable image: what survives a Crash().
//   A completed write is *unsynced* until a later Flush covers it or unless it
//   was a FUA write or the device has a non-volatile cache (options) (FUA writes go to both images
//   on completion and supersede older unsynced data of the same sectors). Unsynced writes are
//   tracked per 512-byte sector, in completion order. Discard behaves like a write of zeros
//   (unsynced until flushed).
//   A Flush covers exactly the writes that completed before it was submitted
//   (block_device.h): when it completes successfully those are copied, in
//   completion order, to the durable image. An ordering barrier (and every
//   request submitted after it) *starts* only once the requests before it
//   have completed; a barrier Flush covers the writes completed when it
//   starts, and a request that has not started cannot reach the media.
//
//   Crash(seed) simulates power loss: every unsynced write, and every write
//   still in flight, is independently (seeded hafs::Random)
//     dropped   (none of its sectors reach the durable image),
//     kept      (all its sectors do), or
//     torn      (each 512-byte sector independently old or new),
//   applied in completion order (in-flight ones last, in submission order;
//   requests still held behind a barrier never started and are dropped).
//   Then the volatile view becomes the durable image, in-flight requests are
//   forgotten WITHOUT running their callbacks (the simulated process died with
//   them), and the device is usable again. Synced sectors are never changed by
//   a crash.
//
// Faults (AddFault): per-op errors by probability, for the next N matching
// requests, or for requests touching an offset range (e.g. ENOSPC past X); and
// misdirected writes (the data lands at another block, the write reports
// success). A failed request changes nothing (a failed write writes nothing, a
// failed flush makes nothing durable). Errors map to Status codes through
// io_status.h (EIO -> kDataLoss, ENOSPC -> kResourceExhausted, ...).
//
// Timing: without a clock every request completes at the next Poll(), in
// submission order unless reordering is on (then the completions ready at one
// Poll run in a seeded random order). With a clock, a request completes once
// clock->Now() >= submit time + the op's latency; a Poll that must wait calls
// clock->SleepFor (on a SimClock that advances simulated time, firing timers).
//
// Thread-safety: none; one thread at a time (like every BlockDevice).
//
// Example:
//   SimDevice dev({.size_bytes = 1 << 20, .seed = seed});
//   ASSERT_OK(dev.Write(0, a.span()));
//   ASSERT_OK(dev.Flush());                  // a is durable
//   ASSERT_OK(dev.Write(4096, b.span()));    // b is unsynced
//   dev.AddFault(SimFault::FailNext(IoOp::kWrite, 2, EIO));
//   dev.Crash(seed);                         // a survives; b: gone, kept or torn
#ifndef HAFS_LIBHAFS_IO_SIM_DEVICE_H_
#define HAFS_LIBHAFS_IO_SIM_DEVICE_H_

#include <cerrno>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/random.h"
#include "libhafs/io/block_device.h"

namespace hafs::io {

// One fault rule. A request matches if its op is `op` and (for read, write and
// discard) it overlaps [offset_begin, offset_end). A matching rule fires with
// `probability` (drawn from the device's seeded Random), at most `count` times
// (count < 0: unlimited). The first rule that fires decides.
struct SimFault {
  static constexpr uint64_t kRandomBlock = std::numeric_limits<uint64_t>::max();
  enum class Kind {
    kError,      // the request fails with errno `error`
    kMisdirect,  // kWrite only: data lands at `misdirect_to`, reports success
  };

  IoOp op = IoOp::kWrite;
  Kind kind = Kind::kError;
  int error = EIO;
  uint64_t offset_begin = 0;
  uint64_t offset_end = std::numeric_limits<uint64_t>::max();
  int64_t count = -1;
  double probability = 1.0;
  // kMisdirect: byte offset the data lands at (kBlockSize-aligned; wrapped to
  // stay inside the device), or kRandomBlock for a seeded random block other
  // than the intended one.
  uint64_t misdirect_to = kRandomBlock;

  // "Fail the next n <op>s with errno err."
  static SimFault FailNext(IoOp op, int64_t n, int err = EIO);
  // "Each <op> fails with probability p."
  static SimFault FailWithProbability(IoOp op, double p, int err = EIO);
  // "<op>s touching bytes at or past `offset` fail" (e.g. ENOSPC past X).
  static SimFault FailPastOffset(IoOp op, uint64_t offset, int err = ENOSPC);
  // "The next write lands at `to` instead of where it was aimed."
  static SimFault MisdirectNextWrite(uint64_t to = kRandomBlock);
};

struct SimDeviceOptions {
  uint64_t size_bytes = 0;  // REQUIRES: multiple of kBlockSize
  // Seeds fault probabilities, misdirect targets and completion reordering.
  uint64_t seed = 1;
  // Latency source; not owned. nullptr: requests complete at the next Poll.
  Clock* clock = nullptr;
  absl::Duration read_latency = absl::ZeroDuration();
  absl::Duration write_latency = absl::ZeroDuration();
  absl::Duration flush_latency = absl::ZeroDuration();
  absl::Duration discard_latency = absl::ZeroDuration();
  // Run the completions that are ready at one Poll in a seeded random order.
  bool reorder_completions = false;
  // A battery-backed (non-volatile) write cache: every completed write and
  // discard is durable at completion, as a FUA write; a crash loses only what
  // was in flight. (What DRBD's disk-flushes/md-flushes "no" assume.)
  bool nonvolatile_cache = false;
};

class SimDevice final : public BlockDevice {
 public:
  struct Stats {
    uint64_t reads = 0, writes = 0, flushes = 0, discards = 0;  // completed OK
    uint64_t injected_errors = 0;
    uint64_t misdirected_writes = 0;
  };
  struct CrashReport {
    uint64_t writes_dropped = 0, writes_kept = 0, writes_torn = 0;
    uint64_t sectors_applied = 0;  // 512-byte sectors that reached the image
    uint64_t requests_abandoned = 0;  // in flight at the crash
  };

  explicit SimDevice(const SimDeviceOptions& options);
  SimDevice(const SimDevice&) = delete;
  SimDevice& operator=(const SimDevice&) = delete;

  // BlockDevice.
  uint64_t size_bytes() const override { return volatile_.size(); }
  absl::Status Submit(IoRequest* req) override;
  absl::StatusOr<int> Poll(int min_complete, absl::Duration timeout) override;
  int in_flight() const override { return static_cast<int>(pending_.size()); }

  // Power loss; see the file comment. Deterministic for a given seed and
  // history.
  CrashReport Crash(uint64_t seed);

  // Fault rules. AddFault returns an id for RemoveFault.
  int AddFault(const SimFault& fault);
  void RemoveFault(int id);
  void ClearFaults();

  void SetLatency(IoOp op, absl::Duration latency);
  void SetReorderCompletions(bool on) { options_.reorder_completions = on; }

  // What reads return now / what would survive a crash with nothing unsynced.
  const std::string& contents() const { return volatile_; }
  const std::string& durable_contents() const { return durable_; }
  // Completed writes not yet durable (each with at least one live sector).
  size_t unsynced_writes() const { return unsynced_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    IoRequest* req;                // may be freed by its own callback
    IoOp op;                       // copies of req's fields StartEligible needs
    bool barrier = false;
    uint64_t submit_seq;
    bool started = false;          // false: held behind an ordering barrier
    bool completing = false;       // its callback is running (effects applied)
    absl::Time ready;              // with a clock, once started
    int error = 0;                 // injected errno, 0 = none
    uint64_t land_offset = 0;      // kWrite: where the data lands
    bool misdirected = false;
    uint64_t flush_covers = 0;     // kFlush: writes completed at submission
  };
  struct Unsynced {
    uint64_t number;               // completion number (1, 2, ...)
    uint64_t offset;
    std::string data;              // new content
    std::vector<bool> live;        // per 512-byte sector: not yet superseded
  };

  const SimFault* MatchFault(const IoRequest& req);
  // Starts the requests no ordering barrier holds any more.
  void StartEligible();
  void Complete(Pending& p);
  void ApplySectors(std::string& image, uint64_t offset, const std::string& data,
                    const std::vector<bool>& mask);
  // Marks sectors of [offset, offset+len) dead in every unsynced record.
  void Supersede(uint64_t offset, uint64_t length);
  absl::Duration LatencyOf(IoOp op) const;

  SimDeviceOptions options_;
  Random rng_;
  std::string volatile_;
  std::string durable_;
  std::vector<Pending> pending_;           // submission order
  std::deque<Unsynced> unsynced_;          // completion order
  uint64_t next_submit_seq_ = 1;
  uint64_t writes_completed_ = 0;          // numbers unsynced records
  std::map<int, SimFault> faults_;         // by id, i.e. insertion order
  int next_fault_id_ = 1;
  Stats stats_;
};

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_SIM_DEVICE_H_
