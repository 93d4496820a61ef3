// File: libhafs/io/uring_device.h
// -----------------------------------------------------------------------------
// UringDevice: the real BlockDevice. io_uring (liburing) with O_DIRECT on a
// regular file or a block device.
//
//   * Submit() validates and queues in software; Poll() hands queued requests
//     to the ring in batches (up to `queue_depth` in the kernel at once;
//     the rest wait in the software queue and go in as completions free
//     slots), submits with one io_uring_enter (submit-and-wait when it has to
//     wait), and reaps completions in batches.
//   * Short reads/writes are resubmitted for the remainder; -EAGAIN and -EINTR
//     completions are requeued. A read that hits end of file (a file that
//     shrank while open) fails with kDataLoss.
//   * FUA writes are RWF_DSYNC writes (a FUA write on a block device, a
//     write + data sync on a file).
//   * Flush is IORING_OP_FSYNC with IORING_FSYNC_DATASYNC. Ordering: the
//     device holds a flush back until every write submitted before it has
//     completed, then submits the fsync. So a flush covers every write
//     submitted before it (stronger than the port's "completed before"), and a
//     flush queued in the same batch as writes is never reordered before them.
//     Writes submitted after a flush are not held back.
//   * Discard runs synchronously inside Submit(): fallocate(PUNCH_HOLE |
//     KEEP_SIZE) on files (reads of the range then return zeros), ioctl
//     BLKDISCARD on block devices (contents of the range are then undefined);
//     its callback runs at the next Poll().
//   * Size: st_size of a file, BLKGETSIZE64 of a block device, rounded DOWN to
//     a multiple of kBlockSize (a trailing partial block is never used).
//   * Errors: errnos map through io_status.h (EIO -> kDataLoss, ENOSPC ->
//     kResourceExhausted, ENODEV/ENXIO -> kUnavailable, ...) with the path, op,
//     length, offset and errno text in the message. Open() fails with
//     kUnavailable when io_uring is not usable (kernel.io_uring_disabled,
//     seccomp, RLIMIT_MEMLOCK) and with kFailedPrecondition when the
//     filesystem refuses O_DIRECT (e.g. ramfs, older tmpfs).
//
// Thread-safety: like every BlockDevice, one thread at a time. Destroying the
// device with requests in flight waits for the kernel to finish with their
// buffers and drops their callbacks.
//
// Example:
//   HAFS_ASSIGN_OR_RETURN(std::unique_ptr<UringDevice> dev,
//                         UringDevice::Open({.path = "/var/tmp/vol.img",
//                                            .create = true,
//                                            .size_bytes = 1 << 30}));
//   AlignedBuffer buf(1 << 20);
//   HAFS_RETURN_IF_ERROR(dev->Write(0, buf.span(), /*fua=*/true));
#ifndef HAFS_LIBHAFS_IO_URING_DEVICE_H_
#define HAFS_LIBHAFS_IO_URING_DEVICE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libhafs/io/block_device.h"

struct io_uring;
struct io_uring_sqe;

namespace hafs::io {

struct UringDeviceOptions {
  std::string path;
  // Requests in the kernel at once (ring size), 1..4096.
  int queue_depth = 64;
  // Create the file if it is missing and extend it (fallocate, else
  // ftruncate) to `size_bytes` if it is shorter; never shrinks. Files only.
  bool create = false;
  uint64_t size_bytes = 0;
  // Open O_RDONLY; writes and discards are then rejected by Submit() with
  // kFailedPrecondition.
  bool read_only = false;
};

class UringDevice final : public BlockDevice {
 public:
  // Counters for tests, benchmarks and `hafsctl selfcheck`.
  struct Stats {
    uint64_t enter_calls = 0;       // io_uring_enter system calls
    uint64_t sqes_submitted = 0;
    uint64_t short_ios = 0;         // partial transfers resubmitted
    uint64_t requeued = 0;          // -EAGAIN / -EINTR completions requeued
    uint64_t flushes_held = 0;      // flushes that waited for earlier writes
  };

  static absl::StatusOr<std::unique_ptr<UringDevice>> Open(
      const UringDeviceOptions& options);
  ~UringDevice() override;
  UringDevice(const UringDevice&) = delete;
  UringDevice& operator=(const UringDevice&) = delete;

  uint64_t size_bytes() const override { return size_bytes_; }
  absl::Status Submit(IoRequest* req) override;
  absl::StatusOr<int> Poll(int min_complete, absl::Duration timeout) override;
  int in_flight() const override { return in_flight_; }

  const std::string& path() const { return path_; }
  bool is_block_device() const { return is_block_device_; }
  const Stats& stats() const { return stats_; }

  // (Added for the mirror runtime's event loop.) Registers `fd`, an eventfd,
  // to be signalled by the kernel whenever a completion is posted to this
  // device's ring (io_uring_register_eventfd), so an owner can sleep in
  // poll(2)/epoll on it together with its other wake-up sources and then call
  // Poll(0, ...). -1 unregisters. Same thread rules as Poll().
  absl::Status SetCompletionEventFd(int fd);

 private:
  // One request's progress through the ring.
  struct Op {
    IoRequest* req = nullptr;
    uint64_t done_bytes = 0;   // read/write progress (short I/O)
    uint64_t write_seq = 0;    // kWrite: write number; kFlush: last write before it
    uint64_t submit_seq = 0;   // submission number of every ring op
  };

  UringDevice(std::string path, int fd, bool is_block_device,
              uint64_t size_bytes, bool read_only, int queue_depth);

  std::string Describe(const IoRequest& req) const;
  Op* NewOp(IoRequest* req);
  void FreeOp(Op* op);
  // Moves queued ops (and flushes whose barrier has passed) into the SQ.
  void FillSq();
  void PrepSqe(io_uring_sqe* sqe, Op* op);
  // Handles one CQE; appends to finished_ if the request is done.
  void HandleCqe(Op* op, int res);
  void Finish(Op* op, absl::Status status);
  int RunFinished();
  absl::Status DoDiscard(const IoRequest& req);

  // Constant after construction.
  const std::string path_;
  const int fd_;
  const bool is_block_device_;
  const uint64_t size_bytes_;
  const bool read_only_;
  const unsigned queue_depth_;

  std::unique_ptr<io_uring> ring_;
  bool fixed_file_ = false;        // fd registered as fixed file 0
  bool eventfd_registered_ = false;  // SetCompletionEventFd
  unsigned in_kernel_ = 0;         // SQEs prepared or submitted, not reaped
  unsigned unsubmitted_ = 0;       // SQEs prepared, not yet submitted
  int in_flight_ = 0;              // accepted by Submit, callback not yet run
  std::deque<Op*> queued_;         // waiting for a ring slot
  std::deque<Op*> held_;           // flushes waiting for earlier writes, barriers
                                   // waiting for earlier requests, and what was
                                   // submitted behind an unfinished barrier
  std::set<uint64_t> ops_outstanding_;       // submit_seq of unfinished ring ops
  std::set<uint64_t> barriers_outstanding_;  // submit_seq of unfinished barriers
  std::set<uint64_t> writes_outstanding_;  // write_seq of incomplete writes
  uint64_t next_write_seq_ = 1;
  uint64_t next_submit_seq_ = 1;
  std::vector<std::pair<IoRequest*, absl::Status>> finished_;
  std::vector<std::unique_ptr<Op>> op_pool_;
  std::vector<Op*> free_ops_;
  Stats stats_;
};

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_URING_DEVICE_H_
