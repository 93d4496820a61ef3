#include "libhafs/mirror/resync_controller.h"

#include <algorithm>
#include <cmath>

namespace hafs::mirror {

ResyncController::ResyncController(const ResyncControllerOptions& options)
    : opt_(options) {
  if (opt_.plan_ahead > absl::ZeroDuration()) {
    const int64_t steps = std::max<int64_t>(
        1, static_cast<int64_t>(absl::FDivDuration(opt_.plan_ahead, opt_.step)));
    plan_.assign(static_cast<size_t>(steps), 0);
  }
}

bool ResyncController::unlimited() const {
  return opt_.plan_ahead == absl::ZeroDuration() ? opt_.rate_bytes_per_s == 0
                                                 : false;
}

uint64_t ResyncController::Step(uint64_t in_flight) {
  const double step_s = absl::ToDoubleSeconds(opt_.step);
  const uint64_t received = received_;
  received_ = 0;
  if (plan_.empty()) {  // fixed rate
    if (opt_.rate_bytes_per_s == 0) return UINT64_MAX;
    return static_cast<uint64_t>(std::llround(opt_.rate_bytes_per_s * step_s));
  }
  const int64_t steps = static_cast<int64_t>(plan_.size());
  int64_t want;
  if (opt_.fill_target_bytes != 0) {
    want = static_cast<int64_t>(opt_.fill_target_bytes);
  } else {
    want = static_cast<int64_t>(received * absl::FDivDuration(opt_.delay_target, opt_.step));
  }
  const int64_t correction = want - static_cast<int64_t>(in_flight) - planned_;
  const int64_t per_step = correction / steps;
  for (int64_t& p : plan_) p += per_step;
  planned_ += per_step * steps;
  const int64_t now_corr = plan_.front();
  plan_.pop_front();
  plan_.push_back(0);
  planned_ -= now_corr;
  int64_t req = static_cast<int64_t>(received) + now_corr;
  if (req < 0) req = 0;
  if (in_flight == 0) {
    const int64_t floor = std::max<int64_t>(
        4096, static_cast<int64_t>(std::llround(opt_.min_rate_bytes_per_s * step_s)));
    req = std::max(req, floor);
  }
  if (opt_.max_rate_bytes_per_s != 0) {
    const int64_t cap =
        static_cast<int64_t>(std::llround(opt_.max_rate_bytes_per_s * step_s));
    req = std::min(req, cap);
  }
  return static_cast<uint64_t>(req);
}

}  // namespace hafs::mirror
