// File: libhafs/resources/volume_agent.h
// -----------------------------------------------------------------------------
// Volume agent: promote / demote the replicated volume (what Heartbeat's
// `drbddisk` did), through the tiny VolumeControl port that the block
// mirror's Volume implements (FakeVolumeControl for tests).
//
// Parameters: `volume` (optional, a name for messages; default the resource
// name). No other parameters.
// Start: already Primary -> kOk. Otherwise the disk must be UpToDate or
//   Consistent; Diskless, Inconsistent or Outdated is refused (kFailed,
//   message says why) unless the role manager armed a forced promotion with
//   ForceNextPromote() (one-shot: consumed by the next Start). Promote()
//   errors -> kFailed, retried (e.g. "the peer is Primary" while a takeover's
//   peer still demotes); kFatal only for kNotFound (no metadata).
// Stop: already Secondary -> kOk; Demote() errors -> kStopFailed (the device
//   may still be open).
// Monitor: Primary and UpToDate -> kOk; Secondary -> kNotRunning; Primary
//   with any other disk state -> kFailed.
//
// Thread-safety: one operation at a time (Agent contract); the port must be
// thread-safe itself if others use it concurrently.
//
// Example:
//   VolumeAgent v(spec, &mirror_volume);
//   if (role_manager_said_force) v.ForceNextPromote();
//   AgentOutcome o = v.Start(absl::Seconds(20));
#ifndef HAFS_LIBHAFS_RESOURCES_VOLUME_AGENT_H_
#define HAFS_LIBHAFS_RESOURCES_VOLUME_AGENT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "libhafs/resources/agent.h"
#include "libhafs/splitbrain/handshake.h"

namespace hafs::resources {

// The mirror's role and disk-state types (DRBD's), shared by every component.
using VolumeRole = splitbrain::Role;
using VolumeDiskState = splitbrain::DiskState;

// The port. Promote/Demote block until done (or fail).
class VolumeControl {
 public:
  virtual ~VolumeControl() = default;
  virtual absl::Status Promote(bool force) = 0;
  virtual absl::Status Demote() = 0;
  virtual VolumeRole Role() = 0;
  virtual VolumeDiskState DiskState() = 0;
};

// Scriptable fake: Promote/Demote change the role unless an error is set.
class FakeVolumeControl final : public VolumeControl {
 public:
  absl::Status Promote(bool force) override;
  absl::Status Demote() override;
  VolumeRole Role() override;
  VolumeDiskState DiskState() override;

  void set_role(VolumeRole r);
  void set_disk(VolumeDiskState d);
  void set_promote_error(absl::Status s);
  void set_demote_error(absl::Status s);
  int promotes();
  bool last_force();

 private:
  absl::Mutex mu_;
  VolumeRole role_ ABSL_GUARDED_BY(mu_) = VolumeRole::kSecondary;
  VolumeDiskState disk_ ABSL_GUARDED_BY(mu_) = VolumeDiskState::kUpToDate;
  absl::Status promote_error_ ABSL_GUARDED_BY(mu_);
  absl::Status demote_error_ ABSL_GUARDED_BY(mu_);
  int promotes_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_force_ ABSL_GUARDED_BY(mu_) = false;
};

class VolumeAgent final : public Agent {
 public:
  VolumeAgent(ResourceSpec spec, VolumeControl* volume);
  static absl::Status Validate(const ResourceSpec& spec);

  // The role manager's decision to promote a disk that is not known good.
  void ForceNextPromote() { force_next_ = true; }

  AgentOutcome Start(absl::Duration timeout) override;
  AgentOutcome Stop(absl::Duration timeout) override;
  AgentOutcome Monitor(absl::Duration timeout) override;

 private:
  ResourceSpec spec_;
  VolumeControl* volume_;
  std::string name_;
  bool force_next_ = false;
};

}  // namespace hafs::resources

#endif  // HAFS_LIBHAFS_RESOURCES_VOLUME_AGENT_H_
