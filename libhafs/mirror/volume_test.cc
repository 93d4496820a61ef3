// Two Volumes in one process on temp files under /var/tmp (O_DIRECT needs a
// real file system; TEST_TMPDIR may be tmpfs), connected by the real
// GrpcTransport on 127.0.0.1 ephemeral ports with HMAC authentication.
#include "libhafs/mirror/volume.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libhafs/base/logging.h"
#include "libhafs/base/random.h"
#include "libhafs/base/status_matchers.h"
#include "libhafs/peer/grpc_transport.h"

namespace hafs::mirror {
namespace {

using ::hafs::testing::IsOk;
using ::hafs::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kFileBytes = 72ull << 20;  // 64 MiB of data + internal metadata
constexpr uint64_t kBlock = 4096;

std::shared_ptr<const auth::KeyRing> Ring(char fill) {
  auto r = auth::KeyRing::Create({{1, std::string(32, fill)}}, 1);
  HAFS_CHECK(r.ok()) << r.status();
  return std::make_shared<const auth::KeyRing>(*std::move(r));
}

// Captures log lines (all severities).
class CaptureSink : public LogSink {
 public:
  void Send(LogSeverity, absl::string_view line) override {
    absl::MutexLock l(&mu_);
    lines_.emplace_back(line);
  }
  std::string All() {
    absl::MutexLock l(&mu_);
    return absl::StrJoin(lines_, "\n");
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_;
};

struct Node {
  int id = 0;
  std::string path;
  std::unique_ptr<peer::PeerServer> server;
  std::unique_ptr<peer::GrpcTransport> transport;
  std::unique_ptr<Volume> volume;
  absl::Mutex mu;
  std::vector<std::string> events ABSL_GUARDED_BY(mu);

