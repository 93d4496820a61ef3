#include "libhafs/frontend/volume_io.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace hafs::frontend {

using io::kBlockSize;

absl::Status ValidateVolumeRequest(absl::string_view op, uint64_t offset,
                                   uint64_t length, const void* data,
                                   uint64_t size) {
  if (length == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", op, " at offset ", offset,
        ": length is 0 (hint: lengths are positive multiples of ", kBlockSize,
        " bytes)"));
  }
  if (offset % kBlockSize != 0 || length % kBlockSize != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", op, " of ", length, " bytes at offset ", offset,
        " is not aligned (hint: offset and length must be multiples of ",
        kBlockSize, " bytes; use ByteRangeIo for byte-granular access)"));
  }
  if (data != nullptr && reinterpret_cast<uintptr_t>(data) % kBlockSize != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", op, " at offset ", offset,
        ": buffer address is not 4096-byte aligned (hint: use "
        "hafs::io::AlignedBuffer)"));
  }
  if (offset > size || length > size - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        "volume ", op, " of ", length, " bytes at offset ", offset,
        " ends past the volume end (", size, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status VolumeIo::WriteZeroes(uint64_t offset, uint64_t length) {
  if (absl::Status s =
          ValidateVolumeRequest("zero", offset, length, nullptr, size_bytes());
      !s.ok()) {
    return s;
  }
  constexpr uint64_t kChunk = 1 << 20;
  io::AlignedBuffer zeros(std::min(kChunk, length));
  while (length > 0) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), length);
    if (absl::Status s = Write(offset, zeros.span().subspan(0, n), false);
        !s.ok()) {
      return s;
    }
    offset += n;
    length -= n;
  }
  return absl::OkStatus();
}

BlockDeviceVolumeIo::BlockDeviceVolumeIo(io::BlockDevice* device,
                                         Options options)
    : size_bytes_(device->size_bytes()), options_(options), device_(device) {}

absl::Status BlockDeviceVolumeIo::Read(uint64_t offset, absl::Span<char> out) {
  if (absl::Status s = ValidateVolumeRequest("read", offset, out.size(),
                                             out.data(), size_bytes_);
      !s.ok()) {
    return s;
  }
  absl::MutexLock l(&mu_);
  ++stats_.reads;
  stats_.bytes_read += out.size();
  return device_->Read(offset, out);
}

absl::Status BlockDeviceVolumeIo::Write(uint64_t offset,
                                        absl::Span<const char> data, bool fua) {
  if (absl::Status s = ValidateVolumeRequest("write", offset, data.size(),
                                             data.data(), size_bytes_);
      !s.ok()) {
    return s;
  }
  absl::MutexLock l(&mu_);
  ++stats_.writes;
  if (fua) ++stats_.fua_writes;
  stats_.bytes_written += data.size();
  return device_->Write(offset, data, fua);
}

absl::Status BlockDeviceVolumeIo::Flush() {
  absl::MutexLock l(&mu_);
  ++stats_.flushes;
  return device_->Flush();
}

absl::Status BlockDeviceVolumeIo::WriteZeroes(uint64_t offset,
                                              uint64_t length) {
  if (!options_.discard_zeroes) return VolumeIo::WriteZeroes(offset, length);
  if (absl::Status s =
          ValidateVolumeRequest("zero", offset, length, nullptr, size_bytes_);
      !s.ok()) {
    return s;
  }
  absl::MutexLock l(&mu_);
  ++stats_.zeroes;
  return device_->Discard(offset, length);
}

BlockDeviceVolumeIo::Stats BlockDeviceVolumeIo::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

}  // namespace hafs::frontend
