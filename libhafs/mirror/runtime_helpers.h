// File: libhafs/mirror/runtime_helpers.h
// -----------------------------------------------------------------------------
// Pieces every runtime of the Replicator needs in the same way (the Volume
// runtime, volume_runtime.cc, and the simulator's SimNode, sim_pair.cc), so
// that the rule lives in one place.
#ifndef HAFS_LIBHAFS_MIRROR_RUNTIME_HELPERS_H_
#define HAFS_LIBHAFS_MIRROR_RUNTIME_HELPERS_H_

#include <deque>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "libhafs/mirror/replicator.h"
#include "libhafs/peer/transport.h"

namespace hafs::mirror {

// For runtimes that park writes until their AL transaction is durable: keeps
// LocalIo::barrier's order across the parking. A barrier is held while any
// write issued before it is parked, and everything issued after a held
// barrier queues behind it.
//   void Issue(LocalIo io) {
//     if (!backlog_.Hold(io, !parked_.empty())) IssueToDevice(std::move(io));
//   }
//   // after a parked write was submitted (or failed):
//   while (std::optional<LocalIo> io = backlog_.Next(!parked_.empty()))
//     IssueToDevice(std::move(*io));
class BarrierBacklog {
 public:
  // Queues `io` (and returns true) if it may not be issued yet.
  bool Hold(LocalIo& io, bool writes_parked) {
    if (queue_.empty() && !(io.barrier && writes_parked)) return false;
    queue_.push_back(std::move(io));
    return true;
  }
  // The next queued LocalIo that may be issued now, if any.
  std::optional<LocalIo> Next(bool writes_parked) {
    if (queue_.empty() || (queue_.front().barrier && writes_parked)) return std::nullopt;
    LocalIo io = std::move(queue_.front());
    queue_.pop_front();
    return io;
  }
  size_t size() const { return queue_.size(); }
  void Clear() { queue_.clear(); }

 private:
  std::deque<LocalIo> queue_;
};

// Messages for the peer, in order, through the transport's back-pressure
// (Transport::SendBatch): one Ready's messages go out as one batch; what the
// transport refuses waits here, in order, for its kWritable event.
//   outbox_.Send(*transport_, conn_, &ready.messages);   // after each Ready
//   outbox_.Send(*transport_, conn_);                    // on kWritable
//   outbox_.Clear();                                     // connection gone
class Outbox {
 public:
  // Appends `messages` (if any; they are moved out) and sends what the
  // transport takes. On a broken connection the rest is dropped (its
  // kDisconnected event is queued) and the error returned.
  absl::Status Send(peer::Transport& t, peer::ConnectionId c,
                    std::vector<peer::MirrorMessage>* messages = nullptr) {
    if (messages != nullptr) {
      for (peer::MirrorMessage& m : *messages) queue_.push_back(std::move(m));
      messages->clear();
    }
    if (queue_.empty()) return absl::OkStatus();
    if (c == 0) {
      queue_.clear();
      return absl::UnavailableError("no connection");
    }
    absl::Status s = t.SendBatch(c, &queue_);
    if (s.ok() || absl::IsResourceExhausted(s)) return absl::OkStatus();
    queue_.clear();
    return s;
  }
  size_t size() const { return queue_.size(); }
  void Clear() { queue_.clear(); }

 private:
  std::deque<peer::MirrorMessage> queue_;
};

// Keeps the transport's Connect/Disconnect in step with the replicator: it
// connects (and keeps retrying) unless the replicator is StandAlone. A
// StandAlone replicator stops the reconnecting only once no connection is
// open; an open one is closed when the replicator asks (Ready::
// drop_connection, e.g. after lingering), which the runtime reports through
// Dropped().
class TransportWish {
 public:
  // After every step of the replicator; `connected`: the runtime has an open
  // connection.
  void Sync(const Replicator& r, peer::Transport& t, bool connected) {
    const bool want = r.conn_state() != ConnState::kStandAlone;
    if (want && !wants_) {
      t.Connect();
      wants_ = true;
    } else if (!want && wants_ && !connected) {
      t.Disconnect();
      wants_ = false;
    }
  }
  // The runtime closed the connection and stopped reconnecting
  // (Transport::Disconnect), e.g. for Ready::drop_connection or a crash.
  void Dropped() { wants_ = false; }

 private:
  bool wants_ = false;
};

}  // namespace hafs::mirror

#endif  // HAFS_LIBHAFS_MIRROR_RUNTIME_HELPERS_H_
