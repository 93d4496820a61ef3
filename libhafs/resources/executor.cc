#include "libhafs/resources/executor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"

namespace hafs::resources {

GroupExecutor::GroupExecutor(GroupSpec group,
                             std::map<std::string, std::unique_ptr<Agent>> agents,
                             Clock* clock)
    : group_(std::move(group)), agents_(std::move(agents)), clock_(clock) {
  HAFS_CHECK(ValidateGroup(group_).ok()) << ValidateGroup(group_);
  for (const ResourceSpec& r : group_.resources) {
    HAFS_CHECK(agents_.count(r.name) && agents_.at(r.name) != nullptr)
        << "no agent for resource " << r.name;
  }
}

const ResourceSpec& GroupExecutor::Spec(const std::string& name) const {
  for (const ResourceSpec& r : group_.resources) {
    if (r.name == name) return r;
  }
  HAFS_CHECK(false) << "unknown resource " << name;
  return group_.resources.front();
}

bool GroupExecutor::AllStarted() const {
  for (const ResourceSpec& r : group_.resources) {
    auto it = status_.find(r.name);
    if (it == status_.end() || it->second.state != ResourceState::kStarted) return false;
  }
  return true;
}

bool GroupExecutor::AllStopped() const {
  for (const ResourceSpec& r : group_.resources) {
    auto it = status_.find(r.name);
    if (it == status_.end() || it->second.state != ResourceState::kStopped) return false;
  }
  return true;
}

void GroupExecutor::Cleanup() {
  banned_ = false;
  fatal_ = false;
  for (auto& [name, s] : status_) {
    s.failures.clear();
    if (s.state == ResourceState::kFailed) s.state = ResourceState::kUnknown;
  }
}

void GroupExecutor::RunMonitors(Step& step) {
  const absl::Time now = clock_->Now();
  for (const ResourceSpec& r : group_.resources) {
    ResourceStatus& s = status_[r.name];
    if (s.state != ResourceState::kStarted) continue;
    auto last = last_monitor_.find(r.name);
    if (last != last_monitor_.end() && now - last->second < r.monitor_interval) continue;
    last_monitor_[r.name] = now;
    AgentOutcome o = agents_.at(r.name)->Monitor(r.monitor_timeout);
    if (o.code == AgentOutcome::kOk) continue;
    s.state = ResourceState::kFailed;
    s.failures.push_back(Failure{Failure::Op::kMonitor, clock_->Now()});
    step.changed = true;
    step.log.push_back(absl::StrCat("monitor ", r.name, ": ",
                                    AgentOutcomeName(o.code), ": ", o.message,
                                    " (failure ", LiveFailCount(r, s, clock_->Now()),
                                    r.migration_threshold > 0
                                        ? absl::StrCat(" of ", r.migration_threshold)
                                        : std::string(),
                                    ")"));
  }
}

bool GroupExecutor::Run(const PlannedAction& a, Step& step) {
  const absl::Time now = clock_->Now();
  auto outcome_line = [&](const AgentOutcome& o) {
    return absl::StrCat(ActionTypeName(a.type), " ", a.resource, ": ",
                        AgentOutcomeName(o.code),
                        o.message.empty() ? "" : absl::StrCat(": ", o.message),
                        a.reason.empty() ? "" : absl::StrCat("  # ", a.reason));
  };
  switch (a.type) {
    case PlannedAction::Type::kClearFailures: {
      const ResourceSpec& r = Spec(a.resource);
      ResourceStatus& s = status_[a.resource];
      std::vector<Failure> live;
      for (const Failure& f : s.failures) {
        if (r.failure_timeout == absl::ZeroDuration() || now - f.at < r.failure_timeout) {
          live.push_back(f);
        }
      }
      s.failures = std::move(live);
      step.log.push_back(absl::StrCat("clear-failures ", a.resource, "  # ", a.reason));
      return true;
    }
    case PlannedAction::Type::kProbe: {
      AgentOutcome o = agents_.at(a.resource)->Monitor(Spec(a.resource).monitor_timeout);
      ResourceStatus& s = status_[a.resource];
      s.state = o.code == AgentOutcome::kOk          ? ResourceState::kStarted
                : o.code == AgentOutcome::kNotRunning ? ResourceState::kStopped
                                                       : ResourceState::kFailed;
      step.log.push_back(outcome_line(o));
      return true;  // a probe only learns the state
    }
    case PlannedAction::Type::kStart: {
      AgentOutcome o = agents_.at(a.resource)->Start(a.timeout);
      ResourceStatus& s = status_[a.resource];
      step.log.push_back(outcome_line(o));
      if (o.code == AgentOutcome::kOk) {
        s.state = ResourceState::kStarted;
        last_monitor_[a.resource] = clock_->Now();
        return true;
      }
      s.state = ResourceState::kFailed;
      s.failures.push_back(Failure{Failure::Op::kStart, clock_->Now()});
      if (o.code == AgentOutcome::kFatal) banned_ = fatal_ = true;
      return false;
    }
    case PlannedAction::Type::kStop: {
      AgentOutcome o = agents_.at(a.resource)->Stop(a.timeout);
      ResourceStatus& s = status_[a.resource];
      step.log.push_back(outcome_line(o));
      if (o.code == AgentOutcome::kOk || o.code == AgentOutcome::kNotRunning) {
        s.state = ResourceState::kStopped;
        return true;
      }
      s.state = ResourceState::kStopFailed;
      step.escalate = true;
      return false;
    }
    case PlannedAction::Type::kBan:
      banned_ = true;
      step.log.push_back(absl::StrCat("ban group ", a.resource, " from this node  # ",
                                      a.reason));
      return true;
    case PlannedAction::Type::kEscalate:
      step.escalate = true;
      step.log.push_back(absl::StrCat("escalate ", a.resource, "  # ", a.reason));
      return false;
  }
  return false;
}

GroupExecutor::Step GroupExecutor::Reconcile(bool should_run) {
  Step step;
  RunMonitors(step);
  PlannerInput in;
  in.should_run = should_run && !banned_;
  in.status = status_;
  in.banned = banned_;
  in.now = clock_->Now();
  Plan plan = PlanGroup(group_, in);
  if (banned_ && !fatal_ && plan.ban_checked && !plan.banned) {
    // The failures that banned the group expired (failure_timeout): the
    // group may run here again (the next pass plans with the ban lifted).
    banned_ = false;
    step.changed = true;
    step.log.push_back(absl::StrCat("lift the ban of group ", group_.name,
                                    " on this node  # its failures expired (failure_timeout)"));
    for (const PlannedAction& a : plan.actions) {
      if (a.type == PlannedAction::Type::kClearFailures && !Run(a, step)) break;
    }
    return step;
  }
  step.banned = banned_ || plan.banned;
  for (const PlannedAction& a : plan.actions) {
    step.changed = true;
    if (!Run(a, step)) break;
  }
  step.banned = step.banned || banned_;
  if (!step.changed) {
    step.settled = should_run && !banned_ ? AllStarted() : AllStopped();
  }
  return step;
}

}  // namespace hafs::resources
