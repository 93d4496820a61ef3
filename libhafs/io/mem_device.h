// File: libhafs/io/mem_device.h
// -----------------------------------------------------------------------------
// MemDevice: a BlockDevice in RAM. Every write is durable at once (there is no
// cache to lose), reads of never-written blocks return zeros, discard zeroes.
// Requests complete in submission order at the next Poll(). For crash and
// fault tests use SimDevice instead.
#ifndef HAFS_LIBHAFS_IO_MEM_DEVICE_H_
#define HAFS_LIBHAFS_IO_MEM_DEVICE_H_

#include <deque>
#include <string>

#include "libhafs/io/block_device.h"

namespace hafs::io {

class MemDevice final : public BlockDevice {
 public:
  // REQUIRES: size_bytes is a multiple of kBlockSize.
  explicit MemDevice(uint64_t size_bytes);

  uint64_t size_bytes() const override { return data_.size(); }
  absl::Status Submit(IoRequest* req) override;
  absl::StatusOr<int> Poll(int min_complete, absl::Duration timeout) override;
  int in_flight() const override { return static_cast<int>(queue_.size()); }

  // Direct access to the contents, for tests and tools.
  const std::string& contents() const { return data_; }

 private:
  std::string data_;
  std::deque<IoRequest*> queue_;
};

}  // namespace hafs::io

#endif  // HAFS_LIBHAFS_IO_MEM_DEVICE_H_
