// hafsctl status | primary | secondary | connect | disconnect | verify |
// resync | standby | takeover | events: drive a running hafsd through its
// control socket (libhafs/control). docs/cli.md.
//
// Global options: --socket PATH, or --node NAME (-> /run/hafs/NAME.sock);
// without either, the only socket in /run/hafs is used.
//
// Exit status: 0 OK; 1 the daemon refused (its reason is printed); 3 hafsd
// cannot be reached or went away; 64 usage error.
#include <dirent.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/hafsctl/commands.h"
#include "libhafs/control/client.h"
#include "libhafs/control/format.h"
#include "libhafs/control/server.h"

namespace hafs::cli {
namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUnreachable = 3;
constexpr int kExitUsage = 64;
constexpr char kRunDir[] = "/run/hafs";

struct Global {
  std::string socket;
  std::string node;
};

Global& G() {
  static Global g;
  return g;
}

// The socket to talk to, or a usage message.
absl::StatusOr<std::string> ResolveSocket() {
  if (!G().socket.empty()) return G().socket;
  if (!G().node.empty()) return control::DefaultSocketPath(G().node);
  std::vector<std::string> found;
  if (DIR* d = opendir(kRunDir)) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (absl::EndsWith(name, ".sock")) found.push_back(name);
    }
    closedir(d);
  }
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return absl::StrCat(kRunDir, "/", found[0]);
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "which node? no hafsd socket in ", kRunDir,
        "; pass --node NAME or --socket PATH (is hafsd running? start it with "
        "`hafsd --config FILE --node NAME`)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "which node? several hafsd sockets in ", kRunDir, " (",
      absl::StrJoin(found, ", "), "); pass --node NAME or --socket PATH"));
}

int Unreachable(const absl::Status& s) {
  std::cerr << "hafsctl: " << s.message()
            << " (is hafsd running? start it with `hafsd --config FILE --node NAME`)\n";
  return kExitUnreachable;
}

// Prints a failure of `verb` and returns the exit status.
int Fail(absl::string_view verb, const absl::Status& s) {
  if (control::IsTransportError(s)) return Unreachable(s);
  std::string msg(s.message());
  if (!absl::StartsWith(msg, absl::StrCat(verb, ":"))) msg = absl::StrCat(verb, ": ", msg);
  std::cerr << "hafsctl: " << msg << "\n";
  if (s.code() == absl::StatusCode::kCancelled) return kExitUnreachable;  // daemon stopping
  return kExitRefused;
}

// Connects, or prints why not and sets *exit_code.
std::unique_ptr<control::ControlClient> Dial(int* exit_code) {
  absl::StatusOr<std::string> path = ResolveSocket();
  if (!path.ok()) {
    std::cerr << "hafsctl: " << path.status().message() << "\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto c = control::ControlClient::Connect(*path);
  if (!c.ok()) {
    *exit_code = Unreachable(c.status());
    return nullptr;
  }
  return *std::move(c);
}

using CommandFn =
    std::function<absl::StatusOr<std::string>(control::ControlClient&)>;

void AddCommand(CLI::App* cmd, std::string verb, int* exit_code, CommandFn fn) {
  cmd->callback([verb, exit_code, fn] {
    auto client = Dial(exit_code);
    if (client == nullptr) return;
    absl::StatusOr<std::string> r = fn(*client);
    if (!r.ok()) {
      *exit_code = Fail(verb, r.status());
      return;
    }
    if (!r->empty()) std::cout << *r << "\n";
    *exit_code = 0;
  });
}

}  // namespace

