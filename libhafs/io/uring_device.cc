#include "libhafs/io/uring_device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libhafs/base/logging.h"
#include "libhafs/io/io_status.h"

namespace hafs::io {
namespace {

// Closes an fd on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<UringDevice>> UringDevice::Open(
    const UringDeviceOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) {
    return absl::InvalidArgumentError("UringDevice: no path given");
  }
  if (options.queue_depth < 1 || options.queue_depth > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("UringDevice ", path, ": queue_depth ",
                     options.queue_depth, " is outside 1..4096"));
  }
  if (options.create && options.read_only) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UringDevice ", path, ": create and read_only are exclusive"));
  }
  struct stat before;
  const bool existed = ::stat(path.c_str(), &before) == 0;
  if (options.create && !existed && options.size_bytes < kBlockSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UringDevice ", path, ": creating needs size_bytes >= ", kBlockSize,
        " (got ", options.size_bytes, ")"));
  }

  int flags = O_DIRECT | O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (options.create) flags |= O_CREAT;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == EINVAL) {
      // The filesystem has no direct I/O. O_CREAT may have made the file.
      if (options.create && !existed) ::unlink(path.c_str());
      return absl::FailedPreconditionError(absl::StrCat(
          "UringDevice: open ", path,
          " with O_DIRECT: Invalid argument (errno 22 EINVAL): the "
          "filesystem refuses direct I/O (hint: put the file on ext4/xfs/"
          "btrfs, e.g. under /var/tmp, not on ramfs, tmpfs before Linux 6.6, or overlayfs)"));
    }
    return IoErrnoStatus(err, absl::StrCat("UringDevice: open ", path));
  }
  FdCloser closer(fd);

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return IoErrnoStatus(errno, absl::StrCat("UringDevice: fstat ", path));
  }
  uint64_t size = 0;
  const bool is_blk = S_ISBLK(st.st_mode);
  if (is_blk) {
    if (options.create) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UringDevice ", path, ": create is for files, this is a block device"));
    }
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      return IoErrnoStatus(errno,
                           absl::StrCat("UringDevice: BLKGETSIZE64 on ", path));
    }
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
    if (options.create && size < options.size_bytes) {
      const uint64_t want = options.size_bytes;
      int r = ::fallocate(fd, 0, 0, static_cast<off_t>(want));
      if (r != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        r = ::ftruncate(fd, static_cast<off_t>(want));
      }
      if (r != 0) {
        return IoErrnoStatus(
            errno, absl::StrCat("UringDevice: extending ", path, " to ", want,
                                " bytes"));
      }
      size = want;
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "UringDevice ", path, " is neither a regular file nor a block device"));
  }
  size -= size % kBlockSize;  // a trailing partial block is never used
  if (size == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "UringDevice ", path, " is smaller than one ", kBlockSize,
        "-byte block (hint: create it with create = true and size_bytes)"));
  }

  std::unique_ptr<UringDevice> dev(new UringDevice(
      path, closer.release(), is_blk, size, options.read_only,
      options.queue_depth));
  const int r = io_uring_queue_init(static_cast<unsigned>(options.queue_depth),
                                    dev->ring_.get(), 0);
  if (r < 0) {
    dev->ring_.reset();  // not initialised: the destructor must not exit it
    return absl::UnavailableError(absl::StrCat(
        "UringDevice ", path, ": io_uring_queue_init(", options.queue_depth,
        ") failed: ", std::strerror(-r), " (errno ", -r, " ", ErrnoName(-r),
        "; hint: io_uring may be disabled by the kernel.io_uring_disabled "
        "sysctl, a seccomp/container policy, or need a higher RLIMIT_MEMLOCK)"));
  }
  // A registered file saves a file-table lookup per request; optional.
  dev->fixed_file_ = io_uring_register_files(dev->ring_.get(), &dev->fd_, 1) == 0;
  return dev;
}

