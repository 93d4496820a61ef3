#include "libhafs/io/mem_device.h"

#include <cstring>

#include "libhafs/base/logging.h"

namespace hafs::io {

MemDevice::MemDevice(uint64_t size_bytes) : data_(size_bytes, '\0') {
  HAFS_CHECK(size_bytes % kBlockSize == 0) << "size " << size_bytes;
}

absl::Status MemDevice::Submit(IoRequest* req) {
  if (absl::Status s = Validate(*req); !s.ok()) return s;
  queue_.push_back(req);
  return absl::OkStatus();
}

absl::StatusOr<int> MemDevice::Poll(int min_complete, absl::Duration timeout) {
  int n = 0;
  while (!queue_.empty()) {
    IoRequest* req = queue_.front();
    queue_.pop_front();
    switch (req->op) {
      case IoOp::kRead:
        std::memcpy(req->data, data_.data() + req->offset, req->length);
        break;
      case IoOp::kWrite:
        std::memcpy(data_.data() + req->offset, req->data, req->length);
        break;
      case IoOp::kDiscard:
        std::memset(data_.data() + req->offset, 0, req->length);
        break;
      case IoOp::kFlush:
        break;
    }
    ++n;
    req->done(absl::OkStatus());
  }
  return n;
}

}  // namespace hafs::io