  std::string Events() {
    absl::MutexLock l(&mu);
    return absl::StrJoin(events, "\n");
  }
  void ClearEvents() {
    absl::MutexLock l(&mu);
    events.clear();
  }
};

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/hafs_volume_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 2; ++i) {
      nodes_[i].id = i;
      nodes_[i].path = absl::StrCat(dir_, "/n", i, ".img");
      meta::MetaCreateOptions md;
      md.al_extents = 67;
      md.node_id = i;
      ASSERT_THAT(CreateVolumeMetadata(nodes_[i].path, kFileBytes, md).status(), IsOk());
    }
  }
  void TearDown() override {
    for (Node& n : nodes_) {
      n.volume.reset();
      n.transport.reset();
      n.server.reset();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts both PeerServers and transports (node 1 accepts, node 0 dials).
  void StartNetwork(char key0 = 'k', char key1 = 'k') {
    const char keys[2] = {key0, key1};
    for (int i : {1, 0}) {
      peer::PeerServiceOptions o;
      o.auth.cluster_name = "test";
      o.auth.node_id = i;
      o.auth.node_name = absl::StrCat("node", i);
      o.auth.incarnation = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) + i;
      o.auth.expected_peer_node_id = 1 - i;
      o.auth.keys = Ring(keys[i]);
      auto server = peer::PeerServer::Start(o, "127.0.0.1:0");
      ASSERT_THAT(server.status(), IsOk());
      nodes_[i].server = *std::move(server);
      peer::GrpcTransportOptions t;
      t.channel = "r0";
      if (i == 0) t.peer_address = absl::StrCat("127.0.0.1:", nodes_[1].server->port());
      t.transport.connect_interval = absl::Milliseconds(100);
      t.handshake_timeout = absl::Seconds(3);
      auto tr = peer::GrpcTransport::Create(nodes_[i].server.get(), t);
      ASSERT_THAT(tr.status(), IsOk());
      nodes_[i].transport = *std::move(tr);
    }
  }

  absl::Status OpenVolume(int i) {
    Node& n = nodes_[i];
    VolumeOptions o;
    o.name = absl::StrCat("r0@n", i);
    o.backing_path = n.path;
    o.node_id = i;
    o.node_name = absl::StrCat("node", i);
    o.peer_node_id = 1 - i;
    o.peer_name = absl::StrCat("node", 1 - i);
    o.transport = n.transport.get();
    o.replication.resync.plan_ahead = absl::ZeroDuration();
    o.replication.resync.rate_bytes_per_s = 0;  // unlimited
    o.replication.ping_int = absl::Seconds(1);
    o.on_event = [&n](const VolumeEvent& e) {
      absl::MutexLock l(&n.mu);
      n.events.push_back(e.kind == VolumeEvent::Kind::kHandler
                             ? absl::StrCat("handler ", e.text)
                             : e.text);
    };
    absl::StatusOr<std::unique_ptr<Volume>> v = Volume::Open(o);
    if (!v.ok()) return v.status();
    n.volume = *std::move(v);
    return absl::OkStatus();
  }

  Volume& V(int i) { return *nodes_[i].volume; }

  bool WaitFor(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(15)) {
    const absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      if (pred()) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return pred();
  }

  static bool InSync(Volume& v) {
    Status s = v.status().replication;
    return s.conn == ConnState::kConnected && s.repl == ReplState::kEstablished &&
           s.disk == DiskState::kUpToDate && s.peer_disk == DiskState::kUpToDate &&
           s.counters.oos == 0;
  }
  bool BothInSync() { return InSync(V(0)) && InSync(V(1)); }
  static bool Quiet(Volume& v) {
    Counters c = v.status().replication.counters;
    return c.lo == 0 && c.pe == 0 && c.ua == 0 && c.ap == 0;
  }

  // Bootstrap: both attached and connected, node 0 promoted with --force,
  // full sync to node 1.
  void Bootstrap() {
    StartNetwork();
    ASSERT_THAT(OpenVolume(1), IsOk());
    ASSERT_THAT(OpenVolume(0), IsOk());
    ASSERT_TRUE(WaitFor([&] {
      return V(0).status().replication.conn == ConnState::kConnected &&
             V(1).status().replication.conn == ConnState::kConnected;
    })) << V(0).status().ToString() << "\n" << V(1).status().ToString() << "\n"
        << nodes_[0].Events();
    ASSERT_THAT(V(0).Promote(/*force=*/true), IsOk());
    ASSERT_TRUE(WaitFor([&] { return BothInSync(); }))
        << V(0).status().ToString() << "\n" << V(1).status().ToString() << "\n"
        << nodes_[1].Events();
  }

  io::AlignedBuffer Pattern(uint64_t bytes, uint64_t seed) {
    io::AlignedBuffer b(bytes);
    Random r(seed);
    r.Fill(b.span());
    return b;
  }

  std::string DataArea(int i) {
    const uint64_t n = V(i).size_bytes();
    std::string out(n, '\0');
    int fd = open(nodes_[i].path.c_str(), O_RDONLY);
    HAFS_CHECK(fd >= 0);
    uint64_t done = 0;
    while (done < n) {
      ssize_t r = pread(fd, out.data() + done, n - done, done);
      HAFS_CHECK(r > 0);
      done += r;
    }
    close(fd);
    return out;
  }

  void ExpectIdentical() {
    ASSERT_TRUE(WaitFor([&] { return Quiet(V(0)) && Quiet(V(1)); }));
    const std::string a = DataArea(0), b = DataArea(1);
    ASSERT_EQ(a.size(), b.size());
    if (a != b) {
      for (uint64_t off = 0; off < a.size(); off += kBlock) {
        ASSERT_EQ(0, std::memcmp(a.data() + off, b.data() + off, kBlock))
            << "replicas differ at block " << off / kBlock;
      }
    }
  }

  std::string dir_;
  Node nodes_[2];
};

TEST_F(VolumeTest, FullSyncThenWriteReadFlushIdentical) {
  Bootstrap();
  Random r(42);
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  for (int i = 0; i < 40; ++i) {
    const uint64_t blocks = r.Range(1, 64);
    const uint64_t first = r.Uniform(V(0).size_bytes() / kBlock - blocks);
    io::AlignedBuffer b = Pattern(blocks * kBlock, i);
    ASSERT_THAT(V(0).Write(first * kBlock, b.span(), /*fua=*/i % 7 == 0), IsOk());
    io::AlignedBuffer back(b.size());
    ASSERT_THAT(V(0).Read(first * kBlock, back.span()), IsOk());
    ASSERT_EQ(0, std::memcmp(back.data(), b.data(), b.size())) << "write " << i;
  }
  ASSERT_THAT(V(0).Flush(), IsOk());
  // Secondary refuses application I/O.
  io::AlignedBuffer b(kBlock);
  EXPECT_THAT(V(1).Write(0, b.span()), StatusIs(absl::StatusCode::kFailedPrecondition));
  // Bad alignment is refused precisely.
  EXPECT_THAT(V(0).Write(512, b.span()), StatusIs(absl::StatusCode::kInvalidArgument));
  VolumeStatus st = V(0).status();
  EXPECT_GT(st.replication.counters.ns, 0u) << st.ToString();
  EXPECT_GT(st.al, 0u) << st.ToString();
  EXPECT_GT(V(1).status().replication.counters.nr, 0u);
  ExpectIdentical();
  EXPECT_THAT(V(0).Close(), IsOk());
  EXPECT_THAT(V(1).Close(), IsOk());
  EXPECT_THAT(V(0).Write(0, b.span()), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(V(0).status().closed);
}

TEST_F(VolumeTest, AsyncWritesAtQueueDepth) {
  Bootstrap();
  absl::Mutex mu;
  int done = 0, failed = 0;
  const int kWrites = 64;
  std::vector<Buffer> bufs;
  for (int i = 0; i < kWrites; ++i) {
    bufs.push_back(std::make_shared<io::AlignedBuffer>(Pattern(64 * 1024, 100 + i)));
    V(0).WriteAsync(static_cast<uint64_t>(i) * 64 * 1024, bufs.back(), false, [&](absl::Status s) {
      absl::MutexLock l(&mu);
      ++done;
      if (!s.ok()) ++failed;
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock l(&mu);
    return done == kWrites;
  }));
  EXPECT_EQ(failed, 0);
  ExpectIdentical();
}

// Each write is submitted from the previous write's completion callback,
// i.e. from inside a step (run by the loop thread, a gRPC thread or this
// thread): every one must still be picked up at once.
TEST_F(VolumeTest, WritesSubmittedFromCallbacksAllComplete) {
  Bootstrap();
  const int kChain = 200;
  auto buf = std::make_shared<io::AlignedBuffer>(Pattern(kBlock, 7));
  absl::Mutex mu;
  int done = 0;
  absl::Status first_error;
  std::function<void(int)> next = [&](int i) {
    V(0).WriteAsync(static_cast<uint64_t>(i % 512) * kBlock, buf, false, [&, i](absl::Status s) {
      {
        absl::MutexLock l(&mu);
        ++done;
        if (!s.ok() && first_error.ok()) first_error = s;
      }
      if (i + 1 < kChain) next(i + 1);
    });
  };
  const absl::Time t0 = absl::Now();
  next(0);
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock l(&mu);
    return done == kChain;
  })) << done;
  EXPECT_THAT(first_error, IsOk());
  // No write waited for a tick (10 ms) to be noticed: far below 200 ticks.
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1.5));
  ExpectIdentical();
}

