// File: libhafs/frontend/gated_volume_io.h
// -----------------------------------------------------------------------------
// GatedVolumeIo: a VolumeIo that forwards to another one, with the cluster's
// quorum-loss I/O policies (DRBD's on-no-quorum): while suspended, requests
// wait (NFS clients see a stall, not errors) until Resume(); while failing,
// they return kUnavailable at once. Resume() releases every waiting request.
//
// Thread-safety: all methods may be called from any thread.
//
// Example:
//   GatedVolumeIo gated(&volume_io);
//   gated.Suspend();   // quorum lost, policy suspend-io
//   gated.Resume();    // quorum back
#ifndef HAFS_LIBHAFS_FRONTEND_GATED_VOLUME_IO_H_
#define HAFS_LIBHAFS_FRONTEND_GATED_VOLUME_IO_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/frontend/volume_io.h"

namespace hafs::frontend {

class GatedVolumeIo final : public VolumeIo {
 public:
  enum class Mode { kRunning, kSuspended, kFailing };

  explicit GatedVolumeIo(VolumeIo* target) : target_(target) {}

  uint64_t size_bytes() const override { return target_->size_bytes(); }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override;
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua) override;
  absl::Status Flush() override;
  absl::Status WriteZeroes(uint64_t offset, uint64_t length) override;

  void Suspend() { SetMode(Mode::kSuspended); }
  void Fail() { SetMode(Mode::kFailing); }
  void Resume() { SetMode(Mode::kRunning); }
  Mode mode() const;
  // Requests waiting in a suspension right now.
  int waiting() const;

 private:
  void SetMode(Mode m);
  absl::Status Enter();

  VolumeIo* const target_;
  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kRunning;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hafs::frontend

#endif  // HAFS_LIBHAFS_FRONTEND_GATED_VOLUME_IO_H_
