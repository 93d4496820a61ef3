// fake_hafsd: serves a FakeControlTarget (SampleStatus: r0 on alpha, syncing to
// bravo) on a control socket, for hafsctl's command-line tests only.
//   fake_hafsd SOCKET [VERB=MESSAGE ...]
// Each VERB=MESSAGE makes the next call of VERB fail with FAILED_PRECONDITION
// and MESSAGE. Prints "ready" on stdout once serving; stops on SIGTERM/SIGINT.
#include <signal.h>

#include <iostream>
#include <string>

#include "libhafs/control/fake_target.h"
#include "libhafs/control/server.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fake_hafsd SOCKET [VERB=MESSAGE ...]\n";
    return 64;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  hafs::control::FakeControlTarget target(hafs::control::SampleStatus());
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      std::cerr << "fake_hafsd: expected VERB=MESSAGE, got " << arg << "\n";
      return 64;
    }
    target.FailNext(arg.substr(0, eq),
                    absl::FailedPreconditionError(arg.substr(eq + 1)));
  }
  auto server = hafs::control::ControlServer::Start(&target, {.socket_path = argv[1]});
  if (!server.ok()) {
    std::cerr << "fake_hafsd: " << server.status() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  target.events()->Close();
  (*server)->Shutdown();
  return 0;
}
