#include "libhafs/resources/executor.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hafs::resources {
namespace {

using ::testing::ElementsAre;

// An agent whose resource is a boolean; outcomes can be forced.
class FakeAgent : public Agent {
 public:
  FakeAgent(std::string name, std::vector<std::string>* journal)
      : name_(std::move(name)), journal_(journal) {}
  AgentOutcome Start(absl::Duration) override {
    journal_->push_back("start " + name_);
    if (fail_start > 0) {
      --fail_start;
      return {AgentOutcome::kFailed, "boom"};
    }
    running = true;
    return {AgentOutcome::kOk, ""};
  }
  AgentOutcome Stop(absl::Duration) override {
    journal_->push_back("stop " + name_);
    if (fail_stop) return {AgentOutcome::kStopFailed, "busy"};
    running = false;
    return {AgentOutcome::kOk, ""};
  }
  AgentOutcome Monitor(absl::Duration) override {
    return {running ? AgentOutcome::kOk : AgentOutcome::kNotRunning, ""};
  }
  bool running = false;
  int fail_start = 0;
  bool fail_stop = false;

 private:
  std::string name_;
  std::vector<std::string>* journal_;
};

struct Fixture {
  Fixture(int threshold = 0) {
    group.name = "nfs";
    for (const char* n : {"vip", "volume", "fs", "nfsd"}) {
      ResourceSpec r;
      r.name = n;
      r.monitor_interval = absl::Seconds(10);
      r.migration_threshold = threshold;
      group.resources.push_back(r);
      auto a = std::make_unique<FakeAgent>(n, &journal);
      fakes[n] = a.get();
      agents[n] = std::move(a);
    }
    group.start_failure_is_fatal = false;
  }
  GroupExecutor Make() { return GroupExecutor(group, std::move(agents), &clock); }
  // Reconciles until settled (bounded).
  GroupExecutor::Step Settle(GroupExecutor& ex, bool run) {
    GroupExecutor::Step s;
    for (int i = 0; i < 20; ++i) {
      s = ex.Reconcile(run);
      if (s.settled || s.escalate || s.banned) break;
    }
    return s;
  }
  GroupSpec group;
  std::vector<std::string> journal;
  std::map<std::string, FakeAgent*> fakes;
  std::map<std::string, std::unique_ptr<Agent>> agents;
  SimClock clock;
};

TEST(GroupExecutor, StartsInOrderAndStopsInReverse) {
  Fixture f;
  GroupExecutor ex = f.Make();
  EXPECT_TRUE(f.Settle(ex, true).settled);
  EXPECT_TRUE(ex.AllStarted());
  EXPECT_TRUE(f.Settle(ex, false).settled);
  EXPECT_TRUE(ex.AllStopped());
  EXPECT_THAT(f.journal, ElementsAre("start vip", "start volume", "start fs", "start nfsd",
                                     "stop nfsd", "stop fs", "stop volume", "stop vip"));
}

TEST(GroupExecutor, MonitorFailureRestartsDependentsInOrder) {
  Fixture f;
  GroupExecutor ex = f.Make();
  ASSERT_TRUE(f.Settle(ex, true).settled);
  f.journal.clear();
  f.fakes["fs"]->running = false;  // the file system vanished
  f.clock.AdvanceBy(absl::Seconds(11));
  GroupExecutor::Step s = f.Settle(ex, true);
  EXPECT_TRUE(s.settled);
  EXPECT_THAT(f.journal, ElementsAre("stop nfsd", "stop fs", "start fs", "start nfsd"));
  EXPECT_EQ(ex.status().at("fs").failures.size(), 1u);
}

TEST(GroupExecutor, MigrationThresholdBansTheGroup) {
  Fixture f(/*threshold=*/2);
  f.fakes["nfsd"]->fail_start = 5;
  GroupExecutor ex = f.Make();
  GroupExecutor::Step s = f.Settle(ex, true);
  EXPECT_TRUE(s.banned);
  EXPECT_TRUE(ex.AllStopped());  // moved away: everything stopped here
  // The ban is one action: afterwards the group is settled (stopped) whether
  // the cluster still wants it here or not, and nothing is logged again
  // (hafsd reports the group stopped to the cluster only once it is settled).
  for (bool want : {true, false}) {
    GroupExecutor::Step again = ex.Reconcile(want);
    EXPECT_TRUE(again.settled) << want;
    EXPECT_FALSE(again.changed) << want;
    EXPECT_TRUE(again.banned) << want;
    EXPECT_THAT(again.log, ::testing::IsEmpty()) << want;
  }
}

// Pacemaker's failure-timeout: once the failures that reached the threshold
// expire, the ban lifts by itself (no cleanup needed) and the group may run
// here again.
TEST(GroupExecutor, BanLiftsWhenTheFailuresExpire) {
  Fixture f(/*threshold=*/2);
  for (ResourceSpec& r : f.group.resources) r.failure_timeout = absl::Seconds(60);
  f.fakes["nfsd"]->fail_start = 2;
  GroupExecutor ex = f.Make();
  GroupExecutor::Step s = f.Settle(ex, true);
  ASSERT_TRUE(s.banned);
  s = f.Settle(ex, true);
  EXPECT_TRUE(s.banned);  // still within failure_timeout
  f.clock.AdvanceTo(f.clock.Now() + absl::Seconds(61));
  s = ex.Reconcile(true);
  EXPECT_FALSE(s.banned);
  EXPECT_THAT(s.log, ::testing::Contains(::testing::HasSubstr("lift the ban")));
  s = f.Settle(ex, true);
  EXPECT_FALSE(s.banned);
  EXPECT_TRUE(s.settled);
  EXPECT_TRUE(ex.AllStarted());
}

TEST(GroupExecutor, StopFailureEscalates) {
  Fixture f;
  GroupExecutor ex = f.Make();
  ASSERT_TRUE(f.Settle(ex, true).settled);
  f.fakes["fs"]->fail_stop = true;
  GroupExecutor::Step s = f.Settle(ex, false);
  EXPECT_TRUE(s.escalate);
  EXPECT_EQ(ex.status().at("fs").state, ResourceState::kStopFailed);
  EXPECT_EQ(ex.status().at("volume").state, ResourceState::kStarted);  // not stopped below it
}

TEST(GroupExecutor, ProbesAfterRestartAdoptRunningResources) {
  Fixture f;
  for (auto& [n, a] : f.fakes) a->running = true;  // left running by a previous hafsd
  GroupExecutor ex = f.Make();
  GroupExecutor::Step s = f.Settle(ex, true);
  EXPECT_TRUE(s.settled);
  EXPECT_TRUE(f.journal.empty()) << "nothing restarted";
}

}  // namespace
}  // namespace hafs::resources
