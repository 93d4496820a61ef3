// grpc_rtt_floor: the least gRPC can do for the mirror's QD1 round trip on
// this machine — the PeerService's Replicate stream with gRPC's synchronous
// API (the thread that waits in Read polls the completion queue itself: no
// thread hand-off inside the process), insecure, a trivial echo server, one
// 4 KiB Data message out and a small reply back, QD1. transport_rtt measures
// the same round trip through GrpcTransport (HMAC auth, callback API, the
// owner woken through its wake-up callback); the difference is what our
// transport adds on top of gRPC (docs/benchmarks.md "Session 4").
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "libhafs/peer/peer.grpc.pb.h"

namespace {

class EchoService final : public hafs::peer::PeerService::Service {
  grpc::Status Replicate(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<hafs::peer::Frame, hafs::peer::Frame>* stream) override {
    hafs::peer::Frame in, reply;
    reply.mutable_batch()->add_messages()->mutable_ack()->set_seq(1);
    while (stream->Read(&in)) {
      if (!stream->Write(reply)) break;
    }
    return grpc::Status::OK;
  }
};

}  // namespace

int main() {
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "grpc_rtt_floor: cannot listen on 127.0.0.1\n");
    return 1;
  }
  auto stub = hafs::peer::PeerService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Replicate(&ctx);
  hafs::peer::Frame out, in;
  hafs::peer::Data* d = out.mutable_batch()->add_messages()->mutable_data();
  d->set_seq(1);
  d->set_data(std::string(4096, 'x'));
  constexpr int kWarmup = 200, kRuns = 5000;
  std::vector<double> us;
  us.reserve(kRuns);
  for (int i = 0; i < kWarmup + kRuns; ++i) {
    const absl::Time t = absl::Now();
    if (!stream->Write(out) || !stream->Read(&in)) {
      std::fprintf(stderr, "grpc_rtt_floor: the stream broke\n");
      return 1;
    }
    if (i >= kWarmup) us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
  }
  std::sort(us.begin(), us.end());
  std::printf("grpc_floor_rtt_p50_us=%.1f\ngrpc_floor_rtt_p99_us=%.1f\n", us[us.size() / 2],
              us[us.size() * 99 / 100]);
  std::fflush(stdout);
  // The echo thread is blocked in Read; skip the orderly teardown.
  std::_Exit(0);
}
