// File: libhafs/control/events.h
// -----------------------------------------------------------------------------
// State-change events for `hafsctl events` (DRBD's `drbdsetup events2`):
// one line per change, "<verb> <object> <identity> key:value ...", e.g.
//   exists resource name:r0 role:Secondary
//   exists device name:r0 volume:0 disk:UpToDate attached:yes
//   exists -
//   change resource name:r0 role:Primary
//   change peer-device name:r0 conn-name:bravo volume:0 replication:SyncSource
// Verbs: exists (snapshot, ended by "exists -"), create, change (only the keys
// that changed), destroy, call (free-form, e.g. a handler). Values containing
// spaces, quotes or backslashes are double-quoted with \" and \\ escapes.
// The full list of objects and keys is in docs/control.md.
//
// `EventHub` fans lines out to subscribers. The owner of the state (hafsd's
// ControlTarget) calls PublishStatus() after every change with the complete
// new NodeStatus; the hub diffs it against the previous one (ChangeLines), so
// a subscriber's "--now" snapshot and the change lines that follow it are
// always consistent (the snapshot comes from the last published status, taken
// under the same lock that registers the subscriber).
//
// Thread-safety: EventHub and EventSubscription are thread-safe.
//
// Example:
//   EventHub hub;
//   hub.PublishStatus(status);               // baseline, no change lines
//   auto sub = hub.Subscribe(/*now=*/true);  // exists ... lines queued
//   status.volumes[0].role = "Primary";
//   hub.PublishStatus(status);               // "change resource name:r0 role:Primary"
//   while (auto line = sub->Next(absl::Seconds(1)); line.ok() && *line) ...
#ifndef HAFS_LIBHAFS_CONTROL_EVENTS_H_
#define HAFS_LIBHAFS_CONTROL_EVENTS_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libhafs/control/control_target.h"

namespace hafs::control {

// "exists ..." lines for every object of `status`, then "exists -".
std::vector<std::string> SnapshotLines(const NodeStatus& status);

// create/change/destroy lines that turn `before` into `after` (empty if no
// reported key changed). Counters and progress figures are not events (poll
// `hafsctl status` for them); states, roles, attachment, quorum, links and
// handshake decisions are.
std::vector<std::string> ChangeLines(const NodeStatus& before,
                                     const NodeStatus& after);

// A value as it appears after "key:" (quoted when needed).
std::string QuoteEventValue(absl::string_view value);

class EventHub;

class EventSubscription {
 public:
  ~EventSubscription();  // unsubscribes
  EventSubscription(const EventSubscription&) = delete;
  EventSubscription& operator=(const EventSubscription&) = delete;

  // The next line; std::nullopt if none arrived within `timeout`.
  // kCancelled once the hub is closed (daemon shutting down) and the queue is
  // drained; kResourceExhausted if this subscriber fell more than the hub's
  // `max_queued` lines behind (lines were lost; resubscribe with now=true).
  absl::StatusOr<std::optional<std::string>> Next(absl::Duration timeout);

 private:
  friend class EventHub;
  explicit EventSubscription(EventHub* hub) : hub_(hub) {}
  void Push(const std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EventHub* const hub_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  size_t max_queued_ = 0;
};

class EventHub {
 public:
  explicit EventHub(size_t max_queued = 10000) : max_queued_(max_queued) {}
  ~EventHub();  // closes
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Records `status`; sends ChangeLines(previous, status) to every subscriber
  // (nothing for the first call, which is the baseline).
  void PublishStatus(const NodeStatus& status);
  // Sends one free-form line (e.g. "call helper name:r0 helper:split-brain").
  void Publish(std::string line);

  // A new subscriber; with `now`, its queue starts with SnapshotLines of the
  // last published status (just "exists -" if none was published yet).
  std::unique_ptr<EventSubscription> Subscribe(bool now);

  // Ends every subscription (they drain and then report kCancelled); later
  // subscriptions are closed at once. Idempotent.
  void Close();

  size_t subscriber_count() const;

 private:
  friend class EventSubscription;
  void Unsubscribe(EventSubscription* sub);
  void SendLocked(const std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::optional<NodeStatus> last_ ABSL_GUARDED_BY(mu_);
  std::set<EventSubscription*> subs_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_EVENTS_H_
