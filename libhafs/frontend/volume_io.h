// File: libhafs/frontend/volume_io.h
// -----------------------------------------------------------------------------
// VolumeIo: the small, blocking, thread-safe interface the volume front end
// (FuseExport, later NBD/ublk) consumes. Anything that holds the bytes of a
// volume implements it: the block mirror's Volume (libhafs/mirror), or
// BlockDeviceVolumeIo below over any io::BlockDevice (MemDevice in tests,
// UringDevice in tools).
//
// Rules (the same as io/block_device.h, so an implementation can pass requests
// straight to a BlockDevice):
//   * Read/Write: offset and length are multiples of io::kBlockSize (4096),
//     length > 0, the buffer address is 4096-aligned (io::AlignedBuffer), and
//     offset + length <= size_bytes(). Violations return kInvalidArgument
//     (alignment) or kOutOfRange (past the end) and change nothing.
//   * WriteZeroes: offset and length multiples of 4096; afterwards the range
//     reads as zeros (like BLKZEROOUT; a plain "discard" whose contents are
//     undefined afterwards is NOT enough).
//   * Durability: a completed Write is durable after a later Flush() returns
//     OK, or at once when it was written with fua = true. Flush() covers every
//     Write/WriteZeroes that completed before Flush() was called.
//   * Concurrency: every method may be called from many threads at once.
//     Concurrent writes to the same block land in some order, whole blocks at
//     a time; reads see each 4 KiB block either before or after a concurrent
//     write to it. Byte-granular access (partial blocks) is the caller's job:
//     see ByteRangeIo (byte_range_io.h), which serializes read-modify-write.
//
// Errors: the codes of io/io_status.h (kDataLoss for EIO, kResourceExhausted
// for ENOSPC, kUnavailable when the volume is gone, kFailedPrecondition when
// it may not be written, e.g. a mirror Secondary).
//
// Example:
//   io::MemDevice dev(64 << 20);
//   BlockDeviceVolumeIo volume(&dev, {.discard_zeroes = true});
//   io::AlignedBuffer buf(4096);
//   HAFS_RETURN_IF_ERROR(volume.Write(0, buf.span(), /*fua=*/false));
//   HAFS_RETURN_IF_ERROR(volume.Flush());
#ifndef HAFS_LIBHAFS_FRONTEND_VOLUME_IO_H_
#define HAFS_LIBHAFS_FRONTEND_VOLUME_IO_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "libhafs/io/block_device.h"

namespace hafs::frontend {

class VolumeIo {
 public:
  virtual ~VolumeIo() = default;

  // Size in bytes, a multiple of 4096; constant for the object's lifetime.
  virtual uint64_t size_bytes() const = 0;

  virtual absl::Status Read(uint64_t offset, absl::Span<char> out) = 0;
  virtual absl::Status Write(uint64_t offset, absl::Span<const char> data,
                             bool fua) = 0;
  virtual absl::Status Flush() = 0;

  // Default implementation: writes zero blocks, 1 MiB at a time. Override
  // when the storage can zero cheaply (punch hole, BLKZEROOUT, a bitmap).
  virtual absl::Status WriteZeroes(uint64_t offset, uint64_t length);
};

// Checks the rules above for a request of `op` ("read", "write", "zero") of
// `length` bytes at `offset` with buffer `data` (nullptr: no buffer check) on
// a volume of `size` bytes. Implementations use it for uniform messages.
absl::Status ValidateVolumeRequest(absl::string_view op, uint64_t offset,
                                   uint64_t length, const void* data,
                                   uint64_t size);

// VolumeIo over an io::BlockDevice (not owned; it must outlive this object).
// A mutex makes the device's one-thread-at-a-time contract safe for many
// callers; every call is one synchronous device request, so throughput is
// that of queue depth 1 (fine for tests and tools, not for the daemon).
class BlockDeviceVolumeIo final : public VolumeIo {
 public:
  struct Options {
    // The device's Discard() makes the range read as zeros (MemDevice, and
    // UringDevice on a regular file where it punches a hole). Then
    // WriteZeroes is a Discard; otherwise it writes zero blocks.
    bool discard_zeroes = false;
  };

  // Counters, for tests and tools.
  struct Stats {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t fua_writes = 0;
    uint64_t flushes = 0;
    uint64_t zeroes = 0;
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
  };

  BlockDeviceVolumeIo(io::BlockDevice* device, Options options);
  explicit BlockDeviceVolumeIo(io::BlockDevice* device)
      : BlockDeviceVolumeIo(device, Options()) {}

  uint64_t size_bytes() const override { return size_bytes_; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override;
  absl::Status Write(uint64_t offset, absl::Span<const char> data,
                     bool fua) override;
  absl::Status Flush() override;
  absl::Status WriteZeroes(uint64_t offset, uint64_t length) override;

  Stats stats() const;

 private:
  const uint64_t size_bytes_;
  const Options options_;
  mutable absl::Mutex mu_;
  io::BlockDevice* const device_ ABSL_PT_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_VOLUME_IO_H_