UringDevice::UringDevice(std::string path, int fd, bool is_block_device,
                         uint64_t size_bytes, bool read_only, int queue_depth)
    : path_(std::move(path)),
      fd_(fd),
      is_block_device_(is_block_device),
      size_bytes_(size_bytes),
      read_only_(read_only),
      queue_depth_(static_cast<unsigned>(queue_depth)),
      ring_(std::make_unique<io_uring>()) {}

UringDevice::~UringDevice() {
  if (ring_ != nullptr) {
    if (unsubmitted_ > 0) io_uring_submit(ring_.get());
    // The kernel may still be writing into callers' buffers: wait it out.
    while (in_kernel_ > 0) {
      io_uring_cqe* cqe = nullptr;
      const int r = io_uring_wait_cqe(ring_.get(), &cqe);
      if (r == -EINTR) continue;
      if (r < 0) break;
      io_uring_cqe_seen(ring_.get(), cqe);
      --in_kernel_;
    }
    io_uring_queue_exit(ring_.get());
  }
  ::close(fd_);
}

std::string UringDevice::Describe(const IoRequest& req) const {
  if (req.op == IoOp::kFlush) return absl::StrCat("flush of ", path_);
  return absl::StrCat(IoOpName(req.op), " of ", req.length, " bytes at offset ",
                      req.offset, " on ", path_);
}

UringDevice::Op* UringDevice::NewOp(IoRequest* req) {
  Op* op;
  if (free_ops_.empty()) {
    op_pool_.push_back(std::make_unique<Op>());
    op = op_pool_.back().get();
  } else {
    op = free_ops_.back();
    free_ops_.pop_back();
  }
  *op = Op{};
  op->req = req;
  return op;
}

void UringDevice::FreeOp(Op* op) { free_ops_.push_back(op); }

absl::Status UringDevice::Submit(IoRequest* req) {
  if (absl::Status s = Validate(*req); !s.ok()) return s;
  if (read_only_ && (req->op == IoOp::kWrite || req->op == IoOp::kDiscard)) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(*req), ": device was opened read-only"));
  }
  if (req->op == IoOp::kDiscard) {
    // Not a ring op: it runs now, so it cannot be ordered behind a barrier.
    if (req->barrier || !barriers_outstanding_.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          Describe(*req), ": a discard cannot be ordered by an ordering barrier on ",
          "UringDevice (it runs synchronously); submit it once the barrier completed"));
    }
    ++in_flight_;
    finished_.emplace_back(req, DoDiscard(*req));
    return absl::OkStatus();
  }
  ++in_flight_;
  Op* op = NewOp(req);
  op->submit_seq = next_submit_seq_++;
  const bool behind_barrier = !barriers_outstanding_.empty();
  ops_outstanding_.insert(op->submit_seq);
  if (req->barrier) barriers_outstanding_.insert(op->submit_seq);
  if (req->op == IoOp::kWrite) {
    op->write_seq = next_write_seq_++;
    writes_outstanding_.insert(op->write_seq);
  } else if (req->op == IoOp::kFlush) {
    op->write_seq = next_write_seq_ - 1;  // covers the writes before it
    if (!req->barrier && !writes_outstanding_.empty() &&
        *writes_outstanding_.begin() <= op->write_seq) {
      ++stats_.flushes_held;
    }
  }
  // Flushes wait for earlier writes in held_, a barrier for every earlier
  // request, and whatever comes after an unfinished barrier for that barrier.
  if (req->op == IoOp::kFlush || req->barrier || behind_barrier) {
    held_.push_back(op);
  } else {
    queued_.push_back(op);
  }
  return absl::OkStatus();
}

absl::Status UringDevice::DoDiscard(const IoRequest& req) {
  int r;
  if (is_block_device_) {
    uint64_t range[2] = {req.offset, req.length};
    r = ::ioctl(fd_, BLKDISCARD, range);
  } else {
    r = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(req.offset),
                    static_cast<off_t>(req.length));
  }
  if (r != 0) return IoErrnoStatus(errno, Describe(req));
  return absl::OkStatus();
}

