#include "libhafs/control/server.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_macros.h"
#include "libhafs/control/control.grpc.pb.h"
#include "libhafs/control/convert.h"
#include "libhafs/control/events.h"

// gRPC's name for the polling engine it chose at initialisation ("epoll1",
// "poll", ...). Declared in gRPC's src/core/lib/iomgr/ev_posix.h, which is not
// installed; libgrpc exports it (docs/dependencies.md).
const char* grpc_get_poll_strategy_name();

namespace hafs::control {

std::string DefaultSocketPath(absl::string_view node_name) {
  return absl::StrCat("/run/hafs/", node_name, ".sock");
}

namespace {

absl::Status Errno(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err, what);
}

// mkdir -p of the directory part of `path` (mode 0755).
absl::Status MakeParents(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  std::string dir = path.substr(0, slash);
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    std::string prefix = dir.substr(0, i);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno(errno, absl::StrCat("control socket ", path,
                                       ": cannot create directory ", prefix));
    }
  }
  return absl::OkStatus();
}

// True iff something accepts connections on the Unix socket `path`.
bool SomeoneListens(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Removes a stale socket at `path`; refuses a live one or a non-socket.
absl::Status ClearStaleSocket(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno(errno, absl::StrCat("control socket ", path, ": stat"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "control socket ", path,
        ": the path exists and is not a socket; refusing to remove it; hint: "
        "choose another --socket or move the file away"));
  }
  if (SomeoneListens(path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "control socket ", path,
        ": another process accepts connections on it (another hafsd for this "
        "node?); hint: stop it first, or use another --socket"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno(errno, absl::StrCat("control socket ", path,
                                     ": cannot remove the stale socket"));
  }
  HAFS_LOG(WARNING) << "control socket " << path
                    << ": removed a stale socket (nobody accepted on it; a "
                       "previous hafsd did not shut down cleanly)";
  return absl::OkStatus();
}

}  // namespace

// --- The gRPC service ---

class ControlService final : public v1::Control::Service {
 public:
  ControlService(ControlTarget* target, absl::Duration events_poll)
      : target_(target), events_poll_(events_poll) {}

  void BeginShutdown() { stopping_.store(true); }

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest*,
                      v1::StatusReply* reply) override {
    Mark(ctx);
    absl::StatusOr<NodeStatus> s = target_->GetStatus();
    if (!s.ok()) return ToGrpcStatus(s.status());
    *reply = ToProto(*s);
    reply->set_control_version(kControlVersion);
    return grpc::Status::OK;
  }
  grpc::Status Primary(grpc::ServerContext* ctx, const v1::PrimaryRequest* req,
                       v1::CommandReply* reply) override {
    return Command(ctx, "primary", target_->Primary(req->force()), reply);
  }
  grpc::Status Secondary(grpc::ServerContext* ctx, const v1::SecondaryRequest*,
                         v1::CommandReply* reply) override {
    return Command(ctx, "secondary", target_->Secondary(), reply);
  }
  grpc::Status Connect(grpc::ServerContext* ctx, const v1::ConnectRequest* req,
                       v1::CommandReply* reply) override {
    ConnectOptions o;
    o.discard_my_data = req->discard_my_data();
    o.tentative = req->tentative();
    return Command(ctx, "connect", target_->Connect(o), reply);
  }
  grpc::Status Disconnect(grpc::ServerContext* ctx, const v1::DisconnectRequest*,
                          v1::CommandReply* reply) override {
    return Command(ctx, "disconnect", target_->Disconnect(), reply);
  }
  grpc::Status Verify(grpc::ServerContext* ctx, const v1::VerifyRequest*,
                      v1::CommandReply* reply) override {
    return Command(ctx, "verify", target_->Verify(), reply);
  }
  grpc::Status Resync(grpc::ServerContext* ctx, const v1::ResyncRequest* req,
                      v1::CommandReply* reply) override {
    return Command(ctx, "resync", target_->Resync(req->full()), reply);
  }
  grpc::Status Standby(grpc::ServerContext* ctx, const v1::StandbyRequest*,
                       v1::CommandReply* reply) override {
    return Command(ctx, "standby", target_->Standby(), reply);
  }
  grpc::Status Cleanup(grpc::ServerContext* ctx, const v1::CleanupRequest*,
                       v1::CommandReply* reply) override {
    return Command(ctx, "cleanup", target_->Cleanup(), reply);
  }
  grpc::Status Takeover(grpc::ServerContext* ctx, const v1::TakeoverRequest*,
                        v1::CommandReply* reply) override {
    return Command(ctx, "takeover", target_->Takeover(), reply);
  }

  grpc::Status Events(grpc::ServerContext* ctx, const v1::EventsRequest* req,
                      grpc::ServerWriter<v1::Event>* writer) override {
    Mark(ctx);
    std::unique_ptr<EventSubscription> sub = target_->events()->Subscribe(req->now());
    v1::Event ev;
    while (true) {
      if (stopping_.load()) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "events: hafsd is shutting down");
      }
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      absl::StatusOr<std::optional<std::string>> line = sub->Next(events_poll_);
      if (!line.ok()) return ToGrpcStatus(line.status());
      if (!line->has_value()) continue;
      ev.set_line(std::move(**line));
      if (!writer->Write(ev)) return grpc::Status::CANCELLED;  // client went away
    }
  }

 private:
  static void Mark(grpc::ServerContext* ctx) {
    ctx->AddTrailingMetadata(kVersionMetadataKey, absl::StrCat(kControlVersion));
  }
  grpc::Status Command(grpc::ServerContext* ctx, absl::string_view verb,
                       absl::StatusOr<std::string> result, v1::CommandReply* reply) {
    Mark(ctx);
    if (!result.ok()) {
      HAFS_LOG(WARNING) << "control: " << verb << " refused: " << result.status();
      return ToGrpcStatus(result.status());
    }
    HAFS_LOG(INFO) << "control: " << verb << ": "
                   << (result->empty() ? std::string("done") : *result);
    reply->set_message(*std::move(result));
    return grpc::Status::OK;
  }

  ControlTarget* const target_;
  const absl::Duration events_poll_;
  std::atomic<bool> stopping_{false};
};

