#include "libhafs/resources/planner.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"

namespace hafs::resources {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
using T = PlannedAction::Type;

GroupSpec Group() {
  GroupSpec g;
  g.name = "nfs";
  for (const char* n : {"vip", "vol", "fs", "nfs"}) {
    ResourceSpec r;
    r.name = n;
    r.migration_threshold = 3;
    g.resources.push_back(r);
  }
  return g;
}

TEST(ValidateGroupTest, Errors) {
  GroupSpec g = Group();
  EXPECT_OK(ValidateGroup(g));
  g.resources[2].name = "vol";
  EXPECT_THAT(ValidateGroup(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("resource 'vol': duplicate")));
  g = Group();
  g.resources[1].stop_timeout = absl::ZeroDuration();
  EXPECT_THAT(ValidateGroup(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("timeouts")));
  g = Group();
  g.resources.clear();
  EXPECT_THAT(ValidateGroup(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("no resources")));
  g = Group();
  g.resources[0].name = "a b";
  EXPECT_THAT(ValidateGroup(g), StatusIs(absl::StatusCode::kInvalidArgument));
  g = Group();
  g.resources[0].migration_threshold = -1;
  EXPECT_THAT(ValidateGroup(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("migration_threshold")));
}

// Simulates an executor that applies plans with random failures, and checks
// the group invariants after every transition: a started resource always has
// all its predecessors started; a secondary converges to all stopped; the
// executor never starts a resource before its predecessor.
TEST(PlannerPropertyTest, ExecutorConvergesAndKeepsOrder) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    Random rng(seed);
    GroupSpec g = Group();
    g.start_failure_is_fatal = rng.OneIn(2);
    PlannerInput in;
    in.now = absl::UnixEpoch() + absl::Seconds(1000);
    in.should_run = rng.OneIn(2);
    for (const auto& r : g.resources) {
      ResourceStatus s;
      s.state = static_cast<ResourceState>(rng.Uniform(4));  // no stop-failed
      in.status[r.name] = s;
    }
    bool banned = false;
    for (int round = 0; round < 30; ++round) {
      Plan p = PlanGroup(g, in);
      banned = p.banned;
      if (p.actions.empty()) break;
      for (const auto& a : p.actions) {
        auto& s = in.status[a.resource];
        if (a.type == T::kProbe) {
          s.state = rng.OneIn(2) ? ResourceState::kStarted : ResourceState::kStopped;
        } else if (a.type == T::kStop) {
          s.state = ResourceState::kStopped;
        } else if (a.type == T::kStart) {
          // Predecessors must be started.
          for (const auto& r : g.resources) {
            if (r.name == a.resource) break;
            ASSERT_EQ(in.status[r.name].state, ResourceState::kStarted) << r.name;
          }
          if (rng.OneIn(5)) {
            s.state = ResourceState::kFailed;
            s.failures.push_back({Failure::Op::kStart, in.now});
            break;  // a failed action aborts the transition
          }
          s.state = ResourceState::kStarted;
        } else if (a.type == T::kBan) {
          break;
        }
      }
      in.now += absl::Seconds(1);
      if (in.should_run && round == 5 && !banned) {  // a monitor failure
        std::string victim = g.resources[rng.Uniform(4)].name;
        if (in.status[victim].state == ResourceState::kStarted) {
          in.status[victim].state = ResourceState::kFailed;
          in.status[victim].failures.push_back({Failure::Op::kMonitor, in.now});
        }
      }
    }
    Plan final_plan = PlanGroup(g, in);
    bool settled = final_plan.actions.empty() ||
                   (final_plan.banned && final_plan.actions.size() == 1 &&
                    final_plan.actions[0].type == T::kBan);
    ASSERT_TRUE(settled) << FormatAction(final_plan.actions[0]);
    bool want_all = in.should_run && !banned;
    for (const auto& r : g.resources) {
      EXPECT_EQ(in.status[r.name].state,
                want_all ? ResourceState::kStarted : ResourceState::kStopped)
          << r.name;
    }
  }
}

}  // namespace
}  // namespace hafs::resources
