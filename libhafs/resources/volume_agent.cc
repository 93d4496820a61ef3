#include "libhafs/resources/volume_agent.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/resources/params.h"

namespace hafs::resources {

absl::Status FakeVolumeControl::Promote(bool force) {
  absl::MutexLock l(&mu_);
  ++promotes_;
  last_force_ = force;
  if (!promote_error_.ok()) return promote_error_;
  role_ = VolumeRole::kPrimary;
  return absl::OkStatus();
}
absl::Status FakeVolumeControl::Demote() {
  absl::MutexLock l(&mu_);
  if (!demote_error_.ok()) return demote_error_;
  role_ = VolumeRole::kSecondary;
  return absl::OkStatus();
}
VolumeRole FakeVolumeControl::Role() {
  absl::MutexLock l(&mu_);
  return role_;
}
VolumeDiskState FakeVolumeControl::DiskState() {
  absl::MutexLock l(&mu_);
  return disk_;
}
void FakeVolumeControl::set_role(VolumeRole r) {
  absl::MutexLock l(&mu_);
  role_ = r;
}
void FakeVolumeControl::set_disk(VolumeDiskState d) {
  absl::MutexLock l(&mu_);
  disk_ = d;
}
void FakeVolumeControl::set_promote_error(absl::Status s) {
  absl::MutexLock l(&mu_);
  promote_error_ = std::move(s);
}
void FakeVolumeControl::set_demote_error(absl::Status s) {
  absl::MutexLock l(&mu_);
  demote_error_ = std::move(s);
}
int FakeVolumeControl::promotes() {
  absl::MutexLock l(&mu_);
  return promotes_;
}
bool FakeVolumeControl::last_force() {
  absl::MutexLock l(&mu_);
  return last_force_;
}

absl::Status VolumeAgent::Validate(const ResourceSpec& spec) {
  if (spec.kind != AgentKind::kVolume) {
    return absl::InvalidArgumentError(absl::StrCat("resource ", spec.name,
                                                   ": not a Volume resource"));
  }
  return CheckKnownParams(spec, {"volume"});
}

VolumeAgent::VolumeAgent(ResourceSpec spec, VolumeControl* volume)
    : spec_(std::move(spec)), volume_(volume) {
  name_ = StringParam(spec_, "volume", spec_.name);
}

AgentOutcome VolumeAgent::Start(absl::Duration) {
  bool force = force_next_;
  force_next_ = false;
  std::string who = absl::StrCat(spec_.name, " promote ", name_);
  if (volume_->Role() == VolumeRole::kPrimary) {
    return {AgentOutcome::kOk, absl::StrCat(who, ": already Primary")};
  }
  VolumeDiskState d = volume_->DiskState();
  bool good = d == VolumeDiskState::kUpToDate || d == VolumeDiskState::kConsistent;
  if (!good && !force) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": refusing to promote a ", splitbrain::DiskStateName(d),
                         " disk (it may lack writes the peer has); the role manager can force "
                         "it (hafsctl takeover --force)")};
  }
  absl::Status s = volume_->Promote(force);
  if (!s.ok()) {
    // Refusals are usually transient (the peer is still Primary while it
    // demotes during a takeover, a resync runs): fail and retry, never ban
    // the node for them. Only a volume without metadata cannot ever run here.
    const bool fatal = absl::IsNotFound(s);
    return {fatal ? AgentOutcome::kFatal : AgentOutcome::kFailed,
            absl::StrCat(who, ": ", s.ToString())};
  }
  return {AgentOutcome::kOk, absl::StrCat(who, ": Primary (disk ", splitbrain::DiskStateName(d),
                                          force && !good ? ", FORCED" : "", ")")};
}

AgentOutcome VolumeAgent::Stop(absl::Duration) {
  std::string who = absl::StrCat(spec_.name, " demote ", name_);
  if (volume_->Role() == VolumeRole::kSecondary) {
    return {AgentOutcome::kOk, absl::StrCat(who, ": already Secondary")};
  }
  absl::Status s = volume_->Demote();
  if (!s.ok()) return {AgentOutcome::kStopFailed, absl::StrCat(who, ": ", s.ToString())};
  return {AgentOutcome::kOk, absl::StrCat(who, ": Secondary")};
}

AgentOutcome VolumeAgent::Monitor(absl::Duration) {
  std::string who = absl::StrCat(spec_.name, " monitor ", name_);
  VolumeRole r = volume_->Role();
  VolumeDiskState d = volume_->DiskState();
  if (r == VolumeRole::kSecondary) {
    return {AgentOutcome::kNotRunning, absl::StrCat(who, ": Secondary")};
  }
  if (d != VolumeDiskState::kUpToDate) {
    return {AgentOutcome::kFailed,
            absl::StrCat(who, ": Primary but disk is ", splitbrain::DiskStateName(d))};
  }
  return {AgentOutcome::kOk, absl::StrCat(who, ": Primary/UpToDate")};
}

}  // namespace hafs::resources