// status() and requests racing Close() return (fail as closed) instead of
// waiting for a loop that stopped.
TEST_F(VolumeTest, CallsRacingCloseReturn) {
  Bootstrap();
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  auto buf = std::make_shared<io::AlignedBuffer>(Pattern(kBlock, 9));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) {
        if (t == 0) {
          (void)V(0).status();
        } else {
          (void)V(0).Write(static_cast<uint64_t>(t) * kBlock, buf->span());
        }
        ++calls;
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return calls.load() > 50; }));
  EXPECT_THAT(V(1).Close(), IsOk());
  (void)V(0).Close();
  const int after_close = calls.load();
  ASSERT_TRUE(WaitFor([&] { return calls.load() > after_close + 100; }));  // still returning
  stop.store(true);
  for (std::thread& th : threads) th.join();
}

TEST_F(VolumeTest, DisconnectWriteReconnectBitmapResync) {
  Bootstrap();
  ASSERT_THAT(V(0).Disconnect(), IsOk());
  ASSERT_TRUE(WaitFor([&] {
    return V(0).status().replication.conn == ConnState::kStandAlone &&
           V(1).status().replication.conn == ConnState::kConnecting;
  }));
  // 10 writes of 8 blocks at distinct, non-adjacent places.
  uint64_t blocks_written = 0;
  for (int i = 0; i < 10; ++i) {
    io::AlignedBuffer b = Pattern(8 * kBlock, 500 + i);
    ASSERT_THAT(V(0).Write(static_cast<uint64_t>(i) * 1000 * kBlock, b.span()), IsOk());
    blocks_written += 8;
  }
  EXPECT_EQ(V(0).status().replication.counters.oos, blocks_written * 4);
  nodes_[1].ClearEvents();
  ASSERT_THAT(V(0).Connect(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return BothInSync(); }))
      << V(0).status().ToString() << "\n" << V(1).status().ToString();
  EXPECT_EQ(V(1).status().replication.resync_total_blocks, blocks_written);
  EXPECT_EQ(V(0).status().replication.resync_total_blocks, blocks_written);
  EXPECT_THAT(nodes_[1].Events(), HasSubstr("SyncTarget"));
  ExpectIdentical();
}

