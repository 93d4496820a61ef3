// File: libhafs/peer/transport.h
// -----------------------------------------------------------------------------
// The Transport port: a connection-oriented, reliable, FIFO pipe of
// `MirrorMessage`s between this node and its one peer. The block mirror's pure
// replicator never sees gRPC; its runtime owns a Transport and polls it.
//
// Semantics (what every implementation guarantees, SimTransport in its
// "protocol violation mode" being the deliberate exception):
//   * A *connection* is identified by a ConnectionId (never 0, increasing per
//     endpoint). Events: kConnected (peer's Hello info) -> kMessage* ->
//     kDisconnected (reason). Every kConnected is followed by exactly one
//     kDisconnected for the same id before the next kConnected.
//   * An attempt that ends before the peer is authenticated (unreachable,
//     refused by us or by the peer) is reported as kConnectFailed with the
//     reason, outside that pairing, so an operator can see why the node stays
//     Connecting (implementations that cannot fail an attempt never emit it).
//   * Messages sent on connection c are delivered on the peer's matching
//     connection in order, without loss, duplication or corruption, until the
//     connection breaks; then some suffix of them may be lost. Nothing is
//     delivered across connections: Send(c, m) after c broke is rejected.
//   * Connect() starts (and keeps) trying to connect, retrying every
//     `connect_interval` after a failure or a drop; Disconnect() closes the
//     current connection and stops retrying until the next Connect().
//   * Bounded in-flight data (back-pressure): Send refuses with
//     kResourceExhausted when the bytes queued but not yet written to the
//     network (SimTransport: not yet delivered) plus the new message would
//     exceed `max_queued_bytes` — unless the queue is empty, so that a single
//     oversized message still goes through. After a refusal the transport
//     emits one kWritable event once the queue drained below half the limit.
//     The message that was refused is not queued; the caller keeps it.
//
// Threading: TakeEvents/Send/Connect/Disconnect may be called from any thread.
// Implementations never call back into the owner except through the optional
// wake-up callback, which is invoked whenever events become available, from
// an internal thread or from inside Disconnect(), without any transport lock
// held: the owner may process the events right there (TakeEvents, Send, ...,
// as the block mirror's runtime does to save a thread hand-off) or just
// signal its own thread. It must not block for long (it holds up the
// transport's thread). Once SetWakeup returns, the previous callback no
// longer runs on other threads, so the owner may go away after
// SetWakeup(nullptr).
//
// Example (runtime loop):
//   transport->SetWakeup([&] { loop.Notify(); });
//   transport->Connect();
//   for (;;) {
//     loop.WaitForNotification();
//     for (TransportEvent& e : transport->TakeEvents()) replicator.Step(e);
//     for (MirrorMessage& m : replicator.TakeOutgoing())
//       if (transport->Send(conn, m).code() == kResourceExhausted) hold(m);
//   }
#ifndef HAFS_LIBHAFS_PEER_TRANSPORT_H_
#define HAFS_LIBHAFS_PEER_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libhafs/peer/peer.pb.h"

namespace hafs::peer {

using ConnectionId = uint64_t;

// What the peer said about itself in its (authenticated) Hello.
struct PeerInfo {
  uint32_t node_id = 0;
  std::string node_name;
  uint64_t incarnation = 0;   // changes when the peer process restarts
  uint32_t protocol_version = 0;  // agreed wire version
  std::string address;        // transport-level address, for logs ("sim", "ipv4:...")
};

struct TransportEvent {
  enum class Kind {
    kConnected,     // `peer` is valid
    kMessage,       // `message` is valid
    kDisconnected,  // `reason` says why (never OK)
    kWritable,      // a Send refused with kResourceExhausted may be retried
    kConnectFailed,  // an attempt ended before authentication; `reason` says why
  };
  Kind kind = Kind::kMessage;
  ConnectionId connection = 0;
  PeerInfo peer;
  MirrorMessage message;
  absl::Status reason;
};

const char* KindName(TransportEvent::Kind kind);

struct TransportOptions {
  // Back-pressure threshold (see the file comment).
  size_t max_queued_bytes = 64 << 20;
  // Retry delay after a failed attempt or a dropped connection (DRBD connect-int).
  absl::Duration connect_interval = absl::Seconds(10);
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Starts connecting (idempotent). Connection outcome arrives as events.
  virtual void Connect() = 0;

  // Closes the current connection (the peer sees kDisconnected, this side gets
  // kDisconnected with kCancelled) and stops reconnecting.
  virtual void Disconnect() = 0;

  // Queues `message` on connection `connection`.
  //   kUnavailable: `connection` is not the current, established connection
  //                 (it broke, or its kDisconnected is pending in the queue).
  //   kResourceExhausted: back-pressure, see the file comment.
  virtual absl::Status Send(ConnectionId connection, MirrorMessage message) = 0;

  // Queues the messages at the front of `*messages` in order, as Send does,
  // removing each one queued; stops at the first refusal and returns its
  // status (`*messages` keeps the refused message and the rest). Messages
  // queued together leave together where they fit (GrpcTransport: one
  // network frame, so a Barrier and the next Data, or a BarrierAck and the
  // next Ack, cost the peer one wake-up).
  virtual absl::Status SendBatch(ConnectionId connection, std::deque<MirrorMessage>* messages) = 0;

  // Returns and clears the pending events, oldest first.
  virtual std::vector<TransportEvent> TakeEvents() = 0;

  // Installs the wake-up callback (replaces any previous one; nullptr clears).
  virtual void SetWakeup(std::function<void()> wakeup) = 0;

  // Bytes accepted by Send on the current connection and not yet written.
  virtual size_t QueuedBytes() = 0;
};

}  // namespace hafs::peer

#endif  // HAFS_LIBHAFS_PEER_TRANSPORT_H_
