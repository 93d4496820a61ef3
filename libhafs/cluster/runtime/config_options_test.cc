#include "libhafs/cluster/runtime/config_options.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/config/config.h"

namespace hafs::cluster {
namespace {

using ::hafs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const auth::KeyRing> Keys() {
  auto r = auth::KeyRing::Create({{1, "config-options-test-secret-012345"}}, 1);
  HAFS_CHECK(r.ok()) << r.status();
  return std::make_shared<const auth::KeyRing>(*std::move(r));
}

config::HafsConfig Config() {
  auto c = config::LoadConfigText(config::DefaultLocalPairConfigText("/nonexistent-hafs-test-dir"), "default");
  HAFS_CHECK(c.ok()) << c.status();
  return *c;
}

TEST(ConfigOptionsTest, DefaultPairMapsIdsLinksTimersAndQuorum) {
  auto o = ClusterOptionsFromConfig(Config(), "bravo", "/var/lib/hafs", Keys());
  ASSERT_OK(o.status());
  EXPECT_EQ(o->cluster_name, "local");
  EXPECT_EQ(o->self, 2u);  // config id 1
  EXPECT_EQ(o->peer, 1u);
  EXPECT_EQ(o->self_name, "bravo");
  EXPECT_EQ(o->peer_name, "alpha");
  EXPECT_EQ(o->peer_grpc_address, "127.0.0.1:7788");
  EXPECT_EQ(o->udp_address, "127.0.0.1:7799");
  EXPECT_EQ(o->peer_udp_address, "127.0.0.1:7789");
  EXPECT_EQ(o->timing.keepalive, absl::Milliseconds(200));
  EXPECT_EQ(o->timing.warntime, absl::Milliseconds(600));
  EXPECT_EQ(o->timing.deadtime, absl::Milliseconds(1000));
  EXPECT_EQ(o->timing.initdead, absl::Milliseconds(4000));
  EXPECT_EQ(o->preferred, 1u);  // alpha
  EXPECT_FALSE(o->auto_failback);
  EXPECT_EQ(o->quorum.mode, QuorumMode::kDisabled);
  EXPECT_EQ(o->quorum.peer_lease, absl::Milliseconds(1000));
  EXPECT_TRUE(o->fence_peer_command.empty());
  EXPECT_EQ(o->fence_env.at("DRBD_RESOURCE"), "r0");
  EXPECT_EQ(o->state_dir, "/var/lib/hafs");
}

TEST(ConfigOptionsTest, WitnessTwoNodeLossActionAndFenceCommand) {
  config::HafsConfig c = Config();
  c.mutable_quorum()->set_mode("two_node");
  auto o = ClusterOptionsFromConfig(c, "alpha", "/s", Keys());
  ASSERT_OK(o.status());
  EXPECT_EQ(o->quorum.mode, QuorumMode::kTwoNode);
  c.mutable_quorum()->set_witness_address("192.0.2.3:7790");
  c.mutable_quorum()->set_on_quorum_loss("suspend-io");
  c.mutable_quorum()->set_fence_peer_command("/usr/lib/drbd/crm-fence-peer.9.sh  --timeout 30");
  o = ClusterOptionsFromConfig(c, "alpha", "/s", Keys());
  ASSERT_OK(o.status());
  EXPECT_EQ(o->quorum.mode, QuorumMode::kWitness);
  EXPECT_EQ(o->witness_address, "192.0.2.3:7790");
  EXPECT_EQ(o->quorum.loss_action, QuorumLossAction::kSuspendIo);
  EXPECT_THAT(o->fence_peer_command,
              ElementsAre("/usr/lib/drbd/crm-fence-peer.9.sh", "--timeout", "30"));
  EXPECT_EQ(o->fencing, FencingPolicy::kResourceOnly);
}

TEST(ConfigOptionsTest, ErrorsNameTheProblem) {
  EXPECT_THAT(ClusterOptionsFromConfig(Config(), "charlie", "/s", Keys()).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("charlie")));
  config::HafsConfig c = Config();
  c.mutable_node(0)->clear_heartbeat_udp_address();
  EXPECT_THAT(ClusterOptionsFromConfig(c, "alpha", "/s", Keys()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one node only")));
  // Without preloaded keys the authkeys file is read (missing here).
  EXPECT_THAT(ClusterOptionsFromConfig(Config(), "alpha", "/s").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace hafs::cluster
