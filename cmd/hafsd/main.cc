// hafsd: the hafs node daemon. Thin wrapper: flags here, everything else in
// libhafs/daemon. docs/cli.md, "hafsd".
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "libhafs/config/config.h"
#include "libhafs/daemon/daemon.h"

int main(int argc, char** argv) {
  CLI::App app{"hafsd: the hafs node daemon (replicated volume, heartbeat, NFS exports)",
               "hafsd"};
  hafs::daemon::DaemonOptions o;
  bool print_default = false;
  std::string state_dir = "/var/lib/hafs";
  app.add_option("--config", o.config_file, "configuration file (protobuf text format)");
  app.add_option("--node", o.node, "this node's name, as in the configuration");
  app.add_option("--socket", o.socket_path,
                 "control socket (default /run/hafs/<node>.sock)");
  app.add_option("--run-dir", o.run_dir,
                 "runtime files: FUSE mount point, device link, Ganesha's config "
                 "(default /run/hafs/<node>)");
  app.add_flag("--foreground", o.foreground, "do not go to the background");
  app.add_option("--log-file", o.log_file,
                 "append logs to this file (default: stderr in the foreground, "
                 "/var/log/hafs/<node>.log in the background)");
  app.add_flag("--print-default-config", print_default,
               "print the embedded default configuration (a local pair) and exit");
  app.add_option("--state-dir", state_dir,
                 "persistent state (the cluster runtime's state goes to "
                 "<dir>/<node>); with --print-default-config: directory of the "
                 "backing files, authkeys and mount point")
      ->capture_default_str();
  // Internal: the background process reports readiness on this descriptor.
  app.add_option("--ready-fd", o.ready_fd)->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : hafs::daemon::kExitUsage;
  }
  if (print_default) {
    std::cout << hafs::config::DefaultLocalPairConfigText(state_dir);
    return 0;
  }
  if (o.config_file.empty() || o.node.empty()) {
    std::cerr << "hafsd: --config FILE and --node NAME are required (or "
                 "--print-default-config); see hafsd --help\n";
    return hafs::daemon::kExitUsage;
  }
  o.argv.assign(argv, argv + argc);
  o.state_dir = state_dir;
  return hafs::daemon::RunDaemon(o);
}