void UringDevice::PrepSqe(io_uring_sqe* sqe, Op* op) {
  const IoRequest& req = *op->req;
  const int fd = fixed_file_ ? 0 : fd_;
  switch (req.op) {
    case IoOp::kRead:
      io_uring_prep_read(sqe, fd, req.data + op->done_bytes,
                         static_cast<unsigned>(req.length - op->done_bytes),
                         req.offset + op->done_bytes);
      break;
    case IoOp::kWrite:
      io_uring_prep_write(sqe, fd, req.data + op->done_bytes,
                          static_cast<unsigned>(req.length - op->done_bytes),
                          req.offset + op->done_bytes);
      if (req.fua) sqe->rw_flags = RWF_DSYNC;
      break;
    case IoOp::kFlush:
      io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
      break;
    case IoOp::kDiscard:
      HAFS_CHECK(false) << "discard is not a ring op";
  }
  if (fixed_file_) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data(sqe, op);
}

void UringDevice::FillSq() {
  // Held requests join the queue in order: a barrier once every request
  // before it finished (a short or retried one stays unfinished until its
  // last byte is done); anything else once no earlier barrier is unfinished,
  // a plain flush also only once the writes before it completed. (Ordering is
  // done here, not with IOSQE_IO_DRAIN: older kernels' drain holds later
  // requests only until the drain request starts, not until it completes.)
  while (!held_.empty()) {
    Op* f = held_.front();
    if (f->req->barrier) {
      if (*ops_outstanding_.begin() != f->submit_seq) break;
    } else if (!barriers_outstanding_.empty() &&
               *barriers_outstanding_.begin() < f->submit_seq) {
      break;
    } else if (f->req->op == IoOp::kFlush && !writes_outstanding_.empty() &&
               *writes_outstanding_.begin() <= f->write_seq) {
      break;
    }
    held_.pop_front();
    queued_.push_back(f);
  }
  while (!queued_.empty() && in_kernel_ < queue_depth_) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
    if (sqe == nullptr) break;  // SQ full of unsubmitted entries
    PrepSqe(sqe, queued_.front());
    queued_.pop_front();
    ++in_kernel_;
    ++unsubmitted_;
  }
}

void UringDevice::Finish(Op* op, absl::Status status) {
  if (op->req->op == IoOp::kWrite) writes_outstanding_.erase(op->write_seq);
  ops_outstanding_.erase(op->submit_seq);
  if (op->req->barrier) barriers_outstanding_.erase(op->submit_seq);
  finished_.emplace_back(op->req, std::move(status));
  FreeOp(op);
}

void UringDevice::HandleCqe(Op* op, int res) {
  IoRequest& req = *op->req;
  if (res == -EAGAIN || res == -EINTR) {
    ++stats_.requeued;
    queued_.push_front(op);
    return;
  }
  if (res < 0) {
    Finish(op, IoErrnoStatus(res, Describe(req)));
    return;
  }
  if (req.op == IoOp::kFlush) {
    Finish(op, absl::OkStatus());
    return;
  }
  const uint64_t remaining = req.length - op->done_bytes;
  const uint64_t got = static_cast<uint64_t>(res);
  if (got >= remaining) {
    Finish(op, absl::OkStatus());
    return;
  }
  if (got == 0) {
    if (req.op == IoOp::kRead) {
      Finish(op, absl::DataLossError(absl::StrCat(
          Describe(req), ": end of file after ", op->done_bytes,
          " bytes (was the file truncated while open?)")));
    } else {
      Finish(op, absl::DataLossError(absl::StrCat(
          Describe(req), ": the kernel wrote 0 of the remaining ", remaining,
          " bytes")));
    }
    return;
  }
  ++stats_.short_ios;
  op->done_bytes += got;
  queued_.push_front(op);  // resubmit the remainder first
}