// --- ControlServer ---

ControlServer::ControlServer(ControlTarget* target,
                             const ControlServerOptions& options)
    : target_(target), options_(options) {}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(
    ControlTarget* target, const ControlServerOptions& options) {
  const std::string& path = options.socket_path;
  if (path.empty()) {
    return absl::InvalidArgumentError("control socket: empty path");
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control socket ", path, ": path is ", path.size(),
        " bytes; a Unix socket path has at most ", sizeof(sockaddr_un::sun_path) - 1,
        "; hint: use a shorter --socket path"));
  }
  std::unique_ptr<ControlServer> s(new ControlServer(target, options));
  HAFS_RETURN_IF_ERROR(MakeParents(path));

  const std::string lock_path = path + ".lock";
  s->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd_ < 0) {
    return Errno(errno, absl::StrCat("control socket lock ", lock_path, ": open"));
  }
  if (flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(s->lock_fd_);
    s->lock_fd_ = -1;
    if (err == EWOULDBLOCK) {
      return absl::AlreadyExistsError(absl::StrCat(
          "control socket ", path, ": another hafsd holds ", lock_path,
          "; hint: stop it first (`hafsctl --socket ", path,
          " status` shows which node it is), or use another --socket"));
    }
    return Errno(err, absl::StrCat("control socket lock ", lock_path, ": flock"));
  }
  HAFS_RETURN_IF_ERROR(ClearStaleSocket(path));

  s->service_ = std::make_unique<ControlService>(target, options.events_poll);
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(absl::StrCat("unix:", path),
                           grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(s->service_.get());
  if (options.share_poller) {
    // A "hybrid" server (a synchronous service next to a frequently polled
    // asynchronous queue): gRPC then gives the synchronous service
    // non-polling queues, and its threads wait for requests without polling.
    // Under epoll1 every file descriptor of the process sits in one epoll
    // set, so the other server's polling thread accepts and reads this
    // server's connections as well.
    grpc_init();  // the engine is chosen at initialisation
    const std::string engine = grpc_get_poll_strategy_name();
    grpc_shutdown();
    if (engine == "epoll1") {
      s->idle_cq_ = builder.AddCompletionQueue(/*is_frequently_polled=*/true);
    } else {
      HAFS_LOG(INFO) << "control socket " << path << ": gRPC polls with '" << engine
                     << "', not epoll1: this server polls on its own thread";
    }
  }
  // The socket is created by BuildAndStart; keep it private from the start.
  mode_t old_umask = umask(0177);
  s->server_ = builder.BuildAndStart();
  umask(old_umask);
  if (s->server_ == nullptr) {
    return absl::InternalError(absl::StrCat(
        "control socket ", path, ": gRPC could not listen on it (see the "
        "gRPC log line above); hint: check that the directory is writable"));
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return absl::InternalError(absl::StrCat(
        "control socket ", path, ": not found after gRPC started listening"));
  }
  if (chmod(path.c_str(), options.socket_mode) != 0) {
    return Errno(errno, absl::StrCat("control socket ", path, ": chmod"));
  }
  s->socket_dev_ = st.st_dev;
  s->socket_ino_ = st.st_ino;
  if (geteuid() != 0) {
    HAFS_LOG(INFO) << "control socket " << path << " is owned by uid " << geteuid()
                   << " (not root): only that user can drive this daemon";
  }
  HAFS_LOG(INFO) << "control: serving hafs.control.v1 on unix:" << path
                 << (s->shares_poller() ? " (its socket polled by another gRPC server's thread)"
                                        : "");
  return s;
}

ControlServer::~ControlServer() { Shutdown(); }

void ControlServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (service_ != nullptr) service_->BeginShutdown();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoNanoseconds(options_.shutdown_grace));
    server_->Wait();
  }
  if (idle_cq_ != nullptr) {
    idle_cq_->Shutdown();
    void* tag;
    bool ok;
    while (idle_cq_->Next(&tag, &ok)) {
    }
  }
  const std::string& path = options_.socket_path;
  struct stat st;
  if (server_ != nullptr && lstat(path.c_str(), &st) == 0 &&
      st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
    if (unlink(path.c_str()) != 0) {
      HAFS_LOG(WARNING) << "control socket " << path
                        << ": cannot remove: " << std::strerror(errno);
    }
  }
  if (lock_fd_ >= 0) {
    unlink((path + ".lock").c_str());
    close(lock_fd_);
    lock_fd_ = -1;
  }
  if (server_ != nullptr) HAFS_LOG(INFO) << "control: stopped; removed " << path;
}

}  // namespace hafs::control
