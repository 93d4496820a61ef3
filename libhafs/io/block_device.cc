#include "libhafs/io/block_device.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"

namespace hafs::io {

absl::string_view IoOpName(IoOp op) {
  switch (op) {
    case IoOp::kRead:
      return "read";
    case IoOp::kWrite:
      return "write";
    case IoOp::kFlush:
      return "flush";
    case IoOp::kDiscard:
      return "discard";
  }
  return "unknown";
}

absl::Status BlockDevice::Validate(const IoRequest& req) const {
  if (req.op == IoOp::kFlush) return absl::OkStatus();
  const absl::string_view op = IoOpName(req.op);
  if (req.length == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, " at offset ", req.offset,
                     ": length is 0 (hint: lengths are positive multiples of ",
                     kBlockSize, " bytes)"));
  }
  if (req.offset % kBlockSize != 0 || req.length % kBlockSize != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, " of ", req.length, " bytes at offset ", req.offset,
        " is not aligned (hint: offset and length must be multiples of ",
        kBlockSize, " bytes)"));
  }
  if (req.op != IoOp::kDiscard) {
    if (req.data == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, " at offset ", req.offset, ": no buffer"));
    }
    if (reinterpret_cast<uintptr_t>(req.data) % kBlockSize != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, " at offset ", req.offset,
          ": buffer address is not 4096-byte aligned (hint: use "
          "hafs::io::AlignedBuffer)"));
    }
  }
  if (req.offset > size_bytes() || req.length > size_bytes() - req.offset) {
    return absl::OutOfRangeError(absl::StrCat(
        op, " of ", req.length, " bytes at offset ", req.offset,
        " ends past the device end (", size_bytes(), " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status BlockDevice::RunSync(IoRequest* req) {
  bool finished = false;
  absl::Status result;
  req->done = [&](absl::Status s) {
    result = std::move(s);
    finished = true;
  };
  if (absl::Status s = Submit(req); !s.ok()) return s;
  while (!finished) {
    absl::StatusOr<int> n = Poll(1, absl::InfiniteDuration());
    if (!n.ok()) return n.status();
  }
  return result;
}

absl::Status BlockDevice::Read(uint64_t offset, absl::Span<char> out) {
  IoRequest req;
  req.op = IoOp::kRead;
  req.offset = offset;
  req.length = out.size();
  req.data = out.data();
  return RunSync(&req);
}

absl::Status BlockDevice::Write(uint64_t offset, absl::Span<const char> data,
                                bool fua) {
  IoRequest req;
  req.op = IoOp::kWrite;
  req.offset = offset;
  req.length = data.size();
  req.data = const_cast<char*>(data.data());  // not written to for kWrite
  req.fua = fua;
  return RunSync(&req);
}

absl::Status BlockDevice::Flush() {
  IoRequest req;
  req.op = IoOp::kFlush;
  return RunSync(&req);
}

absl::Status BlockDevice::Discard(uint64_t offset, uint64_t length) {
  IoRequest req;
  req.op = IoOp::kDiscard;
  req.offset = offset;
  req.length = length;
  return RunSync(&req);
}

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  const size_t alloc = (size + kBlockSize - 1) / kBlockSize * kBlockSize;
  data_ = static_cast<char*>(std::aligned_alloc(kBlockSize, alloc == 0 ? kBlockSize : alloc));
  HAFS_CHECK(data_ != nullptr) << "out of memory allocating " << size;
  std::memset(data_, 0, alloc == 0 ? kBlockSize : alloc);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

}  // namespace hafs::io
