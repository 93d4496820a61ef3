#include "libhafs/mirror/resync_controller.h"

#include <algorithm>
#include <cstdint>

#include "gtest/gtest.h"

namespace hafs::mirror {
namespace {

TEST(ResyncController, FixedRatePerStep) {
  ResyncController c({.plan_ahead = absl::ZeroDuration(),
                      .rate_bytes_per_s = 10 * 1024 * 1024});
  EXPECT_EQ(c.Step(0), 1024u * 1024u);  // 100 ms of 10 MiB/s
  ResyncController u({.plan_ahead = absl::ZeroDuration(), .rate_bytes_per_s = 0});
  EXPECT_TRUE(u.unlimited());
  EXPECT_EQ(u.Step(123), UINT64_MAX);
}

// A link that delivers at most `link` bytes per step and holds the rest in
// flight: the controller must converge to keeping ~fill_target in flight
// and deliver close to the link's throughput, never above max_rate.
TEST(ResyncController, DynamicConvergesToFillTarget) {
  const uint64_t link = 4 * 1024 * 1024;  // bytes per 100 ms step (40 MiB/s)
  ResyncController c({.plan_ahead = absl::Seconds(2),
                      .fill_target_bytes = 8 * 1024 * 1024,
                      .max_rate_bytes_per_s = 0});
  uint64_t in_flight = 0, delivered_late = 0, observed = 0;
  for (int step = 0; step < 300; ++step) {
    const uint64_t arrive = std::min(in_flight, link);
    in_flight -= arrive;
    c.Received(arrive);
    if (step >= 200) delivered_late += arrive;
    observed = in_flight;  // what the controller sees at each step
    const uint64_t req = c.Step(in_flight);
    in_flight += req;
  }
  EXPECT_NEAR(static_cast<double>(observed), 8.0 * 1024 * 1024, 1.5 * 1024 * 1024);
  EXPECT_GT(delivered_late, 0.95 * 100 * link);
}

TEST(ResyncController, MinRateBootstrapsDelayMode) {
  ResyncController c({.plan_ahead = absl::Seconds(1), .fill_target_bytes = 0,
                      .max_rate_bytes_per_s = 0, .min_rate_bytes_per_s = 1024 * 1024});
  EXPECT_GE(c.Step(0), 1024u * 1024u / 10);
}

TEST(ResyncController, MaxRateCaps) {
  ResyncController c({.plan_ahead = absl::Seconds(1),
                      .fill_target_bytes = 64 * 1024 * 1024,
                      .max_rate_bytes_per_s = 1024 * 1024});
  for (int i = 0; i < 50; ++i) {
    EXPECT_LE(c.Step(0), 1024u * 1024u / 10 + 1);
  }
}

TEST(ResyncController, DelayTargetScalesWithArrivalRate) {
  ResyncController c({.plan_ahead = absl::Seconds(1),
                      .fill_target_bytes = 0,
                      .delay_target = absl::Seconds(1),
                      .max_rate_bytes_per_s = 0});
  // 1 MiB arrives per step: want = 10 MiB in flight (1 s of data).
  uint64_t in_flight = 0, observed = 0;
  for (int i = 0; i < 200; ++i) {
    const uint64_t arrive = std::min<uint64_t>(in_flight, 1024 * 1024);
    in_flight -= arrive;
    c.Received(arrive == 0 ? 1024 * 1024 : arrive);
    observed = in_flight;
    in_flight += c.Step(in_flight);
  }
  EXPECT_NEAR(static_cast<double>(observed), 10.0 * 1024 * 1024, 2.0 * 1024 * 1024);
}

}  // namespace
}  // namespace hafs::mirror
