// File: libhafs/peer/sim_transport.h
// -----------------------------------------------------------------------------
// testonly: a simulated network between two Transport endpoints, driven by a
// SimClock and a seeded hafs::Random, for the mirror's deterministic simulator.
// The same seed, options and sequence of calls replay exactly.
//
// Model:
//   * Connecting: while an endpoint wants a connection (Connect()) and none is
//     established, an attempt runs `connect_delay` after the first Connect and
//     then every TransportOptions::connect_interval. It succeeds iff both
//     endpoints want to connect and both directions are open.
//   * Delivery: each message gets a latency uniform in [min_delay, max_delay]
//     plus size/bandwidth; delivery is FIFO per direction (a message never
//     overtakes an earlier one). A blocked direction (partition) holds its
//     messages, like TCP retransmitting; they are delivered after healing.
//   * Faults: BreakConnection() or, per sent message, `drop_probability`
//     break the connection: everything in flight is lost and both sides get
//     kDisconnected. A direction blocked for `connection_timeout` while a
//     connection is up breaks it (asymmetric partitions time out, as TCP
//     retransmission / gRPC keepalive would).
//   * Back-pressure: in-flight (sent, not yet delivered) bytes per side count
//     against TransportOptions::max_queued_bytes.
//   * Protocol violation mode (`protocol_violations = true`; for testing a
//     receiver's robustness only, it breaks the Transport contract): with
//     `duplicate_probability` a message is delivered twice, with
//     `reorder_probability` it gets up to `reorder_window` extra delay and may
//     overtake later messages.
//
// Thread-safety: not thread-safe. Everything runs on the thread that drives the
// SimClock; the wake-up callback is called synchronously on that thread.
//
// Example:
//   SimClock clock;
//   SimNetwork net(&clock, seed, SimNetworkOptions{}, {.node_id = 0}, {.node_id = 1});
//   net.endpoint(0)->Connect(); net.endpoint(1)->Connect();
//   clock.AdvanceBy(absl::Milliseconds(10));
//   auto events = net.endpoint(0)->TakeEvents();  // kConnected
#ifndef HAFS_LIBHAFS_PEER_SIM_TRANSPORT_H_
#define HAFS_LIBHAFS_PEER_SIM_TRANSPORT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "libhafs/base/clock.h"
#include "libhafs/base/random.h"
#include "libhafs/peer/transport.h"

namespace hafs::peer {

struct SimNetworkOptions {
  absl::Duration min_delay = absl::Microseconds(50);
  absl::Duration max_delay = absl::Microseconds(500);
  // Bytes per second per direction; 0 = unlimited.
  double bandwidth_bytes_per_s = 0;
  absl::Duration connect_delay = absl::Milliseconds(1);
  absl::Duration connection_timeout = absl::Seconds(6);
  // Per sent message: probability that the connection breaks right after it.
  double drop_probability = 0;
  // Protocol violation mode (see the file comment).
  bool protocol_violations = false;
  double duplicate_probability = 0;
  double reorder_probability = 0;
  absl::Duration reorder_window = absl::Milliseconds(5);
  // Per delivered message with bulk bytes: probability that they arrive in
  // TransportEvent::payload, as GrpcTransport delivers them (drawn from a
  // stream of its own: the other choices stay those of the seed).
  double split_payload_probability = 0.5;
};

struct SimNetworkStats {
  uint64_t connections = 0;
  uint64_t breaks = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;  // in flight when a connection broke
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
};

class SimNetwork;

// One endpoint; owned by its SimNetwork.
class SimTransport final : public Transport {
 public:
  void Connect() override;
  void Disconnect() override;
  absl::Status Send(ConnectionId connection, MirrorMessage message) override;
  absl::Status SendBatch(ConnectionId connection, std::deque<MirrorMessage>* messages) override;
  std::vector<TransportEvent> TakeEvents() override;
  void SetWakeup(std::function<void()> wakeup) override { wakeup_ = std::move(wakeup); }
  size_t QueuedBytes() override { return in_flight_bytes_; }

  // The current connection (0 if none).
  ConnectionId connection() const { return connected_ ? conn_id_ : 0; }

 private:
  friend class SimNetwork;
  SimTransport(SimNetwork* net, int side, PeerInfo self, TransportOptions options)
      : net_(net), side_(side), self_(std::move(self)), options_(options) {}
  void Push(TransportEvent e);

  SimNetwork* const net_;
  const int side_;
  PeerInfo self_;
  const TransportOptions options_;
  std::function<void()> wakeup_;
  std::vector<TransportEvent> events_;
  bool wants_ = false;
  bool connected_ = false;
  ConnectionId conn_id_ = 0;
  size_t in_flight_bytes_ = 0;
  bool refused_since_writable_ = false;
};

class SimNetwork {
 public:
  SimNetwork(SimClock* clock, uint64_t seed, SimNetworkOptions options, PeerInfo node0,
             PeerInfo node1, TransportOptions transport_options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  SimTransport* endpoint(int side) { return endpoints_[side].get(); }

  // Breaks the current connection now (no-op without one).
  void BreakConnection(absl::Status reason = absl::UnavailableError("simulated connection reset"));

  // Blocks or opens each direction. from0to1 blocks messages 0 -> 1.
  void SetBlocked(bool from0to1, bool from1to0);
  void Heal() { SetBlocked(false, false); }
  // Whether messages from `from_side` are blocked.
  bool blocked(int from_side) const { return dirs_[from_side].blocked; }

  const SimNetworkStats& stats() const { return stats_; }
  bool connected() const { return connected_; }

 private:
  friend class SimTransport;
  struct InFlight {
    uint64_t generation;
    MirrorMessage message;
    size_t bytes;
    bool counted;  // counts against the sender's in-flight bytes (not a duplicate)
  };
  struct Direction {
    std::multimap<absl::Time, InFlight> queue;
    absl::Time last_delivery = absl::InfinitePast();
    bool blocked = false;
    uint64_t block_epoch = 0;
    Clock::TimerId pump = 0;
  };

  void OnWantChanged();
  void ScheduleAttempt(absl::Duration after);
  void Attempt();
  void Break(absl::Status reason_for_0, absl::Status reason_for_1);
  // Moves `message` out only if it is accepted.
  absl::Status Send(int side, ConnectionId conn, MirrorMessage& message);
  void Enqueue(int from, InFlight item, absl::Time at);
  void ArmPump(int from);
  void Pump(int from);
  Clock::TimerId Schedule(absl::Time at, std::function<void()> fn);

  SimClock* const clock_;
  Random rng_;
  Random payload_rng_;
  const SimNetworkOptions options_;
  const TransportOptions transport_options_;
  std::array<std::unique_ptr<SimTransport>, 2> endpoints_;
  std::array<Direction, 2> dirs_;  // dirs_[from]
  bool connected_ = false;
  uint64_t generation_ = 0;
  Clock::TimerId attempt_timer_ = 0;
  bool attempted_before_ = false;
  SimNetworkStats stats_;
  // Timers still pending (cancelled on destruction).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hafs::peer

#endif  // HAFS_LIBHAFS_PEER_SIM_TRANSPORT_H_
