#include "libhafs/frontend/gated_volume_io.h"

#include "libhafs/base/status_macros.h"

namespace hafs::frontend {

void GatedVolumeIo::SetMode(Mode m) {
  absl::MutexLock l(&mu_);
  mode_ = m;
}

GatedVolumeIo::Mode GatedVolumeIo::mode() const {
  absl::MutexLock l(&mu_);
  return mode_;
}

int GatedVolumeIo::waiting() const {
  absl::MutexLock l(&mu_);
  return waiting_;
}

absl::Status GatedVolumeIo::Enter() {
  absl::MutexLock l(&mu_);
  if (mode_ == Mode::kSuspended) {
    ++waiting_;
    mu_.Await(absl::Condition(
        +[](Mode* m) { return *m != Mode::kSuspended; }, &mode_));
    --waiting_;
  }
  if (mode_ == Mode::kFailing) {
    return absl::UnavailableError(
        "I/O fails: the cluster lost quorum (on-quorum-loss fail-io)");
  }
  return absl::OkStatus();
}

absl::Status GatedVolumeIo::Read(uint64_t offset, absl::Span<char> out) {
  HAFS_RETURN_IF_ERROR(Enter());
  return target_->Read(offset, out);
}

absl::Status GatedVolumeIo::Write(uint64_t offset, absl::Span<const char> data, bool fua) {
  HAFS_RETURN_IF_ERROR(Enter());
  return target_->Write(offset, data, fua);
}

absl::Status GatedVolumeIo::Flush() {
  HAFS_RETURN_IF_ERROR(Enter());
  return target_->Flush();
}

absl::Status GatedVolumeIo::WriteZeroes(uint64_t offset, uint64_t length) {
  HAFS_RETURN_IF_ERROR(Enter());
  return target_->WriteZeroes(offset, length);
}

}  // namespace hafs::frontend
