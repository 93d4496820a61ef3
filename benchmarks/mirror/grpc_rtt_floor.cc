// grpc_rtt_floor: the least gRPC can do for the mirror's QD1 path on this
// machine — the PeerService's Replicate stream with gRPC's synchronous API
// (the thread that waits in Read polls the completion queue itself: no thread
// hand-off inside the process), insecure, QD1, 4 KiB Data messages.
//
//   grpc_rtt_floor
//       Round trip: a trivial echo server in the same process, one Data out
//       and a small reply back. transport_rtt measures the same round trip
//       through GrpcTransport (HMAC auth, callback API, the owner woken
//       through its wake-up callback); the difference is what our transport
//       adds on top of gRPC (docs/benchmarks.md "Session 4").
//   grpc_rtt_floor --primary=F0 --secondary=F1 [--qd1_writes=N] [--pin]
//       The same stream as a protocol-C mirror, raw_mirror's lat phase with
//       gRPC instead of a bare TCP socket: two processes (forked before gRPC
//       starts); the secondary pwrites each block (O_DIRECT) and replies, the
//       primary sends, pwrites its copy and waits for the reply. Measured
//       without and with DRBD's write ordering (the secondary flushes each
//       epoch before it takes the next write; a Barrier in the frame asks for
//       it), then the local write+flush for the ratio. This is the floor of
//       any gRPC-based protocol-C mirror here: mirror_bench's QD1 figure
//       cannot go below it, whatever the replicator does.
#include <grpcpp/grpcpp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "benchmarks/mirror/floor_util.h"
#include "libhafs/peer/peer.grpc.pb.h"

namespace {

namespace fu = hafs::mirror::floor;
using fu::kBlock;
using fu::P50;
using hafs::peer::Frame;

constexpr int kWarmup = 200;
constexpr char kProgram[] = "grpc_rtt_floor";
[[noreturn]] void Fail(const std::string& what) { fu::Fail(kProgram, what); }

void Pwrite(int fd, const char* buf, uint64_t off) {
  if (::pwrite(fd, buf, kBlock, static_cast<off_t>(off)) != static_cast<ssize_t>(kBlock)) {
    Fail("pwrite");
  }
}

// Echo (fd < 0), or the mirror's secondary: write the block, reply, and
// flush after the reply when the frame carries a Barrier.
class FloorService final : public hafs::peer::PeerService::Service {
 public:
  explicit FloorService(int fd)
      : fd_(fd), buf_(fd >= 0 ? fu::Aligned(kProgram, kBlock) : nullptr) {}

  grpc::Status Replicate(grpc::ServerContext*,
                         grpc::ServerReaderWriter<Frame, Frame>* stream) override {
    Frame in, reply;
    reply.mutable_batch()->add_messages()->mutable_ack()->set_seq(1);
    while (stream->Read(&in)) {
      bool flush = false;
      for (const hafs::peer::MirrorMessage& m : in.batch().messages()) {
        if (m.has_data() && fd_ >= 0) {
          std::memcpy(buf_, m.data().data().data(), kBlock);
          Pwrite(fd_, buf_, m.data().offset());
        }
        flush |= m.has_barrier();
      }
      if (!stream->Write(reply)) break;
      if (flush && ::fdatasync(fd_) != 0) Fail("fdatasync");
    }
    return grpc::Status::OK;
  }

 private:
  const int fd_;
  char* const buf_;
};

std::unique_ptr<grpc::Server> Serve(FloorService* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    errno = EADDRNOTAVAIL;
    Fail("cannot listen on 127.0.0.1");
  }
  return server;
}

std::unique_ptr<grpc::ClientReaderWriter<Frame, Frame>> Connect(int port,
                                                                grpc::ClientContext* ctx) {
  // The call holds its own reference to the channel.
  return hafs::peer::PeerService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                              grpc::InsecureChannelCredentials()))
      ->Replicate(ctx);
}

void RoundTrip(grpc::ClientReaderWriter<Frame, Frame>& stream, const Frame& out) {
  Frame in;
  if (!stream.Write(out) || !stream.Read(&in)) {
    errno = EPIPE;
    Fail("the stream broke");
  }
}

