#include "libhafs/io/buffer_pool.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hafs::io {
namespace {

TEST(BufferPool, ReusesSameSizeAndRespectsTheCap) {
  BufferPool pool({.max_bytes = 3 * 4096});
  char* first = nullptr;
  {
    auto a = pool.Get(4096);
    first = a->data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % kBlockSize, 0u);
  }
  EXPECT_EQ(pool.idle_bytes(), 4096u);
  auto b = pool.Get(4096);
  EXPECT_EQ(b->data(), first);
  EXPECT_EQ(pool.reused(), 1u);
  auto c = pool.Get(8192);  // other size: fresh
  EXPECT_EQ(c->size(), 8192u);
  b.reset();
  c.reset();
  EXPECT_EQ(pool.idle_bytes(), 3 * 4096u);
  auto d = pool.Get(16384);
  d.reset();  // over the cap: freed, not kept
  EXPECT_EQ(pool.idle_bytes(), 3 * 4096u);
}

TEST(BufferPool, BuffersMayOutliveThePoolAndMoveBetweenThreads) {
  std::shared_ptr<AlignedBuffer> keep;
  {
    BufferPool pool;
    keep = pool.Get(4096);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&pool] {
        for (int i = 0; i < 1000; ++i) {
          auto b = pool.Get(4096 * (1 + i % 3));
          b->data()[0] = 1;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_GT(pool.reused(), 0u);
  }
  keep->data()[0] = 2;  // still valid; returned to the (kept-alive) state
  keep.reset();
  SUCCEED();
}

}  // namespace
}  // namespace hafs::io
