// File: libhafs/io/buffer_pool.h
// -----------------------------------------------------------------------------
// BufferPool: recycles AlignedBuffers of the same size, so that a hot data
// path (the mirror receiving 1 MiB Data messages, say) does not allocate and
// free — for large sizes glibc serves each with mmap/munmap and page faults.
// Buffers come out as shared_ptrs whose deleter returns them to the pool
// (or frees them when the pool already keeps `max_bytes`); the pool's state
// lives as long as any of its buffers, so buffers may outlive the pool object.
// Contents of a recycled buffer are NOT zeroed.
//
// Thread-safety: Get() and the release of buffers may happen on any thread.
//
// Example:
//   BufferPool pool({.max_bytes = 64 << 20});
//   std::shared_ptr<AlignedBuffer> b = pool.Get(1 << 20);
#ifndef HAFS_LIBHAFS_IO_BUFFER_POOL_H_
#define HAFS_LIBHAFS_IO_BUFFER_POOL_H_

#include <cstddef>
#include <memory>

#include "libhafs/io/block_device.h"

namespace hafs::io {

struct BufferPoolOptions {
  // Bytes of idle buffers kept for reuse, at most.
  size_t max_bytes = 64 << 20;
};

class BufferPool {
 public:
  explicit BufferPool(const BufferPoolOptions& options = {});
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of exactly `size` bytes, 4 KiB aligned.
  std::shared_ptr<AlignedBuffer> Get(size_t size);

  // Idle bytes kept right now, and how many Get() calls were served from
  // the pool (for tests and status).
  size_t idle_bytes() const;
  uint64_t reused() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_BUFFER_POOL_H_
