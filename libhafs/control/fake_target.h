// File: libhafs/control/fake_target.h
// -----------------------------------------------------------------------------
// A scriptable ControlTarget for control-plane tests only (never for tests of
// the mirror or the cluster): it holds a NodeStatus, records each call, fails
// a verb with a scripted status, and applies the obvious state change for the
// role verbs (primary -> role Primary, ...), publishing it to its EventHub.
//
// Thread-safety: thread-safe.
//
// Example:
//   FakeControlTarget t(SampleStatus());
//   t.FailNext("primary", absl::FailedPreconditionError("primary: r0: ..."));
#ifndef HAFS_LIBHAFS_CONTROL_FAKE_TARGET_H_
#define HAFS_LIBHAFS_CONTROL_FAKE_TARGET_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libhafs/control/control_target.h"
#include "libhafs/control/events.h"

namespace hafs::control {

// An attached, connected, syncing volume r0 on node alpha with peer bravo,
// with distinct counter values, GIs, a handshake decision and a cluster view.
NodeStatus SampleStatus();

class FakeControlTarget : public ControlTarget {
 public:
  explicit FakeControlTarget(NodeStatus status);

  absl::StatusOr<NodeStatus> GetStatus() override;
  absl::StatusOr<std::string> Primary(bool force) override;
  absl::StatusOr<std::string> Secondary() override;
  absl::StatusOr<std::string> Connect(const ConnectOptions& options) override;
  absl::StatusOr<std::string> Disconnect() override;
  absl::StatusOr<std::string> Verify() override;
  absl::StatusOr<std::string> Resync(bool full) override;
  absl::StatusOr<std::string> Standby() override;
  absl::StatusOr<std::string> Cleanup() override;
  absl::StatusOr<std::string> Takeover() override;
  EventHub* events() override { return &hub_; }

  // The next call of `verb` ("status", "primary", ...) returns `s`.
  void FailNext(const std::string& verb, absl::Status s);
  // Replaces the status and publishes it.
  void SetStatus(const NodeStatus& s);
  // Calls so far, e.g. "primary force=1", "connect discard=0 tentative=1".
  std::vector<std::string> calls() const;

 private:
  absl::Status Take(const std::string& verb, const std::string& call)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> Change(const std::string& verb, const std::string& call,
                                     void (*apply)(VolumeStatus&), std::string reply);

  EventHub hub_;
  mutable absl::Mutex mu_;
  NodeStatus status_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> fail_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hafs::control

#endif  // HAFS_LIBHAFS_CONTROL_FAKE_TARGET_H_
