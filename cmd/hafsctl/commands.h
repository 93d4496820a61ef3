// File: cmd/hafsctl/commands.h
// -----------------------------------------------------------------------------
// hafsctl's verbs. Each component's command-line glue lives in its own
// <component>_cmd.cc and registers subcommands on the CLI11 app; the library
// itself never sees CLI11 (it takes Options structs). A verb's callback stores
// the process exit status in `*exit_code` (0 OK; see each verb's help for the
// others) and prints errors as "hafsctl: <what>: <why>" plus a hint.
#ifndef HAFS_CMD_HAFSCTL_COMMANDS_H_
#define HAFS_CMD_HAFSCTL_COMMANDS_H_

#include "CLI/CLI.hpp"

namespace hafs::cli {

// hafsctl version
void RegisterVersionCommand(CLI::App& app, int* exit_code);
// hafsctl selfcheck [--file PATH] [--size BYTES]
void RegisterSelfcheckCommand(CLI::App& app, int* exit_code);
// hafsctl exports etab|check|match|ganesha (exports_cmd.cc)
void RegisterExportsCommands(CLI::App& app, int* exit_code);

// hafsctl create-md|dump-md|restore-md|show-gi|apply-al|wipe-md (meta_cmd.cc)
void RegisterMetaCommands(CLI::App& app, int* exit_code);

// hafsctl [--socket PATH | --node NAME] status|primary|secondary|connect|
// disconnect|verify|resync|standby|takeover|events: drive a running hafsd
// through its control socket (node_cmd.cc).
void RegisterNodeCommands(CLI::App& app, int* exit_code);

}  // namespace hafs::cli

#endif  // HAFS_CMD_HAFSCTL_COMMANDS_H_
