// File: libhafs/io/block_device.h
// -----------------------------------------------------------------------------
// The BlockDevice port: how every hafs component reaches storage. One abstract
// class (LevelDB Env style) with real and simulated implementations:
//
//   UringDevice  io_uring + O_DIRECT on a file or block device (uring_device.h)
//   MemDevice    RAM, for unit tests and tools (mem_device.h)
//   SimDevice    simulation: unsynced-write tracking, Crash(seed) that drops,
//                keeps or tears unsynced writes per 512-byte sector, injectable
//                EIO/ENOSPC and latency (sim_device.h)
//
// Model
//   I/O is asynchronous: Submit() queues a request, Poll() reaps completions and
//   runs their callbacks on the polling thread. The synchronous helpers (Read,
//   Write, Flush, Discard) are Submit + Poll-until-done for callers that want
//   one I/O at a time. A request is complete when its callback has run.
//
// Alignment rules (identical for every implementation, so that tests on
// MemDevice/SimDevice catch what O_DIRECT would reject)
//   * offset and length of Read/Write/Discard are multiples of kBlockSize
//     (4096 bytes); length > 0.
//   * buffers are aligned to kBlockSize in memory (use AlignedBuffer).
//   * offset + length <= size_bytes().
//   Violations are rejected by Submit() with kInvalidArgument (alignment, zero
//   length) or kOutOfRange (past the end), naming the offending values; the
//   callback is then not called.
//
// Durability
//   A completed Write is durable only after a later Flush completes, or if it
//   was written with fua = true (Force Unit Access: durable when it completes).
//   Flush makes every write that completed before it was submitted durable.
//   Writes submitted together may complete in any order; callers that need an
//   order wait for completion first, or submit an ordering barrier between
//   them (below).
//
// Ordering barriers (IoRequest::barrier)
//   A barrier request starts only after every request submitted before it on
//   the same device has completed, and no request submitted after it starts
//   before it has completed. A barrier Flush therefore makes durable every
//   write submitted before it, and a write submitted after it can reach the
//   media only once they are durable: write ordering without the caller
//   waiting for completions in between (DRBD's epochs on the Secondary; the
//   kernel's old REQ_HARDBARRIER). UringDevice enforces it in its submission
//   queue (a barrier enters the ring once everything before it finished, and
//   nothing after it enters before it finished).
//
// Errors: kInvalidArgument/kOutOfRange for bad requests; I/O errors come back
// in the callback as kDataLoss (EIO), kResourceExhausted (ENOSPC) or
// kUnavailable (device gone), with the errno and the offset in the message.
//
// Thread-safety: Submit() and Poll() may be called from one thread at a time
// (the device's owner, e.g. the runtime's event loop). size_bytes() is const.
#ifndef HAFS_LIBHAFS_IO_BLOCK_DEVICE_H_
#define HAFS_LIBHAFS_IO_BLOCK_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace hafs::io {

inline constexpr uint64_t kBlockSize = 4096;
inline constexpr uint64_t kSectorSize = 512;

enum class IoOp { kRead, kWrite, kFlush, kDiscard };
absl::string_view IoOpName(IoOp op);

// One I/O. The caller owns it and keeps it (and its buffer) alive and unchanged
// until `done` has run.
struct IoRequest {
  IoOp op = IoOp::kRead;
  uint64_t offset = 0;  // bytes; ignored for kFlush
  uint64_t length = 0;  // bytes; ignored for kFlush
  char* data = nullptr;  // kRead: destination; kWrite: source; 4 KiB aligned
  bool fua = false;      // kWrite only: durable on completion
  bool barrier = false;  // ordering barrier (see the file comment)
  // Runs exactly once, from Poll(), with the result.
  std::function<void(absl::Status)> done;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  // Size in bytes (a multiple of kBlockSize).
  virtual uint64_t size_bytes() const = 0;

  // Queues `req`. Returns a non-OK status (and never calls req->done) if the
  // request is invalid (see alignment rules) or the device is closed.
  virtual absl::Status Submit(IoRequest* req) = 0;

  // Makes sure queued requests have been handed to the device, then waits
  // until at least `min_complete` requests have completed or `timeout` passes
  // (min_complete 0: never waits). Runs the callbacks of every completion
  // reaped and returns how many ran.
  virtual absl::StatusOr<int> Poll(int min_complete,
                                   absl::Duration timeout) = 0;

  // Requests submitted and not yet completed.
  virtual int in_flight() const = 0;

  // Synchronous helpers: submit one request and poll until it completes.
  // REQUIRES: no other request of this caller is in flight on this device
  // (their callbacks would run inside these calls otherwise, which is fine but
  // surprising).
  absl::Status Read(uint64_t offset, absl::Span<char> out);
  absl::Status Write(uint64_t offset, absl::Span<const char> data,
                     bool fua = false);
  absl::Status Flush();
  absl::Status Discard(uint64_t offset, uint64_t length);

 protected:
  // Shared validation for implementations: the alignment rules above.
  absl::Status Validate(const IoRequest& req) const;

 private:
  absl::Status RunSync(IoRequest* req);
};

// A heap buffer aligned to kBlockSize (O_DIRECT needs it), zero-filled.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size);
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  absl::Span<char> span() { return absl::MakeSpan(data_, size_); }
  absl::Span<const char> span() const { return absl::MakeConstSpan(data_, size_); }
  absl::string_view view() const { return absl::string_view(data_, size_); }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_BLOCK_DEVICE_H_
