#include "libhafs/resources/volume_agent.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;

ResourceSpec Spec() {
  ResourceSpec s;
  s.name = "vol";
  s.kind = AgentKind::kVolume;
  s.params = {{"volume", "r0"}};
  return s;
}

TEST(VolumeAgentTest, Validate) {
  EXPECT_OK(VolumeAgent::Validate(Spec()));
  ResourceSpec s = Spec();
  s.params["force"] = "yes";
  EXPECT_THAT(VolumeAgent::Validate(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown parameter 'force'")));
  s = Spec();
  s.kind = AgentKind::kCommand;
  EXPECT_THAT(VolumeAgent::Validate(s), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(VolumeAgentTest, PromoteMonitorDemote) {
  FakeVolumeControl v;
  VolumeAgent a(Spec(), &v);
  EXPECT_EQ(a.Monitor(absl::Seconds(1)).code, AgentOutcome::kNotRunning);
  AgentOutcome o = a.Start(absl::Seconds(1));
  EXPECT_EQ(o.code, AgentOutcome::kOk) << o.message;
  EXPECT_FALSE(v.last_force());
  EXPECT_EQ(a.Monitor(absl::Seconds(1)).code, AgentOutcome::kOk);
  EXPECT_THAT(a.Start(absl::Seconds(1)).message, HasSubstr("already Primary"));
  EXPECT_EQ(v.promotes(), 1);
  v.set_disk(VolumeDiskState::kDiskless);  // detached after an I/O error
  AgentOutcome m = a.Monitor(absl::Seconds(1));
  EXPECT_EQ(m.code, AgentOutcome::kFailed);
  EXPECT_THAT(m.message, HasSubstr("Diskless"));
  EXPECT_EQ(a.Stop(absl::Seconds(1)).code, AgentOutcome::kOk);
  EXPECT_EQ(v.Role(), VolumeRole::kSecondary);
  EXPECT_THAT(a.Stop(absl::Seconds(1)).message, HasSubstr("already Secondary"));
}

TEST(VolumeAgentTest, RefusesBadDisksUnlessForcedOnce) {
  for (VolumeDiskState d : {VolumeDiskState::kInconsistent, VolumeDiskState::kOutdated,
                            VolumeDiskState::kDiskless}) {
    SCOPED_TRACE(splitbrain::DiskStateName(d));
    FakeVolumeControl v;
    v.set_disk(d);
    VolumeAgent a(Spec(), &v);
    AgentOutcome o = a.Start(absl::Seconds(1));
    EXPECT_EQ(o.code, AgentOutcome::kFailed);
    EXPECT_THAT(o.message, HasSubstr(absl::StrCat("refusing to promote a ", splitbrain::DiskStateName(d))));
    EXPECT_EQ(v.promotes(), 0);
    a.ForceNextPromote();
    o = a.Start(absl::Seconds(1));
    EXPECT_EQ(o.code, AgentOutcome::kOk) << o.message;
    EXPECT_THAT(o.message, HasSubstr("FORCED"));
    EXPECT_TRUE(v.last_force());
    // One-shot: after a demote the next promote is refused again.
    ASSERT_EQ(a.Stop(absl::Seconds(1)).code, AgentOutcome::kOk);
    EXPECT_EQ(a.Start(absl::Seconds(1)).code, AgentOutcome::kFailed);
  }
  FakeVolumeControl v;
  v.set_disk(VolumeDiskState::kConsistent);
  VolumeAgent a(Spec(), &v);
  EXPECT_EQ(a.Start(absl::Seconds(1)).code, AgentOutcome::kOk);
}

TEST(VolumeAgentTest, PortErrors) {
  FakeVolumeControl v;
  VolumeAgent a(Spec(), &v);
  v.set_promote_error(absl::UnavailableError("peer is Primary"));
  AgentOutcome o = a.Start(absl::Seconds(1));
  EXPECT_EQ(o.code, AgentOutcome::kFailed);
  EXPECT_THAT(o.message, HasSubstr("peer is Primary"));
  // A Primary peer during a takeover: retried, not a ban.
  v.set_promote_error(absl::FailedPreconditionError("the peer is Primary"));
  EXPECT_EQ(a.Start(absl::Seconds(1)).code, AgentOutcome::kFailed);
  v.set_promote_error(absl::NotFoundError("no metadata"));
  EXPECT_EQ(a.Start(absl::Seconds(1)).code, AgentOutcome::kFatal);
  v.set_promote_error(absl::OkStatus());
  ASSERT_EQ(a.Start(absl::Seconds(1)).code, AgentOutcome::kOk);
  v.set_demote_error(absl::FailedPreconditionError("device is open"));
  AgentOutcome s = a.Stop(absl::Seconds(1));
  EXPECT_EQ(s.code, AgentOutcome::kStopFailed);
  EXPECT_THAT(s.message, HasSubstr("device is open"));
}

}  // namespace
}  // namespace hafs::resources
