// File: libhafs/frontend/byte_range_io.h
// -----------------------------------------------------------------------------
// ByteRangeIo: byte-granular reads, writes and zeroing on top of a VolumeIo
// (which only takes whole, aligned 4 KiB blocks). This is what the FUSE front
// end calls: the kernel may send any offset/length and unaligned buffers.
//
//   * Read: reads the covering blocks into an aligned bounce buffer and copies
//     the requested bytes out (no bounce when everything is aligned).
//   * Write: a partial head/tail block is read, patched and written back as
//     part of ONE VolumeIo::Write covering all touched blocks, so FUA and
//     ordering apply to the whole request. Partial writes hold an exclusive
//     BlockRangeLock on their blocks; whole-block writes a shared one. Two
//     concurrent partial writes to different bytes of the same block thus
//     never lose each other's data, and a whole-block write never gets
//     overwritten by a stale read-modify-write.
//   * Zero: partial edges are read-modify-written with zeros, the aligned
//     middle goes to VolumeIo::WriteZeroes.
//   * Reads take no lock: every VolumeIo block is written whole, so a read
//     sees each block before or after a concurrent write.
//
// Requests must lie inside the volume (kOutOfRange otherwise); a length of 0
// is a no-op. Callers clip at the end of the volume themselves.
//
// Thread-safety: all methods may be called concurrently.
//
// Example:
//   ByteRangeIo bytes(&volume);
//   HAFS_RETURN_IF_ERROR(bytes.Write(1000, absl::MakeConstSpan(data, 10), false));
#ifndef HAFS_LIBHAFS_FRONTEND_BYTE_RANGE_IO_H_
#define HAFS_LIBHAFS_FRONTEND_BYTE_RANGE_IO_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libhafs/frontend/block_range_lock.h"
#include "libhafs/frontend/volume_io.h"

namespace hafs::frontend {

class ByteRangeIo {
 public:
  // `volume` is not owned and must outlive this object.
  explicit ByteRangeIo(VolumeIo* volume) : volume_(volume) {}
  ByteRangeIo(const ByteRangeIo&) = delete;
  ByteRangeIo& operator=(const ByteRangeIo&) = delete;

  uint64_t size_bytes() const { return volume_->size_bytes(); }

  absl::Status Read(uint64_t offset, absl::Span<char> out);
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua);
  absl::Status Zero(uint64_t offset, uint64_t length);
  absl::Status Flush() { return volume_->Flush(); }

  // Read-modify-write cycles done so far (for tests and stats).
  uint64_t read_modify_writes() const { return rmw_.load(); }

 private:
  absl::Status CheckRange(const char* op, uint64_t offset,
                          uint64_t length) const;

  VolumeIo* const volume_;
  BlockRangeLock locks_;
  std::atomic<uint64_t> rmw_{0};
};

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_BYTE_RANGE_IO_H_