int Echo(int runs) {
  FloorService service(-1);
  int port = 0;
  std::unique_ptr<grpc::Server> server = Serve(&service, &port);
  grpc::ClientContext ctx;
  auto stream = Connect(port, &ctx);
  Frame out;
  hafs::peer::Data* d = out.mutable_batch()->add_messages()->mutable_data();
  d->set_seq(1);
  d->set_data(std::string(kBlock, 'x'));
  std::vector<double> us;
  for (int i = 0; i < kWarmup + runs; ++i) {
    const absl::Time t = absl::Now();
    RoundTrip(*stream, out);
    if (i >= kWarmup) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  std::sort(us.begin(), us.end());
  std::printf("grpc_floor_rtt_p50_us=%.1f\ngrpc_floor_rtt_p99_us=%.1f\n", us[us.size() / 2],
              us[us.size() * 99 / 100]);
  std::fflush(stdout);
  // The echo thread is blocked in Read; skip the orderly teardown.
  std::_Exit(0);
}

int Mirror(const std::string& primary, const std::string& secondary, int runs, bool pin) {
  const int fd = fu::OpenDirect(kProgram, primary);
  const int secondary_fd = fu::OpenDirect(kProgram, secondary);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) Fail("pipe");
  const pid_t child = ::fork();  // before gRPC starts in either process
  if (child < 0) Fail("fork");
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // whatever way the primary ends
    if (::getppid() == 1) std::_Exit(1);
    if (pin) fu::PinTo(kProgram, 0);
    ::close(pipe_fds[0]);
    ::close(fd);
    FloorService service(secondary_fd);
    int port = 0;
    std::unique_ptr<grpc::Server> server = Serve(&service, &port);
    if (::write(pipe_fds[1], &port, sizeof port) != sizeof port) Fail("write port");
    server->Wait();  // killed by the parent
    std::_Exit(0);
  }
  ::close(pipe_fds[1]);
  if (pin) fu::PinTo(kProgram, 1);
  int port = 0;
  if (::read(pipe_fds[0], &port, sizeof port) != sizeof port) {
    errno = ECHILD;
    Fail("the secondary did not start");
  }
  ::close(secondary_fd);
  char* buf = fu::Aligned(kProgram, kBlock);
  grpc::ClientContext ctx;
  auto stream = Connect(port, &ctx);
  const uint64_t range_blocks = (64 << 20) / kBlock;
  std::mt19937_64 rng(11);
  auto mirror = [&](bool ordered) {
    Frame out;
    hafs::peer::Data* d = out.mutable_batch()->add_messages()->mutable_data();
    d->set_data(std::string(buf, kBlock));
    if (ordered) out.mutable_batch()->add_messages()->mutable_barrier()->set_epoch(1);
    std::vector<double> us;
    for (int i = 0; i < kWarmup + runs; ++i) {
      d->set_offset((rng() % range_blocks) * kBlock);
      const absl::Time t = absl::Now();
      Frame in;
      if (!stream->Write(out)) {
        errno = EPIPE;
        Fail("the stream broke");
      }
      Pwrite(fd, buf, d->offset());
      if (!stream->Read(&in)) {
        errno = EPIPE;
        Fail("the stream broke");
      }
      if (i >= kWarmup) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
    }
    return P50(us);
  };
  std::printf("grpc_floor_write_p50_us=%.3f\n", mirror(false));
  std::printf("grpc_floor_write_ordered_p50_us=%.3f\n", mirror(true));
  std::vector<double> wf;
  for (int i = 0; i < runs; ++i) {
    const absl::Time t = absl::Now();
    Pwrite(fd, buf, (rng() % range_blocks) * kBlock);
    if (::fdatasync(fd) != 0) Fail("fdatasync");
    wf.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  std::printf("grpc_floor_local_write_flush_p50_us=%.3f\n", P50(wf));
  std::fflush(stdout);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  std::_Exit(0);  // the stream's reader side is gone; skip the orderly teardown
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grpc_rtt_floor: the least gRPC can do for the mirror's QD1 path"};
  std::string primary, secondary;
  int runs = 5000;
  app.add_option("--primary", primary, "the primary's backing file (laid out): mirror mode");
  app.add_option("--secondary", secondary, "the secondary's backing file (laid out)");
  app.add_option("--qd1_writes", runs)->check(CLI::Range(10, 1000000));
  bool pin = false;
  app.add_flag("--pin", pin, "mirror mode: the secondary on CPU 0, the primary on CPU 1");
  CLI11_PARSE(app, argc, argv);
  if (primary.empty() != secondary.empty()) {
    std::fprintf(stderr, "grpc_rtt_floor: --primary and --secondary go together\n");
    return 2;
  }
  return primary.empty() ? Echo(runs) : Mirror(primary, secondary, runs, pin);
}
