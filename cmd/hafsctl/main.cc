// hafsctl: the hafs command-line tool. Thin wrapper: parsing and printing here,
// everything else in libhafs.
#include <iostream>

#include "CLI/CLI.hpp"
#include "cmd/hafsctl/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"hafsctl: control and inspect a hafs highly available NFS pair",
               "hafsctl"};
  app.require_subcommand(1);
  app.fallthrough();
  int exit_code = 0;
  hafs::cli::RegisterVersionCommand(app, &exit_code);
  hafs::cli::RegisterSelfcheckCommand(app, &exit_code);
  hafs::cli::RegisterExportsCommands(app, &exit_code);
  hafs::cli::RegisterMetaCommands(app, &exit_code);
  hafs::cli::RegisterNodeCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints usage errors with the offending argument; exit status 64
    // (EX_USAGE) for misuse, 0 for --help.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 64;
  }
  return exit_code;
}
