#include "libhafs/control/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "libhafs/control/control.grpc.pb.h"
#include "libhafs/control/convert.h"
#include "libhafs/control/server.h"

namespace hafs::control {
namespace {

constexpr char kOriginPayload[] = "type.hafs.dev/control.transport";

absl::Status Transport(absl::Status s) {
  s.SetPayload(kOriginPayload, absl::Cord("1"));
  return s;
}

std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = absl::ascii_tolower(static_cast<unsigned char>(s[0]));
  return s;
}

// connect(2) to the socket: 0 on success, else errno.
int Probe(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) return ENAMETOOLONG;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int err = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
  close(fd);
  return err;
}

bool FromDaemon(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  return md.find(kVersionMetadataKey) != md.end();
}

}  // namespace

bool IsTransportError(const absl::Status& s) {
  return s.GetPayload(kOriginPayload).has_value();
}

struct ControlClient::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Control::Stub> stub;
};

ControlClient::ControlClient(std::string path, const ControlClientOptions& options)
    : path_(std::move(path)), options_(options), impl_(std::make_unique<Impl>()) {}

ControlClient::~ControlClient() = default;

absl::StatusOr<std::unique_ptr<ControlClient>> ControlClient::Connect(
    const std::string& socket_path, const ControlClientOptions& options) {
  int err = Probe(socket_path);
  if (err != 0) {
    return Transport(absl::UnavailableError(
        absl::StrCat("cannot reach hafsd at ", socket_path, ": ",
                     LowerFirst(std::strerror(err)))));
  }
  std::unique_ptr<ControlClient> c(new ControlClient(socket_path, options));
  grpc::ChannelArguments args;
  c->impl_->channel = grpc::CreateCustomChannel(
      absl::StrCat("unix:", socket_path), grpc::InsecureChannelCredentials(), args);
  c->impl_->stub = v1::Control::NewStub(c->impl_->channel);
  return c;
}

namespace {

template <typename Req, typename Fn>
absl::StatusOr<std::string> Call(const std::string& path, absl::Duration timeout,
                                 const Req& req, Fn fn) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  v1::CommandReply reply;
  grpc::Status s = fn(&ctx, req, &reply);
  if (s.ok()) return reply.message();
  if (!FromDaemon(ctx)) {
    return Transport(absl::UnavailableError(absl::StrCat(
        "lost hafsd at ", path, ": ", s.error_message())));
  }
  return FromGrpcStatus(s);
}

}  // namespace

absl::StatusOr<NodeStatus> ControlClient::GetStatus() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoNanoseconds(options_.status_timeout));
  v1::StatusReply reply;
  grpc::Status s = impl_->stub->Status(&ctx, v1::StatusRequest(), &reply);
  if (!s.ok()) {
    if (!FromDaemon(ctx)) {
      return Transport(absl::UnavailableError(
          absl::StrCat("lost hafsd at ", path_, ": ", s.error_message())));
    }
    return FromGrpcStatus(s);
  }
  if (reply.control_version() != kControlVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "hafsd at ", path_, " speaks control protocol version ",
        reply.control_version(), ", this client version ", kControlVersion,
        "; hint: use the hafsctl of the same hafs release as the daemon"));
  }
  return FromProto(reply);
}

#define HAFS_CONTROL_CALL(Method, req)                                          \
  Call(path_, options_.command_timeout, req,                                    \
       [this](grpc::ClientContext* c, const auto& r, v1::CommandReply* out) {   \
         return impl_->stub->Method(c, r, out);                                 \
       })

absl::StatusOr<std::string> ControlClient::Primary(bool force) {
  v1::PrimaryRequest req;
  req.set_force(force);
  return HAFS_CONTROL_CALL(Primary, req);
}
absl::StatusOr<std::string> ControlClient::Secondary() {
  return HAFS_CONTROL_CALL(Secondary, v1::SecondaryRequest());
}
absl::StatusOr<std::string> ControlClient::ConnectPeer(const ConnectOptions& options) {
  v1::ConnectRequest req;
  req.set_discard_my_data(options.discard_my_data);
  req.set_tentative(options.tentative);
  return HAFS_CONTROL_CALL(Connect, req);
}
absl::StatusOr<std::string> ControlClient::Disconnect() {
  return HAFS_CONTROL_CALL(Disconnect, v1::DisconnectRequest());
}
absl::StatusOr<std::string> ControlClient::Verify() {
  return HAFS_CONTROL_CALL(Verify, v1::VerifyRequest());
}
absl::StatusOr<std::string> ControlClient::Resync(bool full) {
  v1::ResyncRequest req;
  req.set_full(full);
  return HAFS_CONTROL_CALL(Resync, req);
}
absl::StatusOr<std::string> ControlClient::Standby() {
  return HAFS_CONTROL_CALL(Standby, v1::StandbyRequest());
}
absl::StatusOr<std::string> ControlClient::Cleanup() {
  return HAFS_CONTROL_CALL(Cleanup, v1::CleanupRequest());
}
absl::StatusOr<std::string> ControlClient::Takeover() {
  return HAFS_CONTROL_CALL(Takeover, v1::TakeoverRequest());
}

#undef HAFS_CONTROL_CALL

absl::Status ControlClient::Events(
    bool now, const std::function<bool(const std::string&)>& on_line) {
  grpc::ClientContext ctx;
  v1::EventsRequest req;
  req.set_now(now);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      impl_->stub->Events(&ctx, req);
  v1::Event ev;
  bool stopped = false;
  while (reader->Read(&ev)) {
    if (!on_line(ev.line())) {
      stopped = true;
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (stopped) return absl::OkStatus();
  if (!FromDaemon(ctx)) {
    return Transport(absl::UnavailableError(absl::StrCat(
        "lost hafsd at ", path_, ": ", s.ok() ? "stream ended" : s.error_message())));
  }
  return FromGrpcStatus(s);
}

}  // namespace hafs::control