TEST_F(VolumeTest, CleanRestartReconnectsWithoutSync) {
  Bootstrap();
  io::AlignedBuffer b = Pattern(16 * kBlock, 7);
  ASSERT_THAT(V(0).Write(0, b.span()), IsOk());
  ASSERT_THAT(V(0).Flush(), IsOk());
  // Restart the secondary.
  ASSERT_THAT(V(1).Close(), IsOk());
  nodes_[1].volume.reset();
  nodes_[0].ClearEvents();
  nodes_[1].ClearEvents();
  ASSERT_THAT(OpenVolume(1), IsOk());
  EXPECT_THAT(V(1).status().open_report, HasSubstr("clean shutdown"));
  ASSERT_TRUE(WaitFor([&] { return BothInSync(); }))
      << V(0).status().ToString() << "\n" << V(1).status().ToString();
  EXPECT_EQ(V(1).status().replication.resync_total_blocks, 0u);
  EXPECT_THAT(nodes_[1].Events(), Not(HasSubstr("SyncTarget")));
  EXPECT_THAT(nodes_[0].Events(), Not(HasSubstr("SyncSource")));
  // Restart the primary: Close demotes it; both come back Secondary, no sync.
  ASSERT_THAT(V(0).Close(), IsOk());
  nodes_[0].volume.reset();
  nodes_[0].ClearEvents();
  nodes_[1].ClearEvents();
  ASSERT_THAT(OpenVolume(0), IsOk());
  EXPECT_EQ(V(0).status().replication.role, Role::kSecondary);
  ASSERT_TRUE(WaitFor([&] { return BothInSync(); }))
      << V(0).status().ToString() << "\n" << V(1).status().ToString();
  EXPECT_EQ(V(0).status().replication.resync_total_blocks, 0u);
  EXPECT_THAT(nodes_[0].Events(), Not(HasSubstr("SyncSource")));
  EXPECT_THAT(nodes_[1].Events(), Not(HasSubstr("SyncTarget")));
  EXPECT_THAT(V(0).status().replication.last_handshake, HasSubstr("40"));
  ASSERT_THAT(V(0).Promote(), IsOk());  // UpToDate: no --force needed
  io::AlignedBuffer back(b.size());
  ASSERT_THAT(V(0).Read(0, back.span()), IsOk());
  EXPECT_EQ(0, std::memcmp(back.data(), b.data(), b.size()));
  ExpectIdentical();
}

TEST_F(VolumeTest, CrashedPrimaryResyncsItsActivityLog) {
  Bootstrap();
  // Writes into extents 0 and 3 (4 MiB each) make exactly those hot.
  for (uint64_t extent : {0u, 3u}) {
    io::AlignedBuffer b = Pattern(8 * kBlock, extent);
    ASSERT_THAT(V(0).Write(extent * (4u << 20) + 40 * kBlock, b.span()), IsOk());
  }
  ASSERT_TRUE(WaitFor([&] { return Quiet(V(0)); }));
  // Crash-like: destroy without Close (no al-clean, still marked Primary).
  nodes_[0].volume.reset();
  ASSERT_TRUE(WaitFor(
      [&] { return V(1).status().replication.conn == ConnState::kConnecting; }));
  nodes_[0].ClearEvents();
  nodes_[1].ClearEvents();
  ASSERT_THAT(OpenVolume(0), IsOk());
  VolumeStatus st = V(0).status();
  EXPECT_THAT(st.open_report, HasSubstr("unclean shutdown"));
  EXPECT_THAT(st.open_report, HasSubstr("2 hot extents"));
  EXPECT_EQ(st.replication.role, Role::kSecondary);
  ASSERT_TRUE(WaitFor([&] { return BothInSync(); }))
      << V(0).status().ToString() << "\n" << V(1).status().ToString();
  // Rule 40 (crashed primary): exactly the AL's two extents are resynced.
  // Under protocol C hafs resyncs them from the survivor (docs/splitbrain.md).
  EXPECT_EQ(V(0).status().replication.resync_total_blocks, 2u * 1024u);
  EXPECT_EQ(V(1).status().replication.resync_total_blocks, 2u * 1024u);
  EXPECT_THAT(nodes_[0].Events(), HasSubstr("by rule 40"));
  EXPECT_THAT(nodes_[0].Events(), HasSubstr("SyncTarget"));
  ExpectIdentical();
}

