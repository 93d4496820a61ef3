#include "libhafs/io/buffer_pool.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hafs::io {

struct BufferPool::State {
  explicit State(size_t max) : max_bytes(max) {}
  const size_t max_bytes;
  mutable absl::Mutex mu;
  std::multimap<size_t, AlignedBuffer*> idle ABSL_GUARDED_BY(mu);
  size_t idle_bytes ABSL_GUARDED_BY(mu) = 0;
  uint64_t reused ABSL_GUARDED_BY(mu) = 0;

  ~State() {
    for (auto& [size, b] : idle) delete b;
  }

  void Release(AlignedBuffer* b) {
    {
      absl::MutexLock l(&mu);
      if (idle_bytes + b->size() <= max_bytes) {
        idle_bytes += b->size();
        idle.emplace(b->size(), b);
        return;
      }
    }
    delete b;
  }
};

BufferPool::BufferPool(const BufferPoolOptions& options)
    : state_(std::make_shared<State>(options.max_bytes)) {}

BufferPool::~BufferPool() = default;

std::shared_ptr<AlignedBuffer> BufferPool::Get(size_t size) {
  AlignedBuffer* b = nullptr;
  {
    absl::MutexLock l(&state_->mu);
    auto it = state_->idle.find(size);
    if (it != state_->idle.end()) {
      b = it->second;
      state_->idle.erase(it);
      state_->idle_bytes -= size;
      ++state_->reused;
    }
  }
  if (b == nullptr) b = new AlignedBuffer(size);
  std::shared_ptr<State> state = state_;
  return std::shared_ptr<AlignedBuffer>(
      b, [state = std::move(state)](AlignedBuffer* p) { state->Release(p); });
}

size_t BufferPool::idle_bytes() const {
  absl::MutexLock l(&state_->mu);
  return state_->idle_bytes;
}

uint64_t BufferPool::reused() const {
  absl::MutexLock l(&state_->mu);
  return state_->reused;
}

}  // namespace hafs::io
