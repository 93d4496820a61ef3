// mirror_node: one node of a mirror pair for benchmarks (the SyncTarget /
// secondary side). Creates pre-synced metadata, serves the PeerService, opens
// the Volume and runs until SIGTERM/SIGINT, then closes cleanly.
//   mirror_node --node_id=1 --path=/var/tmp/n1.img --size_mib=4096
//       --listen=127.0.0.1:0 --port_file=/tmp/port --key=...
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "benchmarks/mirror/common.h"
#include "libhafs/base/logging.h"

int main(int argc, char** argv) {
  CLI::App app{"mirror_node: one node of a benchmark mirror pair"};
  uint32_t node_id = 1;
  std::string path, listen = "127.0.0.1:0", peer, port_file;
  std::string key(32, 'k');
  uint64_t size_mib = 4096, resync_rate_mib = 0;
  app.add_option("--node_id", node_id);
  app.add_option("--path", path)->required();
  app.add_option("--size_mib", size_mib);
  app.add_option("--listen", listen);
  app.add_option("--peer", peer, "peer address (node 0 dials)");
  app.add_option("--port_file", port_file, "write the bound port here");
  app.add_option("--key", key, "shared HMAC secret (>= 16 bytes)");
  app.add_option("--resync_rate_mib", resync_rate_mib, "fixed resync rate, 0 = unlimited");
  hafs::mirror::bench::ControlFlags control_flags;
  hafs::mirror::bench::AddControlFlags(app, &control_flags);
  CLI11_PARSE(app, argc, argv);
  hafs::mirror::bench::TuneAllocator();
  hafs::SetMinLogSeverity(hafs::LogSeverity::kWarning);
  using namespace hafs::mirror;
  absl::Status s = bench::CreatePresynced(path, size_mib, node_id);
  if (!s.ok()) {
    std::cerr << "create-md: " << s << "\n";
    return 1;
  }
  absl::StatusOr<bench::Net> net = bench::StartNet(node_id, listen, peer, key);
  if (!net.ok()) {
    std::cerr << "network: " << net.status() << "\n";
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  VolumeOptions o = bench::BaseOptions(node_id, path, net->transport.get(), resync_rate_mib);
  absl::StatusOr<std::shared_ptr<bench::Control>> control = bench::StartControl(control_flags);
  if (!control.ok()) {
    std::cerr << "control: " << control.status() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Volume>> v = Volume::Open(o);
  if (!v.ok()) {
    std::cerr << "open: " << v.status() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << net->server->port() << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << (*v)->status().ToString() << "\n";
  s = (*v)->Close();
  if (!s.ok()) std::cerr << "close: " << s << "\n";
  return s.ok() ? 0 : 1;
}
