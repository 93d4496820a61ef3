#include <iostream>

#include "cmd/hafsctl/commands.h"
#include "libhafs/version/version.h"

namespace hafs::cli {

void RegisterVersionCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("version", "print hafs's version and formats");
  cmd->callback([exit_code] {
    std::cout << hafs::VersionString() << "\n";
    *exit_code = 0;
  });
}

}  // namespace hafs::cli
