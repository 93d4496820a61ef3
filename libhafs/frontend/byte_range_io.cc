#include "libhafs/frontend/byte_range_io.h"

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "libhafs/io/block_device.h"

namespace hafs::frontend {
namespace {

using io::kBlockSize;

uint64_t RoundDown(uint64_t x) { return x / kBlockSize * kBlockSize; }
uint64_t RoundUp(uint64_t x) { return RoundDown(x + kBlockSize - 1); }
bool IsAligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % kBlockSize == 0;
}

// A per-thread aligned scratch buffer, grown on demand (FUSE worker threads
// serve one request at a time, so one buffer per thread suffices).
absl::Span<char> Scratch(uint64_t size) {
  thread_local std::unique_ptr<io::AlignedBuffer> buffer;
  if (buffer == nullptr || buffer->size() < size) {
    buffer = std::make_unique<io::AlignedBuffer>(size);
  }
  return buffer->span().subspan(0, size);
}

}  // namespace

absl::Status ByteRangeIo::CheckRange(const char* op, uint64_t offset,
                                     uint64_t length) const {
  const uint64_t size = volume_->size_bytes();
  if (offset > size || length > size - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        op, " of ", length, " bytes at offset ", offset,
        " ends past the volume end (", size, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ByteRangeIo::Read(uint64_t offset, absl::Span<char> out) {
  if (absl::Status s = CheckRange("read", offset, out.size()); !s.ok()) {
    return s;
  }
  if (out.empty()) return absl::OkStatus();
  const uint64_t end = offset + out.size();
  if (offset % kBlockSize == 0 && end % kBlockSize == 0 &&
      IsAligned(out.data())) {
    return volume_->Read(offset, out);
  }
  const uint64_t first = RoundDown(offset);
  absl::Span<char> bounce = Scratch(RoundUp(end) - first);
  if (absl::Status s = volume_->Read(first, bounce); !s.ok()) return s;
  std::memcpy(out.data(), bounce.data() + (offset - first), out.size());
  return absl::OkStatus();
}

absl::Status ByteRangeIo::Write(uint64_t offset, absl::Span<const char> data,
                                bool fua) {
  if (absl::Status s = CheckRange("write", offset, data.size()); !s.ok()) {
    return s;
  }
  if (data.empty()) return absl::OkStatus();
  const uint64_t end = offset + data.size();
  const uint64_t first = RoundDown(offset);
  const uint64_t last_end = RoundUp(end);
  const bool head_partial = offset % kBlockSize != 0;
  const bool tail_partial = end % kBlockSize != 0;
  const bool partial = head_partial || tail_partial;

  BlockRangeLock::Guard guard =
      locks_.Lock(first / kBlockSize, last_end / kBlockSize, partial);
  if (!partial && IsAligned(data.data())) {
    return volume_->Write(offset, data, fua);
  }
  absl::Span<char> bounce = Scratch(last_end - first);
  if (partial) rmw_.fetch_add(1);
  if (head_partial) {
    if (absl::Status s = volume_->Read(first, bounce.subspan(0, kBlockSize));
        !s.ok()) {
      return s;
    }
  }
  const uint64_t tail_block = last_end - kBlockSize;
  if (tail_partial && !(head_partial && tail_block == first)) {
    if (absl::Status s = volume_->Read(
            tail_block, bounce.subspan(tail_block - first, kBlockSize));
        !s.ok()) {
      return s;
    }
  }
  std::memcpy(bounce.data() + (offset - first), data.data(), data.size());
  return volume_->Write(first, bounce, fua);
}

absl::Status ByteRangeIo::Zero(uint64_t offset, uint64_t length) {
  if (absl::Status s = CheckRange("zero", offset, length); !s.ok()) return s;
  if (length == 0) return absl::OkStatus();
  const uint64_t end = offset + length;
  const uint64_t first = RoundDown(offset);
  const uint64_t last_end = RoundUp(end);
  const bool partial = offset % kBlockSize != 0 || end % kBlockSize != 0;
  BlockRangeLock::Guard guard =
      locks_.Lock(first / kBlockSize, last_end / kBlockSize, partial);

  // Patches the bytes [from, to) of the block at `block` with zeros.
  auto zero_partial = [&](uint64_t block, uint64_t from,
                          uint64_t to) -> absl::Status {
    rmw_.fetch_add(1);
    absl::Span<char> buf = Scratch(kBlockSize);
    if (absl::Status s = volume_->Read(block, buf); !s.ok()) return s;
    std::memset(buf.data() + (from - block), 0, to - from);
    return volume_->Write(block, buf, false);
  };

  if (last_end - first == kBlockSize && partial) {
    return zero_partial(first, offset, end);
  }
  uint64_t mid_begin = first;
  uint64_t mid_end = last_end;
  if (offset % kBlockSize != 0) {
    if (absl::Status s = zero_partial(first, offset, first + kBlockSize);
        !s.ok()) {
      return s;
    }
    mid_begin = first + kBlockSize;
  }
  if (end % kBlockSize != 0) {
    const uint64_t tail_block = last_end - kBlockSize;
    if (absl::Status s = zero_partial(tail_block, tail_block, end); !s.ok()) {
      return s;
    }
    mid_end = tail_block;
  }
  if (mid_begin < mid_end) {
    return volume_->WriteZeroes(mid_begin, mid_end - mid_begin);
  }
  return absl::OkStatus();
}

}  // namespace hafs::frontend