TEST_F(VolumeTest, OnlineVerifyReportsACorruptedBlock) {
  Bootstrap();
  io::AlignedBuffer b = Pattern(64 * kBlock, 9);
  ASSERT_THAT(V(0).Write(0, b.span()), IsOk());
  ASSERT_THAT(V(0).Flush(), IsOk());
  ASSERT_TRUE(WaitFor([&] { return Quiet(V(0)) && Quiet(V(1)); }));
  // Corrupt block 17 of the secondary's replica behind its back.
  {
    int fd = open(nodes_[1].path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string junk(kBlock, 'J');
    ASSERT_EQ(pwrite(fd, junk.data(), junk.size(), 17 * kBlock), static_cast<ssize_t>(kBlock));
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  nodes_[0].ClearEvents();
  ASSERT_THAT(V(0).StartVerify(), IsOk());
  ASSERT_TRUE(WaitFor([&] {
    Status s = V(0).status().replication;
    return s.repl == ReplState::kEstablished && s.verify_done_bytes == V(0).size_bytes();
  })) << V(0).status().ToString();
  Status s = V(0).status().replication;
  EXPECT_EQ(s.verify_mismatch_blocks, 1u);
  EXPECT_EQ(s.counters.oos, 4u) << "verify marks, does not repair";
  EXPECT_THAT(nodes_[0].Events(), HasSubstr("Out of sync: start=136, size=8 (sectors)"));
  // Repair on request: resync the marked block from the Primary.
  ASSERT_THAT(V(0).StartResync(/*full=*/false), IsOk());
  ASSERT_TRUE(WaitFor([&] { return BothInSync(); })) << V(0).status().ToString();
  ExpectIdentical();
}

TEST_F(VolumeTest, WrongPeerKeyIsRefused) {
  CaptureSink sink;
  LogSink* prev = SetLogSink(&sink);
  StartNetwork('a', 'b');
  ASSERT_THAT(OpenVolume(1), IsOk());
  ASSERT_THAT(OpenVolume(0), IsOk());
  absl::SleepFor(absl::Milliseconds(800));
  EXPECT_EQ(V(0).status().replication.conn, ConnState::kConnecting);
  EXPECT_EQ(V(1).status().replication.conn, ConnState::kConnecting);
  EXPECT_THAT(V(0).Promote(), StatusIs(absl::StatusCode::kFailedPrecondition));
  const std::string log = sink.All();
  EXPECT_THAT(log, HasSubstr("bad MAC under key id 1"));
  EXPECT_THAT(log, HasSubstr("refused"));
  // Both sides say why they stay Connecting, in the status too.
  for (int i = 0; i < 2; ++i) {
    VolumeStatus st = V(i).status();
    EXPECT_THAT(st.connect_error, HasSubstr("MAC")) << "node " << i;
    EXPECT_THAT(st.ToString(), HasSubstr("last connection attempt failed")) << "node " << i;
  }
  EXPECT_THAT(V(0).Close(), IsOk());
  EXPECT_THAT(V(1).Close(), IsOk());
  SetLogSink(prev);
}

TEST_F(VolumeTest, OpenErrorsArePrecise) {
  VolumeOptions o;
  o.backing_path = dir_ + "/missing.img";
  EXPECT_THAT(Volume::Open(o).status(), StatusIs(absl::StatusCode::kNotFound));
  o.backing_path = nodes_[0].path;
  o.node_id = 1;  // metadata belongs to node 0
  o.peer_node_id = 0;
  absl::Status s = Volume::Open(o).status();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.message(), HasSubstr("belongs to node 0"));
  o.node_id = 0;
  o.peer_node_id = 0;
  EXPECT_THAT(Volume::Open(o).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(VolumeMappingTest, SuperblockRoundTrip) {
  meta::Superblock sb;
  sb.flags = meta::kMdAlClean | meta::kMdConsistent;
  PersistedState ps;
  ps.gi.current = 0x1234;
  ps.gi.bitmap = 0x55;
  ps.gi.history = {1, 2, 3, 4};
  ps.consistent = true;
  ps.was_up_to_date = true;
  ps.crashed_primary = true;
  ApplyPersisted(ps, sb);
  EXPECT_TRUE(sb.has_flag(meta::kMdAlClean));  // untouched
  EXPECT_EQ(PersistedFromSuperblock(sb), ps);
  EXPECT_EQ(sb.gi.history[3], 4u);
  EXPECT_EQ(DiskStateFromFlags(sb.flags), DiskState::kUpToDate);
  EXPECT_EQ(DiskStateFromFlags(meta::kMdConsistent), DiskState::kOutdated);
  EXPECT_EQ(DiskStateFromFlags(meta::kMdWasUpToDate), DiskState::kInconsistent);
  ps.crashed_primary = false;
  ps.consistent = false;
  ApplyPersisted(ps, sb);
  EXPECT_FALSE(sb.has_flag(meta::kMdCrashedPrimary));
  EXPECT_EQ(PersistedFromSuperblock(sb), ps);
}

}  // namespace
}  // namespace hafs::mirror
