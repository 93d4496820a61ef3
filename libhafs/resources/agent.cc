#include "libhafs/resources/agent.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hafs::resources {

const char* AgentOutcomeName(AgentOutcome::Code c) {
  switch (c) {
    case AgentOutcome::kOk: return "ok";
    case AgentOutcome::kNotRunning: return "not-running";
    case AgentOutcome::kFailed: return "failed";
    case AgentOutcome::kFatal: return "fatal";
    case AgentOutcome::kStopFailed: return "stop-failed";
  }
  return "?";
}

namespace {
const char* LsbActionExit(int code) {
  switch (code) {
    case 0: return "success";
    case 1: return "generic or unspecified error";
    case 2: return "invalid or excess arguments";
    case 3: return "unimplemented feature";
    case 4: return "user had insufficient privilege";
    case 5: return "program is not installed";
    case 6: return "program is not configured";
    case 7: return "program is not running";
  }
  return "unknown exit code";
}
const char* LsbStatusExit(int code) {
  switch (code) {
    case 0: return "program is running";
    case 1: return "program is dead and /var/run pid file exists";
    case 2: return "program is dead and /var/lock lock file exists";
    case 3: return "program is not running";
    case 4: return "program or service status is unknown";
  }
  return "unknown exit code";
}
}  // namespace

absl::Status CommandAgent::Validate(const ResourceSpec& spec) {
  auto it = spec.params.find("script");
  if (spec.kind != AgentKind::kCommand) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource ", spec.name, ": not a Command resource"));
  }
  if (it == spec.params.end() || !absl::StartsWith(it->second, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource ", spec.name,
        ": Command needs params script=<absolute path of an LSB init-style script>"));
  }
  return absl::OkStatus();
}

CommandAgent::CommandAgent(ResourceSpec spec, ProcessRunner* runner)
    : spec_(std::move(spec)), runner_(runner) {}

absl::StatusOr<ProcessResult> CommandAgent::Call(const char* action,
                                                 absl::Duration timeout) {
  ProcessSpec p;
  p.argv = {spec_.params.at("script"), action};
  for (const auto& [k, v] : spec_.params) {
    absl::string_view name = k;
    if (absl::ConsumePrefix(&name, "env.")) p.env[std::string(name)] = v;
  }
  p.env["HAFS_RESOURCE"] = spec_.name;
  p.timeout = timeout;
  return runner_->Run(p);
}

AgentOutcome CommandAgent::Start(absl::Duration timeout) {
  auto r = Call("start", timeout);
  std::string who = absl::StrCat(spec_.name, " start: ");
  if (!r.ok()) return {AgentOutcome::kFailed, who + r.status().ToString()};
  if (r->timed_out) {
    return {AgentOutcome::kFailed, who + "timed out after " + absl::FormatDuration(timeout)};
  }
  if (r->signal != 0) {
    return {AgentOutcome::kFailed, absl::StrCat(who, "killed by signal ", r->signal)};
  }
  std::string msg = absl::StrCat(who, "exit ", r->exit_code, " (", LsbActionExit(r->exit_code), ")");
  switch (r->exit_code) {
    case 0: return {AgentOutcome::kOk, msg};
    case 5:
    case 6: return {AgentOutcome::kFatal, msg};
    default: return {AgentOutcome::kFailed, msg};
  }
}

AgentOutcome CommandAgent::Stop(absl::Duration timeout) {
  auto r = Call("stop", timeout);
  std::string who = absl::StrCat(spec_.name, " stop: ");
  if (!r.ok()) return {AgentOutcome::kStopFailed, who + r.status().ToString()};
  if (r->timed_out) {
    return {AgentOutcome::kStopFailed,
            who + "timed out after " + absl::FormatDuration(timeout)};
  }
  if (r->signal != 0) {
    return {AgentOutcome::kStopFailed, absl::StrCat(who, "killed by signal ", r->signal)};
  }
  std::string msg = absl::StrCat(who, "exit ", r->exit_code, " (", LsbActionExit(r->exit_code), ")");
  switch (r->exit_code) {
    case 0:
    case 5:  // not installed: it cannot be running
    case 7:  // already stopped
      return {AgentOutcome::kOk, msg};
    default:
      return {AgentOutcome::kStopFailed, msg};
  }
}

AgentOutcome CommandAgent::Monitor(absl::Duration timeout) {
  auto r = Call("status", timeout);
  std::string who = absl::StrCat(spec_.name, " status: ");
  if (!r.ok()) return {AgentOutcome::kFailed, who + r.status().ToString()};
  if (r->timed_out) {
    return {AgentOutcome::kFailed, who + "timed out after " + absl::FormatDuration(timeout)};
  }
  if (r->signal != 0) {
    return {AgentOutcome::kFailed, absl::StrCat(who, "killed by signal ", r->signal)};
  }
  std::string msg = absl::StrCat(who, "exit ", r->exit_code, " (", LsbStatusExit(r->exit_code), ")");
  switch (r->exit_code) {
    case 0: return {AgentOutcome::kOk, msg};
    case 3: return {AgentOutcome::kNotRunning, msg};
    default: return {AgentOutcome::kFailed, msg};
  }
}

}  // namespace hafs::resources
