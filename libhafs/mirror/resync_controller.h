// File: libhafs/mirror/resync_controller.h
// -----------------------------------------------------------------------------
// How much a SyncTarget may request per step of its resync: a fixed rate, or
// DRBD's dynamic controller (drbd_rs_controller; reference/drbd.md §1.7).
//
// Dynamic mode (plan_ahead > 0): every `step` the controller wants
//   `fill_target` bytes in flight (if set), else as much as arrives in
//   `delay_target` at the current arrival rate;
// it spreads the correction (want - in flight - already planned) over the
// plan-ahead window (a FIFO of per-step corrections), and requests what
// arrived in the last step plus this step's correction, capped by
// `max_rate` (0 = unlimited) and never negative.
// Fixed mode (plan_ahead == 0): `rate` bytes per second (0 = unlimited).
//
// Pure and deterministic: the caller reports arrivals and asks once per step.
//
// Thread-safety: none.
//
// Example:
//   ResyncController c({.plan_ahead = absl::Seconds(2), .fill_target = 1 << 20});
//   c.Received(bytes);                            // as ResyncData arrives
//   uint64_t budget = c.Step(in_flight_bytes);    // every 100 ms
#ifndef HAFS_LIBHAFS_MIRROR_RESYNC_CONTROLLER_H_
#define HAFS_LIBHAFS_MIRROR_RESYNC_CONTROLLER_H_

#include <cstdint>
#include <deque>

#include "absl/time/time.h"

namespace hafs::mirror {

struct ResyncControllerOptions {
  absl::Duration step = absl::Milliseconds(100);  // DRBD's SLEEP_TIME
  // DRBD's c-plan-ahead; 0 = fixed `rate`.
  absl::Duration plan_ahead = absl::Seconds(2);
  // DRBD's c-fill-target (bytes in flight wanted); 0 = use delay_target.
  uint64_t fill_target_bytes = 50 * 1024;
  // DRBD's c-delay-target.
  absl::Duration delay_target = absl::Seconds(1);
  // DRBD's c-max-rate in bytes/s; 0 = unlimited.
  uint64_t max_rate_bytes_per_s = 100 * 1024 * 1024;
  // DRBD's c-min-rate: the dynamic controller never plans less than this
  // when nothing is in flight (it also bootstraps delay-target mode, which
  // has no arrival rate to work from at the start).
  uint64_t min_rate_bytes_per_s = 250 * 1024;
  // Fixed mode: DRBD's resync-rate in bytes/s; 0 = unlimited.
  uint64_t rate_bytes_per_s = 250 * 1024;
};

class ResyncController {
 public:
  explicit ResyncController(const ResyncControllerOptions& options);

  // Resync data arrived (bytes), since the last Step.
  void Received(uint64_t bytes) { received_ += bytes; }

  // One step: returns how many more bytes may be requested now, given
  // `in_flight` bytes requested and not yet arrived. UINT64_MAX = unlimited.
  uint64_t Step(uint64_t in_flight);

  bool unlimited() const;
  const ResyncControllerOptions& options() const { return opt_; }

 private:
  ResyncControllerOptions opt_;
  uint64_t received_ = 0;
  std::deque<int64_t> plan_;  // corrections for the coming steps
  int64_t planned_ = 0;       // sum of plan_
};

}  // namespace hafs::mirror

#endif  // HAFS_LIBHAFS_MIRROR_RESYNC_CONTROLLER_H_
