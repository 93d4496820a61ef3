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
//   * Bulk payloads: the bytes field of a Data, ResyncData or ReadReply (see
//     MutableBulkField) may arrive in TransportEvent::payload, a 4 KiB-aligned
//     buffer ready for O_DIRECT I/O, instead of in the message, whose field is
//     then empty (GrpcTransport always does this for non-empty payloads, so
//     that a received 1 MiB write is copied once, from the socket buffers into
//     its I/O buffer). Receivers read BulkBytes(event) rather than the field.
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
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libhafs/io/block_device.h"
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

// A message's bulk bytes delivered outside the protobuf (file comment).
using Payload = std::shared_ptr<io::AlignedBuffer>;

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
  Payload payload;  // kMessage: the bulk field's bytes, or nullptr (then in `message`)
  absl::Status reason;
};

const char* KindName(TransportEvent::Kind kind);

// The bulk bytes field of `m` (Data.data, ResyncData.data, ReadReply.data),
// or nullptr for the other message kinds.
std::string* MutableBulkField(MirrorMessage* m);
// The field number of the bulk bytes field inside the MirrorMessage body with
// field number `body_field` (= its oneof case), or 0 for bodies without one.
int BulkFieldNumber(int body_field);
// The bulk bytes of a received message: `payload` when set, else the field
// (empty for kinds without one).
absl::string_view BulkBytes(const MirrorMessage& m, const Payload& payload);
inline absl::string_view BulkBytes(const TransportEvent& e) {
  return BulkBytes(e.message, e.payload);
}

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
