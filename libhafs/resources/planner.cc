#include "libhafs/resources/planner.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hafs::resources {

const char* AgentKindName(AgentKind k) {
  switch (k) {
    case AgentKind::kVirtualIp: return "VirtualIp";
    case AgentKind::kVolume: return "Volume";
    case AgentKind::kFilesystem: return "Filesystem";
    case AgentKind::kNfsServer: return "NfsServer";
    case AgentKind::kCommand: return "Command";
  }
  return "?";
}

bool ParseAgentKind(const std::string& s, AgentKind* out) {
  for (AgentKind k : {AgentKind::kVirtualIp, AgentKind::kVolume, AgentKind::kFilesystem,
                      AgentKind::kNfsServer, AgentKind::kCommand}) {
    if (s == AgentKindName(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

const char* ResourceStateName(ResourceState s) {
  switch (s) {
    case ResourceState::kUnknown: return "unknown";
    case ResourceState::kStopped: return "stopped";
    case ResourceState::kStarted: return "started";
    case ResourceState::kFailed: return "failed";
    case ResourceState::kStopFailed: return "stop-failed";
  }
  return "?";
}

const char* ActionTypeName(PlannedAction::Type t) {
  using T = PlannedAction::Type;
  switch (t) {
    case T::kClearFailures: return "clear-failures";
    case T::kProbe: return "probe";
    case T::kStop: return "stop";
    case T::kStart: return "start";
    case T::kBan: return "ban";
    case T::kEscalate: return "escalate";
  }
  return "?";
}

std::string FormatAction(const PlannedAction& a) {
  std::string s = absl::StrCat(ActionTypeName(a.type), " ", a.resource);
  if (a.timeout > absl::ZeroDuration()) {
    absl::StrAppend(&s, " timeout=", absl::FormatDuration(a.timeout));
  }
  if (!a.reason.empty()) absl::StrAppend(&s, "  # ", a.reason);
  return s;
}

absl::Status ValidateGroup(const GroupSpec& g) {
  auto bad_name = [](const std::string& n) {
    if (n.empty()) return true;
    for (char c : n) {
      if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') return true;
    }
    return false;
  };
  if (bad_name(g.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group name '", g.name, "' must be non-empty [A-Za-z0-9_.-]"));
  }
  if (g.resources.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("group ", g.name, ": no resources"));
  }
  std::set<std::string> seen;
  for (const auto& r : g.resources) {
    std::string where = absl::StrCat("group ", g.name, ", resource '", r.name, "': ");
    if (bad_name(r.name)) {
      return absl::InvalidArgumentError(where + "name must be non-empty [A-Za-z0-9_.-]");
    }
    if (!seen.insert(r.name).second) {
      return absl::InvalidArgumentError(where + "duplicate name");
    }
    if (r.start_timeout <= absl::ZeroDuration() || r.stop_timeout <= absl::ZeroDuration() ||
        r.monitor_timeout <= absl::ZeroDuration() ||
        r.monitor_interval <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(where + "timeouts and monitor interval must be > 0");
    }
    if (r.migration_threshold < 0) {
      return absl::InvalidArgumentError(where + "migration_threshold must be >= 0 (0 = never)");
    }
    if (r.failure_timeout < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(where + "failure_timeout must be >= 0 (0 = never)");
    }
  }
  return absl::OkStatus();
}

namespace {
bool Live(const ResourceSpec& r, const Failure& f, absl::Time now) {
  return r.failure_timeout == absl::ZeroDuration() || f.at + r.failure_timeout > now;
}
}  // namespace

int LiveFailCount(const ResourceSpec& r, const ResourceStatus& s, absl::Time now) {
  int n = 0;
  for (const Failure& f : s.failures) n += Live(r, f, now);
  return n;
}

Plan PlanGroup(const GroupSpec& g, const PlannerInput& in) {
  using T = PlannedAction::Type;
  Plan p;
  const size_t n = g.resources.size();
  std::vector<ResourceStatus> st(n);
  for (size_t i = 0; i < n; ++i) {
    auto it = in.status.find(g.resources[i].name);
    if (it != in.status.end()) st[i] = it->second;
  }
  // 1. Stop failures: nothing can be done safely but escalate.
  for (size_t i = 0; i < n; ++i) {
    if (st[i].state == ResourceState::kStopFailed) {
      p.actions.push_back({T::kEscalate, g.resources[i].name, absl::ZeroDuration(),
                           "stop failed: the resource may still be active; fence or "
                           "reboot this node"});
      return p;
    }
  }
  // 2. Expired failures.
  for (size_t i = 0; i < n; ++i) {
    const ResourceSpec& r = g.resources[i];
    int live = LiveFailCount(r, st[i], in.now);
    if (live < static_cast<int>(st[i].failures.size())) {
      p.actions.push_back({T::kClearFailures, r.name, absl::ZeroDuration(),
                           absl::StrCat(st[i].failures.size() - live,
                                        " failure(s) older than failure_timeout ",
                                        absl::FormatDuration(r.failure_timeout))});
      std::vector<Failure> keep;
      for (const Failure& f : st[i].failures) {
        if (Live(r, f, in.now)) keep.push_back(f);
      }
      st[i].failures = std::move(keep);
    }
  }
  // 3. Probe unknown states first.
  bool unknown = false;
  for (size_t i = 0; i < n; ++i) {
    if (st[i].state == ResourceState::kUnknown) {
      p.actions.push_back({T::kProbe, g.resources[i].name,
                           g.resources[i].monitor_timeout, "state unknown"});
      unknown = true;
    }
  }
  if (unknown) return p;
  // 4. Ban?
  std::string ban_reason;
  for (size_t i = 0; i < n && ban_reason.empty(); ++i) {
    const ResourceSpec& r = g.resources[i];
    int live = static_cast<int>(st[i].failures.size());
    if (r.migration_threshold > 0 && live >= r.migration_threshold) {
      ban_reason = absl::StrCat(r.name, " reached migration_threshold (", live, "/",
                                r.migration_threshold, ")");
    } else if (g.start_failure_is_fatal) {
      for (const Failure& f : st[i].failures) {
        if (f.op == Failure::Op::kStart) {
          ban_reason = absl::StrCat(r.name, " failed to start (start_failure_is_fatal)");
          break;
        }
      }
    }
  }
  p.banned = !ban_reason.empty();
  p.ban_checked = true;
  auto active = [&](size_t i) {
    return st[i].state == ResourceState::kStarted || st[i].state == ResourceState::kFailed;
  };
  auto stop = [&](size_t i, const std::string& why) {
    p.actions.push_back({T::kStop, g.resources[i].name, g.resources[i].stop_timeout, why});
  };
  // 5. Should not run here.
  if (!in.should_run || p.banned) {
    std::string why = p.banned ? "banned: " + ban_reason : "not primary";
    for (size_t i = n; i-- > 0;) {
      if (active(i)) stop(i, why);
    }
    if (p.banned && !in.banned) {
      p.actions.push_back({T::kBan, g.name, absl::ZeroDuration(), ban_reason});
    }
    return p;
  }
  // 6. Run here.
  size_t k = 0;
  while (k < n && st[k].state == ResourceState::kStarted) ++k;
  if (k == n) return p;
  for (size_t i = n; i-- > k;) {
    if (!active(i)) continue;
    stop(i, i == k ? absl::StrCat("recover ", g.resources[i].name, " (",
                                  ResourceStateName(st[i].state), ")")
                   : absl::StrCat("restart after ", g.resources[k].name));
  }
  for (size_t i = k; i < n; ++i) {
    p.actions.push_back({T::kStart, g.resources[i].name, g.resources[i].start_timeout,
                         i == k ? "" : absl::StrCat("after ", g.resources[i - 1].name)});
  }
  return p;
}

}  // namespace hafs::resources
