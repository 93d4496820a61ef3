#include "libhafs/peer/sim_transport.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libhafs/base/logging.h"

namespace hafs::peer {

// ---------------------------------------------------------------------------
// SimTransport

void SimTransport::Push(TransportEvent e) {
  events_.push_back(std::move(e));
  if (wakeup_) wakeup_();
}

void SimTransport::Connect() {
  if (wants_) return;
  wants_ = true;
  net_->OnWantChanged();
}

void SimTransport::Disconnect() {
  wants_ = false;
  if (net_->connected_) {
    absl::Status local = absl::CancelledError("local Disconnect()");
    absl::Status remote = absl::UnavailableError("peer closed the connection");
    net_->Break(side_ == 0 ? local : remote, side_ == 0 ? remote : local);
  }
  net_->OnWantChanged();
}

absl::Status SimTransport::Send(ConnectionId connection, MirrorMessage message) {
  return net_->Send(side_, connection, message);
}

absl::Status SimTransport::SendBatch(ConnectionId connection, std::deque<MirrorMessage>* messages) {
  while (!messages->empty()) {
    absl::Status s = net_->Send(side_, connection, messages->front());
    if (!s.ok()) return s;
    messages->pop_front();
  }
  return absl::OkStatus();
}

std::vector<TransportEvent> SimTransport::TakeEvents() {
  std::vector<TransportEvent> out;
  out.swap(events_);
  return out;
}

// ---------------------------------------------------------------------------
// SimNetwork

SimNetwork::SimNetwork(SimClock* clock, uint64_t seed, SimNetworkOptions options, PeerInfo node0,
                       PeerInfo node1, TransportOptions transport_options)
    : clock_(clock),
      rng_(seed),
      payload_rng_(seed ^ 0x9e3779b97f4a7c15ULL),
      options_(options),
      transport_options_(transport_options) {
  HAFS_CHECK(options_.min_delay <= options_.max_delay) << "min_delay > max_delay";
  if (!options_.protocol_violations) {
    HAFS_CHECK(options_.duplicate_probability == 0 && options_.reorder_probability == 0)
        << "duplication/reordering need protocol_violations = true";
  }
  node0.protocol_version = node1.protocol_version = 1;
  if (node0.address.empty()) node0.address = absl::StrCat("sim:node", node0.node_id);
  if (node1.address.empty()) node1.address = absl::StrCat("sim:node", node1.node_id);
  endpoints_[0].reset(new SimTransport(this, 0, std::move(node0), transport_options));
  endpoints_[1].reset(new SimTransport(this, 1, std::move(node1), transport_options));
}

SimNetwork::~SimNetwork() { *alive_ = false; }

Clock::TimerId SimNetwork::Schedule(absl::Time at, std::function<void()> fn) {
  std::weak_ptr<bool> alive = alive_;
  return clock_->ScheduleAt(at, [alive, fn = std::move(fn)] {
    std::shared_ptr<bool> a = alive.lock();
    if (a && *a) fn();
  });
}

void SimNetwork::OnWantChanged() {
  bool any = endpoints_[0]->wants_ || endpoints_[1]->wants_;
  if (!any || connected_) {
    if (attempt_timer_ != 0) clock_->Cancel(attempt_timer_);
    attempt_timer_ = 0;
    if (!any) attempted_before_ = false;
    return;
  }
  if (attempt_timer_ == 0) {
    ScheduleAttempt(attempted_before_ ? transport_options_.connect_interval
                                      : options_.connect_delay);
  }
}

void SimNetwork::ScheduleAttempt(absl::Duration after) {
  attempt_timer_ = Schedule(clock_->Now() + after, [this] {
    attempt_timer_ = 0;
    Attempt();
  });
}

void SimNetwork::Attempt() {
  attempted_before_ = true;
  SimTransport& a = *endpoints_[0];
  SimTransport& b = *endpoints_[1];
  if (connected_) return;
  if (a.wants_ && b.wants_ && !dirs_[0].blocked && !dirs_[1].blocked) {
    connected_ = true;
    ++generation_;
    ++stats_.connections;
    for (int s = 0; s < 2; ++s) {
      SimTransport& t = *endpoints_[s];
      t.connected_ = true;
      ++t.conn_id_;
      t.in_flight_bytes_ = 0;
      t.refused_since_writable_ = false;
      TransportEvent e;
      e.kind = TransportEvent::Kind::kConnected;
      e.connection = t.conn_id_;
      e.peer = endpoints_[1 - s]->self_;
      t.Push(std::move(e));
    }
    return;
  }
  if (a.wants_ || b.wants_) ScheduleAttempt(transport_options_.connect_interval);
}

void SimNetwork::Break(absl::Status reason0, absl::Status reason1) {
  if (!connected_) return;
  connected_ = false;
  ++generation_;
  ++stats_.breaks;
  for (Direction& d : dirs_) {
    stats_.lost += d.queue.size();
    d.queue.clear();
    d.last_delivery = absl::InfinitePast();
    if (d.pump != 0) clock_->Cancel(d.pump);
    d.pump = 0;
  }
  for (int s = 0; s < 2; ++s) {
    SimTransport& t = *endpoints_[s];
    t.connected_ = false;
    t.in_flight_bytes_ = 0;
    TransportEvent e;
    e.kind = TransportEvent::Kind::kDisconnected;
    e.connection = t.conn_id_;
    e.reason = s == 0 ? reason0 : reason1;
    t.Push(std::move(e));
  }
  attempted_before_ = true;  // reconnect after connect_interval, not connect_delay
  OnWantChanged();
}

void SimNetwork::BreakConnection(absl::Status reason) {
  Break(reason, reason);
}

void SimNetwork::SetBlocked(bool from0to1, bool from1to0) {
  const bool blocked[2] = {from0to1, from1to0};
  for (int from = 0; from < 2; ++from) {
    Direction& d = dirs_[from];
    if (d.blocked == blocked[from]) continue;
    d.blocked = blocked[from];
    ++d.block_epoch;
    if (!d.blocked) {
      ArmPump(from);
      continue;
    }
    if (connected_) {
      uint64_t gen = generation_, epoch = d.block_epoch;
      Schedule(clock_->Now() + options_.connection_timeout, [this, from, gen, epoch] {
        if (generation_ != gen || dirs_[from].block_epoch != epoch || !dirs_[from].blocked) {
          return;
        }
        absl::Status s = absl::DeadlineExceededError(absl::StrCat(
            "connection timed out: direction node", endpoints_[from]->self_.node_id,
            " -> node", endpoints_[1 - from]->self_.node_id, " blocked for ",
            absl::FormatDuration(options_.connection_timeout)));
        Break(s, s);
      });
    }
  }
}

absl::Status SimNetwork::Send(int side, ConnectionId conn, MirrorMessage& message) {
  SimTransport& t = *endpoints_[side];
  if (!t.connected_ || conn != t.conn_id_) {
    return absl::UnavailableError(absl::StrCat("connection ", conn,
                                               " is not established (current ",
                                               t.connected_ ? t.conn_id_ : 0, ")"));
  }
  const size_t bytes = message.ByteSizeLong();
  if (t.in_flight_bytes_ > 0 &&
      t.in_flight_bytes_ + bytes > transport_options_.max_queued_bytes) {
    t.refused_since_writable_ = true;
    return absl::ResourceExhaustedError(absl::StrCat(
        "send queue full: ", t.in_flight_bytes_, " bytes in flight + ", bytes,
        " > max_queued_bytes ", transport_options_.max_queued_bytes,
        "; retry after a Writable event"));
  }
  absl::Time now = clock_->Now();
  absl::Duration delay =
      options_.min_delay +
      absl::Nanoseconds(rng_.Range(0, absl::ToInt64Nanoseconds(options_.max_delay -
                                                               options_.min_delay)));
  if (options_.bandwidth_bytes_per_s > 0) {
    delay += absl::Seconds(static_cast<double>(bytes) / options_.bandwidth_bytes_per_s);
  }
  Direction& d = dirs_[side];
  absl::Time at = std::max(now + delay, d.last_delivery);
  bool dup = false;
  if (options_.protocol_violations) {
    if (rng_.Bernoulli(options_.reorder_probability)) {
      at = now + delay +
           absl::Nanoseconds(rng_.Range(0, absl::ToInt64Nanoseconds(options_.reorder_window)));
      ++stats_.reordered;
    }
    dup = rng_.Bernoulli(options_.duplicate_probability);
  }
  d.last_delivery = std::max(d.last_delivery, at);
  t.in_flight_bytes_ += bytes;
  if (dup) {
    ++stats_.duplicated;
    Enqueue(side, InFlight{generation_, message, bytes, false},
            at + absl::Nanoseconds(rng_.Range(0, absl::ToInt64Nanoseconds(
                                                     options_.reorder_window))));
  }
  Enqueue(side, InFlight{generation_, std::move(message), bytes, true}, at);
  if (options_.drop_probability > 0 && rng_.Bernoulli(options_.drop_probability)) {
    BreakConnection(absl::UnavailableError("simulated connection drop"));
  }
  return absl::OkStatus();
}

void SimNetwork::Enqueue(int from, InFlight item, absl::Time at) {
  dirs_[from].queue.emplace(at, std::move(item));
  ArmPump(from);
}

void SimNetwork::ArmPump(int from) {
  Direction& d = dirs_[from];
  if (d.blocked || d.queue.empty()) return;
  absl::Time at = std::max(d.queue.begin()->first, clock_->Now());
  if (d.pump != 0) clock_->Cancel(d.pump);
  d.pump = Schedule(at, [this, from] {
    dirs_[from].pump = 0;
    Pump(from);
  });
}

void SimNetwork::Pump(int from) {
  Direction& d = dirs_[from];
  absl::Time now = clock_->Now();
  SimTransport& sender = *endpoints_[from];
  SimTransport& receiver = *endpoints_[1 - from];
  while (!d.blocked && !d.queue.empty() && d.queue.begin()->first <= now) {
    InFlight item = std::move(d.queue.begin()->second);
    d.queue.erase(d.queue.begin());
    if (item.generation != generation_ || !connected_) continue;
    if (item.counted) {
      sender.in_flight_bytes_ -= std::min(sender.in_flight_bytes_, item.bytes);
      if (sender.refused_since_writable_ &&
          sender.in_flight_bytes_ <= transport_options_.max_queued_bytes / 2) {
        sender.refused_since_writable_ = false;
        TransportEvent w;
        w.kind = TransportEvent::Kind::kWritable;
        w.connection = sender.conn_id_;
        sender.Push(std::move(w));
      }
    }
    ++stats_.delivered;
    TransportEvent e;
    e.kind = TransportEvent::Kind::kMessage;
    e.connection = receiver.conn_id_;
    e.message = std::move(item.message);
    std::string* bulk = MutableBulkField(&e.message);
    if (bulk != nullptr && !bulk->empty() &&
        payload_rng_.Bernoulli(options_.split_payload_probability)) {
      e.payload = std::make_shared<io::AlignedBuffer>(bulk->size());
      std::memcpy(e.payload->data(), bulk->data(), bulk->size());
      bulk->clear();
    }
    receiver.Push(std::move(e));
  }
  ArmPump(from);
}

}  // namespace hafs::peer