int UringDevice::RunFinished() {
  int n = 0;
  while (!finished_.empty()) {
    std::vector<std::pair<IoRequest*, absl::Status>> batch;
    batch.swap(finished_);
    for (auto& [req, status] : batch) {
      --in_flight_;
      ++n;
      req->done(std::move(status));  // may Submit more
    }
  }
  return n;
}

absl::StatusOr<int> UringDevice::Poll(int min_complete,
                                      absl::Duration timeout) {
  io_uring* ring = ring_.get();
  const bool infinite = timeout == absl::InfiniteDuration();
  const absl::Time deadline = infinite ? absl::InfiniteFuture()
                                       : absl::Now() + timeout;
  int n = RunFinished();
  constexpr unsigned kBatch = 64;
  io_uring_cqe* cqes[kBatch];
  while (true) {
    FillSq();
    const bool wait = n < min_complete && in_kernel_ > 0;
    bool timed_out = false;
    if (wait || unsubmitted_ > 0) {
      int r;
      if (!wait) {
        r = io_uring_submit(ring);
      } else if (infinite) {
        r = io_uring_submit_and_wait(ring, 1);
      } else {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          r = io_uring_submit(ring);
          timed_out = true;
        } else {
          __kernel_timespec ts;
          ts.tv_sec = absl::ToInt64Seconds(left);
          ts.tv_nsec = absl::ToInt64Nanoseconds(
              left - absl::Seconds(ts.tv_sec));
          io_uring_cqe* cqe = nullptr;
          r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
          if (r == -ETIME) {
            timed_out = true;
            r = 0;
          }
        }
      }
      ++stats_.enter_calls;
      if (r == -EINTR || r == -EAGAIN || r == -EBUSY) {
        r = 0;  // reap below (frees resources), then try again
      } else if (r < 0) {
        return IoErrnoStatus(r, absl::StrCat("io_uring_enter on ", path_));
      }
      // Whatever the return value, the SQ ring tells what the kernel took.
      const unsigned left_in_sq = io_uring_sq_ready(ring);
      stats_.sqes_submitted += unsubmitted_ - left_in_sq;
      unsubmitted_ = left_in_sq;
    }
    // Reap everything available.
    while (true) {
      const unsigned got = io_uring_peek_batch_cqe(ring, cqes, kBatch);
      if (got == 0) break;
      for (unsigned i = 0; i < got; ++i) {
        Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqes[i]));
        const int res = cqes[i]->res;
        --in_kernel_;
        HandleCqe(op, res);
      }
      io_uring_cq_advance(ring, got);
    }
    n += RunFinished();
    const bool work_left = !queued_.empty() || !held_.empty() ||
                           in_kernel_ > 0 || !finished_.empty();
    if (!work_left) break;
    if (n >= min_complete || timed_out) {
      // Hand over what callbacks or resubmissions queued, then return.
      FillSq();
      if (unsubmitted_ > 0) {
        const int r = io_uring_submit(ring);
        ++stats_.enter_calls;
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
          return IoErrnoStatus(r, absl::StrCat("io_uring_enter on ", path_));
        }
        const unsigned left_in_sq = io_uring_sq_ready(ring);
        stats_.sqes_submitted += unsubmitted_ - left_in_sq;
        unsubmitted_ = left_in_sq;
      }
      break;
    }
  }
  return n;
}

absl::Status UringDevice::SetCompletionEventFd(int fd) {
  io_uring* ring = ring_.get();
  if (eventfd_registered_) {
    const int r = io_uring_unregister_eventfd(ring);
    if (r < 0) {
      return IoErrnoStatus(r, absl::StrCat("io_uring_unregister_eventfd on ", path_));
    }
    eventfd_registered_ = false;
  }
  if (fd < 0) return absl::OkStatus();
  const int r = io_uring_register_eventfd(ring, fd);
  if (r < 0) {
    return IoErrnoStatus(r, absl::StrCat("io_uring_register_eventfd on ", path_));
  }
  eventfd_registered_ = true;
  return absl::OkStatus();
}

}  // namespace hafs::io
