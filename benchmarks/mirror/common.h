// Shared set-up of the block-mirror benchmark binaries (mirror_node, mirror_bench):
// pre-synced metadata, the PeerServer + GrpcTransport of one node, a byte-counting
// Transport wrapper. testonly benchmark code (docs/benchmarks.md "Block mirror").
#ifndef HAFS_BENCHMARKS_MIRROR_COMMON_H_
#define HAFS_BENCHMARKS_MIRROR_COMMON_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "libhafs/mirror/volume.h"
#include "libhafs/peer/grpc_transport.h"

namespace hafs::mirror::bench {

// Same current UUID on both nodes and consistent|was-up-to-date: the pair comes
// up UpToDate/UpToDate without an initial sync (like `new-current-uuid
// --clear-bitmap` on two identical, all-zero files).
inline constexpr uint64_t kPresyncedUuid = 0x5EEDB10C00000000ULL;

// Creates (or extends) `path` to data_mib MiB + 4 MiB for internal metadata and
// writes pre-synced metadata for `node_id`.
absl::Status CreatePresynced(const std::string& path, uint64_t data_mib, uint32_t node_id);

struct Net {
  std::unique_ptr<peer::PeerServer> server;
  std::unique_ptr<peer::GrpcTransport> transport;
};
// node 0 dials `peer_address`; node 1 listens on `listen` (port 0 = ephemeral).
absl::StatusOr<Net> StartNet(uint32_t node_id, const std::string& listen,
                             const std::string& peer_address, const std::string& key);

// Counts the bytes of every MirrorMessage accepted by Send (serialized size).
class CountingTransport final : public peer::Transport {
 public:
  explicit CountingTransport(peer::Transport* inner) : inner_(inner) {}
  void Connect() override { inner_->Connect(); }
  void Disconnect() override { inner_->Disconnect(); }
  absl::Status Send(peer::ConnectionId c, peer::MirrorMessage m) override {
    std::deque<peer::MirrorMessage> one;
    one.push_back(std::move(m));
    return SendBatch(c, &one);
  }
  absl::Status SendBatch(peer::ConnectionId c, std::deque<peer::MirrorMessage>* messages) override {
    // What the inner transport takes comes off the front.
    std::vector<std::pair<size_t, size_t>> sizes;  // serialized, resync payload
    for (const peer::MirrorMessage& m : *messages) {
      sizes.emplace_back(m.ByteSizeLong(), m.has_resync_data() ? m.resync_data().data().size() : 0);
    }
    absl::Status s = inner_->SendBatch(c, messages);
    for (size_t i = 0; i < sizes.size() - messages->size(); ++i) {
      bytes_ += sizes[i].first;
      resync_payload_ += sizes[i].second;
    }
    return s;
  }
  std::vector<peer::TransportEvent> TakeEvents() override { return inner_->TakeEvents(); }
  void SetWakeup(std::function<void()> w) override { inner_->SetWakeup(std::move(w)); }
  size_t QueuedBytes() override { return inner_->QueuedBytes(); }
  uint64_t bytes() const { return bytes_.load(); }
  uint64_t resync_payload() const { return resync_payload_.load(); }

 private:
  peer::Transport* inner_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> resync_payload_{0};
};

// Keeps freed 1 MiB data buffers in the heap instead of mmap/munmap per
// message (glibc's default: every buffer of >= 128 KiB..32 MiB (dynamic) is a
// fresh mapping: 256 page faults + zeroing per 1 MiB). What hafsd does too
// (docs/mirror.md, "Performance").
void TuneAllocator();

// hafsd's control server next to the node, to measure what it costs a
// replicated write: `mode` "none" (nullptr), "own" (a control server with
// its own gRPC polling thread, hafsd before session 9) or "shared"
// (ControlServerOptions::share_poller, as hafsd runs it). It answers from a
// fake target; nothing calls it during the benchmark.
// `--control` and `--control_socket` (default /tmp/hafs-bench-PID.sock).
struct ControlFlags {
  std::string mode = "none";
  std::string socket_path;
};
void AddControlFlags(CLI::App& app, ControlFlags* flags);
struct Control;
absl::StatusOr<std::shared_ptr<Control>> StartControl(const ControlFlags& flags);

VolumeOptions BaseOptions(uint32_t node_id, const std::string& path,
                          peer::Transport* transport, uint64_t resync_rate_mib);

}  // namespace hafs::mirror::bench

#endif  // HAFS_BENCHMARKS_MIRROR_COMMON_H_