void RegisterNodeCommands(CLI::App& app, int* exit_code) {
  app.add_option("--socket", G().socket,
                 "hafsd's control socket (default: /run/hafs/<node>.sock)");
  app.add_option("--node", G().node, "node name; selects /run/hafs/<node>.sock");

  {
    static bool json = false, verbose = false;
    CLI::App* cmd = app.add_subcommand(
        "status", "show roles, disk and connection states (like drbdadm status)");
    cmd->add_flag("--json", json, "control.proto's StatusReply as JSON");
    cmd->add_flag("--verbose,-v", verbose,
                  "add /proc/drbd-like counters, generation ids, last handshake");
    cmd->callback([exit_code] {
      auto client = Dial(exit_code);
      if (client == nullptr) return;
      absl::StatusOr<control::NodeStatus> s = client->GetStatus();
      if (!s.ok()) {
        *exit_code = Fail("status", s.status());
        return;
      }
      if (json) {
        absl::StatusOr<std::string> j = control::FormatStatusJson(*s);
        if (!j.ok()) {
          *exit_code = Fail("status", j.status());
          return;
        }
        std::cout << *j;
      } else {
        std::cout << control::FormatStatusText(*s, verbose);
      }
      *exit_code = 0;
    });
  }
  {
    static bool force = false;
    CLI::App* cmd = app.add_subcommand("primary", "promote this node's volume");
    cmd->add_flag("--force", force,
                  "promote even without UpToDate data (initial sync, disaster recovery)");
    AddCommand(cmd, "primary", exit_code,
               [](control::ControlClient& c) { return c.Primary(force); });
  }
  AddCommand(app.add_subcommand("secondary", "demote this node's volume"), "secondary",
             exit_code, [](control::ControlClient& c) { return c.Secondary(); });
  {
    static control::ConnectOptions opts;
    CLI::App* cmd = app.add_subcommand("connect", "connect the volume to its peer");
    cmd->add_flag("--discard-my-data", opts.discard_my_data,
                  "this node is the split-brain victim: its changes are discarded");
    cmd->add_flag("--tentative", opts.tentative,
                  "only report what the handshake would decide; do not sync");
    AddCommand(cmd, "connect", exit_code,
               [](control::ControlClient& c) { return c.ConnectPeer(opts); });
  }
  AddCommand(app.add_subcommand("disconnect", "disconnect from the peer (StandAlone)"),
             "disconnect", exit_code,
             [](control::ControlClient& c) { return c.Disconnect(); });
  AddCommand(app.add_subcommand("verify", "start an online verify against the peer"),
             "verify", exit_code, [](control::ControlClient& c) { return c.Verify(); });
  {
    static bool full = false;
    CLI::App* cmd = app.add_subcommand(
        "resync", "resync the out-of-sync blocks to the peer now");
    cmd->add_flag("--full", full, "every block (like drbdadm invalidate-remote)");
    AddCommand(cmd, "resync", exit_code,
               [](control::ControlClient& c) { return c.Resync(full); });
  }
  AddCommand(app.add_subcommand("standby", "give the resources to the peer (hb_standby)"),
             "standby", exit_code, [](control::ControlClient& c) { return c.Standby(); });
  AddCommand(app.add_subcommand("cleanup",
                                "forget the resources' failures and lift a ban from this node "
                                "(crm_resource --cleanup)"),
             "cleanup", exit_code, [](control::ControlClient& c) { return c.Cleanup(); });
  AddCommand(app.add_subcommand("takeover", "take the resources from the peer (hb_takeover)"),
             "takeover", exit_code,
             [](control::ControlClient& c) { return c.Takeover(); });
  {
    static bool now = false;
    CLI::App* cmd = app.add_subcommand(
        "events", "print state changes as they happen (like drbdsetup events2)");
    cmd->add_flag("--now", now, "first print the current state ('exists' lines)");
    cmd->callback([exit_code] {
      auto client = Dial(exit_code);
      if (client == nullptr) return;
      absl::Status s = client->Events(now, [](const std::string& line) {
        std::cout << line << std::endl;  // flushed: consumers read line by line
        return static_cast<bool>(std::cout);
      });
      if (!s.ok()) {
        *exit_code = Fail("events", s);
        return;
      }
      *exit_code = 0;
    });
  }
}

}  // namespace hafs::cli
